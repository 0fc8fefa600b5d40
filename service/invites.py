"""Inviting riders: a person made ahead by staff, and a signed single-use link that lets them set a password."""
from __future__ import annotations

import hashlib
from typing import Optional

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from service.auth import USERNAME_MAX_LENGTH, normalise_username, set_password
from service.models import User
from service.refusals import Refused
from service.users import new_person

INVITE_DAYS = 7
SALT = "rider-invite"


class InviteInvalid(Exception):
    """The link is unknown, expired, or already used."""


def _fingerprint(user: User) -> str:
    """Changes the moment a password is set, which is what makes the link single-use."""
    return hashlib.sha256((user.password_hash or "none").encode()).hexdigest()[:16]


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def create_invite(session: Session, secret: str, display_name: str, phone: str, username: str,
                  role: str = "reporter") -> tuple[User, str]:
    """Make the person (with no password yet) and the token of their invitation link; refused without a name,
    or when the username (normalised) is not letters and digits a phone keyboard types, too long or taken."""
    display_name, name = display_name.strip(), normalise_username(username)
    if not display_name or not name or not name.isascii() or len(name) > USERNAME_MAX_LENGTH:
        raise Refused("invalid", "invite_fields", "请填写姓名和用户名（字母或数字）",
                      "give a name and a username (letters or digits)", "username" if display_name else "display_name")
    try:
        user = new_person(session, name, role, display_name, phone)
    except Refused:
        session.rollback()
        raise
    session.commit()
    return user, invite_token(secret, user)


def invite_token(secret: str, user: User) -> str:
    """A signed token naming the person and their current password state."""
    return _serializer(secret).dumps({"uid": user.id, "fp": _fingerprint(user)})


def accept_invite(session: Session, secret: str, token: str, password: Optional[str]) -> User:
    """The invited person; with a password, it is set (and the link stops working). Raises InviteInvalid."""
    try:
        data = _serializer(secret).loads(token, max_age=INVITE_DAYS * 86400)
    except SignatureExpired:
        raise InviteInvalid("邀请链接已过期，请联系社区工作人员重新邀请 / the invitation has expired") from None
    except BadSignature:
        raise InviteInvalid("邀请链接无效 / not a valid invitation") from None
    user = session.get(User, data.get("uid")) if isinstance(data, dict) else None
    if user is None or not user.active or data.get("fp") != _fingerprint(user):
        raise InviteInvalid("邀请链接已使用或已失效 / the invitation was already used")
    if password is not None:
        set_password(user, password)
        session.commit()
    return user
