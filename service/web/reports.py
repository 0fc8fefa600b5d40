"""The weekly closure report on the desk, per scope (the district, a street office, a community): past weeks,
(re)building a week, the printable page with its parts' league table, Excel and CSV."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from service.auth import STAFF_ROLES
from service.db import utcnow
from service.models import WeeklyReport
from service.web.access import current_user, page_login_required
from service.web.extensions import db_session, services
from service.weekly import FIRST_YEAR, LAST_YEAR, Week, build_weekly_reports, kept_report, kept_reports, last_week
from service.weekly_levels import ReportScope, own_scope, readable_scopes, scope_named
from service.weekly_output import (
    PRINTED_ROWS,
    RANKING_COLUMNS,
    csv_text,
    grid_rates_chart,
    period,
    shown,
    shown_tables,
    trend_chart,
    workbook,
)

bp = Blueprint("reports", __name__)


def _scope() -> ReportScope:
    """The scope the URL names (?scope=community:hqsq), the viewer's own level's when it names none; 404 when it
    is outside the viewer's part of the district (no one learns which reports exist elsewhere)."""
    session, user = db_session(), current_user()
    key = request.args.get("scope")
    scope = own_scope(session, user) if not key else scope_named(session, key)
    if scope is None or not own_scope(session, user).holds(scope):
        abort(404)
    return scope


def _kept(week_name: str) -> WeeklyReport:
    """The week's built report of the scope the URL names, else 404."""
    report = kept_report(db_session(), week_name, _scope().key)
    if report is None:
        abort(404)
    return report


def _filename(report: WeeklyReport, suffix: str) -> str:
    """2026-W09-community-hqsq.xlsx: the week and whose (ASCII, for every browser's download bar)."""
    return f"{report.week}-{report.scope.replace(':', '-')}.{suffix}"


@bp.get("/desk/reports")
@page_login_required(*STAFF_ROLES)
def index():
    """The weeks built so far of the viewer's scopes, newest first, and a form to build any week."""
    scopes = readable_scopes(db_session(), current_user())
    names = {s.key: s.name for s in scopes}
    return render_template("desk/reports.html", reports=kept_reports(db_session(), list(names)), names=names,
                           suggested=last_week(utcnow(), services().settings.timezone).name)


@bp.post("/desk/reports")
@page_login_required(*STAFF_ROLES)
def build():
    """Build (or rebuild) a week's reports of the viewer's scope and those inside it; building again replaces."""
    try:
        week = Week.parse(request.form.get("week", ""))
    except ValueError:
        flash(f"周次格式应为 2026-W09，年份在 {FIRST_YEAR} 至 {LAST_YEAR} 之间", "error")
        return redirect(url_for("reports.index"), code=303)
    build_weekly_reports(db_session(), week, services().settings.timezone, utcnow(),
                         readable_scopes(db_session(), current_user()))
    flash(f"已生成 {week.name} 周报", "ok")
    return redirect(url_for("reports.page", week=week.name), code=303)


@bp.get("/desk/reports/<week>")
@page_login_required(*STAFF_ROLES)
def page(week: str):
    """The report, printable on A4: headline, charts, the parts' league table (above a community), tables, the
    overdue list, the reporters (on paper the lists' first rows)."""
    data = _kept(week).data
    return render_template("desk/report.html", data=data, when=period(data), tables=shown_tables(data),
                           printed_rows=PRINTED_ROWS, shown=shown, grid_chart=grid_rates_chart(data),
                           trend=trend_chart(data), ranking_columns=RANKING_COLUMNS,
                           scope=request.args.get("scope"))


@bp.get("/desk/reports/<week>.xlsx")
@page_login_required(*STAFF_ROLES)
def xlsx(week: str):
    """The report as an Excel workbook, one sheet per table (the league table's too)."""
    report = _kept(week)
    return Response(workbook(report.data),
                    headers={"Content-Disposition": f"attachment; filename={_filename(report, 'xlsx')}"},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/desk/reports/<week>.csv")
@page_login_required(*STAFF_ROLES)
def csv(week: str):
    """The report's tables as CSV."""
    report = _kept(week)
    return Response(csv_text(report.data), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={_filename(report, 'csv')}"})
