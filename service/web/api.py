"""The JSON API under /api/v1: log in, report, follow one's reports and notifications, list the categories."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, jsonify, request, url_for

from service import case_lookup
from service.actions import may_reopen_now
from service.auth import STAFF_ROLES, authenticate
from service.cases import ReportForm, take_report
from service.categories import active_categories, active_codes, names_en, reports_per_category
from service.db import utcnow
from service.event_words import Reading, event_lines, notification_texts
from service.local_time import local_iso as local_time_iso
from service.models import Case, Photo
from service.notifications import latest_notifications, mark_all_read, mark_read, unread_count
from service.parsing import INT32_MAX, whole_number
from service.points import hold_words, paid_for
from service.refusals import Refused
from service.runtime.logs import bind_case
from service.scope import may_see
from service.users import sign_in
from service.web.access import current_user, log_in, log_out, login_required
from service.web.extensions import db_session, district_index, services
from service.web.links import external_url
from service.web.photo_files import send_photo
from service.web.throttle import limit_intake, limit_login_failures

bp = Blueprint("api", __name__)

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
REPORT_FIELDS = ("category", "lat", "lon", "coord_system", "accuracy_m", "description", "client_report_id")
PHOTO_VARIANTS = {"web": "web_path", "thumb": "thumb_path"}  # originals are never served
PAGE_SIZE, MAX_PAGE_SIZE = 20, 100


def local_iso(instant):
    """An instant as ISO 8601 in the community's time zone, or None."""
    return local_time_iso(instant, services().settings.timezone)


def reading() -> Reading:
    """How this community's events and notifications are read out: its time zone, its categories' English names."""
    settings = services().settings
    return Reading(settings.timezone, names_en(settings.categories_file))


def _photo_url(case: Case, photo: Photo, variant: str):
    if getattr(photo, PHOTO_VARIANTS[variant]) is None:
        return None
    return url_for("api.report_photo", case_no=case.case_no, photo_id=photo.id, variant=variant)


def report_summary(case: Case) -> dict:
    """The short form of a case, for lists."""
    return {
        "case_no": case.case_no,
        "state": case.state,
        "state_label": case.state.zh,
        "category": {"code": case.category.code, "name": case.category.name},
        "created_at": local_iso(case.created_at),
        "url": url_for("api.get_report", case_no=case.case_no),
    }


def _first_thumb(case: Case):
    photo = next((p for p in case.photos if p.kind == "before" and p.thumb_path), None)
    return _photo_url(case, photo, "thumb") if photo else None


def report_detail(case: Case) -> dict:
    """Everything the reporter (or staff) may see of one case."""
    detail, said = report_summary(case), reading()
    detail.update({
        "description": case.description,
        "location": None if case.lat is None else {
            "lat": case.lat, "lon": case.lon, "coord_system": "wgs84",
            "sent_coord_system": case.coord_system, "accuracy_m": case.accuracy_m},
        "grid": None if case.grid is None else {"code": case.grid.code, "name": case.grid.name},
        "dispatched_at": local_iso(case.dispatched_at),
        "deadline_at": local_iso(case.deadline_at),
        "resolved_at": local_iso(case.resolved_at),
        "closed_at": local_iso(case.closed_at),
        "photos": [{"id": p.id, "kind": p.kind, "web_url": _photo_url(case, p, "web"),
                    "thumb_url": _photo_url(case, p, "thumb")} for p in case.photos],
        "timeline": [{"at": local_iso(e.created_at), "from": e.from_state, "to": e.to_state,
                      "label": e.to_state.zh, "action": e.action,
                      "actor": e.actor.display_name if e.actor else "系统", "note": e.note,
                      "text": event_lines(e.action, e.facts, e.note, said)} for e in case.events],
        "duplicate_of": case.duplicate_of.case_no if case.duplicate_of else None,
        "can_reopen": may_reopen_now(current_user(), case, services().desk_rules, utcnow()),
        "points": {"paid": paid_for(db_session(), case), "held": None if case.points_hold is None else {
            "code": case.points_hold, "zh": hold_words(case.points_hold, case.points_hold_note),
            "en": hold_words(case.points_hold, case.points_hold_note, "en")}},
    })
    if current_user().role in STAFF_ROLES:
        detail["flags"] = {"location_source": case.location_source,
                           "location_mismatch_m": case.location_mismatch_m,
                           "old_photo": case.old_photo, "processing_error": case.processing_error}
        detail["possible_duplicates"] = [
            {"case_no": d.other_case.case_no, "distance_m": d.distance_m, "hash_distance": d.hash_distance}
            for d in case_lookup.possible_duplicates(db_session(), case)]
    return detail


