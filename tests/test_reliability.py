"""Nothing acknowledged is lost: Redis outages at intake, bounded memory for big uploads, the sweeper."""
from __future__ import annotations

import io
import tracemalloc

import pytest
import sqlalchemy as sa
from images import noisy_jpeg, photo_jpeg
from rq import SimpleWorker
from support import Api, make_settings, originals_on_disk
from werkzeug.test import EnvironBuilder

from service.auth import issue_api_token
from service.models import Case, User
from service.runtime.embedded_redis import EmbeddedRedis
from service.runtime.jobqueue import PHOTO_QUEUE, SERIALIZER, redis_connection, rq_queue
from service.web import create_app


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, which the test may stop and start again."""
    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    yield server
    server.stop()


def test_a_report_made_while_redis_is_down_is_kept_and_swept_up_later(tmp_path, settings, own_redis, worker_env):
    app = create_app(make_settings(tmp_path, settings.database_url, own_redis.url))
    api = Api(app.test_client())
    api.login("rider1")
    own_redis.stop()

    health = api.client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["redis"] == "down"
    response = api.report(client_report_id="while-redis-down")
    assert response.status_code == 201
    case_no = response.get_json()["case_no"]
    with app.extensions["snap"].db.session() as db:
        case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
        assert case.state == "new"
        assert (settings.media_dir.parent / "media" / case.photos[0].original_path).exists() or \
            originals_on_disk(make_settings(tmp_path, settings.database_url, own_redis.url))
        case_id = case.id

    # Redis comes back empty; the periodic sweeper puts the lost job back on the queue, and a worker runs it
    own_redis.start()  # the same port, nothing kept: the fixture stops it whatever happens
    worker_env(own_redis.url, STALE_NEW_MINUTES="0")
    connection = redis_connection(own_redis.url)
    rq_queue("default", connection).enqueue("workers.jobs.sweep_stale_reports")
    SimpleWorker(["default"], connection=connection, serializer=SERIALIZER).work(burst=True)
    photos = rq_queue(PHOTO_QUEUE, connection)
    assert photos.job_ids == [f"process_case-{case_id}"]
    # swept twice, still queued once
    rq_queue("default", connection).enqueue("workers.jobs.sweep_stale_reports")
    SimpleWorker(["default"], connection=connection, serializer=SERIALIZER).work(burst=True)
    assert photos.job_ids == [f"process_case-{case_id}"]
    SimpleWorker([PHOTO_QUEUE], connection=connection, serializer=SERIALIZER).work(burst=True)
    job = photos.fetch_job(f"process_case-{case_id}")
    assert job.is_finished and job.return_value() == "dispatched"
    app.extensions["snap"].db.dispose()


def test_the_queued_job_runs_on_a_real_forking_worker(rider, settings, worker_env):
    from rq import Worker
    from rq.job import Job

    case_no = rider.report().get_json()["case_no"]
    worker_env(settings.redis_url)
    connection = redis_connection(settings.redis_url)
    Worker([PHOTO_QUEUE], connection=connection, serializer=SERIALIZER).work(burst=True)
    assert rq_queue(PHOTO_QUEUE, connection).jobs == []
    finished = rq_queue(PHOTO_QUEUE, connection).finished_job_registry.get_job_ids()
    assert len(finished) == 1
    assert Job.fetch(finished[0], connection=connection, serializer=SERIALIZER).return_value() == "dispatched"
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["state"] == "dispatched"


def _peak_memory_of_request(app, token: str, photo: bytes) -> tuple[int, int]:
    """(status, peak bytes Python allocated) while the app handles one upload; the body is built beforehand."""
    builder = EnvironBuilder(path="/api/v1/reports", method="POST", headers={"Authorization": f"Bearer {token}"},
                             data={"lat": "32.015", "lon": "120.855", "category": "B0118",
                                   "photo": (io.BytesIO(photo), "big.jpg")})
    environ = builder.get_environ()
    statuses = []
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert body
    return int(statuses[0].split()[0]), peak


def test_a_15_mb_upload_is_streamed_to_disk_in_bounded_memory(app, settings):
    token = Api(app.test_client()).login("rider1").get_json()["token"]
    big = noisy_jpeg(2900, 2150)
    assert 13 * 2**20 < len(big) <= settings.max_photo_bytes, len(big)
    small = photo_jpeg(1600, 1200)
    status_small, peak_small = _peak_memory_of_request(app, token, small)
    status_big, peak_big = _peak_memory_of_request(app, token, big)
    assert status_small == 201 and status_big == 201
    print(f"peak memory: {peak_small / 2**20:.2f} MiB for {len(small) / 2**20:.2f} MiB, "
          f"{peak_big / 2**20:.2f} MiB for {len(big) / 2**20:.2f} MiB")
    # the request holds a few buffers, not the photo: far below its 14 MiB
    assert peak_big < 4 * 2**20
    assert peak_big < peak_small + 3 * 2**20
    stored = [p for p in originals_on_disk(settings) if p.stat().st_size == len(big)]
    assert len(stored) == 1 and stored[0].read_bytes() == big


def test_healthz_reports_both_engines(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_with_the_database_down_a_report_gets_503_and_leaves_nothing(tmp_path, settings):
    down = make_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:9/nothing", settings.redis_url)
    app = create_app(down)
    client = app.test_client()
    token = issue_api_token(User(id=1), down.secret_key)  # well signed: only the database can say whose it is
    response = client.post("/api/v1/reports", headers={"Authorization": f"Bearer {token}"},
                           data={"lat": "32.015", "lon": "120.855", "category": "B0118",
                                 "photo": (io.BytesIO(photo_jpeg()), "x.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert originals_on_disk(down) == []
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"] == "down"
    login = client.post("/api/v1/auth/login", json={"username": "rider1", "password": "x"})
    assert login.status_code == 503
    app.extensions["snap"].db.dispose()


def test_with_every_pooled_connection_busy_a_request_gets_503_not_500(app, rider):
    engine = app.extensions["snap"].db.engine
    engine.pool._timeout = 0.5  # wait half a second for a free connection rather than the pool's 10-30 s
    held = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]
    try:
        response = rider.get("/api/v1/me/reports")
    finally:
        for connection in held:
            connection.close()
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "30"


def test_a_login_hands_its_connection_back_before_checking_the_password(app, db):
    from service.auth import authenticate

    engine = app.extensions["snap"].db.engine
    session = app.extensions["snap"].db.session()
    try:
        assert authenticate(session, "rider1", "wrong password") is None
        assert engine.pool.checkedout() == 0  # nothing held while scrypt ran, nor after
    finally:
        session.close()


def test_a_worker_outlives_redis_restarting_empty_as_a_job_ends(tmp_path, own_redis, worker_env):
    """Redis vanishes while the worker records a job's end: the worker waits for it and goes on working."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    env = {**os.environ, **worker_env(own_redis.url)}
    root = Path(__file__).resolve().parent.parent
    log = open(tmp_path / "worker.log", "w+")
    worker = subprocess.Popen([sys.executable, "-m", "workers.run"], env=env, cwd=root, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        queue = rq_queue(PHOTO_QUEUE, redis_connection(own_redis.url))
        redis_process = own_redis.process
        queue.enqueue("tests.fault_jobs.stop_redis", redis_process.pid)
        redis_process.wait(timeout=30)
        time.sleep(1.5)  # the worker meets the closed connection while it records the job's end
        own_redis.start()  # the same port, empty
        mark = tmp_path / "ran"
        rq_queue(PHOTO_QUEUE, redis_connection(own_redis.url)).enqueue("tests.fault_jobs.leave_mark", str(mark))
        deadline = time.monotonic() + 30
        while not mark.exists():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.1)
        assert mark.read_text() == str(worker.pid)  # the same process, not a restarted one
        assert "waiting for it" in (tmp_path / "worker.log").read_text()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
