"""The points ledger (积分, 5 points = one 紫藤花): append-only rows earned when a reported case is closed."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.auth import Role
from service.models import Case, MeToo, PointsEntry

REPORT_CLOSED = "report_closed"
ME_TOO_CLOSED = "me_too_closed"


def _earn(session: Session, user_id: int, case: Case, rule: str, points: int, at: datetime) -> None:
    """Add one ledger row unless this rule already paid this person for this case (a reopened case re-closed)."""
    paid = session.scalar(sa.select(PointsEntry.id).where(PointsEntry.user_id == user_id,
                                                          PointsEntry.case_id == case.id, PointsEntry.rule == rule))
    if paid is None and points > 0:
        session.add(PointsEntry(user_id=user_id, case_id=case.id, rule=rule, points=points, created_at=at))


def award_on_close(session: Session, case: Case, me_too_points: int, at: datetime) -> None:
    """The reporter earns the category's points; everyone who said "me too" earns me_too_points.

    Rejected and duplicate cases never close, so they earn nothing; nor does a case another system filed through
    Open311 (its reporter is that system's account, not a person).
    """
    if case.reporter.role != Role.OPEN311:
        _earn(session, case.reporter_id, case, REPORT_CLOSED, case.category.points, at)
    for user_id in session.scalars(sa.select(MeToo.user_id).where(MeToo.case_id == case.id)):
        _earn(session, user_id, case, ME_TOO_CLOSED, me_too_points, at)


def points_of(session: Session, user_id: int, since: datetime | None = None) -> int:
    """A person's points in total, or since an instant."""
    query = sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(PointsEntry.user_id == user_id)
    if since is not None:
        query = query.where(PointsEntry.created_at >= since)
    return session.scalar(query)
