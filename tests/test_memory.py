"""Hostile input costs little memory: the peak RSS of a real gunicorn web process (production config) per hostile
request, and of a real RQ worker (`python -m workers.run`) per hostile photo, each measured from the kernel's
high-water mark (VmHWM, reset by writing 5 to /proc/<pid>/clear_refs just before)."""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from images import decompression_bomb, encode, flat_png, flat_webp, heic_declaring, photo_jpeg
from servers import gunicorn, rq_worker
from support import DEMO_PASSWORD, HONGQIAO

from bench.riders import multipart_body
from service.models import Case

WEB_LIMIT_MB = 64  # above idle, per hostile request
WORKER_LIMIT_MB = 256  # above idle, per photo
BIG_JSON_BYTES = 50 * 1024 * 1024


class PeakMeter:
    """How far a process's resident memory rose above where it stood when the block began, in MiB."""

    def __init__(self, pid: int):
        self.pid, self.rise_mb = pid, None

    def _kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def __enter__(self):
        self.idle_kb = self._kb("VmRSS")
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # the high-water mark starts again from here
        return self

    def __exit__(self, *exc):
        self.rise_mb = round((self._kb("VmHWM") - self.idle_kb) / 1024, 1)


@pytest.fixture(scope="module")
def hostile_photos():
    """The photos whose headers promise far more than their bytes, made once (the PNG takes a few seconds)."""
    return {"png_9999x9999_rgba": flat_png(9999, 9999), "webp_9999x9999": flat_webp(9999, 9999),
            "heic_declaring_9000x9000": heic_declaring(9000, 9000)}


# --- the web process ---------------------------------------------------------------------------------------------

def _send(port: int, method: str, path: str, body=b"", headers=None, chunked=False) -> int:
    """Send one request (a body as bytes, or as pieces sent chunked) and return the status.

    The body goes out from a thread while the answer is read: the server may answer (401, 413) and close
    before reading a body it has no use for, as it should, and the sender then just stops.
    """
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
            "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items())]
    pieces = (b"%x\r\n%s\r\n" % (len(p), p) for p in [*body, b""]) if chunked else [body]
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)

    def send_body():
        try:
            for piece in pieces:
                sock.sendall(piece)
        except OSError:
            pass  # answered and closed early

    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        response = http.client.HTTPResponse(sock)
        response.begin()
        payload = response.read()
        if response.status >= 400 and response.getheader("Content-Type") == "application/json":
            assert json.loads(payload)["error"]["code"], payload  # the API's error shape (a page gets its page)
        return response.status
    finally:
        sock.close()


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/v1/auth/login", json.dumps({"username": "rider1", "password": DEMO_PASSWORD}),
                 {"Content-Type": "application/json"})
    return json.loads(conn.getresponse().read())["token"]


def _report(port: int, token: str, photo: bytes, name: str) -> int:
    body, content_type = multipart_body({**HONGQIAO, "category": "B0118"}, {"photo": (name, photo)})
    return _send(port, "POST", "/api/v1/reports", body, {"Authorization": f"Bearer {token}",
                                                         "Content-Type": content_type})


