"""Logging in and out on the pages (in the language the person chose), changing one's password, and a rider's first
visit from an invitation link."""
from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

from service.auth import PasswordRefused, WrongPassword, authenticate
from service.invites import InviteInvalid, accept_invite
from service.refusals import Refused
from service.users import change_own_password
from service.web.access import current_user, log_in, log_out, page_login_required
from service.web.errors import REFUSAL_STATUS, seconds_until_the_limit_resets
from service.web.extensions import db_session, services
from service.web.links import safe_next
from service.web.throttle import limit_login_failures, limit_password_guesses

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {"staff": "desk.queue", "admin": "desk.queue", "grid_worker": "field.orders", "unit": "field.orders",
                "reporter": "main.index"}

# The language a person chose (the rider page's 中文/English keeps it in this cookie too, and so does the login
# page's own switch); without one, English for a browser that asks for it first, else Chinese.
LANGUAGE_COOKIE, LANGUAGES = "lang", ("zh", "en")
LOGIN_WORDS = {
    "zh": {"lang": "zh-CN", "brand": "随手拍", "title": "登录", "username": "用户名", "password": "密码",
           "submit": "登录", "other": "English", "other_lang": "en", "logged_out": "已退出登录"},
    "en": {"lang": "en", "brand": "Snap", "title": "Log in", "username": "Username", "password": "Password",
           "submit": "Log in", "other": "中文", "other_lang": "zh", "logged_out": "Logged out"},
}
PASSWORD_WORDS = {
    "zh": {"lang": "zh-CN", "brand": "随手拍", "title": "修改密码", "current": "当前密码",
           "new_password": "新密码（至少 8 位）",
           "again": "再次输入新密码", "submit": "修改", "others": "修改后，其他设备上的登录将失效。", "back": "返回",
           "changed": "密码已修改，其他设备需重新登录"},
    "en": {"lang": "en", "brand": "Snap", "title": "Change password", "current": "Current password",
           "new_password": "New password (at least 8 characters)", "again": "New password again", "submit": "Change",
           "others": "Other devices will have to log in again.", "back": "Back",
           "changed": "Password changed: other devices must log in again"},
}
WRONG_PASSWORD = Refused("not_logged_in", "bad_credentials", "用户名或密码错误", "wrong username or password")


def home_of(user) -> str:
    """Where a person lands after logging in."""
    return url_for(HOME_BY_ROLE[user.role])


def chosen_language() -> str:
    """zh or en: the page's switch (?lang=), else the person's cookie, else English when the browser asks for it
    first, else Chinese."""
    for asked in (request.args.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if asked in LANGUAGES:
            return asked
    return "en" if request.headers.get("Accept-Language", "").strip().lower().startswith("en") else "zh"


def in_words(refused: Refused, lang: str) -> str:
    """A refusal's message in one language (the English clause as a sentence)."""
    return refused.en[:1].upper() + refused.en[1:] if lang == "en" else refused.zh


def login_page(error: str | None = None, status: int = 200):
    """The login form in the chosen language; a switch to the other one keeps the choice in the cookie."""
    lang = chosen_language()
    response = make_response(render_template("auth/login.html", words=LOGIN_WORDS[lang], error=error), status)
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="Lax",
                            secure=services().settings.https)
    return response


def password_page(user, error: str | None = None, status: int = 200):
    """The change-password form in the chosen language."""
    words = PASSWORD_WORDS[chosen_language()]
    return make_response(render_template("auth/password.html", words=words, home=home_of(user), error=error), status)


@bp.route("/login", methods=["GET", "POST"])
@limit_login_failures
def login():
    """The login form; a wrong password answers 401 with the form again."""
    if request.method == "GET":
        user = current_user()
        return redirect(home_of(user)) if user else login_page()
    user = authenticate(db_session(), request.form.get("username", ""), request.form.get("password", ""))
    if user is None:
        return login_page(in_words(WRONG_PASSWORD, chosen_language()), 401)
    log_in(user)
    return redirect(safe_next(home_of(user)))


@bp.errorhandler(429)
def _too_many_wrong_passwords(_exc):
    """Locked out (login or password page): the same form again, saying in words when to try again."""
    wait = seconds_until_the_limit_resets()
    minutes = -(-wait // 60)
    locked = Refused("too_many", "too_many_attempts", f"密码错误次数过多，请 {minutes} 分钟后再试",
                     f"too many wrong passwords: try again in {minutes} min")
    user = current_user()
    if request.endpoint == "auth.password" and user is not None:
        response = password_page(user, in_words(locked, chosen_language()), 429)
    else:
        response = login_page(in_words(locked, chosen_language()), 429)
    response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/logout")
def logout():
    """Log out everywhere: this session, every copy of it, the user's other sessions and their bearer token."""
    log_out()
    flash(LOGIN_WORDS[chosen_language()]["logged_out"], "ok")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@limit_password_guesses
@page_login_required()
def password():
    """Change my password: the current one, then the new one twice; other sessions end, this one stays."""
    user = current_user()
    if request.method == "GET":
        return password_page(user)
    try:
        change_own_password(db_session(), user, request.form.get("current", ""), request.form.get("password", ""),
                            request.form.get("password2", ""))
    except (PasswordRefused, WrongPassword) as refused:  # a wrong current password: 401, as at login, and counted
        return password_page(user, in_words(refused, chosen_language()), REFUSAL_STATUS[refused.kind])
    log_in(user)
    flash(PASSWORD_WORDS[chosen_language()]["changed"], "ok")
    return redirect(url_for("auth.password"), code=303)  # the rider page shows no messages: say it here


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite(token: str):
    """A rider opens the invitation on the phone, sets a password, and lands on the report page."""
    secret = services().settings.secret_key
    try:
        user = accept_invite(db_session(), secret, token, password=None)
    except InviteInvalid as exc:
        return render_template("auth/invite.html", error=exc.message), 410
    if request.method == "GET":
        return render_template("auth/invite.html", user=user)
    try:
        accept_invite(db_session(), secret, token, request.form.get("password", ""), request.form.get("password2", ""))
    except InviteInvalid as exc:  # used up in the meantime, from another tab
        return render_template("auth/invite.html", error=exc.message), 410
    except Refused as refused:
        return render_template("auth/invite.html", user=user, error=refused.message), 422
    log_in(user)
    return redirect(home_of(user))
