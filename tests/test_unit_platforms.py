"""Cases handed to a unit with its own platform (issue 15, B): sent there over Open311 by a job of their own, the
platform's updates applied to the case once each (FIXED: fixed awaiting the check, with its note and photo;
NO_FURTHER_ACTION: sent back), failures shown at the desk with a resend button. Against a small loopback server
answering as mySociety's open311-adapter and FixMyStreet's t/open311.t fixtures do (tokens, upper-case extended
statuses, errors in odd shapes), and against a second instance of our own service (test_unit_platform_trip.py)."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import BytesIO
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from PIL import Image
from support import Browser, run_jobs
from unit_platform_fake import XML, FakePlatform, Serving

from service.district import DistrictFileError, load_units
from service.models import Case, CaseEvent, UnitRequest, UnitUpdate
from service.open311_remote import Platform, RemoteError
from service.runtime.jobqueue import JOB_SPECS, redis_connection, rq_queue
from service.states import CaseState
from service.unit_platforms import PlatformSettings

UNIT = "gongdian"  # 供电公司: street lights are its to fix


@pytest.fixture
def power_company(platform_unit):
    """The power company's platform: the fake on loopback, its settings in place."""
    with Serving(FakePlatform()) as fake:
        platform_unit({"endpoint": fake.url, "api_key": "k-123", "jurisdiction_id": "nantong-power",
                       "service_codes": {"B0118": "SL01"}})
        yield fake


def poll(settings) -> None:
    """Queue the periodic poll of the units' platforms as the scheduler does, and let a worker run it."""
    spec = JOB_SPECS["poll_unit_platforms"]
    rq_queue(spec.queue, redis_connection(settings.redis_url)).enqueue(spec.path, job_timeout=spec.timeout)
    run_jobs(settings)


def given_to_the_power_company(factory, make_api) -> str:
    """A dispatched street-light case the community's staff hand to the power company (its number)."""
    case = factory.case_in(CaseState.DISPATCHED, description="路灯不亮")
    answer = make_api("staff1").act(case.case_no, "assign", unit=UNIT)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return case.case_no


def _case(db, case_no: str) -> Case:
    db.expire_all()
    return db.scalar(sa.select(Case).where(Case.case_no == case_no))


def _request(db, case_no: str) -> UnitRequest:
    db.expire_all()
    return db.scalar(sa.select(UnitRequest).join(Case).where(Case.case_no == case_no))


def _w3c(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _desk_page(app, case_no: str) -> tuple[Browser, str]:
    staff = Browser(app.test_client())
    staff.login("staff1")
    page = staff.get(f"/desk/cases/{case_no}").get_data(as_text=True)
    staff.token_from(page)
    return staff, page


def test_the_case_goes_to_the_platform_with_our_number_its_photos_and_their_service_code(
        app, db, factory, make_api, workers, settings, power_company):
    case_no = given_to_the_power_company(factory, make_api)
    assert power_company.received == []  # the assignment did not wait for the platform
    workers()
    [sent] = power_company.received
    assert sent.fields["api_key"] == "k-123" and sent.fields["jurisdiction_id"] == "nantong-power"
    assert sent.fields["service_code"] == "SL01"
    assert sent.fields["attribute[client_report_id]"] == case_no
    assert abs(float(sent.fields["lat"]) - 32.015) < 1e-5 and abs(float(sent.fields["long"]) - 120.855) < 1e-5
    assert "路灯不亮" in sent.fields["description"] and case_no in sent.fields["description"]
    assert "phone" not in sent.fields and "email" not in sent.fields  # no reporter's identity leaves us
    [(part, data)] = sent.files
    assert part == "media"
    picture = Image.open(BytesIO(data))
    assert picture.format == "JPEG" and not picture.getexif()  # the web copy, never the original with its GPS
    request = _request(db, case_no)
    assert request.token == "tok-1" and request.service_request_id is None and request.sent_at is not None
    _, page = _desk_page(app, case_no)
    assert "单位平台：供电公司" in page and "待平台给出编号" in page


def test_a_fix_on_the_platform_becomes_fixed_awaiting_the_check_with_its_note_and_photo_once(
        app, db, factory, make_api, workers, settings, power_company):
    case_no = given_to_the_power_company(factory, make_api)
    workers()
    power_company.photos["/photos/after-1.jpg"] = photo_jpeg(seed=77)
    power_company.updates = [
        {"update_id": "u-1", "service_request_id": "248", "status": "IN_PROGRESS",
         "updated_datetime": _w3c(datetime.now(UTC) - timedelta(minutes=5)), "description": "已派抢修班"},
        {"update_id": "u-2", "service_request_id": "248", "status": "FIXED",
         "updated_datetime": _w3c(datetime.now(UTC)), "description": "灯已修好",
         "media_url": f"{power_company.url}/photos/after-1.jpg"},
        {"update_id": "u-9", "service_request_id": "999", "status": "FIXED",  # another system's request
         "updated_datetime": _w3c(datetime.now(UTC)), "description": "不是我们的"}]
    poll(settings)
    case = _case(db, case_no)
    assert case.state == CaseState.RESOLVED and case.resolved_at is not None
    assert _request(db, case_no).service_request_id == "248"  # the token was exchanged for its id
    resolve = db.scalar(sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "resolve"))
    assert resolve.note == "灯已修好" and resolve.actor.display_name == "供电公司（平台）"
    [after] = [p for p in case.photos if p.kind == "after"]
    assert after.web_path is not None  # its copies were made, as for a photo taken in the field
    assert any("/tokens/tok-1.xml" in asked for asked in power_company.asked)
    events = db.scalar(sa.select(sa.func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id))
    poll(settings)
    poll(settings)
    case = _case(db, case_no)
    assert db.scalar(sa.select(sa.func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id)) == events
    assert len([p for p in case.photos if p.kind == "after"]) == 1
    assert db.scalar(sa.select(sa.func.count(UnitUpdate.id))) == 2  # each of its updates kept once
    _, page = _desk_page(app, case_no)
    assert "平台编号 <code>248</code>" in page and "灯已修好" in page


