"""`make run`: migrate, load the demo community, then run Redis, the web server, a worker and the scheduler together.

Ctrl-C (or SIGTERM) stops everything this started. With REDIS_URL set, that Redis is used instead of the embedded one.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from config import Settings
from service.community import load_community
from service.db import Database, upgrade_schema
from service.embedded_redis import EmbeddedRedis

BIN = Path(sys.executable).parent
GUNICORN_CONF = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"


def _processes(port: int, settings: Settings) -> dict[str, list[str]]:
    """The command line of each process, as in the Procfile but on loopback."""
    return {
        "web": [str(BIN / "gunicorn"), "service.web:create_app()", "-c", str(GUNICORN_CONF),
                "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        "worker": [sys.executable, "-m", "workers.run"],
        "scheduler": [sys.executable, "-m", "workers.cron"],
    }


def wait_healthy(url: str, children: dict[str, subprocess.Popen], timeout: float = 60) -> None:
    """Wait until /healthz answers 200, or fail if a child dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in children.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the web server did not become healthy at {url} within {timeout:.0f} s")


def _print_welcome(url: str, settings: Settings, password: str) -> None:
    users = json.loads(settings.users_file.read_text(encoding="utf-8"))["users"]
    print("\n随手拍 is running / 服务已启动")
    print(f"  web        {url}/")
    print(f"  API        {url}/api/v1/openapi.json")
    print(f"  health     {url}/healthz")
    print(f"  database   {settings.database_url}")
    print(f"  redis      {settings.redis_url}{' (embedded)' if settings.embedded_redis else ''}")
    print(f"\nDemo logins (password for all: {password}):")
    for role in ("reporter", "grid_worker", "staff", "admin"):
        names = [u["username"] for u in users if u["role"] == role]
        print(f"  {role:<12} {', '.join(names)}")
    print("\nTry:  curl -s -X POST -H 'Content-Type: application/json' "
          f"-d '{{\"username\":\"rider1\",\"password\":\"{password}\"}}' {url}/api/v1/auth/login")
    print("Ctrl-C stops everything.\n", flush=True)


def signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def stop_processes(children: dict[str, subprocess.Popen]) -> None:
    """One SIGTERM to each child's process group (a worker's scheduler included), then wait."""
    for proc in children.values():
        signal_group(proc, signal.SIGTERM)
    for proc in children.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait()
        signal_group(proc, signal.SIGKILL)  # anything the child left behind in its group


def _interrupt(_signum, _frame) -> None:
    """SIGTERM stops the stack the same way Ctrl-C does."""
    raise KeyboardInterrupt


def main() -> int:
    """Start the whole service and supervise it until Ctrl-C or a process dies."""
    settings = Settings.from_env()
    port = int(os.environ.get("PORT", "8000"))
    redis = None
    if settings.embedded_redis:
        redis = EmbeddedRedis(settings.instance_dir / "redis", port=urlparse(settings.redis_url).port).start()
    children: dict[str, subprocess.Popen] = {}
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        upgrade_schema(settings.database_url)
        password = settings.resolved_demo_password()
        db = Database(settings.database_url)
        with db.session() as session:
            load_community(session, settings.categories_file, settings.users_file, settings.grids_file, password)
        db.dispose()
        env = dict(os.environ, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
        for name, argv in _processes(port, settings).items():
            # each in a process group of its own: Ctrl-C reaches only us, and we stop each group once
            children[name] = subprocess.Popen(argv, env=env, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, children)
        _print_welcome(url, settings, password)
        while all(proc.poll() is None for proc in children.values()):
            time.sleep(0.5)
        dead = [name for name, proc in children.items() if proc.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        stop_processes(children)
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
