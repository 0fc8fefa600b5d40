"""The one door from the web to the queue: jobs are named by dotted path, so the web never imports workers/."""
from __future__ import annotations

import logging

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

PHOTO_QUEUE = "photos"
# a job in one of these states will still run (or has run): the sweeper leaves it alone
LIVE_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.FINISHED}
# follow-up name (as the lifecycle says it) -> the job function that does it
JOBS = {
    "process_case": "workers.jobs.process_case",
}


def redis_connection(url: str) -> redis.Redis:
    """A Redis client that gives up quickly, so a Redis outage cannot stall a rider's upload."""
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=3, health_check_interval=30)


class JobQueue:
    """Puts follow-up work for a committed case on the RQ queue; failures are logged, never raised."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection
        self.queue = Queue(PHOTO_QUEUE, connection=connection)

    def enqueue_follow_ups(self, case_id: int, case_no: str, follow_ups) -> bool:
        """Queue each follow-up of a case; False when Redis could not take them (the sweeper will)."""
        ok = True
        for name in follow_ups:
            try:
                # A fixed job id: the sweeper re-enqueueing a case replaces, never doubles, its job.
                self.queue.enqueue(JOBS[name], case_id, job_id=f"{name}-{case_id}", job_timeout=300,
                                   retry=Retry(max=3, interval=[10, 30, 60]), description=f"{name} {case_no}")
            except redis.RedisError as exc:
                log.warning("case %s: could not queue %s (%s); the sweeper will pick it up", case_no, name, exc)
                ok = False
        return ok

    def requeue_if_lost(self, case_id: int, case_no: str, name: str) -> bool:
        """Queue the follow-up again unless its job is still on its way; True when it was re-queued."""
        try:
            status = Job.fetch(f"{name}-{case_id}", connection=self.connection).get_status()
            if status in LIVE_STATUSES:
                return False
        except NoSuchJobError:
            pass
        return self.enqueue_follow_ups(case_id, case_no, [name])

    def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(self.connection.ping())
        except redis.RedisError:
            return False
