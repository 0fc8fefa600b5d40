"""The periodic jobs, and the scheduler process that queues them as JSON: `python -m workers.cron`."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import redis
from rq import cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.job import Job

from service.runtime import logs
from service.runtime.jobqueue import JOB_SPECS, SERIALIZER, redis_connection, rq_queue
from workers.context import settings

log = logging.getLogger(__name__)


def monday_8am_as_utc_cron(tz: str) -> str:
    """`Monday 08:00` in the community's zone as a cron line in UTC, which is the clock the scheduler reads."""
    monday_8 = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo(tz))  # any Monday
    utc = monday_8.astimezone(ZoneInfo("UTC"))
    weekday = (utc.isoweekday() % 7)  # cron counts Sunday as 0
    return f"{utc.minute} {utc.hour} * * {weekday}"


def daily_as_utc_cron(tz: str, hour: int, minute: int) -> str:
    """Every day at hour:minute in the community's zone, as a cron line in UTC."""
    utc = datetime(2026, 3, 2, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))
    return f"{utc.minute} {utc.hour} * * *"


class JSONCronJob(CronJob):
    """A periodic job queued as JSON.

    rq 2.12's CronJob.enqueue always builds a pickling queue, and `rq cron` takes no serializer, while our workers
    read JSON only. This is RQ's own enqueue (the job, its history and the cron registry in one round trip) on a
    JSON queue, of a job named by its dotted path (JOB_SPECS), so the scheduler need not import the jobs.
    """

    def enqueue(self, connection: redis.Redis) -> Job:
        """Queue this job now, and record it as RQ's cron monitoring expects."""
        queue = rq_queue(self.queue_name, connection)
        with connection.pipeline() as pipeline:
            job = queue.enqueue(self.func or self.func_name, *self.args, **self.kwargs, **self.job_options,
                                pipeline=pipeline)
            enqueued_at = job.enqueued_at.timestamp()
            pipeline.zadd(self.job_history_key, {job.id: enqueued_at})
            pipeline.zremrangebyrank(self.job_history_key, 0, -(DEFAULT_CRON_JOB_HISTORY_LIMIT + 1))
            pipeline.expire(self.job_history_key, DEFAULT_CRON_JOB_HISTORY_TTL)
            cron_job_registry.add(self.name, pipeline, enqueue_timestamp=enqueued_at)
            pipeline.execute()
        log.info("queued %s on %s", self.func_name, self.queue_name, extra={"queued_job_id": job.id})
        return job


class JSONCronScheduler(CronScheduler):
    """RQ's cron scheduler (its timing, heartbeat, registry and signal handling), its jobs queued as JSON."""

    def __init__(self, connection: redis.Redis, **kwargs):
        super().__init__(connection, **kwargs)
        self.serializer = SERIALIZER

    def register_job(self, name: str, **when) -> CronJob:
        """Add the periodic job of this name in JOB_SPECS (its function, queue and time limit), every `interval`
        seconds or on a `cron` line (UTC)."""
        spec = JOB_SPECS[name]
        job = JSONCronJob(queue_name=spec.queue, func_name=spec.path, job_timeout=spec.timeout, name=name, **when)
        self._cron_jobs.append(job)
        return job


def scheduler(connection: redis.Redis) -> JSONCronScheduler:
    """The scheduler with our periodic jobs: the sweeper every minute, overdue chasing, the Monday report, the
    units' platforms' updates, points expiring (daily, just after midnight), photos no row names (daily, at night)."""
    jobs = JSONCronScheduler(connection)
    jobs.register_job("sweep_stale_reports", interval=60)
    jobs.register_job("chase_overdue", interval=600)
    jobs.register_job("weekly_report", cron=monday_8am_as_utc_cron(settings().timezone))
    jobs.register_job("poll_unit_platforms", interval=settings().open311_poll_seconds)
    jobs.register_job("expire_points", cron=daily_as_utc_cron(settings().timezone, 0, 5))  # a new quarter's first
    jobs.register_job("remove_orphaned_photos", cron=daily_as_utc_cron(settings().timezone, 3, 40))  # after backups
    return jobs


def main() -> None:
    """Queue the periodic jobs on time until SIGINT or SIGTERM; exactly one of these runs per Redis."""
    logs.configure("scheduler")
    scheduler(redis_connection(settings().redis_url)).start()


if __name__ == "__main__":
    main()
