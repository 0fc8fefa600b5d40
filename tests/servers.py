"""The real processes some tests start: gunicorn with the production config (config/gunicorn.conf.py), and an RQ
worker as `python -m workers.run` runs it; each stopped when the test is done."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from service.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def gunicorn(log_path: Path, settings, **env: str):
    """gunicorn serving create_app() for these settings on a free port; yields (proc, base URL, port)."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               INSTANCE_DIR=str(settings.instance_dir), MEDIA_DIR=str(settings.media_dir), SECRET_KEY="test-secret",
               PORT=str(port), **env)
    log = open(log_path, "w+")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "service.web:create_app()",
                             "-c", "config/gunicorn.conf.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        yield proc, base, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@contextmanager
def rq_worker(env: dict, log_path: Path):
    """`python -m workers.run` with this environment, in its own process group; yields the process."""
    log = open(log_path, "w+")
    proc = subprocess.Popen([sys.executable, "-m", "workers.run"], cwd=ROOT, env={**os.environ, **env},
                            start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
