"""The rider page's own API: open cases nearby (附近已有人上报), "me too" (我也遇到), and my points."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, jsonify, request, send_file, url_for

from service.cases import MeTooRefused, join_as_me_too
from service.db import utcnow
from service.geo import to_wgs84
from service.lifecycle import OPEN_STATES, STATE_LABELS
from service.models import COORD_SYSTEMS, Case, Category, MeToo
from service.placement import PlacementRules, open_cases_near
from service.points import points_of
from service.routing import grid_features
from service.web import db_session, services
from service.web.access import current_user, login_required
from service.web.api import local_iso
from service.web.errors import ApiError

bp = Blueprint("rider_api", __name__)


def _float_arg(name: str) -> float:
    try:
        return float(request.args[name])
    except (KeyError, ValueError):
        raise ApiError(400, "bad_request", f"缺少或无效的 {name}", f"{name} is missing or not a number",
                       field=name) from None


def _open_case(case_no: str) -> Case:
    case = db_session().scalar(sa.select(Case).where(Case.case_no == case_no))
    if case is None or case.state not in OPEN_STATES:
        raise ApiError(404, "unknown_case", f"找不到未结案件 {case_no}", f"no open case {case_no}")
    return case


@bp.get("/nearby")
@login_required
def nearby():
    """Open cases of a category within the duplicate radius of a point: the rider may join one instead."""
    lat, lon = _float_arg("lat"), _float_arg("lon")
    system = request.args.get("coord_system", "wgs84")
    if system not in COORD_SYSTEMS or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ApiError(400, "bad_request", "坐标系或位置无效", "bad coord_system or location")
    code = request.args.get("category", "")
    category = db_session().scalar(sa.select(Category).where(Category.code == code))
    if category is None:
        raise ApiError(422, "unknown_category", f"未知的问题类别：{code}", f"unknown category: {code}", field="category")
    lat, lon = to_wgs84(lat, lon, system)
    s = services().settings
    rules = PlacementRules(duplicate_radius_m=s.duplicate_radius_m, duplicate_days=s.duplicate_days)
    me = current_user()
    found = open_cases_near(db_session(), category.id, lat, lon, utcnow(), rules)
    joined = set(db_session().scalars(sa.select(MeToo.case_id).where(MeToo.user_id == me.id,
                                                                      MeToo.case_id.in_([c.id for c, _ in found]))))
    return jsonify({"cases": [{
        "case_no": case.case_no, "category": category.name, "state": case.state,
        "state_label": STATE_LABELS[case.state], "distance_m": round(apart), "created_at": local_iso(case.created_at),
        "mine": case.reporter_id == me.id, "me_too": case.id in joined,
        "thumb_url": url_for("rider_api.nearby_thumb", case_no=case.case_no)
        if any(p.thumb_path for p in case.photos) else None} for case, apart in found]})


@bp.get("/grids")
@login_required
def grids():
    """The grid polygons (WGS-84 GeoJSON), the backdrop of the rider's map."""
    return jsonify(grid_features(db_session()))


@bp.get("/nearby/<case_no>/thumb")
@login_required
def nearby_thumb(case_no: str):
    """The thumbnail of an open case (EXIF-free, 320 px), so a rider nearby can tell it is the same problem."""
    photo = next((p for p in _open_case(case_no).photos if p.kind == "before" and p.thumb_path), None)
    if photo is None:
        raise ApiError(404, "unknown_photo", "暂无缩略图", "no thumbnail yet")
    return send_file(services().photos.path(photo.thumb_path), mimetype="image/jpeg", max_age=3600)


@bp.post("/reports/<case_no>/me-too")
@login_required
def me_too(case_no: str):
    """Join an open case as someone who met the same problem (我也遇到), instead of reporting it again."""
    try:
        count = join_as_me_too(db_session(), _open_case(case_no), current_user())
    except MeTooRefused as exc:
        raise ApiError(409, "me_too_refused", *str(exc).split(" / ", 1)) from None
    return jsonify({"case_no": case_no, "me_too_count": count})


@bp.get("/me/points")
@login_required
def my_points():
    """My points (积分) this week (from Monday 00:00 local) and in total."""
    zone = ZoneInfo(services().settings.timezone)
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    uid = current_user().id
    return jsonify({"week": points_of(db_session(), uid, since=monday), "total": points_of(db_session(), uid)})
