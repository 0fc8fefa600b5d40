"""The staff desk's pages: the queue, a case, the map, the CSV export, rider invitations and user management."""
from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import segno
from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from service import unit_platforms
from service.actions import available_actions, perform
from service.auth import PEOPLE_ROLES, STAFF_ROLES, role_label
from service.case_lookup import case_by_number, joiners_of, possible_duplicates
from service.db import utcnow
from service.dispatch import grid_features, grids_by_code
from service.invites import create_invite
from service.open311_intake import seen_by_staff
from service.parsing import INT32_MAX
from service.queue import (
    CSV_HEADER,
    BadCursor,
    QueueFilter,
    desk_choices,
    export_rows,
    mask_phone,
    queue_page,
    state_counts,
)
from service.refusals import Refused
from service.scope import may_see
from service.spreadsheets import CsvWriter
from service.states import OPEN, WORKED, CaseState
from service.users import (
    PasswordReset,
    add_person,
    grid_workers,
    name_grid_worker,
    people,
    reset_password,
    set_person_active,
)
from service.web.access import current_user, page_login_required
from service.web.api import int_arg, visible_case
from service.web.extensions import db_session, services
from service.web.links import external_url, redirect_back

bp = Blueprint("desk", __name__)
bp.add_app_template_filter(role_label, "role")  # 网格员 Grid worker, not grid_worker
KNOWN_STATES = frozenset(CaseState)  # a state asked for by name: any other name is ignored
FILTER_ARGS = ("state", "grid", "category", "assignee", "overdue", "priority", "q")  # what the queue's links carry
QUEUE_CHIPS = (CaseState.UNROUTED, *(s for s in CaseState if s != CaseState.UNROUTED))  # the desk's own work first


def elapsed(span: timedelta) -> str:
    """A span of time as the queue's narrow columns show it, in its largest whole unit: 12 分钟, 5 小时, 3 天."""
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} 分钟"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时"
    return f"{minutes // (24 * 60)} 天"


bp.add_app_template_filter(elapsed, "elapsed")


def _filter_from_args() -> QueueFilter:
    """The queue filter the page's form put in the query string; unknown names are ignored, a bad number is 400."""
    args = request.args
    states = tuple(CaseState(s) for s in args.getlist("state") if s in KNOWN_STATES)
    return QueueFilter(states=states, grid=args.get("grid") or None, category=args.get("category") or None,
                       assignee=args.get("assignee") or None, overdue=args.get("overdue") == "1",
                       priority=int_arg("priority", None, 0, INT32_MAX),
                       text=(args.get("q") or "").strip()[:100] or None)


def _choices() -> dict:
    """The lists the filter and assign forms offer."""
    return {**desk_choices(db_session(), current_user()), "units": services().desk_rules.units}


@bp.get("/desk")
@page_login_required(*STAFF_ROLES)
def queue():
    """Every case the filters match, most urgent and soonest due first, 50 a page, with counts per state."""
    f, now = _filter_from_args(), utcnow()
    try:
        cases, next_cursor = queue_page(db_session(), f, now, current_user(), request.args.get("after"))
    except BadCursor:
        raise Refused("malformed", "bad_cursor", "翻页链接无效，请从第一页重新打开",
                       "the page link is not valid: start from the first page", field="after") from None
    # links carry the filters alone: any other name in the query (url_for's own _external, endpoint) is dropped
    first = {k: v for k, v in request.args.to_dict(flat=False).items() if k in FILTER_ARGS}
    counts = state_counts(db_session(), f, now, current_user())
    return render_template(
        "desk/queue.html", cases=cases, counts=counts, chips=QUEUE_CHIPS, open_count=sum(counts[s] for s in OPEN),
        # a state chip keeps the other filters and asks for its state alone, from the first page
        chip_args={k: v for k, v in first.items() if k != "state"}, filter_args=first,
        next_url=url_for("desk.queue", **first, after=next_cursor) if next_cursor else None,
        first_url=url_for("desk.queue", **first) if "after" in request.args else None, f=f, now=now, **_choices())


