"""The RQ jobs: each one turns a job into a call of the core."""
from __future__ import annotations

import logging
from datetime import timedelta

from rq import get_current_job

from service.cases import stale_new_cases
from service.db import utcnow
from service.jobqueue import JobQueue
from service.models import Case
from workers.context import database, settings

log = logging.getLogger(__name__)


def process_case(case_id: int) -> str | None:
    """Process a new case's photos and dispatch it (the pipeline lands here next; for now it logs the case)."""
    with database().session() as session:
        case = session.get(Case, case_id)
        if case is None:
            log.warning("process_case: no case with id %s", case_id)
            return None
        log.info("case %s: %d photo(s) received, state %s", case.case_no, len(case.photos), case.state)
        return case.case_no


def sweep_stale_reports() -> int:
    """Re-queue cases left `new` too long whose job was lost (Redis down at intake, restarted, or a killed worker)."""
    cutoff = utcnow() - timedelta(minutes=settings().stale_new_minutes)
    with database().session() as session:
        stale = stale_new_cases(session, cutoff)
    jobs = JobQueue(get_current_job().connection)
    requeued = sum(jobs.requeue_if_lost(case_id, case_no, "process_case") for case_id, case_no in stale)
    if requeued:
        log.info("sweeper: re-queued %d of %d stale new case(s)", requeued, len(stale))
    return requeued
