"""Errors as the clients see them: one JSON shape, a Chinese then English message, the right status code."""
from __future__ import annotations

import logging
import time
from itertools import chain

from flask import Flask, flash, g, jsonify, make_response, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import ClientDisconnected, HTTPException, default_exceptions

from service.photo_store import PhotoStoreUnavailable
from service.refusals import Refused
from service.web import open311_format
from service.web.extensions import limiter

log = logging.getLogger(__name__)

RETRY_AFTER_S = 30  # the database or the photo store unreachable: back in about this long
TOO_MANY_RETRY_AFTER_S = 60  # a refusal of "too many for now" (live redemption codes): a minute frees some
# every kind of refusal the core and the face raise (service/refusals.py), and the status it is answered with
REFUSAL_STATUS = {"malformed": 400, "not_logged_in": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
                  "too_large": 413, "unsupported": 415, "invalid": 422, "too_many": 429, "gone": 410}

# status -> (code, Chinese, English) for errors raised by Flask and werkzeug themselves
HTTP_MESSAGES = {
    400: ("bad_request", "请求格式有误", "malformed request"),
    401: ("not_logged_in", "请先登录", "not logged in"),
    403: ("forbidden", "无权进行此操作", "not allowed"),
    404: ("not_found", "找不到该资源", "not found"),
    405: ("method_not_allowed", "不支持该请求方法", "method not allowed"),
    413: ("request_too_large", "上传内容过大", "request too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "unsupported media type"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试", "too many requests, please wait and try again"),
    500: ("internal_error", "服务器内部错误，请稍后重试", "internal error, please try again later"),
    503: ("unavailable", "服务暂不可用，请稍后重试", "service unavailable, please try again later"),
}


def error_response(status: int, code: str, message_zh: str, message_en: str, field: str | None = None,
                   extra: dict | None = None):
    """The JSON error body: {"error": {"code", "message", "field"}}, and what else the refusal says beside it
    (a 409's balance)."""
    body = {"error": {"code": code, "message": f"{message_zh} / {message_en}", "field": field}, **(extra or {})}
    return jsonify(body), status


def error_page(status: int, zh: str, en: str, fallback):
    """The page a browser is answered with: the same words as the JSON, Chinese then English, in the site's frame;
    `fallback` (werkzeug's plain page) when even that cannot be drawn."""
    try:
        return render_template("error.html", status=status, zh=zh, en=en), status
    except Exception:  # an error page must never become a 500 of its own
        log.exception("the error page could not be drawn for %s %s", request.method, request.path)
        return fallback(), status


def _on_open311() -> bool:
    return request.path.startswith("/open311/")


def open311_error(status: int, en: str):
    """The error as Open311 lists it: 404, 403 (also for not logged in), the statuses that say when to come back
    (413, 429, 503) and 500 as they are; any other client error is the spec's 400."""
    status = 403 if status == 401 else status if status in (403, 404, 405, 413, 429, 500, 503) else 400
    return open311_format.error_response(status, en)


def unavailable(code: str, zh: str, en: str):
    """503 with when to try again, for a part of the service that cannot be reached just now."""
    if _on_open311():
        response, status = open311_error(503, en), 503
    else:
        response, status = error_response(503, code, zh, en)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response, status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz" \
        or request.accept_mimetypes.best == "application/json"


