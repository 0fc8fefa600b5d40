"""Conformance: every rule of GeoReport v2 and mySociety's servicerequestupdates, walked in XML and in JSON."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from support import HONGQIAO
from test_open311 import json_of, xml_of
from test_open311_post import post

from service.geo import from_wgs84
from service.models import Case, Community
from service.states import CaseState

BASE = "/open311/v2"
# the spec's lists: each container element and its repeated child (JSON writes them as arrays, even of one)
LISTS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
         "values": "value", "endpoints": "endpoint", "formats": "format", "service_request_updates": "request_update"}
W3C = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\Z")  # a zone, whole seconds
DISCOVERY = ["changeset", "contact", "key_service", "endpoints"]
ENDPOINT = ["specification", "url", "changeset", "type", "formats"]
SERVICE = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
ATTRIBUTE = ["variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"]
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
REQUEST = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
           "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
           "address", "address_id", "zipcode", "lat", "long", "media_url"]
UPDATE = ["update_id", "service_request_id", "status", "updated_datetime", "description", "media_url"]
EXTENDED_STATUSES = {"open", "investigating", "in_progress", "action_scheduled", "fixed", "closed", "duplicate",
                     "not_councils_responsibility", "no_further_action", "internal_referral", "reopen"}


@pytest.fixture(params=["xml", "json"])
def fmt(request) -> str:
    """Each test that takes it runs once in each format."""
    return request.param


def spark(element):
    """An XML element as the spec maps it to JSON (the Spark convention): a list's items as an array, even of one;
    an element of fields as an object; text as text, an empty element as null."""
    if element.tag in LISTS:
        assert {child.tag for child in element} <= {LISTS[element.tag]}, (element.tag, [c.tag for c in element])
        return [spark(child) for child in element]
    if len(element):
        assert len({child.tag for child in element}) == len(element), [c.tag for c in element]
        return {child.tag: spark(child) for child in element}
    return element.text or None


def read(response, fmt: str, root: str, status: int = 200):
    """The answer as the JSON form: parsed JSON, or the XML mapped by the Spark convention."""
    assert response.status_code == status, (response.status_code, response.data[:300])
    return json_of(response) if fmt == "json" else spark(xml_of(response, root))


def get(client, fmt: str, resource: str, root: str, **query):
    """GET the resource in the format with the query: its answer as the JSON form (200 expected)."""
    return read(client.get(f"{BASE}/{resource}.{fmt}", query_string=query), fmt, root)


def number(value, fmt: str) -> float:
    """A JSON number, or the XML text of one."""
    if fmt == "xml":
        return float(value)
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return value


def boolean(value, fmt: str) -> bool:
    """A JSON boolean, or XML's true or false."""
    if fmt == "xml":
        assert value in ("true", "false"), value
        return value == "true"
    assert isinstance(value, bool), value
    return value


