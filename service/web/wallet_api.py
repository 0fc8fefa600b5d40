"""The points API: my wallet (balance in points and 紫藤花, what expires when, history), the exchanges' catalogues,
my redemption code, and for staff the redemptions they confirm (and for admins, reverse)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request

from service.auth import STAFF_ROLES, Role
from service.db import by_id, utcnow
from service.exchange import exchange_of, exchanges_for, next_window, open_window
from service.ledger import Rule, history_of, wallet_of
from service.models import Exchange, PointsEntry, Redemption
from service.points import case_numbers, held_reports, hold_words
from service.redemption import (
    Order,
    balance_of,
    code_named,
    earlier_answer,
    issue_code,
    live_or_gone,
    not_ones_own,
    redeem,
    reverse_redemption,
)
from service.refusals import Refused
from service.scope import Level, level_of, may_work_community
from service.web.access import current_user, login_required
from service.web.api import local_iso
from service.web.extensions import db_session, services
from service.web.throttle import limit_code_guesses

bp = Blueprint("wallet_api", __name__)
RULE_NOTES = {Rule.REDEEMED, Rule.REVERSAL}  # whose entries name a redemption


def _rules():
    return services().desk_rules.points


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused("malformed", "bad_request", "请提交 JSON 对象", "send a JSON object")
    return body


def _entry(entry: PointsEntry, cases: dict[int, str]) -> dict:
    """One line of the history as the wallet shows it."""
    rule = Rule(entry.rule)
    return {"at": local_iso(entry.created_at), "rule": rule.value, "words": {"zh": rule.zh, "en": rule.en},
            "points": entry.points, "case_no": cases.get(entry.case_id), "lot": entry.lot,
            "redemption": entry.redemption_id if rule in RULE_NOTES else None, "note": entry.note}


@bp.get("/me/wallet")
@login_required
def my_wallet():
    """My balance in points and flowers, what expires when (oldest first), my history (newest first), and my
    latest redemption (the receipt the code page shows once staff confirm)."""
    session, user, now, rules = db_session(), current_user(), utcnow(), _rules()
    wallet = wallet_of(session, user.id, now, rules)
    history = history_of(session, user.id)
    cases = case_numbers(session, history)
    latest = session.scalar(sa.select(Redemption).where(Redemption.user_id == user.id)
                            .order_by(Redemption.id.desc()).limit(1))
    held = held_reports(session, user.id)
    return jsonify({**balance_of(wallet.points, rules), "per_flower": rules.per_flower,
                    "held": [{"case_no": h.case_no, "code": h.points_hold, "words": {
                        "zh": hold_words(h.points_hold, h.points_hold_note),
                        "en": hold_words(h.points_hold, h.points_hold_note, "en")}} for h in held],
                    "expiring": [{"lot": lot.name, "points": lot.left, "expires_at": local_iso(lot.expires_at)}
                                 for lot in wallet.lots],
                    "history": [_entry(e, cases) for e in history],
                    "last_redemption": latest.answer if latest else None})


def _picture(name: str | None) -> str | None:
    """The URL of an item's picture (its fingerprinted static file), or None when it has none we ship."""
    try:
        return current_app.extensions["assets"].url(f"img/catalogue/{name}") if name else None
    except LookupError:
        return None


def _window(exchange: Exchange, now) -> dict:
    window, tz = next_window(exchange, now, _rules().tz), _rules().tz
    return {"first_day": window.first.isoformat(), "last_day": window.last.isoformat(),
            "open_now": open_window(exchange, now, tz) is not None}


@bp.get("/catalogue")
def catalogue():
    """One exchange's goods (?community=CODE; by default the community I reported in most this quarter, else
    the first): code, name, price in flowers, stock, picture, whether my balance covers it; the next exchange
    days; and every community holding an exchange (mine first), to choose another."""
    session, user, now, rules = db_session(), current_user(), utcnow(), _rules()
    every = exchanges_for(session, user.id if user else 0, now, rules.tz)
    code = request.args.get("community")
    exchange = exchange_of(session, code) if code else (every[0] if every else None)
    if exchange is None:
        raise Refused("not_found", "no_exchange", "该社区没有兑换点", "that community holds no exchange", "community")
    points = wallet_of(session, user.id, now, rules).points if user else None
    return jsonify({
        "community": {"code": exchange.community.code, "name": exchange.community.name},
        "window": _window(exchange, now), "per_flower": rules.per_flower,
        "items": [{"code": i.code, "name": i.name, "flowers": i.flowers, "stock": i.stock,
                   "picture": _picture(i.picture),
                   "affordable": None if points is None else points >= i.flowers * rules.per_flower}
                  for i in exchange.items if i.active],
        "exchanges": [{"code": e.community.code, "name": e.community.name} for e in every]})


