"""Each job's log lines: its id, its function, its case and the request that queued it (job.meta, written by
service/runtime/jobqueue.py) bound to every line it logs, and a line when it starts and when it ends."""
from __future__ import annotations

import logging
import time

from rq.exceptions import DeserializationError

from service.runtime import logs
from service.runtime.jobqueue import function_name

log = logging.getLogger("workers.jobs")


class LoggedJobs:
    """A mixin for an RQ worker: one long-lived process runs job after job in the same thread, so what one job
    bound is forgotten before the next begins."""

    def perform_job(self, job, queue) -> bool:
        """RQ's perform_job (the job, then its success or failure recorded), inside the job's log context."""
        meta = job.meta if isinstance(job.meta, dict) else {}
        logs.begin(job_id=job.id, job=job_name(job), request_id=meta.get("request_id"),
                   case_no=meta.get("case_no"))
        started = time.perf_counter()
        log.info("job started", extra={"queue": queue.name, "retries_left": job.retries_left})
        try:
            ok = super().perform_job(job, queue)
            log.log(logging.INFO if ok else logging.ERROR, "job finished" if ok else "job failed",
                    extra={"status": _status(job), "duration_ms": _ms_since(started)})
            return ok
        except BaseException:
            log.exception("job failed", extra={"duration_ms": _ms_since(started)})
            raise
        finally:
            logs.end()


def job_name(job) -> str:
    """The job's short name (`process_new_case`, jobqueue.function_name), or `unreadable` for data that is not JSON
    (a planted pickle: RQ refuses and fails it, and it must not stop the worker on its way)."""
    try:
        return function_name(job.func_name)
    except DeserializationError:
        return "unreadable"


def _status(job) -> str | None:
    """Where the job stands now: finished, failed, or scheduled (to be tried again)."""
    status = job.get_status(refresh=False)
    return getattr(status, "value", status)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
