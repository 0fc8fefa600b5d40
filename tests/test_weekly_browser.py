"""The weekly report in Chromium, as its reader sees it: a past week and the week under way (进行中) on screen, in
local dates, and on A4 paper with its bar chart (page 1 of the printed PDF as a PNG, under test-artifacts/weekly/)."""
from __future__ import annotations

import io
import re

from browser_support import ARTIFACTS, printed_first_page, solid_bar_pixels
from playwright.sync_api import Page, expect

from service.db import utcnow
from service.weekly import Week

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "weekly", True
FOLDER = ARTIFACTS / SCREENSHOT_FOLDER
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
TZ = "Asia/Shanghai"


def build(page: Page, week: str) -> None:
    """Build the week's report from the reports page, as staff do."""
    page.goto("/desk/reports")
    page.get_by_label("周次").fill(week)
    page.get_by_role("button", name="生成 / 重新生成").click()
    expect(page).to_have_url(re.compile(f"/desk/reports/{week}$"))
    expect(page.locator(".chart svg")).to_have_count(2)


def test_a_past_week_on_screen_and_on_paper_keeps_its_bar_chart_and_local_dates(people, week_of_cases):
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    build(page, "2026-W09")
    expect(page.locator(".period")).to_contain_text("2026-02-23 至 2026-03-01")
    expect(page.locator(".period")).not_to_contain_text("UTC")
    expect(page.locator(".under-way")).to_have_count(0)
    staff.shot("past-week")

    bar_area = solid_bar_pixels(printed_first_page(page, FOLDER, "past-week-printed"))
    assert bar_area > 5000, f"the bar chart is missing from the printed report ({bar_area} bar pixels)"

    page.emulate_media(media="print")
    bars = page.locator(".chart svg .bar-graph .bar rect")
    assert bars.count() >= 2
    box = page.locator(".chart svg").first.bounding_box()
    assert box and box["height"] > 100
    assert all(b.is_visible() for b in bars.all()), "a print rule hides pygal's bars"
    staff.shot("past-week-print-media")

    staff.all_went_well()


def test_the_week_under_way_says_so_and_counts_as_of_now(people, week_of_cases):
    week = Week.containing(utcnow(), TZ)
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    build(page, week.name)
    expect(page.locator("h1 .under-way")).to_have_text("进行中")
    expect(page.locator(".under-way-note")).to_contain_text("截至")
    expect(page.locator(".period")).to_contain_text(f"{week.day(1).isoformat()} 至 {week.day(7).isoformat()}")
    expect(page.locator(".chart svg").nth(1)).to_contain_text(f"{week.name}（进行中）")  # the trend's last point
    staff.shot("week-under-way")
    printed_first_page(page, FOLDER, "week-under-way-printed")
    staff.all_went_well()


def test_the_workbook_downloaded_from_the_report_page_opens_with_numbers_rates_and_local_times(people, week_of_cases):
    """下载 Excel, as staff click it: counts are numbers, rates percentages, deadlines local datetimes (item 17)."""
    from datetime import datetime

    from openpyxl import load_workbook

    staff = people(**DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    build(page, "2026-W09")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 Excel").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))  # openpyxl goes by the name's ending
    overall = book["总体"]
    cells = dict(zip([c.value for c in overall[1]], overall[2]))
    assert cells["受理数"].value == 7 and cells["受理数"].data_type == "n"
    assert cells["结案率"].value == 0.75 and cells["结案率"].number_format == "0.0%"
    deadline = book["超期未结"]["E2"]
    assert deadline.value == datetime(2026, 2, 27, 12, 0) and deadline.number_format == "yyyy-mm-dd hh:mm"
    staff.all_went_well()
