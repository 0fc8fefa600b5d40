"""The lifecycle over the actions API: every allowed transition, every illegal one answered 409, who may act, points."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from service.actions import ACTIONS
from service.event_words import Reading, event_line, notification_text
from service.lifecycle import TRANSITIONS
from service.local_time import local_time
from service.models import Case, MeToo, Notification, PointsEntry, User
from service.states import CaseState

STATES = tuple(CaseState)
READING = Reading("Asia/Shanghai")
# the fields each action needs when staff take it on a case
FIELDS = {
    "assign": {"assignee": "gw03"},
    "close": {"note": "现场核查已修复"},
    "rework": {"note": "灯仍不亮"},
    "reject": {"note": "非公共设施"},
    "reopen": {"note": "又坏了"},
    "extend": {"note": "等待配件", "deadline": "2099-01-01T18:00"},
    "transfer": {"community": "tysq", "note": "属桃园社区"},
    "escalate": {"note": "社区无法处置"},
    "withhold_points": {"note": "疑似翻拍"},
}
# taken by the assignee alone (tests/test_moves.py), not by staff; or only on a case whose points are held
# (tests/test_points_holds.py)
ASSIGNEES_ONLY = {"send_back"}
NEEDS_A_HOLD = {"release_points"}


def said(event, lang: str = "zh") -> str:
    """The event's timeline line as a reader of that language reads it."""
    return event_line(event.action, event.facts, event.note, lang, READING)


def told_text(notification, lang: str = "zh") -> str:
    """The notification as its reader reads it."""
    return notification_text(notification.kind, notification.facts, notification.message, lang, READING)


class Desk:
    """Acts on cases through the real API, as staff, the grid worker gw06 and the reporter rider1 do; the cases are
    brought to their state beforehand by the factory (through the same core, without the HTTP round trips)."""

    def __init__(self, rider, make_api, factory, workers):
        self.rider, self.factory, self.workers = rider, factory, workers
        self.staff, self.gw06 = make_api("staff1"), make_api("gw06")
        self.seed = 100

    def act(self, api, case_no: str, action: str, **fields):
        """An action on the case over the API."""
        return api.act(case_no, action, **fields)

    def after_photo(self, api, case_no: str):
        """An after photo of the case over the API, each a new picture."""
        self.seed += 1
        return api.after_photo(case_no, seed=self.seed)

    def case_in(self, state: str) -> str:
        """A case of rider1's in the given state (at HQ06, gw06's; unrouted: in no grid)."""
        return self.factory.case_in(CaseState(state)).case_no


@pytest.fixture
def desk(rider, make_api, factory, workers):
    return Desk(rider, make_api, factory, workers)


def state_of(db, case_no: str) -> Case:
    db.expire_all()
    return db.scalar(sa.select(Case).where(Case.case_no == case_no))


def test_every_action_stays_within_the_lifecycle_law():
    for action in ACTIONS.values():
        for state in action.from_states:
            target = {"assign": "dispatched", "start": "in_progress", "resolve": "resolved", "close": "closed",
                      "rework": "in_progress", "reject": "rejected", "merge": "duplicate",
                      "reopen": "in_progress"}.get(action.name)
            assert target is None or target in TRANSITIONS[state], (action.name, state)
    # a duplicate leaves its state only by being un-merged, back to where a merge can come from
    assert ACTIONS["unmerge"].from_states == {CaseState.DUPLICATE}
    assert TRANSITIONS[CaseState.DUPLICATE] == {s for s, to in TRANSITIONS.items() if CaseState.DUPLICATE in to}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", [a for a in ACTIONS if a != "retry_processing" and a not in ASSIGNEES_ONLY
                                    and a not in NEEDS_A_HOLD])
def test_each_action_from_each_state_is_allowed_or_answered_409(desk, db, state, action):
    fields = dict(FIELDS.get(action, {}))
    if action == "merge":  # the open case to merge into, made first: making it runs the workers
        fields["duplicate_of"] = desk.case_in("dispatched")
    case_no = desk.case_in(state)
    if action == "resolve" and state in ("dispatched", "in_progress"):
        assert desk.after_photo(desk.staff, case_no).status_code == 201
    before = state_of(db, case_no)
    events_before = len(before.events)
    response = desk.act(desk.staff, case_no, action, **fields)
    if state in ACTIONS[action].from_states:
        assert response.status_code == 200, response.get_json()
        case = state_of(db, case_no)
        assert len(case.events) == events_before + 1
        event = case.events[-1]
        assert event.action == action and event.actor.username == "staff1" and event.from_state == state
        assert response.get_json()["state"] == case.state
    else:
        assert response.status_code == 409
        error = response.get_json()["error"]
        assert error["code"] == "illegal_transition"
        assert CaseState(state).zh in error["message"] and state in error["message"]
        assert len(state_of(db, case_no).events) == events_before


