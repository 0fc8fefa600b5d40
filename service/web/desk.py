"""The staff desk's pages: the queue, a case, the map, the CSV export, rider invitations and user management."""
from __future__ import annotations

import io

import segno
import sqlalchemy as sa
from flask import (Blueprint, Response, flash, jsonify, make_response, redirect, render_template, request,
                   stream_with_context, url_for)
from sqlalchemy.orm import selectinload

from service.actions import ActionRefused, available_actions, perform
from service.auth import (STAFF_ROLES, USERNAME_MAX_LENGTH, generated_password, new_username, normalise_username,
                          set_active, set_password)
from service.db import utcnow
from service.queue import CSV_HEADER, BadCursor, QueueFilter, export_rows, mask_phone, queue_page, state_counts
from service.invites import create_invite
from service.lifecycle import STATE_LABELS
from service.models import ROLES, STATES, Case, Category, Grid, PossibleDuplicate, User
from service.parsing import INT32_MAX
from service.dispatch import grid_features
from service.spreadsheets import CsvWriter
from service.web.extensions import db_session, services
from service.web.access import current_user, page_login_required
from service.web.api import int_arg, visible_case
from service.refusals import Refused
from service.web.links import external_url, redirect_back

bp = Blueprint("desk", __name__)


def _filter_from_args() -> QueueFilter:
    """The queue filter the page's form put in the query string; unknown names are ignored, a bad number is 400."""
    args = request.args
    states = tuple(s for s in args.getlist("state") if s in STATES)
    return QueueFilter(states=states, grid=args.get("grid") or None, category=args.get("category") or None,
                       assignee=args.get("assignee") or None, overdue=args.get("overdue") == "1",
                       priority=int_arg("priority", None, 0, INT32_MAX),
                       text=(args.get("q") or "").strip()[:100] or None)


def _choices() -> dict:
    """The lists the filter and assign forms offer."""
    session = db_session()
    return {
        "grids": list(session.scalars(sa.select(Grid).order_by(Grid.code))),
        "categories": list(session.scalars(sa.select(Category).where(Category.active.is_(True))
                                           .order_by(Category.code))),
        "workers": list(session.scalars(sa.select(User).where(User.role == "grid_worker", User.active.is_(True))
                                        .order_by(User.username))),
        "units": services().desk_rules.units,
        "state_labels": STATE_LABELS,
    }


@bp.get("/desk")
@page_login_required(*STAFF_ROLES)
def queue():
    """Every case the filters match, most urgent and soonest due first, 50 a page, with counts per state."""
    f, now = _filter_from_args(), utcnow()
    try:
        cases, next_cursor = queue_page(db_session(), f, now, request.args.get("after"))
    except BadCursor:
        raise Refused("malformed", "bad_cursor", "翻页链接无效，请从第一页重新打开",
                       "the page link is not valid: start from the first page", field="after") from None
    next_url = None
    if next_cursor:
        args = request.args.to_dict(flat=False)
        args["after"] = [next_cursor]
        next_url = url_for("desk.queue", **args)
    return render_template("desk/queue.html", cases=cases, counts=state_counts(db_session(), f, now),
                           f=f, now=now, next_url=next_url, **_choices())


@bp.post("/desk/bulk-assign")
@page_login_required(*STAFF_ROLES)
def bulk_assign():
    """Assign the ticked cases to one grid worker or unit, through the same action as one case."""
    params = {"assignee": request.form.get("assignee") or None, "unit": request.form.get("unit") or None,
              "note": request.form.get("note", "")}
    done, refused = [], []
    for case_no in request.form.getlist("case_no")[:200]:
        case = db_session().scalar(sa.select(Case).where(Case.case_no == case_no))
        try:
            if case is None:
                raise ActionRefused("invalid", "unknown_case", "找不到案件", "no such case")
            follow_ups = perform(db_session(), case, "assign", current_user(), params, services().desk_rules)
            services().jobs.enqueue_follow_ups(case.case_no, follow_ups)
            done.append(case_no)
        except ActionRefused as exc:
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
    duplicates = list(db_session().scalars(
        sa.select(PossibleDuplicate).where(PossibleDuplicate.case_id == case.id)
        .options(selectinload(PossibleDuplicate.other_case).selectinload(Case.photos))))
    return render_template("desk/case.html", case=case, duplicates=duplicates, phone=mask_phone(case.reporter.phone),
                           actions={a.name for a in available_actions(current_user(), case)}, now=utcnow(),
                           tiles=services().settings.map_tiles_url, **_choices())


@bp.get("/desk/map")
@page_login_required(*STAFF_ROLES)
def case_map():
    """Open cases over the grid polygons."""
    return render_template("desk/map.html", tiles=services().settings.map_tiles_url)


