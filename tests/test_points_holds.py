"""Against farming: points are paid only when a case closes, held back for old, reused or screen photos, for a
report split off another and past the day's cap; staff hold them back with a reason the rider sees, and release
them."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from PIL import Image

from service.ledger import Rule
from service.models import Case, PointsEntry
from service.states import CaseState

FAR = {"lat": "32.003", "lon": "120.845"}  # in grid HQ01, 1.6 km from HQ06: no neighbour of a case there


def paid(db, case) -> int:
    db.expire_all()
    return db.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
        PointsEntry.case_id == case.id, PointsEntry.rule == Rule.REPORT_CLOSED))


def hold_of(db, case) -> str | None:
    db.expire_all()
    return db.scalar(sa.select(Case.points_hold).where(Case.id == case.id))


def reencoded(data: bytes) -> bytes:
    """The same picture saved again (another file, the same look): what re-posting a photo does."""
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as img:
        img.save(out, "JPEG", quality=60, exif=img.getexif().tobytes())
    return out.getvalue()


def test_a_phone_photo_pays_on_close_and_a_screenshot_is_held_until_staff_release_it(factory, db, rider, make_api):
    ok = factory.case_in(CaseState.CLOSED, seed=901)
    assert paid(db, ok) == 5 and hold_of(db, ok) is None
    screenshot = factory.case_in(CaseState.CLOSED, where=FAR, photo=photo_jpeg(seed=902, camera=None))
    assert paid(db, screenshot) == 0 and hold_of(db, screenshot) == "no_camera"
    detail = rider.get(f"/api/v1/reports/{screenshot.case_no}").get_json()
    assert detail["points"]["paid"] == 0 and "截图或翻拍" in detail["points"]["held"]["zh"]
    [held] = rider.get("/api/v1/me/wallet").get_json()["held"]
    assert held["case_no"] == screenshot.case_no and held["code"] == "no_camera"
    staff = make_api("staff1")
    assert staff.act(screenshot.case_no, "release_points", note="核实为现场拍摄").status_code == 200
    assert paid(db, screenshot) == 5 and hold_of(db, screenshot) is None
    assert rider.get("/api/v1/me/wallet").get_json()["points"] == 10
    refused = staff.act(screenshot.case_no, "release_points")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "points_not_held"


def test_the_very_file_of_another_case_and_a_reposted_one_are_held_naming_it(factory, db):
    first_photo = photo_jpeg(seed=903)
    first = factory.case_in(CaseState.CLOSED, seed=None, photo=first_photo)
    again = factory.case_in(CaseState.CLOSED, reporter="rider2", where=FAR, photo=first_photo)
    assert (hold_of(db, again), again.points_hold_note) == ("same_photo", first.case_no) and paid(db, again) == 0
    reposted = factory.case_in(CaseState.CLOSED, reporter="rider3", where={"lat": "32.0035", "lon": "120.846"},
                               photo=reencoded(first_photo))
    assert hold_of(db, reposted) == "similar_photo" and paid(db, reposted) == 0


def taken_long_ago(data: bytes) -> bytes:
    """The photo with its EXIF saying it was taken in 2020 (DateTimeOriginal)."""
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()
        exif.get_ifd(0x8769)[0x9003] = "2020:01:01 10:00:00"
        img.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def test_an_old_photo_is_held(factory, db):
    case = factory.case_in(CaseState.DISPATCHED, where=FAR, photo=taken_long_ago(photo_jpeg(seed=907)))
    assert case.old_photo and hold_of(db, case) == "old_photo"


def test_one_problem_reported_twice_within_10_minutes_and_30_m_pays_once(factory, db, rider):
    first = factory.case_in(CaseState.CLOSED, seed=904)
    split = factory.case_in(CaseState.CLOSED, seed=905, where={"lat": "32.0151", "lon": "120.8551"})  # ~15 m
    other_kind = factory.case_in(CaseState.CLOSED, seed=906, category="B0101")
    assert (paid(db, first), paid(db, split), paid(db, other_kind)) == (5, 0, 5)
    assert (hold_of(db, split), split.points_hold_note) == ("split", first.case_no)
    words = rider.get(f"/api/v1/reports/{split.case_no}").get_json()["points"]["held"]["en"]
    assert "within 30 m and 10 minutes" in words and first.case_no in words


@pytest.fixture
def settings(settings):
    """A day's cap of 10 points: two closed reports of 5 (tests/conftest.py's settings, overridden)."""
    from dataclasses import replace
    return replace(settings, points_daily_cap=10)


def test_a_days_reports_pay_at_most_the_cap(factory, db):
    cases = [factory.case_in(CaseState.CLOSED, seed=910 + n, where={"lat": f"32.0{n}5", "lon": "120.85"})
             for n in range(3)]
    assert [paid(db, c) for c in cases] == [5, 5, 0] and hold_of(db, cases[2]) == "daily_cap"


def test_staff_withhold_with_a_reason_the_rider_reads(factory, db, rider, make_api):
    case = factory.case_in(CaseState.RESOLVED, seed=920)
    staff = make_api("staff1")
    refused = staff.act(case.case_no, "withhold_points")
    assert refused.status_code == 422  # a reason is required
    assert staff.act(case.case_no, "withhold_points", note="同一问题重复上报多次").status_code == 200
    assert staff.act(case.case_no, "close", note="已修复").status_code == 200
    assert paid(db, case) == 0
    held = rider.get(f"/api/v1/reports/{case.case_no}").get_json()["points"]["held"]
    assert held["code"] == "withheld" and held["zh"] == "工作人员暂缓发放：同一问题重复上报多次"
    timeline = [t["action"] for t in rider.get(f"/api/v1/reports/{case.case_no}").get_json()["timeline"]]
    assert "withhold_points" in timeline
    assert staff.act(case.case_no, "release_points").status_code == 200 and paid(db, case) == 5
    closed = factory.case_in(CaseState.CLOSED, seed=921, where=FAR)
    assert staff.act(closed.case_no, "withhold_points", note="x").status_code == 409  # paid already: too late
