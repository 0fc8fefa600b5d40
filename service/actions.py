"""What people do to a case at the desk and in the field: each action, who may take it, and what it changes."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service import lifecycle, points, unit_platforms
from service.auth import STAFF_ROLES
from service.db import utcnow
from service.dispatch import CURRENT_GRIDS
from service.event_words import SEND_BACK_REASONS
from service.follow_ups import FollowUp
from service.good_deeds import deed_kinds
from service.ledger import PointsRules
from service.lifecycle import Outcome
from service.models import Case, CaseEvent, Community, Grid, User
from service.notifications import announce
from service.parsing import EARLIEST_INSTANT, LATEST_INSTANT, client_instant
from service.pipeline import retry_processing
from service.refusals import Refused
from service.scope import Level, is_assignee, level_of, may_see, may_see_grid, may_see_worker
from service.states import WORKED
from service.states import CaseState as S

STAFF, ASSIGNEE, REPORTER = "staff", "assignee", "reporter"


@dataclass(frozen=True)
class DeskRules:
    """What the actions read from the district's configuration."""

    timezone: str = "Asia/Shanghai"
    units: dict[str, str] = field(default_factory=dict)  # external units: code -> name (物业, 市政, ...)
    reopen_days: int = 7
    points: PointsRules = field(default_factory=PointsRules)

    @classmethod
    def from_files(cls, units_file: Path, points_file: Path, timezone: str, expire_quarters: int = 4,
                   daily_cap: int = 50) -> DeskRules:
        """The rules of the district's units.json and points.json, and the points settings."""
        units = json.loads(Path(units_file).read_text(encoding="utf-8"))["units"]
        points = json.loads(Path(points_file).read_text(encoding="utf-8"))
        kinds, weekly_cap = deed_kinds(points)
        scheme = PointsRules(per_flower=int(points.get("points_per_flower", 5)), expire_quarters=expire_quarters,
                             tz=timezone, me_too_closed=int(points.get("me_too_closed", 1)), daily_cap=daily_cap,
                             deed_kinds=kinds, deed_weekly_cap=weekly_cap)
        return cls(timezone=timezone, units={u["code"]: u["name"] for u in units},
                   reopen_days=int(points.get("reopen_days", 7)), points=scheme)

    @classmethod
    def from_settings(cls, s) -> DeskRules:
        """The rules of the district's files and the service's settings (config.Settings, passed in)."""
        return cls.from_files(s.units_file, s.points_file, s.timezone, s.points_expire_quarters, s.points_daily_cap)


@dataclass(frozen=True)
class Action:
    """One thing a person may do to a case: from which states, by whom, and whether a note is required."""

    name: str
    label: str
    from_states: frozenset[S]
    who: frozenset[str]
    needs_note: bool = False


class ActionRefused(Refused):
    """An action that cannot be taken: forbidden, conflict (the case's state) or invalid (the input)."""


NOT_YET_WORKED = frozenset({S.NEW, S.UNROUTED, S.DISPATCHED})  # still to be judged: rejected or merged

ACTIONS = {a.name: a for a in (
    Action("assign", "派遣", frozenset({S.NEW, S.UNROUTED, *WORKED}), frozenset({STAFF})),
    Action("start", "开始处置", frozenset({S.DISPATCHED}), frozenset({STAFF, ASSIGNEE})),
    Action("resolve", "处置完成", frozenset(WORKED), frozenset({STAFF, ASSIGNEE})),
    Action("close", "核查结案", frozenset({S.RESOLVED}), frozenset({STAFF}), needs_note=True),
    Action("rework", "返工", frozenset({S.RESOLVED}), frozenset({STAFF}), needs_note=True),
    Action("reject", "不予立案", NOT_YET_WORKED, frozenset({STAFF}), needs_note=True),
    Action("merge", "合并为重复", NOT_YET_WORKED, frozenset({STAFF})),
    Action(lifecycle.UNMERGE, "撤销合并", frozenset({S.DUPLICATE}), frozenset({STAFF})),
    Action("reopen", "重新打开", frozenset({S.CLOSED}), frozenset({STAFF, REPORTER}), needs_note=True),
    Action("extend", "延期", frozenset(WORKED), frozenset({STAFF}), needs_note=True),
    Action("retry_processing", "重新处理照片", frozenset({S.NEW}), frozenset({STAFF})),
    # moving work between levels (shared/DOMAIN.md): each back to a desk, to be routed again
    Action("transfer", "转派", frozenset({S.UNROUTED, *WORKED}), frozenset({STAFF}), needs_note=True),
    Action("escalate", "上报街道", frozenset({S.UNROUTED, *WORKED}), frozenset({STAFF}), needs_note=True),
    Action("send_back", "退回", frozenset(WORKED), frozenset({ASSIGNEE})),
    # the reporter's points (service.points): held back with the reason they see, or released
    Action("withhold_points", "暂缓积分", frozenset(S) - {S.REJECTED, S.DUPLICATE, S.CLOSED}, frozenset({STAFF}),
           needs_note=True),
    Action("release_points", "发放积分", frozenset(S), frozenset({STAFF})),
)}
ROUTING = frozenset({"assign", "transfer", "escalate"})  # for an escalated case, its street office's to do


