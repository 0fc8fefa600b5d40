"""Real servers for the tests that need them: gunicorn with the production config (config/gunicorn.conf.py) on a
free loopback port, and an RQ worker as `python -m workers.run` runs it, with this test's database, Redis and
folders; each stopped when the test is done."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support import DEMO_PASSWORD

from service.runtime.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def gunicorn(settings, log_path: Path, **env: str) -> Iterator[tuple[subprocess.Popen, str, int]]:
    """gunicorn running `service.web:create_app()` until the block ends; yields its master process, address and
    port. `env` adds or overrides settings (WEB_CONCURRENCY, WEB_THREADS, ...); its output goes to log_path."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               INSTANCE_DIR=str(settings.instance_dir), MEDIA_DIR=str(settings.media_dir), SECRET_KEY="test-secret",
               PORT=str(port), **env)
    with open(log_path, "w+") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "service.web:create_app()",
                                 "-c", "config/gunicorn.conf.py"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
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


@contextmanager
def service_process(module: str, env: dict, log_path: Path):
    """`python -m <module>` with this environment, in its own process group, its output in log_path; yields the
    process, stopped with SIGTERM when the block ends."""
    with open(log_path, "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env={**os.environ, **env},
                                start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def rq_worker(env: dict, log_path: Path):
    """`python -m workers.run`, as the Procfile's worker runs it (service_process)."""
    return service_process("workers.run", env, log_path)


def scheduler(env: dict, log_path: Path):
    """`python -m workers.cron`, as the Procfile's scheduler runs it (service_process)."""
    return service_process("workers.cron", env, log_path)


def login_token(base: str, username: str = "rider1") -> str:
    """A bearer token for a demo user, from the API's login."""
    body = json.dumps({"username": username, "password": DEMO_PASSWORD}).encode()
    request = urllib.request.Request(f"{base}/api/v1/auth/login", method="POST",
                                     headers={"Content-Type": "application/json"}, data=body)
    return json.load(urllib.request.urlopen(request, timeout=10))["token"]
