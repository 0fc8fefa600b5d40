"""Gunicorn settings for production (`gunicorn -c config/gunicorn.conf.py`); the README explains each number.

A rider's 3 MB photo over 4G at 2-8 Mbit/s takes 3-12 s to arrive, and the thread reading it is held that long:
threaded workers keep a slow phone to one thread, so one process serves many uploads and the desk at once.
"""
import os

from service.runtime import logs


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


bind = f"0.0.0.0:{_env_int('PORT', 8000)}"
worker_class = "gthread"
workers = _env_int("WEB_CONCURRENCY", 2)  # one per core: the threads below do the waiting
threads = _env_int("WEB_THREADS", 64)  # uploads in flight per process: 2 x 64 covers a lunch peak of 100 riders
timeout = 60  # a worker process silent this long (hung, not busy: its threads report for it) is restarted
graceful_timeout = 30  # on restart, uploads already arriving get this long to finish
keepalive = 5  # a phone's next request (its photo after the page) reuses the connection

# limits on what a client can send before our code sees it; the body itself is bounded by MAX_CONTENT_LENGTH
limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190

# a phone that stops sending mid-upload frees its thread after this many seconds of silence (not in total:
# a slow but steady upload is never cut off); the client gets 408 and nothing of the report is kept
body_read_timeout = _env_int("WEB_READ_TIMEOUT", 30)

# every line JSON (service/runtime/logs.py): gunicorn's own to stderr, the app's to stdout, where its one `request`
# line per request (with the request id, route, status, duration) stands in for gunicorn's text access log
accesslog = None
logconfig_dict = logs.logging_config("web")
# each process proves it is alive by touching a file many times a second; on a disk busy writing photos that
# touch can wait, and the process's requests wait with it: keep the file in memory
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def pre_request(worker, req):
    """Bound each read of the request body by body_read_timeout seconds."""
    sock = getattr(req.unreader, "sock", None)
    if sock is not None:
        sock.settimeout(body_read_timeout)


def post_worker_init(worker):
    """Set aside everything loaded at start-up from the garbage collector: a full collection then walks only what
    requests made, a few milliseconds instead of a pause of tens that the unlucky request would wait out."""
    import gc

    gc.freeze()


# Prometheus's multiprocess mode (service/runtime/metrics.py): each worker process keeps its metrics in files in
# PROMETHEUS_MULTIPROC_DIR (set in the environment gunicorn starts with), and /metrics adds them up. Counts of an
# earlier run would be added to this one's, so the folder starts empty; it must be the web's alone.
def on_starting(server):
    """Empty (or make) PROMETHEUS_MULTIPROC_DIR before any worker writes to it."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    for entry in os.scandir(folder):
        if entry.is_file():
            os.unlink(entry.path)


def child_exit(server, worker):
    """A worker process is gone: its live gauges go with it (its counts stay, as counts do)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
