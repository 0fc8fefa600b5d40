"""顺手帮: a rider logs a good deed where it happened; the grid worker of that grid (or its community's staff)
confirms it, which pays its kind's points within the weekly cap, or declines it with a reason; no one else may."""
from __future__ import annotations

from io import BytesIO

import sqlalchemy as sa
from images import photo_jpeg
from PIL import Image
from support import HQ06, OUTSIDE_GRIDS, assert_refused

from service.ledger import Rule
from service.models import PointsEntry


def log(api, kind: str = "elderly", where: dict = HQ06, photo: bytes | None = None, **fields):
    data = {"kind": kind, **where, "note": "扶老人过马路", **fields}
    if photo is not None:
        data["photo"] = (BytesIO(photo), "deed.jpg")
    return api.client.post("/api/v1/me/good-deeds", data=data, headers=api.headers,
                           content_type="multipart/form-data")


def decide(api, deed_id: int, confirm: bool, reason: str = ""):
    return api.client.post(f"/api/v1/good-deeds/{deed_id}/decision", json={"confirm": confirm, "reason": reason},
                           headers=api.headers)


def deed_points(db, username_id=None) -> list[int]:
    db.expire_all()
    return db.scalars(sa.select(PointsEntry.points).where(PointsEntry.rule == Rule.GOOD_DEED)
                      .order_by(PointsEntry.id)).all()


def test_the_grid_worker_confirms_a_deed_in_their_grid_and_the_rider_earns_its_points(rider, make_api, db):
    kinds = rider.get("/api/v1/me/good-deeds").get_json()["kinds"]
    assert {k["code"]: k["points"] for k in kinds}["elderly"] == 3
    response = log(rider, photo=photo_jpeg(seed=31))
    assert response.status_code == 201, response.get_data(as_text=True)
    deed = response.get_json()
    assert deed["state"] == "pending" and deed["points"] == 0 and deed["grid"]
    photo = rider.get(deed["photo"])
    assert photo.status_code == 200 and not Image.open(BytesIO(photo.data)).getexif()  # no EXIF served back
    other = make_api("gw01")
    assert [d["id"] for d in other.get("/api/v1/good-deeds/pending").get_json()["deeds"]] == []
    assert_refused(decide(other, deed["id"], True), 404, "not_found")  # not their grid: no such deed for them
    assert other.get(deed["photo"]).status_code == 404
    assert make_api("rider2").get(deed["photo"]).status_code == 404
    worker = make_api("gw06")
    assert [d["id"] for d in worker.get("/api/v1/good-deeds/pending").get_json()["deeds"]] == [deed["id"]]
    done = decide(worker, deed["id"], True)
    assert done.status_code == 200 and done.get_json() == {"id": deed["id"], "state": "confirmed", "points": 3}
    assert_refused(decide(worker, deed["id"], True), 409, "already_decided")
    assert deed_points(db) == [3]
    wallet = rider.get("/api/v1/me/wallet").get_json()
    assert wallet["points"] == 3 and wallet["history"][0]["rule"] == "good_deed"


def test_a_declined_deed_needs_a_reason_and_pays_nothing(rider, make_api, db):
    deed = log(rider, kind="rubbish").get_json()
    staff = make_api("staff1")  # the community's staff may decide too
    assert_refused(decide(staff, deed["id"], False), 422, "reason_required")
    assert decide(staff, deed["id"], False, "无法核实").get_json()["state"] == "declined"
    [mine] = rider.get("/api/v1/me/good-deeds").get_json()["deeds"]
    assert (mine["state"], mine["reason"]) == ("declined", "无法核实") and deed_points(db) == []


def test_a_riders_deeds_of_a_week_earn_at_most_the_weekly_cap(rider, make_api, db):
    worker = make_api("gw06")
    paid = [decide(worker, log(rider, kind="lost_found").get_json()["id"], True).get_json()["points"]
            for _ in range(3)]
    assert paid == [5, 5, 0] and deed_points(db) == [5, 5]  # weekly_cap 10 (config/district/points.json)


def test_a_deed_outside_the_district_or_of_no_kind_is_refused_and_nothing_is_kept(rider, db):
    assert_refused(log(rider, where={"lat": "31.0", "lon": "121.0"}), 422, "outside_service_area", "lat")
    assert_refused(log(rider, kind="flying"), 422, "unknown_kind", "kind")
    assert_refused(log(rider, where={}), 422, "missing_location", "lat")
    assert_refused(log(rider, note="x" * 201), 422, "bad_note", "note")
    assert_refused(log(rider, photo=b"not a picture"), 415, "not_an_image", "photo")
    assert rider.get("/api/v1/me/good-deeds").get_json()["deeds"] == []


def test_a_deed_in_a_community_but_no_grid_goes_to_its_staff(rider, make_api):
    deed = log(rider, where=OUTSIDE_GRIDS).get_json()
    assert deed["grid"] is None
    assert [d["id"] for d in make_api("staff1").get("/api/v1/good-deeds/pending").get_json()["deeds"]] == [deed["id"]]
    assert make_api("xssq-staff").get("/api/v1/good-deeds/pending").get_json()["deeds"] == []


def test_no_one_confirms_their_own_deed(make_api, db):
    worker = make_api("gw06")
    mine = log(worker).get_json()
    assert mine["id"] not in [d["id"] for d in worker.get("/api/v1/good-deeds/pending").get_json()["deeds"]]
    assert_refused(decide(worker, mine["id"], True), 404, "not_found")
    assert decide(make_api("staff1"), mine["id"], True).get_json()["points"] == 3  # another may
