"""Earning points (积分, 5 points = one 紫藤花): what a reported case pays its reporter and those who said "me too"
when it is closed, written to the ledger (service.ledger) once per person, case and rule."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.auth import Role
from service.ledger import PointsRules, Rule
from service.models import Case, MeToo, PointsEntry


def _earn(session: Session, user_id: int, case: Case, rule: Rule, points: int, at: datetime,
          rules: PointsRules) -> None:
    """Add one credit unless this rule already paid this person for this case (a reopened case re-closed)."""
    paid = session.scalar(sa.select(PointsEntry.id).where(PointsEntry.user_id == user_id,
                                                          PointsEntry.case_id == case.id, PointsEntry.rule == rule))
    if paid is None and points > 0:
        session.add(PointsEntry(user_id=user_id, case_id=case.id, rule=rule, points=points, created_at=at,
                                lot=rules.lot(at), community_id=case.community_id))


def award_on_close(session: Session, case: Case, rules: PointsRules, at: datetime) -> None:
    """The reporter earns the category's points; everyone who said "me too" earns the scheme's me-too points.

    Rejected and duplicate cases never close, so they earn nothing; nor does a case another system filed through
    Open311 (its reporter is that system's account, not a person).
    """
    if case.reporter.role != Role.OPEN311:
        _earn(session, case.reporter_id, case, Rule.REPORT_CLOSED, case.category.points, at, rules)
    for user_id in session.scalars(sa.select(MeToo.user_id).where(MeToo.case_id == case.id)):
        _earn(session, user_id, case, Rule.ME_TOO_CLOSED, rules.me_too_closed, at, rules)


def points_of(session: Session, user_id: int, since: datetime | None = None) -> int:
    """A person's points earned in total, or since an instant (credits only: what they spent is not taken off)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
        PointsEntry.user_id == user_id, PointsEntry.rule.in_((Rule.REPORT_CLOSED, Rule.ME_TOO_CLOSED, Rule.GOOD_DEED)))
    if since is not None:
        query = query.where(PointsEntry.created_at >= since)
    return session.scalar(query)
