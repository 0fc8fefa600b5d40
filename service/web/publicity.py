"""The weekly 公示 at the desk: a community's ranking of the week and the quarter, as a page, an A4 poster to print,
and a PNG for the WeChat group; and a rider's choice to be shown as 匿名."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from service.auth import PEOPLE_ROLES, STAFF_ROLES
from service.db import utcnow
from service.local_time import local_time
from service.models import Community
from service.poster import poster_png
from service.publicity import weekly_publicity
from service.refusals import Refused
from service.scope import may_work_community
from service.web.access import current_user, page_login_required
from service.web.extensions import db_session, services
from service.weekly import Week, last_week

bp = Blueprint("publicity", __name__)


def _chosen() -> tuple[list[Community], Community | None, Week]:
    """The communities the staff member's part holds, the one ?community= names (404 outside it; their first by
    default), and ?week= (last week by default; 404 for a name that is no week)."""
    staff = current_user()
    held = [c for c in db_session().query(Community).order_by(Community.code) if may_work_community(staff, c)]
    code = request.args.get("community")
    community = next((c for c in held if c.code == code), None) if code else (held[0] if held else None)
    if code and community is None:
        abort(404)
    try:
        week = Week.parse(request.args["week"]) if request.args.get("week") else \
            last_week(utcnow(), services().settings.timezone)
    except ValueError:
        abort(404)
    return held, community, week


def _publicity(community: Community, week: Week) -> dict:
    return weekly_publicity(db_session(), community, week, services().desk_rules.points, utcnow())


def _asked_publicity() -> tuple[Community, Week, dict]:
    """The community and week asked for, and their 公示 (404 when the staff member's part holds no community)."""
    _, community, week = _chosen()
    if community is None:
        abort(404)
    return community, week, _publicity(community, week)


@bp.get("/desk/publicity")
@page_login_required(*STAFF_ROLES)
def page():
    """The week's 公示 of one of my communities, with links to print it and to its picture."""
    held, community, week = _chosen()
    return render_template("desk/publicity.html", held=held, community=community, week=week,
                           data=_publicity(community, week) if community else None)


@bp.get("/desk/publicity/poster")
@page_login_required(*STAFF_ROLES)
def poster():
    """The 公示 as an A4 poster, for the notice board (print it from the browser)."""
    _, _, data = _asked_publicity()
    built = local_time(utcnow(), services().settings.timezone)
    return render_template("desk/publicity_poster.html", data=data, built=built)


@bp.get("/desk/publicity/poster.png")
@page_login_required(*STAFF_ROLES)
def picture():
    """The 公示 as a PNG for the community's WeChat group."""
    community, week, data = _asked_publicity()
    png = poster_png(data, local_time(utcnow(), services().settings.timezone))
    name = f"gongshi-{community.code}-{week.name}.png"
    return Response(png, mimetype="image/png", headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.post("/wallet/ranking")
@page_login_required(*PEOPLE_ROLES)
def ranking_choice():
    """Shown in the 公示 by masked name, or as 匿名."""
    user, choice = current_user(), request.form.get("by_name")
    if choice not in ("0", "1"):
        raise Refused("invalid", "bad_choice", "请选择显示姓名或匿名", "choose by_name 1 or 0", "by_name")
    user.ranked_by_name = choice == "1"
    db_session().commit()
    flash("公示中将显示您的姓名（部分隐去）" if user.ranked_by_name else "公示中将显示为“匿名”", "ok")
    return redirect(url_for("wallet.page"), code=303)
