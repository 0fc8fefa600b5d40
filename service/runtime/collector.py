"""The metrics collector's readings: RQ's queues and workers from Redis, the cases from the database and the photo
disk, read when Prometheus scrapes; with everything the workers and scheduler of this host wrote to their
PROMETHEUS_MULTIPROC_DIR, served over HTTP to a bearer token (`python -m workers.metrics`)."""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from rq import Queue, Worker
from rq.worker import WorkerStatus

from config import Settings
from service.backup_folders import LastSuccess
from service.db import Database, utcnow
from service.models import Case, Community
from service.overdue import overdue_by_community
from service.photo_store import SCRAPE, ObjectPhotoStore
from service.runtime import metrics
from service.runtime.jobqueue import QUEUES, SERIALIZER, redis_connection, rq_queue
from service.runtime.queue_view import WORKER_STATES, oldest_enqueued_at

log = logging.getLogger(__name__)

P = metrics.PREFIX
NO_COMMUNITY = "none"  # the community label of a case outside every community (unplaced, or routed by hand)

QUEUE_METRICS = (f"{P}_queue_jobs", f"{P}_queue_oldest_job_age_seconds", f"{P}_queue_failed_jobs",
                 f"{P}_queue_started_jobs", f"{P}_rq_workers", f"{P}_rq_workers_alive")
CASE_METRICS = (f"{P}_cases", f"{P}_overdue_open_cases")
DISK_METRICS = (f"{P}_photo_disk_free_bytes", f"{P}_photo_disk_size_bytes")
BACKUP_METRICS = (f"{P}_backup_last_success_timestamp_seconds",)
OWN_METRICS = (f"{P}_collector_up", f"{P}_collector_read_seconds")
EXPORTED = frozenset(QUEUE_METRICS + CASE_METRICS + DISK_METRICS + BACKUP_METRICS + OWN_METRICS)


def gauge(name: str, doc: str, labels: Iterable[str] = (), values: dict | None = None) -> GaugeMetricFamily:
    """A gauge family with one sample per key of values (a tuple of label values, or one value)."""
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for key, value in (values or {}).items():
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def read_queues(connection: redis.Redis, now: float) -> list[Metric]:
    """Each queue's waiting, failed and started jobs and the age of its oldest waiting job; the workers by state.
    Read only: RQ's registries are counted as they are, never cleaned (a scrape must not fail or retry a job)."""
    names = sorted(set(QUEUES) | {q.name for q in Queue.all(connection=connection, serializer=SERIALIZER)})
    waiting, oldest, failed, started = {}, {}, {}, {}
    for name in names:
        queue = rq_queue(name, connection)
        waiting[name] = queue.count
        oldest[name] = oldest_job_age(queue, connection, now)
        failed[name] = queue.failed_job_registry.get_job_count(cleanup=False)
        started[name] = queue.started_job_registry.get_job_count(cleanup=False)
    workers = Worker.all(connection=connection, serializer=SERIALIZER)
    states = dict.fromkeys(WORKER_STATES, 0)  # a state no worker is in is shown at 0
    for worker in workers:
        state = worker_state(worker)
        states[state] = states.get(state, 0) + 1
    return [
        gauge(f"{P}_queue_jobs", "Jobs waiting on the queue", ["queue"], waiting),
        gauge(f"{P}_queue_oldest_job_age_seconds", "How long the oldest waiting job has waited (0: none waits)",
              ["queue"], oldest),
        gauge(f"{P}_queue_failed_jobs", "Jobs in the queue's failed registry", ["queue"], failed),
        gauge(f"{P}_queue_started_jobs", "Jobs a worker is running now", ["queue"], started),
        gauge(f"{P}_rq_workers", "RQ workers alive, by state", ["state"], states),
        gauge(f"{P}_rq_workers_alive", "RQ workers alive", values={(): len(workers)}),
    ]


def worker_state(worker: Worker) -> str:
    """The worker's state as its word (busy, idle, ...), however RQ read it back from Redis."""
    state = worker.get_state()
    if isinstance(state, WorkerStatus):
        return state.value
    return state.decode() if isinstance(state, bytes) else str(state or "unknown")


def oldest_job_age(queue: Queue, connection: redis.Redis, now: float) -> float:
    """Seconds since the first waiting job was queued (read from its hash when the job is malformed); 0 when none
    waits, it vanished as we looked, or its time cannot be read."""
    enqueued = oldest_enqueued_at(queue, connection)
    if enqueued is None:
        return 0.0
    enqueued = enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC)
    return max(0.0, now - enqueued.timestamp())