def _pieces(total: int, size: int = 1 << 20) -> list[bytes]:
    """A JSON array of `total` bytes, in pieces, for a chunked body."""
    return [b"[", *(b"1," * (size // 2) for _ in range(total // size)), b"1]"]


def test_hostile_requests_cost_the_web_process_little_memory(tmp_path, settings, hostile_photos):
    deep = b"[" * 900 + b"]" * 900
    big_json = b"[" + b"1," * (BIG_JSON_BYTES // 2) + b"1]"
    json_type = {"Content-Type": "application/json"}
    with gunicorn(settings, tmp_path / "gunicorn.log", WEB_CONCURRENCY="1", WEB_THREADS="4") as (master, _, port):
        (web,) = psutil.Process(master.pid).children()
        token = _login(port)
        signed_in = {**json_type, "Authorization": f"Bearer {token}"}
        action = "/api/v1/cases/20260101-0001/actions"
        hostile = {  # name: (send it, the status expected)
            "png_9999x9999_rgba": (lambda: _report(port, token, hostile_photos["png_9999x9999_rgba"], "a.png"), 201),
            "webp_9999x9999": (lambda: _report(port, token, hostile_photos["webp_9999x9999"], "a.webp"), 201),
            "heic_declaring_9000x9000": (
                lambda: _report(port, token, hostile_photos["heic_declaring_9000x9000"], "a.heic"), 201),
            "heic_declaring_20000x20000": (lambda: _report(port, token, heic_declaring(20000, 20000), "b.heic"), 415),
            "png_declaring_20000x20000": (lambda: _report(port, token, decompression_bomb(), "b.png"), 415),
            "json_50mb_no_login": (lambda: _send(port, "POST", action, big_json, json_type), 413),  # unread
            "json_50mb_chunked_no_login": (
                lambda: _send(port, "POST", action, _pieces(BIG_JSON_BYTES), json_type, chunked=True), 401),
            "json_50mb_to_login": (lambda: _send(port, "POST", "/api/v1/auth/login", big_json, json_type), 413),
            "json_50mb_logged_in": (lambda: _send(port, "POST", action, big_json, signed_in), 413),
            "json_50mb_chunked_logged_in": (
                lambda: _send(port, "POST", action, _pieces(BIG_JSON_BYTES), signed_in, chunked=True), 413),
            "json_900_deep_no_login": (lambda: _send(port, "POST", action, deep, json_type), 401),
            "json_900_deep_to_login": (lambda: _send(port, "POST", "/api/v1/auth/login", deep, json_type), 400),
            "json_900_deep_logged_in": (lambda: _send(port, "POST", action, deep, signed_in), 400),
            "json_100000_deep_to_login": (
                lambda: _send(port, "POST", "/api/v1/auth/login", b"[" * 100_000, json_type), 413),
            "form_50mb_to_login_page": (lambda: _send(port, "POST", "/login", b"username=" + b"x" * BIG_JSON_BYTES,
                                                      {"Content-Type": "application/x-www-form-urlencoded"}), 413),
        }
        # warm up what every later request reuses: each photo format's decoder, a refusal of each kind
        for warm_up, fmt in ((photo_jpeg(), "JPEG"), (encode("PNG"), "PNG"), (encode("WEBP"), "WEBP"),
                             (encode("HEIF"), "HEIF")):
            assert _report(port, token, warm_up, f"warm.{fmt.lower()}") == 201
        assert _send(port, "POST", action, b"[1]", json_type) == 401
        assert _send(port, "POST", action, b"{}", signed_in) == 404

        rises, statuses = {}, {}
        for name, (send, expected) in hostile.items():
            with PeakMeter(web.pid) as meter:
                statuses[name] = (send(), expected)
            rises[name] = meter.rise_mb
            print(f"figure: web_rss_rise_mb[{name}] = {meter.rise_mb}")
    assert {n: s for n, (s, e) in statuses.items() if s != e} == {}, statuses
    assert {n: mb for n, mb in rises.items() if mb > WEB_LIMIT_MB} == {}, rises


# --- the worker --------------------------------------------------------------------------------------------------

def _finished(db, case_no: str, deadline_s: float = 120) -> Case:
    """The case once the pipeline is done with it: processed (no longer new) or refused with processing_error."""
    deadline = time.monotonic() + deadline_s
    while True:
        db.rollback()  # a fresh look, not the snapshot of an open transaction
        case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
        if case.state != "new" or case.processing_error:
            return case
        assert time.monotonic() < deadline, f"{case_no} was never processed"
        time.sleep(0.1)


def test_hostile_photos_cost_the_worker_little_memory_and_fail_cleanly(rider, db, worker_env, tmp_path,
                                                                       hostile_photos):
    photos = {  # name: (the photo, whether the worker makes its web copy and thumbnail, else processing_error)
        **{name: (data, False) for name, data in hostile_photos.items()},
        "png_7000x7000_rgba": (flat_png(7000, 7000), True),  # 49 MP, 187 MB decoded: within the budget
        "jpeg_12mp": (photo_jpeg(4032, 3024, seed=21), True),
        "heic_12mp": (encode("HEIF", 4032, 3024, quality=50), True),
    }
    env = worker_env()
    with rq_worker(env, tmp_path / "worker.log") as worker:
        warm = rider.report(photos=[photo_jpeg(seed=20)]).get_json()["case_no"]
        assert _finished(db, warm).processing_error is None
        rises = {}
        for name, (data, processed) in photos.items():
            with PeakMeter(worker.pid) as meter:
                case = _finished(db, rider.report(photos=[(data, name)]).get_json()["case_no"])
            rises[name] = meter.rise_mb
            print(f"figure: worker_rss_rise_mb[{name}] = {meter.rise_mb}")
            if processed:
                assert case.processing_error is None and case.photos[0].web_path and case.photos[0].thumb_path
            else:
                assert case.state == "new" and "MB to decode" in case.processing_error, case.processing_error
    assert {n: mb for n, mb in rises.items() if mb > WORKER_LIMIT_MB} == {}, rises
