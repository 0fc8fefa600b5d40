"""The rider page's own API: the community (categories as shown, limits, area), open cases nearby (附近已有人上报),
"me too" (我也遇到), and my points."""
from __future__ import annotations

import hashlib
import hmac
import math
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request, url_for

from service.case_lookup import case_by_number, joined_among
from service.cases import ReportForm, join_as_me_too
from service.categories import active_categories, category_by_code, looks, reports_per_category
from service.db import utcnow
from service.dispatch import community_list, grid_features
from service.geo import is_plain_coordinate, to_wgs84
from service.models import COORD_SYSTEMS, Case, Category
from service.parsing import INT64_MAX, finite_number, whole_number
from service.placement import PlacementRules, open_cases_near
from service.points import points_of
from service.refusals import Refused
from service.web.access import current_user, login_required
from service.web.api import local_iso
from service.web.extensions import db_session, district_index, services
from service.web.photo_files import send_photo
from service.web.throttle import limit_nearby

bp = Blueprint("rider_api", __name__)
POINT_FIELDS = ("lat", "lon", "accuracy_m", "coord_system")
CLASS_COLOUR = "#333"  # a category whose major class the community file gives no colour


def _float_arg(name: str) -> float:
    """A finite number from the query string, else 400 naming it."""
    try:
        return finite_number(request.args[name])
    except (KeyError, ValueError):
        raise Refused("malformed", "bad_request", f"缺少或无效的 {name}", f"{name} is missing or not a number",
                       field=name) from None


def signed_thumb_url(case_no: str, user_id: int, now: float) -> str:
    """A link to the case's nearby thumbnail that works for this user only, for NEARBY_THUMB_MINUTES.

    Expiry is rounded up to the whole minute, so the lists of one minute share a link and the phone's cache.
    """
    expires = math.ceil((now + services().settings.nearby_thumb_minutes * 60) / 60) * 60
    return url_for("rider_api.nearby_thumb", case_no=case_no, expires=expires,
                   sig=_thumb_signature(case_no, user_id, expires))


