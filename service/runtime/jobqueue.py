"""The one door from the web to the queue: jobs are named by dotted path, so the web never imports workers/."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from rq import Queue, Retry, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from service.case_numbers import is_case_no
from service.follow_ups import DELIVER_WEBHOOK, PROCESS_CASE, PROCESS_PHOTOS, SEND_TO_UNIT, FollowUp
from service.runtime import logs

log = logging.getLogger(__name__)

PHOTO_QUEUE = "photos"
DEFAULT_QUEUE = "default"
QUEUES = (PHOTO_QUEUE, DEFAULT_QUEUE)  # in the order a worker takes their jobs: a rider waits on the photos
# Jobs carry ids and plain values, so they travel as JSON. RQ's default, pickle, runs whatever code a payload names:
# anyone who could write to Redis would run code in the workers. Every queue, worker and job lookup uses this.
SERIALIZER = JSONSerializer
# where a queue's jobs wait or are remembered besides the queue itself; a restore empties them all
REGISTRIES = ("started_job_registry", "scheduled_job_registry", "deferred_job_registry", "failed_job_registry",
              "finished_job_registry", "canceled_job_registry")
# a job in one of these states will still run: the sweeper leaves it alone
IN_FLIGHT = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# a retry this many seconds past its time was not moved by any scheduler: the sweeper takes it over
OVERDUE_RETRY_S = 120


@dataclass(frozen=True)
class JobSpec:
    """One kind of job: its name (a follow-up's, as the core says it), the dotted path of the function in
    workers/jobs.py that does it, its queue, its time limit in seconds, and how it is retried."""

    name: str
    path: str
    queue: str
    timeout: int
    retry: Retry | None = None


# every job the workers run, by name: the follow-ups the core returns, then the periodic jobs (workers/cron.py)
JOB_SPECS = {spec.name: spec for spec in (
    JobSpec(PROCESS_CASE, "workers.jobs.process_new_case", PHOTO_QUEUE, 300, Retry(max=3, interval=[10, 30, 60])),
    JobSpec(PROCESS_PHOTOS, "workers.jobs.process_after_photos", PHOTO_QUEUE, 300,
            Retry(max=3, interval=[10, 30, 60])),
    JobSpec(DELIVER_WEBHOOK, "workers.jobs.send_robot_message", DEFAULT_QUEUE, 30,
            Retry(max=5, interval=[10, 30, 60, 300, 900])),
    # a unit's platform may be down for hours: tried again over about a day, then left to the desk's resend
    JobSpec(SEND_TO_UNIT, "workers.jobs.send_to_unit_platform", DEFAULT_QUEUE, 60,
            Retry(max=6, interval=[30, 120, 600, 1800, 3600, 4 * 3600])),
    JobSpec("sweep_stale_reports", "workers.jobs.sweep_stale_reports", DEFAULT_QUEUE, 120),
    JobSpec("chase_overdue", "workers.jobs.chase_overdue_cases", DEFAULT_QUEUE, 300),
    JobSpec("weekly_report", "workers.jobs.announce_weekly_report", DEFAULT_QUEUE, 1800),
    JobSpec("poll_unit_platforms", "workers.jobs.poll_unit_platforms", DEFAULT_QUEUE, 600),
    JobSpec("expire_points", "workers.jobs.write_off_lapsed_points", DEFAULT_QUEUE, 1800),
    JobSpec("remove_orphaned_photos", "workers.jobs.remove_orphaned_photos", DEFAULT_QUEUE, 3600),
)}


def job_id(follow_up: FollowUp) -> str:
    """The fixed id of a follow-up's job, like process_case-42."""
    return f"{follow_up.job}-{follow_up.target_id}"


def function_name(path: str) -> str:
    """A job's short name, its function's own (workers.jobs.process_new_case -> process_new_case): in its log lines,
    its metrics' label and on the queue page alike."""
    return path.rsplit(".", 1)[-1]


def job_meta(case_no: str) -> dict:
    """What a job carries for its log lines: the request (or job) that queued it, and its case's number (a weekly
    report's jobs are queued under the week's name, which is none)."""
    return {"request_id": logs.bound("request_id"), "case_no": case_no if is_case_no(case_no) else None}


def redis_connection(url: str) -> redis.Redis:
    """A Redis client that gives up quickly, so a Redis outage cannot stall a rider's upload."""
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=3, health_check_interval=30)


