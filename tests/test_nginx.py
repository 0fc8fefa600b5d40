"""nginx with the shipped config/nginx.conf in front of a real gunicorn: connections that trickle their headers
reach no gunicorn thread, the phone's own address reaches the app's rate limits, an upload over the limit is
refused by nginx before it is stored, /metrics reaches the app only through the private listener and from
Prometheus's address, and an invitation's token never reaches nginx's access log. Skipped where Debian's nginx is
not installed; a failure in CI (.ci/run installs it)."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from browser_support import in_ci
from images import noisy_jpeg
from servers import gunicorn, login_token
from support import HONGQIAO

from bench.nginx import CONFIG, Nginx, nginx_binary
from bench.riders import multipart_body
from service.runtime.embedded_redis import free_port

METRICS_TOKEN = "scrape-token-for-the-nginx-test"  # gunicorn shows its metrics to this token
SLOW_CONNECTIONS = 70  # the finding: this many made /healthz time out on gunicorn alone (here it has 4 threads)


@pytest.fixture
def nginx_installed() -> str:
    binary = nginx_binary()
    if binary is None:
        reason = "nginx is missing: install Debian's nginx (apt-get install -y nginx; .ci/run does)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@pytest.fixture
def proxied(tmp_path, settings, nginx_installed):
    """gunicorn (one process of four threads) told to trust one proxy, and the shipped nginx in front of it; each
    address may send one report a minute. Yields nginx and gunicorn's log."""
    log = tmp_path / "gunicorn.log"
    with gunicorn(settings, log, WEB_CONCURRENCY="1", WEB_THREADS="4", TRUSTED_PROXIES="1",
                  INTAKE_LIMIT_PER_ADDRESS="1 per minute", INTAKE_LIMIT_PER_USER="1000 per minute",
                  METRICS_TOKEN=METRICS_TOKEN) as (_, _, port):
        nginx = Nginx(f"127.0.0.1:{port}", free_port(), access_log=True)
        try:
            yield nginx.start(), log
        finally:
            nginx.stop()
            shutil.rmtree(nginx.folder, ignore_errors=True)


