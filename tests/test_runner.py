"""`make run` end to end: the whole stack starts on embedded defaults, takes a report, and Ctrl-C stops it all."""
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

from bench.riders import multipart_body
from images import photo_jpeg
from service.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_make_run_serves_the_api_and_stops_everything_on_ctrl_c(tmp_path):
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEMO_PASSWORD")}
    env.update(INSTANCE_DIR=str(tmp_path / "instance"), PORT=str(port), EMBEDDED_REDIS_PORT=str(redis_port))
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "service.runner"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything" not in (tmp_path / "run.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.3)
        output = (tmp_path / "run.log").read_text()
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
    assert len(started) >= 5  # redis, gunicorn and its worker, rq worker and its scheduler, rq cron
    assert [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
