"""The weekly report of a realistic week (made by the demo command) printed from Chromium on A4: at most 4 pages,
the tables of indicators on landscape pages with headers that read across, no page with a row or two, the chart
on page 1, and long lists cut to their first rows on paper. Every page as a PNG under test-artifacts/weekly-print/."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import sqlalchemy as sa
from browser_support import ARTIFACTS, in_ci, printed_first_page, solid_bar_pixels
from playwright.sync_api import Page, expect
from sqlalchemy.orm.attributes import flag_modified

from service.db import utcnow
from service.models import WeeklyReport
from service.weekly import Week, build_all_weekly_reports
from service.weekly_figures import overdue_cases
from service.weekly_output import OVERDUE, PRINTED_ROWS, RANKING

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "weekly-print", True
FOLDER = ARTIFACTS / SCREENSHOT_FOLDER
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
TZ = "Asia/Shanghai"
MOST_PAGES = 4
A4_PORTRAIT, A4_LANDSCAPE = (595, 842), (842, 595)  # points, rounded down
LANDSCAPE_PRINTABLE_PX = 1032  # 297 mm less 2 × 12 mm of margins, at 96 px to the inch


STAFF1_SCOPE = "community:hqsq"  # the report staff1 opens: their community's


def make_demo(app, db, *args: str) -> None:
    """Run the demo command as typed (it builds the weeks' reports too), then build each of those weeks' report
    of every scope, as the weekly job does (the command may build only the district's)."""
    made = app.test_cli_runner().invoke(args=["demo", "week", *args])
    assert made.exit_code == 0, made.output
    print(made.output)
    for week in {r.week for r in db.scalars(sa.select(WeeklyReport))}:
        build_all_weekly_reports(db, Week.parse(week), TZ, utcnow())


def kept(db, week: Week) -> WeeklyReport:
    """The week's report that staff1 opens."""
    return db.get(WeeklyReport, (week.name, STAFF1_SCOPE))


def poppler(tool: str, *args: str) -> str:
    """The output of one of poppler-utils' tools (pdfinfo, pdftotext, pdftoppm)."""
    if shutil.which(tool) is None:
        if in_ci():
            pytest.fail(f"{tool} is missing: apt-get install -y poppler-utils (.ci/run does)")
        pytest.skip(f"{tool} is missing (poppler-utils)")
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


def dark_bars(data: dict) -> int:
    """How many grids' 结案率 bars are tall enough to show solid grey on paper (a fifth of the scale or more)."""
    return sum((row["figures"]["closure_rate"] or 0) >= .2 for row in data["by_grid"])


def printed(page: Page, name: str, data: dict) -> list[dict]:
    """Print the page to an A4 PDF (page.pdf), every page kept as a PNG; per page its size in points and text.
    Page 1 has the bar chart: solid grey for each of the report's dark bars."""
    bars = solid_bar_pixels(printed_first_page(page, FOLDER, name))  # writes FOLDER/name.pdf, page 1 as PNG
    assert bars > 150 * dark_bars(data), f"the bar chart is missing from page 1 ({bars} bar pixels)"
    pdf = FOLDER / f"{name}.pdf"
    count = int(re.search(r"^Pages:\s+(\d+)", poppler("pdfinfo", str(pdf)), re.M).group(1))
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", poppler("pdfinfo", "-f", "1", "-l", str(count),
                                                                               str(pdf)), re.M)
    for old in FOLDER.glob(f"{name}-page-*.png"):
        old.unlink()
    poppler("pdftoppm", "-r", "80", "-png", str(pdf), str(FOLDER / f"{name}-page"))
    return [{"size": (int(float(w)), int(float(h))),
             "text": poppler("pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-")}
            for i, (w, h) in enumerate(sizes, 1)]


def report_the_figure(name: str, pages: list[dict]) -> None:
    n = len(pages)
    print(f"figure: weekly_pages_printed = {n} (target <= {MOST_PAGES}) {'ok' if n <= MOST_PAGES else 'short'}"
          f"  [{name}]")


def open_report(people, week: Week):
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    staff.page.goto(f"/desk/reports/{week.name}")
    expect(staff.page.locator(".chart svg")).to_have_count(2)
    return staff


def headers_read_across(page: Page) -> None:
    """At the landscape page's printable width, in print media: no table header stands a character per line, and
    none takes more than two lines; each list row is one line."""
    page.emulate_media(media="print")
    page.set_viewport_size({"width": LANDSCAPE_PRINTABLE_PX, "height": 800})
    try:
        cells = page.locator(".indicator-tables th").evaluate_all(
            "ths => ths.map(th => { const r = th.getBoundingClientRect(), s = getComputedStyle(th);"
            " return {text: th.textContent, w: r.width, h: r.height, line: parseFloat(s.lineHeight)}; })")
        assert cells
        for cell in cells:
            lines = round((cell["h"] - 3) / cell["line"])
            assert lines <= 2, f"header {cell['text']!r} takes {lines} lines"
            assert cell["w"] > 2.5 * cell["line"], f"header {cell['text']!r} is {cell['w']:.0f} px wide"
        rows = page.locator(".lists tbody tr:visible").evaluate_all(
            "trs => trs.map(tr => tr.getBoundingClientRect().height)")
        line = page.locator(".lists td").first.evaluate("td => parseFloat(getComputedStyle(td).lineHeight)")
        assert rows and max(rows) < 1.9 * line, "a list row wraps"
    finally:
        page.emulate_media(media="null")  # as it was: page.pdf() prints in print media again
        page.set_viewport_size(DESKTOP["viewport"])