def test_no_further_action_sends_the_case_back_to_the_desk_with_the_platforms_reason(
        app, db, factory, make_api, workers, settings, power_company):
    case_no = given_to_the_power_company(factory, make_api)
    workers()
    power_company.updates = [{"update_id": "u-3", "service_request_id": "248", "status": "no_further_action",
                              "updated_datetime": _w3c(datetime.now(UTC)), "description": "该灯属市政路灯所"}]
    poll(settings)
    case = _case(db, case_no)
    assert case.state == CaseState.UNROUTED and case.assignee_unit is None
    back = db.scalar(sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "send_back"))
    assert back.facts["reason"] == "not_ours" and back.note == "该灯属市政路灯所"
    assert _request(db, case_no).ended_at is not None  # no longer followed
    asked = len(power_company.asked)
    poll(settings)
    assert len(power_company.asked) == asked  # nothing left to follow: the platform is not asked


def test_a_platform_without_the_updates_extension_is_followed_through_its_requests(
        app, db, factory, make_api, workers, settings, power_company):
    power_company.post_answer = (f"{XML}<service_requests><request><service_request_id>  77 </service_request_id>"
                                 "</request></service_requests>")
    power_company.updates_status = 404
    case_no = given_to_the_power_company(factory, make_api)
    workers()
    assert _request(db, case_no).service_request_id == "77"
    power_company.requests_answer = (
        f"{XML}<service_requests><request><service_request_id>77</service_request_id><status>closed</status>"
        f"<status_notes>已更换灯泡</status_notes><updated_datetime>{_w3c(datetime.now(UTC))}</updated_datetime>"
        "</request></service_requests>")
    poll(settings)
    assert any(a.startswith("/requests.xml?") and "service_request_id=77" in a for a in power_company.asked)
    case = _case(db, case_no)
    assert case.state == CaseState.RESOLVED
    assert db.scalar(sa.select(CaseEvent.note).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.action == "resolve")) == "已更换灯泡"


def test_a_platform_that_is_down_is_tried_again_and_staff_see_it_and_can_send_again(
        app, db, factory, make_api, workers, settings, power_company):
    power_company.post_status = 503
    power_company.post_answer = "503 - service unavailable"
    case_no = given_to_the_power_company(factory, make_api)
    workers()
    assert _case(db, case_no).state == CaseState.DISPATCHED  # the assignment stands
    request = _request(db, case_no)
    assert request.sent_at is None and request.attempts == 1 and "HTTP 503" in request.last_error
    scheduled = rq_queue("default", redis_connection(settings.redis_url)).scheduled_job_registry.get_job_ids()
    assert f"send_to_unit-{request.id}" in scheduled  # RQ tries again later, with backoff
    staff, page = _desk_page(app, case_no)
    assert "发送失败（已试 1 次）" in page and f"/desk/cases/{case_no}/resend" in page
    power_company.post_status, power_company.post_answer = 200, FakePlatform().post_answer
    answer = staff.post(f"/desk/cases/{case_no}/resend")
    assert answer.status_code == 303
    workers()
    request = _request(db, case_no)
    assert request.sent_at is not None and request.last_error is None and request.token == "tok-1"
    assert len(power_company.received) == 2
    page = staff.get(f"/desk/cases/{case_no}").get_data(as_text=True)
    assert "发送失败（" not in page and f"/desk/cases/{case_no}/resend" not in page and "平台编号" not in page
    again = staff.post(f"/desk/cases/{case_no}/resend")  # nothing left to send: said so, nothing sent
    assert again.status_code == 303 and len(power_company.received) == 2


