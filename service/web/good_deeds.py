"""顺手帮 on the pages: the rider logs a good deed (/good-deeds) and sees what became of their deeds; the grid worker
confirms or declines the deeds of their grids (/field/good-deeds); and the deeds' API, with their photos."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from service.auth import PEOPLE_ROLES, STAFF_ROLES, Role
from service.cases import ReportForm
from service.db import by_id, utcnow
from service.good_deeds import decide, deed_kind, log_deed, may_see_deed, pending_for
from service.models import GoodDeed
from service.refusals import Refused
from service.vocabulary import DeedState
from service.web.access import current_user, login_required, page_login_required
from service.web.api import local_iso
from service.web.extensions import db_session, district_index, services
from service.web.photo_files import send_photo

bp = Blueprint("good_deeds", __name__)
DECIDERS = (*STAFF_ROLES, Role.GRID_WORKER)
POINT = ("lat", "lon", "coord_system", "accuracy_m")


def _rules():
    return services().desk_rules.points


def _deed(deed: GoodDeed) -> dict:
    """A deed as the API gives it."""
    kind = deed_kind(_rules(), deed.kind)
    return {"id": deed.id, "kind": deed.kind, "kind_name": kind.zh if kind else deed.kind, "note": deed.note,
            "lat": deed.lat, "lon": deed.lon, "grid": deed.grid.name if deed.grid else None,
            "created_at": local_iso(deed.created_at), "state": deed.state, "points": deed.points,
            "reason": deed.reason, "rider": deed.user.display_name,
            "photo": url_for("good_deeds.photo", deed_id=deed.id) if deed.photo_path else None}


def _log(body) -> GoodDeed:
    """The rider's deed from a form or JSON body (photo: a multipart part)."""
    svc, user = services(), current_user()
    if user.role == Role.OPEN311:
        raise Refused("forbidden", "forbidden", "接口客户端不能登记顺手帮", "a client system logs no good deeds")
    where = ReportForm(**{k: (None if body.get(k) is None else str(body.get(k))) for k in POINT})
    return log_deed(db_session(), svc.photos, user, str(body.get("kind") or ""), str(body.get("note") or ""), where,
                    request.files.getlist("photo"), district_index(), svc.limits, _rules(),
                    svc.settings.max_decode_mb * 1024 * 1024, utcnow())


@bp.post("/api/v1/me/good-deeds")
@login_required
def log_mine():
    """Log a good deed: kind, note, lat, lon (coord_system), and a photo part if any. 201 with the deed."""
    body = request.form if not request.is_json else (request.get_json(silent=True) or {})
    if not hasattr(body, "get"):
        raise Refused("malformed", "bad_request", "请提交表单或 JSON 对象", "send a form or a JSON object")
    return jsonify(_deed(_log(body))), 201


@bp.get("/api/v1/me/good-deeds")
@login_required
def my_deeds():
    """The kinds of good deed with their points, and my deeds, newest first."""
    deeds = db_session().query(GoodDeed).filter(GoodDeed.user_id == current_user().id) \
        .order_by(GoodDeed.id.desc()).limit(100).all()
    rules = _rules()
    return jsonify({"weekly_cap": rules.deed_weekly_cap,
                    "kinds": [{"code": k.code, "name": k.zh, "name_en": k.en, "points": k.points}
                              for k in rules.deed_kinds],
                    "deeds": [_deed(d) for d in deeds]})


@bp.get("/api/v1/good-deeds/pending")
@login_required
def pending():
    """The deeds waiting for me to confirm: a grid worker's grids', a staff member's part's."""
    if current_user().role not in DECIDERS:
        raise Refused("forbidden", "forbidden", "仅网格员和工作人员确认顺手帮", "grid workers and staff confirm")
    return jsonify({"deeds": [_deed(d) for d in pending_for(db_session(), current_user())]})


@bp.post("/api/v1/good-deeds/<int:deed_id>/decision")
@login_required
def decision(deed_id: int):
    """Confirm ({"confirm": true}) or decline ({"confirm": false, "reason"}) a deed; the points it paid."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("confirm"), bool):
        raise Refused("invalid", "confirm_required", "请说明确认（true）或不予确认（false）",
                      "confirm must be true or false", "confirm")
    deed = by_id(db_session(), GoodDeed, deed_id)
    if deed is None:
        raise Refused("not_found", "not_found", "找不到该顺手帮记录", "no such good deed")
    reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
    paid = decide(db_session(), deed, current_user(), body["confirm"], reason, utcnow(), _rules())
    return jsonify({"id": deed.id, "state": deed.state, "points": paid})


@bp.get("/api/v1/good-deeds/<int:deed_id>/photo")
@login_required
def photo(deed_id: int):
    """A deed's photo (its EXIF-free web copy), for its rider and whoever may confirm it."""
    deed = by_id(db_session(), GoodDeed, deed_id)
    if deed is None or deed.photo_path is None or not may_see_deed(current_user(), deed):
        raise Refused("not_found", "not_found", "找不到该照片", "no such photo")
    response = send_photo(deed.photo_path, max_age=3600)
    response.cache_control.private = True
    return response


@bp.get("/good-deeds")
@page_login_required(*PEOPLE_ROLES)
def page():
    """The rider's 顺手帮: a form to log one (the phone's location filled in by static/js/good_deeds.js), and
    their deeds with what became of them."""
    deeds = db_session().query(GoodDeed).filter(GoodDeed.user_id == current_user().id) \
        .order_by(GoodDeed.id.desc()).limit(30).all()
    return render_template("wallet/good_deeds.html", kinds=_rules().deed_kinds, deeds=deeds,
                           weekly_cap=_rules().deed_weekly_cap, states=DeedState)


@bp.post("/good-deeds")
@page_login_required(*PEOPLE_ROLES)
def log_from_page():
    """The form's deed: kept, then the page again with it listed."""
    try:
        _log(request.form)
    except Refused as refused:
        if refused.kind not in ("invalid", "unsupported", "too_large", "malformed"):
            raise
        flash(refused.zh, "error")
    else:
        flash("已提交，等待网格员确认", "ok")
    return redirect(url_for("good_deeds.page"), code=303)


@bp.get("/field/good-deeds")
@page_login_required(*DECIDERS)
def to_confirm():
    """The deeds waiting for me — my grids' (a grid worker), my part's (staff) — to confirm or decline each."""
    kinds = {k.code: k for k in _rules().deed_kinds}
    return render_template("field/good_deeds.html", deeds=pending_for(db_session(), current_user()), kinds=kinds)


@bp.post("/field/good-deeds/<int:deed_id>")
@page_login_required(*DECIDERS)
def decide_from_page(deed_id: int):
    """Confirm or decline one deed from the field page."""
    deed = by_id(db_session(), GoodDeed, deed_id)
    if deed is None:
        abort(404)
    confirm = request.form.get("decision") == "confirm"
    try:
        paid = decide(db_session(), deed, current_user(), confirm, request.form.get("reason", ""), utcnow(), _rules())
    except Refused as refused:
        if refused.kind not in ("invalid", "conflict"):
            raise
        flash(refused.zh, "error")
    else:
        flash(f"已确认，{deed.user.display_name} 获得 {paid} 积分" if confirm else "已退回", "ok")
    return redirect(url_for("good_deeds.to_confirm"), code=303)