def _has_nul(value) -> bool:
    """True when a string inside the value holds a NUL byte, which no text column can store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_bytes():
    """Refuse text with NUL bytes anywhere a client can put it, before it reaches a query.

    A JSON body gets here already capped, from a known sender and at most 32 levels deep (request_bodies runs
    before every other before_request), so reading and walking it here costs little. A request no route takes
    reaches no query: it is answered 404 or 405 (with Allow) as it is.
    """
    if request.routing_exception is not None:
        return
    values = [request.path, *chain.from_iterable(request.args.listvalues())]
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        values += chain.from_iterable(request.form.listvalues())
        values += [f.filename or "" for f in chain.from_iterable(request.files.listvalues())]
    if request.is_json:
        values.append(request.get_json(silent=True))
    if _has_nul(values):
        raise Refused("malformed", "invalid_characters", "请求中含有非法字符（NUL）",
                      "the request contains a NUL character")


def seconds_until_the_limit_resets() -> int:
    """When the rate limit this request broke lets the sender in again."""
    broken = limiter.current_limit
    return max(1, int(broken.reset_at - time.time())) if broken else 60


def init_app(app: Flask) -> None:
    """Answer every error in the JSON shape on the API, and never with a bare 500 page."""

    app.before_request(refuse_nul_bytes)

    @app.errorhandler(Refused)
    def _refused(exc: Refused):
        """The JSON error on the API. A page's form with a wrong value is shown again with the message (as every
        form shows its refusals); any other refusal on a page is that status's page, with the same words."""
        status = REFUSAL_STATUS[exc.kind]
        g.refusal_code = exc.code  # for the intake's count by reason (service/web/metrics.py)
        if _on_open311():
            return open311_error(status, exc.en)
        if _wants_json():
            response, status = error_response(status, exc.code, exc.zh, exc.en, exc.field, exc.extra)
            if status == 429:  # too many for now: when to come back (what a rate limit's 429 says too)
                response.headers["Retry-After"] = str(TOO_MANY_RETRY_AFTER_S)
            return response, status
        if exc.kind == "invalid" and request.method == "POST":
            flash(exc.zh, "error")
            return redirect(request.path, code=303)
        return error_page(status, exc.zh, exc.en, default_exceptions[status](description=exc.message).get_response)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code, zh, en = HTTP_MESSAGES.get(exc.code, (exc.name.lower().replace(" ", "_"), exc.name, exc.name))
        if isinstance(exc, CSRFError):  # a page kept open across a new login: fetch a fresh token and retry
            code, zh, en = "csrf_failed", "页面已过期，请刷新后重试", "the page's CSRF token is missing or stale"
        if exc.code is None or exc.code < 400:  # a redirect werkzeug raises (a missing slash): as it is
            return exc.get_response()
        g.refusal_code = code
        if _on_open311():
            response = open311_error(exc.code, en)
            status = response.status_code
        elif _wants_json():
            response, status = error_response(exc.code, code, zh, en)
        else:
            body, status = error_page(exc.code, zh, en, exc.get_response)
            response = make_response(body, status)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        if exc.code == 429:
            response.headers["Retry-After"] = str(seconds_until_the_limit_resets())
        return response, status

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.TimeoutError)  # every pooled connection busy past the pool's timeout: a rush
    def _database_down(exc):
        """The database cannot be reached: say so, and when to try again; the request left nothing behind."""
        log.error("database unavailable on %s %s: %s", request.method, request.path, getattr(exc, "orig", None) or exc)
        return unavailable("database_unavailable", "数据库暂不可用，请稍后重试",
                           "the database is unavailable, please try again shortly")

    @app.errorhandler(PhotoStoreUnavailable)
    def _photo_store_down(exc: PhotoStoreUnavailable):
        """The object store did not take or give a photo: nothing was acknowledged, the rider's outbox retries."""
        log.error("photo store unavailable on %s %s: %s", request.method, request.path, exc)
        return unavailable("photo_store_unavailable", "照片存储暂不可用，请稍后重试",
                           "the photo store is unavailable, please try again shortly")

    @app.errorhandler(ClientDisconnected)
    def _body_cut_short(exc: ClientDisconnected):
        """The request body stopped before its end: the phone went quiet past gunicorn's read timeout (408), or
        the connection broke (400). Nothing of the request was kept; the rider's outbox sends it again."""
        if isinstance(exc.__context__, TimeoutError):
            log.warning("request body stalled on %s %s", request.method, request.path)
            response, status = error_response(408, "request_timeout", "上传中断，请重新提交",
                                              "the upload stalled; please send it again")
        else:
            response, status = error_response(400, "client_disconnected", "上传不完整，请重新提交",
                                              "the request body was cut short; please send it again")
        response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _on_open311():
            return open311_error(500, HTTP_MESSAGES[500][2])
        return error_response(500, *HTTP_MESSAGES[500])
