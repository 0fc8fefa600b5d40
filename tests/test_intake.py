"""A rider's report over HTTP: 201 with a case number, the case and its originals stored, retries made harmless."""
from __future__ import annotations

import hashlib
import re
import threading

import prcoords
import sqlalchemy as sa
from images import encode, photo_jpeg
from support import Api, originals_on_disk

from service.models import Case, CaseEvent, Photo
from service.runtime.jobqueue import PHOTO_QUEUE, redis_connection, rq_queue


def test_report_is_taken_in_with_its_photos_on_disk(rider, db, settings):
    jpeg, png = photo_jpeg(seed=5), encode("PNG")
    response = rider.report(photos=[jpeg, png], description="路灯不亮，晚上很黑", accuracy_m="12.5")
    assert response.status_code == 201
    body = response.get_json()
    assert re.fullmatch(r"\d{8}-\d{4}", body["case_no"])
    assert body["state"] == "new"
    assert body["url"].endswith(f"/api/v1/reports/{body['case_no']}")
    assert response.headers["Location"] == body["url"]

    case = db.scalar(sa.select(Case).where(Case.case_no == body["case_no"]))
    assert (case.lat, case.lon, case.accuracy_m) == (32.015, 120.855, 12.5)
    assert case.category.code == "B0118" and case.reporter.username == "rider1"
    stored = {p.sha256: settings.media_dir / p.original_path for p in case.photos}
    for content in (jpeg, png):
        sha = hashlib.sha256(content).hexdigest()
        assert stored[sha].read_bytes() == content
        assert stored[sha].name.startswith(sha)
    assert not settings.media_dir.joinpath("originals", "tmp").exists() or \
        not any(settings.media_dir.joinpath("originals", "tmp").iterdir())
    assert [p.format for p in case.photos] == ["JPEG", "PNG"]


def test_the_rider_reads_back_the_case_with_its_timeline(rider):
    case_no = rider.report(description="井盖松动").get_json()["case_no"]
    detail = rider.get(f"/api/v1/reports/{case_no}").get_json()
    assert detail["state"] == "new" and detail["state_label"] == "待处理"
    assert detail["category"] == {"code": "B0118", "name": "路灯"}
    assert detail["description"] == "井盖松动"
    assert detail["location"]["lat"] == 32.015 and detail["location"]["coord_system"] == "wgs84"
    assert detail["grid"] is None and detail["deadline_at"] is None  # the pipeline has not run yet
    assert len(detail["photos"]) == 1 and detail["photos"][0]["web_url"] is None
    assert [(e["from"], e["to"], e["actor"]) for e in detail["timeline"]] == [(None, "new", "骑手 张师傅")]
    assert detail["created_at"].endswith("+08:00")


def test_the_processing_job_is_queued_after_the_commit(rider, db, settings):
    case_no = rider.report().get_json()["case_no"]
    case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
    queue = rq_queue(PHOTO_QUEUE, redis_connection(settings.redis_url))
    assert queue.job_ids == [f"process_case-{case_id}"]
    assert queue.fetch_job(f"process_case-{case_id}").args == [case_id]  # JSON: a list


def test_case_numbers_count_up_within_the_day(rider):
    numbers = [rider.report().get_json()["case_no"] for _ in range(3)]
    day = numbers[0][:8]
    assert numbers == [f"{day}-0001", f"{day}-0002", f"{day}-0003"]


def test_a_retry_with_the_same_client_report_id_returns_the_same_case(rider, db, settings):
    first = rider.report(client_report_id="phone-7f3a-0001")
    again = rider.report(client_report_id="phone-7f3a-0001")
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["case_no"] == first.get_json()["case_no"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(CaseEvent)) == 1
    assert len(originals_on_disk(settings)) == 1


def test_the_same_client_report_id_from_another_rider_is_another_case(rider, make_api):
    other = make_api("rider2")
    a = rider.report(client_report_id="same-id").get_json()["case_no"]
    b = other.report(client_report_id="same-id").get_json()["case_no"]
    assert a != b


def test_concurrent_retries_of_one_report_make_one_case(app, db):
    api = Api(app.test_client())
    api.login("rider1")
    token, results = api.token, []

    def post():
        client = Api(app.test_client())
        client.token = token
        results.append(client.report(client_report_id="flaky-4g", photos=[photo_jpeg(seed=9)]))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results).count(201) == 1
    assert {r.get_json()["case_no"] for r in results} == {results[0].get_json()["case_no"]}
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(Photo)) == 1


def test_gcj02_and_bd09_points_are_stored_as_wgs84(rider, db):
    wgs = prcoords.Coords(32.0152, 120.8563)
    for system, sent in (("gcj02", prcoords.wgs_gcj(wgs)), ("bd09", prcoords.wgs_bd(wgs))):
        case_no = rider.report(lat=repr(sent.lat), lon=repr(sent.lon), coord_system=system).get_json()["case_no"]
        case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
        assert case.coord_system == system
        # 1e-5 degrees is about a metre; GCJ-02 alone moves this point by hundreds of metres
        assert abs(case.lat - wgs.lat) < 1e-5 and abs(case.lon - wgs.lon) < 1e-5
        assert abs(sent.lon - wgs.lon) > 1e-3


def test_a_report_without_location_is_taken_for_the_photo_gps_to_place(rider, db):
    response = rider.report(lat=None, lon=None)
    assert response.status_code == 201
    case = db.scalar(sa.select(Case))
    assert case.lat is None and case.lon is None


def test_heic_and_webp_photos_are_accepted(rider, db):
    response = rider.report(photos=[(encode("HEIF"), "IMG_0001.HEIC"), (encode("WEBP"), "a.webp")])
    assert response.status_code == 201
    assert sorted(p.format for p in db.scalars(sa.select(Photo))) == ["HEIF", "WEBP"]


def test_my_reports_pages_newest_first(rider, make_api):
    made = [rider.report().get_json()["case_no"] for _ in range(5)]
    make_api("rider2").report()
    page1 = rider.get("/api/v1/me/reports?limit=2").get_json()
    page2 = rider.get(f"/api/v1/me/reports?limit=2&before={page1['next']}").get_json()
    page3 = rider.get(f"/api/v1/me/reports?limit=2&before={page2['next']}").get_json()
    listed = [c["case_no"] for page in (page1, page2, page3) for c in page["items"]]
    assert listed == list(reversed(made))
    assert page3["next"] is None
    assert page1["items"][0]["state_label"] == "待处理"


def test_categories_list_the_community_scheme(client):
    categories = client.get("/api/v1/categories").get_json()["categories"]
    by_code = {c["code"]: c for c in categories}
    assert by_code["B0118"]["name"] == "路灯" and by_code["B0118"]["deadline_hours"] == 72
    assert by_code["E0101"]["name"] == "暴露垃圾" and by_code["E0101"]["deadline_hours"] == 4
    assert {c["kind"] for c in categories} == {"部件", "事件"}
    assert by_code["B0101"]["priority"] > by_code["B0118"]["priority"]
