"""Moving work between levels, each an event with who, when and why: 转派 to another community's desk (its clock
restarts on dispatch there), 上报 to the street office, which 下派 it to a unit or back down, and 退回 by the
assignee with a reason from the list; who is told of each, and who may take each."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from service.actions import ActionRefused
from service.models import CaseEvent, Notification, User
from service.states import CaseState

TY01 = {"lat": "32.033337", "lon": "120.84566"}  # in grid TY01 of 桃园社区 (tysq), also 虹桥街道's


def _told(db, username: str, kind: str) -> list[Notification]:
    user = db.scalar(sa.select(User).where(User.username == username))
    return list(db.scalars(sa.select(Notification).where(Notification.user_id == user.id, Notification.kind == kind)))


def _last_event(db, case) -> CaseEvent:
    return db.scalar(sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc()))


def test_a_transfer_hands_the_case_to_the_other_communitys_desk_and_restarts_its_clock(factory, db, make_api):
    case = factory.case_in(CaseState.DISPATCHED)  # HQ06, 虹桥社区, gw06's
    first_deadline = case.deadline_at
    factory.act(case, "transfer", community="tysq", note="问题在桃园社区一侧")
    db.expire_all()
    event = _last_event(db, case)
    assert (event.action, event.actor.username, event.from_state, event.to_state) == \
        ("transfer", "staff1", CaseState.DISPATCHED, CaseState.UNROUTED)
    assert event.facts == {"from": "虹桥社区", "to": "桃园社区"} and event.note == "问题在桃园社区一侧"
    moved = factory.session.get(type(case), case.id)
    factory.session.refresh(moved)
    assert (moved.state, moved.community.code, moved.street_office.code) == (CaseState.UNROUTED, "tysq", "hqjd")
    assert moved.grid_id is None and moved.assignee_id is None and moved.deadline_at is None
    assert [n.facts["from"] for n in _told(db, "tysq-staff", "transferred")] == ["虹桥社区"]
    # now the other community's: 虹桥社区's staff no longer find it, 桃园社区's do and dispatch it
    assert make_api("staff1").get(f"/api/v1/reports/{case.case_no}").status_code == 404
    assert make_api("tysq-staff").get(f"/api/v1/reports/{case.case_no}").status_code == 200
    factory.act(moved, "assign", by="tysq-staff", grid="TY01")
    factory.session.refresh(moved)
    assert moved.state == CaseState.DISPATCHED and moved.grid.code == "TY01"
    assert moved.deadline_at > first_deadline  # counted afresh from the dispatch there
    assert moved.deadline_at - _last_event(db, moved).created_at == timedelta(hours=moved.category.deadline_hours)


def test_a_transfer_names_a_community_other_than_its_own(factory):
    case = factory.case_in(CaseState.UNROUTED)
    for params, code in (({"community": "nowhere"}, "unknown_community"), ({}, "unknown_community"),
                         ({"community": "hqsq"}, "same_community")):
        with pytest.raises(ActionRefused) as refused:
            factory.act(case, "transfer", note="x", **params)
        assert (refused.value.kind, refused.value.code) == ("invalid", code)
    with pytest.raises(ActionRefused) as refused:
        factory.act(case, "transfer", community="tysq")  # why: a note is required
    assert refused.value.code == "note_required"


def test_escalate_then_the_street_office_assigns_a_unit_which_sends_it_back(factory, db, make_api):
    case = factory.case_in(CaseState.DISPATCHED)
    factory.act(case, "escalate", note="需城管执法")
    factory.session.refresh(case)
    assert case.state == CaseState.UNROUTED and case.escalated_at is not None and case.deadline_at is None
    assert _last_event(db, case).facts == {"office": "虹桥街道"}
    assert [n.facts["from"] for n in _told(db, "hqjd-staff", "escalated")] == ["虹桥社区"]
    assert _told(db, "hpqjd-staff", "escalated") == []  # another office hears nothing
    with pytest.raises(ActionRefused) as refused:  # the community no longer routes it: its office does
        factory.act(case, "assign", grid="HQ06")
    assert refused.value.kind == "forbidden"
    factory.act(case, "assign", by="hqjd-staff", unit="chengguan", note="下派城管")
    factory.session.refresh(case)
    assert (case.state, case.assignee_unit) == (CaseState.DISPATCHED, "chengguan")
    assert case.deadline_at - case.escalated_at >= timedelta(hours=case.category.deadline_hours)
    assert len(_told(db, "chengguan-1", "work_order")) == 1
    unit = make_api("chengguan-1")
    assert case.case_no in unit.client.get("/field", headers=unit.headers).get_data(as_text=True)
    assert make_api("wuye-1").get(f"/api/v1/reports/{case.case_no}").status_code == 404  # another unit's not
    answer = unit.client.post(f"/api/v1/cases/{case.case_no}/actions", headers=unit.headers,
                              json={"action": "send_back", "reason": "not_ours"})
    assert answer.status_code == 200, answer.get_json()
    factory.session.refresh(case)
    assert case.state == CaseState.UNROUTED and case.assignee_unit is None and case.escalated_at is not None
    event = _last_event(db, case)
    assert (event.action, event.actor.username, event.facts) == ("send_back", "chengguan-1", {"reason": "not_ours"})
    texts = [n.facts["reason"] for n in _told(db, "hqjd-staff", "sent_back")]
    assert texts == ["not_ours"]  # back to the office's desk, not the community's
    assert _told(db, "staff1", "sent_back") == []


def test_a_grid_worker_sends_a_case_back_with_a_reason_from_the_list(factory, db, make_api):
    case = factory.case_in(CaseState.IN_PROGRESS)
    gw06 = make_api("gw06")
    url = f"/api/v1/cases/{case.case_no}/actions"
    for body in ({"action": "send_back"}, {"action": "send_back", "reason": "lazy"}):
        refused = gw06.client.post(url, json=body, headers=gw06.headers)
        assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "unknown_reason"
    sent = gw06.client.post(url, json={"action": "send_back", "reason": "wrong_location", "note": "不在本网格"},
                            headers=gw06.headers)
    assert sent.status_code == 200, sent.get_json()
    factory.session.refresh(case)
    assert (case.state, case.community.code, case.grid.code) == (CaseState.UNROUTED, "hqsq", "HQ06")  # grid kept
    assert case.assignee_id is None
    assert [n.facts["reason"] for n in _told(db, "staff1", "sent_back")] == ["wrong_location"]
    line = make_api("staff1").get(f"/api/v1/reports/{case.case_no}").get_json()["timeline"][-1]["text"]
    assert line == {"zh": "退回：位置不准：不在本网格", "en": "Sent back: Wrong location: 不在本网格"}
    gw01 = make_api("gw01")
    assert gw01.client.post(url, json={"action": "send_back", "reason": "not_ours"},
                            headers=gw01.headers).status_code == 404


@pytest.mark.parametrize("who", ["hqjd-staff", "district-staff"])
def test_only_a_communitys_staff_escalate(factory, who):
    case = factory.case_in(CaseState.UNROUTED)
    with pytest.raises(ActionRefused) as refused:
        factory.act(case, "escalate", by=who, note="x")
    assert refused.value.kind == "forbidden"


def test_an_escalated_case_goes_back_down_by_a_transfer_to_a_community(factory):
    case = factory.case_in(CaseState.UNROUTED)
    factory.act(case, "escalate", note="社区无法处置")
    factory.act(case, "transfer", by="hqjd-staff", community="tysq", note="属桃园社区")
    factory.session.refresh(case)
    assert (case.state, case.community.code, case.escalated_at) == (CaseState.UNROUTED, "tysq", None)
    factory.act(case, "assign", by="tysq-staff", grid="TY01")  # the community routes it again
    factory.session.refresh(case)
    assert case.state == CaseState.DISPATCHED


@pytest.mark.parametrize("state", [CaseState.RESOLVED, CaseState.CLOSED])
def test_a_case_past_its_work_cannot_be_sent_back(factory, make_api, state):
    case = factory.case_in(state)
    gw06 = make_api("gw06")
    refused = gw06.client.post(f"/api/v1/cases/{case.case_no}/actions", headers=gw06.headers,
                               json={"action": "send_back", "reason": "not_ours"})
    assert refused.status_code in (403, 409), refused.get_json()  # no longer theirs, or no longer worked
