"""The updates extension FixMyStreet polls (GET servicerequestupdates): each public change of a request's state,
with a stable update_id, the extended status, its time and note and the after photo; and reads that need a key
when OPEN311_READS=key."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support import make_settings
from test_open311 import W3C, errors_of, json_of, xml_of
from test_open311_post import post

from service.models import Case
from service.states import CaseState
from service.web import create_app

BASE = "/open311/v2"


def _z(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")  # as FixMyStreet writes them (DateTime::Format::W3CDTF)


def updates(client, key, fmt: str = "json", **window) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"api_key": key, "jurisdiction_id": "chongchuan", **window}.items())
    response = client.get(f"{BASE}/servicerequestupdates.{fmt}?{query}")
    if fmt == "json":
        return json_of(response)
    root = xml_of(response, "service_request_updates")
    return [{child.tag: child.text or "" for child in u} for u in root.findall("request_update")]


def _worked_to_closed(client, hotline, workers, factory) -> Case:
    [answer] = json_of(post(client, hotline))
    workers()
    case = factory.session.scalar(sa.select(Case).where(Case.case_no == answer["service_request_id"]))
    worker = case.assignee.username
    factory.act(case, "start", by=worker)
    factory.after_photo(case)
    factory.act(case, "resolve", by=worker)
    factory.act(case, "close", note="路灯已更换")
    return case


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_each_change_of_state_is_one_update_with_its_extended_status(client, hotline, workers, factory, fmt):
    case = _worked_to_closed(client, hotline, workers, factory)
    found = updates(client, hotline, fmt)
    mine = [u for u in found if u["service_request_id"] == case.case_no]
    assert [u["status"] for u in mine] == ["action_scheduled", "in_progress", "fixed", "closed"]
    assert mine[-1]["description"] == "路灯已更换"
    assert all(W3C.match(u["updated_datetime"]) for u in mine)
    ids = [u["update_id"] for u in mine]
    assert len(set(ids)) == 4 and "0" not in ids and all(ids)
    assert [u["update_id"] for u in updates(client, hotline, fmt) if u["service_request_id"] == case.case_no] == ids
    fixed = mine[2]
    assert "/open311/v2/media/" in fixed["media_url"]  # the after photo
    photo = client.get(fixed["media_url"].removeprefix("http://localhost"))
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert not mine[0]["media_url"]  # empty: null in JSON, as the spec maps an empty element


def test_a_case_not_accepted_is_no_further_action_with_its_reason(client, hotline, workers, factory):
    [answer] = json_of(post(client, hotline))
    workers()
    case = factory.session.scalar(sa.select(Case).where(Case.case_no == answer["service_request_id"]))
    factory.act(case, "reject", note="不属于本区管辖")
    [*_, last] = updates(client, hotline)
    assert (last["status"], last["description"]) == ("no_further_action", "不属于本区管辖")
    assert case.state == CaseState.REJECTED


def test_the_window_is_both_dates_or_neither_and_its_updates_fall_within_it(client, hotline, workers, factory):
    case = _worked_to_closed(client, hotline, workers, factory)
    now = datetime.now(UTC)
    assert len(updates(client, hotline, start_date=_z(now - timedelta(hours=2)), end_date=_z(now + timedelta(
        minutes=1)))) == 4
    assert updates(client, hotline, start_date=_z(now - timedelta(days=3)), end_date=_z(now - timedelta(days=2))) == []
    assert [u["service_request_id"] for u in updates(client, hotline)] == [case.case_no] * 4
    for window in ({"start_date": _z(now)}, {"end_date": _z(now)},
                   {"start_date": _z(now - timedelta(days=100)), "end_date": _z(now)},
                   {"start_date": "2026-12-01", "end_date": "2026-12-02"}):
        errors_of(client.get(f"{BASE}/servicerequestupdates.json?api_key={hotline}&"
                             + "&".join(f"{k}={v}" for k, v in window.items())), 400, "json")


def test_updates_need_a_client_key(client, hotline):
    errors_of(client.get(f"{BASE}/servicerequestupdates.xml"), 403)
    errors_of(client.get(f"{BASE}/servicerequestupdates.xml?api_key="), 403)  # as FixMyStreet sends an unset key
    errors_of(client.get(f"{BASE}/servicerequestupdates.json?api_key=wrong"), 403, "json")


def test_with_open311_reads_key_reading_requests_takes_a_key_too(tmp_path, database_url, redis_url, hotline):
    app = create_app(make_settings(tmp_path, database_url, redis_url, open311_reads="key"))
    client = app.test_client()
    errors_of(client.get(f"{BASE}/services.xml"), 403)
    errors_of(client.get(f"{BASE}/requests.json"), 403, "json")
    assert client.get(f"{BASE}/services.xml?api_key={hotline}").status_code == 200
    assert client.get(f"{BASE}/requests.json?api_key={hotline}").status_code == 200
    assert client.get(f"{BASE}/discovery.xml").status_code == 200
    app.extensions["snap"].db.dispose()
