"""What the periodic jobs do: queue again the new cases whose processing was lost (then give up and tell staff),
and build last week's closure report of every part of the district and announce each to its staff group, with
each community's 紫藤花 公示."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service import weekly
from service.cases import stale_new_cases
from service.follow_ups import PROCESS_CASE, FollowUp
from service.ledger import PointsRules
from service.models import Case, Community
from service.notifications import announce_processing_error, queue_webhook
from service.publicity import robot_text, weekly_publicity


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


def _build_and_announce(session: Session, week_name: str | None, tz: str, now: datetime,
                        staff_webhook: str | None, points: PointsRules | None) -> tuple[weekly.Week, list]:
    """Build the named week's closure report (last week when none is named) of every scope — the district, each
    street office, each community — replacing earlier builds, and keep each headline for its group's robot: the
    district's for `staff_webhook`, a community's for its own, with the community's 紫藤花 公示 after it; the
    week, and the messages to send."""
    week = weekly.Week.parse(week_name) if week_name else weekly.last_week(now, tz)
    reports = weekly.build_all_weekly_reports(session, week, tz, now)
    communities = list(session.scalars(sa.select(Community)))
    robots = {f"community:{c.code}": c.webhook_url for c in communities}
    robots[weekly.DISTRICT] = staff_webhook
    follow_ups = [queue_webhook(session, robots.get(r.scope), None, weekly.headline(r.data)) for r in reports]
    if points is not None:
        follow_ups += [queue_webhook(session, c.webhook_url, None,
                                     robot_text(weekly_publicity(session, c, week, points, now)))
                       for c in communities if c.webhook_url]
    session.commit()
    return week, follow_ups


def build_and_announce_weeks(session: Session, week_name: str | None, tz: str, now: datetime,
                             staff_webhook: str | None,
                             points: PointsRules | None = None) -> tuple[weekly.Week, list[FollowUp]]:
    """Every scope's report of the week built and kept; the week, and the robot messages to send (the reports'
    headlines, and with the points scheme given, each community's 公示)."""
    week, follow_ups = _build_and_announce(session, week_name, tz, now, staff_webhook, points)
    return week, [f for f in follow_ups if f is not None]