def may_take(user: User, action: Action, case: Case) -> bool:
    """Staff take every action, but only a community's staff escalate, and once a case is escalated its community
    no longer routes it (its street office does); the assignee starts, resolves and sends back; the reporter may
    reopen their own case."""
    if user.role in STAFF_ROLES:
        community_desk = level_of(user) is Level.COMMUNITY
        if action.name == "escalate" and (not community_desk or case.escalated_at is not None):
            return False
        if action.name in ROUTING and community_desk and case.escalated_at is not None:
            return False
        return STAFF in action.who
    return (ASSIGNEE in action.who and is_assignee(user, case)) or \
        (REPORTER in action.who and case.reporter_id == user.id)


def available_actions(user: User, case: Case) -> list[Action]:
    """The actions this user may take on the case in its present state (for the pages' buttons)."""
    return [a for a in ACTIONS.values() if case.state in a.from_states and may_take(user, a, case)]


def check_after_photos_allowed(user: User, case: Case) -> None:
    """After photos (处置后照片) come from the assignee or staff while the case is being worked; else refused."""
    if not (user.role in STAFF_ROLES or is_assignee(user, case)):
        raise ActionRefused("forbidden", "forbidden", "只有处置人或工作人员可以上传处置照片",
                            "only the assignee or staff may add after photos")
    if not S(case.state).is_worked:
        raise ActionRefused("conflict", "illegal_transition", "案件当前不在处置中，不能上传处置照片",
                            f"case is {case.state}: after photos are taken while it is being worked")


def _invalid(code: str, zh: str, en: str, field: str | None = None) -> ActionRefused:
    return ActionRefused("invalid", code, zh, en, field)


@dataclass(frozen=True)
class Act:
    """One action being taken: on which case, by whom, with what fields and note, when, under which rules."""

    session: Session
    case: Case
    actor: User
    params: dict
    note: str
    now: datetime
    rules: DeskRules

    def transition(self, to_state: S, action: str) -> Outcome:
        """Move the case through the lifecycle as this act, with the note its person typed."""
        return lifecycle.transition(self.session, self.case, to_state, self.actor, self.note, self.now, action)


def _assign(act: Act) -> Outcome:
    """Give the case to a grid worker (by username), a grid (its worker), or an external unit."""
    session, case, params = act.session, act.case, act.params
    grid, worker, unit = None, None, None
    if params.get("unit"):
        unit = str(params["unit"])
        if unit not in act.rules.units:
            raise _invalid("unknown_unit", f"未知的处置单位：{unit}", f"unknown unit: {unit}", "unit")
    elif params.get("assignee"):
        worker = session.scalar(sa.select(User).where(User.username == str(params["assignee"]),
                                                      User.role == "grid_worker", User.active.is_(True)))
        if worker is None or not may_see_worker(act.actor, worker):
            raise _invalid("unknown_assignee", "找不到该网格员", "no such grid worker", "assignee")
        grid = session.scalar(sa.select(Grid).where(Grid.worker_id == worker.id, CURRENT_GRIDS).order_by(Grid.id))
    elif params.get("grid"):
        grid = session.scalar(sa.select(Grid).where(Grid.code == str(params["grid"]), CURRENT_GRIDS))
        if grid is None or not may_see_grid(act.actor, grid):
            raise _invalid("unknown_grid", "找不到该网格", "no such grid", "grid")
        worker = grid.worker
    else:
        raise _invalid("missing_assignee", "请选择网格员、网格或处置单位", "choose an assignee, a grid or a unit",
                       "assignee")
    deadline = case.deadline_at or act.now + timedelta(hours=case.category.deadline_hours)
    to_whom = act.rules.units[unit] if unit else (worker.display_name if worker else grid.name)
    outcome = lifecycle.dispatch(session, case, grid, worker, deadline, act.actor, act.note, act.now, unit=unit,
                                 action="assign", facts={"to": to_whom})
    outcome.follow_ups += unit_platforms.forward(session, case, unit, act.now) if unit else []
    return outcome


def _start(act: Act) -> Outcome:
    return act.transition(S.IN_PROGRESS, "start")


def _resolve(act: Act) -> Outcome:
    if not any(p.kind == "after" for p in act.case.photos):
        raise _invalid("after_photo_required", "请先上传处置后的照片", "upload an after photo first", "photo")
    outcome = act.transition(S.RESOLVED, "resolve")
    act.case.resolved_at = act.now
    return outcome