def read_cases(database: Database, now: datetime) -> list[Metric]:
    """Every case by community and state (one GROUP BY), and the overdue ones by community (service.overdue's
    rule)."""
    with database.session() as session:
        codes = dict(session.execute(sa.select(Community.id, Community.code)).all())
        by_state = session.execute(sa.select(Case.community_id, Case.state, sa.func.count())
                                   .group_by(Case.community_id, Case.state)).all()
        overdue = overdue_by_community(session, now)
    overdue_counts = dict.fromkeys(codes.values(), 0)
    for community_id, count in overdue.items():
        code = codes.get(community_id, NO_COMMUNITY)
        overdue_counts[code] = overdue_counts.get(code, 0) + count
    return [
        gauge(f"{P}_cases", "Cases, by community (its code) and state", ["community", "state"],
              {(codes.get(cid, NO_COMMUNITY), state): count for cid, state, count in by_state}),
        gauge(f"{P}_overdue_open_cases", "Cases being worked past their deadline, by community", ["community"],
              overdue_counts),
    ]


def read_photo_disk(media_dir: Path) -> list[Metric]:
    """The free and whole size of the file system the photos are kept on."""
    usage = shutil.disk_usage(media_dir)
    return [gauge(f"{P}_photo_disk_free_bytes", "Bytes free where the photos are kept", values={(): usage.free}),
            gauge(f"{P}_photo_disk_size_bytes", "Bytes in all where the photos are kept", values={(): usage.total})]


def read_photo_store(store: ObjectPhotoStore) -> list[Metric]:
    """Nothing to count: the bucket answering is the reading (suishoupai_collector_up{source="photo_store"})."""
    store.check()
    return []


def read_backups(folder: Path) -> list[Metric]:
    """When the last backup into the folder succeeded (its last_success.json); 0 when none ever has."""
    last = LastSuccess.read(folder)
    return [gauge(f"{P}_backup_last_success_timestamp_seconds",
                  "When the last backup into BACKUP_DIR succeeded, seconds since the epoch (0: never)",
                  values={(): last.timestamp if last else 0})]


class ServiceCollector:
    """Reads each source when scraped; a source that cannot be read says so in suishoupai_collector_up{source}
    rather than failing the whole scrape (the workers' own metrics still arrive)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.connection = redis_connection(settings.redis_url)
        self.database = Database(settings.database_url)
        self.photo_store = ObjectPhotoStore(settings.photo_objects, SCRAPE) if settings.photo_objects else None

    def sources(self) -> dict[str, Callable[[], list[Metric]]]:
        """What is read, by name; the photo disk only when the photos are in a local folder, the backups only
        where BACKUP_DIR is set (the host that takes them)."""
        reads = {"redis": lambda: read_queues(self.connection, time.time()),
                 "database": lambda: read_cases(self.database, utcnow())}
        if self.settings.photo_objects is not None:  # a bucket has no disk to fill: that it answers is what counts
            reads["photo_store"] = lambda: read_photo_store(self.photo_store)
        elif self.settings.media_dir.is_dir():
            reads["photo_disk"] = lambda: read_photo_disk(self.settings.media_dir)
        if self.settings.backup_dir is not None:
            reads["backup"] = lambda: read_backups(self.settings.backup_dir)
        return reads

    def collect(self) -> Iterator[Metric]:
        """Every source's gauges, then whether each was read and how long it took."""
        up, seconds = {}, {}
        for name, read in self.sources().items():
            started = time.perf_counter()
            try:
                yield from read()
                up[name] = 1
            except Exception as exc:  # a source down is a reading of 0, logged; the scrape goes on
                log.warning("metrics: %s could not be read: %s", name, exc)
                up[name] = 0
            seconds[name] = time.perf_counter() - started
        yield gauge(f"{P}_collector_up", "1 when the source was read at this scrape, else 0", ["source"], up)
        yield gauge(f"{P}_collector_read_seconds", "Time to read the source at this scrape", ["source"], seconds)


def collector_registry(settings: Settings) -> CollectorRegistry:
    """The collector's registry: its readings, and the workers' and scheduler's metrics from the folder they
    write to (PROMETHEUS_MULTIPROC_DIR) when one is set."""
    registry = CollectorRegistry()
    registry.register(ServiceCollector(settings))
    folder = metrics.multiprocess_dir()
    if folder is not None:
        MultiProcessCollector(registry, path=folder)
    return registry


def metrics_app(registry: CollectorRegistry, token: str | None) -> Callable:
    """A WSGI app answering GET /metrics to METRICS_TOKEN as bearer (401 else; 404 with no token: metrics off)."""

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics" or not token:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found\n"]
        if not metrics.bearer_allowed(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [b"a valid metrics bearer token is required\n"]
        body, content_type = metrics.exposition(registry, environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]

    return app


class QuietHandler(WSGIRequestHandler):
    """wsgiref's request handler, its line per request to our log at debug rather than to stderr."""

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        log.debug("metrics %s - %s", self.address_string(), format % args)


def metrics_server(settings: Settings) -> WSGIServer:
    """The collector's HTTP server on METRICS_BIND:METRICS_PORT."""
    app = metrics_app(collector_registry(settings), settings.metrics_token)
    return make_server(settings.metrics_bind, settings.metrics_port, app, handler_class=QuietHandler)
