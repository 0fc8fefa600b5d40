"""The plain pages: the landing page, and the health check that load balancers and `make run` ask."""
import sqlalchemy as sa
from flask import Blueprint, jsonify, render_template

from service.web import db_session, services

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """The landing page."""
    return render_template("index.html")


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
