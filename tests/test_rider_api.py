"""The rider page's API: open cases nearby, "me too", points, categories by use, the grids, can_reopen."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from images import photo_jpeg
from service.db import utcnow
from service.models import Case, MeToo

HQ06 = {"lat": "32.015", "lon": "120.855"}


def report(api, seed, **fields):
    return api.report(photos=[photo_jpeg(seed=seed)], **{**HQ06, **fields}).get_json()["case_no"]


def act(api, case_no, action, **fields):
    return api.client.post(f"/api/v1/cases/{case_no}/actions", json={"action": action, **fields}, headers=api.headers)


def test_nearby_lists_open_cases_of_the_category_within_50_m(rider, make_api, workers):
    near = report(rider, 1)
    far = report(rider, 2, lat="32.0160")  # 111 m north
    other_kind = report(rider, 3, category="E0301")
    workers()
    rider2 = make_api("rider2")
    found = rider2.get("/api/v1/nearby?lat=32.01520&lon=120.855&category=B0118").get_json()["cases"]
    assert [(c["case_no"], c["mine"], c["me_too"]) for c in found] == [(near, False, False)]
    assert 15 < found[0]["distance_m"] < 30 and found[0]["state_label"] == "已派遣"
    thumb = rider2.get(found[0]["thumb_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert far not in str(found) and other_kind not in str(found)
    assert rider2.get("/api/v1/nearby?lat=abc&lon=1&category=B0118").status_code == 400


def test_a_rider_joins_an_open_case_as_me_too_once(rider, make_api, workers, db):
    case_no = report(rider, 10)
    workers()
    rider2 = make_api("rider2")
    first = rider2.client.post(f"/api/v1/reports/{case_no}/me-too", headers=rider2.headers)
    again = rider2.client.post(f"/api/v1/reports/{case_no}/me-too", headers=rider2.headers)
    assert first.get_json() == again.get_json() == {"case_no": case_no, "me_too_count": 1}
    own = rider.client.post(f"/api/v1/reports/{case_no}/me-too", headers=rider.headers)
    assert own.status_code == 409
    assert db.scalar(sa.select(sa.func.count()).select_from(MeToo)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    listed = rider2.get("/api/v1/nearby?lat=32.015&lon=120.855&category=B0118").get_json()["cases"]
    assert listed[0]["me_too"] is True


def test_closed_cases_are_neither_nearby_nor_joinable(rider, make_api, workers, db):
    case_no = report(rider, 20)
    workers()
    staff = make_api("staff1")
    assert act(staff, case_no, "reject", note="非公共设施").status_code == 200
    rider2 = make_api("rider2")
    assert rider2.get("/api/v1/nearby?lat=32.015&lon=120.855&category=B0118").get_json()["cases"] == []
    assert rider2.client.post(f"/api/v1/reports/{case_no}/me-too", headers=rider2.headers).status_code == 404
    assert rider2.get(f"/api/v1/nearby/{case_no}/thumb").status_code == 404


def test_points_this_week_and_in_total_and_reopen_within_seven_days(rider, make_api, workers, db):
    case_no = report(rider, 30)
    workers()
    staff, gw06 = make_api("staff1"), make_api("gw06")
    gw06.client.post(f"/api/v1/cases/{case_no}/photos", headers=gw06.headers, content_type="multipart/form-data",
                     data={"photo": [(__import__("io").BytesIO(photo_jpeg(seed=31)), "after.jpg")]})
    assert act(gw06, case_no, "resolve").status_code == 200
    assert act(staff, case_no, "close", note="核查通过").status_code == 200
    assert rider.get("/api/v1/me/points").get_json() == {"week": 5, "total": 5}
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["can_reopen"] is True
    assert make_api("rider2").get("/api/v1/me/points").get_json() == {"week": 0, "total": 0}
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    case.closed_at = utcnow() - timedelta(days=8)
    db.commit()
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["can_reopen"] is False


def test_categories_count_my_reports_of_each(rider, app):
    report(rider, 40, category="E0301")
    report(rider, 41, category="E0301", lat="32.0170")
    used = {c["code"]: c["used"] for c in rider.get("/api/v1/categories").get_json()["categories"]}
    assert used["E0301"] == 2 and used["B0118"] == 0
    anonymous = app.test_client().get("/api/v1/categories").get_json()["categories"]
    assert {c["used"] for c in anonymous} == {0}


def test_the_grids_are_there_for_the_map(rider):
    grids = rider.get("/api/v1/grids").get_json()
    assert len(grids["features"]) == 12 and grids["features"][0]["properties"]["code"] == "HQ01"
