"""What people do to a case at the desk and in the field: each action, who may take it, and what it changes."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service import lifecycle
from service.auth import STAFF_ROLES
from service.db import utcnow
from service.lifecycle import OPEN_STATES, STATE_LABELS, FollowUp
from service.models import Case, Grid, MeToo, User
from service.notifications import notify, staff_members
from service.parsing import EARLIEST_INSTANT, LATEST_INSTANT, client_instant
from service.pipeline import retry_processing
from service.points import award_on_close
from service.refusals import Refused

STAFF, ASSIGNEE, REPORTER = "staff", "assignee", "reporter"


@dataclass(frozen=True)
class DeskRules:
    """What the actions read from the community's configuration."""

    timezone: str = "Asia/Shanghai"
    units: dict[str, str] = field(default_factory=dict)  # external units: code -> name (物业, 市政, ...)
    me_too_points: int = 1
    reopen_days: int = 7

    @classmethod
    def from_files(cls, units_file: Path, points_file: Path, timezone: str) -> "DeskRules":
        """The rules of the community's units.json and points.json."""
        units = json.loads(Path(units_file).read_text(encoding="utf-8"))["units"]
        points = json.loads(Path(points_file).read_text(encoding="utf-8"))
        return cls(timezone=timezone, units={u["code"]: u["name"] for u in units},
                   me_too_points=int(points.get("me_too_closed", 1)), reopen_days=int(points.get("reopen_days", 7)))


@dataclass(frozen=True)
class Action:
    """One thing a person may do to a case: from which states, by whom, and whether a note is required."""

    name: str
    label: str
    from_states: frozenset[str]
    who: frozenset[str]
    needs_note: bool = False


class ActionRefused(Refused):
    """An action that cannot be taken: forbidden, conflict (the case's state) or invalid (the input)."""


def _states(*names: str) -> frozenset[str]:
    return frozenset(names)


ACTIONS = {a.name: a for a in (
    Action("assign", "派遣", _states("new", "unrouted", "dispatched", "in_progress"), frozenset({STAFF})),
    Action("start", "开始处置", _states("dispatched"), frozenset({STAFF, ASSIGNEE})),
    Action("resolve", "处置完成", _states("dispatched", "in_progress"), frozenset({STAFF, ASSIGNEE})),
    Action("close", "核查结案", _states("resolved"), frozenset({STAFF}), needs_note=True),
    Action("rework", "返工", _states("resolved"), frozenset({STAFF}), needs_note=True),
    Action("reject", "不予立案", _states("new", "unrouted", "dispatched"), frozenset({STAFF}), needs_note=True),
    Action("merge", "合并为重复", _states("new", "unrouted", "dispatched"), frozenset({STAFF})),
    Action("reopen", "重新打开", _states("closed"), frozenset({STAFF, REPORTER}), needs_note=True),
    Action("extend", "延期", _states("dispatched", "in_progress"), frozenset({STAFF}), needs_note=True),
    Action("retry_processing", "重新处理照片", _states("new"), frozenset({STAFF})),
)}


def may_take(user: User, action: Action, case: Case) -> bool:
    """Staff take every action; the assignee starts and resolves; the reporter may reopen their own case."""
    if user.role in STAFF_ROLES:
        return STAFF in action.who
    return (ASSIGNEE in action.who and case.assignee_id == user.id) or \
        (REPORTER in action.who and case.reporter_id == user.id)


def available_actions(user: User, case: Case) -> list[Action]:
    """The actions this user may take on the case in its present state (for the pages' buttons)."""
    return [a for a in ACTIONS.values() if case.state in a.from_states and may_take(user, a, case)]


def _invalid(code: str, zh: str, en: str, field: Optional[str] = None) -> ActionRefused:
    return ActionRefused("invalid", code, zh, en, field)


