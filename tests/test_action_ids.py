"""Actions sent twice are done once: the page's client_action_id, per person; a resend answers the same success."""
from __future__ import annotations

import uuid
from io import BytesIO

import pytest
import sqlalchemy as sa

from service.models import Case, CaseEvent, Photo
from service.states import CaseState
from tests.images import photo_jpeg
from tests.support import assert_refused


def events_of(db, case_no: str, action: str) -> list[CaseEvent]:
    """The case's events of this action, as stored."""
    db.expire_all()
    case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
    return list(db.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == action)))


def resolve_with_photo(api, case_no: str, action_id: str, seed: int):
    """A resolve carrying its after photo, posted as the field page's outbox posts it (a form asking for JSON)."""
    return api.client.post(f"/api/v1/cases/{case_no}/actions", headers={**api.headers, "Accept": "application/json"},
                           data={"action": "resolve", "note": "已修好", "client_action_id": action_id,
                                 "photo": [(BytesIO(photo_jpeg(seed=seed)), "after.jpg")]},
                           content_type="multipart/form-data")


def test_a_start_sent_twice_is_done_once_and_answered_the_same(factory, make_api, db):
    case_no = factory.case_in(CaseState.DISPATCHED, seed=700).case_no
    gw06, action_id = make_api("gw06"), str(uuid.uuid4())
    first = gw06.act(case_no, "start", client_action_id=action_id)
    again = gw06.act(case_no, "start", client_action_id=action_id)
    assert first.status_code == again.status_code == 200, again.get_json()
    assert again.get_json()["state"] == first.get_json()["state"] == CaseState.IN_PROGRESS
    started = events_of(db, case_no, "start")
    assert len(started) == 1 and started[0].client_action_id == action_id
    # without the id a second start is what it always was: the case is no longer dispatched
    assert_refused(gw06.act(case_no, "start"), 409, "illegal_transition")


def test_a_resolve_with_its_photo_resent_after_it_went_through_keeps_one_photo_and_one_event(factory, make_api, db):
    case_no = factory.case_in(CaseState.IN_PROGRESS, seed=701).case_no
    gw06, action_id = make_api("gw06"), str(uuid.uuid4())
    first = resolve_with_photo(gw06, case_no, action_id, seed=702)
    again = resolve_with_photo(gw06, case_no, action_id, seed=702)
    assert first.status_code == again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["state"] == CaseState.RESOLVED
    assert len(events_of(db, case_no, "resolve")) == 1
    case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
    assert db.scalar(sa.select(sa.func.count()).select_from(Photo)
                     .where(Photo.case_id == case_id, Photo.kind == "after")) == 1


def test_the_same_id_from_another_person_is_their_own_action(factory, make_api, db):
    mine = factory.case_in(CaseState.DISPATCHED, seed=703).case_no
    theirs = factory.case_in(CaseState.DISPATCHED, seed=704, where={"lat": "32.0155"}).case_no
    action_id = str(uuid.uuid4())
    assert make_api("gw06").act(mine, "start", client_action_id=action_id).status_code == 200
    staff = make_api("staff1")
    assert staff.act(theirs, "start", client_action_id=action_id).status_code == 200
    assert len(events_of(db, mine, "start")) == len(events_of(db, theirs, "start")) == 1
    # and one person's id names one action: used again on another case it is refused, not silently skipped
    assert_refused(staff.act(mine, "extend", note="等待配件", deadline="2099-01-01T18:00",
                             client_action_id=action_id), 409, "client_action_id_reused", "client_action_id")


@pytest.mark.parametrize("bad", ["not-a-uuid", "1" * 37, "{" + str(uuid.UUID(int=7)) + "}", 12345, ["x"]])
def test_an_id_that_is_not_a_uuid_is_refused(factory, make_api, db, bad):
    case_no = factory.case_in(CaseState.DISPATCHED, seed=705).case_no
    assert_refused(make_api("gw06").act(case_no, "start", client_action_id=bad), 422, "invalid_client_action_id",
                   "client_action_id")
    assert events_of(db, case_no, "start") == []