def _post_report(nginx: Nginx, token: str, client_id: str, phone_address: str, headers: dict | None = None):
    """One report sent from a phone at phone_address (any 127.x.y.z is this machine's); returns (status, body)."""
    body, content_type = multipart_body({**HONGQIAO, "category": "B0118", "client_report_id": client_id},
                                        {"photo": ("a.jpg", noisy_jpeg(800, 600))})
    conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10, source_address=(phone_address, 0))
    try:
        conn.request("POST", "/api/v1/reports", body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_nginx_accepts_the_shipped_config_as_the_harness_edits_it(nginx_installed):
    edited = Nginx("127.0.0.1:8000", free_port())
    try:
        edited.write_config()
        checked = edited.check()
        assert checked.returncode == 0, checked.stderr
    finally:
        shutil.rmtree(edited.folder, ignore_errors=True)


def test_nginx_accepts_the_shipped_config_as_shipped(nginx_installed):
    if os.geteuid() != 0:
        pytest.skip("as shipped it names /run and /var/log/nginx, which only root may open")
    checked = subprocess.run([nginx_installed, "-t", "-c", str(CONFIG)], capture_output=True, text=True, timeout=30)
    if checked.returncode != 0:
        # the example's private address (the metrics listener) is no address of this machine: nginx checked all
        # else (paths and files come before listening sockets) and refused only to bind it
        refusals = [line for line in checked.stderr.splitlines() if "[emerg]" in line]
        assert refusals and all("bind() to 10.0.0.11:9180 failed (99:" in line for line in refusals), checked.stderr
    assert "syntax is ok" in checked.stderr


def test_connections_trickling_headers_leave_the_service_answering(proxied):
    nginx, _ = proxied
    slow = []
    try:
        for n in range(SLOW_CONNECTIONS):
            conn = socket.create_connection(("127.0.0.1", nginx.port), timeout=5)
            conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow-{n}: 1\r\n".encode())
            slow.append(conn)
        time.sleep(1)
        for conn in slow:
            conn.sendall(b"X-Still-Coming: 1\r\n")  # still trickling, never finishing

        # far more of them than gunicorn has threads, and yet the service answers as usual
        with urllib.request.urlopen(nginx.base + "/healthz", timeout=5) as response:
            assert response.status == 200
            assert json.load(response)["database"] == "ok"
        assert login_token(nginx.base)
    finally:
        for conn in slow:
            conn.close()


def test_the_phone_address_reaches_the_rate_limits_and_the_address_people_used_reaches_the_app(proxied):
    nginx, _ = proxied
    token = login_token(nginx.base)

    status, created = _post_report(nginx, token, "first", "127.0.0.2")
    assert status == 201
    assert created["url"].startswith(f"{nginx.base}/api/v1/reports/")  # the host and port phones use, not gunicorn's

    # the same phone again is over its address's limit, a made-up X-Forwarded-For changes nothing ...
    assert _post_report(nginx, token, "second", "127.0.0.2")[0] == 429
    assert _post_report(nginx, token, "third", "127.0.0.2", {"X-Forwarded-For": "203.0.113.9"})[0] == 429
    # ... and a phone at another address, behind the same nginx, is not counted with it
    assert _post_report(nginx, token, "fourth", "127.0.0.3")[0] == 201


def test_an_upload_over_the_limit_gets_413_from_nginx_and_never_reaches_gunicorn(proxied):
    nginx, log = proxied
    conn = socket.create_connection(("127.0.0.1", nginx.port), timeout=10)
    try:
        # 62 MB announced, over MAX_PHOTOS x MAX_PHOTO_MB + 1 MB: answered before a byte of the body is sent
        conn.sendall(b"POST /api/v1/reports HTTP/1.1\r\nHost: phone\r\nContent-Type: image/jpeg\r\n"
                     b"Content-Length: %d\r\n\r\n" % (62 * 1024 * 1024))
        response = http.client.HTTPResponse(conn)
        response.begin()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "request_too_large"
        refused_id = response.headers["X-Request-ID"]  # nginx's own answers carry its request id too
    finally:
        conn.close()

    # gunicorn logs every request it serves, under the id nginx gave it: one after the refused upload shows up,
    # the upload never does
    with urllib.request.urlopen(nginx.base + "/healthz", timeout=5) as response:
        served_id = response.headers["X-Request-ID"]
    assert served_id and refused_id and served_id != refused_id
    deadline = time.monotonic() + 5
    while served_id not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert served_id in log.read_text()
    assert refused_id not in log.read_text()


def test_metrics_are_not_routed_to_the_app_whatever_token_is_sent(proxied):
    nginx, log = proxied
    for path in ("/metrics", "/metrics?from-outside", "//metrics", "/%6Detrics"):
        request = urllib.request.Request(nginx.base + path, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 404

    # the app logs every request it serves, by the id nginx gave it: one after the refused scrapes shows up, none
    # of them does
    with urllib.request.urlopen(nginx.base + "/healthz", timeout=5) as served:
        served_id = served.headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    while served_id not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert served_id in log.read_text()
    assert "etrics" not in log.read_text()


def _get(url: str, token: str | None = None, source: str = "127.0.0.1") -> tuple[int, str, str]:
    """GET from a client at `source` (any 127.x.y.z is this machine's): status, Content-Type and body."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/" + url.split("//", 1)[1].split("/", 1)[1],
                     headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.headers.get("Content-Type", ""), response.read().decode(errors="replace")
    finally:
        conn.close()


def test_prometheus_scrapes_the_apps_metrics_through_the_private_listener_and_nothing_else(proxied):
    nginx, _ = proxied
    login_token(nginx.base)  # a request for the counts to show

    status, content_type, text = _get(nginx.metrics_base + "/metrics", METRICS_TOKEN)
    assert status == 200 and content_type.startswith("text/plain")
    assert "# TYPE suishoupai_http_requests_total counter" in text
    assert 'route="/api/v1/auth/login"' in text  # gunicorn's own figures, the phones' requests counted

    # the app still asks for the token, nginx's address list notwithstanding
    assert _get(nginx.metrics_base + "/metrics", METRICS_TOKEN + "x")[0] == 401
    assert _get(nginx.metrics_base + "/metrics")[0] == 401
    # a scraper at any other address than Prometheus's is refused by nginx, token or not
    assert _get(nginx.metrics_base + "/metrics", METRICS_TOKEN, source="127.0.0.2")[0] == 403
    # nothing but /metrics is served there: the app's pages and API are for the public listener
    for path in ("/", "/healthz", "/api/v1/community", "/metrics/", "/static/rider/main.js"):
        assert _get(nginx.metrics_base + path, METRICS_TOKEN)[0] == 404, path
    # and the public listener still has no /metrics, whatever token is sent
    assert _get(nginx.base + "/metrics", METRICS_TOKEN)[0] == 404


def test_an_invitations_token_is_masked_in_nginxs_access_log(proxied):
    nginx, log = proxied
    tokens = ("inv1te-t0ken-in-the-path-AAAA", "inv1te-t0ken-percent-encoded-BBBB")
    assert _get(nginx.base + f"/invite/{tokens[0]}")[0] == 410  # no such invitation: still a request nginx logs
    assert _get(nginx.base + f"/%69nvite/{tokens[1]}")[0] == 410  # the same path to nginx and the app

    # nginx writes its line once the answer is sent, which may be after the phone has read it: wait for both
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(line) for line in nginx.access_log_path.read_text().splitlines()]
        if sum("invite" in line["path"] for line in lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [line["path"] for line in lines[-2:]] == ["/invite/[redacted]"] * 2
    for token in tokens:
        assert token not in nginx.access_log_path.read_text()
        assert token not in log.read_text()  # nor in the app's lines
