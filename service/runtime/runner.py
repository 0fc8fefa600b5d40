"""`make run`: migrate, load the demo community, then run Redis, the web server, a worker and the scheduler together
(and the metrics collector when METRICS_TOKEN is set).

Ctrl-C (or SIGTERM, any number of them) stops everything this started, the embedded Redis last, within 15 s.
With REDIS_URL set, that Redis is used instead of the embedded one.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import sqlalchemy as sa

from config import Settings
from service.db import Database, upgrade_schema
from service.district import load_district
from service.models import User
from service.runtime.embedded_redis import EmbeddedRedis

BIN = Path(sys.executable).parent
GUNICORN_CONF = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# seconds the children get to stop after SIGTERM, then Redis after them, before SIGKILL: under 15 s in all
CHILDREN_GRACE_S = 8
REDIS_GRACE_S = 4


class StopRequest:
    """Notes SIGINT and SIGTERM rather than raising, so neither a start-up step nor the clean-up is cut in half.

    Both are installed explicitly: `make run &` in a script starts with SIGINT ignored, and Python leaves an ignored
    SIGINT ignored. However many come (Ctrl-C, then make's or a supervisor's TERM to the group), each only sets the
    flag; the main loop sees it within a moment and stops everything once.
    """

    def __init__(self):
        self.signum: int | None = None

    def install(self) -> StopRequest:
        """Take over SIGINT and SIGTERM for this process."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._note)
        return self

    def _note(self, signum, _frame) -> None:
        """The signal handler: remember the first stop signal, nothing more."""
        self.signum = self.signum or signum

    def __bool__(self) -> bool:
        return self.signum is not None


def masked_url(url: str) -> str:
    """The URL with its password shown as ***, for anything printed."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _embedded_redis(settings: Settings) -> EmbeddedRedis:
    """The embedded server at the settings' URL, with the password kept under instance/."""
    url = urlsplit(settings.redis_url)
    return EmbeddedRedis(settings.instance_dir / "redis", port=url.port,
                         password=unquote(url.password) if url.password else None)


def _processes(port: int, settings: Settings) -> dict[str, list[str]]:
    """The command line of each process, as in the Procfile but on loopback; the metrics collector only with a
    METRICS_TOKEN (without one metrics are off, and its port is left alone)."""
    metrics = {"metrics": [sys.executable, "-m", "workers.metrics"]} if settings.metrics_token else {}
    return {
        "web": [str(BIN / "gunicorn"), "service.web:create_app()", "-c", str(GUNICORN_CONF),
                "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        "worker": [sys.executable, "-m", "workers.run"],
        "scheduler": [sys.executable, "-m", "workers.cron"],
        **metrics,
    }


def metrics_folders(instance_dir: Path) -> dict[str, Path]:
    """Each process's PROMETHEUS_MULTIPROC_DIR under instance/metrics/: the web's (gunicorn empties it as it
    starts), and one for the rest, which the collector reads, emptied here: this run counts from 0."""
    web, jobs = instance_dir / "metrics" / "web", instance_dir / "metrics" / "jobs"
    shutil.rmtree(jobs, ignore_errors=True)
    jobs.mkdir(parents=True)
    return {"web": web, "worker": jobs, "scheduler": jobs, "metrics": jobs}


def wait_healthy(url: str, children: dict[str, subprocess.Popen], timeout: float = 60,
                 stop: StopRequest | None = None) -> bool:
    """Wait until /healthz answers 200 (True), or a stop is requested (False); fail if a child dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop:
            return False
        for name, proc in children.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the web server did not become healthy at {url} within {timeout:.0f} s")


def demo_logins(session) -> dict[str, list[str]]:
    """The usernames of each role, as the welcome lists them."""
    logins: dict[str, list[str]] = {}
    for username, role in session.execute(sa.select(User.username, User.role).order_by(User.username)):
        logins.setdefault(role, []).append(username)
    return logins


def _print_welcome(url: str, settings: Settings, password: str, logins: dict[str, list[str]]) -> None:
    print("\n随手拍 is running / 服务已启动")
    print(f"  web        {url}/")
    print(f"  API        {url}/api/v1/openapi.json")
    print(f"  health     {url}/healthz")
    print(f"  database   {masked_url(settings.database_url)}")
    print(f"  redis      {masked_url(settings.redis_url)}{' (embedded)' if settings.embedded_redis else ''}")
    if settings.metrics_token:
        print(f"  metrics    {url}/metrics and http://{settings.metrics_bind}:{settings.metrics_port}/metrics "
              "(Authorization: Bearer $METRICS_TOKEN)")
    else:
        print("  metrics    off (set METRICS_TOKEN to turn on /metrics and the collector)")
    print(f"\nDemo logins (password for all: {password}):")
    for role, names in logins.items():
        more = f" … ({len(names)} in all)" if len(names) > 20 else ""
        print(f"  {role:<12} {', '.join(names[:20])}{more}")
    print("\nTry:  curl -s -X POST -H 'Content-Type: application/json' "
          f"-d '{{\"username\":\"rider1\",\"password\":\"{password}\"}}' {url}/api/v1/auth/login")
    print("Ctrl-C stops everything.\n", flush=True)


def signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def stop_processes(children: dict[str, subprocess.Popen], grace: float = CHILDREN_GRACE_S) -> None:
    """SIGTERM to each child's process group (a worker's scheduler included); SIGKILL to what is left after
    `grace` s."""
    for proc in children.values():
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        signal_group(proc, signal.SIGKILL)  # what did not stop in time, and anything the child left in its group
        proc.wait()


def stop_everything(children: dict[str, subprocess.Popen], redis: EmbeddedRedis | None) -> None:
    """Stop the children, then the embedded Redis they were using; safe to call again."""
    stop_processes(children)
    if redis is not None:
        redis.stop(timeout=REDIS_GRACE_S)


def main() -> int:
    """Start the whole service and supervise it until Ctrl-C, SIGTERM or a process dies."""
    stop = StopRequest().install()
    settings = Settings.from_env()
    port = int(os.environ.get("PORT", "8000"))
    redis = _embedded_redis(settings) if settings.embedded_redis else None
    children: dict[str, subprocess.Popen] = {}
    try:
        if redis is not None:
            redis.start()
        upgrade_schema(settings.database_url)
        password = settings.resolved_demo_password()
        db = Database(settings.database_url)
        with db.session() as session:
            print(load_district(session, settings.district_dir, password).line(), flush=True)
            logins = demo_logins(session)
        db.dispose()
        env = dict(os.environ, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
        folders = metrics_folders(settings.instance_dir)
        for name, argv in _processes(port, settings).items():
            if stop:
                break
            # each in a process group of its own: Ctrl-C reaches only us, and we stop each group once
            children[name] = subprocess.Popen(argv, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(folders[name])},
                                              start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        if wait_healthy(url, children, stop=stop):
            _print_welcome(url, settings, password, logins)
        while not stop and all(proc.poll() is None for proc in children.values()):
            time.sleep(0.2)
        if stop:
            print("\nstopping…", flush=True)
            return 0
        dead = [name for name, proc in children.items() if proc.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)
        return 1
    finally:
        stop_everything(children, redis)


if __name__ == "__main__":
    sys.exit(main())
