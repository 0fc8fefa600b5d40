"""Overdue work: cases past their deadline and still being worked, chased once per case per day."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.local_time import local_day
from service.models import Case
from service.notifications import announce_overdue
from service.states import WORKED


def is_overdue(now: datetime) -> sa.ColumnElement[bool]:
    """The rule, as a query's condition: being worked, and past the deadline."""
    return sa.and_(Case.state.in_(WORKED), Case.deadline_at < now)


def overdue_by_community(session: Session, now: datetime) -> dict[int | None, int]:
    """How many cases are overdue now, by community id (None: a case outside every community)."""
    return dict(session.execute(sa.select(Case.community_id, sa.func.count()).where(is_overdue(now))
                                .group_by(Case.community_id)).all())


def chase_overdue(session: Session, now: datetime, tz: str) -> int:
    """Tell the assignee and staff about each overdue case not yet chased today (local day); how many."""
    today = local_day(now, tz)
    cases = list(session.scalars(
        sa.select(Case).where(is_overdue(now),
                              sa.or_(Case.overdue_notified_on.is_(None), Case.overdue_notified_on != today))
        .order_by(Case.deadline_at)))
    for case in cases:
        announce_overdue(session, case, now)
        case.overdue_notified_on = today
    session.commit()
    return len(cases)
