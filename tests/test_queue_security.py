"""The queue trusts no payload: jobs travel as JSON, a pickle someone slipped into Redis never runs, and the embedded
Redis wants its password."""
from __future__ import annotations

import json
import os
import zlib

import psutil
import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.serializers import PickleSerializer

from service.follow_ups import FollowUp
from service.runtime.jobqueue import PHOTO_QUEUE, SERIALIZER, JobQueue, redis_connection, rq_queue


class MakesADirectory:
    """What an attacker pickles: unpickling it calls os.mkdir, standing in for any code at all."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def _plant_pickled_job(connection, mark, job_id: str) -> None:
    """Put a pickled job on the photo queue as anyone who can write to Redis could, its data and meta booby-trapped."""
    Queue(PHOTO_QUEUE, connection=connection, serializer=PickleSerializer).enqueue(
        "workers.jobs.process_after_photos", MakesADirectory(str(mark)), job_id=job_id,
        meta={"note": MakesADirectory(str(mark))})


def test_a_pickled_job_planted_in_redis_is_not_run_by_the_worker(tmp_path, settings, worker_env):
    from workers.run import PipelineWorker

    worker_env()
    connection = redis_connection(settings.redis_url)
    mark = tmp_path / "pwned"
    _plant_pickled_job(connection, mark, "planted")
    legit = tmp_path / "legit"
    rq_queue(PHOTO_QUEUE, connection).enqueue("tests.fault_jobs.leave_mark", str(legit))

    PipelineWorker([PHOTO_QUEUE, "default"], connection=connection).work(burst=True)

    assert not mark.exists()
    assert legit.exists()  # the worker went on with the honest job after refusing the planted one
    photos = rq_queue(PHOTO_QUEUE, connection)
    assert photos.job_ids == [] and photos.failed_job_registry.get_job_ids() == ["planted"]
    # what the sweeper asks about a job does not unpickle it either
    _plant_pickled_job(connection, mark, "process_case-7")
    JobQueue(connection).in_flight(FollowUp("process_case", 7))
    assert not mark.exists()


def test_queued_follow_ups_are_plain_json(rider, settings):
    case_no = rider.report().get_json()["case_no"]
    connection = redis_connection(settings.redis_url)
    job_id = rq_queue(PHOTO_QUEUE, connection).job_ids[0]
    func, instance, args, kwargs = json.loads(zlib.decompress(connection.hget(f"rq:job:{job_id}", "data")))
    assert (func, instance, kwargs) == ("workers.jobs.process_new_case", None, {}) and len(args) == 1, case_no
    assert Job.fetch(job_id, connection=connection, serializer=SERIALIZER).args == [int(job_id.split("-")[1])]


def test_the_scheduler_queues_its_periodic_jobs_as_json_and_the_worker_runs_them(settings, worker_env):
    from support import run_jobs

    from workers.cron import scheduler

    worker_env()
    connection = redis_connection(settings.redis_url)
    queued = scheduler(connection).enqueue_jobs()  # the interval jobs are due at once
    assert sorted(job.func_name for job in queued) == ["workers.jobs.chase_overdue_cases",
                                                       "workers.jobs.poll_unit_platforms",
                                                       "workers.jobs.sweep_stale_reports"]
    default = rq_queue("default", connection)
    for job_id in default.job_ids:
        assert json.loads(zlib.decompress(connection.hget(f"rq:job:{job_id}", "data")))[0].startswith("workers.jobs.")
    run_jobs(settings)
    assert default.finished_job_registry.count == 3 and default.failed_job_registry.count == 0


def test_the_embedded_redis_refuses_clients_without_its_password(tmp_path):
    from service.runtime.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis", persist=False, password="kept-in-instance").start()
    try:
        assert redis_connection(server.url).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port).ping()
        assert "kept-in-instance" not in " ".join(psutil.Process(server.process.pid).cmdline())
    finally:
        server.stop()
