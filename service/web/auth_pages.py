"""Logging in and out on the pages, and a rider's first visit from an invitation link."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from service.auth import authenticate
from service.invites import InviteInvalid, accept_invite
from service.web import db_session, services
from service.web.access import current_user
from service.web.throttle import limit_login_failures

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {"staff": "desk.queue", "admin": "desk.queue", "grid_worker": "field.orders", "reporter": "main.index"}


def home_of(user) -> str:
    """Where a person lands after logging in."""
    return url_for(HOME_BY_ROLE[user.role])


def _safe_next(default: str) -> str:
    target = request.values.get("next") or ""
    parts = urlsplit(target)
    return target if target.startswith("/") and not parts.scheme and not parts.netloc else default


def _log_in(user) -> None:
    session.clear()
    session["uid"] = user.id
    session.permanent = True  # 30 days: a rider's phone stays logged in


@bp.route("/login", methods=["GET", "POST"])
@limit_login_failures
def login():
    """The login form; a wrong password answers 401 with the form again."""
    if request.method == "GET":
        user = current_user()
        return redirect(home_of(user)) if user else render_template("auth/login.html")
    user = authenticate(db_session(), request.form.get("username", "").strip(), request.form.get("password", ""))
    if user is None:
        return render_template("auth/login.html", error="用户名或密码错误 / wrong username or password"), 401
    _log_in(user)
    return redirect(_safe_next(home_of(user)))


@bp.post("/logout")
def logout():
    """Forget the session."""
    session.clear()
    flash("已退出登录", "ok")
    return redirect(url_for("auth.login"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite(token: str):
    """A rider opens the invitation on the phone, sets a password, and lands on the report page."""
    secret = services().settings.secret_key
    try:
        user = accept_invite(db_session(), secret, token, password=None)
    except InviteInvalid as exc:
        return render_template("auth/invite.html", error=str(exc)), 410
    if request.method == "GET":
        return render_template("auth/invite.html", user=user)
    password = request.form.get("password", "")
    if len(password) < 8 or password != request.form.get("password2", ""):
        return render_template("auth/invite.html", user=user,
                               error="密码至少 8 位，且两次输入一致 / at least 8 characters, typed twice alike"), 422
    accept_invite(db_session(), secret, token, password=password)
    _log_in(user)
    return redirect(home_of(user))
