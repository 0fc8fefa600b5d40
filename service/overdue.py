"""Overdue work: cases past their deadline and still being worked, chased once per case per day."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.queue import WORKED_STATES
from service.models import Case
from service.notifications import notify, staff_members


def chase_overdue(session: Session, now: datetime, tz: str) -> int:
    """Tell the assignee and staff about each overdue case not yet chased today (local day); how many."""
    today = now.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")
    cases = list(session.scalars(
        sa.select(Case).where(Case.state.in_(WORKED_STATES), Case.deadline_at < now,
                              sa.or_(Case.overdue_notified_on.is_(None), Case.overdue_notified_on != today))
        .order_by(Case.deadline_at)))
    staff = staff_members(session)
    for case in cases:
        hours = int((now - case.deadline_at).total_seconds() // 3600)
        text = f"【随手拍】超期未结：{case.case_no} {case.category.name}，已超期 {hours} 小时"
        notify(session, ([case.assignee] if case.assignee else []) + staff, case, "overdue", text)
        case.overdue_notified_on = today
    session.commit()
    return len(cases)
