"""Rate limits: report intake per rider and per address, and failed logins per account and per address.

Each answers 429 with Retry-After and the JSON error; the limits are settings (config/settings.py), counted in
Redis by Flask-Limiter, and lapse while Redis is down rather than turn anyone away.
"""
from __future__ import annotations

from flask import request, session
from flask_limiter.util import get_remote_address

from service.auth import token_digest
from service.web import limiter, services
from service.web.access import bearer_token


def _account() -> str:
    """The username a login attempt names, from a form or a JSON body."""
    body = request.get_json(silent=True) if request.is_json else request.form
    name = body.get("username") if hasattr(body, "get") else None
    return f"account:{name if isinstance(name, str) else ''}"


def _reporter() -> str:
    """Who is sending, without asking the database: the bearer token's digest or the session's user id.

    The limit is checked before the body is read, and a database connection taken now would be held, idle in a
    transaction, for as long as a slow phone takes to send its photos. (A new login starts a new count; the
    address limit still holds.) Anyone else is counted by address, and refused as not logged in afterwards.
    """
    token = bearer_token()
    if token:
        return f"token:{token_digest(token)}"
    if isinstance(session.get("uid"), int):
        return f"user:{session['uid']}"
    return f"anonymous:{get_remote_address()}"


def _failed(response) -> bool:
    """Only failures count: a person who types the right password is never slowed down."""
    return response.status_code == 401


def limit_login_failures(view):
    """Both limits on a login view, shared by the page and the API: repeated failures for one account, or from
    one address, get 429 (with Retry-After) until the window has passed."""
    view = limiter.shared_limit(lambda: services().settings.login_limit_per_account, scope="login-account",
                                key_func=_account, deduct_when=_failed, methods=["POST"])(view)
    return limiter.shared_limit(lambda: services().settings.login_limit_per_address, scope="login-address",
                                deduct_when=_failed, methods=["POST"])(view)


def limit_intake(view):
    """Both limits on report intake: one rider's reports, and everything sent from one address (many riders share
    a carrier's address, so that limit is the wider one). Every attempt counts, accepted or not."""
    view = limiter.limit(lambda: services().settings.intake_limit_per_user, key_func=_reporter,
                         scope="intake-user", methods=["POST"])(view)
    return limiter.limit(lambda: services().settings.intake_limit_per_address, scope="intake-address",
                         methods=["POST"])(view)
