"""Overdue work: cases past their deadline and still being worked, chased once per case per day."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.local_time import local_day
from service.models import Case
from service.notifications import announce_overdue
from service.states import WORKED


def chase_overdue(session: Session, now: datetime, tz: str) -> int:
    """Tell the assignee and staff about each overdue case not yet chased today (local day); how many."""
    today = local_day(now, tz)
    cases = list(session.scalars(
        sa.select(Case).where(Case.state.in_(WORKED), Case.deadline_at < now,
                              sa.or_(Case.overdue_notified_on.is_(None), Case.overdue_notified_on != today))
        .order_by(Case.deadline_at)))
    for case in cases:
        announce_overdue(session, case, now)
        case.overdue_notified_on = today
    session.commit()
    return len(cases)