@bp.post("/me/redemption-code")
@login_required
def my_redemption_code():
    """A new code for the exchange desk: the QR code's text, six digits to type, when both stop working."""
    user = current_user()
    if user.role == Role.OPEN311:
        raise Refused("forbidden", "forbidden", "接口客户端没有积分", "a client system holds no points")
    issued = issue_code(db_session(), user, utcnow(), services().settings.secret_key)
    return jsonify({"code": issued.code, "digits": issued.digits, "expires_at": local_iso(issued.expires_at)}), 201


def _staff():
    user = current_user()
    if user.role not in STAFF_ROLES:
        raise Refused("forbidden", "forbidden", "仅工作人员可办理兑换", "only staff confirm redemptions")
    return user


def _desk_exchange(staff, code: str | None) -> Exchange:
    """The exchange the staff member works: the community named, else their own; 404 outside their part."""
    if not code and level_of(staff) is Level.COMMUNITY:
        code = staff.community.code
    if not isinstance(code, str) or not code:
        raise Refused("invalid", "community_required", "请指明兑换点所在社区", "name the exchange's community",
                      "community")
    exchange = exchange_of(db_session(), code)
    if exchange is None or not may_work_community(staff, exchange.community):
        raise Refused("not_found", "no_exchange", "找不到该兑换点", "no such exchange", "community")
    return exchange


def _code_sent(body: dict):
    code, digits = body.get("code"), body.get("digits")
    if not isinstance(code, str | None) or not isinstance(digits, str | None) or not (code or digits):
        raise Refused("invalid", "code_required", "请扫描或输入骑手的兑换码", "scan or type the rider's code", "code")
    return code_named(db_session(), services().settings.secret_key, code, digits, utcnow())


@bp.post("/redemption-codes/check")
@login_required
@limit_code_guesses
def check_code():
    """Whose code the desk scanned or typed, and their balance, before goods are picked: {"code" or "digits"};
    404 for a code that names none, 410 for a used or expired one. Nothing is taken."""
    staff = _staff()
    code = _code_sent(_json_body())
    if code.user_id == staff.id:
        raise not_ones_own()
    live_or_gone(code, utcnow())
    rules = _rules()
    return jsonify({"rider": {"username": code.user.username, "display_name": code.user.display_name},
                    "balance": balance_of(wallet_of(db_session(), code.user_id, utcnow(), rules).points, rules),
                    "expires_at": local_iso(code.expires_at)})


@bp.post("/redemptions")
@login_required
@limit_code_guesses
def confirm_redemption():
    """Give a rider goods for their points: {"code" or "digits", "items": [{"item", "qty"}], "idempotency_key",
    "community"?}. 201 with the redemption and the balance left (the same answer again for the same key); 409
    with the balance when it does not cover the goods, 409 out_of_stock naming the item, 410 for a used or
    expired code."""
    staff, body = _staff(), _json_body()
    exchange = _desk_exchange(staff, body.get("community"))
    order = Order.read(body.get("items"), body.get("idempotency_key"))
    session, now = db_session(), utcnow()
    done = earlier_answer(session, staff, order)
    if done is not None:
        return jsonify(done), 201
    answer, _ = redeem(session, staff, exchange, _code_sent(body), order, now, _rules())
    return jsonify(answer), 201


@bp.get("/redemptions/<int:redemption_id>")
@login_required
def get_redemption(redemption_id: int):
    """A redemption's receipt, for its rider or staff of its exchange's part of the district."""
    user = current_user()
    redemption = by_id(db_session(), Redemption, redemption_id)
    if redemption is None or not (redemption.user_id == user.id
                                  or may_work_community(user, redemption.exchange.community)):
        raise Refused("not_found", "not_found", "找不到该兑换记录", "no such redemption")
    return jsonify({**redemption.answer, "reversed_at": local_iso(redemption.reversed_at)})


@bp.post("/redemptions/<int:redemption_id>/reversal")
@login_required
def reverse(redemption_id: int):
    """An admin puts a mistaken redemption right: {"reason"}; its points come back as a new credit."""
    user = current_user()
    redemption = by_id(db_session(), Redemption, redemption_id)
    if redemption is None or not may_work_community(user, redemption.exchange.community):
        raise Refused("not_found", "not_found", "找不到该兑换记录", "no such redemption")
    if user.role != Role.ADMIN:
        raise Refused("forbidden", "forbidden", "仅管理员可撤销兑换", "only an admin reverses a redemption")
    reason = _json_body().get("reason")
    return jsonify(reverse_redemption(db_session(), user, redemption, reason if isinstance(reason, str) else "",
                                      utcnow(), _rules())), 201