def _local(instant: datetime, tz: str) -> str:
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _assign(session: Session, case: Case, actor: User, params: dict, note: str, now: datetime,
            rules: DeskRules) -> list[FollowUp]:
    """Give the case to a grid worker (by username), a grid (its worker), or an external unit."""
    grid, worker, unit = None, None, None
    if params.get("unit"):
        unit = str(params["unit"])
        if unit not in rules.units:
            raise _invalid("unknown_unit", f"未知的处置单位：{unit}", f"unknown unit: {unit}", "unit")
    elif params.get("assignee"):
        worker = session.scalar(sa.select(User).where(User.username == str(params["assignee"]),
                                                      User.role == "grid_worker", User.active.is_(True)))
        if worker is None:
            raise _invalid("unknown_assignee", "找不到该网格员", "no such grid worker", "assignee")
        grid = session.scalar(sa.select(Grid).where(Grid.worker_id == worker.id).order_by(Grid.id))
    elif params.get("grid"):
        grid = session.scalar(sa.select(Grid).where(Grid.code == str(params["grid"])))
        if grid is None:
            raise _invalid("unknown_grid", "找不到该网格", "no such grid", "grid")
        worker = grid.worker
    else:
        raise _invalid("missing_assignee", "请选择网格员、网格或处置单位", "choose an assignee, a grid or a unit",
                       "assignee")
    deadline = case.deadline_at or now + timedelta(hours=case.category.deadline_hours)
    to_whom = rules.units[unit] if unit else (worker.display_name if worker else grid.name)
    lifecycle.dispatch(session, case, grid, worker, deadline, actor, f"派遣给{to_whom}" + (f"：{note}" if note else ""),
                       now, unit=unit, action="assign")
    if worker is not None:
        notify(session, [worker], case, "work_order",
               f"【随手拍】新工单 {case.case_no} {case.category.name} · 期限 {_local(deadline, rules.timezone)}")
    return []


def _start(session, case, actor, params, note, now, rules):
    lifecycle.transition(session, case, "in_progress", actor, note or "开始处置", now, "start")
    return []


def _resolve(session, case, actor, params, note, now, rules):
    if not any(p.kind == "after" for p in case.photos):
        raise _invalid("after_photo_required", "请先上传处置后的照片", "upload an after photo first", "photo")
    lifecycle.transition(session, case, "resolved", actor, note or "处置完成", now, "resolve")
    case.resolved_at = now
    notify(session, staff_members(session), case, "resolved", f"【随手拍】{case.case_no} 已处置，待核查结案")
    return []


def _close(session, case, actor, params, note, now, rules):
    lifecycle.transition(session, case, "closed", actor, note, now, "close")
    case.closed_at = now
    award_on_close(session, case, rules.me_too_points, now)
    told = [case.reporter] + [m.user for m in session.scalars(sa.select(MeToo).where(MeToo.case_id == case.id))]
    notify(session, told, case, "closed", f"您上报的 {case.case_no} {case.category.name} 已结案，感谢参与！")
    return []


def _rework(session, case, actor, params, note, now, rules):
    lifecycle.transition(session, case, "in_progress", actor, note, now, "rework")
    case.rework_count += 1
    case.resolved_at = None
    if case.assignee is not None:
        notify(session, [case.assignee], case, "rework", f"【随手拍】{case.case_no} 核查未通过，需返工：{note}")
    return []


def _reject(session, case, actor, params, note, now, rules):
    lifecycle.transition(session, case, "rejected", actor, note, now, "reject")
    notify(session, [case.reporter], case, "rejected", f"您上报的 {case.case_no} 不予立案：{note}")
    return []


def _merge(session, case, actor, params, note, now, rules):
    target_no = str(params.get("duplicate_of") or "").strip()
    original = session.scalar(sa.select(Case).where(Case.case_no == target_no)) if target_no else None
    if original is None or original.id == case.id:
        raise _invalid("unknown_original", "请填写要合并到的另一个案件编号", "give the number of another case",
                       "duplicate_of")
    if original.state not in OPEN_STATES:
        raise ActionRefused("conflict", "original_not_open", f"{original.case_no} 已{STATE_LABELS[original.state]}，"
                            "不能合并到它", f"{original.case_no} is {original.state}: merge into an open case")
    lifecycle.mark_duplicate(session, case, original, actor, note or f"与 {original.case_no} 重复", now)
    already = session.scalar(sa.select(MeToo.id).where(MeToo.case_id == original.id,
                                                       MeToo.user_id == case.reporter_id))
    if already is None and original.reporter_id != case.reporter_id:
        session.add(MeToo(case_id=original.id, user_id=case.reporter_id, via_case_id=case.id, created_at=now))
    notify(session, [case.reporter], case, "duplicate",
           f"您的上报 {case.case_no} 与 {original.case_no} 为同一问题，已记为“我也遇到”")
    return []


