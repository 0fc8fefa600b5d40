"""The production web server as configured (config/gunicorn.conf.py): a phone that stalls mid-upload frees its
thread with 408 and leaves nothing behind, a slow but steady phone is never cut off, and others are served meanwhile."""
from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest
import sqlalchemy as sa
from images import noisy_jpeg
from servers import gunicorn, login_token
from support import HONGQIAO, originals_on_disk

from bench.riders import multipart_body
from service.db import Database
from service.models import Case

READ_TIMEOUT_S = 2


@pytest.fixture
def server(tmp_path, settings):
    """gunicorn with the production config, one process of four threads, a 2 s read timeout."""
    with gunicorn(settings, tmp_path / "gunicorn.log", WEB_CONCURRENCY="1", WEB_THREADS="4",
                  WEB_READ_TIMEOUT=str(READ_TIMEOUT_S)) as (_, base, port):
        yield base, port


def _upload_head(token: str, body: bytes, content_type: str) -> bytes:
    return (f"POST /api/v1/reports HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()


def _response(sock: socket.socket) -> tuple[int, dict]:
    raw = b""
    while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _connections_idle_in_a_transaction(database_url: str) -> int:
    """On PostgreSQL, the server's connections left idle inside a transaction (SQLite has no such thing: 0)."""
    db = Database(database_url)
    try:
        if db.engine.dialect.name != "postgresql":
            return 0
        with db.engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"))
    finally:
        db.dispose()


def test_a_stalled_upload_gets_408_and_a_steady_slow_one_gets_its_case(server, settings):
    base, port = server
    token = login_token(base)
    photo = noisy_jpeg(1200, 900)
    fields = {**HONGQIAO, "category": "B0118"}

    # a phone that goes quiet halfway (a tunnel): after the read timeout it is answered 408, then closed
    body, content_type = multipart_body({**fields, "client_report_id": "stalls"}, {"photo": ("a.jpg", photo)})
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(_upload_head(token, body, content_type) + body[: len(body) // 2])
    started = time.monotonic()

    # meanwhile the server answers others at once, and the half-sent upload holds no database connection
    health_started = time.monotonic()
    assert urllib.request.urlopen(base + "/healthz", timeout=5).status == 200
    assert time.monotonic() - health_started < 1
    assert _connections_idle_in_a_transaction(settings.database_url) == 0

    status, error = _response(stalled)
    waited = time.monotonic() - started
    assert status == 408 and error["error"]["code"] == "request_timeout"
    assert READ_TIMEOUT_S - 0.5 < waited < READ_TIMEOUT_S + 3
    assert stalled.recv(1) == b""  # and the connection is closed

    # a phone that sends steadily for longer than the read timeout in all is not cut off
    body, content_type = multipart_body({**fields, "client_report_id": "steady"}, {"photo": ("b.jpg", photo)})
    steady = socket.create_connection(("127.0.0.1", port))
    steady.sendall(_upload_head(token, body, content_type))
    pieces = 8
    step = len(body) // pieces + 1
    for i in range(pieces):
        steady.sendall(body[i * step:(i + 1) * step])
        time.sleep(0.5)  # 4 s in all, twice the read timeout
    status, created = _response(steady)
    assert status == 201

    db = Database(settings.database_url)
    with db.session() as session:
        kept = session.scalars(sa.select(Case.client_report_id)).all()
    db.dispose()
    assert kept == ["steady"]
    assert len(originals_on_disk(settings)) == 1
