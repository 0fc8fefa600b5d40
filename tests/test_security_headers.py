"""Security headers on every answer: a CSP that allows no inline script or style, no framing, HSTS only on https;
pages hold no inline script (but the import map) and no inline style; photos are cached for their viewer only."""
from __future__ import annotations

import base64
import hashlib
import re
import uuid

import pytest
from support import HONGQIAO, Browser, make_settings

from service.states import CaseState
from service.web import create_app

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S)


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def pages_of_every_kind(app, factory) -> dict[str, str]:
    """Each kind of page, logged in as whoever uses it: path -> HTML."""
    case_no = factory.case_in(CaseState.DISPATCHED, seed=91).case_no  # gw06's, with its thumbnail
    staff = Browser(app.test_client())
    staff.login("staff1")
    staff.post("/desk/reports", week="2026-W09")
    pages = {path: staff.get(path) for path in ("/desk", f"/desk/cases/{case_no}", "/desk/map", "/desk/invites",
                                                "/desk/reports", "/desk/reports/2026-W09")}
    pages["/desk/invites (a QR code)"] = staff.post("/desk/invites", display_name="新骑手",
                                                    username=f"rider{uuid.uuid4().hex[:8]}")  # accounts outlive a test
    admin = Browser(app.test_client())
    admin.login("admin")
    pages["/desk/users"] = admin.get("/desk/users")
    worker = Browser(app.test_client())
    worker.login("gw06")
    pages["/field"] = worker.get("/field")
    reporter = Browser(app.test_client())
    pages["/login"] = reporter.get("/login")
    reporter.login("rider1")
    pages["/"] = reporter.get("/")
    for path, response in pages.items():
        assert response.status_code == 200, path
    return {path: response.get_data(as_text=True) for path, response in pages.items()}


def test_every_page_has_no_inline_script_but_the_import_map_and_no_inline_style(app, factory):
    pages = pages_of_every_kind(app, factory)
    assert "<svg" in pages["/desk/invites (a QR code)"] and pages["/desk/reports/2026-W09"].count("<svg") == 2
    for path, html in pages.items():
        scripts = INLINE_SCRIPT.findall(html)
        assert [attrs.strip() for attrs, _ in scripts] == ['type="importmap"'], (path, scripts)
        assert "<style" not in html and not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), f"{path}: an inline event handler"
        assert "javascript:" not in html, path


def test_the_policy_allows_our_origin_and_the_import_map_only(app, client):
    page = client.get("/login")
    csp = directives(page)
    assert csp["default-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:", "blob:"]
    import_map = INLINE_SCRIPT.search(page.get_data(as_text=True)).group(2)
    digest = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
    assert csp["script-src"] == ["'self'", f"'sha256-{digest}'"], "the hash must be of the import map as sent"
    assert not any("unsafe" in source for sources in csp.values() for source in sources)


@pytest.mark.parametrize("path", ["/login", "/api/v1/categories", "/healthz", "/no-such-page", "/api/v1/nope",
                                  "/sw.js", "/manifest.webmanifest", "STATIC"])
def test_every_answer_is_not_sniffed_framed_or_leaking_its_address(app, client, path):
    if path == "STATIC":
        path = app.extensions["assets"].url("rider/main.js")
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert response.headers["Referrer-Policy"] == "same-origin", path
    if not path.startswith("/static/"):  # a file's CSP would not govern anything: the page's does
        assert directives(response)["frame-ancestors"] == ["'none'"], path
        assert response.headers["X-Frame-Options"] == "DENY", path
    assert "Strict-Transport-Security" not in response.headers, "HSTS over plain http"


@pytest.mark.parametrize("path", ["/api/v1/categories", "/api/v1/communities", "/api/v1/nope", "/api/v1/me/reports"])
def test_a_json_answer_loads_nothing_and_is_framed_by_no_one(client, path):
    answer = client.get(path)
    assert answer.mimetype == "application/json", path
    assert directives(answer) == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}, path


def test_hsts_only_when_the_site_is_served_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://snap.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31556926")


def img_sources(tmp_path, database_url, redis_url, **tiles) -> list[str]:
    """The img-src of a page of an app made with these tile settings."""
    app = create_app(make_settings(tmp_path, database_url, redis_url, **tiles))
    try:
        return directives(app.test_client().get("/login"))["img-src"]
    finally:
        app.extensions["snap"].db.dispose()


@pytest.mark.parametrize("tiles, allowed", [
    ({"map_tiles_url": "https://{s}.tiles.example.cn/osm/{z}/{x}/{y}.png"}, ["https://*.tiles.example.cn"]),
    ({"map_tiles": "osm"}, ["https://tile.openstreetmap.org"]),
    ({"map_tiles": "tianditu", "map_tiles_key": "k"}, ["https://*.tianditu.gov.cn"]),  # t0-t7, vec_w and cva_w
    ({"map_tiles": "amap"}, ["https://*.is.autonavi.com"]),  # webrd01-04: a wildcard may only be a whole label
    ({"map_tiles": "tencent"}, ["https://*.map.gtimg.com"]),
    ({"map_tiles": "amap", "map_tiles_url": "http://127.0.0.1:8123/{z}/{x}/{y}.png"}, ["http://127.0.0.1:8123"]),
    ({"map_tiles_url": "https://tiles.example.cn/{s}/{z}/{x}/{y}.png"}, ["https://tiles.example.cn"]),
    ({"map_tiles_url": "https://a{s}b.example.cn/{z}/{x}/{y}.png"}, ["https://*.example.cn"]),
    ({"map_tiles_url": "https://tiles.{s}.example.cn/{z}/{x}/{y}.png"},
     ["https://tiles.a.example.cn", "https://tiles.b.example.cn", "https://tiles.c.example.cn"]),
    ({"map_tiles_url": "/tiles/{z}/{x}/{y}.png"}, []),  # tiles of our own origin: 'self' has them
])
def test_the_map_tiles_servers_may_be_shown_and_nothing_else(tmp_path, database_url, redis_url, tiles, allowed):
    assert img_sources(tmp_path, database_url, redis_url, **tiles) == ["'self'", "data:", "blob:", *allowed]


def test_a_tile_template_that_is_no_url_is_refused_at_start_up(tmp_path, database_url, redis_url):
    with pytest.raises(ValueError, match="MAP_TILES_URL"):
        create_app(make_settings(tmp_path, database_url, redis_url, map_tiles_url="tiles.example/{z}/{x}/{y}.png"))


def test_photos_are_kept_by_the_viewers_browser_only(rider, make_api, factory):
    case_no = factory.case_in(CaseState.DISPATCHED, seed=92).case_no
    photo = rider.get(f"/api/v1/reports/{case_no}").get_json()["photos"][0]
    for variant in ("web", "thumb"):
        answer = rider.get(f"/api/v1/reports/{case_no}/photos/{photo['id']}/{variant}")
        assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
        assert answer.cache_control.private and not answer.cache_control.public, answer.headers["Cache-Control"]
        assert answer.cache_control.max_age == 86400
    neighbour = make_api("rider2")
    near = neighbour.get(f"/api/v1/nearby?lat={HONGQIAO['lat']}&lon={HONGQIAO['lon']}&category=B0118").get_json()
    thumb = neighbour.get(near["cases"][0]["thumb_url"])
    assert thumb.status_code == 200
    assert thumb.cache_control.private and not thumb.cache_control.public, thumb.headers["Cache-Control"]
