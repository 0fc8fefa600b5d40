"""The web's metrics: GET /metrics for Prometheus (a bearer token's, never the world's), and what every request,
report and upload adds to them (service/runtime/metrics.py declares them)."""
from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, abort, g, request, request_finished, request_started

from service.photos import stream_size
from service.runtime import metrics
from service.web.errors import error_response
from service.web.extensions import services

bp = Blueprint("metrics", __name__)

# where reports come in, by endpoint, and the channel each is counted under
INTAKE_CHANNELS = {"api.create_report": "rider_api", "open311.create_request": "open311"}
# where photos come in: the reports, and the after photos (处置后) workers and staff send from the field
UPLOAD_CHANNELS = {**INTAKE_CHANNELS, "casework.add_photos": "field", "casework.case_action": "field"}
SCRAPE_ENDPOINT = "metrics.scrape"


@bp.get("/metrics")
def scrape():
    """Every web process's metrics, to a scraper with METRICS_TOKEN as its bearer token; 404 when no token is set
    (metrics off). Behind nginx every request comes from loopback, so where it comes from proves nothing."""
    token = services().settings.metrics_token
    if not token:
        abort(404)
    if not metrics.bearer_allowed(request.headers.get("Authorization"), token):
        response, status = error_response(401, "metrics_token", "需要正确的指标令牌",
                                          "a valid metrics bearer token is required")
        response.status_code = status
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.exposition(metrics.process_registry(), request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _started(_app, **_extra) -> None:
    """Note when the request began (before any check of it may refuse it)."""
    g.metrics_started = time.perf_counter()


def _finished(_app, response, **_extra) -> None:
    """Count the answered request, and the report or photos it brought in."""
    endpoint = request.endpoint
    if endpoint == SCRAPE_ENDPOINT:  # Prometheus's own visits would drown the riders' in the request rate
        return
    status = response.status_code
    started = g.get("metrics_started")
    rule = request.url_rule.rule if request.url_rule is not None else None
    metrics.record_request(rule, request.method, status, time.perf_counter() - started if started else 0.0)
    if request.method != "POST":
        return
    if endpoint in INTAKE_CHANNELS and status < 500:  # a 500 is our failure, not a refusal: the 5xx rate shows it
        metrics.record_intake(INTAKE_CHANNELS[endpoint], None if status < 400 else refusal_code(status))
    if endpoint in UPLOAD_CHANNELS and status < 300:
        metrics.record_upload(UPLOAD_CHANNELS[endpoint], (stream_size(f.stream) for name in request.files
                                                          for f in request.files.getlist(name) if f.filename))


def refusal_code(status: int) -> str:
    """The code the request was refused with (errors.py notes it), or its status when no handler said."""
    return g.get("refusal_code") or f"http_{status}"


def init_app(app: Flask) -> None:
    """The /metrics route, and the counting of every request of this app."""
    app.register_blueprint(bp)
    request_started.connect(_started, app)
    request_finished.connect(_finished, app)