@bp.get("/desk/map.json")
@page_login_required(*STAFF_ROLES)
def map_data():
    """The grids and the open cases as GeoJSON, for the map pages."""
    session, now = db_session(), utcnow()
    cases, _ = queue_page(session, QueueFilter(), now, limit=2000)
    points = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
               "properties": {"case_no": c.case_no, "state": c.state, "label": STATE_LABELS[c.state],
                              "category": c.category.name, "url": url_for("desk.case_page", case_no=c.case_no),
                              "overdue": bool(c.deadline_at and c.deadline_at < now
                                              and c.state in ("dispatched", "in_progress"))}}
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
        for row in export_rows(db_session(), f, now, svc.settings.timezone, svc.desk_rules.units):
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
        name, phone = request.form.get("display_name", "").strip(), request.form.get("phone", "").strip()
        username = normalise_username(request.form.get("username", ""))
        if not name or not username or not username.isascii() or len(username) > USERNAME_MAX_LENGTH:
            flash("请填写姓名和用户名（字母或数字）", "error")
        else:
            try:
                _, token = create_invite(db_session(), services().settings.secret_key, name, phone, username)
            except Refused as exc:
                flash(exc.message, "error")
            else:
                link = external_url("auth.invite", token=token)
                qr = segno.make(link, error="m").svg_inline(scale=4, title="邀请二维码")
                flash(f"已为 {name} 生成邀请，请用手机扫码打开", "ok")
    return render_template("desk/invites.html", link=link, qr=qr)


@bp.route("/desk/users", methods=["GET", "POST"])
@page_login_required("admin")
def users():
    """Admins add people, deactivate them, reset a password, and name each grid's worker."""
    session = db_session()
    reset = None
    if request.method == "POST":
        reset = _change_users(session)
        if reset is None:
            return redirect(url_for("desk.users"), code=303)
    response = make_response(render_template(
        "desk/users.html", roles=ROLES, reset=reset,
        people=list(session.scalars(sa.select(User).order_by(User.role, User.username))),
        grids=list(session.scalars(sa.select(Grid).order_by(Grid.code))),
        workers=list(session.scalars(sa.select(User).where(User.role == "grid_worker")))))
    if reset:
        response.headers["Cache-Control"] = "no-store"  # the generated password is shown this once
    return response


def _change_users(session):
    """Carry out one form of the users page: add, (de)activate, reset a password, or set a grid's worker.

    Returns what a reset generated (shown once on the page that answers), else None."""
    what = request.form.get("what")
    if what == "add":
        _add_user(session)
    elif what == "active":
        user = session.scalar(sa.select(User).where(User.username == request.form.get("username")))
        if user is not None and user.id != current_user().id:
            set_active(user, request.form.get("active") == "1")
            session.commit()
            flash(f"{user.username} 已{'启用' if user.active else '停用'}", "ok")
    elif what == "reset":
        return _reset_password(session)
    elif what == "grid_worker":
        grid = session.scalar(sa.select(Grid).where(Grid.code == request.form.get("grid")))
        worker = session.scalar(sa.select(User).where(User.username == request.form.get("worker"),
                                                      User.role == "grid_worker"))
        if grid is not None and worker is not None:
            grid.worker = worker
            session.commit()
            flash(f"{grid.name} 的网格员改为 {worker.display_name}", "ok")
    return None


def _add_user(session) -> None:
    """Add a person with a role and a first password (the username normalised, as at login)."""
    role = request.form.get("role")
    try:
        if role not in ROLES:
            raise Refused("invalid", "unknown_role", "请选择角色", "choose a role", "role")
        username = new_username(session, request.form.get("username", ""))
        user = User(username=username, role=role, display_name=request.form.get("display_name", "").strip() or username,
                    phone=request.form.get("phone", "").strip() or None)
        set_password(user, request.form.get("password", ""))
    except Refused as refused:  # a bad username or password, a value too long for its column
        flash(refused.message, "error")
        return
    session.add(user)
    session.commit()
    flash(f"已添加 {username}", "ok")


def _reset_password(session):
    """Set someone else's password (the one typed, or a generated one shown once) and end their sessions."""
    user = session.scalar(sa.select(User).where(User.username == request.form.get("username")))
    if user is None or user.id == current_user().id:
        flash("找不到该用户（自己的密码请在“修改密码”页修改）/ no such user (change your own on the password page)",
              "error")
        return None
    typed = request.form.get("password", "")
    password = typed or generated_password()
    try:
        set_password(user, password)
    except Refused as refused:
        flash(refused.message, "error")
        return None
    session.commit()
    flash(f"已重置 {user.username} 的密码，其所有登录已失效 / password reset; all their sessions ended", "ok")
    return None if typed else {"username": user.username, "password": password}
