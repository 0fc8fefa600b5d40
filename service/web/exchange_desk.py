"""The exchange desk for staff: the phone page of an exchange day (scan or type the rider's code, pick the goods,
confirm, a receipt), the desk page of an exchange's stock and its redemptions (an admin reverses a mistake), and the
quarterly exchange report of the staff member's part of the district (page, Excel, CSV)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import selectinload

from service.auth import STAFF_ROLES, Role
from service.db import by_id, utcnow
from service.exchange import exchanges, next_window, open_window
from service.exchange_report import csv_text, exchange_report, report_tables, workbook
from service.local_time import local_time
from service.models import CatalogueItem, Exchange, Redemption, RedemptionLine
from service.parsing import INT32_MAX, whole_number
from service.quarters import Quarter
from service.redemption import reverse_redemption
from service.refusals import Refused
from service.scope import may_work_community
from service.web.access import current_user, page_login_required
from service.web.extensions import db_session, services
from service.weekly_levels import readable_scopes

bp = Blueprint("exchange_desk", __name__)
MAX_STOCK = 100_000


def _exchanges_in_scope() -> list[Exchange]:
    staff = current_user()
    return [e for e in exchanges(db_session()) if may_work_community(staff, e.community)]


def _chosen(held: list[Exchange]) -> Exchange | None:
    """The exchange ?community= names among those the staff member works (404 for another), else their first."""
    asked = request.args.get("community") or request.form.get("community")
    if not asked:
        return held[0] if held else None
    found = next((e for e in held if e.community.code == asked), None)
    if found is None:
        abort(404)
    return found


@bp.get("/desk/exchange")
@page_login_required(*STAFF_ROLES)
def day():
    """The exchange day on a phone: the camera reads the rider's code (or six digits are typed), the balance is
    shown, the goods picked and confirmed, a receipt shown; every step through the API (static/desk/exchange.js)."""
    held = _exchanges_in_scope()
    exchange, rules, now = _chosen(held), services().desk_rules.points, utcnow()
    window = next_window(exchange, now, rules.tz) if exchange else None
    return render_template("desk/exchange.html", held=held, exchange=exchange, per_flower=rules.per_flower,
                           window=window, open_now=bool(exchange and open_window(exchange, now, rules.tz)))


@bp.get("/desk/exchange/stock")
@page_login_required(*STAFF_ROLES)
def stock():
    """An exchange's goods with their stock to correct, and its latest redemptions (an admin may reverse one)."""
    held = _exchanges_in_scope()
    exchange = _chosen(held)
    redemptions = [] if exchange is None else db_session().scalars(
        sa.select(Redemption).where(Redemption.exchange_id == exchange.id).order_by(Redemption.id.desc()).limit(50)
        .options(selectinload(Redemption.lines).selectinload(RedemptionLine.item),
                 selectinload(Redemption.user), selectinload(Redemption.staff))).all()
    tz = services().desk_rules.timezone
    return render_template("desk/exchange_stock.html", held=held, exchange=exchange, redemptions=redemptions,
                           when=lambda t: local_time(t, tz), is_admin=current_user().role == Role.ADMIN)


@bp.post("/desk/exchange/stock")
@page_login_required(*STAFF_ROLES)
def set_stock():
    """Correct one item's stock (what staff counted on the shelf)."""
    exchange = _chosen(_exchanges_in_scope())
    item = db_session().get(CatalogueItem, _number(request.form.get("item"), "item", 1, INT32_MAX))
    if exchange is None or item is None or item.exchange_id != exchange.id:
        abort(404)
    try:
        counted = _number(request.form.get("stock"), "stock", 0, MAX_STOCK)
        was = _number(request.form.get("was"), "was", 0, MAX_STOCK)
    except Refused as refused:
        flash(f"{item.name}：{refused.zh}", "error")
        return redirect(url_for("exchange_desk.stock", community=exchange.community.code), code=303)
    # set only over the count the form showed: a redemption since then is not wiped out unseen
    changed = db_session().execute(sa.update(CatalogueItem).where(CatalogueItem.id == item.id,
                                                                  CatalogueItem.stock == was)
                                   .values(stock=counted).execution_options(synchronize_session=False)).rowcount
    db_session().commit()
    if changed:
        flash(f"{item.name} 库存已改为 {counted}", "ok")
    else:
        db_session().refresh(item)
        flash(f"{item.name} 的库存刚刚变为 {item.stock}（有新的兑换），请重新核对后再改", "error")
    return redirect(url_for("exchange_desk.stock", community=exchange.community.code), code=303)


@bp.post("/desk/exchange/redemptions/<int:redemption_id>/reverse")
@page_login_required(Role.ADMIN)
def reverse(redemption_id: int):
    """An admin reverses a mistaken redemption, with the reason."""
    redemption = by_id(db_session(), Redemption, redemption_id)
    if redemption is None or not may_work_community(current_user(), redemption.exchange.community):
        abort(404)
    code = redemption.exchange.community.code
    try:
        reverse_redemption(db_session(), current_user(), redemption, request.form.get("reason", ""), utcnow(),
                           services().desk_rules.points)
    except Refused as refused:
        if refused.kind not in ("invalid", "conflict"):
            raise
        flash(refused.zh, "error")
    else:
        flash(f"兑换 #{redemption_id} 已撤销，积分已退回", "ok")
    return redirect(url_for("exchange_desk.stock", community=code), code=303)


def _number(text, field: str, low: int, high: int) -> int:
    try:
        return whole_number(text or "", low, high)
    except ValueError:
        raise Refused("invalid", f"bad_{field}", f"{field} 须为 {low}–{high} 的整数",
                      f"{field} must be a whole number from {low} to {high}", field) from None


def _report_asked() -> dict:
    """The quarter (?quarter=, this one by default) and scope (?scope=, the staff member's own by default; 404
    outside their part) of an exchange report, built."""
    staff, now, rules = current_user(), utcnow(), services().desk_rules.points
    readable = readable_scopes(db_session(), staff)
    key = request.args.get("scope") or readable[0].key
    scope = next((s for s in readable if s.key == key), None)
    try:
        quarter = Quarter.parse(request.args["quarter"]) if request.args.get("quarter") else \
            Quarter.containing(now, rules.tz)
    except ValueError:
        abort(404)
    if scope is None:
        abort(404)
    return {"data": exchange_report(db_session(), quarter, scope, rules, now), "readable": readable}


@bp.get("/desk/exchange-report")
@page_login_required(*STAFF_ROLES)
def quarterly():
    """The quarterly exchange report of the staff member's part (or a part of it), with its downloads."""
    asked = _report_asked()
    return render_template("desk/exchange_report.html", tables=report_tables(asked["data"]), **asked)


@bp.get("/desk/exchange-report.xlsx")
@page_login_required(*STAFF_ROLES)
def quarterly_xlsx():
    data = _report_asked()["data"]
    name = f"exchange-{data['quarter']}-{data['scope'].replace(':', '-')}.xlsx"
    return Response(workbook(data), headers={"Content-Disposition": f"attachment; filename={name}"},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/desk/exchange-report.csv")
@page_login_required(*STAFF_ROLES)
def quarterly_csv():
    data = _report_asked()["data"]
    name = f"exchange-{data['quarter']}-{data['scope'].replace(':', '-')}.csv"
    return Response(csv_text(data), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})
