"""Telling people: who hears of each event (in-app notifications, kept as a kind and its facts, which
service.event_words says in the reader's language), and the messages for the WeCom/DingTalk group robots, sent by their
own job. The one module that writes a notification."""
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
from service.dispatch import why_unrouted
from service.event_words import Reading, notification_text
from service.follow_ups import DELIVER_WEBHOOK, FollowUp
from service.lifecycle import UNMERGE
from service.models import Case, CaseEvent, MeToo, Notification, Unit, User, WebhookMessage
from service.runtime.metrics import counted_send
from service.states import CaseState


class WebhookFailed(Exception):
    """The robot did not take the message; the job retries with backoff."""


def notify(session: Session, users: Iterable[User], case: Case | None, kind: str, facts: dict) -> None:
    """Leave the same in-app notification for each of the users (each once): its kind and facts, from which
    service.event_words makes its text in the reader's language."""
    seen: set[int] = set()
    for user in users:
        if user.id not in seen:
            seen.add(user.id)
            session.add(Notification(user_id=user.id, case=case, kind=kind, message="", facts=facts))


def staff_members(session: Session, case: Case) -> list[User]:
    """The active staff and admins of the case's community, who hear of every case there that needs a person; for
    a case in no community, the district's (those of no community or street office)."""
    if case.community_id is not None:
        whose = User.community_id == case.community_id
    else:
        whose = sa.and_(User.community_id.is_(None), User.street_office_id.is_(None))
    return list(session.scalars(sa.select(User).where(User.role.in_(STAFF_ROLES), User.active.is_(True), whose)))


def office_staff(session: Session, case: Case) -> list[User]:
    """The active staff of the case's street office, who route what their communities escalate."""
    if case.street_office_id is None:
        return staff_members(session, case)
    return list(session.scalars(sa.select(User).where(User.role.in_(STAFF_ROLES), User.active.is_(True),
                                                      User.street_office_id == case.street_office_id)))


def _desk_of(session: Session, case: Case) -> list[User]:
    """Whoever routes the case now: its street office's staff once escalated, else its community's."""
    return office_staff(session, case) if case.escalated_at is not None else staff_members(session, case)


def _assignees(session: Session, case: Case) -> list[User]:
    """Who works the case: its assignee, or the active people of the unit it was given to."""
    if case.assignee is not None:
        return [case.assignee]
    if case.assignee_unit is None:
        return []
    return list(session.scalars(sa.select(User).join(Unit, Unit.id == User.unit_id).where(
        Unit.code == case.assignee_unit, User.active.is_(True))))


def queue_webhook(session: Session, url: str | None, case: Case | None, content: str) -> FollowUp | None:
    """Keep a robot message for delivery after the commit; nothing when no robot is configured."""
    if not url:
        return None
    message = WebhookMessage(url=url, case=case, content=content)
    session.add(message)
    session.flush()
    return FollowUp(DELIVER_WEBHOOK, message.id)


def case_facts(case: Case, **more) -> dict:
    """The facts every notification of a case keeps: its number and category (code and Chinese name)."""
    return {"case_no": case.case_no, "category": case.category.code, "category_name": case.category.name, **more}


def _work_order(case: Case) -> dict:
    """A new work order's facts, as the worker (and the grid's robot) read it."""
    return case_facts(case, grid=case.grid.name if case.grid else None,
                      deadline=case.deadline_at.isoformat() if case.deadline_at else None,
                      assignee=case.assignee.display_name if case.assignee else None)


def _reporters(session: Session, case: Case) -> list[User]:
    """The reporter and everyone counted as "me too" on the case."""
    return [case.reporter] + [m.user for m in session.scalars(sa.select(MeToo).where(MeToo.case_id == case.id))]


def announce(session: Session, event: CaseEvent, tz: str, robot_url: str | None = None) -> list[FollowUp]:
    """Tell the people an event concerns, in its words; robot messages (the grid's robot, else `robot_url`, the
    staff group's) for what the pipeline did unattended. Returns their delivery follow-ups."""
    case, told = event.case, []
    noted = case_facts(case, note=event.note)
    robot = None  # (kind, facts) of the robot's message, in Chinese
    if event.action == UNMERGE:  # before the states it returns to, whose words are not this event's
        told = [([case.reporter], "unmerged", case_facts(case))]
    elif event.action == "dispatch":  # the pipeline routed it
        robot = ("work_order", _work_order(case))
        if case.assignee is not None:
            told = [([case.assignee], *robot)]
        else:
            told = [(staff_members(session, case), "work_order_unassigned", robot[1])]
        robot_url = (case.grid.webhook_url if case.grid else None) or robot_url
    elif event.action == "assign":
        told = [(_assignees(session, case), "work_order", _work_order(case))]
        robot_url = None
    elif event.action == "transfer":
        told = [(staff_members(session, case), "transferred", {**noted, "from": event.facts.get("from")})]
    elif event.action == "escalate":
        told = [(office_staff(session, case), "escalated",
                 {**noted, "from": case.community.name if case.community else None})]
    elif event.action == "send_back":
        told = [(_desk_of(session, case), "sent_back", case_facts(case, reason=event.facts.get("reason")))]
    elif event.to_state == CaseState.UNROUTED:
        robot = (CaseState.UNROUTED, case_facts(case, why=why_unrouted(case)))
        told = [(staff_members(session, case), *robot)]
        robot_url = (case.community.webhook_url if case.community else None) or robot_url
    elif event.action == "resolve":
        told = [(_desk_of(session, case), CaseState.RESOLVED, case_facts(case))]
    elif event.action == "close":
        told = [(_reporters(session, case), CaseState.CLOSED, case_facts(case))]
    elif event.action == "rework" and case.assignee is not None:
        told = [([case.assignee], "rework", noted)]
    elif event.action == "reject":
        told = [([case.reporter], CaseState.REJECTED, noted)]
    elif event.to_state == CaseState.DUPLICATE:
        told = [([case.reporter], CaseState.DUPLICATE, case_facts(case, original=case.duplicate_of.case_no))]
    elif event.action == "reopen":
        told = [(([case.assignee] if case.assignee else []) + staff_members(session, case), "reopened", noted)]
    for users, kind, facts in told:
        notify(session, users, case, str(kind), facts)
    if robot is None:
        return []
    text = notification_text(robot[0], robot[1], "", "zh", Reading(tz))
    follow_up = queue_webhook(session, robot_url, case, text)
    return [follow_up] if follow_up else []


def announce_processing_error(session: Session, case: Case, why: str) -> None:
    """Tell staff that a case's photos could not be processed (by the pipeline, or after every retry); `why` is
    one of service.event_words.WHY_UNPROCESSED."""
    notify(session, staff_members(session, case), case, "processing_error", case_facts(case, why=why))


def announce_overdue(session: Session, case: Case, now) -> None:
    """Tell the assignee and staff that a case being worked is past its deadline."""
    hours = int((now - case.deadline_at).total_seconds() // 3600)
    notify(session, ([case.assignee] if case.assignee else []) + staff_members(session, case), case, "overdue",
           case_facts(case, hours=hours))


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
        with counted_send("webhook"):
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


def mark_read(session: Session, user: User, notification_id: int, now: datetime) -> bool:
    """Mark one of the person's notifications read (once: the first time stays), committed; False when they have
    none of that id (someone else's is as good as none)."""
    found = session.scalar(sa.select(Notification).where(Notification.id == notification_id,
                                                         Notification.user_id == user.id))
    if found is None:
        return False
    found.read_at = found.read_at or now
    session.commit()
    return True