def may_reopen_now(user: User, case: Case, rules: DeskRules, now: datetime) -> bool:
    """Staff may reopen a closed case at any time; its reporter within reopen_days of the close."""
    if case.state != "closed" or not may_take(user, ACTIONS["reopen"], case):
        return False
    return user.role in STAFF_ROLES or case.closed_at >= now - timedelta(days=rules.reopen_days)


def _reopen(session, case, actor, params, note, now, rules):
    if not may_reopen_now(actor, case, rules, now):
        raise ActionRefused("forbidden", "reopen_window_passed", f"结案已超过 {rules.reopen_days} 天，不能重新打开",
                            f"closed more than {rules.reopen_days} days ago: it can no longer be reopened")
    lifecycle.transition(session, case, "in_progress", actor, note, now, "reopen")
    case.closed_at = case.resolved_at = None
    told = ([case.assignee] if case.assignee else []) + staff_members(session)
    notify(session, told, case, "reopened", f"【随手拍】{case.case_no} 被重新打开：{note}")
    return []


def _extend(session, case, actor, params, note, now, rules):
    try:  # a time without an offset is the community's; one the calendar cannot hold is refused here, not a 500
        new = client_instant(str(params.get("deadline") or ""), rules.timezone)
    except ValueError:
        raise _invalid("invalid_deadline",
                       f"新期限格式应为 2026-03-01T18:00，年份在 {EARLIEST_INSTANT.year} 至 {LATEST_INSTANT.year} 之间",
                       f"deadline must look like 2026-03-01T18:00, in the years {EARLIEST_INSTANT.year} to "
                       f"{LATEST_INSTANT.year}", "deadline") from None
    if new <= now:
        raise _invalid("invalid_deadline", "新期限须晚于现在", "the new deadline must be in the future", "deadline")
    old = case.deadline_at
    lifecycle.note_event(session, case, actor, "extend",
                         f"期限由 {_local(old, rules.timezone) if old else '无'} 延至 {_local(new, rules.timezone)}：{note}",
                         now)
    case.deadline_at = new
    case.overdue_notified_on = None
    return []


def _retry(session, case, actor, params, note, now, rules):
    if not case.processing_error:
        raise ActionRefused("conflict", "nothing_to_retry", "案件没有处理错误，无需重新处理",
                            "the case has no processing error: nothing to retry")
    return retry_processing(session, case)


HANDLERS: dict[str, Callable[..., list[FollowUp]]] = {
    "assign": _assign, "start": _start, "resolve": _resolve, "close": _close, "rework": _rework,
    "reject": _reject, "merge": _merge, "reopen": _reopen, "extend": _extend, "retry_processing": _retry,
}


def perform(session: Session, case: Case, name: str, actor: User, params: dict, rules: DeskRules,
            now: Optional[datetime] = None) -> list[FollowUp]:
    """Take an action on a case and commit it; returns the jobs to queue. Raises ActionRefused.

    Checks, in order: the action exists, this person may take it, the case's state allows it, the note is there.
    """
    action = ACTIONS.get(name)
    if action is None:
        raise _invalid("unknown_action", f"未知操作：{name}", f"unknown action: {name}", "action")
    if not may_take(actor, action, case):
        raise ActionRefused("forbidden", "forbidden", f"您不能对此案件执行“{action.label}”",
                            f"you may not {name} this case")
    if case.state not in action.from_states:
        raise ActionRefused("conflict", "illegal_transition",
                            f"案件当前为“{STATE_LABELS[case.state]}”，不能{action.label}",
                            f"case {case.case_no} is {case.state}: it cannot be {name}")
    note = str(params.get("note") or "").strip()
    if action.needs_note and not note:
        raise _invalid("note_required", f"“{action.label}”须填写说明", f"{name} needs a note", "note")
    if len(note) > 1000:
        raise _invalid("note_too_long", "说明不能超过 1000 字", "note is longer than 1000 characters", "note")
    try:
        follow_ups = HANDLERS[name](session, case, actor, params, note, now or utcnow(), rules)
        session.commit()
    except StaleDataError:
        session.rollback()
        raise ActionRefused("conflict", "changed_meanwhile", "案件刚被他人修改，请刷新后重试",
                            "the case changed meanwhile: reload and try again") from None
    except Refused:
        session.rollback()
        raise
    return follow_ups
