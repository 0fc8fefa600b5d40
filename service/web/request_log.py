"""Each request's id and its one `request` log line: taken from X-Request-ID (nginx's $request_id) or made, bound to
every line the request logs, passed on to the jobs it queues, and returned as X-Request-ID (static files aside)."""
from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, g, request

from service.case_numbers import is_case_no
from service.runtime import logs
from service.web.assets import URL_PREFIX

log = logging.getLogger("service.web.requests")

ROUTE_FACTS = "snap.log"  # where the Flask side leaves the route and the user for the request line


class RequestIds:
    """The outermost WSGI layer: static files (WhiteNoise) and Flask's answers alike get the id and a line. The id
    goes back with every answer but a static file served as asked: the rider page's first visit fetches some twenty,
    each immutable and named by its content, and a phone on 4G pays for every header byte (about 1.2 KB here)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        request_id = logs.sane_request_id(environ.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        logs.begin(request_id=request_id)
        started = time.perf_counter()
        answer: dict = {}

        def start_with_id(status, headers, exc_info=None):
            answer["status"] = int(status.split(" ", 1)[0])
            answer["bytes"] = next((int(v) for k, v in headers if k.lower() == "content-length" and v.isdigit()),
                                   None)
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            if not (answer["status"] < 400 and environ.get("PATH_INFO", "").startswith(URL_PREFIX)):
                headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start_with_id)
        except Exception:
            answer.setdefault("status", 500)
            raise
        finally:
            _log_request(environ, request_id, answer, started)
        return body


def _log_request(environ: dict, request_id: str, answer: dict, started: float) -> None:
    """The request line (an error's when the answer is a 5xx): the path without its query string (an Open311
    api_key travels there) and with a secret route argument (an invitation's token) masked."""
    facts, status = environ.get(ROUTE_FACTS, {}), answer.get("status")
    log.log(logging.ERROR if status is not None and status >= 500 else logging.INFO, "request", extra={
        "request_id": request_id, "method": environ.get("REQUEST_METHOD"), "route": facts.get("route"),
        "path": facts.get("path") or environ.get("PATH_INFO", ""), "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1), "user_id": facts.get("user_id"),
        "bytes": answer.get("bytes")})


def _bind_case_of_route(_endpoint, view_args: dict | None) -> None:
    """A request about one case (the desk's case page, an action on it, its photos, an Open311 request) is
    marked with its number from the start, before any check that may refuse it."""
    case_no = (view_args or {}).get("case_no")
    if is_case_no(case_no):
        logs.bind_case(case_no)


def _note_route(response):
    """Leave the route, the masked path and who asked (if anyone was looked up) for the request line."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if logs.is_secret_name(name) and isinstance(value, str) and value:
            path = path.replace(value, logs.REDACTED)
    user = g.get("user")
    request.environ[ROUTE_FACTS] = {"route": request.url_rule.rule if request.url_rule else None, "path": path,
                                    "user_id": user.id if user is not None else None}
    return response


def init_app(app: Flask) -> None:
    """Wrap the whole application (static files included) and hook the Flask side."""
    app.url_value_preprocessor(_bind_case_of_route)
    app.after_request(_note_route)
    app.wsgi_app = RequestIds(app.wsgi_app)
