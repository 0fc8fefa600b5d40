"""Who is asking: usernames, passwords, API tokens and sessions that end, and who may see which case."""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, Signer
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service.db import utcnow
from service.models import User
from service.parsing import INT32_MAX, whole_number
from service.refusals import Refused
from service.vocabulary import Worded


class Role(Worded):
    """A person's role (the users.role column, models.ROLES), with its Chinese and English names for the pages."""

    REPORTER = "reporter", "骑手", "Rider"
    GRID_WORKER = "grid_worker", "网格员", "Grid worker"
    UNIT = "unit", "责任单位", "Unit"
    OPEN311 = "open311", "接口客户端", "Open311 client"  # another system's service account: files cases, no login
    STAFF = "staff", "工作人员", "Staff"
    ADMIN = "admin", "管理员", "Administrator"


def role_label(role: str) -> str:
    """A role as the pages show it: 网格员 Grid worker (an unknown one as it is stored)."""
    return f"{Role(role).zh} {Role(role).en}" if role in Role._value2member_map_ else role


STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})
# the roles a person is given at the desk; an Open311 client's account is made with the client (service.open311_intake)
PEOPLE_ROLES = tuple(role for role in Role if role is not Role.OPEN311)
MIN_PASSWORD_LENGTH = 8
USERNAME_MAX_LENGTH = 64
TOKEN_SALT = "api-token"
# Compared against when the username is unknown, so a miss takes as long as a wrong password.
_ABSENT_USER_HASH = generate_password_hash(secrets.token_urlsafe(16))


class PasswordRefused(Refused):
    """A new password that may not be set."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__("invalid", code, zh, en, "password")


class WrongPassword(Refused):
    """The current password given to change it is wrong: a failed guess, answered and counted like a failed login."""

    def __init__(self):
        super().__init__("not_logged_in", "wrong_password", "当前密码不正确", "the current password is wrong",
                         "current")


def normalise_username(name: str) -> str:
    """The one spelling of a username: NFKC (full-width letters become ASCII), without the invisible format
    characters (zero-width spaces, BOM) and without whitespace of any kind at either end (tabs, NBSP, U+3000)."""
    name = unicodedata.normalize("NFKC", name)
    return "".join(c for c in name if unicodedata.category(c) != "Cf").strip()


def user_by_username(session: Session, name: str) -> User | None:
    """The user with this username, however it was typed, or None."""
    name = normalise_username(name)
    return session.scalar(sa.select(User).where(User.username == name)) if name else None


def new_username(session: Session, name: str) -> str:
    """The normalised username for a new account; refused when empty, too long or taken."""
    name = normalise_username(name)
    if not name or len(name) > USERNAME_MAX_LENGTH:
        raise Refused("invalid", "bad_username", f"用户名须为 1 到 {USERNAME_MAX_LENGTH} 个字符",
                      f"a username has 1 to {USERNAME_MAX_LENGTH} characters", "username")
    if session.scalar(sa.select(User.id).where(User.username == name)) is not None:
        raise Refused("conflict", "username_taken", f"用户名 {name} 已被使用", f"username {name} is taken", "username")
    return name


def account_key(user: User) -> str:
    """What failed password checks of this user are counted against, whoever makes them."""
    return f"user:{user.id}"


def login_account_key(session: Session, name: str) -> str:
    """What failed logins are counted against: the user's when the name is someone's, else the name itself, so
    that no spelling of a locked account gets a fresh count."""
    user = user_by_username(session, name)
    return account_key(user) if user is not None else f"name:{normalise_username(name)}"


def hash_password(password: str) -> str:
    """A salted scrypt hash of the password."""
    return generate_password_hash(password)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username (however typed) and password, or None."""
    user = user_by_username(session, username)
    stored, active = (user.password_hash, user.active) if user is not None else (None, False)
    # the connection goes back to the pool while scrypt runs (a tenth of a second or more): a rush of logins
    # must not hold every pooled connection and starve the requests queued behind them
    session.rollback()
    if not stored:
        check_password_hash(_ABSENT_USER_HASH, password)
        return None
    if not check_password_hash(stored, password) or not active:
        return None
    return user


def end_sessions(user: User) -> None:
    """Log the user out everywhere: every session cookie issued so far and the bearer token stop working."""
    user.session_version = (user.session_version or 0) + 1
    user.api_token_hash = None
    user.api_token_issued_at = None


def _check_new_password(password: str) -> None:
    """PasswordRefused for a password shorter than MIN_PASSWORD_LENGTH."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRefused("password_too_short", f"密码至少 {MIN_PASSWORD_LENGTH} 位",
                              f"at least {MIN_PASSWORD_LENGTH} characters")


def set_password(user: User, password: str) -> None:
    """Give the user a new password (at least MIN_PASSWORD_LENGTH characters) and end their sessions."""
    _check_new_password(password)
    user.password_hash = hash_password(password)
    end_sessions(user)


def change_password(user: User, current: str, new: str, new_again: str) -> None:
    """The person's own change: the new password typed twice alike and long enough, then the current one."""
    if new != new_again:
        raise PasswordRefused("passwords_differ", "两次输入的新密码不一致",
                              "the new password was not typed twice alike")
    _check_new_password(new)
    if not user.password_hash or not check_password_hash(user.password_hash, current):
        raise WrongPassword()
    set_password(user, new)


def generated_password() -> str:
    """A password for an admin to hand over once: 12 characters, easy to type on a phone."""
    return secrets.token_urlsafe(9)


def set_active(user: User, active: bool) -> None:
    """Activate or deactivate a person; deactivating also ends their sessions."""
    user.active = active
    if not active:
        end_sessions(user)


def token_digest(token: str) -> str:
    """What is kept of a bearer token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user: User, secret: str) -> str:
    """Give the user a new bearer token (replacing the old one); only its hash and its time are kept.

    The token is `<user id>.<random>.<signature>`: the signature (the app's secret) lets the rate limits count
    the user without a database query, and the random part, checked against the stored hash, is what logs in.
    """
    token = Signer(secret, salt=TOKEN_SALT).sign(f"{user.id}.{secrets.token_urlsafe(32)}").decode()
    user.api_token_hash = token_digest(token)
    user.api_token_issued_at = utcnow()
    return token


def token_user_id(token: str, secret: str) -> int | None:
    """The user id a genuinely signed token names (whether or not it is still valid), or None."""
    try:
        return whole_number(Signer(secret, salt=TOKEN_SALT).unsign(token).decode().split(".", 1)[0], 1, INT32_MAX)
    except (BadSignature, UnicodeError, ValueError):
        return None


def token_expired(issued_at: datetime | None, days: int, now: datetime) -> bool:
    """True for a token issued more than `days` days ago (or at no known time)."""
    return issued_at is None or now - issued_at > timedelta(days=days)


def user_by_session(session: Session, uid: object, version: object) -> User | None:
    """The active user a session cookie names, if the cookie is of their current session version: a cookie from
    before the user's last logout, password change or deactivation names an older one."""
    if not isinstance(uid, int):
        return None
    user = session.get(User, uid)
    if user is not None and user.active and version == user.session_version:
        return user
    return None


def user_by_token(session: Session, token: str, secret: str, days: int,
                  now: datetime | None = None) -> User | None:
    """The active user holding this bearer token, signed with this secret and issued less than `days` days ago,
    or None."""
    uid = token_user_id(token, secret) if token else None
    if uid is None:
        return None
    user = session.scalar(sa.select(User).where(User.api_token_hash == token_digest(token)))
    if user is None or user.id != uid or not user.active \
            or token_expired(user.api_token_issued_at, days, now or utcnow()):
        return None
    return user