def laid_out_on_paper(pages: list[dict]) -> None:
    """At most 4 pages; page 1 portrait (the headline and charts), the indicator tables landscape, the lists
    portrait; every page well filled (no page of a row or two) but the last, which holds both lists whole however
    short they are (a week under way in one community may have a handful of rows)."""
    assert len(pages) <= MOST_PAGES, [p["size"] for p in pages]
    assert pages[0]["size"] == A4_PORTRAIT and "结案率" in pages[0]["text"]
    landscape = [i for i, p in enumerate(pages) if p["size"] == A4_LANDSCAPE]
    assert landscape and landscape == list(range(1, landscape[-1] + 1)), [p["size"] for p in pages]
    assert "按网格" in pages[landscape[0]]["text"] and "按处置人" in pages[landscape[-1]]["text"]
    assert pages[-1]["size"] == A4_PORTRAIT and OVERDUE in pages[-1]["text"] and RANKING in pages[-1]["text"]
    for i, p in enumerate(pages[:-1], 1):
        lines = [line for line in p["text"].splitlines() if line.strip()]
        assert len(lines) >= 12, f"page {i} has only {len(lines)} lines of text"


def test_a_realistic_week_prints_on_at_most_four_a4_pages(app, db, people):
    week = Week.containing(utcnow(), TZ).shifted(-1)  # last week, whole, with the week before it for comparison
    make_demo(app, db, "--week", week.name, "--seed", "11")
    staff = open_report(people, week)
    page = staff.page
    data = kept(db, week).data
    overdue = len(data["overdue"])
    assert overdue > 0 and dark_bars(data) >= 6
    staff.shot("demo-week")
    headers_read_across(page)

    pages = printed(page, "demo-week", data)
    report_the_figure("demo week", pages)
    laid_out_on_paper(pages)
    last = pages[-1]["text"]  # a list longer than the page holds says how many more the downloads have
    assert ("件见导出表格" in last) == (overdue > PRINTED_ROWS[OVERDUE][0]), last
    assert ("人见导出表格" in last) == (len(data["reporters"]) > PRINTED_ROWS[RANKING][0]), last
    staff.all_went_well()


def test_hundreds_of_overdue_cases_print_their_first_rows_and_say_how_many_more(app, db, people):
    week = Week.containing(utcnow(), TZ).shifted(-1)
    make_demo(app, db, "--week", week.name, "--cases", "120", "--seed", "3")
    report = kept(db, week)
    data = report.data
    # as many as a district's backlog (over a hundred overdue cases, each copied as often as it takes: the district's
    # when the community has none of its own this week), every reporter four times
    seen = overdue_cases(data) or overdue_cases(db.get(WeeklyReport, (week.name, "district")).data)
    assert seen, "the demo week has no overdue case anywhere in the district"
    copies = 101 // len(seen) + 1
    # kept as objects, as reports built before their rows were: both are read
    data["overdue"] = [dict(o, case_no=f"{o['case_no']}-{k}") for k in range(copies) for o in seen]
    data["reporters"] = [dict(r, username=f"{r['username']}{k}") for k in range(4) for r in data["reporters"]]
    flag_modified(report, "data")
    db.commit()
    overdue, reporters = len(data["overdue"]), len(data["reporters"])
    shown, _ = PRINTED_ROWS[OVERDUE]
    assert overdue > 100

    staff = open_report(people, week)
    page = staff.page
    expect(page.locator(".lists table").first.locator("tbody tr")).to_have_count(overdue)  # on screen, all
    pages = printed(page, "long-lists", data)
    report_the_figure("hundreds overdue", pages)
    laid_out_on_paper(pages)
    last = pages[-1]["text"]
    assert f"另有 {overdue - shown} 件见导出表格" in last, last
    assert f"另有 {reporters - PRINTED_ROWS[RANKING][0]} 人见导出表格" in last, last
    assert len(re.findall(r"\d{8}-\d{4}-\d", last)) == shown  # the first rows only
    staff.all_went_well()


def test_the_week_under_way_made_by_the_demo_prints_fine(app, db, people):
    week = Week.containing(utcnow(), TZ)
    make_demo(app, db, "--seed", "12")  # the current week so far, and the whole week before it
    data = kept(db, week).data
    assert data["under_way"]
    staff = open_report(people, week)
    page = staff.page
    expect(page.locator("h1 .under-way")).to_have_text("进行中")
    staff.shot("demo-week-under-way")
    headers_read_across(page)

    pages = printed(page, "demo-week-under-way", data)
    report_the_figure("week under way", pages)
    laid_out_on_paper(pages)
    assert "进行中" in pages[0]["text"]
    staff.all_went_well()