def test_a_grid_worker_starts_and_resolves_only_their_own_work_orders(desk, make_api, db):
    case_no = desk.case_in("dispatched")
    other_worker = make_api("gw01")
    assert desk.act(other_worker, case_no, "start").status_code in (403, 404)
    assert desk.act(desk.gw06, case_no, "close", note="x").status_code == 403  # only staff close
    assert desk.act(desk.gw06, case_no, "reject", note="x").status_code == 403  # only staff reject
    assert desk.act(desk.gw06, case_no, "start").status_code == 200
    refused = desk.act(desk.gw06, case_no, "resolve")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "after_photo_required"
    assert desk.after_photo(desk.gw06, case_no).status_code == 201
    assert desk.act(desk.gw06, case_no, "resolve", note="已修复").status_code == 200
    desk.workers()  # the after photo's copies
    detail = desk.rider.get(f"/api/v1/reports/{case_no}").get_json()
    after = [p for p in detail["photos"] if p["kind"] == "after"]
    assert detail["state"] == "resolved" and after[0]["web_url"]


def test_a_reporter_cannot_close_reject_or_assign(desk):
    case_no = desk.case_in("resolved")
    for action, fields in (("close", {"note": "x"}), ("reject", {"note": "x"}), ("assign", {"assignee": "gw01"})):
        assert desk.act(desk.rider, case_no, action, **fields).status_code == 403


def test_closing_pays_the_reporter_the_category_points_and_me_toos_one(desk, make_api, db):
    case_no = desk.case_in("resolved")
    case = state_of(db, case_no)
    rider2 = db.scalar(sa.select(User).where(User.username == "rider2"))
    from service.models import MeToo
    db.add(MeToo(case_id=case.id, user_id=rider2.id))
    db.commit()
    assert desk.act(desk.staff, case_no, "close", note="核查通过").status_code == 200
    ledger = {(e.user.username, e.rule, e.points) for e in db.scalars(sa.select(PointsEntry))}
    assert ledger == {("rider1", "report_closed", 5), ("rider2", "me_too_closed", 1)}
    # reopened and closed again: paid once
    assert desk.act(desk.rider, case_no, "reopen", note="灯又不亮了").status_code == 200
    assert desk.after_photo(desk.gw06, case_no).status_code == 201
    assert desk.act(desk.gw06, case_no, "resolve").status_code == 200
    assert desk.act(desk.staff, case_no, "close", note="再次核查通过").status_code == 200
    assert db.scalar(sa.select(sa.func.count()).select_from(PointsEntry)) == 2


def test_rejected_and_duplicate_cases_earn_nothing(desk, db):
    desk.case_in("rejected")
    desk.case_in("duplicate")
    assert db.scalar(sa.select(sa.func.count()).select_from(PointsEntry)) == 0


def test_rework_counts_and_the_reason_is_kept(desk, db):
    case_no = desk.case_in("resolved")
    assert desk.act(desk.staff, case_no, "rework").status_code == 422  # a reason is required
    assert desk.act(desk.staff, case_no, "rework", note="灯罩未装回").status_code == 200
    case = state_of(db, case_no)
    assert case.state == "in_progress" and case.rework_count == 1 and case.resolved_at is None
    assert case.events[-1].note == "灯罩未装回"


def test_a_deadline_extension_needs_a_reason_and_is_an_event(desk, db):
    case_no = desk.case_in("dispatched")
    old = state_of(db, case_no).deadline_at
    assert desk.act(desk.staff, case_no, "extend", deadline="2099-01-01T18:00").status_code == 422
    assert desk.act(desk.staff, case_no, "extend", deadline="yesterday", note="x").status_code == 422
    assert desk.act(desk.staff, case_no, "extend", deadline="2099-01-01T18:00", note="等待配件").status_code == 200
    case = state_of(db, case_no)
    assert case.deadline_at == datetime(2099, 1, 1, 10, 0, tzinfo=UTC) != old
    event = case.events[-1]
    assert (event.action, event.from_state, event.to_state) == ("extend", "dispatched", "dispatched")
    assert event.note == "等待配件"  # what staff typed; the rest is said from the facts, in either language
    assert said(event) == "期限由 {} 延至 2099-01-01 18:00：等待配件".format(local_time(old, "Asia/Shanghai"))
    assert said(event, "en").startswith("Deadline moved from ") and said(event, "en").endswith(
        " to 2099-01-01 18:00: 等待配件")


def test_assigning_an_unrouted_case_to_a_worker_starts_its_deadline_clock(desk, db):
    case_no = desk.case_in("unrouted")
    assert desk.act(desk.staff, case_no, "assign", assignee="nobody").status_code == 422
    assert desk.act(desk.staff, case_no, "assign", assignee="gw03").status_code == 200
    case = state_of(db, case_no)
    assert case.state == "dispatched" and case.assignee.username == "gw03" and case.grid.code == "HQ03"
    assert case.deadline_at - case.dispatched_at == timedelta(hours=case.category.deadline_hours)


