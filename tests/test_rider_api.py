"""The rider page's API: open cases nearby, "me too", points, categories by use, the grids, can_reopen."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from support import staff_browser

from service.db import utcnow
from service.models import Case, MeToo
from service.states import CaseState


def dispatched(factory, seed: int, **report) -> str:
    """The number of a case of rider1's dispatched (at HQ06, to gw06 unless told), its photo made from the seed."""
    return factory.case_in(CaseState.DISPATCHED, seed=seed, **report).case_no


def test_nearby_lists_open_cases_of_the_category_within_50_m(rider, make_api, factory):
    near = dispatched(factory, 1)
    far = dispatched(factory, 2, where={"lat": "32.0160"})  # 111 m north
    other_kind = dispatched(factory, 3, category="E0301")
    rider2 = make_api("rider2")
    found = rider2.get("/api/v1/nearby?lat=32.01520&lon=120.855&category=B0118").get_json()["cases"]
    assert [(c["case_no"], c["mine"], c["me_too"]) for c in found] == [(near, False, False)]
    assert 15 < found[0]["distance_m"] < 30 and found[0]["state_label"] == "已派遣"
    thumb = rider2.get(found[0]["thumb_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.cache_control.private and not thumb.cache_control.public
    assert far not in str(found) and other_kind not in str(found)
    assert rider2.get("/api/v1/nearby?lat=abc&lon=1&category=B0118").status_code == 400
    unknown = rider2.get("/api/v1/nearby?lat=32.015&lon=120.855&category=X9999")
    assert unknown.status_code == 422 and unknown.get_json()["error"]["field"] == "category"


def me_too(api, case_no, **point):
    """POST a me-too as JSON with the caller's current point (HQ06, a good fix, unless told)."""
    body = {"lat": 32.015, "lon": 120.855, "accuracy_m": 12, "coord_system": "wgs84", **point}
    return api.client.post(f"/api/v1/reports/{case_no}/me-too", headers=api.headers,
                           json={k: v for k, v in body.items() if v is not None})


def test_a_rider_joins_an_open_case_as_me_too_once(rider, make_api, factory, db):
    case_no = dispatched(factory, 10)
    rider2 = make_api("rider2")
    first = me_too(rider2, case_no)
    again = me_too(rider2, case_no)
    assert first.get_json() == {"case_no": case_no, "me_too_count": 1}
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "me_too_already"
    own = me_too(rider, case_no)
    assert own.status_code == 403 and own.get_json()["error"]["code"] == "me_too_own_report"
    assert db.scalar(sa.select(sa.func.count()).select_from(MeToo)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    listed = rider2.get("/api/v1/nearby?lat=32.015&lon=120.855&category=B0118").get_json()["cases"]
    assert listed[0]["me_too"] is True


def test_my_reports_list_the_cases_i_joined_marked_with_when_and_the_desk_names_who_joined(
        rider, make_api, factory, app):
    joined_no = dispatched(factory, 11)
    rider2 = make_api("rider2")
    assert me_too(rider2, joined_no).status_code == 200
    own = rider2.report(photos=[photo_jpeg(seed=12)], category="E0301")
    own_no = own.get_json()["case_no"]
    items = rider2.get("/api/v1/me/reports").get_json()["items"]
    assert [(i["case_no"], i["joined"]) for i in items] == [(own_no, False), (joined_no, True)]
    assert items[0]["joined_at"] is None and items[1]["joined_at"].startswith(items[1]["created_at"][:10])
    first_page = rider2.get("/api/v1/me/reports?limit=1").get_json()
    assert [i["case_no"] for i in first_page["items"]] == [own_no]
    rest = rider2.get(f"/api/v1/me/reports?limit=1&before={first_page['next']}").get_json()
    assert [(i["case_no"], i["joined"]) for i in rest["items"]] == [(joined_no, True)] and rest["next"] is None
    mine = rider.get("/api/v1/me/reports").get_json()["items"]
    assert [(i["case_no"], i["joined"]) for i in mine] == [(joined_no, False)]  # the reporter's own, not joined

    page = staff_browser(app).get(f"/desk/cases/{joined_no}").get_data(as_text=True)
    assert "我也遇到（1 人）" in page and '<ul class="joined"><li>' in page


def test_closed_cases_are_neither_nearby_nor_joinable(rider, make_api, factory, db):
    case = factory.case_in(CaseState.DISPATCHED, seed=20)
    case_no = case.case_no
    thumb_url = make_api("rider2").get("/api/v1/nearby?lat=32.015&lon=120.855&category=B0118").get_json()[
        "cases"][0]["thumb_url"]
    factory.act(case, "reject", note="非公共设施")
    rider2 = make_api("rider2")
    assert rider2.get("/api/v1/nearby?lat=32.015&lon=120.855&category=B0118").get_json()["cases"] == []
    assert me_too(rider2, case_no).status_code == 404
    assert rider2.get(thumb_url).status_code == 404  # its link, handed out while it was open, shows nothing now


def test_points_this_week_and_in_total_and_reopen_within_seven_days(rider, make_api, factory, db):
    case_no = factory.case_in(CaseState.CLOSED, seed=30).case_no
    assert rider.get("/api/v1/me/points").get_json() == {"week": 5, "total": 5}
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["can_reopen"] is True
    assert make_api("rider2").get("/api/v1/me/points").get_json() == {"week": 0, "total": 0}
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    case.closed_at = utcnow() - timedelta(days=8)
    db.commit()
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["can_reopen"] is False


def test_categories_count_my_reports_of_each(rider, app, factory):
    factory.report(category="E0301", seed=40)
    factory.report(category="E0301", where={"lat": "32.0170"}, seed=41)
    used = {c["code"]: c["used"] for c in rider.get("/api/v1/categories").get_json()["categories"]}
    assert used["E0301"] == 2 and used["B0118"] == 0
    anonymous = app.test_client().get("/api/v1/categories").get_json()["categories"]
    assert {c["used"] for c in anonymous} == {0}


def test_the_grids_are_there_for_the_map(rider):
    grids = rider.get("/api/v1/grids").get_json()
    assert len(grids["features"]) == 70 and grids["features"][0]["properties"]["code"] == "GY01"
    hq01 = next(f for f in grids["features"] if f["properties"]["code"] == "HQ01")
    assert hq01["properties"] == {"code": "HQ01", "name": "虹桥第01网格·虹桥新村一片", "street": "虹桥路",
                                  "community": "hqsq"}


def test_a_box_brings_only_the_grids_that_reach_into_it(rider):
    # the cell of 0.02° around HQ06 (32.015, 120.855), as the rider's map asks for it
    cell = rider.get("/api/v1/grids?bbox=120.84,32.00,120.86,32.02").get_json()["features"]
    codes = {f["properties"]["code"] for f in cell}
    assert "HQ06" in codes and {f["properties"]["community"] for f in cell} <= {"hqsq", "qfsq", "tysq"}
    everything = rider.get("/api/v1/grids").get_json()["features"]
    assert 0 < len(cell) < len(everything)
    # each grid returned reaches into the box, and none that does is left out (by the polygons' own extents)
    def reaches(feature) -> bool:
        ring = feature["geometry"]["coordinates"][0]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        return min(lons) <= 120.86 and max(lons) >= 120.84 and min(lats) <= 32.02 and max(lats) >= 32.00
    assert codes == {f["properties"]["code"] for f in everything if reaches(f)}
    # a box over the Yangtze, north of the district: nothing
    assert rider.get("/api/v1/grids?bbox=120.84,32.10,120.86,32.12").get_json() == {
        "type": "FeatureCollection", "features": []}


@pytest.mark.parametrize("bbox, status", [
    ("120.84,32.00,120.86", 400), ("a,b,c,d", 400), ("nan,32.00,120.86,32.02", 400), ("", 400),
    ("120.84,32.00,120.86,32.02,1", 400), ("1e400,32,120.86,32.02", 400),  # not four numbers
    ("120.86,32.00,120.84,32.02", 422), ("120.84,32.02,120.86,32.00", 422),  # four numbers, but no box
    ("120,31,121,32", 422), ("181,32.00,182,32.02", 422), ("8994984.,-82.,0852,40", 422)])
def test_a_box_that_is_no_box_is_refused_naming_it(rider, bbox, status):
    answer = rider.get(f"/api/v1/grids?bbox={bbox}")
    assert answer.status_code == status and answer.get_json()["error"]["field"] == "bbox", bbox


# --- "me too" only from the spot, by someone who is neither staff, the assignee nor the reporter ----------------

@pytest.mark.parametrize("point, status, code, field", [
    ({"lat": None, "lon": None, "accuracy_m": None, "coord_system": None}, 422, "location_required", "lat"),
    ({"accuracy_m": None}, 422, "accuracy_required", "accuracy_m"),
    ({"lat": "32.015"}, 422, "invalid_type", "lat"),  # JSON wants numbers (a form sends text)
    ({"coord_system": 84}, 422, "invalid_type", "coord_system"),
    ({"lat": 1e400}, 422, "invalid_number", "lat"),  # Python's json reads it as inf
    ({"lon": None}, 422, "incomplete_location", "lon"),
    ({"coord_system": "utm"}, 422, "unknown_coord_system", "coord_system"),
    ({"accuracy_m": -1}, 422, "invalid_number", "accuracy_m"),
    ({"accuracy_m": 150}, 422, "location_too_coarse", "accuracy_m"),  # coarser than the 100 m radius
    ({"lat": 32.0160}, 422, "too_far_from_case", "lat"),  # 111 m north
    ({"lat": 31.97, "lon": 120.86}, 422, "too_far_from_case", "lat"),  # 5 km away in 军山社区, still in the district
    ({"lat": 31.0}, 422, "outside_service_area", "lat"),
], ids=["no-location", "no-accuracy", "text-for-a-number", "number-for-text", "overflow", "lat-alone",
        "unknown-system", "negative-accuracy", "coarse-fix", "111-m-away", "5-km-away", "outside-the-area"])
def test_a_me_too_needs_the_callers_own_point_near_the_case(rider, make_api, factory, db, point, status, code, field):
    case_no = dispatched(factory, 50)
    response = me_too(make_api("rider2"), case_no, **point)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field) and " / " in error["message"]
    assert db.scalar(sa.select(sa.func.count()).select_from(MeToo)) == 0


def test_a_me_too_from_88_m_with_a_100_m_fix_counts(rider, make_api, factory, db):
    case_no = dispatched(factory, 51)
    assert me_too(make_api("rider2"), case_no, lat=32.0158, accuracy_m=100).get_json()["me_too_count"] == 1


def test_a_me_too_point_is_converted_from_the_system_it_was_sent_in(rider, make_api, factory):
    import prcoords

    case_no = dispatched(factory, 52)
    rider2 = make_api("rider2")
    amap = prcoords.wgs_gcj(prcoords.Coords(32.015, 120.855))  # the same spot as Amap's map shows it
    # the Amap numbers taken for WGS-84 would be ~470 m off
    assert me_too(rider2, case_no, lat=amap.lat, lon=amap.lon).get_json()["error"]["code"] == "too_far_from_case"
    joined = me_too(rider2, case_no, lat=amap.lat, lon=amap.lon, coord_system="gcj02")
    assert joined.status_code == 200, joined.get_json()


def test_a_me_too_may_come_as_a_form_too(rider, make_api, factory):
    case_no = dispatched(factory, 53)
    rider2 = make_api("rider2")
    bad = rider2.client.post(f"/api/v1/reports/{case_no}/me-too", headers=rider2.headers,
                             data={"lat": "north", "lon": "120.855", "accuracy_m": "8"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_number"
    sent = rider2.client.post(f"/api/v1/reports/{case_no}/me-too", headers=rider2.headers,
                              data={"lat": "32.015", "lon": "120.855", "accuracy_m": "8"})
    assert sent.status_code == 200, sent.get_json()


@pytest.mark.parametrize("who, code", [("staff1", "me_too_staff"), ("admin", "me_too_staff"),
                                       ("gw06", "me_too_assignee"), ("rider1", "me_too_own_report")])
def test_staff_the_assignee_and_the_reporter_cannot_farm_me_too_points(rider, make_api, factory, db, who, code):
    case_no = dispatched(factory, 54)
    assert db.scalar(sa.select(Case.assignee_id).where(Case.case_no == case_no)) is not None  # gw06's order
    response = me_too(make_api(who), case_no)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == code
    assert db.scalar(sa.select(sa.func.count()).select_from(MeToo)) == 0


def test_another_grid_worker_passing_by_may_say_me_too(rider, make_api, factory):
    case_no = dispatched(factory, 55)
    assert me_too(make_api("gw01"), case_no).status_code == 200


# --- nearby thumbnails only through the short-lived links /api/v1/nearby hands to the one who asked ----------

def nearby_thumb(api) -> str:
    return api.get("/api/v1/nearby?lat=32.015&lon=120.855&category=B0118").get_json()["cases"][0]["thumb_url"]


def test_thumbnails_cannot_be_had_by_walking_the_case_numbers(rider, make_api, factory):
    made = [dispatched(factory, 60 + i, where={"lat": f"{32.0100 + i * 0.002:.4f}"}) for i in range(3)]
    rider2 = make_api("rider2")
    day = made[0].split("-")[0]
    for n in range(1, 6):
        walked = rider2.get(f"/api/v1/nearby/{day}-{n:04d}/thumb")
        assert walked.status_code == 403 and walked.mimetype == "application/json", n
        assert walked.get_json()["error"]["code"] == "bad_thumb_link"


def test_a_thumb_link_opens_only_its_own_case_for_its_own_user_until_it_expires(app, rider, make_api, factory, db):
    from urllib.parse import parse_qs, urlsplit

    from service.models import User
    from service.web.rider_api import signed_thumb_url

    a = dispatched(factory, 70)
    b = dispatched(factory, 71, category="E0301")
    rider2, gw01 = make_api("rider2"), make_api("gw01")
    link = nearby_thumb(rider2)
    assert rider2.get(link).status_code == 200
    query = urlsplit(link).query
    assert rider2.get(f"/api/v1/nearby/{b}/thumb?{query}").status_code == 403  # case A's link on case B
    assert gw01.get(link).status_code == 403  # the link leaked to someone else
    expires = int(parse_qs(query)["expires"][0])
    assert rider2.get(link.replace(f"expires={expires}", f"expires={expires + 3600}")).status_code == 403
    assert rider2.get(link.replace(f"expires={expires}", "expires=99999999999999999999999")).status_code == 403
    assert 600 <= expires - time.time() <= 660  # NEARBY_THUMB_MINUTES, to the whole minute
    uid = db.scalar(sa.select(User.id).where(User.username == "rider2"))
    with app.test_request_context():
        stale = signed_thumb_url(a, uid, time.time() - 3600)  # handed out an hour ago
    expired = rider2.get(stale)
    assert expired.status_code == 403 and expired.get_json()["error"]["code"] == "thumb_link_expired"


def test_the_me_too_radius_and_the_thumb_link_life_are_settings(tmp_path, database_url, redis_url, rider, factory):
    from support import Api, make_settings

    from config import Settings
    from service.web import create_app

    read = Settings.from_env(env={"INSTANCE_DIR": str(tmp_path), "ME_TOO_RADIUS_M": "250",
                                  "NEARBY_THUMB_MINUTES": "3"})
    assert (read.me_too_radius_m, read.nearby_thumb_minutes) == (250, 3)
    case_no = dispatched(factory, 80)
    wide = create_app(make_settings(tmp_path, database_url, redis_url, me_too_radius_m=250, nearby_thumb_minutes=3))
    try:
        rider2 = Api(wide.test_client())
        assert rider2.login("rider2").status_code == 200
        expires = int(nearby_thumb(rider2).split("expires=")[1].split("&")[0])
        assert 180 <= expires - time.time() <= 240
        assert me_too(rider2, case_no, lat=32.0170, accuracy_m=200).status_code == 200  # 221 m away
    finally:
        wide.extensions["snap"].db.dispose()