def visible_case(case_no: str) -> Case:
    """The case with this number if the current user may see it: 404 when there is none, 403 when not theirs."""
    return case_lookup.visible_case(db_session(), current_user(), case_no)


@bp.post("/auth/login")
@limit_login_failures
def login():
    """Log in with username and password: sets the session cookie and returns a bearer token (TOKEN_DAYS days)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
            or not isinstance(body.get("password"), str):
        raise Refused("malformed", "bad_request", "请提交 JSON：username 和 password",
                       'send JSON {"username": ..., "password": ...}')
    user = authenticate(db_session(), body["username"], body["password"])
    if user is None:
        raise Refused("not_logged_in", "bad_credentials", "用户名或密码错误", "wrong username or password")
    token = sign_in(db_session(), user, services().settings.secret_key)
    log_in(user)
    return jsonify({"token": token, "expires_in": services().settings.token_days * 86400,
                    "user": {"username": user.username, "display_name": user.display_name, "role": user.role}})


@bp.post("/auth/logout")
@login_required
def logout():
    """Log out everywhere: the bearer token is revoked and every session cookie of the user stops working."""
    log_out()
    return "", 204


@bp.post("/reports")
@limit_intake
@login_required
def create_report():
    """Take in a report: 201 once the case and its original photos are on disk; 200 for a repeated client id."""
    svc = services()
    if request.mimetype != "multipart/form-data":
        raise Refused("malformed", "bad_request", "请以 multipart/form-data 提交照片和表单",
                       "send the photos and fields as multipart/form-data")
    form = ReportForm(**{name: request.form.get(name) for name in REPORT_FIELDS})
    # a file input left empty arrives as a part with no file name and no bytes: not a photo at all
    photos = [f.stream for f in request.files.getlist("photo") if f.filename or f.content_length]
    intake = take_report(db_session(), svc.photos, current_user(), form, photos, svc.limits, district_index(),
                         svc.settings.timezone)
    case = intake.case
    bind_case(case.case_no)
    if intake.created:
        svc.jobs.enqueue_follow_ups(case.case_no, intake.follow_ups)
    body = {"case_no": case.case_no, "state": case.state,
            "url": external_url("api.get_report", case_no=case.case_no)}
    response = jsonify(body)
    response.status_code = 201 if intake.created else 200
    response.headers["Location"] = body["url"]
    return response


@bp.get("/reports/<case_no>")
@login_required
def get_report(case_no: str):
    """One case: state, category, location, grid, deadline, photos and timeline."""
    return jsonify(report_detail(visible_case(case_no)))


@bp.get("/reports/<case_no>/photos/<int:photo_id>/<variant>")
@login_required
def report_photo(case_no: str, photo_id: int, variant: str):
    """A processed photo (web copy or thumbnail), to whoever may see its case."""
    case = visible_case(case_no)
    photo = next((p for p in case.photos if p.id == photo_id), None)
    relpath = getattr(photo, PHOTO_VARIANTS.get(variant, ""), None) if photo else None
    if relpath is None:
        raise Refused("not_found", "unknown_photo", "找不到该照片", "no such photo")
    return send_photo(relpath, max_age=86400)


def int_arg(name: str, default, low: int, high: int):
    """An integer query argument within [low, high], the default when absent, else 400 naming it."""
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return whole_number(raw, low, high)
    except ValueError:
        raise Refused("malformed", "bad_request", f"{name} 须为 {low} 到 {high} 之间的整数",
                       f"{name} must be an integer from {low} to {high}", field=name) from None


@bp.get("/me/reports")
@login_required
def my_reports():
    """My reports and the cases I joined as "me too" (`joined`), newest case first, a page at a time: pass `before`
    from the last page's `next`."""
    limit = int_arg("limit", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    before = int_arg("before", None, 1, INT32_MAX)  # an id: INTEGER on PostgreSQL
    me = current_user()
    cases, after = case_lookup.reports_of(db_session(), me, limit, before)
    joins = case_lookup.joins_among(db_session(), me, [c for c in cases if c.reporter_id != me.id])
    return jsonify({"items": [{**report_summary(c), "joined": c.id in joins,
                               # a joined case's photos are its reporter's to see
                               "thumb_url": None if c.id in joins else _first_thumb(c),
                               "joined_at": local_iso(joins[c.id]) if c.id in joins else None} for c in cases],
                    "next": str(after) if after is not None else None})


@bp.get("/me/notifications")
@login_required
def my_notifications():
    """My latest notifications, newest first, each in Chinese and English, with how many are unread."""
    user, said = current_user(), reading()
    rows = latest_notifications(db_session(), user, PAGE_SIZE * 2)
    unread = unread_count(db_session(), user)
    items = []
    for n in rows:
        text = notification_texts(n.kind, n.facts, n.message, said)
        items.append({"id": n.id, "kind": n.kind, "message": text["zh"], "text": text,
                      "created_at": local_iso(n.created_at), "read": n.read_at is not None,
                      "case_no": n.case.case_no if n.case else None,
                      "case_visible": n.case is not None and may_see(user, n.case)})
    return jsonify({"unread": unread, "items": items})


def my_unread_count() -> int:
    """How many of the logged-in person's notifications are unread (0 for no one)."""
    user = current_user()
    return unread_count(db_session(), user) if user is not None else 0


@bp.get("/me/notifications/unread")
@login_required
def unread_notifications():
    """How many of my notifications are unread: one indexed count, for the bell to ask often."""
    return jsonify({"unread": my_unread_count()})


@bp.post("/me/notifications/read")
@login_required
def read_notifications():
    """Mark all my notifications read."""
    mark_all_read(db_session(), current_user(), utcnow())
    return jsonify({"unread": 0})


@bp.post("/me/notifications/<int:notification_id>/read")
@login_required
def read_notification(notification_id: int):
    """Mark one of my notifications read (opened from the bell's list); someone else's is not found."""
    user = current_user()
    if notification_id > INT32_MAX or not mark_read(db_session(), user, notification_id, utcnow()):
        raise Refused("not_found", "unknown_notification", "找不到该通知", "no such notification")
    return jsonify({"unread": unread_count(db_session(), user)})


@bp.get("/categories")
def categories():
    """The active categories, by kind and code; for a logged-in person, `used` counts their reports of each."""
    rows = active_categories(db_session(), by_kind=True)
    used = reports_per_category(db_session(), current_user()) if current_user() is not None else {}
    return jsonify({"categories": [{"code": c.code, "name": c.name, "kind": c.kind, "major_class": c.major_class,
                                    "deadline_hours": c.deadline_hours, "priority": c.priority, "points": c.points,
                                    "used": used.get(c.id, 0)} for c in rows]})


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document describing this API, with this server's photo limits, categories and service area."""
    svc = services()
    return jsonify(_openapi_document(svc.limits.max_photos, svc.limits.max_photo_bytes, active_codes(db_session()),
                                     district_index().bounds))


@cache
def _openapi_document(max_photos: int, max_photo_bytes: int, category_codes: tuple[str, ...],
                      bounds: tuple[float, float, float, float]) -> dict:
    """The document with the values it leaves to the server: MAX_PHOTOS, MAX_PHOTO_MB, the community's category
    codes and the box around its district, so a client (or a fuzzer) knows exactly what this server takes."""
    doc = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    schemas = doc["components"]["schemas"]
    schemas["Photos"]["maxItems"] = max_photos
    schemas["Photos"]["items"]["maxLength"] = max_photo_bytes
    schemas["CategoryCode"]["enum"] = list(category_codes)
    south, west, north, east = bounds
    schemas["AreaLatitude"].update(minimum=south, maximum=north)
    schemas["AreaLongitude"].update(minimum=west, maximum=east)
    return doc
