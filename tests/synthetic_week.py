"""The synthetic weeks 2026-W09 (Asia/Shanghai) as fixtures, for the weekly report's tests and the pages and
exports built from them: registered in conftest.py (pytest_plugins), so a test only names `week_of_cases` (one
community's week) or `district_week` (four communities of two street offices, with transfers, escalations and
send-backs)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from service.models import Case, CaseEvent, Category, Grid, PointsEntry, StreetOffice, User
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
    grids = {g.code: g for g in db.scalars(sa.select(Grid).where(Grid.retired_at.is_(None)))}
    n = iter(range(1, 100))

    def case(created, state, grid="HQ01", reporter="rider1", deadline=None, closed=None, assignee="gw01"):
        c = Case(case_no=f"TEST-{next(n):04d}", reporter=users[reporter], category=light, lat=32.005, lon=120.845,
                 state=state, grid=grids[grid], assignee=users[assignee], created_at=created, updated_at=created,
                 dispatched_at=created if deadline else None, deadline_at=deadline, closed_at=closed, priority=0,
                 community_id=grids[grid].community_id, street_office_id=grids[grid].community.street_office_id)
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


@pytest.fixture
def district_week(db, settings):
    """The week across 虹桥街道 (虹桥社区 H…, 桃园社区 T…, and X, the office's own) and 和平桥街道 (起凤社区 Q…,
    三桥社区 S…); tests/test_weekly_levels.py computes every figure from these by hand."""
    users = {u.username: u for u in db.scalars(sa.select(User))}
    light = db.scalar(sa.select(Category).where(Category.code == "B0118"))
    grids = {g.code: g for g in db.scalars(sa.select(Grid).where(Grid.retired_at.is_(None)))}
    hqjd = db.scalar(sa.select(StreetOffice).where(StreetOffice.code == "hqjd"))
    n = iter(range(1, 100))

    def case(grid, created, state, deadline=None, closed=None, reporter="rider1"):
        g = grids.get(grid)
        worker = {"HQ01": "gw01", "TY01": "ty01", "QF01": "qf01", "SQ01": "sq01"}.get(grid)
        c = Case(case_no=f"DIST-{next(n):04d}", reporter=users[reporter], category=light, lat=32.0, lon=120.86,
                 state=state, grid=g, assignee=users[worker] if worker else None, created_at=created,
                 updated_at=created, dispatched_at=created if deadline else None, deadline_at=deadline,
                 closed_at=closed, priority=0, community_id=g.community_id if g else None,
                 street_office_id=g.community.street_office_id if g else hqjd.id)
        db.add(c)
        db.flush()
        return c

    cases = {
        "H1": case("HQ01", local(2, 23, 9), "closed", local(2, 25), local(2, 24, 9)),  # on time, 24 h
        "H2": case("HQ01", local(2, 23, 9), "closed", local(2, 26), local(2, 27, 9)),  # late, 96 h
        "H3": case("HQ01", local(2, 24, 9), "in_progress", local(2, 27)),  # overdue, open
        "H4": case("HQ01", local(2, 25, 9), "rejected"),
        "T1": case("TY01", local(2, 23, 9), "closed", local(2, 24), local(2, 23, 15)),  # on time, 6 h
        "T2": case("TY01", local(2, 24, 9), "dispatched", local(3, 4)),  # due next week
        "X": case(None, local(2, 26, 9), "unrouted"),  # 虹桥街道's own, in none of its communities
        "Q1": case("QF01", local(2, 18, 12), "closed", local(2, 20), local(2, 25, 12)),  # last week's, late, 168 h
        "Q2": case("QF01", local(2, 23, 9), "closed", local(2, 25), local(2, 24, 21)),  # on time, 36 h
        "Q3": case("QF01", local(2, 26, 9), "duplicate"),
        "S1": case("SQ01", local(2, 23, 9), "in_progress", local(2, 24), reporter="rider2"),  # overdue
        "S2": case("SQ01", local(2, 23, 9), "resolved", local(2, 25), reporter="rider2"),  # overdue, not checked
        "S3": case("SQ01", local(2, 24, 9), "closed", local(2, 26), local(2, 25, 9), reporter="rider2"),  # 24 h
    }

    def event(name, action, at, facts=None, to_state="dispatched"):
        db.add(CaseEvent(case=cases[name], actor=users["staff1"], from_state=None, to_state=to_state,
                         action=action, facts=facts, created_at=at))

    for name in ("H1", "H2", "H3", "T1", "T2", "Q2", "S1", "S2", "S3"):
        event(name, "dispatch", cases[name].created_at + timedelta(minutes=1))
    event("Q1", "dispatch", local(2, 18, 13))  # first dispatched last week: not among this week's dispatches
    event("Q1", "send_back", local(2, 24, 9), {"reason": "wrong_location"}, "unrouted")
    event("Q1", "assign", local(2, 24, 10))
    event("H3", "send_back", local(2, 25, 9), {"reason": "not_ours"}, "unrouted")
    event("S1", "send_back", local(2, 23, 10), {"reason": "incomplete"}, "unrouted")
    event("S1", "send_back", local(2, 24, 10), {"reason": "incomplete"}, "unrouted")  # the same case again
    event("H2", "rework", local(2, 26, 9), to_state="in_progress")
    event("S3", "rework", local(2, 24, 15), to_state="in_progress")
    event("S3", "rework", local(2, 24, 18), to_state="in_progress")  # the same case again
    event("T2", "transfer", local(2, 24, 10), to_state="unrouted")
    event("T1", "escalate", local(2, 23, 10), to_state="unrouted")
    event("S2", "escalate", local(2, 23, 11), to_state="unrouted")
    event("T2", "transfer", local(2, 20), to_state="unrouted")  # last week's
    for name, points in (("H1", 5), ("Q2", 5)):
        db.add(PointsEntry(user=users["rider1"], case_id=cases[name].id, rule="report_closed", points=points,
                           created_at=cases[name].closed_at))
    db.commit()
    return cases
