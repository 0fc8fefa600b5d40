"""Our Open311 GeoReport v2 server read as the spec writes it, in both formats: discovery, services and their
definitions, a request and the request list with every filter, tokens, photos by signed link, and errors."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from xml.etree import ElementTree

import pytest
from PIL import Image

from service.states import CaseState

BASE = "/open311/v2"
W3C = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"]


def xml_of(response, root: str) -> ElementTree.Element:
    """The XML answer's root, after checking what every XML answer must be: UTF-8 text/xml with its declaration."""
    assert response.content_type == "text/xml; charset=utf-8", response.content_type
    assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), response.data[:60]
    element = ElementTree.fromstring(response.data)
    assert element.tag == root, (element.tag, root)
    assert not element.attrib
    return element


def json_of(response):
    assert response.content_type == "application/json; charset=utf-8", response.content_type
    return response.get_json()


def errors_of(response, status: int, fmt: str = "xml") -> list[tuple[int, str]]:
    """The error list of an error answer, after checking its status and that it is a list of code+description."""
    assert response.status_code == status, (response.status_code, response.data[:300])
    if fmt == "json":
        body = json_of(response)
        assert isinstance(body, list) and body and all(set(e) == {"code", "description"} for e in body), body
        return [(e["code"], e["description"]) for e in body]
    root = xml_of(response, "errors")
    return [(int(e.findtext("code")), e.findtext("description")) for e in root.findall("error")]


