"""The worker process: `python -m workers.run` works the photo queue first, then the default queue."""
from __future__ import annotations

import logging
import threading
import time

import redis
from rq import SimpleWorker
from rq.worker.base import BaseWorker
from sqlalchemy.orm import configure_mappers

import workers.jobs  # noqa: F401  (imported here, once)
from service.runtime import logs
from service.runtime.jobqueue import QUEUES, SERIALIZER, redis_connection
from service.runtime.metrics import record_job
from workers import context
from workers.job_logs import LoggedJobs, job_name

log = logging.getLogger(__name__)

# how often a busy worker proves it is alive; a job whose worker stops proving it is handed back by RQ
JOB_MONITORING_INTERVAL = 10
# how often a worker cleans RQ's registries and, when no live worker holds it, takes the retry scheduler over
MAINTENANCE_INTERVAL = 60


class PipelineWorker(LoggedJobs, SimpleWorker):
    """An RQ worker that runs each job in its own long-lived process, proving it is alive from a thread meanwhile.

    RQ's default worker forks a work horse per job. For a photo job of about 90 ms the horse added about 50 ms
    more: a new database connection, and page faults for every buffer a fresh process must map again (measured
    by `make load`). Here the imports, the grid index, the connection pool and the warmed-up memory stay from
    one job to the next. A heartbeat thread keeps the job's lease short as a forking worker's is, so a worker
    killed mid-job (SIGKILL, a lost host) has its job handed back by RQ's clean-up within a minute or so; the
    job timeout still stops a job that runs too long. It reads jobs as JSON only, whatever it is given.
    """

    def __init__(self, *args, **kwargs):
        kwargs["serializer"] = SERIALIZER  # a pickled payload would run its own code here
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job) -> int:
        return BaseWorker.get_heartbeat_ttl(self, job)  # the short lease of a forking worker, renewed below

    def perform_job(self, job, queue) -> bool:
        """Run the job as RQ does, counting its outcome and time (service/runtime/metrics.py)."""
        started = time.perf_counter()
        ok = super().perform_job(job, queue)
        record_job(job_name(job), ok, time.perf_counter() - started)
        return ok

    def execute_job(self, job, queue):
        done = threading.Event()
        beating = threading.Thread(target=self._beat, args=(job, done), name="rq-heartbeat", daemon=True)
        beating.start()
        try:
            return super().execute_job(job, queue)
        except redis.ConnectionError as exc:
            # Redis went away while the job's outcome was being recorded there. What the job did is committed in
            # the database; RQ's bookkeeping of it is lost or will lapse. Wait for Redis, then carry on.
            log.warning("Redis went away during %s (%s); waiting for it", job.id, exc)
            self._wait_for_redis()
        finally:
            done.set()
            beating.join()

    def _wait_for_redis(self) -> None:
        pause = 0.5
        while not self._stop_requested:
            try:
                self.connection.ping()
                return
            except redis.ConnectionError:
                time.sleep(pause)
                pause = min(pause * 2, 10)

    def _beat(self, job, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job)
            except redis.RedisError as exc:  # Redis away: the job finishes anyway, the sweeper squares the rest
                log.warning("heartbeat for %s not sent: %s", job.id, exc)


def main() -> None:
    """Work jobs until stopped; the built-in scheduler moves retries with a delay back onto their queue."""
    logs.configure("worker")
    configure_mappers()
    connection = redis_connection(context.settings().redis_url)
    worker = PipelineWorker(list(QUEUES), connection=connection,
                            job_monitoring_interval=JOB_MONITORING_INTERVAL, maintenance_interval=MAINTENANCE_INTERVAL)
    worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
