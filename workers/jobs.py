"""The RQ jobs: each turns a job into a call of the core, and queues what the core says to do next.

Their names are not the core's (the core's `process_case` takes a session, this `process_new_case` a case id):
service/runtime/jobqueue.py JOB_SPECS says which job does which follow-up.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from rq import get_current_job

from service import ledger, open311_intake, orphan_photos, overdue, periodic, pipeline, unit_platforms
from service.db import utcnow
from service.models import Unit
from service.notifications import deliver_webhook
from service.open311_remote import RemoteError
from service.photo_store import PhotoStoreUnavailable
from service.runtime.jobqueue import JobQueue
from workers.context import database, desk_rules, district_index, intake_limits, photo_store, pipeline_rules, settings

log = logging.getLogger(__name__)


def _queue() -> JobQueue:
    return JobQueue(get_current_job().connection)


def _as_of(as_of: str | None) -> datetime:
    """The instant a test asked to look from (ISO time), else now; the scheduler never passes one."""
    return datetime.fromisoformat(as_of).astimezone(UTC) if as_of else utcnow()


def process_new_case(case_id: int) -> str | None:
    """The `process_case` follow-up: process a new case's photos, place it and route it; then queue its robot
    messages."""
    with database().session() as session:
        open311_intake.fetch_linked_photo(session, photo_store(), case_id, intake_limits(),
                                          settings().open311_media_hosts)
        try:
            done = pipeline.process_case(session, photo_store(), district_index(session), pipeline_rules(), case_id)
        except Exception:
            log.exception("process_case %s failed; RQ will retry it", case_id)
            raise
    if done is None:
        return None
    _queue().enqueue_follow_ups(done.case_no, done.follow_ups)
    log.info("case %s: %s", done.case_no, done.state)
    return done.state


def process_after_photos(case_id: int) -> int:
    """The `process_photos` follow-up: make the web copies and thumbnails of a case's photos that have none yet
    (the after photos)."""
    with database().session() as session:
        return pipeline.process_unprocessed_photos(session, photo_store(), pipeline_rules(), case_id)


def send_robot_message(message_id: int) -> bool:
    """The `deliver_webhook` follow-up: send one group-robot message; a failure raises so RQ retries it."""
    with database().session() as session:
        return deliver_webhook(session, message_id)


def send_to_unit_platform(request_id: int) -> bool:
    """The `send_to_unit` follow-up: send a case to its unit's own platform; a failure raises so RQ retries it."""
    with database().session() as session:
        return unit_platforms.send(session, photo_store(), request_id, utcnow())


def poll_unit_platforms() -> int:
    """Read each unit's platform's updates and apply them to the cases it was sent; how many were applied. A
    platform that cannot be read is logged and asked again next time."""
    config, applied, jobs, limits = settings(), 0, _queue(), intake_limits()
    with database().session() as session:
        for unit in session.scalars(sa.select(Unit).where(Unit.active.is_(True))).all():
            if not unit.open311:
                continue
            try:
                done = unit_platforms.poll(session, photo_store(), unit, utcnow(), limits, config.timezone,
                                           config.open311_media_hosts)
            except RemoteError as error:
                session.rollback()
                log.warning("unit %s: its platform could not be read: %s", unit.code, error)
                continue
            applied += done.applied
            for case_no, follow_ups in done.follow_ups:
                jobs.enqueue_follow_ups(case_no, follow_ups)
    return applied


def announce_weekly_report(week: str | None = None) -> str:
    """Build a week's closure report of every scope (last week by default) and post each headline to its group's
    robot: the district's to the staff group's, a community's to its own, followed by its 紫藤花 公示."""
    with database().session() as session:
        built, follow_ups = periodic.build_and_announce_weeks(session, week, settings().timezone, utcnow(),
                                                              settings().webhook_url, desk_rules().points)
    if follow_ups:
        _queue().enqueue_follow_ups(built.name, follow_ups)
    return built.name


def write_off_lapsed_points(as_of: str | None = None) -> int:
    """Write off the points past their expiry (service.ledger), once per person and earning quarter; how many."""
    with database().session() as session:
        return ledger.expire_points(session, _as_of(as_of), desk_rules().points)


def remove_orphaned_photos(as_of: str | None = None) -> int:
    """Remove the originals no row names, a day after a failed request stored them (service.orphan_photos)."""
    with database().session() as session:
        return orphan_photos.remove_orphaned_originals(session, photo_store(), _as_of(as_of))


def chase_overdue_cases(as_of: str | None = None) -> int:
    """Notify the assignee and staff of each overdue case, once per case per local day."""
    with database().session() as session:
        return overdue.chase_overdue(session, _as_of(as_of), settings().timezone)


def _photo_store_answers() -> bool:
    """False while the photos' bucket cannot be reached: every case's processing would fail on it, and queueing them
    again would only spend their attempts (a case given up on goes to staff as if its photo were at fault)."""
    try:
        photo_store().check()
        return True
    except PhotoStoreUnavailable as exc:
        log.warning("sweeper: the photo store cannot be reached (%s); stale cases wait for it", exc)
        return False


def sweep_stale_reports(as_of: str | None = None) -> int:
    """Queue again the new cases whose processing job was lost (service.periodic.requeue_stale_cases says which,
    and gives up after max_processing_attempts); how many were queued."""
    now, jobs = _as_of(as_of), _queue()
    if not _photo_store_answers():
        return 0
    with database().session() as session:
        again = periodic.requeue_stale_cases(session, now, settings().stale_new_minutes,
                                             settings().max_processing_attempts,
                                             lambda follow_up: jobs.in_flight(follow_up, as_of=now.timestamp()))
    requeued = sum(jobs.enqueue_follow_ups(case_no, [follow_up]) for case_no, follow_up in again)
    if requeued:
        log.info("sweeper: re-queued %d stale new case(s)", requeued)
    return requeued
