"""The service's Prometheus metrics, every one declared here, and how a process exposes them to a scraper.

Each process writes its own: gunicorn's web workers, RQ workers and the scheduler. With PROMETHEUS_MULTIPROC_DIR
set in a process's environment before prometheus_client is first imported, prometheus_client keeps the values in
files there, one per process, and a MultiProcessCollector adds up whatever the folder holds. The web's folder is
emptied when gunicorn starts; workers and the scheduler need a folder of their own (the collector process,
service/runtime/collector.py, reads it), or gunicorn's start would wipe theirs.

Every label takes a bounded set of values: a URL rule, never a path; a refusal's code; a job's function.
"""
from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

PREFIX = "suishoupai"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# the HTTP methods a label may name; anything else a client makes up is "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a request no URL rule took (a 404, a 405)

# seconds: a page in milliseconds, an upload over 4G in seconds
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
# bytes: from a thumbnail-sized picture to the 15 MB limit
PHOTO_BUCKETS = (50e3, 100e3, 250e3, 500e3, 1e6, 2e6, 3e6, 5e6, 8e6, 12e6, 16e6)

if os.environ.get(MULTIPROC_ENV):  # the folder a process's values are kept in, there before the first is made
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)

http_requests = Counter(f"{PREFIX}_http_requests_total", "HTTP requests answered, by URL rule, method and status",
                        ["route", "method", "status"])
http_request_duration = Histogram(f"{PREFIX}_http_request_duration_seconds",
                                  "Time to answer an HTTP request, by URL rule and method", ["route", "method"],
                                  buckets=REQUEST_BUCKETS)
intake_reports = Counter(f"{PREFIX}_intake_reports_total",
                         "Reports offered, by channel, accepted or refused, and the refusal's code",
                         ["channel", "outcome", "reason"])
upload_bytes = Counter(f"{PREFIX}_upload_bytes_total", "Bytes of photos taken in, by channel", ["channel"])
upload_photo_bytes = Histogram(f"{PREFIX}_upload_photo_bytes", "Size of each photo taken in", buckets=PHOTO_BUCKETS)
pipeline_step_duration = Histogram(f"{PREFIX}_pipeline_step_duration_seconds",
                                   "Time of one step of the photo pipeline: decode, copies, dispatch", ["step"],
                                   buckets=STEP_BUCKETS)
jobs = Counter(f"{PREFIX}_jobs_total", "Jobs run by the workers, by function and outcome (ok, failed)",
               ["function", "outcome"])  # not "job": Prometheus gives that label the scrape target's name
job_duration = Histogram(f"{PREFIX}_job_duration_seconds", "Time a worker took to run a job, by function", ["function"],
                         buckets=JOB_BUCKETS)
outbound_sends = Counter(f"{PREFIX}_outbound_sends_total",
                         "Messages sent to other systems (webhook: group robots; open311: units' platforms; "
                         "open311_poll: reading their updates), by outcome (ok, failed)", ["kind", "outcome"])

# every name this module and the collector export (a family's _bucket, _count, _sum and _created come with it):
# the dashboard's and the alerts' test holds their queries to these
EXPORTED = frozenset({
    f"{PREFIX}_http_requests_total", f"{PREFIX}_http_request_duration_seconds", f"{PREFIX}_intake_reports_total",
    f"{PREFIX}_upload_bytes_total", f"{PREFIX}_upload_photo_bytes", f"{PREFIX}_pipeline_step_duration_seconds",
    f"{PREFIX}_jobs_total", f"{PREFIX}_job_duration_seconds", f"{PREFIX}_outbound_sends_total",
})


def record_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request under its URL rule (UNMATCHED when none took it)."""
    route = route or UNMATCHED
    method = method if method in METHODS else "other"
    http_requests.labels(route, method, str(status)).inc()
    http_request_duration.labels(route, method).observe(seconds)


def record_intake(channel: str, refusal_code: str | None) -> None:
    """Count one report offered on a channel: accepted when no refusal's code is given."""
    if refusal_code is None:
        intake_reports.labels(channel, "accepted", "").inc()
    else:
        intake_reports.labels(channel, "refused", refusal_code).inc()


def record_upload(channel: str, photo_sizes: Iterable[int]) -> None:
    """Count the photos a request brought in, and their bytes."""
    total = 0
    for size in photo_sizes:
        upload_photo_bytes.observe(size)
        total += size
    if total:
        upload_bytes.labels(channel).inc(total)


@contextmanager
def timed_step(step: str) -> Iterator[None]:
    """Time a step of the photo pipeline (decode, copies, dispatch), when it ends well."""
    started = time.perf_counter()
    yield
    pipeline_step_duration.labels(step).observe(time.perf_counter() - started)


@contextmanager
def counted_send(kind: str) -> Iterator[None]:
    """Count a message sent to another system as ok, or failed when the block raises (which goes on up)."""
    try:
        yield
    except BaseException:
        outbound_sends.labels(kind, "failed").inc()
        raise
    outbound_sends.labels(kind, "ok").inc()


def record_job(name: str, ok: bool, seconds: float) -> None:
    """Count one job run by a worker, and its time, under the job's short name (jobqueue.function_name)."""
    jobs.labels(name, "ok" if ok else "failed").inc()
    job_duration.labels(name).observe(seconds)


def multiprocess_dir() -> str | None:
    """The folder this process's metrics are kept in, as prometheus_client itself reads it; None: in memory."""
    return os.environ.get(MULTIPROC_ENV) or None


def process_registry() -> CollectorRegistry:
    """What this process exposes: every process's metrics from the folder when there is one (a process's own
    values are in it too), else this process's own."""
    folder = multiprocess_dir()
    if folder is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)
    return registry


def bearer_allowed(authorization: str | None, token: str) -> bool:
    """True when the Authorization header is `Bearer <token>`, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The registry's metrics in the format the scraper asked for (Prometheus text, or OpenMetrics), and its
    content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
