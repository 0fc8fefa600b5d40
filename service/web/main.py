"""The rider's page at / (with its service worker and manifest), and the health check."""
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, jsonify, render_template, send_from_directory

from service.web import db_session, services
from service.web.access import page_login_required

bp = Blueprint("main", __name__)
RIDER_STATIC = Path(__file__).with_name("static") / "rider"


@bp.get("/")
@page_login_required()
def index():
    """The rider's page: report in seconds, see what became of my reports (any logged-in person may report)."""
    return render_template("rider.html", settings=services().settings)


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from the root so that it may control the whole site (the page opens offline)."""
    response = send_from_directory(RIDER_STATIC, "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest: the page installs to the phone's home screen."""
    return send_from_directory(RIDER_STATIC, "manifest.webmanifest", mimetype="application/manifest+json")


@bp.get("/healthz")
def healthz():
    """200 when the database and Redis both answer; 503 naming whichever does not."""
    status = {"database": "ok", "redis": "ok"}
    try:
        db_session().execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        status["database"] = "down"
    if not services().jobs.ping():
        status["redis"] = "down"
    healthy = all(v == "ok" for v in status.values())
    return jsonify({"status": "ok" if healthy else "degraded", **status}), 200 if healthy else 503
