"""The collector process (`python -m workers.metrics`) as Prometheus scrapes it: RQ's queues, workers and failed jobs
read from a real Redis, the cases from the database, and what a real worker process wrote about the jobs it ran."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from browser_support import in_ci
from prometheus_client import CollectorRegistry, generate_latest
from servers import ROOT, rq_worker
from test_metrics import value
from test_runner import _embedded_env, _wait_for_welcome

from service.db import Database, utcnow
from service.models import Case, Community
from service.runtime.collector import ServiceCollector
from service.runtime.embedded_redis import free_port
from service.runtime.jobqueue import DEFAULT_QUEUE, PHOTO_QUEUE, redis_connection, rq_queue

TOKEN = "collector-token-for-the-test"


@pytest.fixture
def jobs_env(tmp_path, settings):
    """The environment of this host's worker and collector: this test's database, Redis and media, and the
    workers' own metrics folder (not the web's)."""
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    return {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "INSTANCE_DIR": str(settings.instance_dir), "MEDIA_DIR": str(settings.media_dir),
            "SECRET_KEY": "test-secret", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics-jobs"),
            "METRICS_TOKEN": TOKEN, "METRICS_PORT": str(free_port())}


@contextmanager
def collector(env: dict, log_path):
    """`python -m workers.metrics` until the block ends; yields a function that scrapes it."""
    base = f"http://127.0.0.1:{env['METRICS_PORT']}"
    with open(log_path, "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "workers.metrics"], cwd=ROOT, env={**os.environ, **env},
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            def scrape(token: str | None = TOKEN) -> str:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                request = urllib.request.Request(base + "/metrics", headers=headers)
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.read().decode()

            deadline = time.monotonic() + 30
            while True:
                try:
                    scrape()
                    break
                except urllib.error.URLError:
                    assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.2)
            yield scrape
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def promtool_complaints(text: str) -> str:
    """What `promtool check metrics` says of a scrape's text ("" when it is content); skipped without promtool on a
    developer's machine, a failure in CI."""
    if shutil.which("promtool") is None:
        if in_ci():
            pytest.fail("promtool is missing: apt-get install -y prometheus (.ci/run does)")
        pytest.skip("promtool is missing (Debian's prometheus package)")
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    return (checked.stdout + checked.stderr).strip() if checked.returncode else ""


def scraped_in_process(settings) -> str:
    """One scrape of the collector's own readings, in this process."""
    registry = CollectorRegistry()
    registry.register(ServiceCollector(settings))
    return generate_latest(registry).decode()


def processed(db: Database, case_no: str) -> bool:
    """True once the pipeline has processed the case."""
    with db.session() as session:
        return session.scalar(sa.select(Case.processed_at).where(Case.case_no == case_no)) is not None


def test_queue_depth_and_the_oldest_jobs_age_as_redis_holds_them(tmp_path, settings, jobs_env):
    connection = redis_connection(settings.redis_url)
    queue = rq_queue(DEFAULT_QUEUE, connection)
    waiting = [queue.enqueue("tests.fault_jobs.leave_mark", str(tmp_path / f"mark-{i}")) for i in range(3)]
    oldest = waiting[0]
    oldest.enqueued_at = utcnow() - timedelta(minutes=10)  # queued ten minutes ago, and no worker since
    oldest.save()

    with collector(jobs_env, tmp_path / "collector.log") as scrape:
        text = scrape()
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape("not-the-token")
        assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Bearer")

    assert value(text, "suishoupai_queue_jobs", queue=DEFAULT_QUEUE) == 3
    assert value(text, "suishoupai_queue_jobs", queue=PHOTO_QUEUE) == 0
    assert 600 <= value(text, "suishoupai_queue_oldest_job_age_seconds", queue=DEFAULT_QUEUE) < 3600
    assert value(text, "suishoupai_queue_oldest_job_age_seconds", queue=PHOTO_QUEUE) == 0
    assert value(text, "suishoupai_rq_workers_alive") == 0
    assert value(text, "suishoupai_queue_failed_jobs", queue=DEFAULT_QUEUE) == 0
    for source in ("redis", "database", "photo_disk"):
        assert value(text, "suishoupai_collector_up", source=source) == 1
    assert value(text, "suishoupai_photo_disk_size_bytes") >= value(text, "suishoupai_photo_disk_free_bytes") > 0