def test_a_case_taken_from_the_unit_before_it_was_sent_is_not_sent(
        app, db, factory, make_api, settings, workers, power_company):
    case_no = given_to_the_power_company(factory, make_api)
    assert make_api("staff1").act(case_no, "assign", assignee="gw06").status_code == 200
    workers()
    assert power_company.received == [] and _request(db, case_no).ended_at is not None


@pytest.mark.parametrize(("answer", "words"), [
    (f"{XML}<service_requests><request><service_request_id></service_request_id></request></service_requests>",
     "neither"),
    (f"{XML}<service_requests><request><service_request_id><bad_data>BAD</bad_data></service_request_id>"
     "</request></service_requests>", "neither"),
    (f"{XML}<errors><error><code>400</code><description>There was an error</description</error></errors>",
     "There was an error"),
    (f"{XML}<errors><error><code>400</code><description>Service Code cannot be null -- can't proceed with the "
     "request.</description></error></errors>", "Service Code cannot be null"),
    ("503 - service unavailable", "unreadable"),
], ids=["empty-id", "bad-data", "malformed-error", "error-list", "plain-text"])
def test_answers_fixmystreet_counts_as_failures_are_failures_with_the_servers_words(answer, words):
    with Serving(FakePlatform(post_answer=answer)) as fake, pytest.raises(RemoteError, match=words):
        Platform(fake.url, "k").post_request({"service_code": "SL01"}, [])


def test_an_update_listing_is_read_whatever_its_root_is_called_and_whatever_case_its_status():
    with Serving(FakePlatform()) as fake:
        fake.updates = [{"update_id": "9", "service_request_id": "248", "status": "fixed",
                         "updated_datetime": "2026-12-01T10:00:00+08:00", "description": "ok"},
                        {"update_id": "", "service_request_id": "248", "status": "FIXED"}]  # no id: not an update
        [update] = Platform(fake.url, "k").updates(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
        assert update.status == "FIXED" and update.updated_at == datetime(2026, 12, 1, 2, tzinfo=UTC)
        asked = unquote(fake.asked[0])
        assert "start_date=2026-12-01T00:00:00Z&end_date=2026-12-02T00:00:00Z" in asked and "api_key=k" in asked


def test_a_photo_is_fetched_only_from_the_platform_or_an_allowed_host_and_only_so_big():
    with Serving(FakePlatform(photos={"/p.jpg": b"x" * 5000})) as fake:
        platform = Platform(fake.url, "k")
        assert platform.fetch_photo("/p.jpg", 10_000, frozenset()) == b"x" * 5000  # relative: the platform's own
        with pytest.raises(RemoteError, match="larger than"):
            platform.fetch_photo("/p.jpg", 4000, frozenset())
        with pytest.raises(RemoteError, match="not an allowed host"):
            platform.fetch_photo("http://169.254.169.254/latest/meta-data", 10_000, frozenset())
        with pytest.raises(RemoteError, match="not an allowed host"):
            platform.fetch_photo("file:///etc/passwd", 10_000, frozenset())


@pytest.mark.parametrize(("given", "words"), [
    ({"endpoint": "ftp://x"}, "http or https"),
    ({"endpoint": "https://x", "format": "csv"}, "xml or json"),
    ({"endpoint": "https://x", "apikey": "k"}, "unknown settings: apikey"),
    ({"endpoint": "https://x", "service_codes": ["SL01"]}, "service_codes"),
])
def test_a_units_platform_settings_are_checked_when_the_district_is_loaded(db, tmp_path, given, words):
    with pytest.raises(ValueError, match=words):
        PlatformSettings.read(given)
    path = tmp_path / "units.json"
    path.write_text(json.dumps({"units": [{"code": UNIT, "name": "供电公司", "open311": given}]}),
                    encoding="utf-8")
    with pytest.raises(DistrictFileError, match=f"{UNIT}: .*{words}"):
        load_units(db, path)
    db.rollback()
