"""The web's /metrics as Prometheus scrapes it from a real gunicorn of two processes in multiprocess mode: every
process's requests counted once, reports accepted and refused by their reason, bounded route labels, a bearer token
required, nothing served when no token is set."""
from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from images import noisy_jpeg
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from servers import gunicorn, login_token
from support import DEMO_PASSWORD, HONGQIAO

from bench.riders import multipart_body
from service.web import create_app

TOKEN = "scrape-token-for-the-test"


def scrape(base: str, token: str | None = TOKEN) -> str:
    """The text of /metrics, scraped as Prometheus does (with its bearer token)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(base + "/metrics", headers=headers), timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of this name whose labels include these (0 when there is none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def label_values(text: str, name: str, label: str) -> set[str]:
    """Every value the label takes in the samples of this name."""
    return {s.labels[label] for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name and label in s.labels}


def refused_status(request: urllib.request.Request) -> urllib.error.HTTPError:
    """The error answer to a request that must be refused."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    return refused.value


def healthz_counts_per_process(folder: Path) -> dict[int, float]:
    """The /healthz requests each web process wrote to the multiprocess folder, by its pid."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[-1])
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "suishoupai_http_requests_total" and sample.labels["route"] == "/healthz":
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def post_report(base: str, token: str, client_id: str, photo: bytes) -> int:
    """A rider's report with one photo; its status."""
    body, content_type = multipart_body({**HONGQIAO, "category": "B0118", "client_report_id": client_id},
                                        {"photo": ("a.jpg", photo)})
    request = urllib.request.Request(base + "/api/v1/reports", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def web(tmp_path, settings):
    """gunicorn with the production config, two processes, metrics kept in a folder an earlier run left a file in
    (gunicorn's start must empty it). Yields the address, the folder and gunicorn's master process."""
    folder = tmp_path / "metrics-web"
    folder.mkdir()
    (folder / "counter_4194303.db").write_bytes(b"an earlier run's counts")
    with gunicorn(settings, tmp_path / "gunicorn.log", WEB_CONCURRENCY="2", WEB_THREADS="4", METRICS_TOKEN=TOKEN,
                  PROMETHEUS_MULTIPROC_DIR=str(folder)) as (master, base, _):
        yield base, folder, master


def test_every_web_process_is_counted_once_and_a_restarted_one_keeps_its_counts(web):
    base, folder, master = web
    assert not (folder / "counter_4194303.db").exists()

    # requests on fresh connections until both processes have served some (the kernel deals them out); the
    # server's start-up wait asked /healthz too
    sent = sum(healthz_counts_per_process(folder).values())
    with ThreadPoolExecutor(8) as pool:
        while len(healthz_counts_per_process(folder)) < 2 and sent < 400:
            list(pool.map(lambda _: urllib.request.urlopen(base + "/healthz", timeout=10).read(), range(20)))
            sent += 20
    per_process = healthz_counts_per_process(folder)
    assert len(per_process) == 2 and sum(per_process.values()) == sent

    text = scrape(base)
    assert value(text, "suishoupai_http_requests_total", route="/healthz", method="GET", status="200") == sent
    assert value(text, "suishoupai_http_request_duration_seconds_count", route="/healthz", method="GET") == sent
    assert value(text, "suishoupai_http_requests_total", route="/metrics") == 0  # scrapes are not counted

    # a web process killed and replaced: what it counted is still there
    victim = next(iter(per_process))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while {c.pid for c in psutil.Process(master.pid).children()} & {victim} or \
            len(psutil.Process(master.pid).children()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert value(scrape(base), "suishoupai_http_requests_total", route="/healthz") == sent


def test_a_scrape_needs_the_bearer_token(web):
    base, _, _ = web
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        refused = refused_status(urllib.request.Request(base + "/metrics", headers=headers))
        assert refused.code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "suishoupai_http_requests_total" in scrape(base)


def test_reports_are_counted_accepted_or_refused_by_reason_and_their_bytes(web):
    base, _, _ = web
    token = login_token(base)
    photo = noisy_jpeg(800, 600)
    assert post_report(base, token, "kept", photo) == 201
    assert post_report(base, token, "not-a-picture", b"%PDF-1.4 certainly not a photo") == 415
    assert post_report(base, token, "no-token", photo) == 201  # the same again, another report

    text = scrape(base)
    accepted = value(text, "suishoupai_intake_reports_total", channel="rider_api", outcome="accepted", reason="")
    assert accepted == 2
    assert label_values(text, "suishoupai_intake_reports_total", "reason") == {"", "not_an_image"}
    assert value(text, "suishoupai_intake_reports_total", channel="rider_api", outcome="refused",
                 reason="not_an_image") == 1
    assert value(text, "suishoupai_upload_bytes_total", channel="rider_api") == 2 * len(photo)
    assert value(text, "suishoupai_upload_photo_bytes_count") == 2
    assert value(text, "suishoupai_http_requests_total", route="/api/v1/reports", method="POST", status="415") == 1


def test_unknown_paths_make_no_new_route_labels(web):
    base, _, _ = web
    made_up = uuid.uuid4().hex
    for path in (f"/desk/case/{made_up}", f"/desk/cases/{made_up}", f"/no/such/{made_up}",
                 f"/api/v1/reports/{made_up}"):
        try:
            urllib.request.urlopen(base + path, timeout=10)
        except urllib.error.HTTPError:
            pass
    text = scrape(base)
    assert made_up not in text
    routes = label_values(text, "suishoupai_http_requests_total", "route")
    assert {"unmatched", "/api/v1/reports/<case_no>", "/desk/cases/<case_no>"} <= routes
    assert all(route == "unmatched" or route.startswith("/") for route in routes)


def test_no_token_set_means_no_metrics(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_no_login_opens_the_metrics(tmp_path, settings):
    app = create_app(replace(settings, metrics_token=TOKEN))
    app.config["TESTING"] = True
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"username": "admin", "password": DEMO_PASSWORD}).get_json()["token"]
    assert client.get("/metrics").status_code == 401  # the admin's session cookie
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    app.extensions["snap"].db.dispose()
