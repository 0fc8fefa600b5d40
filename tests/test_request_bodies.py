"""Bodies that are not photos: JSON capped at MAX_JSON_KB and read only for someone logged in (or logging in),
nested no deeper than 32; urlencoded forms capped too. Each refusal is the usual JSON error, never a 500."""
from __future__ import annotations

import json

import pytest
from support import Api, assert_refused, make_settings

from config import Settings
from service.web import create_app
from service.web.request_bodies import MAX_DEPTH, nesting_depth

ACTION = "/api/v1/cases/20260101-0001/actions"  # no such case: a body that gets past the checks is answered 404


def _post(client, path: str, body: bytes, headers=None, content_type="application/json"):
    return client.post(path, data=body, content_type=content_type, headers=headers or {})


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_a_json_body_over_max_json_kb_is_413(rider):
    body = json.dumps({"action": "assign", "note": "很" * 30_000}).encode()  # 90 KB
    assert_refused(_post(rider.client, ACTION, body, rider.headers), 413, "json_too_large")
    assert_refused(_post(rider.client, "/api/v1/auth/login", body), 413, "json_too_large")
    assert _post(rider.client, ACTION, body[:60_000] + b'"}', rider.headers).status_code == 404  # under it: read


def test_json_from_someone_not_logged_in_is_401_unread(client):
    for body in (b"[1]", _deep(900), b"\xff\xfe{"):
        assert_refused(_post(client, ACTION, body), 401, "not_logged_in")


@pytest.mark.parametrize("levels", [33, 900, 20_000])
def test_json_nested_too_deep_is_400_at_login_and_for_the_logged_in(rider, levels):
    for client_path, headers in (("/api/v1/auth/login", {}), (ACTION, rider.headers)):
        assert_refused(_post(rider.client, client_path, _deep(levels), headers), 400, "json_too_deep")


def test_json_nested_100000_deep_is_400_whatever_the_cap(tmp_path, database_url, redis_url, settings):
    app = create_app(make_settings(tmp_path, database_url, redis_url, max_json_kb=1024))
    try:
        assert_refused(_post(app.test_client(), "/api/v1/auth/login", b"[" * 100_000), 400, "json_too_deep")
        assert_refused(_post(app.test_client(), "/api/v1/auth/login", b'{"a":' * 100_000), 400, "json_too_deep")
    finally:
        app.extensions["snap"].db.dispose()


def test_json_in_utf16_is_held_to_the_same_depth(rider):
    deep = ('["\u2200"' + "[" * 900 + "]" * 900 + "]").encode("utf-16-le")  # U+2200 is the bytes 00 22 in UTF-16LE
    assert_refused(_post(rider.client, ACTION, deep, rider.headers), 400, "json_too_deep")


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    login = {"username": "[" * 1000 + "{" * 1000, "password": "\\\"[[[" * 100}
    assert_refused(_post(client, "/api/v1/auth/login", json.dumps(login).encode()), 401, "bad_credentials")
    assert Api(client).login("rider1").status_code == 200  # and real logins still work


def test_nesting_depth_counts_without_recursing():
    assert nesting_depth('{"a": [1, {"b": []}], "c": "[[[["}', MAX_DEPTH) == 4
    assert nesting_depth('"unterminated [[[', MAX_DEPTH) == 0
    assert nesting_depth("[" * 1_000_000, MAX_DEPTH) == MAX_DEPTH + 1  # stops counting past the limit


def test_a_form_body_over_512_kb_is_413_before_it_is_parsed(client):
    response = _post(client, "/login", b"username=" + b"x" * (600 * 1024),
                     content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_a_json_content_type_without_a_body_needs_no_login(client):
    response = client.get("/api/v1/categories", content_type="application/json")
    assert response.status_code == 200 and response.get_json()["categories"]


def test_the_limits_are_settings(tmp_path):
    s = Settings.from_env(env={"INSTANCE_DIR": str(tmp_path), "MAX_JSON_KB": "16", "MAX_DECODE_MB": "512"})
    assert (s.max_json_kb, s.max_decode_mb) == (16, 512)
    defaults = Settings.from_env(env={"INSTANCE_DIR": str(tmp_path)})
    assert (defaults.max_json_kb, defaults.max_decode_mb) == (64, 240)
    with pytest.raises(ValueError, match="MAX_JSON_KB"):
        Settings.from_env(env={"INSTANCE_DIR": str(tmp_path), "MAX_JSON_KB": "lots"})
