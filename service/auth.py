"""Who is asking: password and API-token checks, and who may see which case."""
from __future__ import annotations

import hashlib
import secrets
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service.models import Case, User

STAFF_ROLES = frozenset({"staff", "admin"})
# Compared against when the username is unknown, so a miss takes as long as a wrong password.
_ABSENT_USER_HASH = generate_password_hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """A salted scrypt hash of the password."""
    return generate_password_hash(password)


def authenticate(session: Session, username: str, password: str) -> Optional[User]:
    """The active user with this username and password, or None."""
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.password_hash:
        check_password_hash(_ABSENT_USER_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def token_digest(token: str) -> str:
    """What is kept of a bearer token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user: User) -> str:
    """Give the user a new bearer token (replacing the old one); only its hash is kept."""
    token = secrets.token_urlsafe(32)
    user.api_token_hash = token_digest(token)
    return token


def user_by_token(session: Session, token: str) -> Optional[User]:
    """The active user holding this bearer token, or None."""
    if not token:
        return None
    user = session.scalar(sa.select(User).where(User.api_token_hash == token_digest(token)))
    return user if user is not None and user.active else None


def can_view_case(user: User, case: Case) -> bool:
    """Staff see every case; a grid worker their grid's and their own work; a reporter only their own reports."""
    if user.role in STAFF_ROLES or case.reporter_id == user.id:
        return True
    if user.role == "grid_worker":
        return case.assignee_id == user.id or (case.grid is not None and case.grid.worker_id == user.id)
    return False
