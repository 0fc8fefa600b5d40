"""Who is making this request: the session cookie or an `Authorization: Bearer` token; logging in and out."""
from __future__ import annotations

from datetime import UTC, datetime
from functools import wraps

from flask import abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from service.auth import user_by_session, user_by_token
from service.models import User
from service.refusals import Refused
from service.users import sign_out_everywhere
from service.web.extensions import db_session, services


class DailyRenewedSessions(SecureCookieSessionInterface):
    """The session cookie is sent again when the session changes, and otherwise once a day (its 30 days then run
    from that day): not on every answer, where it would be 200 bytes a phone downloads for nothing."""

    def should_set_cookie(self, app, session) -> bool:
        if session.modified:
            return True
        if not session.permanent:
            return False
        today = datetime.now(UTC).date().toordinal()
        if session.get("day") == today:
            return False
        session["day"] = today  # written into the cookie about to be sent
        return True


def current_user() -> User | None:
    """The logged-in user of this request, or None."""
    if "user" not in g:
        g.user = _user_from_request()
    return g.user


def _user_from_request() -> User | None:
    if uses_bearer_token():
        settings = services().settings
        return user_by_token(db_session(), bearer_token(), settings.secret_key, settings.token_days)
    return user_by_session(db_session(), session.get("uid"), session.get("sv"))


def log_in(user: User) -> None:
    """Start a cookie session for the user, of their current session version."""
    session.clear()
    session["uid"] = user.id
    session["sv"] = user.session_version
    session.permanent = True  # 30 days: a rider's phone stays logged in
    g.user = user


def log_out() -> None:
    """End every session and the bearer token of whoever is logged in (if anyone), and this cookie's session."""
    user = current_user()
    if user is not None:
        sign_out_everywhere(db_session(), user)
    session.clear()
    g.user = None


def login_required(view):
    """Answer 401 unless someone is logged in."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            raise Refused("not_logged_in", "not_logged_in", "请先登录", "not logged in")
        return view(*args, **kwargs)

    return wrapped


def page_login_required(*roles: str):
    """For pages: send a visitor to the login page, and answer 403 to a role not in `roles` (any role if none)."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if roles and user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def bearer_token() -> str:
    """The request's bearer token, or "" when it has none."""
    return request.headers.get("Authorization", "")[7:].strip() if uses_bearer_token() else ""


def uses_bearer_token() -> bool:
    """True when the request authenticates with a token rather than the session cookie (no CSRF possible)."""
    return request.headers.get("Authorization", "").lower().startswith("bearer ")
