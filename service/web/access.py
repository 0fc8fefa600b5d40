"""Who is making this request: the session cookie or an `Authorization: Bearer` token."""
from __future__ import annotations

from functools import wraps
from typing import Optional

from flask import g, request, session

from service.auth import user_by_token
from service.models import User
from service.web import db_session
from service.web.errors import ApiError


def current_user() -> Optional[User]:
    """The logged-in user of this request, or None."""
    if "user" not in g:
        g.user = _user_from_request()
    return g.user


def _user_from_request() -> Optional[User]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return user_by_token(db_session(), header[7:].strip())
    uid = session.get("uid")
    if isinstance(uid, int):
        user = db_session().get(User, uid)
        if user is not None and user.active:
            return user
    return None


def login_required(view):
    """Answer 401 unless someone is logged in."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            raise ApiError(401, "not_logged_in", "请先登录", "not logged in")
        return view(*args, **kwargs)

    return wrapped