def flat(value):
    """JSON scalars as XML writes them, for comparing the two formats."""
    if isinstance(value, list):
        return [flat(v) for v in value]
    if isinstance(value, dict):
        return {k: flat(v) for k, v in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def errors(response, fmt: str, status: int) -> list[dict]:
    """An error answer: its status, never a page, and the spec's list of code and description."""
    assert not response.data.lstrip()[:20].lower().startswith((b"<!doctype", b"<html")), response.data[:80]
    found = read(response, fmt, "errors", status)
    assert isinstance(found, list) and found, found
    for error in found:
        assert list(error) == ["code", "description"] and number(error["code"], fmt) == status, error
        assert error["description"], error
    return found


def at(text: str) -> datetime:
    """A W3C date-time as an instant."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _z(instant: datetime) -> str:
    """An instant as FixMyStreet writes one (DateTime::Format::W3CDTF, in UTC)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def updates(client, key: str, fmt: str, **window) -> list[dict]:
    """GET servicerequestupdates with the client's key, as FixMyStreet polls it."""
    return get(client, fmt, "servicerequestupdates", "service_request_updates", api_key=key, **window)


def test_json_is_the_xml_mapped_by_the_spark_convention(client, factory, hotline):
    closed = factory.case_in(CaseState.CLOSED)
    now = datetime.now(UTC)
    window = {"start_date": _z(now - timedelta(hours=1)), "end_date": _z(now + timedelta(minutes=1))}
    resources = [("discovery", "discovery", {}), ("services", "services", {}),
                 ("services/B0118", "service_definition", {}), ("requests", "service_requests", window),
                 (f"requests/{closed.case_no}", "service_requests", {}),
                 (f"tokens/{closed.case_no}", "service_requests", {}),
                 ("servicerequestupdates", "service_request_updates", {"api_key": hotline, **window}),
                 ("services/NOPE", "errors", {}), ("requests", "errors", {"status": "pending"})]
    for resource, root, query in resources:
        xml, json = (client.get(f"{BASE}/{resource}.{f}", query_string=query) for f in ("xml", "json"))
        assert xml.status_code == json.status_code, resource
        assert flat(json_of(json)) == spark(xml_of(xml, root)), resource
    xml, json = (post(client, hotline, f, **{"attribute[client_report_id]": "r1"}) for f in ("xml", "json"))
    assert flat(json_of(json)) == spark(xml_of(xml, "service_requests"))  # the same request, filed once


def test_discovery_gives_every_required_field_and_the_endpoint_in_both_formats(client, fmt):
    found = get(client, fmt, "discovery", "discovery")
    assert list(found) == DISCOVERY and all(found[name] for name in DISCOVERY), found  # "all fields are required"
    assert W3C.match(found["changeset"])
    [endpoint] = found["endpoints"]
    assert list(endpoint) == ENDPOINT and endpoint["type"] in ("production", "test")
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert urlsplit(endpoint["url"]).scheme in ("http", "https") and endpoint["url"].endswith("/")
    assert {"text/xml", "application/json"} <= set(endpoint["formats"]) and W3C.match(endpoint["changeset"])


def test_each_service_has_the_spec_fields_in_order_with_their_types(client, fmt):
    found = get(client, fmt, "services", "services")
    assert isinstance(found, list) and found
    for service in found:
        assert list(service) == SERVICE, service
        assert service["service_code"] and service["service_name"] and service["group"]
        assert boolean(service["metadata"], fmt) is True and service["type"] == "realtime"  # answered with an id
        assert all(k.strip() for k in service["keywords"].split(","))
    assert len({s["service_code"] for s in found}) == len(found)


def test_a_service_definition_types_each_attribute_and_its_values(client, fmt):
    found = get(client, fmt, "services/B0118", "service_definition")
    assert list(found) == ["service_code", "attributes"] and found["service_code"] == "B0118"
    orders = []
    for attribute in found["attributes"]:
        assert list(attribute) == ATTRIBUTE, attribute
        assert boolean(attribute["variable"], fmt) is True and boolean(attribute["required"], fmt) in (True, False)
        assert attribute["datatype"] in DATATYPES and attribute["code"] and attribute["description"]
        orders.append(number(attribute["order"], fmt))
        values = attribute["values"] or []
        assert bool(values) == attribute["datatype"].endswith("valuelist"), attribute
        assert all(list(v) == ["key", "name"] and v["key"] and v["name"] for v in values)
        assert len({v["key"] for v in values}) == len(values)
    assert all(o == int(o) >= 1 for o in orders) and len(set(orders)) == len(orders)


def _answer(response, fmt: str, status: int = 201) -> str:
    """The POST answer: a list of one request holding its id (realtime: never a token), its notice and account."""
    [answer] = read(response, fmt, "service_requests", status)
    assert list(answer) == ["service_request_id", "service_notice", "account_id"], answer
    assert answer["service_request_id"]
    return answer["service_request_id"]


def _one(client, fmt: str, case_no: str) -> dict:
    """GET requests/{id}: a list of one request, its fields the spec's in the spec's order."""
    [found] = get(client, fmt, f"requests/{case_no}", "service_requests")
    assert list(found) == REQUEST and found["service_request_id"] == case_no
    return found


def test_the_specs_own_example_request_is_filed_and_read_back(client, hotline, fmt):
    body = (f"api_key={hotline}&jurisdiction_id=chongchuan&service_code=B0118&lat={HONGQIAO['lat']}"
            f"&long={HONGQIAO['lon']}&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111"
            "&account_id=123456&first_name=john&last_name=smith&phone=111111111"
            "&description=A+large+sinkhole+is+destroying+the+street"
            "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
            "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001")
    response = client.post(f"{BASE}/requests.{fmt}", data=body,
                           content_type="application/x-www-form-urlencoded; charset=utf-8")
    found = _one(client, fmt, _answer(response, fmt))
    assert found["description"] == "A large sinkhole is destroying the street" and found["status"] == "open"
    assert (number(found["lat"], fmt), number(found["long"], fmt)) == pytest.approx(
        (float(HONGQIAO["lat"]), float(HONGQIAO["lon"])))
    assert "smith" not in str(found) and "111111111" not in str(found)


def test_fixmystreet_files_a_report_as_its_open311_client_builds_it(client, hotline, workers, fmt):
    description = "title: 路灯不亮\n\ndetail: 整条路都黑了 & 气温<5度\n\nurl: https://fms.example.cn/report/4417" \
                  "\n\nSubmitted via FixMyStreet\n"
    fields = {"jurisdiction_id": "chongchuan", "description": description, "first_name": "三", "last_name": "张",
              "email": "zhang@example.cn", "deviceid": "iOS", "attribute[fixmystreet_id]": f"4417{fmt}",
              "attribute[title]": "路灯不亮", "attribute[report_url]": "https://fms.example.cn/report/4417",
              "attribute[closest_address]": "", "attribute[easting]": "0"}  # its extra fields, even empty ones
    case_no = _answer(post(client, hotline, fmt, files={"photo1": photo_jpeg(seed=41)}, **fields), fmt)
    assert _answer(post(client, hotline, fmt, **fields), fmt, 200) == case_no  # sent again: the same request
    workers()
    found = _one(client, fmt, case_no)
    assert found["description"] == description.strip()  # its line breaks kept, in either format
    assert urlsplit(found["media_url"]).scheme == "http" and "/open311/v2/media/" in found["media_url"]
    assert client.get(found["media_url"]).mimetype == "image/jpeg"  # readable without a login


def test_an_empty_argument_is_an_absent_one(client, factory, hotline, fmt):
    case = factory.case_in(CaseState.DISPATCHED)
    empty = dict.fromkeys(["jurisdiction_id", "service_request_id", "service_code", "start_date", "end_date",
                           "status", "page", "page_size"], "")
    assert get(client, fmt, "requests", "service_requests", **empty) == get(client, fmt, "requests",
                                                                               "service_requests")
    assert [r["service_request_id"] for r in get(client, fmt, "requests", "service_requests", **empty)] == [
        case.case_no]
    assert get(client, fmt, "services", "services", jurisdiction_id="") == get(client, fmt, "services", "services")
    blank = dict.fromkeys(["jurisdiction_id", "address_string", "email", "device_id", "account_id", "first_name",
                           "last_name", "phone", "description", "media_url", "attribute[coord_system]",
                           "attribute[client_report_id]"], "")
    _answer(post(client, hotline, fmt, **blank), fmt)
    assert len(updates(client, hotline, fmt, start_date="", end_date="")) >= 1  # neither date: the last day


def test_a_request_is_published_in_wgs84_with_its_status_for_every_state(client, factory, hotline, fmt):
    lat, lon = from_wgs84(float(HONGQIAO["lat"]), float(HONGQIAO["lon"]), "bd09")
    posted = _one(client, fmt, _answer(post(client, hotline, fmt, lat=f"{lat:.7f}", long=f"{lon:.7f}", **{
        "attribute[coord_system]": "bd09"}), fmt))
    assert (number(posted["lat"], fmt), number(posted["long"], fmt)) == pytest.approx(
        (float(HONGQIAO["lat"]), float(HONGQIAO["lon"])), abs=2e-5)
    assert posted["expected_datetime"] is None  # not dispatched yet: no deadline ("may not be returned")
    for state in CaseState:
        case = factory.case_in(state)
        found = _one(client, fmt, case.case_no)
        closed = state in (CaseState.CLOSED, CaseState.REJECTED, CaseState.DUPLICATE)
        assert found["status"] == ("closed" if closed else "open"), (state, found["status"])
        assert bool(found["status_notes"]) == closed, (state, found["status_notes"])
        for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
            assert found[name] is None or W3C.match(found[name]), (name, found[name])
        assert -90 <= number(found["lat"], fmt) <= 90 and -180 <= number(found["long"], fmt) <= 180
        assert found["service_code"] == "B0118" and found["service_name"] and found["agency_responsible"]
        assert at(found["requested_datetime"]) <= at(found["updated_datetime"])
        if state == CaseState.CLOSED:  # "for requests with status=closed, the date the request was closed"
            [*_, closing] = [u for u in updates(client, hotline, fmt) if u["service_request_id"] == case.case_no]
            assert (closing["status"], closing["updated_datetime"]) == ("closed", found["updated_datetime"])


def _ids(client, fmt: str, **query) -> list[str]:
    """The ids the request list answers for the query, in its order."""
    found = get(client, fmt, "requests", "service_requests", **query)
    assert isinstance(found, list)  # a list in either format, even of one or none
    return [r["service_request_id"] for r in found]


def test_every_filter_of_the_request_list_and_its_pages(client, factory, db, fmt):
    lamp, closed = factory.case_in(CaseState.DISPATCHED), factory.case_in(CaseState.CLOSED)
    other, old = factory.case_in(CaseState.RESOLVED, category="B0101"), factory.case_in(CaseState.DISPATCHED)
    long_ago = datetime.now(UTC) - timedelta(days=120)
    db.execute(sa.update(Case).where(Case.id == old.id).values(created_at=long_ago))
    db.commit()
    assert _ids(client, fmt) == [other.case_no, closed.case_no, lamp.case_no]  # the last 90 days by default
    old_window = {"start_date": _z(long_ago - timedelta(days=1)), "end_date": _z(long_ago + timedelta(days=1))}
    assert _ids(client, fmt, **old_window) == [old.case_no]
    assert _ids(client, fmt, service_request_id=f"{old.case_no}, {lamp.case_no},nope", status="closed",
                service_code="B0101", **old_window) == [lamp.case_no, old.case_no]  # overrides all the others
    assert _ids(client, fmt, service_code="B0101") == [other.case_no]
    assert _ids(client, fmt, service_code="B0101,B0118", status="open") == [other.case_no, lamp.case_no]
    assert _ids(client, fmt, status="closed") == [closed.case_no]
    assert _ids(client, fmt, status="closed,open") == _ids(client, fmt)
    assert _ids(client, fmt, page_size="2") + _ids(client, fmt, page="2", page_size="2") == _ids(client, fmt)
    assert _ids(client, fmt, page="3", page_size="2") == []
    published = _one(client, fmt, lamp.case_no)["requested_datetime"]  # whole seconds: found at its own second
    beijing = at(published).astimezone(timezone(timedelta(hours=8))).isoformat()
    for second in (published, beijing):
        found = get(client, fmt, "requests", "service_requests", start_date=second, end_date=second)
        assert lamp.case_no in [r["service_request_id"] for r in found]
        assert {r["requested_datetime"] for r in found} == {published}


def test_the_window_is_at_most_ninety_days_whichever_date_is_given(client, factory, fmt):
    case = factory.case_in(CaseState.DISPATCHED)
    now = datetime.now(UTC)
    assert _ids(client, fmt, start_date=_z(now - timedelta(days=90)), end_date=_z(now)) == [case.case_no]
    assert _ids(client, fmt, end_date=_z(now + timedelta(days=89))) == [case.case_no]  # the 90 days before it
    assert _ids(client, fmt, end_date=_z(now + timedelta(days=91))) == []
    assert _ids(client, fmt, start_date=_z(now - timedelta(days=1))) == [case.case_no]
    for query in ({"start_date": _z(now - timedelta(days=90, seconds=1)), "end_date": _z(now)},
                  {"start_date": _z(now), "end_date": _z(now - timedelta(seconds=1))},
                  {"start_date": "2026-01-01"}, {"end_date": "2026-01-01T08:00:00"}):
        errors(client.get(f"{BASE}/requests.{fmt}", query_string=query), fmt, 400)


def test_one_request_and_its_token_each_answer_a_list_of_one(client, factory, fmt):
    case = factory.case_in(CaseState.NEW)
    assert [r["service_request_id"] for r in get(client, fmt, f"requests/{case.case_no}", "service_requests")] == [
        case.case_no]
    assert get(client, fmt, f"tokens/{case.case_no}", "service_requests") == [
        {"service_request_id": case.case_no, "token": case.case_no}]


def test_a_jurisdiction_is_the_district_or_one_of_its_parts_and_any_other_is_404(client, factory, db, hotline, fmt):
    case = factory.case_in(CaseState.DISPATCHED)
    community = db.get(Community, case.community_id)
    for code in ("chongchuan", community.street_office.code, community.code):
        assert _ids(client, fmt, jurisdiction_id=code) == [case.case_no]
    resources = ["services", "services/B0118", "requests", f"requests/{case.case_no}", f"tokens/{case.case_no}",
                 "servicerequestupdates"]
    for resource in resources:
        answer = client.get(f"{BASE}/{resource}.{fmt}", query_string={"jurisdiction_id": "sfgov.org",
                                                                       "api_key": hotline})
        errors(answer, fmt, 404)
    errors(post(client, hotline, fmt, jurisdiction_id="sfgov.org"), fmt, 404)


KEY = object()  # stands for the test client's key


@pytest.mark.parametrize("method, resource, fields, status", [
    ("post", "requests", {"api_key": None}, 403), ("post", "requests", {"api_key": "wrong"}, 403),
    ("get", "servicerequestupdates", {}, 403), ("get", "servicerequestupdates", {"api_key": "wrong"}, 403),
    ("get", "services/NOPE", {}, 404), ("post", "requests", {"service_code": "NOPE"}, 404),
    ("get", "requests/20991231-9999", {}, 404), ("get", "tokens/unknown", {}, 404), ("get", "nothing", {}, 404),
    ("post", "requests", {"service_code": None}, 400), ("post", "requests", {"lat": None, "long": None}, 400),
    ("post", "requests", {"long": None}, 400),
    ("post", "requests", {"address_id": "545483", "lat": None, "long": None}, 400),  # we keep no address register
    ("get", "requests", {"status": "OPEN"}, 400), ("get", "requests", {"start_date": "yesterday"}, 400),
    ("get", "requests", {"page_size": "0"}, 400),
    ("get", "servicerequestupdates", {"api_key": KEY, "start_date": "2026-12-01T00:00:00Z"}, 400),
    ("delete", "requests", {}, 405),
])
def test_every_error_is_an_error_list_with_its_status_never_a_page(client, hotline, fmt, method, resource, fields,
                                                                   status):
    fields = {name: hotline if value is KEY else value for name, value in fields.items()}
    if method == "post":
        answer = post(client, fields.pop("api_key", hotline), fmt, **fields)
    else:
        answer = getattr(client, method)(f"{BASE}/{resource}.{fmt}", query_string=fields)
    errors(answer, fmt, status)


def test_updates_have_the_extension_fields_in_order_oldest_first_within_the_window(client, factory, hotline, fmt):
    closed, rejected = factory.case_in(CaseState.CLOSED), factory.case_in(CaseState.REJECTED)
    merged = factory.case_in(CaseState.DUPLICATE)
    now = datetime.now(UTC)
    window = {"start_date": _z(now - timedelta(hours=1)), "end_date": _z(now + timedelta(minutes=1))}
    found = updates(client, hotline, fmt, **window)
    for update in found:
        assert list(update) == UPDATE, update
        assert update["update_id"] and update["service_request_id"] and update["description"]
        assert update["status"].lower() in EXTENDED_STATUSES, update["status"]
        assert W3C.match(update["updated_datetime"])
        assert at(window["start_date"]) <= at(update["updated_datetime"]) <= at(window["end_date"])
    assert len({u["update_id"] for u in found}) == len(found)
    assert [at(u["updated_datetime"]) for u in found] == sorted(at(u["updated_datetime"]) for u in found)

    def statuses(case):
        return [u["status"].lower() for u in found if u["service_request_id"] == case.case_no]

    factory.act(closed, "reopen", note="又坏了")
    found = updates(client, hotline, fmt, **window)
    assert statuses(closed) == ["action_scheduled", "in_progress", "fixed", "closed", "reopen"]
    assert statuses(rejected) == ["action_scheduled", "no_further_action"]
    assert statuses(merged)[-1] == "duplicate"
    fixed = next(u for u in found if u["service_request_id"] == closed.case_no and u["status"] == "fixed")
    assert urlsplit(fixed["media_url"]).scheme == "http" and client.get(fixed["media_url"]).status_code == 200
    second = {"start_date": fixed["updated_datetime"], "end_date": fixed["updated_datetime"]}
    assert fixed["update_id"] in [u["update_id"] for u in updates(client, hotline, fmt, **second)]


def test_a_case_moved_between_desks_stays_open_for_clients_that_follow_it(client, factory, db, hotline, fmt):
    case = factory.case_in(CaseState.DISPATCHED)
    elsewhere = db.scalar(sa.select(Community).where(Community.id != case.community_id))
    factory.act(case, "transfer", note="不属本社区", community=elsewhere.code)
    [*_, moved] = [u for u in updates(client, hotline, fmt) if u["service_request_id"] == case.case_no]
    # FixMyStreet reads INTERNAL_REFERRAL as a closed state, and so does our own client (sent back: not ours)
    assert moved["status"].lower() == "open"
    assert _one(client, fmt, case.case_no)["status"] == "open"
