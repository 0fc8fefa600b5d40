"""Request bodies that are not photos, before anything reads one: a JSON body is at most MAX_JSON_KB, from
someone logged in (the login itself excepted), and nested no deeper than a real request ever is; a form body
without files is at most MAX_FORM_MEMORY_SIZE.

MAX_CONTENT_LENGTH is sized for four photos; a JSON body held to it cost a web process +300 MB and 7.5 s to
parse before its 401 (werkzeug reads a urlencoded form whole, too). Here each cap is the request's own
(werkzeug's per-request max_content_length, which also bounds a chunked body as it is read), the sender of
JSON is known before a byte of it is read, and its depth is checked before the json module, which recurses
once per level, ever sees it.
"""
from __future__ import annotations

import json
import re

from flask import Flask, current_app, request

from service.refusals import Refused
from service.web.access import current_user
from service.web.extensions import db_session, services

MAX_DEPTH = 32  # our bodies nest two or three levels; json.loads fails with RecursionError near 1000
LOGIN_ENDPOINTS = ("api.login", "auth.login")  # where a JSON body may come from someone not yet logged in
# a JSON string (to its end, or to the end of the text when unterminated), or a bracket; nothing else counts
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def nesting_depth(text: str, give_up_past: int) -> int:
    """How deep arrays and objects nest in this JSON text (brackets inside strings do not count), without
    recursing; stops counting once past give_up_past."""
    depth = deepest = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > give_up_past:
                break
        elif bracket in "]}":
            depth -= 1
    return deepest


def _sends_a_body() -> bool:
    """True when the request carries a body: a Content-Length above 0, or chunked."""
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def guard_request_body() -> None:
    """Before every other check of a request: cap a form or JSON body; know who sends JSON, then read and check it."""
    if not _sends_a_body():
        return
    if request.mimetype == "application/x-www-form-urlencoded":
        _guard_form_body(current_app.config["MAX_FORM_MEMORY_SIZE"])
    if request.is_json:
        _guard_json_body()


def _guard_form_body(cap: int) -> None:
    """At most `cap` bytes. A chunked body (no Content-Length) is read now, to one byte past the cap: werkzeug
    would stop at the cap without a word, and the form would be what came before the cut."""
    request.max_content_length = cap + 1
    if (request.content_length or 0) > cap:
        raise Refused("too_large", "form_too_large", "表单内容过大", f"a form body must be at most {cap // 1024} KB")
    if request.content_length is None and len(request.get_data(cache=True)) > cap:
        raise Refused("too_large", "form_too_large", "表单内容过大", f"a form body must be at most {cap // 1024} KB")


def _guard_json_body() -> None:
    """At most MAX_JSON_KB, from someone logged in (unless logging in), nested at most MAX_DEPTH deep."""
    kb = services().settings.max_json_kb
    too_large = Refused("too_large", "json_too_large", f"JSON 请求体不能超过 {kb} KB",
                        f"a JSON body must be at most {kb} KB")
    # werkzeug stops reading a body without Content-Length (chunked) at the cap, silently: a cap one byte past
    # the limit tells a body of exactly the limit from a longer one
    request.max_content_length = kb * 1024 + 1
    if (request.content_length or 0) > kb * 1024:
        raise too_large
    if request.blueprint == "open311" and request.method == "POST":  # the spec's POSTs are forms, keyed
        raise Refused("malformed", "form_expected", "Open311 请求须以表单提交",
                      "Open311 requests are forms: application/x-www-form-urlencoded or multipart/form-data")
    if request.endpoint not in LOGIN_ENDPOINTS and request.routing_exception is None:
        if current_user() is None:
            raise Refused("not_logged_in", "not_logged_in", "请先登录", "not logged in")
        # the body is read next: a slow sender must not hold a database connection meanwhile
        db_session().rollback()
    data = request.get_data(cache=True)
    if len(data) > kb * 1024:
        raise too_large
    try:
        text = data.decode(json.detect_encoding(data), "surrogatepass")  # as json.loads would read the bytes
    except (UnicodeDecodeError, LookupError):
        return  # not text at all: the view's own parsing refuses it as malformed JSON
    if nesting_depth(text, MAX_DEPTH) > MAX_DEPTH:
        raise Refused("malformed", "json_too_deep", f"JSON 嵌套不能超过 {MAX_DEPTH} 层",
                       f"JSON may nest at most {MAX_DEPTH} levels deep")


def init_app(app: Flask) -> None:
    """Guard bodies ahead of every before_request that might read one (CSRF, rate limits, the NUL check)."""
    app.before_request(guard_request_body)