def _thumb_signature(case_no: str, user_id: int, expires: int) -> str:
    """HMAC-SHA256, under the app's secret, of what a thumbnail link grants: this case, to this user, until then."""
    message = f"nearby-thumb\n{case_no}\n{user_id}\n{expires}".encode()
    return hmac.new(services().settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def _check_thumb_link(case_no: str) -> int:
    """403 unless the query carries an unexpired signature for this case and this user; seconds left if it does."""
    given = request.args.get("sig", "")
    try:
        expires = whole_number(request.args.get("expires", ""), 0, INT64_MAX)
    except ValueError:
        expires = None
    if expires is None or not hmac.compare_digest(
            given.encode(), _thumb_signature(case_no, current_user().id, expires).encode()):
        raise Refused("forbidden", "bad_thumb_link", "缩略图链接无效", "the thumbnail link is not valid for you")
    left = expires - int(time.time())
    if left < 0:
        raise Refused("forbidden", "thumb_link_expired", "缩略图链接已过期，请刷新附近列表",
                       "the thumbnail link has expired: load the nearby list again")
    return left


def _open_case(case_no: str) -> Case:
    """The open case with this number, else 404."""
    case = case_by_number(db_session(), case_no)
    if case is None or not case.is_open:
        raise Refused("not_found", "unknown_case", f"找不到未结案件 {case_no}", f"no open case {case_no}")
    return case


def _category_as_shown(category: Category, used: int, shown: dict, classes: dict) -> dict:
    """One category as a client shows it: its names in both languages, its icon (and a one-character stand-in)
    and its major class's colour, with how often I reported it (its rules are in /api/v1/categories)."""
    look = shown.get(category.code, {})
    return {"code": category.code, "name": category.name, "name_en": look.get("name_en") or category.name,
            "kind": category.kind, "icon": look.get("icon", ""), "glyph": look.get("glyph") or category.name[:1],
            "colour": classes.get(category.major_class, {}).get("colour", CLASS_COLOUR), "used": used}


@bp.get("/community")
@login_required
def community():
    """What a client shows of the district: its active categories as shown (by kind and code, `used` counting
    my reports of each), the photo limits, the service area (a box, and its centre), its communities (as
    /api/v1/communities lists them: what the rider's map draws and names) and the time zone."""
    svc, session = services(), db_session()
    shown, classes = looks(svc.settings.categories_file)
    rows = active_categories(session, by_kind=True)
    used = reports_per_category(session, current_user())
    south, west, north, east = district_index().bounds
    return jsonify({
        "categories": [_category_as_shown(c, used.get(c.id, 0), shown, classes) for c in rows],
        "max_photos": svc.limits.max_photos, "max_photo_bytes": svc.limits.max_photo_bytes,
        "area": {"south": south, "north": north, "west": west, "east": east,
                 "centre": {"lat": (south + north) / 2, "lon": (west + east) / 2}},
        "communities": community_list(session), "timezone": svc.settings.timezone})


@bp.get("/nearby")
@limit_nearby
@login_required
def nearby():
    """Open cases of a category within the duplicate radius of a point: the rider may join one instead."""
    lat, lon = _float_arg("lat"), _float_arg("lon")
    system = request.args.get("coord_system", "wgs84")
    if system not in COORD_SYSTEMS or not is_plain_coordinate(lat, lon):
        raise Refused("malformed", "bad_request", "位置无效", "lat/lon out of range or unknown coord_system")
    code = request.args.get("category", "")
    category = category_by_code(db_session(), code)
    if category is None:  # as the intake answers it: a well-formed request naming a category we do not have
        raise Refused("invalid", "unknown_category", f"未知的问题类别：{code[:40]}", f"unknown category: {code[:40]}",
                       field="category")
    lat, lon = to_wgs84(lat, lon, system)
    s = services().settings
    rules = PlacementRules(duplicate_radius_m=s.duplicate_radius_m, duplicate_days=s.duplicate_days)
    me, now = current_user(), time.time()
    found = open_cases_near(db_session(), category.id, lat, lon, utcnow(), rules)
    joined = joined_among(db_session(), me, [c for c, _ in found])
    return jsonify({"cases": [{
        "case_no": case.case_no, "category": category.name, "state": case.state,
        "state_label": case.state.zh, "distance_m": round(apart), "created_at": local_iso(case.created_at),
        "mine": case.reporter_id == me.id, "me_too": case.id in joined,
        "thumb_url": signed_thumb_url(case.case_no, me.id, now)
        if any(p.kind == "before" and p.thumb_path for p in case.photos) else None} for case, apart in found]})


MAX_BBOX_DEGREES = 0.5  # a box a phone's map asks for at street level is a few hundredths of a degree across


def _bbox_arg() -> tuple[float, float, float, float] | None:
    """`bbox=west,south,east,north` (WGS-84 degrees, as GeoJSON orders a box) as (south, west, north, east), or
    None when not given; 400 when it is not four numbers, 422 when they make no box within the world and
    MAX_BBOX_DEGREES."""
    given = request.args.get("bbox")
    if given is None:
        return None
    try:
        west, south, east, north = (finite_number(part) for part in given.split(","))
    except ValueError:
        raise Refused("malformed", "bad_request", "bbox 无效：应为 西,南,东,北 四个经纬度",
                      "bbox must be four numbers: west,south,east,north in degrees", field="bbox") from None
    if not (is_plain_coordinate(south, west) and is_plain_coordinate(north, east) and west < east and south < north
            and east - west <= MAX_BBOX_DEGREES and north - south <= MAX_BBOX_DEGREES):
        raise Refused("invalid", "bad_bbox", "bbox 无效：西须小于东、南须小于北，跨度不超过 0.5 度",
                      "bbox must have west below east and south below north, at most 0.5 degrees across",
                      field="bbox")
    return south, west, north, east


@bp.get("/grids")
@login_required
def grids():
    """The grid polygons (WGS-84 GeoJSON), the backdrop of the rider's map, each with its road (`street`) and
    community: all of them, or with `bbox` only those reaching into that box (what the map's view shows)."""
    box = _bbox_arg()
    ids = None if box is None else district_index().grids_meeting(*box)
    return jsonify(grid_features(db_session(), ids))


@bp.get("/communities")
def communities():
    """The district's communities, each with its street office and current boundary (WGS-84 GeoJSON): public, as
    the map of who looks after where."""
    return jsonify(community_list(db_session()))


@bp.get("/nearby/<case_no>/thumb")
@login_required
def nearby_thumb(case_no: str):
    """The thumbnail of an open case (EXIF-free, 320 px), so a rider nearby can tell it is the same problem.

    Only through the signed link /api/v1/nearby handed this user: case numbers are sequential, and a
    thumbnail is no one else's business.
    """
    left = _check_thumb_link(case_no)
    photo = next((p for p in _open_case(case_no).photos if p.kind == "before" and p.thumb_path), None)
    if photo is None:
        raise Refused("not_found", "unknown_photo", "暂无缩略图", "no thumbnail yet")
    # for as long as the link works; made private, as every photo is, by security._private_cache
    return send_photo(photo.thumb_path, max_age=max(left, 1))


@bp.post("/reports/<case_no>/me-too")
@login_required
def me_too(case_no: str):
    """Join an open case as someone who met the same problem (我也遇到), instead of reporting it again.

    The body (JSON or a form) carries the caller's current point: lat, lon, accuracy_m, coord_system. The
    core's refusals (MeTooRefused, ReportRefused) answer with their kind's status: 422, 403 or 409.
    """
    case = _open_case(case_no)
    count = join_as_me_too(db_session(), case, current_user(), _point_sent(), district_index(),
                           services().settings.me_too_radius_m)
    return jsonify({"case_no": case_no, "me_too_count": count})


def _point_sent() -> ReportForm:
    """The location fields of a JSON object (numbers, and coord_system text) or of a form, as text for the
    intake's own checks."""
    if not request.is_json:
        return ReportForm(**{name: request.form.get(name) for name in POINT_FIELDS})
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused("malformed", "bad_request", "请提交 JSON 对象", "send a JSON object")
    return ReportForm(**{name: _json_field(body, name) for name in POINT_FIELDS})


def _json_field(body: dict, name: str):
    """One field of the JSON point as text; a string where a number belongs (or the reverse) is refused."""
    value = body.get(name)
    if value is None:
        return None
    text_wanted = name == "coord_system"
    if isinstance(value, bool) or not isinstance(value, str if text_wanted else (int, float)):
        kind_zh, kind_en = ("文本", "a string") if text_wanted else ("数字", "a number")
        raise Refused("invalid", "invalid_type", f"{name} 须为{kind_zh}", f"{name} must be {kind_en}", field=name)
    return str(value)


@bp.get("/me/points")
@login_required
def my_points():
    """My points (积分) this week (from Monday 00:00 local) and in total."""
    zone = ZoneInfo(services().settings.timezone)
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    uid = current_user().id
    return jsonify({"week": points_of(db_session(), uid, since=monday), "total": points_of(db_session(), uid)})
