"""The weekly report at every level on a week across four communities of two street offices (district_week in
synthetic_week.py): each figure by hand, every roll-up equal to the sum of its parts, the league tables, the
send-back rate, and who may open which scope's report."""
from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from synthetic_week import TZ, W09, local

from service.weekly import Week, build_all_weekly_reports, build_weekly_report, weekly_closure, weekly_reports
from service.weekly_figures import overdue_cases
from service.weekly_levels import league_order

NOW = datetime(2026, 3, 9, tzinfo=UTC)  # the week after next: W09 is over
COUNTED = ("received", "valid", "due", "closed", "on_time", "rework", "transfers", "escalations", "dispatched",
           "sent_back")
# (received, valid, due, closed, on_time, rework, transfers, escalations, dispatched, sent_back), by hand:
BY_HAND = {
    # H1-H4: H4 rejected; H1 H2 H3 due; H1 on time, H2 late; H2 reworked; H3 sent back
    "community:hqsq": (4, 3, 3, 2, 1, 1, 0, 0, 3, 1),
    # T2 due next week (transferred), T1 closed on time (escalated first)
    "community:tysq": (2, 2, 1, 1, 1, 0, 1, 1, 2, 0),
    # Q1 last week's case closed this week (late; its send-back counts, its re-assign is no first dispatch); Q3 dup
    "community:qfsq": (2, 1, 2, 2, 1, 0, 0, 0, 1, 1),
    # S1 S2 overdue (S1 sent back twice: one case), S3 on time, reworked twice (one case); S2 escalated
    "community:sqsq": (3, 3, 3, 1, 1, 1, 0, 1, 3, 1),
    "street_office:hqjd": (7, 6, 4, 3, 2, 1, 1, 1, 5, 1),  # hqsq + tysq + X (the office's own, unrouted)
    "street_office:hpqjd": (5, 4, 5, 3, 2, 1, 0, 1, 4, 2),
    "district": (12, 10, 9, 6, 4, 2, 1, 2, 9, 3),
}


def counted(figures: dict) -> tuple:
    return tuple(figures[name] for name in COUNTED)


@pytest.fixture
def reports(db, district_week):
    """Every scope's report of the week, built as the weekly job builds them."""
    return {r.scope: r.data for r in build_all_weekly_reports(db, W09, TZ, NOW)}


def test_every_scope_counts_as_computed_by_hand(reports):
    for scope, expected in BY_HAND.items():
        assert counted(reports[scope]["overall"]) == expected, scope
    f = reports["district"]["overall"]
    assert (f["closure_rate"], f["on_time_rate"], f["rework_rate"]) == (6 / 9, 4 / 9, 2 / 9)
    assert f["send_back_rate"] == 3 / 9
    hqsq = reports["community:hqsq"]["overall"]
    assert (hqsq["closure_rate"], hqsq["on_time_rate"], hqsq["send_back_rate"]) == (2 / 3, 1 / 3, 1 / 3)
    assert reports["community:qfsq"]["overall"]["send_back_rate"] == 1.0  # Q1 sent back, Q2 the one dispatch
    assert counted(reports["community:jssq"]["overall"]) == (0,) * 10
    assert reports["community:jssq"]["overall"]["closure_rate"] is None


def test_close_times_are_taken_from_each_scopes_closures(reports):
    # closures: T1 6 h, H1 24 h, S3 24 h, Q2 36 h, H2 96 h, Q1 168 h
    district = reports["district"]["overall"]
    assert (district["median_hours"], district["p90_hours"]) == (30.0, 132.0)  # (24+36)/2; 96 + 0.5 × 72
    hqsq = reports["community:hqsq"]["overall"]
    assert (hqsq["median_hours"], hqsq["p90_hours"]) == (60.0, 88.8)  # 24 and 96