def test_a_case_handed_to_an_external_unit_keeps_its_grid(desk, db):
    case_no = desk.case_in("dispatched")
    assert desk.act(desk.staff, case_no, "assign", unit="shizheng", note="需市政处理").status_code == 200
    case = state_of(db, case_no)
    assert case.assignee is None and case.assignee_unit == "shizheng" and case.grid.code == "HQ06"
    assert said(case.events[-1]) == "派遣给市政部门：需市政处理"
    assert said(case.events[-1], "en") == "Assigned to 市政部门: 需市政处理"


def test_a_reporter_may_reopen_only_within_seven_days(desk, db):
    case_no = desk.case_in("closed")
    case = state_of(db, case_no)
    case.closed_at = datetime.now(UTC) - timedelta(days=8)
    db.commit()
    late = desk.act(desk.rider, case_no, "reopen", note="还是坏的")
    assert late.status_code == 403 and late.get_json()["error"]["code"] == "reopen_window_passed"
    assert desk.act(desk.staff, case_no, "reopen", note="复查发现未修好").status_code == 200


def test_merging_needs_an_open_original(desk):
    case_no = desk.case_in("dispatched")
    closed = desk.case_in("closed")
    assert desk.act(desk.staff, case_no, "merge", duplicate_of=closed).status_code == 409
    assert desk.act(desk.staff, case_no, "merge", duplicate_of=case_no).status_code == 422
    assert desk.act(desk.staff, case_no, "merge", duplicate_of="20000101-0001").status_code == 422


def test_an_unknown_action_is_422(desk):
    case_no = desk.case_in("dispatched")
    response = desk.act(desk.staff, case_no, "teleport")
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "action"


def me_toos_of(db, case_no: str) -> list[str]:
    """Who is counted as having met the case's problem (我也遇到)."""
    db.expire_all()
    return list(db.scalars(sa.select(User.username).join(MeToo, MeToo.user_id == User.id)
                           .join(Case, Case.id == MeToo.case_id).where(Case.case_no == case_no)))


def test_unmerge_takes_a_merged_duplicate_back_to_its_state_and_uncounts_its_me_too(desk, make_api, db):
    original = desk.factory.case_in(CaseState.DISPATCHED, seed=900).case_no
    case = desk.factory.case_in(CaseState.DISPATCHED, reporter="rider2", seed=901)
    case_no = case.case_no
    assert desk.act(desk.staff, case_no, "merge", duplicate_of=original).status_code == 200
    assert me_toos_of(db, original) == ["rider2"]

    response = desk.act(desk.staff, case_no, "unmerge")
    assert response.status_code == 200 and response.get_json()["state"] == "dispatched"
    case = state_of(db, case_no)
    assert case.state == CaseState.DISPATCHED and case.duplicate_of is None and case.assignee.username == "gw06"
    event = case.events[-1]
    assert (event.action, event.from_state, event.to_state) == ("unmerge", "duplicate", "dispatched")
    assert event.actor.username == "staff1" and said(event) == f"撤销合并（原记为 {original} 的重复）"
    assert said(event, "en") == f"Merge undone (it was a duplicate of {original})"
    assert me_toos_of(db, original) == []
    told = db.scalar(sa.select(Notification).where(Notification.case_id == case.id, Notification.kind == "unmerged"))
    assert told.user.username == "rider2" and "不再记为重复" in told_text(told)
    assert "no longer counted as a duplicate" in told_text(told, "en")
    # it is an ordinary case again: it may be merged once more, but not un-merged
    assert desk.act(desk.staff, case_no, "unmerge").status_code == 409


def test_unmerge_of_a_duplicate_the_pipeline_merged_goes_back_to_new(desk, db):
    original = desk.factory.case_in(CaseState.DISPATCHED, seed=910)
    case = desk.factory.process(desk.factory.report(reporter="rider2", seed=910))
    assert case.state == CaseState.DUPLICATE and case.duplicate_of_id == original.id
    assert me_toos_of(db, original.case_no) == ["rider2"]
    assert desk.act(desk.staff, case.case_no, "unmerge").status_code == 200
    assert state_of(db, case.case_no).state == CaseState.NEW
    assert me_toos_of(db, original.case_no) == []


def test_unmerge_keeps_a_me_too_that_came_some_other_way_and_is_staff_only(desk, make_api, db):
    original = desk.factory.case_in(CaseState.DISPATCHED, seed=920).case_no
    rider2 = make_api("rider2")
    joined = rider2.client.post(f"/api/v1/reports/{original}/me-too", headers=rider2.headers,
                                json={"lat": 32.015, "lon": 120.855, "accuracy_m": 10})
    assert joined.status_code == 200, joined.get_json()
    case_no = desk.factory.case_in(CaseState.DISPATCHED, reporter="rider2", seed=921).case_no
    assert desk.act(desk.staff, case_no, "merge", duplicate_of=original).status_code == 200
    refused = desk.act(rider2, case_no, "unmerge")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert desk.act(desk.gw06, case_no, "unmerge").status_code == 403
    assert desk.act(desk.staff, case_no, "unmerge").status_code == 200
    assert me_toos_of(db, original) == ["rider2"]  # tapped 我也遇到 themselves: still counted
