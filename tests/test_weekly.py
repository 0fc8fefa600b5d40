"""The weekly closure report on a fixed synthetic week, every indicator computed by hand (2026-W09, Asia/Shanghai)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from synthetic_week import TZ, W09, local

from service.models import Case
from service.weekly import Week, figures, headline, weekly_closure
from service.weekly_figures import overdue_cases, percentile


def hours(case: Case) -> float:
    return (case.closed_at - case.created_at).total_seconds() / 3600


def test_the_week_runs_monday_to_sunday_in_shanghai_time():
    assert W09.start(TZ) == datetime(2026, 2, 22, 16, tzinfo=UTC)
    assert W09.end(TZ) == datetime(2026, 3, 1, 16, tzinfo=UTC)
    assert Week.parse("2026-W09") == W09 and W09.name == "2026-W09"
    assert Week.containing(local(3, 1, 23, 59, 59), TZ) == W09
    assert Week.containing(local(3, 2, 0, 0, 0), TZ) == W09.shifted(1)
    assert Week.parse("2026-w01").shifted(-1) == Week(2025, 52)
    with pytest.raises(ValueError):
        Week.parse("2026-W54")


def test_every_indicator_of_the_week_as_computed_by_hand(db, week_of_cases):
    f = figures(db, W09, TZ)[None]
    cases = week_of_cases
    assert f["received"] == 7  # B C D E F G H (A came the week before, I the week after)
    assert f["valid"] == 5  # without the rejected D and the duplicate E
    assert f["due"] == 4  # A (closed in the week), B, C (deadline in the week), F (closed); G was extended
    assert f["closed"] == 3  # A B F
    assert f["on_time"] == 2  # B F; A was late
    assert f["closure_rate"] == 0.75 and f["on_time_rate"] == 0.5
    assert f["rework"] == 1 and f["rework_rate"] == 0.25
    assert f["extended"] == 1
    spans = sorted(hours(cases[x]) for x in "ABF")
    assert f["median_hours"] == round(spans[1], 1)
    assert f["p90_hours"] == round(spans[1] + (spans[2] - spans[1]) * 0.8, 1)


def test_the_week_before_stands_beside_it(db, week_of_cases, settings):
    report = weekly_closure(db, W09, TZ, datetime.now(UTC))
    before = report["previous"]
    assert (before["received"], before["valid"], before["due"], before["closed"]) == (1, 1, 1, 0)  # A
    assert before["closure_rate"] == 0.0 and before["rework"] == 1
    assert [t["week"] for t in report["trend"]][-2:] == ["2026-W08", "2026-W09"]
    assert report["trend"][-1]["closure_rate"] == 0.75 and len(report["trend"]) == 8


def test_the_trend_shows_earlier_weeks_as_their_own_reports_published_them(db, week_of_cases):
    """An earlier week's rates in the trend are those its own report gave once the week was over (kept); a week
    with no such report of the scope (none, or one built while the week was under way) is counted from the cases."""
    from service.weekly import build_weekly_report

    a = week_of_cases["A"]

    def case(no, created, state, deadline, closed=None):
        db.add(Case(case_no=no, reporter=a.reporter, category=a.category, lat=a.lat, lon=a.lon, state=state,
                    grid=a.grid, assignee=a.assignee, created_at=created, updated_at=created, dispatched_at=created,
                    deadline_at=deadline, closed_at=closed, priority=0, community_id=a.community_id,
                    street_office_id=a.street_office_id))
        db.commit()

    w06, w07 = W09.shifted(-3), W09.shifted(-2)
    case("TREND-X", local(2, 9), "closed", deadline=local(2, 12), closed=local(2, 10))  # W07: due, closed on time
    published = build_weekly_report(db, w07, TZ, w07.end(TZ) + timedelta(hours=1)).data["overall"]
    assert published["closure_rate"] == 1.0
    build_weekly_report(db, w06, TZ, local(2, 4))  # W06 under way, with nothing due yet
    case("TREND-Y", local(2, 9), "in_progress", deadline=local(2, 13))  # W07 now has two due, one closed
    case("TREND-Z", local(2, 2), "closed", deadline=local(2, 3), closed=local(2, 6))  # W06: closed late

    trend = {t["week"]: t for t in weekly_closure(db, W09, TZ, datetime.now(UTC))["trend"]}
    assert trend[w07.name]["closure_rate"] == 1.0 and trend[w07.name]["on_time_rate"] == 1.0  # as published
    assert trend[w06.name]["closure_rate"] == 1.0 and trend[w06.name]["on_time_rate"] == 0.0  # counted now
    community = {t["week"]: t for t in weekly_closure(db, W09, TZ, datetime.now(UTC), "community:hqsq")["trend"]}
    assert community[w07.name]["closure_rate"] == 0.5  # no report of the community's was kept: counted now


def test_per_grid_per_category_and_per_assignee(db, week_of_cases):
    report = weekly_closure(db, W09, TZ, datetime.now(UTC), "community:hqsq")
    grids = {row["name"]: row["figures"] for row in report["by_grid"]}
    hq01 = next(v for k, v in grids.items() if k.startswith("虹桥第01网格"))
    hq02 = next(v for k, v in grids.items() if k.startswith("虹桥第02网格"))
    assert (hq02["received"], hq02["due"], hq02["closed"], hq02["on_time_rate"]) == (1, 1, 1, 1.0)
    assert (hq01["received"], hq01["due"], hq01["closed"], hq01["on_time"]) == (6, 3, 2, 1)
    assert [row["name"] for row in report["by_category"]] == ["路灯"]
    people = {row["name"]: row["figures"] for row in report["by_assignee"]}
    assert people["网格员 02"]["closed"] == 1 and people["网格员 01"]["closed"] == 2


def test_the_overdue_open_list_and_the_reporters_ranking(db, week_of_cases):
    report = weekly_closure(db, W09, TZ, datetime.now(UTC))
    assert [(o["case_no"], o["hours_overdue"]) for o in overdue_cases(report)] == [
        (week_of_cases["C"].case_no, (3 - 1) * 24 + 12 + 24 * 0)]  # Fri 12:00 -> Mon 00:00 is 60 h
    ranking = [(r["username"], r["reports"], r["valid"], r["points"]) for r in report["reporters"]]
    assert ranking == [("rider1", 5, 5, 10), ("rider2", 2, 0, 1)]


def test_an_empty_week_divides_by_nothing(db, settings):
    f = figures(db, Week(2025, 1), TZ)[None]
    assert f["received"] == f["due"] == f["closed"] == 0
    assert f["closure_rate"] is None and f["on_time_rate"] is None and f["rework_rate"] is None
    assert f["median_hours"] is None and f["p90_hours"] is None


def test_percentiles_interpolate_like_postgresql():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10, 20, 30], 0.9) == 28.0
    assert percentile([], 0.5) is None


def test_building_a_week_again_replaces_it_and_the_command_line_builds_any_week(app, db, week_of_cases):
    from service.models import WeeklyReport

    runner = app.test_cli_runner()
    first = runner.invoke(args=["report", "weekly", "--week", "2026-W09"])
    assert first.exit_code == 0, first.output
    assert "受理 7" in first.output and "结案率 75.0%" in first.output and "超期未结 1 件" in first.output
    again = runner.invoke(args=["report", "weekly", "--week", "2026-W09"])
    assert again.exit_code == 0
    db.expire_all()
    kept = db.scalars(sa.select(WeeklyReport)).all()
    district = [r for r in kept if r.scope == "district"]
    assert {r.week for r in kept} == {"2026-W09"} and len(district) == 1 and district[0].data["overall"]["closed"] == 3
    bad = runner.invoke(args=["report", "weekly", "--week", "someday"])
    assert bad.exit_code != 0 and "ISO week" in bad.output


def test_the_monday_job_builds_last_week_and_posts_the_headline(db, worker_env, settings, week_of_cases):

    from support import run_jobs

    from service.models import WebhookMessage, WeeklyReport
    from service.runtime.jobqueue import redis_connection, rq_queue

    worker_env(WEBHOOK_URL="http://127.0.0.1:9/robot")
    rq_queue("default", redis_connection(settings.redis_url)).enqueue(
        "workers.jobs.announce_weekly_report", "2026-W09")
    run_jobs(settings)
    db.expire_all()
    assert db.get(WeeklyReport, ("2026-W09", "district")).data["overall"]["received"] == 7
    assert db.get(WeeklyReport, ("2026-W09", "community:hqsq")).data["overall"]["received"] == 7
    assert db.get(WeeklyReport, ("2026-W09", "street_office:hpqjd")).data["overall"]["received"] == 0
    message = db.scalar(sa.select(WebhookMessage))
    assert message.content.startswith("【随手拍周报 2026-W09 全区】受理 7") and message.attempts == 1  # robot down


def test_the_report_page_prints_with_charts_tables_and_downloads(app, db, week_of_cases):
    import io
    import re

    from openpyxl import load_workbook
    from support import Browser

    browser = Browser(app.test_client())
    browser.login("staff1")
    built = browser.post("/desk/reports", week="2026-W09")
    assert built.status_code == 303 and built.headers["Location"] == "/desk/reports/2026-W09"
    page = browser.get("/desk/reports/2026-W09").get_data(as_text=True)
    assert "75.0%" in page and "上周 0.0%" in page and "超期未结" in page
    assert page.count("<svg") == 2
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):  # the charts load nothing: no scripts, no outside links
        assert "src=" not in svg and 'href="http' not in svg and "xlink:href=\"http" not in svg
        assert "各网格结案率" in svg or "近 8 周结案率" in svg
        assert "<script" not in svg and "<style" not in svg and "style=" not in svg  # the CSP allows none
    style_sheet = re.search(r'<link rel="stylesheet" href="(/static/css/report\.[0-9a-f]+\.css)">', page).group(1)
    assert "@page { size: A4" in browser.get(style_sheet).get_data(as_text=True)
    assert week_of_cases["C"].case_no in page
    assert "<td>2026-02-27 12:00</td>" in page  # C's deadline as a person writes it, in Shanghai, not ISO UTC
    book = load_workbook(io.BytesIO(browser.get("/desk/reports/2026-W09.xlsx").data))
    assert book.sheetnames == ["总体", "按网格", "按类别", "按处置人", "超期未结", "上报人排行"]
    overall = [c.value for c in book["总体"][2]]
    assert overall[:6] == ["虹桥社区", 7, 5, 4, 3, 0.75]  # numbers, the rate shown as 75.0% by its format
    text = browser.get("/desk/reports/2026-W09.csv").get_data(as_text=True)
    assert text.startswith("\ufeff随手拍周报 2026-W09") and "上报人排行" in text
    assert re.search(r"rider1,骑手 张师傅,5,5,10", text)
    assert re.search(rf"{week_of_cases['C'].case_no},路灯,[^\n]*,2026-02-27 12:00,60", text)
    assert browser.get("/desk/reports/2026-W10").status_code == 404
    listing = browser.get("/desk/reports").get_data(as_text=True)
    assert "/desk/reports/2026-W09" in listing


def test_an_empty_week_shows_dashes_not_errors(app, db, settings):
    from support import Browser

    browser = Browser(app.test_client())
    browser.login("staff1")
    browser.post("/desk/reports", week="2025-W01")
    page = browser.get("/desk/reports/2025-W01").get_data(as_text=True)
    assert "结案率<strong>—</strong>" in page
    assert browser.post("/desk/reports", week="next week").status_code == 303


def test_a_week_under_way_counts_what_was_due_by_now(db, week_of_cases):
    """Friday 11:59, a minute before C falls due: A and B were due so far, C is not late yet, F not closed yet."""
    report = weekly_closure(db, W09, TZ, local(2, 27, 11, 59))
    f = report["overall"]
    assert report["under_way"] is True and report["as_of"] == local(2, 27, 11, 59).isoformat()
    assert (f["due"], f["closed"], f["on_time"], f["closure_rate"]) == (2, 2, 1, 1.0)  # A (late) and B
    assert report["overdue"] == []  # C is due at 12:00 today: not overdue at 11:59
    assert report["trend"][-1]["partial"] is True and not any(t["partial"] for t in report["trend"][:-1])
    assert headline(report).startswith("【随手拍周报 2026-W09 进行中（截至 02-27 11:59） 全区】受理 6，立案 4，应结 2")


def test_a_case_due_a_minute_ago_is_overdue_by_now_and_counted_due(db, week_of_cases):
    report = weekly_closure(db, W09, TZ, local(2, 27, 12, 1))
    assert report["overall"]["due"] == 3  # A, B and now C
    assert [(o["case_no"], o["hours_overdue"]) for o in overdue_cases(report)] == [(week_of_cases["C"].case_no, 0)]


def test_a_week_that_ended_a_second_ago_is_complete_and_one_that_ends_in_a_second_is_not(db, week_of_cases):
    ended = weekly_closure(db, W09, TZ, W09.end(TZ) + timedelta(seconds=1))
    assert ended["under_way"] is False and not ended["trend"][-1]["partial"]
    assert ended["overall"]["due"] == 4 and overdue_cases(ended)[0]["hours_overdue"] == 60  # as if built next Monday
    assert "进行中" not in headline(ended)
    ending = weekly_closure(db, W09, TZ, W09.end(TZ) - timedelta(seconds=1))
    assert ending["under_way"] is True and ending["overall"]["due"] == 4


def test_the_report_reads_in_local_dates_and_times(app, db, settings):
    """W49 of 2026 is Monday 30 November to Sunday 6 December in Shanghai (its Monday 00:00 is 29 Nov 16:00 UTC)."""
    from support import staff_browser

    from service.weekly import build_weekly_report

    built_at = datetime(2026, 12, 2, 2, 19, 30, tzinfo=UTC)  # 10:19 in Shanghai
    data = build_weekly_report(db, Week(2026, 49), TZ, built_at, "community:hqsq").data
    assert (data["first_day"], data["last_day"]) == ("2026-11-30", "2026-12-06")
    page = staff_browser(app).get("/desk/reports/2026-W49").get_data(as_text=True)
    assert "2026-11-30 至 2026-12-06" in page and "生成于 2026-12-02 10:19" in page
    assert "UTC" not in page and "2026-11-29" not in page
    assert "进行中" in page and "截至 2026-12-02 10:19" in page
