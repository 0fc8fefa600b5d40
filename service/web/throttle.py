"""Rate limits: report intake per rider and per address, the nearby look-up per rider, failed logins (and wrong
current passwords on the password page) per account and per address, and redemption codes that name no code, per
staff member.

Each answers 429 with Retry-After and the JSON error; the limits are settings (config/settings.py), counted in
Redis by Flask-Limiter, and lapse while Redis is down rather than turn anyone away.
"""
from __future__ import annotations

from flask import request, session
from flask_limiter.util import get_remote_address

from service.auth import account_key, login_account_key, token_user_id
from service.open311_intake import client_limit, hashed_key
from service.web.access import bearer_token, current_user
from service.web.extensions import db_session, limiter, services


def _account() -> str:
    """The account a login attempt names, from a form or a JSON body: the user's id when the name (normalised)
    is someone's, so every spelling of a username shares one count."""
    body = request.get_json(silent=True) if request.is_json else request.form
    name = body.get("username") if hasattr(body, "get") else None
    return f"account:{login_account_key(db_session(), name if isinstance(name, str) else '')}"


def _own_account() -> str:
    """The logged-in person changing their password, counted as the same account as their logins."""
    user = current_user()
    return f"account:{account_key(user)}" if user is not None else f"anonymous:{get_remote_address()}"


def _reporter() -> str:
    """Who is sending, by user id whatever the credential, without asking the database.

    The limit is checked before the body is read, and a database connection taken now would be held, idle in a
    transaction, for as long as a slow phone takes to send its photos. So the id comes from what the app's secret
    signed: the bearer token (`<user id>.<random>.<signature>`) or the session cookie. A token or cookie that is
    signed but no longer valid (logged out, expired) still counts against its user, who alone could have had it,
    and is refused as not logged in afterwards. Anyone else is counted by address.
    """
    token = bearer_token()
    uid = token_user_id(token, services().settings.secret_key) if token else session.get("uid")
    if isinstance(uid, int):
        return f"user:{uid}"
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


def limit_nearby(view):
    """A limit on the nearby look-up per rider: each answer carries signed links to the thumbnails of the open
    cases near the point asked about, and a rider asking about point after point would collect them all."""
    return limiter.limit(lambda: services().settings.nearby_limit_per_user, key_func=_reporter, scope="nearby-user",
                         methods=["GET"])(view)


def _unknown_code(response) -> bool:
    """A code that names none (404): what guessing six digits looks like."""
    return response.status_code == 404


def limit_code_guesses(view):
    """A limit on the redemption codes one staff member sends that name no code: six digits are few, and a desk
    trying digit after digit would find someone's live code."""
    return limiter.shared_limit(lambda: services().settings.code_guess_limit_per_staff, scope="code-guesses",
                                key_func=_reporter, deduct_when=_unknown_code, methods=["POST"])(view)


def limit_password_guesses(view):
    """Wrong current passwords on the password page share the account's count of failed logins: a stolen
    session cookie gives no faster way to guess the password than the login form."""
    return limiter.shared_limit(lambda: services().settings.login_limit_per_account, scope="login-account",
                                key_func=_own_account, deduct_when=_failed, methods=["POST"])(view)


def _open311_client() -> str:
    """Which client is posting, by its key's hash (the key itself is never kept, not even in Redis)."""
    key = request.form.get("api_key") or ""
    return f"open311:{hashed_key(key)}" if key else f"anonymous:{get_remote_address()}"


def _open311_limit() -> str:
    """The client's own limit when the desk set one, else OPEN311_LIMIT_PER_CLIENT."""
    key = request.form.get("api_key") or ""
    own = client_limit(db_session(), key) if key else None
    return own or services().settings.open311_limit_per_client


def limit_open311_posts(view):
    """A limit on each Open311 client's POSTs: 429 with Retry-After (as an Open311 error list) beyond it."""
    return limiter.limit(_open311_limit, key_func=_open311_client, scope="open311-client", methods=["POST"])(view)
