"""Numbers, instants and weeks a client can type: out of range or not numbers at all, each is a clear 4xx, never a
500."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from support import staff_browser

from service.states import CaseState


def assert_page_error(response, status: int = 400):
    """A page's error: the status, an HTML page (not JSON) that says what was wrong in both languages."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    assert " / " in response.get_data(as_text=True)


def assert_json_error(response, status: int, field: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] and " / " in error["message"]
    if field is not None:
        assert error["field"] == field


@pytest.mark.parametrize("query", [
    "priority=²", "priority=99999999999999999999", "priority=-1", "priority=1_0", "priority=٣",
    "after=0~99991231T000000000000~99999999999999999999", "after=99999999999999999999~99991231T000000000000~1",
    "after=0~00010101T000000000000~-99999999999999999999", "after=garbage", "after=0~2026~1",
    "after=0~99991231T000000000000~2147483648", "priority=2147483648",
], ids=["superscript", "20-digits", "negative", "underscore", "arabic-digit", "huge-cursor-id", "huge-cursor-urgency",
        "negative-cursor-id", "garbage-cursor", "bad-cursor-date", "cursor-id-over-int32", "priority-over-int32"])
def test_a_bad_number_in_the_desk_queue_or_its_export_is_a_400_page(app, query):
    browser = staff_browser(app)
    assert_page_error(browser.get(f"/desk?{query}"))
    if query.startswith("priority"):
        assert_page_error(browser.get(f"/desk/export.csv?{query}"))


def test_the_queue_filters_still_take_good_numbers(app):
    browser = staff_browser(app)
    assert browser.get("/desk?priority=2").status_code == 200
    assert browser.get("/desk?priority=").status_code == 200
    assert browser.get("/desk/export.csv?priority=1").status_code == 200


@pytest.fixture
def dispatched(factory):
    """A case dispatched to gw06, made through the core."""
    return factory.case_in(CaseState.DISPATCHED, seed=77).case_no


@pytest.mark.parametrize("deadline", [
    "9999-12-31T23:00-12:00", "9999-12-31T23:59", "0001-01-01T00:00+14:00", "0001-01-01T00:00", "0001-01-01",
    "9999-12-31T23:59:59.999999+00:00", "2099-01-01T18:00+24:00", "2099-02-30T10:00",
], ids=["overflow-to-utc", "naive-last-minute", "underflow-to-utc", "naive-year-1", "date-year-1",
        "last-instant", "bad-offset", "no-such-day"])
def test_an_out_of_range_deadline_is_a_422_naming_the_field(make_api, dispatched, deadline):
    staff = make_api("staff1")
    response = staff.client.post(f"/api/v1/cases/{dispatched}/actions", headers=staff.headers,
                                 json={"action": "extend", "deadline": deadline, "note": "等待配件"})
    assert_json_error(response, 422, "deadline")


def test_an_out_of_range_deadline_from_the_case_page_comes_back_with_the_reason(app, dispatched):
    browser = staff_browser(app)
    response = browser.post(f"/api/v1/cases/{dispatched}/actions", action="extend",
                            deadline="9999-12-31T23:00-12:00", note="等待配件")
    assert response.status_code == 303
    assert "期限" in browser.get(response.headers["Location"]).get_data(as_text=True)


def test_a_good_deadline_with_an_offset_is_still_taken(make_api, dispatched):
    staff = make_api("staff1")
    response = staff.client.post(f"/api/v1/cases/{dispatched}/actions", headers=staff.headers,
                                 json={"action": "extend", "deadline": "2099-01-01T18:00+08:00", "note": "等待配件"})
    assert response.status_code == 200


@pytest.mark.parametrize("week", ["9999-W52", "0001-W01", "1900-W01", "99999999999999999999-W01", "2026-W99",
                                  "2026-W٠٩", "2026-W+9"])
def test_building_a_week_outside_the_calendar_is_refused_on_the_page_and_the_command_line(app, week):
    browser = staff_browser(app)
    response = browser.post("/desk/reports", week=week)
    assert response.status_code == 303 and response.headers["Location"] == "/desk/reports"
    assert "周次" in browser.get("/desk/reports").get_data(as_text=True)
    assert browser.get(f"/desk/reports/{week}").status_code == 404
    assert browser.get(f"/desk/reports/{week}.xlsx").status_code == 404
    result = app.test_cli_runner().invoke(args=["report", "weekly", "--week", week])
    assert result.exit_code == 2 and "ISO week" in result.output


def test_the_first_and_last_weeks_we_keep_can_be_built(app, db):
    from service.models import WeeklyReport
    from service.weekly import FIRST_YEAR, LAST_YEAR

    browser = staff_browser(app)
    weeks = (f"{FIRST_YEAR}-W01", f"{LAST_YEAR}-W52")
    try:
        for week in weeks:
            response = browser.post("/desk/reports", week=week)
            assert response.status_code == 303 and response.headers["Location"] == f"/desk/reports/{week}"
            assert browser.get(f"/desk/reports/{week}").status_code == 200
    finally:  # kept reports outlive a test (weekly_reports is not emptied between tests)
        db.execute(sa.delete(WeeklyReport).where(WeeklyReport.week.in_(weeks)))
        db.commit()


@pytest.mark.parametrize("query", [
    "lat=1e400&lon=120.855", "lat=nan&lon=120.855", "lat=32.015&lon=-inf", "lat=32.015&lon=" + "9" * 5000,
    "lat=²&lon=120.855", "lat=32.015&lon=120.855&coord_system=bd09x",
])
def test_nearby_with_a_number_that_is_no_point_is_400(rider, query):
    assert_json_error(rider.get(f"/api/v1/nearby?category=B0118&{query}"), 400)


@pytest.mark.parametrize("query, field", [
    ("limit=99999999999999999999", "limit"), ("before=99999999999999999999", "before"), ("limit=²", "limit"),
    ("before=1e3", "before"), ("limit=1_0", "limit"),
    ("before=2147483648", "before"),  # an id past PostgreSQL's INTEGER
])
def test_bad_paging_numbers_are_400_naming_the_field(rider, query, field):
    assert_json_error(rider.get(f"/api/v1/me/reports?{query}"), 400, field)


@pytest.mark.parametrize("lat, lon, accuracy", [
    ("1e400", "120.855", "5"), ("32.015", "120.855", "1e400"), ("32.015", "120.855", "nan"),
    ("99999999999999999999999", "120.855", "5"),
])
def test_a_report_with_numbers_that_overflow_is_422(rider, lat, lon, accuracy):
    response = rider.report(photos=[photo_jpeg(seed=78)], lat=lat, lon=lon, accuracy_m=accuracy)
    assert_json_error(response, 422)


@pytest.mark.parametrize("taken, offset", [("0001:01:01 00:00:00", None), ("9999:12:31 23:00:00", "-12:00"),
                                           ("0001:01:01 01:00:00", "+14:00")])
def test_a_photo_taken_at_the_calendars_edge_has_no_time_rather_than_failing_its_processing(taken, offset):
    import io

    from images import ASCII, exif_block, field, jpeg_bytes
    from PIL import Image

    from service.imaging import exif_taken_at

    tags = [field(0x9003, ASCII, taken)] + ([field(0x9011, ASCII, offset)] if offset else [])
    exif = Image.open(io.BytesIO(jpeg_bytes(Image.new("RGB", (16, 16)), exif=exif_block([], exif_ifd=tags)))).getexif()
    assert exif_taken_at(exif, "Asia/Shanghai") is None