def _close(act: Act) -> Outcome:
    outcome = act.transition(S.CLOSED, "close")
    act.case.closed_at = act.now
    points.award_on_close(act.session, act.case, act.rules.points, act.now)
    return outcome


def _rework(act: Act) -> Outcome:
    outcome = act.transition(S.IN_PROGRESS, "rework")
    act.case.rework_count += 1
    act.case.resolved_at = None
    return outcome


def _reject(act: Act) -> Outcome:
    return act.transition(S.REJECTED, "reject")


def _merge(act: Act) -> Outcome:
    session, case = act.session, act.case
    target_no = str(act.params.get("duplicate_of") or "").strip()
    original = session.scalar(sa.select(Case).where(Case.case_no == target_no)) if target_no else None
    if original is None or original.id == case.id or not may_see(act.actor, original):
        raise _invalid("unknown_original", "请填写要合并到的另一个案件编号", "give the number of another case",
                       "duplicate_of")
    if not original.is_open:
        raise ActionRefused("conflict", "original_not_open", f"{original.case_no} 已{S(original.state).zh}，"
                            "不能合并到它", f"{original.case_no} is {original.state}: merge into an open case")
    return lifecycle.mark_duplicate(session, case, original, act.actor, act.note, act.now)


def _unmerge(act: Act) -> Outcome:
    return lifecycle.unmerge(act.session, act.case, act.actor, act.note, act.now)


def may_reopen_now(user: User, case: Case, rules: DeskRules, now: datetime) -> bool:
    """Staff may reopen a closed case at any time; its reporter within reopen_days of the close."""
    if case.state != S.CLOSED or not may_take(user, ACTIONS["reopen"], case):
        return False
    return user.role in STAFF_ROLES or case.closed_at >= now - timedelta(days=rules.reopen_days)


def _reopen(act: Act) -> Outcome:
    if not may_reopen_now(act.actor, act.case, act.rules, act.now):
        days = act.rules.reopen_days
        raise ActionRefused("forbidden", "reopen_window_passed", f"结案已超过 {days} 天，不能重新打开",
                            f"closed more than {days} days ago: it can no longer be reopened")
    outcome = act.transition(S.IN_PROGRESS, "reopen")
    act.case.closed_at = act.case.resolved_at = None
    return outcome


def _extend(act: Act) -> Outcome:
    tz = act.rules.timezone
    try:  # a time without an offset is the community's; one the calendar cannot hold is refused here, not a 500
        new = client_instant(str(act.params.get("deadline") or ""), tz)
    except ValueError:
        raise _invalid("invalid_deadline",
                       f"新期限格式应为 2026-03-01T18:00，年份在 {EARLIEST_INSTANT.year} 至 {LATEST_INSTANT.year} 之间",
                       f"deadline must look like 2026-03-01T18:00, in the years {EARLIEST_INSTANT.year} to "
                       f"{LATEST_INSTANT.year}", "deadline") from None
    if new <= act.now:
        raise _invalid("invalid_deadline", "新期限须晚于现在", "the new deadline must be in the future", "deadline")
    old = act.case.deadline_at
    outcome = lifecycle.note_event(act.session, act.case, act.actor, "extend", act.note, act.now,
                                   {"was": old.isoformat() if old else None, "until": new.isoformat()})
    act.case.deadline_at = new
    act.case.overdue_notified_on = None
    return outcome


def _retry(act: Act) -> Outcome:
    if not act.case.processing_error:
        raise ActionRefused("conflict", "nothing_to_retry", "案件没有处理错误，无需重新处理",
                            "the case has no processing error: nothing to retry")
    outcome = lifecycle.note_event(act.session, act.case, act.actor, "retry_processing", act.note, act.now)
    outcome.follow_ups.append(retry_processing(act.case))
    return outcome


def _transfer(act: Act) -> Outcome:
    code = str(act.params.get("community") or "").strip()
    community = act.session.scalar(sa.select(Community).where(Community.code == code)) if code else None
    if community is None:
        raise _invalid("unknown_community", "请选择要转派到的社区", "choose the community to transfer it to",
                       "community")
    if community.id == act.case.community_id:
        raise _invalid("same_community", f"案件已在{community.name}", f"the case is already {community.name}'s",
                       "community")
    return lifecycle.transfer(act.session, act.case, community, act.actor, act.note, act.now)


def _escalate(act: Act) -> Outcome:
    return lifecycle.escalate(act.session, act.case, act.actor, act.note, act.now)


def _send_back(act: Act) -> Outcome:
    reason = str(act.params.get("reason") or "")
    if reason not in SEND_BACK_REASONS:
        raise _invalid("unknown_reason", "请选择退回原因：" + "、".join(zh for zh, _ in SEND_BACK_REASONS.values()),
                       "choose why: " + ", ".join(SEND_BACK_REASONS), "reason")
    return lifecycle.send_back(act.session, act.case, act.actor, reason, act.note, act.now)


