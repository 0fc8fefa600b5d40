"""The weekly closure report on the desk: past weeks, (re)building a week, the printable page, Excel and CSV."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from service.auth import STAFF_ROLES
from service.db import utcnow
from service.models import WeeklyReport
from service.web.access import page_login_required
from service.web.extensions import db_session, services
from service.weekly import FIRST_YEAR, LAST_YEAR, Week, build_weekly_report, kept_report, kept_reports, last_week
from service.weekly_output import (
    PRINTED_ROWS,
    csv_text,
    grid_rates_chart,
    period,
    shown,
    shown_tables,
    trend_chart,
    workbook,
)

bp = Blueprint("reports", __name__)


def _kept(week_name: str) -> WeeklyReport:
    """The week's built report, else 404."""
    report = kept_report(db_session(), week_name)
    if report is None:
        abort(404)
    return report


@bp.get("/desk/reports")
@page_login_required(*STAFF_ROLES)
def index():
    """The weeks built so far, newest first, and a form to build any week."""
    return render_template("desk/reports.html", reports=kept_reports(db_session()),
                           suggested=last_week(utcnow(), services().settings.timezone).name)


@bp.post("/desk/reports")
@page_login_required(*STAFF_ROLES)
def build():
    """Build (or rebuild) a week's report now; building the same week again replaces it."""
    try:
        week = Week.parse(request.form.get("week", ""))
    except ValueError:
        flash(f"周次格式应为 2026-W09，年份在 {FIRST_YEAR} 至 {LAST_YEAR} 之间", "error")
        return redirect(url_for("reports.index"), code=303)
    build_weekly_report(db_session(), week, services().settings.timezone, utcnow())
    flash(f"已生成 {week.name} 周报", "ok")
    return redirect(url_for("reports.page", week=week.name), code=303)


@bp.get("/desk/reports/<week>")
@page_login_required(*STAFF_ROLES)
def page(week: str):
    """The report, printable on A4: headline, charts, tables, the overdue list, the ranking (on paper the lists'
    first rows)."""
    data = _kept(week).data
    return render_template("desk/report.html", data=data, when=period(data), tables=shown_tables(data),
                           printed_rows=PRINTED_ROWS, shown=shown, grid_chart=grid_rates_chart(data),
                           trend=trend_chart(data))


@bp.get("/desk/reports/<week>.xlsx")
@page_login_required(*STAFF_ROLES)
def xlsx(week: str):
    """The report as an Excel workbook, one sheet per table."""
    report = _kept(week)
    return Response(workbook(report.data), headers={"Content-Disposition": f"attachment; filename={report.week}.xlsx"},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/desk/reports/<week>.csv")
@page_login_required(*STAFF_ROLES)
def csv(week: str):
    """The report's tables as CSV."""
    report = _kept(week)
    return Response(csv_text(report.data), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={report.week}.csv"})
