"""Filing requests through Open311 as other systems do: a client's key from the command line, POST requests in
both formats (with and without photos, FixMyStreet's way and the spec's), a repeat that makes no second case, the
pipeline dispatching a case with no photo, and every refusal as an error list."""
from __future__ import annotations

from io import BytesIO

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from support import HONGQIAO
from test_open311 import errors_of, json_of, xml_of

from service import open311_intake
from service.geo import from_wgs84
from service.models import Case, PointsEntry
from service.states import CaseState

BASE = "/open311/v2"


def post(client, key: str | None, fmt: str = "json", files: dict | None = None, **fields):
    """POST requests.<fmt> with the fields (form-encoded, or multipart with file parts), as FixMyStreet sends."""
    data = {"service_code": "B0118", "lat": HONGQIAO["lat"], "long": HONGQIAO["lon"], **fields}
    if key is not None:
        data["api_key"] = key
    data = {k: v for k, v in data.items() if v is not None}
    if files:
        data.update({name: (BytesIO(content), f"{name}.jpeg") for name, content in files.items()})
        return client.post(f"{BASE}/requests.{fmt}", data=data, content_type="multipart/form-data")
    return client.post(f"{BASE}/requests.{fmt}", data=data)


def test_add_client_prints_a_key_on_its_last_line_that_files_requests(app, client):
    result = app.test_cli_runner().invoke(args=["open311", "add-client", "饿了么骑手"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert len(key) >= 40 and " " not in key
    assert post(client, key).status_code == 201
    again = app.test_cli_runner().invoke(args=["open311", "add-client", "饿了么骑手"])
    assert again.exit_code != 0 and "already" in again.output


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_request_without_photos_is_filed_at_once_and_dispatched_by_the_pipeline(client, db, hotline, workers, fmt):
    response = post(client, hotline, fmt, description="路灯不亮，热线来电", first_name="张", last_name="三",
                    phone="13800138000", email="zhang@example.cn", deviceid="hotline-desk-3",
                    media_url="https://photos.example.cn/a.jpg")
    assert response.status_code == 201
    if fmt == "xml":
        [answer] = xml_of(response, "service_requests").findall("request")
        case_no = answer.findtext("service_request_id")
    else:
        [answer] = json_of(response)
        case_no = answer["service_request_id"]
    assert case_no and case_no != "0"
    workers()
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert case.state == CaseState.DISPATCHED and case.grid is not None and case.photos == []
    assert case.reporter.role == "open311" and case.reporter.display_name == "12345 热线"
    assert case.contact == {"email": "zhang@example.cn", "first_name": "张", "last_name": "三",
                            "phone": "13800138000", "device_id": "hotline-desk-3"}
    assert case.media_url == "https://photos.example.cn/a.jpg"
    [published] = json_of(client.get(f"{BASE}/requests/{case_no}.json"))
    assert published["description"] == "路灯不亮，热线来电" and published["status"] == "open"
    text = client.get(f"{BASE}/requests/{case_no}.json").get_data(as_text=True)
    assert "13800138000" not in text and "zhang@example.cn" not in text and "12345" not in text


def test_the_same_client_report_id_gives_the_same_case_and_no_second_one(client, db, hotline, app):
    first = json_of(post(client, hotline, **{"attribute[client_report_id]": "hotline-2026-1203-17"}))
    again = post(client, hotline, **{"attribute[client_report_id]": "hotline-2026-1203-17"})
    assert again.status_code == 200 and json_of(again) == first
    fms = json_of(post(client, hotline, **{"attribute[fixmystreet_id]": "4417"}))
    assert json_of(post(client, hotline, **{"attribute[fixmystreet_id]": "4417"})) == fms != first
    with app.extensions["snap"].db.session() as session:
        _, other = open311_intake.add_client(session, "FixMyStreet")
    assert json_of(post(client, other, **{"attribute[fixmystreet_id]": "4417"})) != fms  # another client's own
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 3


def test_photos_come_as_fixmystreet_photo_parts_or_the_spec_media_part(client, db, hotline, workers):
    [fms] = json_of(post(client, hotline, files={"photo1": photo_jpeg(seed=3), "photo2": photo_jpeg(seed=4)}))
    [spec] = json_of(post(client, hotline, files={"media": photo_jpeg(seed=5)}))
    workers()
    counts = {no: len(db.scalar(sa.select(Case).where(Case.case_no == no)).photos)
              for no in (fms["service_request_id"], spec["service_request_id"])}
    assert counts == {fms["service_request_id"]: 2, spec["service_request_id"]: 1}
    [published] = json_of(client.get(f"{BASE}/requests/{spec['service_request_id']}.json"))
    assert "/open311/v2/media/" in published["media_url"]


def test_a_linked_photo_is_fetched_only_from_an_allowed_host_and_kept_as_the_cases_own(
        client, db, hotline, worker_env, settings):
    from support import run_jobs
    from unit_platform_fake import FakePlatform, Serving
    with Serving(FakePlatform(photos={"/a.jpg": photo_jpeg(seed=8), "/not.jpg": b"<html>not a photo</html>"})) as fake:
        [allowed] = json_of(post(client, hotline, media_url=f"{fake.url}/a.jpg"))
        [broken] = json_of(post(client, hotline, media_url=f"{fake.url}/not.jpg"))
        worker_env(OPEN311_MEDIA_HOSTS="photos.example.cn, 127.0.0.1")
        run_jobs(settings)
        worker_env(OPEN311_MEDIA_HOSTS="photos.example.cn")  # the same server, no longer allowed
        [elsewhere] = json_of(post(client, hotline, media_url=f"{fake.url}/a.jpg"))
        run_jobs(settings)
        assert [a for a in fake.asked if a.startswith("/a.jpg")] == ["/a.jpg?"]  # asked once: for the allowed one
    cases = {no: db.scalar(sa.select(Case).where(Case.case_no == no))
             for no in (allowed["service_request_id"], broken["service_request_id"], elsewhere["service_request_id"])}
    kept, not_a_photo, not_fetched = cases.values()
    assert [p.kind for p in kept.photos] == ["before"] and kept.photos[0].web_path is not None
    assert not_a_photo.photos == [] and not_fetched.photos == []
    assert all(c.state == CaseState.DISPATCHED for c in cases.values())  # dispatched, with a photo or without
    assert not_fetched.media_url == f"{fake.url}/a.jpg"  # the link stays for staff


def test_a_point_in_gcj02_is_kept_in_wgs84(client, db, hotline):
    lat, lon = from_wgs84(float(HONGQIAO["lat"]), float(HONGQIAO["lon"]), "gcj02")
    [answer] = json_of(post(client, hotline, lat=f"{lat:.7f}", long=f"{lon:.7f}",
                            **{"attribute[coord_system]": "gcj02"}))
    case = db.scalar(sa.select(Case).where(Case.case_no == answer["service_request_id"]))
    assert (case.lat, case.lon) == pytest.approx((float(HONGQIAO["lat"]), float(HONGQIAO["lon"])), abs=2e-5)
    assert case.coord_system == "gcj02"


def test_a_case_another_system_filed_earns_no_points_when_closed(client, db, hotline, factory, workers):
    [answer] = json_of(post(client, hotline))
    workers()
    case = factory.session.scalar(sa.select(Case).where(Case.case_no == answer["service_request_id"]))
    factory.act(case, "start", by=case.assignee.username)
    factory.after_photo(case)
    factory.act(case, "resolve", by=case.assignee.username)
    factory.act(case, "close", note="已修复")
    assert case.state == CaseState.CLOSED
    assert db.scalar(sa.select(sa.func.count()).select_from(PointsEntry)) == 0
    [published] = json_of(client.get(f"{BASE}/requests/{case.case_no}.json"))
    assert published["status"] == "closed" and published["status_notes"] == "已修复"


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_without_a_valid_key_nothing_is_filed(client, db, hotline, app, fmt):
    errors_of(post(client, None, fmt), 403, fmt)
    errors_of(post(client, "not-a-key", fmt), 403, fmt)
    with app.extensions["snap"].db.session() as session:
        added, key = open311_intake.add_client(session, "已停用的客户端")
        open311_intake.revoke(session, added)
    errors_of(post(client, key, fmt), 403, fmt)
    with app.extensions["snap"].db.session() as session:
        rotated, old = open311_intake.add_client(session, "换了密钥的客户端")
        new = open311_intake.rotate_key(session, rotated)
    errors_of(post(client, old, fmt), 403, fmt)
    assert post(client, new, fmt).status_code == 201
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


@pytest.mark.parametrize("fields, status", [
    ({"service_code": None}, 400), ({"service_code": "NOPE"}, 404), ({"lat": None}, 400),
    ({"lat": None, "long": None, "address_string": "崇川区工农路 1 号"}, 400), ({"lat": "31.0", "long": "121.9"}, 400),
    ({"lat": "north"}, 400), ({"description": "长" * 4001}, 400), ({"description": "<script>x</script>"}, 400),
    ({"media_url": "javascript:alert(1)"}, 400), ({"attribute[coord_system]": "mercator"}, 400),
    ({"email": "x" * 300}, 400), ({"attribute[client_report_id]": "x" * 65}, 400),
])
def test_a_bad_request_is_refused_with_an_error_list_and_nothing_is_kept(client, db, hotline, fields, status):
    for fmt in ("xml", "json"):
        [(code, description)] = errors_of(post(client, hotline, fmt, **fields), status, fmt)
        assert code == status and description
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_a_description_may_say_less_than_without_being_html(client, hotline):
    assert post(client, hotline, description="水温<5度，井盖 > 路面").status_code == 201


def test_the_desk_shows_the_channel_and_the_contact_masked(app, client, hotline, workers):
    from support import staff_browser
    [answer] = json_of(post(client, hotline, first_name="三", last_name="张", phone="13800138000",
                            email="zhang@example.cn", media_url="https://photos.example.cn/a.jpg"))
    workers()
    page = staff_browser(app).get(f"/desk/cases/{answer['service_request_id']}").get_data(as_text=True)
    assert "Open311 · 12345 热线" in page and "张 三" in page
    assert "138****8000" in page and "z***@example.cn" in page
    assert "13800138000" not in page and "zhang@example.cn" not in page
    assert 'href="https://photos.example.cn/a.jpg" rel="noopener noreferrer nofollow"' in page


def test_a_clients_account_is_no_person_at_the_desk(app, hotline):
    from support import Browser
    admin = Browser(app.test_client())
    admin.login("admin")
    page = admin.get("/desk/users").get_data(as_text=True)
    assert "12345 热线" not in page and "接口客户端" not in page
    refused = admin.post("/desk/users/add", username="sneaky", role="open311", password="long enough pw",
                         display_name="x")
    assert refused.status_code == 303
    with app.extensions["snap"].db.session() as session:
        from service.models import User
        assert session.scalar(sa.select(User).where(User.username == "sneaky")) is None


def test_each_client_has_its_own_rate_limit(app, client, db, hotline):
    from service.models import Open311Client
    with app.extensions["snap"].db.session() as session:
        slow, slow_key = open311_intake.add_client(session, "一个慢的客户端")
        slow.rate_limit = "2 per minute"
        session.commit()
    assert [post(client, slow_key).status_code for _ in range(2)] == [201, 201]
    refused = post(client, slow_key, "xml")
    [(code, _)] = errors_of(refused, 429)
    assert code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert post(client, hotline).status_code == 201  # the hotline's default limit is its own
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 3
    kept = db.scalar(sa.select(Open311Client.rate_limit).where(Open311Client.name == "一个慢的客户端"))
    assert kept == "2 per minute"


def test_a_chunked_form_past_the_cap_is_refused_whole_not_cut_short(app, client, db, hotline):
    """With no Content-Length the body is read to one byte past the cap: what came after the cut is not lost
    silently, the request is refused (413) and nothing is kept."""
    cap = app.config["MAX_FORM_MEMORY_SIZE"]
    body = (f"api_key={hotline}&service_code=B0118&lat=32.015&long=120.855&pad={'x' * cap}"
            "&description=%3Cscript%3E").encode()
    response = client.post(f"{BASE}/requests.json", input_stream=BytesIO(body),
                           content_type="application/x-www-form-urlencoded",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    errors_of(response, 413, "json")
    small = f"api_key={hotline}&service_code=B0118&lat=32.015&long=120.855".encode()
    response = client.post(f"{BASE}/requests.json", input_stream=BytesIO(small),
                           content_type="application/x-www-form-urlencoded",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 201
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_hostile_edges_are_clear_errors(app, client, hotline):
    import hashlib
    import hmac
    errors_of(client.get(f"{BASE}/requests.json?page={'1' * 4301}"), 400, "json")
    errors_of(client.get(f"{BASE}/servicerequestupdates.xml?api_key={hotline}&page_size={'9' * 5000}"), 400)
    huge, expires = 2 ** 63, 4_000_000_000
    sig = hmac.new(b"test-secret", f"open311-media\n{huge}\n{expires}".encode(), hashlib.sha256).hexdigest()
    errors_of(client.get(f"{BASE}/media/{huge}?expires={expires}&sig={sig}"), 404)
    errors_of(post(client, hotline, jurisdiction_id="nowhere"), 404, "json")
    broken = post(client, hotline, files={"media": b"\xff\xd8\xff" + b"\0" * 600_000})
    [(_, text)] = errors_of(broken, 415 if broken.status_code == 415 else 400, "json")
    assert "object at 0x" not in text
    as_json = client.post(f"{BASE}/requests.json", json={"api_key": hotline, "service_code": "B0118"})
    [(_, text)] = errors_of(as_json, 400, "json")
    assert "form" in text
    errors_of(post(client, hotline, media_url="http://example.cn/a b.jpg"), 400, "json")
    errors_of(post(client, hotline, description="坏\x01字符"), 400, "json")