def test_every_roll_up_is_the_sum_of_its_parts_with_rates_re_derived(reports):
    ranking = {table["level"]: table for table in reports["district"]["rankings"]}
    offices = ranking["street_office"]["rows"]
    for name in COUNTED:
        assert reports["district"]["overall"][name] == sum(r["figures"][name] for r in offices)
        for office in ("hqjd", "hpqjd"):
            office_report = reports[f"street_office:{office}"]
            table = office_report["rankings"][0]
            own = table["own"]["figures"][name] if table["own"] else 0
            assert office_report["overall"][name] == sum(r["figures"][name] for r in table["rows"]) + own
    assert reports["street_office:hqjd"]["rankings"][0]["own"]["figures"]["received"] == 1  # X
    assert reports["street_office:hpqjd"]["rankings"][0]["own"] is None
    for row in offices + ranking["community"]["rows"]:
        f = row["figures"]
        assert f == reports[row["scope"]]["overall"]  # the league table's row is that part's own report
        assert f["closure_rate"] == (f["closed"] / f["due"] if f["due"] else None)
        assert f["send_back_rate"] == (f["sent_back"] / f["dispatched"] if f["dispatched"] else None)
    hpqjd = reports["street_office:hpqjd"]["overall"]
    assert hpqjd["closure_rate"] == 3 / 5  # (2 + 1) / (2 + 3), not the mean of 100% and 33.3%
    assert hpqjd["send_back_rate"] == 2 / 4


def test_the_league_tables_rank_by_closure_then_on_time_then_rework(reports):
    tables = {table["level"]: table for table in reports["district"]["rankings"]}
    communities = [r["code"] for r in tables["community"]["rows"]]
    # tysq 100%/100%, qfsq 100%/50%, hqsq 66.7%, sqsq 33.3%; then those with nothing due, by code
    assert communities == ["tysq", "qfsq", "hqsq", "sqsq", "gyssq", "hjsq", "jssq", "xssq"]
    assert [r["rank"] for r in tables["community"]["rows"]][:2] == [1, 2]
    assert [r["code"] for r in tables["street_office"]["rows"]] == ["hqjd", "hpqjd", "cdjd", "gysjd", "lszjd"]
    assert [r["code"] for r in reports["street_office:hqjd"]["rankings"][0]["rows"]] == ["tysq", "hqsq"]
    assert reports["community:hqsq"]["rankings"] == []

    def row(code, closure, on_time, rework):
        return {"code": code, "figures": {"closure_rate": closure, "on_time_rate": on_time, "rework_rate": rework}}

    tied = [row("a", 0.9, 0.8, 0.2), row("b", 0.9, 0.8, 0.1), row("c", 0.9, 0.9, 0.5), row("d", None, None, None)]
    assert [r["code"] for r in sorted(tied, key=league_order)] == ["c", "b", "a", "d"]


def test_a_communitys_report_counts_only_its_cases(db, district_week, reports):
    alone = weekly_closure(db, W09, TZ, NOW, "community:sqsq")
    assert alone == reports["community:sqsq"]  # the same figures whether built alone or with the district
    assert [o["case_no"] for o in overdue_cases(alone)] == [district_week[x].case_no for x in ("S1", "S2")]
    assert [(r["username"], r["reports"], r["valid"]) for r in alone["reporters"]] == [("rider2", 3, 3)]
    assert [row["name"] for row in alone["by_grid"]] == [district_week["S1"].grid.name]
    district = reports["district"]
    assert [o["case_no"] for o in overdue_cases(district)] == [district_week[x].case_no for x in ("S1", "S2", "H3")]
    assert [o["hours_overdue"] for o in overdue_cases(district)] == [132, 108, 60]  # noon Tue, Wed, Fri to Mon 0:00
    assert [(r["username"], r["reports"], r["points"]) for r in district["reporters"]] == [
        ("rider1", 9, 10), ("rider2", 3, 0)]
    assert reports["community:hqsq"]["reporters"][0]["points"] == 5  # H1's, not Q2's
    assert {r["reason"]: r["count"] for r in district["send_back_reasons"]} == {
        "not_ours": 1, "wrong_location": 1, "incomplete": 2}
    assert district["by_grid"] == [] and district["by_category"][0]["figures"]["received"] == 12


