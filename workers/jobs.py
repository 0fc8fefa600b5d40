"""The RQ jobs: each turns a job into a call of the core, and queues what the core says to do next."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from rq import get_current_job

from service import overdue, pipeline, weekly
from service.cases import stale_new_cases
from service.db import utcnow
from service.runtime.jobqueue import JobQueue
from service.lifecycle import FollowUp
from service.notifications import deliver_webhook as deliver, notify, queue_webhook, staff_members
from workers.context import database, grid_index, photo_store, pipeline_rules, settings

log = logging.getLogger(__name__)


def _queue() -> JobQueue:
    return JobQueue(get_current_job().connection)


def process_case(case_id: int) -> str | None:
    """Process a new case's photos, place it and route it; then queue its robot messages."""
    with database().session() as session:
        try:
            done = pipeline.process_case(session, photo_store(), grid_index(session), pipeline_rules(), case_id)
        except Exception:
            log.exception("process_case %s failed; RQ will retry it", case_id)
            raise
    if done is None:
        return None
    _queue().enqueue_follow_ups(done.case_no, done.follow_ups)
    log.info("case %s: %s", done.case_no, done.state)
    return done.state


def process_photos(case_id: int) -> int:
    """Make the web copies and thumbnails of a case's photos that have none yet (the after photos)."""
    with database().session() as session:
        return pipeline.process_unprocessed_photos(session, photo_store(), pipeline_rules(), case_id)


def deliver_webhook(message_id: int) -> bool:
    """Send one group-robot message; a failure raises so RQ retries it with backoff."""
    with database().session() as session:
        return deliver(session, message_id)


def build_weekly_report(week: str | None = None) -> str:
    """Build a week's closure report (last week by default) and post its headline to the staff group's robot."""
    now = utcnow()
    tz = settings().timezone
    target = weekly.Week.parse(week) if week else weekly.last_week(now, tz)
    with database().session() as session:
        report = weekly.build_weekly_report(session, target, tz, now)
        follow_up = queue_webhook(session, settings().webhook_url, None, weekly.headline(report.data))
        session.commit()
    if follow_up:
        _queue().enqueue_follow_ups(target.name, [follow_up])
    return target.name


def chase_overdue(as_of: str | None = None) -> int:
    """Notify the assignee and staff of each overdue case, once per case per local day."""
    now = datetime.fromisoformat(as_of).astimezone(timezone.utc) if as_of else utcnow()
    with database().session() as session:
        return overdue.chase_overdue(session, now, settings().timezone)


def sweep_stale_reports(as_of: str | None = None) -> int:
    """Re-queue cases left `new` too long whose job was lost (Redis down at intake or restarted, a killed worker).

    After max_processing_attempts re-queues the case is handed to staff with a processing error.
    `as_of` (ISO time) lets a test look at the queue from a later moment; the scheduler never passes it.
    """
    now = datetime.fromisoformat(as_of).astimezone(timezone.utc) if as_of else utcnow()
    jobs, limit = _queue(), settings().max_processing_attempts
    requeued = 0
    with database().session() as session:
        for case in stale_new_cases(session, now - timedelta(minutes=settings().stale_new_minutes)):
            follow_up = FollowUp("process_case", case.id)
            if jobs.in_flight(follow_up, as_of=now.timestamp()):
                continue
            if case.processing_attempts >= limit:
                case.processing_error = f"处理 {limit} 次仍未完成 / not processed after {limit} attempts"
                notify(session, staff_members(session), case, "processing_error",
                       f"【随手拍】{case.case_no} 多次处理未完成，请查看")
                session.commit()
                continue
            case.processing_attempts += 1
            session.commit()
            requeued += jobs.enqueue_follow_ups(case.case_no, [follow_up])
    if requeued:
        log.info("sweeper: re-queued %d stale new case(s)", requeued)
    return requeued
