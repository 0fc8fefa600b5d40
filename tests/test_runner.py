"""`make run` end to end: the whole stack starts on embedded defaults, takes a report, and Ctrl-C stops it all,
also when started from a script and signalled more than once."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from images import photo_jpeg

from bench.riders import multipart_body
from service.runtime.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _embedded_env(tmp_path) -> tuple[dict, int, int]:
    """The environment of a `make run` on embedded defaults in tmp_path, on free ports: (env, port, redis port)."""
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEMO_PASSWORD")}
    env.update(INSTANCE_DIR=str(tmp_path / "instance"), PORT=str(port), EMBEDDED_REDIS_PORT=str(redis_port))
    return env, port, redis_port


def _wait_for_welcome(log: Path, running) -> str:
    """The output of make run once it says it is ready."""
    deadline = time.monotonic() + 90
    while "Ctrl-C stops everything" not in log.read_text():
        assert running() and time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)
    return log.read_text()


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of the processes that still run (a zombie has stopped; only its parent has yet to notice)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_make_run_serves_the_api_and_stops_everything_on_ctrl_c(tmp_path):
    env, port, redis_port = _embedded_env(tmp_path)
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "service.runtime.runner"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output = _wait_for_welcome(tmp_path / "run.log", lambda: proc.poll() is None)
        deadline = time.monotonic() + 90
        assert f"http://127.0.0.1:{port}/" in output and "rider1, rider2" in output and "staff1" in output
        password = re.search(r"password for all: (\S+)\)", output).group(1)
        assert password == (tmp_path / "instance" / "demo_password").read_text().strip()

        base = f"http://127.0.0.1:{port}"
        login = urllib.request.Request(f"{base}/api/v1/auth/login", method="POST",
                                       data=json.dumps({"username": "rider1", "password": password}).encode(),
                                       headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(login, timeout=10))["token"]
        body, content_type = multipart_body({"lat": "32.015", "lon": "120.855", "category": "E0301"},
                                        {"photo": ("x.jpg", photo_jpeg())})
        report = urllib.request.Request(f"{base}/api/v1/reports", method="POST", data=body, headers={
            "Content-Type": content_type, "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(report, timeout=10) as response:
            assert response.status == 201
            case_no = json.load(response)["case_no"]
        assert re.fullmatch(r"\d{8}-0001", case_no)
        # the worker started by make run dispatches it to the grid the point is in
        while True:
            detail = json.load(urllib.request.urlopen(urllib.request.Request(
                f"{base}/api/v1/reports/{case_no}", headers={"Authorization": f"Bearer {token}"}), timeout=10))
            if detail["state"] != "new":
                break
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.3)
        assert detail["state"] == "dispatched" and detail["grid"]["code"] == "HQ06"
        assert (tmp_path / "instance" / "snap.db").exists()
    finally:
        started = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        code = proc.wait(timeout=60)
    assert code == 0
    assert _port_is_free(port) and _port_is_free(redis_port)
    assert len(started) >= 5  # redis, gunicorn and its worker, rq worker and its scheduler, the cron scheduler
    assert _alive(started) == []


@pytest.mark.parametrize("signals", [(signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGTERM)],
                         ids=["int-then-term", "term-twice"])
def test_make_run_from_a_script_stops_every_process_however_often_it_is_signalled(tmp_path, signals):
    env, port, redis_port = _embedded_env(tmp_path)
    log = tmp_path / "run.log"
    # as a script runs it: a background job of a non-interactive shell, which starts with SIGINT ignored
    script = f"make -s -o .venv/.installed run BIN={Path(sys.executable).parent} >{log} 2>&1 & echo $!"
    shell = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
                           start_new_session=True)
    make = psutil.Process(int(shell.stdout))
    group = os.getpgid(make.pid)
    started = [make]
    try:
        output = _wait_for_welcome(log, lambda: _alive([make]) != [])
        assert "redis://:***@127.0.0.1" in output
        assert (tmp_path / "instance" / "redis_password").read_text().strip() not in output
        started += make.children(recursive=True)
        commands = " ".join(" ".join(p.cmdline()) for p in started)
        for program in ("service.runtime.runner", "redis-server", "gunicorn", "workers.run", "workers.cron"):
            assert program in commands
        assert len(started) >= 7  # make, the runner, redis, gunicorn and its worker, rq worker and its scheduler…

        os.killpg(group, signals[0])
        first = time.monotonic()
        while "stopping" not in log.read_text() and time.monotonic() < first + 5:
            time.sleep(0.01)
        assert "stopping" in log.read_text(), f"{signals[0]!r} went unheard"
        os.killpg(group, signals[1])  # while the first is being handled
        deadline = first + 15
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(started) == [], log.read_text()
        assert _port_is_free(port) and _port_is_free(redis_port)
    finally:
        for process in _alive(started):
            process.kill()
