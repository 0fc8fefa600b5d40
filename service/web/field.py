"""The grid worker's phone page: my work orders, urgent first, each opening to its map, 导航 and next step; 已处置."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, render_template, request

from service.db import utcnow
from service.geo import from_wgs84
from service.models import Case
from service.parsing import whole_number
from service.queue import resolved_by, work_orders
from service.scope import FIELD_ROLES
from service.web.access import current_user, page_login_required
from service.web.extensions import db_session, services

bp = Blueprint("field", __name__)

NAV_SOURCE = "suishoupai"  # who is asking, as 高德's and 百度's URI APIs want it said


def navigation_links(case: Case) -> list[tuple[str, str]]:
    """(app, URL) opening each map app at the case's spot, the point in the system that app expects.

    高德: uri.amap.com/marker opens the app on a phone (callnative=1) and the web map on a desk; GCJ-02
    (coordinate=gaode). 百度: api.map.baidu.com/marker, BD-09 (coord_type=bd09ll). Apple: maps.apple.com/?ll=&q=
    takes no coordinate system; in mainland China Apple's maps are drawn from AutoNavi's (高德) GCJ-02 data and a
    WGS-84 point lands a few hundred metres off, so it is given GCJ-02 too (dpa99c/phonegap-launch-navigator#186:
    "gaode maps and apple maps in china using the GCJ-02 system coordinates ... no corresponding parameter setting
    is found for apple maps, maybe need to convert outside"; merlos/iOS-Open-GPX-Tracker#192, openvehicles/
    Open-Vehicle-iOS#37 see the same offset on Apple's maps in China).
    """
    if case.lat is None or case.lon is None:
        return []
    name = f"{case.category.name} {case.case_no}"
    gcj_lat, gcj_lon = from_wgs84(case.lat, case.lon, "gcj02")
    bd_lat, bd_lon = from_wgs84(case.lat, case.lon, "bd09")
    amap = {"position": f"{gcj_lon:.6f},{gcj_lat:.6f}", "name": name, "src": NAV_SOURCE, "coordinate": "gaode",
            "callnative": "1"}
    baidu = {"location": f"{bd_lat:.6f},{bd_lon:.6f}", "title": name, "content": (case.description or "")[:60] or name,
             "coord_type": "bd09ll", "output": "html", "src": f"webapp.{NAV_SOURCE}.field"}
    apple = {"ll": f"{gcj_lat:.6f},{gcj_lon:.6f}", "q": name}
    return [("高德", "https://uri.amap.com/marker?" + urlencode(amap)),
            ("百度", "https://api.map.baidu.com/marker?" + urlencode(baidu)),
            ("Apple 地图", "https://maps.apple.com/?" + urlencode(apple))]


@bp.get("/field")
@page_login_required(*FIELD_ROLES)
def orders():
    """My work orders that are dispatched or in progress: urgent first, then soonest due."""
    svc = services()
    return render_template("field/orders.html", cases=work_orders(db_session(), current_user()), now=utcnow(),
                           navigation=navigation_links,
                           max_photos=svc.limits.max_photos)


@bp.get("/field/done")
@page_login_required(*FIELD_ROLES)
def resolved():
    """The orders I resolved, the latest first, 20 a page, each with what became of it (已结案, 返工, ...)."""
    try:
        page = whole_number(request.args.get("page", "1"), 1, 10_000)
    except ValueError:
        page = 1
    done, more = resolved_by(db_session(), current_user(), page)
    return render_template("field/done.html", done=done, page=page, more=more,
                           open_count=len(work_orders(db_session(), current_user())))