@bp.post("/desk/bulk-assign")
@page_login_required(*STAFF_ROLES)
def bulk_assign():
    """Assign the ticked cases to one grid worker or unit, through the same action as one case."""
    params = {"assignee": request.form.get("assignee") or None, "unit": request.form.get("unit") or None,
              "note": request.form.get("note", "")}
    done, refused = [], []
    for case_no in request.form.getlist("case_no")[:200]:
        case = case_by_number(db_session(), case_no)
        try:
            if case is None or not may_see(current_user(), case):
                raise Refused("invalid", "unknown_case", "找不到案件", "no such case")
            follow_ups = perform(db_session(), case, "assign", current_user(), params, services().desk_rules)
            services().jobs.enqueue_follow_ups(case.case_no, follow_ups)
            done.append(case_no)
        except Refused as exc:
            refused.append(f"{case_no}：{exc.zh}")
    if done:
        flash(f"已派遣 {len(done)} 件", "ok")
    for message in refused:
        flash(message, "error")
    return redirect_back(url_for("desk.queue"), field="back")


@bp.get("/desk/cases/<case_no>")
@page_login_required(*STAFF_ROLES)
def case_page(case_no: str):
    """One case: photos, a small map, reporter, flags, possible duplicates, timeline and the actions."""
    case = visible_case(case_no)
    duplicates = possible_duplicates(db_session(), case, with_photos=True)
    return render_template("desk/case.html", case=case, duplicates=duplicates, phone=mask_phone(case.reporter.phone),
                           channel=seen_by_staff(case), platform=unit_platforms.request_of(db_session(), case),
                           actions={a.name for a in available_actions(current_user(), case)}, now=utcnow(),
                           **_choices(), joined=joiners_of(db_session(), case))


@bp.post("/desk/cases/<case_no>/resend")
@page_login_required(*STAFF_ROLES)
def resend_to_unit(case_no: str):
    """Send a case again to its unit's own platform, which did not take it (the job had given up, or is waiting)."""
    case = visible_case(case_no)
    try:
        follow_up = unit_platforms.resend(db_session(), case)
    except Refused as refused:
        flash(refused.message, "error")
    else:
        services().jobs.enqueue_follow_ups(case.case_no, [follow_up])
        flash("已重新发送至单位平台 / sent to the unit's platform again", "ok")
    return redirect(url_for("desk.case_page", case_no=case.case_no), code=303)


@bp.get("/desk/map")
@page_login_required(*STAFF_ROLES)
def case_map():
    """Open cases over the grid polygons."""
    return render_template("desk/map.html")


@bp.get("/desk/map.json")
@page_login_required(*STAFF_ROLES)
def map_data():
    """The grids and the open cases as GeoJSON, for the map pages."""
    session, now = db_session(), utcnow()
    cases, _ = queue_page(session, QueueFilter(), now, current_user(), limit=2000)
    points = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
               "properties": {"case_no": c.case_no, "state": c.state, "label": c.state.zh,
                              "category": c.category.name, "url": url_for("desk.case_page", case_no=c.case_no),
                              "overdue": bool(c.deadline_at and c.deadline_at < now
                                              and c.state in WORKED)}}
              for c in cases if c.lat is not None]
    return jsonify({"grids": grid_features(session), "cases": {"type": "FeatureCollection", "features": points}})


@bp.get("/desk/export.csv")
@page_login_required(*STAFF_ROLES)
def export_csv():
    """The filtered queue as CSV (UTF-8 with BOM, so Excel shows the Chinese), streamed."""
    f, now, svc = _filter_from_args(), utcnow(), services()

    def lines():
        buf = io.StringIO()
        writer = CsvWriter(buf)  # names and notes people typed can never run as formulas in Excel
        buf.write("\ufeff")
        writer.writerow(CSV_HEADER)
        for row in export_rows(db_session(), f, now, svc.settings.timezone, svc.desk_rules.units,
                               current_user()):
            writer.writerow(row)
            if buf.tell() > 64 * 1024:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=cases.csv"})