def test_a_workers_jobs_and_pipeline_steps_reach_the_collector(tmp_path, settings, jobs_env, rider):
    created = rider.report(client_report_id="counted")
    assert created.status_code == 201
    case_no = created.get_json()["case_no"]
    connection = redis_connection(settings.redis_url)
    rq_queue(DEFAULT_QUEUE, connection).enqueue("tests.fault_jobs.leave_mark", str(tmp_path / "no-such" / "mark"))

    db = Database(settings.database_url)
    with rq_worker(jobs_env, tmp_path / "worker.log"), collector(jobs_env, tmp_path / "collector.log") as scrape:
        deadline = time.monotonic() + 60
        while rq_queue(DEFAULT_QUEUE, connection).failed_job_registry.count < 1 or not processed(db, case_no):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.3)
        with db.session() as session:
            state, community = session.execute(sa.select(Case.state, Community.code).join(Community)
                                               .where(Case.case_no == case_no)).one()
            session.execute(sa.update(Case).where(Case.case_no == case_no)
                            .values(deadline_at=utcnow() - timedelta(days=1)))
            session.commit()
        text = scrape()
    db.dispose()

    assert value(text, "suishoupai_jobs_total", function="process_new_case", outcome="ok") == 1
    assert value(text, "suishoupai_jobs_total", function="leave_mark", outcome="failed") == 1
    assert value(text, "suishoupai_job_duration_seconds_count", function="process_new_case") == 1
    for step in ("decode", "copies", "dispatch"):
        assert value(text, "suishoupai_pipeline_step_duration_seconds_count", step=step) == 1
    assert value(text, "suishoupai_queue_failed_jobs", queue=DEFAULT_QUEUE) == 1
    assert value(text, "suishoupai_rq_workers_alive") == 1
    assert value(text, "suishoupai_cases", community=community, state=state) == 1
    assert value(text, "suishoupai_cases") == 1
    assert state == "dispatched"  # a grid worker's, with a deadline: now a day past it
    assert value(text, "suishoupai_overdue_open_cases", community=community) == 1
    assert promtool_complaints(text) == ""  # no gauge named like a counter (suishoupai_rq_workers_total was)


def test_a_scrape_changes_nothing_in_rq_and_a_malformed_job_hides_no_queue(settings):
    connection = redis_connection(settings.redis_url)
    photos, default = rq_queue(PHOTO_QUEUE, connection), rq_queue(DEFAULT_QUEUE, connection)
    malformed = photos.enqueue("tests.fault_jobs.leave_mark", "/nowhere")
    malformed.enqueued_at = utcnow() - timedelta(minutes=5)
    malformed.save()
    connection.hset(malformed.key, "status", "not-a-status")  # RQ cannot read it back as a job
    abandoned = default.enqueue("tests.fault_jobs.leave_mark", "/nowhere")  # its worker died a minute ago
    started = default.started_job_registry
    connection.zadd(started.key, {f"{abandoned.id}:lost-execution": time.time() - 60})

    text = scraped_in_process(settings)

    assert value(text, "suishoupai_collector_up", source="redis") == 1
    assert value(text, "suishoupai_queue_jobs", queue=PHOTO_QUEUE) == 1
    assert 300 <= value(text, "suishoupai_queue_oldest_job_age_seconds", queue=PHOTO_QUEUE) < 3600
    assert value(text, "suishoupai_queue_started_jobs", queue=DEFAULT_QUEUE) == 1
    assert value(text, "suishoupai_queue_failed_jobs", queue=DEFAULT_QUEUE) == 0
    # RQ's own clean-up, not a scrape, hands the abandoned job on (to failed): the scrape left it as it was
    assert started.get_job_count(cleanup=False) == 1
    assert default.failed_job_registry.get_job_ids(cleanup=False) == []
    assert connection.hget(abandoned.key, "status") == b"queued"


def test_make_run_with_a_metrics_token_serves_the_web_and_the_collector(tmp_path):
    env, port, _ = _embedded_env(tmp_path)
    metrics_port = free_port()
    env.update(METRICS_TOKEN=TOKEN, METRICS_PORT=str(metrics_port))
    with open(tmp_path / "run.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "service.runtime.runner"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output = _wait_for_welcome(tmp_path / "run.log", lambda: proc.poll() is None)
            assert f"http://127.0.0.1:{metrics_port}/metrics" in output
            headers = {"Authorization": f"Bearer {TOKEN}"}
            web = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                                                headers=headers), timeout=10).read().decode()
            assert value(web, "suishoupai_http_requests_total", route="/healthz") >= 1  # make run's own wait
            deadline = time.monotonic() + 30
            while True:  # the worker registers itself in Redis as it starts
                text = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{metrics_port}/metrics",
                                                                     headers=headers), timeout=10).read().decode()
                if value(text, "suishoupai_rq_workers_alive") >= 1:
                    break
                assert time.monotonic() < deadline, text
                time.sleep(0.3)
            assert value(text, "suishoupai_collector_up", source="database") == 1
            assert (tmp_path / "instance" / "metrics" / "web").is_dir()
            assert (tmp_path / "instance" / "metrics" / "jobs").is_dir()
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=60)
    assert code == 0