def _withhold_points(act: Act) -> Outcome:
    points.withhold(act.session, act.case, act.note)
    return lifecycle.note_event(act.session, act.case, act.actor, "withhold_points", act.note, act.now)


def _release_points(act: Act) -> Outcome:
    held = {"hold": act.case.points_hold}
    points.release(act.session, act.case, act.rules.points, act.now)
    return lifecycle.note_event(act.session, act.case, act.actor, "release_points", act.note, act.now, held)


HANDLERS: dict[str, Callable[[Act], Outcome]] = {
    "assign": _assign, "start": _start, "resolve": _resolve, "close": _close, "rework": _rework,
    "reject": _reject, "merge": _merge, lifecycle.UNMERGE: _unmerge, "reopen": _reopen,
    "extend": _extend, "retry_processing": _retry,
    "transfer": _transfer, "escalate": _escalate, "send_back": _send_back,
    "withhold_points": _withhold_points, "release_points": _release_points,
}


MAX_CLIENT_ACTION_ID = 36


def client_action_id(params: dict) -> str | None:
    """The page's id for this action (a UUID, at most 36 characters), as one spelling; None when none was sent."""
    raw = params.get("client_action_id")
    if raw is None or raw == "":
        return None
    try:
        if not isinstance(raw, str) or len(raw) > MAX_CLIENT_ACTION_ID:
            raise ValueError(raw)
        return str(uuid.UUID(raw))
    except ValueError:
        raise _invalid("invalid_client_action_id", "client_action_id 须为 UUID（不超过 36 个字符）",
                       "client_action_id must be a UUID of at most 36 characters", "client_action_id") from None


def done_before(session: Session, case: Case, name: str, actor: User, action_id: str | None) -> bool:
    """True when this person already took this action on this case under this id (sent twice): done once only.

    The same id naming another case or another action is refused: a page reuses no id.
    """
    if action_id is None:
        return False
    earlier = session.scalar(sa.select(CaseEvent).where(CaseEvent.actor_id == actor.id,
                                                        CaseEvent.client_action_id == action_id))
    if earlier is None:
        return False
    if earlier.case_id != case.id or earlier.action != name:
        raise ActionRefused("conflict", "client_action_id_reused", "该 client_action_id 已用于另一操作",
                            "this client_action_id was used for another action", "client_action_id")
    return True


def perform(session: Session, case: Case, name: str, actor: User, params: dict, rules: DeskRules,
            now: datetime | None = None,
            store_photos: Callable[[], None] | None = None) -> list[FollowUp]:
    """Take an action on a case and commit it; returns the jobs to queue. Raises ActionRefused.

    Checks, in order: the action exists, it was not already taken under the same `client_action_id` (then it is
    a success that does nothing again), this person may take it, the case's state allows it, the note is there.
    `store_photos` keeps the after photos the action carries (and queues their copies), once it is known to go ahead.
    """
    action = ACTIONS.get(name)
    if action is None:
        raise _invalid("unknown_action", f"未知操作：{name}", f"unknown action: {name}", "action")
    action_id = client_action_id(params)
    if done_before(session, case, name, actor, action_id):
        return []
    if not may_take(actor, action, case):
        raise ActionRefused("forbidden", "forbidden", f"您不能对此案件执行“{action.label}”",
                            f"you may not {name} this case")
    if case.state not in action.from_states:
        raise ActionRefused("conflict", "illegal_transition",
                            f"案件当前为“{S(case.state).zh}”，不能{action.label}",
                            f"case {case.case_no} is {case.state}: it cannot be {name}")
    note = str(params.get("note") or "").strip()
    if action.needs_note and not note:
        raise _invalid("note_required", f"“{action.label}”须填写说明", f"{name} needs a note", "note")
    if len(note) > 1000:
        raise _invalid("note_too_long", "说明不能超过 1000 字", "note is longer than 1000 characters", "note")
    if store_photos:
        store_photos()
    try:
        outcome = HANDLERS[name](Act(session, case, actor, params, note, now or utcnow(), rules))
        outcome.event.client_action_id = action_id
        follow_ups = outcome.follow_ups + announce(session, outcome.event, rules.timezone)
        session.commit()
    except (StaleDataError, sa.exc.IntegrityError):
        session.rollback()
        if done_before(session, case, name, actor, action_id):  # the same action, sent twice at once, won there
            return []
        raise ActionRefused("conflict", "changed_meanwhile", "案件刚被他人修改，请刷新后重试",
                            "the case changed meanwhile: reload and try again") from None
    except Refused:
        session.rollback()
        raise
    return follow_ups
