"""Slowing down password guessing: failed logins are counted per account and per address, then answered 429."""
from __future__ import annotations

from flask import request

from service.web import limiter

PER_ACCOUNT = "5 per 5 minutes"
PER_ADDRESS = "30 per 10 minutes"


def _account() -> str:
    """The username a login attempt names, from a form or a JSON body."""
    body = request.get_json(silent=True) if request.is_json else request.form
    name = body.get("username") if hasattr(body, "get") else None
    return f"account:{name if isinstance(name, str) else ''}"


def _failed(response) -> bool:
    """Only failures count: a person who types the right password is never slowed down."""
    return response.status_code == 401


def limit_login_failures(view):
    """Both limits on a login view, shared by the page and the API: repeated failures for one account, or from
    one address, get 429 (with Retry-After) until the window has passed."""
    view = limiter.shared_limit(PER_ACCOUNT, scope="login-account", key_func=_account, deduct_when=_failed,
                                methods=["POST"])(view)
    return limiter.shared_limit(PER_ADDRESS, scope="login-address", deduct_when=_failed, methods=["POST"])(view)
