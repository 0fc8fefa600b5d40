"""Inviting riders: a person made ahead by staff, and a signed single-use link that lets them set a password."""
from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from service.auth import MIN_PASSWORD_LENGTH, USERNAME_MAX_LENGTH, normalise_username, set_password
from service.models import User
from service.refusals import Refused
from service.users import new_person

INVITE_DAYS = 7
SALT = "rider-invite"


class InviteInvalid(Refused):
    """The link is unknown, expired, or already used."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__("not_found", code, zh, en)


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


def accept_invite(session: Session, secret: str, token: str, password: str | None = None,
                  password_again: str | None = None) -> User:
    """The invited person; with a password (typed twice alike, long enough), it is set, committed, and the link
    stops working. Raises InviteInvalid for the link, Refused for the password."""
    try:
        data = _serializer(secret).loads(token, max_age=INVITE_DAYS * 86400)
    except SignatureExpired:
        raise InviteInvalid("invite_expired", "邀请链接已过期，请联系社区工作人员重新邀请",
                            "the invitation has expired") from None
    except BadSignature:
        raise InviteInvalid("invite_invalid", "邀请链接无效", "not a valid invitation") from None
    user = session.get(User, data.get("uid")) if isinstance(data, dict) else None
    if user is None or not user.active or data.get("fp") != _fingerprint(user):
        raise InviteInvalid("invite_used", "邀请链接已使用或已失效", "the invitation was already used")
    if password is not None:
        if len(password) < MIN_PASSWORD_LENGTH or password != password_again:
            raise Refused("invalid", "bad_new_password", f"密码至少 {MIN_PASSWORD_LENGTH} 位，且两次输入一致",
                          f"at least {MIN_PASSWORD_LENGTH} characters, typed twice alike", "password")
        set_password(user, password)
        session.commit()
    return user
