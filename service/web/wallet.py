"""The rider's points page (我的积分): the balance in points and 紫藤花, what expires when, what an exchange's goods
cost and whether the balance covers them, the next exchange day, the history; and the code shown at the desk."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import segno
import sqlalchemy as sa
from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for

from service.auth import PEOPLE_ROLES
from service.db import utcnow
from service.exchange import exchange_of, exchanges_for, next_window, open_window
from service.ledger import Rule, history_of, wallet_of
from service.local_time import local_time
from service.models import Redemption, RedemptionCode
from service.points import case_numbers, held_reports, hold_words
from service.redemption import issue_code, signed_code
from service.web.access import current_user, page_login_required
from service.web.auth_pages import LANGUAGE_COOKIE, LANGUAGES, chosen_language
from service.web.extensions import db_session, services

bp = Blueprint("wallet", __name__)
WORDS = {
    "zh": {"lang": "zh-CN", "title": "我的积分", "back": "‹ 返回随手拍", "points": "积分", "flowers": "紫藤花",
           "balance": "可用", "equals": "合", "over": "余", "expiring": "即将过期", "expires": "有效至",
           "show_code": "出示兑换码", "catalogue": "兑换目录", "next": "下次兑换", "open": "兑换进行中",
           "stock": "库存", "affordable": "可兑换", "short": "还差", "history": "积分明细", "none": "暂无记录",
           "no_exchange": "附近还没有兑换点", "code_title": "兑换码",
           "code_hint": "请工作人员扫码，或输入下面的六位数字",
           "valid_until": "有效至", "waiting": "等待工作人员确认…", "receipt": "兑换成功", "left": "剩余",
           "again": "再出示一次", "expired": "兑换码已过期，请重新出示", "other": "English", "other_lang": "en",
           "case": "案件", "sold_out": "已兑完", "held": "暂缓发放的积分",
           "good_deeds": "顺手帮：登记路上的好人好事 ›", "by_name": "每周公示中显示您的姓名（部分隐去，如 张*华）。",
           "anonymous": "每周公示中您显示为“匿名”。", "be_anonymous": "改为匿名", "be_named": "显示姓名"},
    "en": {"lang": "en", "title": "My points", "back": "‹ Back to Snap", "points": "points", "flowers": "flowers",
           "balance": "Balance", "equals": "=", "over": "+", "expiring": "Expiring", "expires": "good until",
           "show_code": "Show my exchange code", "catalogue": "What points buy", "next": "Next exchange",
           "open": "Exchange open now", "stock": "left", "affordable": "You can have this", "short": "Short by",
           "history": "History", "none": "Nothing yet", "no_exchange": "No exchange near you yet",
           "code_title": "Exchange code", "code_hint": "Let staff scan it, or read them the six digits",
           "valid_until": "Good until", "waiting": "Waiting for staff to confirm…", "receipt": "Exchanged",
           "left": "Left", "again": "Show a new code", "expired": "The code has expired: show a new one",
           "other": "中文", "other_lang": "zh", "case": "case", "sold_out": "none left",
           "held": "Points held back", "good_deeds": "Helped someone on the way? Log it ›",
           "by_name": "The weekly ranking shows your name, partly hidden (张*华).",
           "anonymous": "The weekly ranking shows you as 匿名 (anonymous).", "be_anonymous": "Be anonymous",
           "be_named": "Show my name"},
}


def _language_kept(response, lang: str):
    """A switch (?lang=) is kept in the cookie the rider page and the login page read too."""
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="Lax",
                            secure=services().settings.https)
    return response


def _catalogue(user, now, rules) -> tuple:
    """The exchange shown (?community=, else the rider's most reported this quarter's) and every exchange."""
    every = exchanges_for(db_session(), user.id, now, rules.tz)
    asked = request.args.get("community")
    exchange = exchange_of(db_session(), asked) if asked else None
    return exchange or (every[0] if every else None), every


@bp.get("/wallet")
@page_login_required(*PEOPLE_ROLES)
def page():
    """My points, an exchange's goods, my history."""
    user, now, rules, lang = current_user(), utcnow(), services().desk_rules.points, chosen_language()
    wallet = wallet_of(db_session(), user.id, now, rules)
    exchange, every = _catalogue(user, now, rules)
    history = history_of(db_session(), user.id, limit=50)
    window = next_window(exchange, now, rules.tz) if exchange else None
    response = make_response(render_template(
        "wallet/page.html", words=WORDS[lang], lang=lang, wallet=wallet, rules=rules, exchange=exchange,
        exchanges=every, window=window, open_now=bool(exchange and open_window(exchange, now, rules.tz)),
        history=history, cases=case_numbers(db_session(), history), by_name=user.ranked_by_name,
        held_cases=[(h.case_no, hold_words(h.points_hold, h.points_hold_note, lang))
                    for h in held_reports(db_session(), user.id, 20)],
        rule_words={r.value: (r.zh if lang == "zh" else r.en) for r in Rule},
        last_day=lambda lot: local_time(lot.expires_at - timedelta(seconds=1), rules.tz, "%Y-%m-%d"),
        when=lambda t: local_time(t, rules.tz)))
    return _language_kept(response, lang)


@bp.post("/wallet/code")
@page_login_required(*PEOPLE_ROLES)
def new_code():
    """A new exchange code, then its page (a reload shows the same code, not another)."""
    issued = issue_code(db_session(), current_user(), utcnow(), services().settings.secret_key)
    session["redemption_code"] = issued.digits
    return redirect(url_for("wallet.code"), code=303)


@bp.get("/wallet/code")
@page_login_required(*PEOPLE_ROLES)
def code():
    """The code as a QR code and six digits until it expires; the page then shows the receipt once staff confirm
    (static/js/wallet.js asks for the wallet every few seconds)."""
    user, now, rules, lang = current_user(), utcnow(), services().desk_rules.points, chosen_language()
    shown = db_session().scalar(sa.select(RedemptionCode).where(
        RedemptionCode.user_id == user.id, RedemptionCode.digits == session.get("redemption_code", ""),
        RedemptionCode.expires_at > now, RedemptionCode.used_at.is_(None)).order_by(RedemptionCode.id.desc()).limit(1))
    if shown is None:
        flash(WORDS[lang]["expired"], "error")
        return redirect(url_for("wallet.page"), code=303)
    text = signed_code(shown.id, services().settings.secret_key)
    latest = db_session().scalar(sa.select(sa.func.max(Redemption.id)).where(Redemption.user_id == user.id))
    qr = segno.make(text, error="m").svg_inline(scale=6, title=WORDS[lang]["code_title"])
    zone = ZoneInfo(rules.tz)
    response = make_response(render_template(
        "wallet/code.html", words=WORDS[lang], lang=lang, qr=qr, digits=shown.digits, latest=latest or 0,
        expires=shown.expires_at.astimezone(zone).strftime("%H:%M"), expires_iso=shown.expires_at.isoformat()))
    response.headers["Cache-Control"] = "no-store"  # a code is for this moment and this phone only
    return _language_kept(response, lang)
