"""What the admins' queue page shows, read from RQ: each queue's figures, the workers, the failed jobs; requeueing."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime

import redis
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.utils import str_to_date
from rq.worker import WorkerStatus

from service.follow_ups import FollowUp
from service.refusals import Refused
from service.runtime.jobqueue import (
    DEFAULT_QUEUE,
    JOB_SPECS,
    PHOTO_QUEUE,
    QUEUES,
    SERIALIZER,
    function_name,
    rq_queue,
)
from service.runtime.logs import masked_text

log = logging.getLogger(__name__)

FAILED_PAGE_SIZE = 50
REQUEUE_BATCH = 500  # failed jobs requeued by one press of "requeue all": each takes a few Redis round trips
MAX_JOB_ID = 200  # longer than any id RQ or JobQueue makes: what a form sends beyond it is not a job's
# the job each dotted path does, by the name JOB_SPECS gives it (a follow-up's name for a follow-up's job)
JOB_NAMES = {spec.path: spec.name for spec in JOB_SPECS.values()}
# what each queue carries, and RQ's states of a worker, as the page names them (Chinese, English); the collector
# counts the workers in each of these states, 0 included
QUEUE_WORDS = {PHOTO_QUEUE: ("新上报与照片处理", "new reports and photos"),
               DEFAULT_QUEUE: ("通知、单位平台与定时任务", "messages, unit platforms, periodic jobs")}
WORKER_STATES = {WorkerStatus.BUSY.value: ("忙碌", "busy"), WorkerStatus.IDLE.value: ("空闲", "idle"),
                 WorkerStatus.SUSPENDED.value: ("已暂停", "suspended"),
                 WorkerStatus.STARTED.value: ("启动中", "starting")}


@dataclass(frozen=True)
class QueueFigures:
    """One queue: its jobs waiting (and since when the oldest), running, waiting for a time or another job, failed."""

    name: str
    waiting: int
    oldest_enqueued_at: datetime | None
    running: int
    scheduled: int
    deferred: int
    failed: int

    @property
    def words(self) -> tuple[str, str]:
        """What the queue carries, in Chinese and English."""
        return QUEUE_WORDS.get(self.name, ("", ""))


@dataclass(frozen=True)
class WorkerFigures:
    """One worker as it last told Redis: where it runs, what it does, when it last proved alive, its tallies."""

    name: str
    hostname: str | None
    pid: int | None
    state: str  # busy, idle, suspended, started (RQ's words)
    current_job: str | None
    last_heartbeat: datetime | None
    successful: int
    failed: int
    queues: tuple[str, ...]

    @property
    def state_words(self) -> tuple[str, str]:
        """The worker's state in Chinese and English (an unknown one as RQ says it)."""
        return WORKER_STATES.get(self.state, (self.state, self.state))


@dataclass(frozen=True)
class FailedJob:
    """A failed job as the page lists it; whatever of it cannot be read is left empty rather than breaking the page."""

    id: str
    queue: str
    function: str  # the function's own name, without its module; "" when the job's data cannot be read
    follow_up: FollowUp | None  # the follow-up it does, when it is one of JobQueue's (its target id from the args)
    failed_at: datetime | None
    traceback: str  # masked as a log line is (a robot's webhook key, a platform's api key)

    @property
    def error(self) -> str:
        """The exception, as the traceback's last line says it."""
        lines = [line for line in self.traceback.splitlines() if line.strip()]
        return lines[-1] if lines else ""


@dataclass(frozen=True)
class FailedPage:
    """One page of the failed jobs of every queue, newest first."""

    jobs: list[FailedJob]
    total: int
    page: int
    pages: int


def queue_figures(connection: redis.Redis) -> list[QueueFigures]:
    """Each of the service's queues, in the order workers take them. Read only: no registry is cleaned here."""
    figures = []
    for name in QUEUES:
        queue = rq_queue(name, connection)
        registry = {"name": name, "connection": connection, "serializer": SERIALIZER}
        figures.append(QueueFigures(
            name=name, waiting=queue.count, oldest_enqueued_at=oldest_enqueued_at(queue, connection),
            running=StartedJobRegistry(**registry).get_job_count(cleanup=False),
            scheduled=ScheduledJobRegistry(**registry).get_job_count(cleanup=False),
            deferred=DeferredJobRegistry(**registry).get_job_count(cleanup=False),
            failed=FailedJobRegistry(**registry).get_job_count(cleanup=False)))
    return figures


def worker_figures(connection: redis.Redis) -> list[WorkerFigures]:
    """Every worker registered on this Redis, by name."""
    workers = Worker.all(connection=connection, serializer=SERIALIZER)
    return sorted((WorkerFigures(
        name=w.name, hostname=w.hostname, pid=w.pid, state=w.get_state(), current_job=w.get_current_job_id(),
        last_heartbeat=w.last_heartbeat, successful=w.successful_job_count, failed=w.failed_job_count,
        queues=tuple(q.name for q in w.queues)) for w in workers), key=lambda w: w.name)


def failed_jobs(connection: redis.Redis, page: int = 1, per_page: int = FAILED_PAGE_SIZE) -> FailedPage:
    """A page of the failed jobs of every queue, the latest failure first (RQ scores a failed job by when it
    expires, its failure time plus a time to live that our jobs all share)."""
    registries = [_failed_registry(name, connection) for name in QUEUES]
    total = sum(r.get_job_count(cleanup=False) for r in registries)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)
    # the newest page*per_page of each queue hold the newest page*per_page of them all
    entries = sorted(((score, job_id, r.name) for r in registries
                      for job_id, score in connection.zrange(r.key, 0, page * per_page - 1, desc=True,
                                                             withscores=True)), reverse=True)
    chosen = entries[(page - 1) * per_page:page * per_page]
    return FailedPage([_failed_job(connection, job_id.decode(), queue) for _, job_id, queue in chosen],
                      total, page, pages)


