"""Telling people: who hears of each event and in what words (in-app notifications), and the texts for the
WeCom/DingTalk group robots, sent by their own job. The one module that writes a notification."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from service.auth import STAFF_ROLES
from service.db import utcnow
from service.follow_ups import DELIVER_WEBHOOK, FollowUp
from service.local_time import local_time
from service.models import Case, CaseEvent, MeToo, Notification, User, WebhookMessage
from service.states import CaseState


class WebhookFailed(Exception):
    """The robot did not take the message; the job retries with backoff."""


def notify(session: Session, users: Iterable[User], case: Case | None, kind: str, message: str) -> None:
    """Leave the same in-app message for each of the users (each once)."""
    seen: set[int] = set()
    for user in users:
        if user.id not in seen:
            seen.add(user.id)
            session.add(Notification(user_id=user.id, case=case, kind=kind, message=message))


def staff_members(session: Session) -> list[User]:
    """The active staff and admins, who hear of every case that needs a person."""
    return list(session.scalars(sa.select(User).where(User.role.in_(STAFF_ROLES), User.active.is_(True))))


def queue_webhook(session: Session, url: str | None, case: Case | None, content: str) -> FollowUp | None:
    """Keep a robot message for delivery after the commit; nothing when no robot is configured."""
    if not url:
        return None
    message = WebhookMessage(url=url, case=case, content=content)
    session.add(message)
    session.flush()
    return FollowUp(DELIVER_WEBHOOK, message.id)


def _work_order(case: Case, tz: str) -> str:
    """A new work order as the worker (and the grid's robot) read it."""
    where = f" · {case.grid.name}" if case.grid else ""
    who = f" · 指派 {case.assignee.display_name}" if case.assignee else ""
    return (f"【随手拍】新工单 {case.case_no} {case.category.name}{where} · 期限 {local_time(case.deadline_at, tz)}"
            f"{who}")


def _reporters(session: Session, case: Case) -> list[User]:
    """The reporter and everyone counted as "me too" on the case."""
    return [case.reporter] + [m.user for m in session.scalars(sa.select(MeToo).where(MeToo.case_id == case.id))]


def announce(session: Session, event: CaseEvent, tz: str, robot_url: str | None = None) -> list[FollowUp]:
    """Tell the people an event concerns, in its words; robot messages (the grid's robot, else `robot_url`, the
    staff group's) for what the pipeline did unattended. Returns their delivery follow-ups."""
    case, note, told = event.case, event.note, []
    robot_text = None
    if event.action == "unmerge":  # before the states it returns to, whose words are not this event's
        told = [([case.reporter], "unmerged", f"您的上报 {case.case_no} 不再记为重复，将作为单独的问题处理")]
    elif event.action == "dispatch":  # the pipeline routed it
        robot_text = _work_order(case, tz)
        if case.assignee is not None:
            told = [([case.assignee], "work_order", robot_text)]
        else:
            told = [(staff_members(session), "work_order_unassigned", robot_text + "（该网格未设网格员）")]
        robot_url = (case.grid.webhook_url if case.grid else None) or robot_url
    elif event.action == "assign":
        told = [([case.assignee], "work_order", _work_order(case, tz))] if case.assignee else []
        robot_url = None
    elif event.to_state == CaseState.UNROUTED:
        why = "无位置信息" if case.lat is None else "位置不在任何网格内"
        robot_text = f"【随手拍】{case.case_no} {case.category.name}：{why}，请人工派遣"
        told = [(staff_members(session), CaseState.UNROUTED, robot_text)]
    elif event.action == "resolve":
        told = [(staff_members(session), CaseState.RESOLVED, f"【随手拍】{case.case_no} 已处置，待核查结案")]
    elif event.action == "close":
        told = [(_reporters(session, case), CaseState.CLOSED,
                 f"您上报的 {case.case_no} {case.category.name} 已结案，感谢参与！")]
    elif event.action == "rework" and case.assignee is not None:
        told = [([case.assignee], "rework", f"【随手拍】{case.case_no} 核查未通过，需返工：{note}")]
    elif event.action == "reject":
        told = [([case.reporter], CaseState.REJECTED, f"您上报的 {case.case_no} 不予立案：{note}")]
    elif event.to_state == CaseState.DUPLICATE:
        told = [([case.reporter], CaseState.DUPLICATE, f"您的上报 {case.case_no} 与 {case.duplicate_of.case_no} "
                                                       "为同一问题，已记为“我也遇到”，结案时一并通知您")]
    elif event.action == "reopen":
        told = [(([case.assignee] if case.assignee else []) + staff_members(session), "reopened",
                 f"【随手拍】{case.case_no} 被重新打开：{note}")]
    for users, kind, text in told:
        notify(session, users, case, str(kind), text)
    follow_up = queue_webhook(session, robot_url, case, robot_text) if robot_text else None
    return [follow_up] if follow_up else []


def announce_processing_error(session: Session, case: Case, why: str) -> None:
    """Tell staff that a case's photos could not be processed (by the pipeline, or after every retry)."""
    notify(session, staff_members(session), case, "processing_error", f"【随手拍】{case.case_no} {why}，请查看")


def announce_overdue(session: Session, case: Case, now) -> None:
    """Tell the assignee and staff that a case being worked is past its deadline."""
    hours = int((now - case.deadline_at).total_seconds() // 3600)
    text = f"【随手拍】超期未结：{case.case_no} {case.category.name}，已超期 {hours} 小时"
    notify(session, ([case.assignee] if case.assignee else []) + staff_members(session), case, "overdue", text)


def robot_payload(content: str) -> dict:
    """The text message format both WeCom and DingTalk group robots accept."""
    return {"msgtype": "text", "text": {"content": content}}


def post_json(url: str, payload: dict, timeout: float = 5.0) -> None:
    """POST the payload; raise WebhookFailed unless the robot answers 2xx with errcode 0 (or no errcode)."""
    request = urllib.request.Request(url, data=json.dumps(payload, ensure_ascii=False).encode(), method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(65536)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WebhookFailed(str(exc)) from exc
    try:
        errcode = json.loads(body or b"{}").get("errcode", 0)
    except (ValueError, AttributeError):
        errcode = 0
    if errcode:
        raise WebhookFailed(f"robot answered errcode {errcode}: {body[:200]!r}")


def deliver_webhook(session: Session, message_id: int,
                    send: Callable[[str, dict], None] = post_json) -> bool:
    """Send one kept robot message unless it was sent already; True when sent now.

    A failure is recorded on the row and raised, so the job's retries (with backoff) take it from there;
    dispatch never waits on a robot.
    """
    message = session.get(WebhookMessage, message_id)
    if message is None or message.sent_at is not None:
        return False
    message.attempts += 1
    try:
        send(message.url, robot_payload(message.content))
    except WebhookFailed as exc:
        message.last_error = str(exc)[:1000]
        session.commit()
        raise
    message.sent_at = utcnow()
    message.last_error = None
    session.commit()
    return True


def latest_notifications(session: Session, user: User, limit: int) -> list[Notification]:
    """The person's latest notifications, newest first, with their cases."""
    return list(session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                .options(selectinload(Notification.case))
                                .order_by(Notification.id.desc()).limit(limit)))


def unread_count(session: Session, user: User) -> int:
    """How many of the person's notifications are unread."""
    return session.scalar(sa.select(sa.func.count()).select_from(Notification)
                          .where(Notification.user_id == user.id, Notification.read_at.is_(None)))


def mark_all_read(session: Session, user: User, now: datetime) -> None:
    """Mark every unread notification of the person read as of now, committed."""
    session.execute(sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
                    .values(read_at=now))
    session.commit()