@bp.route("/desk/invites", methods=["GET", "POST"])
@page_login_required(*STAFF_ROLES)
def invites():
    """Invite a rider: make their account and show the link and its QR code to open on the phone."""
    link = qr = None
    if request.method == "POST":
        name = request.form.get("display_name", "")
        try:
            _, token = create_invite(db_session(), services().settings.secret_key, name,
                                     request.form.get("phone", "").strip(), request.form.get("username", ""))
        except Refused as exc:
            flash(exc.message, "error")
        else:
            link = external_url("auth.invite", token=token)
            qr = segno.make(link, error="m").svg_inline(scale=4, title="邀请二维码")
            flash(f"已为 {name.strip()} 生成邀请，请用手机扫码打开", "ok")
    return render_template("desk/invites.html", link=link, qr=qr)


@bp.get("/desk/users")
@page_login_required("admin")
def users():
    """Admins add people, deactivate them, reset a password, and name each grid's worker: one form each."""
    return _users_page()


def _users_page(reset: PasswordReset | None = None):
    """The users page; with a generated password, shown this once and never kept by a cache."""
    session = db_session()
    response = make_response(render_template(
        "desk/users.html", roles=list(PEOPLE_ROLES), reset=reset, people=people(session),
        grids=grids_by_code(session), workers=grid_workers(session), places=desk_choices(session, current_user()),
        units=services().desk_rules.units))
    if reset:
        response.headers["Cache-Control"] = "no-store"
    return response


def _back_to_users():
    return redirect(url_for("desk.users"), code=303)


def _change_then_back(change: Callable[[], str]):
    """Carry out one change of the users page and say on it how it went: what `change` reports, or the refusal."""
    try:
        flash(change(), "ok")
    except Refused as refused:  # a bad username or password, a value too long for its column, oneself
        flash(refused.message, "error")
    return _back_to_users()


@bp.post("/desk/users/add")
@page_login_required("admin")
def add_user():
    """Add a person with a role and a first password."""
    form = request.form

    def add() -> str:
        user = add_person(db_session(), form.get("username", ""), form.get("role", ""), form.get("password", ""),
                          form.get("display_name", ""), form.get("phone", ""), form.get("belongs", ""),
                          form.get("unit", ""))
        return f"已添加 {user.username}"

    return _change_then_back(add)


@bp.post("/desk/users/active")
@page_login_required("admin")
def set_user_active():
    """Deactivate someone (their sessions end) or activate them again; never oneself."""
    def switch() -> str:
        user = set_person_active(db_session(), current_user(), request.form.get("username", ""),
                                 request.form.get("active") == "1")
        return f"{user.username} 已{'启用' if user.active else '停用'}"

    return _change_then_back(switch)


@bp.post("/desk/users/reset")
@page_login_required("admin")
def reset_user_password():
    """Set someone else's password, the one typed or a generated one shown on the page that answers, once."""
    try:
        reset = reset_password(db_session(), current_user(), request.form.get("username", ""),
                               request.form.get("password", ""))
    except Refused as refused:
        flash(refused.message, "error")
        return _back_to_users()
    flash(f"已重置 {reset.username} 的密码，其所有登录已失效 / password reset; all their sessions ended", "ok")
    return _users_page(reset) if reset.password else _back_to_users()


@bp.post("/desk/users/grid-worker")
@page_login_required("admin")
def set_grid_worker():
    """Name a grid's worker."""
    def name() -> str:
        grid = name_grid_worker(db_session(), request.form.get("grid", ""), request.form.get("worker", ""))
        return f"{grid.name} 的网格员改为 {grid.worker.display_name}"

    return _change_then_back(name)
