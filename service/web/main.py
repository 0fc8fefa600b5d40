"""The rider's page at / (with its service worker and manifest), and the health check."""
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, render_template, request

from service.web.access import page_login_required
from service.web.assets import names_in_template
from service.web.extensions import db_session, services

bp = Blueprint("main", __name__)


@bp.get("/")
@page_login_required()
def index():
    """The rider's page: report in seconds, see what became of my reports (any logged-in person may report)."""
    return render_template("rider.html", settings=services().settings)


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from the root so that it may control the whole site (the page opens offline).

    It keeps the files the rider's page names, by the names the static manifest gives them, in a cache named
    after the build: a new build, a new worker, and the old files go. Browsers check it for a new
    version on every visit (no-cache), which costs a 304 when nothing changed.
    """
    manifest = current_app.extensions["assets"]
    return _revalidated(render_template("rider/sw.js", shell=_rider_shell(), version=manifest.version),
                        "text/javascript")


def _rider_shell() -> list[str]:
    """The URLs of the static files the rider's page names: its template parsed once per process, not on every
    visit's check for a new worker."""
    shell = current_app.extensions.get("rider_shell")
    if shell is None:
        manifest = current_app.extensions["assets"]
        shell = [manifest.url(name) for name in names_in_template(current_app.jinja_env, "rider.html")]
        current_app.extensions["rider_shell"] = shell
    return shell


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest: the page installs to the phone's home screen."""
    return _revalidated(render_template("rider/manifest.webmanifest"), "application/manifest+json")


def _revalidated(body: str, mimetype: str):
    """A small file at a fixed URL: kept by the browser, checked with its ETag before each use."""
    response = current_app.response_class(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


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
