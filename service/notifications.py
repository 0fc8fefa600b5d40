"""Telling people: in-app notifications, and texts for the WeCom/DingTalk group robots, sent by their own job."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Callable, Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from service.auth import STAFF_ROLES
from service.db import utcnow
from service.lifecycle import FollowUp
from service.models import Case, Notification, User, WebhookMessage


class WebhookFailed(Exception):
    """The robot did not take the message; the job retries with backoff."""


def notify(session: Session, users: Iterable[User], case: Optional[Case], kind: str, message: str) -> None:
    """Leave the same in-app message for each of the users."""
    for user in users:
        session.add(Notification(user_id=user.id, case=case, kind=kind, message=message))


def staff_members(session: Session) -> list[User]:
    """The active staff and admins, who hear of every case that needs a person."""
    return list(session.scalars(sa.select(User).where(User.role.in_(STAFF_ROLES), User.active.is_(True))))


def queue_webhook(session: Session, url: Optional[str], case: Optional[Case], content: str) -> Optional[FollowUp]:
    """Keep a robot message for delivery after the commit; nothing when no robot is configured."""
    if not url:
        return None
    message = WebhookMessage(url=url, case=case, content=content)
    session.add(message)
    session.flush()
    return FollowUp("deliver_webhook", message.id)


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