def test_a_week_under_way_and_an_empty_week_at_every_level(db, district_week):
    now = local(2, 25, 10)  # Wednesday 10:00 of W09
    under_way = weekly_reports(db, W09, TZ, now)
    assert all(r["under_way"] for r in under_way.values())
    # by Wednesday 10:00: 10 received (not X, Q3), H4 rejected; due T1 S1 (Tuesday) and the closed H1 T1 Q2 S3,
    # all on time; Q1 not closed yet
    assert counted(under_way["district"]["overall"])[:5] == (10, 9, 5, 4, 4)
    empty = weekly_reports(db, Week(2025, 1), TZ, NOW)
    for data in empty.values():
        assert counted(data["overall"]) == (0,) * 10 and data["overall"]["closure_rate"] is None
    assert [r["code"] for r in empty["district"]["rankings"][0]["rows"]] == [
        "cdjd", "gysjd", "hpqjd", "hqjd", "lszjd"]
    current = Week.containing(datetime.now(UTC), TZ)
    built = build_weekly_report(db, current, TZ, datetime.now(UTC), "street_office:hqjd").data
    assert built["under_way"] and built["overall"]["received"] == 0


SCOPES = ("district", "street_office:hqjd", "street_office:hpqjd", "community:hqsq", "community:tysq",
          "community:qfsq")
MAY_OPEN = {"staff1": {"community:hqsq"}, "hqjd-staff": {"street_office:hqjd", "community:hqsq", "community:tysq"},
            "district-staff": set(SCOPES), "admin": set(SCOPES)}


def test_staff_open_the_reports_of_their_scope_and_nothing_else(app, db, reports):
    from support import Browser

    for username, allowed in MAY_OPEN.items():
        browser = Browser(app.test_client())
        browser.login(username)
        for scope in SCOPES:
            for suffix in ("", ".xlsx", ".csv"):
                status = browser.get(f"/desk/reports/2026-W09{suffix}?scope={scope}").status_code
                assert status == (200 if scope in allowed else 404), (username, scope, suffix)
        for nonsense in ("community:nowhere", "street_office:", "everything"):
            assert browser.get(f"/desk/reports/2026-W09?scope={nonsense}").status_code == 404
        listing = browser.get("/desk/reports").get_data(as_text=True)
        assert {s for s in SCOPES if f"scope={s}\"" in listing} == allowed


def test_without_a_scope_the_page_is_the_viewers_own_levels(app, reports):
    from support import Browser

    for username, name in (("staff1", "虹桥社区"), ("hqjd-staff", "虹桥街道"), ("district-staff", "全区")):
        browser = Browser(app.test_client())
        browser.login(username)
        page = browser.get("/desk/reports/2026-W09").get_data(as_text=True)
        assert f'<span class="scope-name">{name}</span>' in page, username


def test_the_office_and_district_pages_rank_their_parts_with_links(app, reports):
    from openpyxl import load_workbook
    from support import Browser

    browser = Browser(app.test_client())
    browser.login("hqjd-staff")
    page = browser.get("/desk/reports/2026-W09?scope=street_office:hqjd").get_data(as_text=True)
    assert "社区排名" in page and "退回率<br><small>Send-back rate</small>" in page
    assert page.index("community:tysq") < page.index("community:hqsq")  # tysq ranks first
    assert '<a href="/desk/reports/2026-W09?scope=community:hqsq">虹桥社区</a>' in page
    assert "（本级直接办理）" in page
    assert browser.get("/desk/reports/2026-W09?scope=community:hqsq").status_code == 200  # the link opens

    browser = Browser(app.test_client())
    browser.login("district-staff")
    page = browser.get("/desk/reports/2026-W09?scope=district").get_data(as_text=True)
    assert "街道排名" in page and "社区排名" in page and "33.3%" in page  # the district's send-back rate
    book = load_workbook(io.BytesIO(browser.get("/desk/reports/2026-W09.xlsx?scope=district").data))
    assert book.sheetnames == ["总体", "街道排名", "社区排名", "按类别", "超期未结", "上报人排行", "退回原因"]
    rows = [[c.value for c in row] for row in book["社区排名"].iter_rows(min_row=2)]
    assert [r[1] for r in rows[:4]] == ["桃园社区", "起凤社区", "虹桥社区", "三桥社区"] and rows[0][0] == 1
    assert rows[2][15] == 1 / 3 and rows[2][-1] == "虹桥街道"  # hqsq's send-back rate, its street office
    csv = browser.get("/desk/reports/2026-W09.csv?scope=district")
    assert "2026-W09-district.csv" in csv.headers["Content-Disposition"] and "街道排名" in csv.get_data(as_text=True)