def rq_queue(name: str, connection: redis.Redis) -> Queue:
    """An RQ queue whose jobs are written and read as JSON."""
    return Queue(name, connection=connection, serializer=SERIALIZER)


def registered_workers(connection: redis.Redis) -> list[str]:
    """The names of the RQ workers registered in Redis (each renews its registration while it runs)."""
    return sorted(worker.name for worker in Worker.all(connection=connection, serializer=SERIALIZER))


def forget_all_jobs(connection: redis.Redis) -> int:
    """Remove every job of every queue and of its registries (waiting, running, retrying, failed, done), the jobs
    themselves too; how many. After a restore they name the old database's ids (process_case-42): run, requeued
    or retried, they would act on other cases. The sweeper queues the restored cases still new again."""
    forgotten = 0
    for name in sorted(set(QUEUES) | {q.name for q in Queue.all(connection=connection, serializer=SERIALIZER)}):
        queue = rq_queue(name, connection)
        forgotten += queue.empty()
        for attribute in REGISTRIES:
            registry = getattr(queue, attribute)
            for each in registry.get_job_ids(cleanup=False):
                registry.remove(each)
                connection.delete(Job.key_for(each), Job.dependents_key_for(each))
                forgotten += 1
    return forgotten


class JobQueue:
    """Puts follow-up work for a committed case on the RQ queue; failures are logged, never raised."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection

    def enqueue_follow_ups(self, case_no: str, follow_ups: Iterable[FollowUp]) -> bool:
        """Queue each follow-up of a committed change; False when Redis could not take them (the sweeper will)."""
        ok, meta = True, job_meta(case_no)
        for follow_up in follow_ups:
            spec = JOB_SPECS[follow_up.job]
            try:
                # A fixed job id: the sweeper re-enqueueing a case replaces, never doubles, its job.
                rq_queue(spec.queue, self.connection).enqueue(
                    spec.path, follow_up.target_id, job_id=job_id(follow_up), job_timeout=spec.timeout,
                    retry=spec.retry, description=f"{follow_up.job} {case_no}", meta=meta)
                log.info("job queued", extra={"queued_job": follow_up.job, "queued_job_id": job_id(follow_up),
                                              "case_no": meta["case_no"]})
            except redis.RedisError as exc:
                log.warning("case %s: could not queue %s (%s); the sweeper will pick it up",
                            case_no, follow_up.job, exc)
                ok = False
        return ok

    def in_flight(self, follow_up: FollowUp, as_of: float | None = None) -> bool:
        """True while the follow-up's job is queued, waiting for a retry, or running on a live worker.

        Jobs of a worker that died (SIGKILL, lost host) are first handed back by RQ's own clean-up of the
        started registry, which retries or fails those whose heartbeat has expired. A retry long overdue has no
        scheduler to move it (the dead worker held the scheduler's lock): it is taken off the schedule and
        counts as lost, so the sweeper queues it again.
        """
        queue = JOB_SPECS[follow_up.job].queue
        StartedJobRegistry(queue, connection=self.connection, serializer=SERIALIZER).cleanup(as_of)
        try:
            job = Job.fetch(job_id(follow_up), connection=self.connection, serializer=SERIALIZER)
        except NoSuchJobError:
            return False
        status = job.get_status()
        if status == JobStatus.SCHEDULED:
            schedule = ScheduledJobRegistry(queue, connection=self.connection, serializer=SERIALIZER)
            try:
                due = schedule.get_scheduled_time(job).timestamp()
            except NoSuchJobError:
                return False
            if due < (as_of or time.time()) - OVERDUE_RETRY_S:
                schedule.remove(job)
                return False
        return status in IN_FLIGHT

    def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(self.connection.ping())
        except redis.RedisError:
            return False
