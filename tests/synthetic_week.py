"""The synthetic week 2026-W09 (Asia/Shanghai) as a fixture, for the weekly report's tests and the pages and
exports built from it: registered in conftest.py (pytest_plugins), so a test only names `week_of_cases`."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from service.models import Case, CaseEvent, Category, Grid, PointsEntry, User
from service.weekly import Week

TZ = "Asia/Shanghai"
W09 = Week(2026, 9)  # Monday 2026-02-23 00:00 to Sunday 2026-03-01 24:00, Shanghai time


def local(month, day, hour=12, minute=0, second=0) -> datetime:
    """A Shanghai wall-clock time in 2026, as the UTC instant the database stores."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=ZoneInfo(TZ)).astimezone(UTC)


@pytest.fixture
def week_of_cases(db, settings):
    """The synthetic week. Letters name the cases in the comments of the tests below."""
    users = {u.username: u for u in db.scalars(sa.select(User))}
    light = db.scalar(sa.select(Category).where(Category.code == "B0118"))
    grids = {g.code: g for g in db.scalars(sa.select(Grid))}
    n = iter(range(1, 100))

    def case(created, state, grid="HQ01", reporter="rider1", deadline=None, closed=None, assignee="gw01"):
        c = Case(case_no=f"TEST-{next(n):04d}", reporter=users[reporter], category=light, lat=32.005, lon=120.845,
                 state=state, grid=grids[grid], assignee=users[assignee], created_at=created, updated_at=created,
                 dispatched_at=created if deadline else None, deadline_at=deadline, closed_at=closed, priority=0)
        db.add(c)
        db.flush()
        return c

    cases = {
        # A: reported and due the week before, closed (late) this week
        "A": case(local(2, 18), "closed", deadline=local(2, 21), closed=local(2, 24, 10)),
        # B: reported Monday morning, closed on time, in another grid
        "B": case(local(2, 23, 9), "closed", grid="HQ02", deadline=local(2, 26), closed=local(2, 25, 9),
                  assignee="gw02"),
        # C: due this week and still being worked: overdue and open at the end of the week
        "C": case(local(2, 24), "in_progress", deadline=local(2, 27)),
        # D, E: rejected and duplicate: received, not valid
        "D": case(local(2, 25), "rejected", reporter="rider2"),
        "E": case(local(2, 26), "duplicate", reporter="rider2"),
        # F: sent back once for rework, then closed on time
        "F": case(local(2, 23, 15), "closed", deadline=local(3, 5), closed=local(2, 27, 15)),
        # G: deadline extended from Friday to next week: no longer due this week
        "G": case(local(2, 24, 8), "dispatched", deadline=local(3, 6)),
        # H: Sunday 23:59:59 belongs to this week; I: Monday 00:00:00 to the next
        "H": case(local(3, 1, 23, 59, 59), "unrouted"),
        "I": case(local(3, 2, 0, 0, 0), "unrouted"),
    }
    db.add(CaseEvent(case=cases["F"], actor=users["staff1"], from_state="resolved", to_state="in_progress",
                     action="rework", note="未修好", created_at=local(2, 25)))
    db.add(CaseEvent(case=cases["G"], actor=users["staff1"], from_state="dispatched", to_state="dispatched",
                     action="extend", note="等待配件", created_at=local(2, 26)))
    db.add(CaseEvent(case=cases["F"], actor=users["staff1"], from_state="resolved", to_state="in_progress",
                     action="rework", note="last week's", created_at=local(2, 20)))  # not this week
    for user, c, points, at in (("rider1", "B", 5, local(2, 25, 9)), ("rider1", "F", 5, local(2, 27, 15)),
                                ("rider2", "A", 1, local(2, 24, 10)), ("rider1", "A", 5, local(2, 19))):
        db.add(PointsEntry(user=users[user], case_id=cases[c].id, rule="report_closed", points=points, created_at=at))
    db.commit()
    return cases