def test_discovery_says_where_the_endpoint_is_and_that_it_speaks_both_formats(client):
    root = xml_of(client.get(f"{BASE}/discovery.xml"), "discovery")
    assert W3C.match(root.findtext("changeset"))
    [endpoint] = root.findall("endpoints/endpoint")
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url") == "http://localhost/open311/v2/"  # clients join paths to it
    assert endpoint.findtext("type") == "production"
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]
    body = json_of(client.get(f"{BASE}/discovery.json"))
    assert body["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)


def test_services_are_the_active_categories_each_realtime_with_metadata(client, db):
    from service.models import Category
    active = sorted(c.code for c in db.query(Category).filter(Category.active.is_(True)))
    root = xml_of(client.get(f"{BASE}/services.xml"), "services")
    services = root.findall("service")
    assert [s.findtext("service_code") for s in services] == active
    lamp = next(s for s in services if s.findtext("service_code") == "B0118")
    assert lamp.findtext("service_name") == db.query(Category).filter_by(code="B0118").one().name
    assert (lamp.findtext("metadata"), lamp.findtext("type")) == ("true", "realtime")
    assert lamp.findtext("group") == "公用设施" and "公用设施" in lamp.findtext("keywords").split(",")
    body = json_of(client.get(f"{BASE}/services.json"))
    assert isinstance(body, list) and [s["service_code"] for s in body] == active
    assert body[0]["metadata"] is True and body[0]["type"] == "realtime"


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_service_definition_lists_its_attributes_in_order(client, fmt):
    response = client.get(f"{BASE}/services/B0118.{fmt}")
    if fmt == "xml":
        root = xml_of(response, "service_definition")
        assert root.findtext("service_code") == "B0118"
        attributes = [{"code": a.findtext("code"), "datatype": a.findtext("datatype"),
                       "order": int(a.findtext("order")),
                       "required": a.findtext("required"), "variable": a.findtext("variable"),
                       "values": [v.findtext("key") for v in a.findall("values/value")]}
                      for a in root.findall("attributes/attribute")]
    else:
        body = json_of(response)
        assert body["service_code"] == "B0118"
        attributes = [{**a, "values": [v["key"] for v in a["values"]],
                       "required": str(a["required"]).lower(), "variable": str(a["variable"]).lower()}
                      for a in body["attributes"]]
    by_code = {a["code"]: a for a in attributes}
    assert by_code["coord_system"]["datatype"] == "singlevaluelist"
    assert by_code["coord_system"]["values"] == ["wgs84", "gcj02", "bd09"]
    assert by_code["client_report_id"]["datatype"] == "string"
    orders = [a["order"] for a in attributes]
    assert orders == sorted(orders) and len(set(orders)) == len(orders) and min(orders) >= 1
    assert all(a["required"] == "false" and a["variable"] == "true" for a in attributes)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_an_unknown_service_resource_or_format_is_a_404_error_list(client, fmt):
    [(code, text)] = errors_of(client.get(f"{BASE}/services/NOPE.{fmt}"), 404, fmt)
    assert code == 404 and "NOPE" in text
    errors_of(client.get(f"{BASE}/no-such-thing.{fmt}"), 404, fmt)
    errors_of(client.get(f"{BASE}/requests/20991231-9999.{fmt}"), 404, fmt)
    errors_of(client.get(f"{BASE}/tokens/unknown-token.{fmt}"), 404, fmt)
    errors_of(client.get(f"{BASE}/services.html"), 404)  # no such format: the spec's XML error
    errors_of(client.get(f"{BASE}/services.xml?jurisdiction_id=elsewhere.gov"), 404)


def _request_fields(element: ElementTree.Element) -> dict:
    return {child.tag: child.text or "" for child in element}


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_request_has_the_spec_fields_and_no_reporter(client, factory, fmt):
    case = factory.case_in(CaseState.DISPATCHED, description="路灯不亮")
    response = client.get(f"{BASE}/requests/{case.case_no}.{fmt}")
    if fmt == "xml":
        [element] = xml_of(response, "service_requests").findall("request")
        request = _request_fields(element)
        assert [child.tag for child in element] == REQUEST_FIELDS
        lat, lon = float(request["lat"]), float(request["long"])
    else:
        [request] = json_of(response)
        assert list(request) == REQUEST_FIELDS
        lat, lon = request["lat"], request["long"]
        assert isinstance(lat, float) and isinstance(lon, float)
    assert request["service_request_id"] == case.case_no and request["status"] == "open"
    assert request["service_code"] == "B0118" and request["description"] == "路灯不亮"
    assert (lat, lon) == pytest.approx((case.lat, case.lon))
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3C.match(request[name]), (name, request[name])
    assert datetime.strptime(request["expected_datetime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == \
        case.deadline_at.replace(microsecond=0)
    assert request["agency_responsible"] == f"{case.grid.name}网格"
    assert case.community.name in request["address"]
    assert "rider1" not in response.get_data(as_text=True)
    assert case.reporter.display_name not in response.get_data(as_text=True)


def test_closed_not_accepted_and_merged_cases_are_closed_with_their_public_note(client, factory):
    closed = factory.case_in(CaseState.CLOSED)
    rejected = factory.case_in(CaseState.REJECTED)
    merged = factory.case_in(CaseState.DUPLICATE)
    body = json_of(client.get(f"{BASE}/requests.json?service_request_id="
                              f"{closed.case_no},{rejected.case_no},{merged.case_no}"))
    by_id = {r["service_request_id"]: r for r in body}
    assert {r["status"] for r in body} == {"closed"} and len(body) == 3
    assert by_id[rejected.case_no]["status_notes"] == rejected.events[-1].note != ""
    assert by_id[closed.case_no]["status_notes"] == closed.events[-1].note != ""
    assert merged.duplicate_of.case_no in by_id[merged.case_no]["status_notes"]


def test_the_request_list_filters_by_service_status_and_time(client, factory):
    lamp = factory.case_in(CaseState.DISPATCHED, category="B0118")
    closed = factory.case_in(CaseState.CLOSED, category="B0118")
    other = factory.case_in(CaseState.DISPATCHED, category="B0101")

    def ids(query: str) -> list[str]:
        return [r["service_request_id"] for r in json_of(client.get(f"{BASE}/requests.json?{query}"))]

    assert ids("") == [other.case_no, closed.case_no, lamp.case_no]  # newest first, the last 90 days
    assert ids("service_code=B0118") == [closed.case_no, lamp.case_no]
    assert ids("service_code=B0118,B0101&status=open") == [other.case_no, lamp.case_no]
    assert ids("status=closed") == [closed.case_no]
    assert ids("status=open,closed") == ids("")
    assert ids(f"service_request_id={lamp.case_no}&status=closed&service_code=B0101") == [lamp.case_no]
    assert ids("page_size=2") == [other.case_no, closed.case_no] and ids("page=2&page_size=2") == [lamp.case_no]
    now = datetime.now(UTC)
    long_ago = (now - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(f"end_date={long_ago}") == []
    def beijing(instant: datetime) -> str:  # the local time of that instant, with its zone, as a query value
        return (instant + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S%%2B08:00")

    assert ids(f"start_date={beijing(now + timedelta(hours=1))}") == []
    assert len(ids(f"start_date={beijing(now - timedelta(hours=1))}")) == 3
    assert len(ids(f"start_date={(now - timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%S.5Z')}")) == 3
    xml = xml_of(client.get(f"{BASE}/requests.xml?service_code=B0101"), "service_requests")
    assert [r.findtext("service_request_id") for r in xml.findall("request")] == [other.case_no]


@pytest.mark.parametrize("query", ["start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
                                   "start_date=2026-01-01", "end_date=yesterday", "start_date=2026-02-30T00:00:00Z",
                                   "end_date=0001-01-01T00:00:00Z", "status=pending", "page=0", "page_size=1001",
                                   "start_date=2026-06-01T00:00:00Z&end_date=2026-05-01T00:00:00Z",
                                   "page=%EF%BC%91"])
def test_a_bad_filter_is_a_400_error_list_naming_it(client, query):
    [(code, text)] = errors_of(client.get(f"{BASE}/requests.json?{query}"), 400, "json")
    assert code == 400 and text


def test_a_jurisdiction_narrows_every_answer_to_its_part_of_the_district(client, factory, db):
    from service.models import Community
    case = factory.case_in(CaseState.DISPATCHED)
    community = db.get(Community, case.community_id)
    other = db.query(Community).filter(Community.id != community.id).first()
    assert [r["service_request_id"] for r in json_of(client.get(
        f"{BASE}/requests.json?jurisdiction_id={community.code}"))] == [case.case_no]
    assert json_of(client.get(f"{BASE}/requests.json?jurisdiction_id={other.code}")) == []
    assert len(json_of(client.get(f"{BASE}/requests.json?jurisdiction_id={community.street_office.code}"))) == 1
    assert len(json_of(client.get(f"{BASE}/requests.json?jurisdiction_id=chongchuan"))) == 1
    errors_of(client.get(f"{BASE}/requests/{case.case_no}.xml?jurisdiction_id={other.code}"), 404)
    errors_of(client.get(f"{BASE}/requests.xml?jurisdiction_id=nowhere"), 404)


def test_a_token_is_the_case_number_we_answered_with(client, factory):
    case = factory.case_in(CaseState.NEW)
    [answer] = json_of(client.get(f"{BASE}/tokens/{case.case_no}.json"))
    assert answer == {"service_request_id": case.case_no, "token": case.case_no}


def test_media_url_is_a_signed_link_to_the_exif_free_web_copy_that_anyone_may_open(client, factory):
    case = factory.case_in(CaseState.DISPATCHED)
    [request] = json_of(client.get(f"{BASE}/requests/{case.case_no}.json"))
    url = request["media_url"]
    assert url.startswith("http://localhost/open311/v2/media/") and "sig=" in url and "expires=" in url
    photo = client.get(url.removeprefix("http://localhost"))
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    image = Image.open(BytesIO(photo.data))
    assert not image.getexif() and max(image.size) <= 1600
    expires = int(re.search(r"expires=(\d+)", url).group(1))
    assert expires - datetime.now(UTC).timestamp() > 89 * 86400  # OPEN311_MEDIA_DAYS, 90 by default
    tampered = url.replace("sig=", "sig=0")
    errors_of(client.get(tampered.removeprefix("http://localhost")), 403)
    longer = url.replace(f"expires={expires}", f"expires={expires + 86400}")
    errors_of(client.get(longer.removeprefix("http://localhost")), 403)
    original = photo.data
    assert original != (factory.services.photos.path(case.photos[0].original_path)).read_bytes()


def test_an_error_raised_anywhere_under_the_endpoint_is_an_error_list_never_a_page(client):
    errors_of(client.delete(f"{BASE}/services.xml"), 405)
    errors_of(client.get(f"{BASE}/requests.json?status=%00"), 400, "json")
