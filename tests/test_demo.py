"""The demo-data command (`flask --app service.web demo week`): a plausible fortnight of cases made through the
lifecycle at past moments, the weekly report of it, a second run refused, the same seed the same cases."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from support import PER_TEST_TABLES

from service.db import utcnow
from service.demo import DEMO_ID, DemoRefused, make_demo_week
from service.models import Case, CaseEvent, Photo, WeeklyReport
from service.states import CaseState
from service.web.commands import demo_tools
from service.weekly import Week

TZ = "Asia/Shanghai"


def demo(app, *args: str):
    """The command as typed: `flask --app service.web demo week ...`."""
    return app.test_cli_runner().invoke(args=["demo", "week", *args])


def demo_cases(db) -> list[Case]:
    db.expire_all()
    return list(db.scalars(sa.select(Case).where(Case.client_report_id.like(f"{DEMO_ID}%")).order_by(Case.id)))


def test_a_demo_fortnight_is_plausible_its_report_has_every_indicator_and_a_second_run_is_refused(app, db):
    week = Week.containing(utcnow(), TZ).shifted(-1)  # last week, whole: it and the week before it
    made = demo(app, "--week", week.name, "--cases", "150", "--seed", "7")
    assert made.exit_code == 0, made.output
    print(made.output)
    assert f"demo cases in {week.shifted(-1).name} and {week.name} (seed 7" in made.output
    assert "已结案 closed" in made.output and "超期未结 overdue" in made.output
    cases = demo_cases(db)
    assert 140 <= len(cases) <= 150
    start, end = week.shifted(-1).start(TZ), week.end(TZ)
    assert all(start <= c.created_at < end for c in cases)
    states = Counter(CaseState(c.state) for c in cases)
    assert .5 <= states[CaseState.CLOSED] / len(cases) <= .92, states
    for state in (CaseState.REJECTED, CaseState.DUPLICATE, CaseState.IN_PROGRESS):
        assert states[state] > 0, states
    assert states[CaseState.NEW] == 0, states  # every report went through the pipeline
    assert sum(c.priority > 0 for c in cases) >= 10  # urgent ones among them

    now = utcnow()
    for case in cases:
        local_day = case.created_at.astimezone(ZoneInfo(TZ)).strftime("%Y%m%d")
        assert case.case_no.startswith(local_day)  # numbered on the day it was reported
        times = [e.created_at for e in case.events]
        assert times == sorted(times) and times[0] == case.created_at and times[-1] <= now
        assert [e.action for e in case.events][0] == "report"
        assert any(p.kind == "before" and p.web_path for p in case.photos)
        if case.state == CaseState.CLOSED:
            assert case.closed_at is not None and any(p.kind == "after" for p in case.photos)
        if case.dispatched_at and not any(e.action == "extend" for e in case.events):
            assert case.deadline_at - case.dispatched_at == timedelta(hours=case.category.deadline_hours)
    merged = [c for c in cases if c.state == CaseState.DUPLICATE]
    assert all(m.duplicate_of is not None and m.duplicate_of.category_id == m.category_id for m in merged)

    report = db.get(WeeklyReport, (week.name, "district"))  # built by the command
    assert report is not None
    f = report.data["overall"]
    assert f["closed"] > 0 and f["rework"] > 0 and f["extended"] > 0 and len(report.data["overdue"]) > 0, f
    assert f["received"] > 50 and 0 < f["closure_rate"] <= 1 and f["on_time"] < f["closed"]
    assert db.get(WeeklyReport, (week.shifted(-1).name, "district")) is not None

    again = demo(app, "--week", week.name, "--seed", "8")
    assert again.exit_code != 0
    assert "已有" in again.output and "--force" in again.output
    assert len(demo_cases(db)) == len(cases)

    more = demo(app, "--week", week.name, "--cases", "10", "--seed", "8", "--force")
    assert more.exit_code == 0, more.output
    assert len(cases) + 9 <= len(demo_cases(db)) <= len(cases) + 10  # added beside the first set, said so


def _forget_every_case(db) -> None:
    """Empty the tables the demo wrote to (as between tests), so a second run starts where the first did."""
    for table in PER_TEST_TABLES:
        db.execute(sa.text(f"DELETE FROM {table}"))
    db.commit()


def _what_was_made(db) -> list[tuple]:
    """Everything a reader sees of the demo cases: numbers, who, what, where, when, and each step's moment."""
    return [(c.case_no, c.reporter.username, c.category.code, c.lat, c.lon, c.state, c.grid_id, c.assignee_id,
             c.created_at, c.deadline_at, c.closed_at, c.description,
             [(e.action, e.to_state, e.note, e.created_at) for e in c.events]) for c in demo_cases(db)]


def test_the_same_seed_makes_the_same_cases_and_another_seed_others(app, db):
    week = Week.containing(utcnow(), TZ).shifted(-2)
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        tools = demo_tools()
    first = make_demo_week(db, tools, week, cases=40, seed=123, now=now)
    made = _what_was_made(db)
    assert len(made) == first.made >= 38
    _forget_every_case(db)
    make_demo_week(db, tools, week, cases=40, seed=123, now=now)
    assert _what_was_made(db) == made
    _forget_every_case(db)
    make_demo_week(db, tools, week, cases=40, seed=124, now=now)
    assert [m[1:5] for m in _what_was_made(db)] != [m[1:5] for m in made]


def test_the_week_under_way_is_made_only_as_far_as_now_and_a_week_to_come_is_refused(app, db):
    now = utcnow()
    this_week = Week.containing(now, TZ)
    made = demo(app, "--cases", "30", "--seed", "5")  # the current week when none is named
    assert made.exit_code == 0, made.output
    assert this_week.name in made.output
    cases = demo_cases(db)
    assert cases and all(c.created_at <= utcnow() for c in cases)
    assert db.scalar(sa.select(sa.func.max(CaseEvent.created_at))) <= utcnow()
    assert db.scalar(sa.select(sa.func.count()).select_from(Photo)) >= len(cases)
    assert db.get(WeeklyReport, (this_week.name, "district")).data["under_way"] is True

    with app.app_context():
        tools = demo_tools()
    with pytest.raises(DemoRefused) as refused:
        make_demo_week(db, tools, this_week.shifted(1), cases=5, seed=1, now=now)
    assert refused.value.code == "week_not_begun"
    bad = demo(app, "--week", "2026-W60")
    assert bad.exit_code != 0 and "ISO week" in bad.output