def requeue_failed(connection: redis.Redis, job_id: str) -> str:
    """Put one failed job back on its queue, by RQ's own requeue; the queue's name. Refused for a job that is not
    there or not failed (requeued already, say)."""
    if not job_id or len(job_id) > MAX_JOB_ID:
        raise Refused("not_found", "unknown_job", "找不到该任务", "no such job")
    job = fetch_job(connection, job_id)
    if job is None:
        raise Refused("not_found", "unknown_job", f"找不到任务 {job_id}（可能已过期）",
                      f"no job {job_id} (it may have expired)")
    if not _readable(job):  # RQ would take it off the failed list, then fail to write it back
        raise Refused("conflict", "unreadable_job", f"任务 {job_id} 的数据无法读取，不能重新排队",
                      f"job {job_id} cannot be read: not requeued")
    try:
        _failed_registry(job.origin, connection).requeue(job)
    except InvalidJobOperation:
        raise Refused("conflict", "not_failed", f"任务 {job_id} 不在失败列表中（可能已重新排队）",
                      f"job {job_id} is not among the failed ones (requeued already?)") from None
    log.info("job %s requeued on %s from the desk", job_id, job.origin)
    return job.origin


def requeue_all_failed(connection: redis.Redis) -> tuple[int, int]:
    """Put failed jobs back on their queues, at most a batch of them (REQUEUE_BATCH), so one request stays short
    after an outage that failed thousands; how many went back, and how many failed ones are left. One requeued
    meanwhile by someone else, expired or unreadable is skipped (and looked at no further than a few batches)."""
    batch = REQUEUE_BATCH
    requeued = looked_at = 0
    for name in QUEUES:
        skipped = 0  # those skipped stay in the registry, ahead of the ones still to be looked at
        while requeued < batch and looked_at < 4 * batch:
            job_ids = _failed_registry(name, connection).get_job_ids(skipped, skipped + batch - 1, cleanup=False)
            if not job_ids:
                break
            for job_id in job_ids[:batch - requeued]:
                looked_at += 1
                try:
                    requeue_failed(connection, job_id)
                    requeued += 1
                except Refused:
                    skipped += 1
    left = sum(_failed_registry(name, connection).get_job_count(cleanup=False) for name in QUEUES)
    return requeued, left


def oldest_enqueued_at(queue: Queue, connection: redis.Redis) -> datetime | None:
    """When the job at the queue's head was queued; read from its hash alone when the job as a whole cannot be
    read (a malformed one must not hide the queue's figures); None when none waits or it is not known."""
    head = queue.get_job_ids(0, 1)
    if not head:
        return None
    job = fetch_job(connection, head[0])
    if job is not None:
        return job.enqueued_at
    try:
        return str_to_date(connection.hget(Job.key_for(head[0]), "enqueued_at"))
    except ValueError:  # gone meanwhile, or no time RQ wrote
        return None


def _failed_registry(name: str, connection: redis.Redis) -> FailedJobRegistry:
    return FailedJobRegistry(name, connection=connection, serializer=SERIALIZER)


def fetch_job(connection: redis.Redis, job_id: str) -> Job | None:
    """The job with this id, read as JSON (never unpickled), or None when it is gone or not a job RQ can read."""
    try:
        return Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
    except NoSuchJobError:  # expired, or never was
        return None
    except redis.RedisError:
        raise
    except Exception as exc:  # a hash that is no job of RQ's (cut short, written by hand): the page goes on
        log.warning("job %s cannot be read: %s", job_id, exc)
        return None


def _readable(job: Job) -> bool:
    """The job's data and meta are JSON that can be written back as they are (a planted pickle is not)."""
    try:
        SERIALIZER.loads(job.data)
        SERIALIZER.dumps(job.meta)
    except Exception:
        return False
    return True


def _failed_job(connection: redis.Redis, job_id: str, queue: str) -> FailedJob:
    """A failed job as far as it can be read: its function and target from its data, its error from its result."""
    job = fetch_job(connection, job_id)
    if job is None:
        return FailedJob(job_id, queue, "", None, None, "")
    function, follow_up = _what_it_does(job)
    failed_at, traceback = job.ended_at, ""
    try:
        result = job.latest_result()
    except redis.RedisError:
        raise
    except Exception as exc:  # a result written by something else than RQ's worker
        log.warning("job %s: its result cannot be read: %s", job_id, exc)
        result = None
    if result is not None and result.type == Result.Type.FAILED:
        failed_at, traceback = result.created_at, masked_text(result.exc_string or "")
    return FailedJob(job_id, queue, function, follow_up, failed_at, traceback)


def _what_it_does(job: Job) -> tuple[str, FollowUp | None]:
    """The function's short name, and the follow-up when the job is one (a known path, one whole-number argument)."""
    try:
        path, args = job.func_name or "", job.args
    except Exception:  # data that is not the JSON RQ writes: shown as unreadable
        return "", None
    name = JOB_NAMES.get(path)
    target = args[0] if isinstance(args, list | tuple) and len(args) == 1 else None
    follow_up = FollowUp(name, target) if name and type(target) is int else None
    return function_name(str(path)), follow_up
