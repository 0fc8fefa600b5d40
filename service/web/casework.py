"""Acting on cases, one code path for pages and scripts: POST /api/v1/cases/<case_no>/actions and after photos."""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, request

from service.actions import ACTIONS, check_after_photos_allowed, perform
from service.cases import add_after_photos
from service.refusals import Refused
from service.web.access import current_user, login_required
from service.web.api import report_detail, visible_case
from service.web.extensions import db_session, services
from service.web.links import redirect_back

bp = Blueprint("casework", __name__)



def _from_a_page() -> bool:
    """A browser form (urlencoded or multipart) rather than a script's JSON, or a page's script that asks for JSON
    (the field page's outbox posts a form with Accept: application/json)."""
    wanted = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return not request.is_json and wanted != "application/json"


def _photos() -> list:
    return [f.stream for f in request.files.getlist("photo") if f.filename or f.content_length]


def _store_after_photos(case) -> None:
    """Keep uploaded after photos (assignee or staff, while the case is being worked) and queue their copies."""
    check_after_photos_allowed(current_user(), case)
    svc = services()
    follow_ups = add_after_photos(db_session(), svc.photos, case, _photos(), svc.limits)
    svc.jobs.enqueue_follow_ups(case.case_no, follow_ups)


@bp.post("/cases/<case_no>/photos")
@login_required
def add_photos(case_no: str):
    """Upload after photos (处置后照片) for a case: multipart `photo`, 1 to MAX_PHOTOS files."""
    case = visible_case(case_no)
    _store_after_photos(case)
    return jsonify(report_detail(case)), 201


@bp.post("/cases/<case_no>/actions")
@login_required
def case_action(case_no: str):
    """Take an action on a case: {"action": "assign" | "start" | "resolve" | ..., ...its fields}.

    Pages post the same fields as a form (resolve may carry the after photos) and are redirected back.
    """
    case = visible_case(case_no)
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        raise Refused("malformed", "bad_request", "请提交 JSON 对象", "send a JSON object")
    name = str(body.get("action") or "")
    svc = services()
    store_photos = (lambda: _store_after_photos(case)) if name == "resolve" and _photos() else None
    try:  # a resend of an action already taken (the same client_action_id) keeps no photos and changes nothing
        follow_ups = perform(db_session(), case, name, current_user(), body, svc.desk_rules,
                             store_photos=store_photos)
    except Refused as refused:
        if not _from_a_page():
            raise
        flash(refused.zh, "error")
        return redirect_back(f"/desk/cases/{case.case_no}")
    svc.jobs.enqueue_follow_ups(case.case_no, follow_ups)
    if _from_a_page():
        flash(f"已{ACTIONS[name].label}", "ok")
        return redirect_back(f"/desk/cases/{case.case_no}")
    return jsonify(report_detail(case))
