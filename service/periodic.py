"""What the periodic jobs do: queue again the new cases whose processing was lost (then give up and tell staff),
and build last week's closure report and announce it to the staff group."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service import weekly
from service.cases import stale_new_cases
from service.follow_ups import PROCESS_CASE, FollowUp
from service.models import Case
from service.notifications import announce_processing_error, queue_webhook


def requeue_stale_cases(session: Session, now: datetime, stale_minutes: int, max_attempts: int,
                        in_flight: Callable[[FollowUp], bool]) -> list[tuple[str, FollowUp]]:
    """The processing to queue again, as (case number, follow-up), for each case left `new` longer than
    `stale_minutes` whose job is not `in_flight` (lost: Redis down at intake or restarted, a killed worker).

    Each re-queue counts as an attempt, committed before it is queued; a case already tried `max_attempts` times
    is handed to staff with a processing error instead, and is no longer stale. Running it twice re-queues
    nothing twice: the second run finds the jobs in flight.
    """
    again = []
    for case in stale_new_cases(session, now - timedelta(minutes=stale_minutes)):
        follow_up = FollowUp(PROCESS_CASE, case.id)
        if in_flight(follow_up):
            continue
        if case.processing_attempts >= max_attempts:
            _give_up(session, case, max_attempts)
            continue
        case.processing_attempts += 1
        session.commit()
        again.append((case.case_no, follow_up))
    return again


def _give_up(session: Session, case: Case, attempts: int) -> None:
    """Leave the case to staff with the reason, and tell them."""
    case.processing_error = f"处理 {attempts} 次仍未完成 / not processed after {attempts} attempts"
    announce_processing_error(session, case, "not_processed")
    session.commit()


def build_and_announce_week(session: Session, week_name: str | None, tz: str, now: datetime,
                            staff_webhook: str | None) -> tuple[weekly.Week, FollowUp | None]:
    """Build the named week's closure report (last week when none is named), replacing an earlier build, and keep
    its headline for the staff group's robot; the week, and the robot message to send (None without a robot)."""
    week = weekly.Week.parse(week_name) if week_name else weekly.last_week(now, tz)
    report = weekly.build_weekly_report(session, week, tz, now)
    follow_up = queue_webhook(session, staff_webhook, None, weekly.headline(report.data))
    session.commit()
    return week, follow_up
