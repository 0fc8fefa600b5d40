"""Static files: fingerprinted names from one manifest, precompressed (brotli, gzip), cached for a year; the pages,
the import map and the service worker all name the files through it; pages and JSON still gzip for gzip clients."""
from __future__ import annotations

import gzip
import json
import posixpath
import re

import brotli
from support import Browser

from service.web import assets

CHROMIUM_ENCODINGS = "gzip, deflate, br, zstd"
OLD_WEBVIEW = "gzip"  # an older Android WebView: gzip only
YEAR = 365 * 24 * 3600


def static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_every_static_file_is_served_under_its_fingerprint_compressed_and_kept_a_year(app, client):
    manifest = app.extensions["assets"]
    assert set(manifest.files) == {p.relative_to(assets.SOURCE).as_posix() for p in assets.SOURCE.rglob("*")
                                   if p.suffix in assets.WEB_TYPES} | {"js/states.js", "css/states.css"}
    for name in manifest.files:
        source = assets.source_content(name)
        url = manifest.url(name)
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", url), url
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
        assert plain.headers["Cache-Control"] == f"max-age={YEAR}, public, immutable", url
        if not name.endswith(".css"):  # style sheets name the images they use by their fingerprints
            assert plain.data == source, name
        if name.endswith((".js", ".css")):
            br = client.get(url, headers={"Accept-Encoding": CHROMIUM_ENCODINGS})
            assert br.headers["Content-Encoding"] == "br" and brotli.decompress(br.data) == plain.data, name
            gz = client.get(url, headers={"Accept-Encoding": OLD_WEBVIEW})
            assert gz.headers["Content-Encoding"] == "gzip" and gzip.decompress(gz.data) == plain.data, name
            assert "Accept-Encoding" in gz.headers["Vary"]
    leaflet = client.get(manifest.url("vendor/leaflet/leaflet.js"), headers={"Accept-Encoding": OLD_WEBVIEW})
    assert len(leaflet.data) < 45_000, "leaflet.js (147 KB) reaches a gzip-only phone compressed"


def test_a_plain_name_is_not_served_and_a_style_sheets_images_are_found(app, client):
    manifest = app.extensions["assets"]
    assert client.get("/static/rider/main.js").status_code == 404
    css = client.get(manifest.url("vendor/leaflet/leaflet.css")).get_data(as_text=True)
    images = re.findall(r"url\((images/[^)]+)\)", css)
    assert len(images) == 3
    for image in images:
        assert client.get(f"/static/vendor/leaflet/{image}").status_code == 200, image


def test_the_pages_name_every_file_by_its_fingerprint(app, client):
    manifest = app.extensions["assets"]
    rider = Browser(app.test_client())
    rider.login("rider1")
    staff = Browser(app.test_client())
    staff.login("staff1")
    for html in (rider.get("/").get_data(as_text=True), staff.get("/desk/map").get_data(as_text=True)):
        urls = static_urls(html)
        assert urls and set(urls) <= {manifest.url(name) for name in manifest.files}, urls
        for url in urls:
            assert client.get(url).status_code == 200, url


def test_the_import_map_resolves_every_page_script_to_its_fingerprinted_file(app, client):
    manifest = app.extensions["assets"]
    html = client.get("/login").get_data(as_text=True)
    import_map = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html).group(1))
    scripts = sorted(name for name in manifest.files if name.endswith(".js"))
    assert scripts == ["desk/exchange.js", "desk/queue.js", "field/field.js",
                       "js/basemap.js", "js/bell.js", "js/capture.js", "js/coords.js", "js/good_deeds.js", "js/http.js",
                       "js/maps.js", "js/outbox.js", "js/states.js", "js/wallet.js",
                       "rider/categories.js", "rider/main.js", "rider/mine.js", "rider/nearby.js",
                       "rider/photos.js", "rider/place.js", "rider/report.js", "rider/ui.js", "rider/words.js",
                       "vendor/jsqr/jsQR.js", "vendor/leaflet.markercluster/leaflet.markercluster.js",
                       "vendor/leaflet/leaflet.js"]
    assert import_map == {"imports": {f"/static/{name}": manifest.url(name) for name in scripts}}
    for plain, fingerprinted in import_map["imports"].items():
        assert client.get(fingerprinted).data == assets.source_content(plain.removeprefix("/static/"))


IMPORT = re.compile(r'^import [^"]*"([^"]+)";$', re.M)


def imported(name: str) -> set[str]:
    """The static files a module imports, by their logical names, and theirs in turn."""
    found, todo = set(), [name]
    while todo:
        module = todo.pop()
        for specifier in IMPORT.findall(assets.source_content(module).decode("utf-8")):
            target = specifier.removeprefix("/static/") if specifier.startswith("/static/") \
                else posixpath.normpath(posixpath.join(posixpath.dirname(module), specifier))
            if target not in found:
                found.add(target)
                todo.append(target)
    return found


def test_the_rider_page_names_every_module_its_entry_point_imports_so_they_are_kept_offline(app):
    manifest = app.extensions["assets"]
    rider = Browser(app.test_client())
    rider.login("rider1")
    html = rider.get("/").get_data(as_text=True)
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', html))
    modules = imported("rider/main.js") | {"rider/main.js"}
    assert {"js/outbox.js", "js/capture.js", "js/states.js", "rider/words.js"} <= modules
    assert preloaded == {manifest.url(name) for name in modules}
    assert re.findall(r'<script[^>]*src="([^"]+)"', html) == [manifest.url("vendor/leaflet/leaflet.js"),
                                                               manifest.url("rider/main.js")]
    assert '<script type="module" src="' + manifest.url("rider/main.js") in html, "one entry point, a module"


def test_the_shared_capture_and_outbox_modules_need_nothing_of_the_rider_page(app):
    for name in ("js/capture.js", "js/outbox.js"):
        assert not any(target.startswith("rider/") for target in imported(name)), name
        text = assets.source_content(name).decode("utf-8")
        assert "getElementById" not in text and "data-i18n" not in text and "localStorage" not in text, name


def test_the_service_worker_keeps_the_rider_pages_files_as_the_manifest_names_them(app, client):
    manifest = app.extensions["assets"]
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert worker.headers["Cache-Control"] == "no-cache"
    text = worker.get_data(as_text=True)
    kept = json.loads(re.search(r"var KEPT_FIRST = (\[.*?\]);", text).group(1))
    rider = Browser(app.test_client())
    rider.login("rider1")
    assert set(kept) == set(static_urls(rider.get("/").get_data(as_text=True))), "the page's files, no more"
    assert manifest.url("rider/main.js") in kept
    assert f'var CACHE = "suishoupai-shell-{manifest.version}";' in text
    again = client.get("/sw.js", headers={"If-None-Match": worker.headers["ETag"]})
    assert again.status_code == 304, "a visit checks the worker for a few bytes"
    icons = json.loads(client.get("/manifest.webmanifest").get_data(as_text=True))["icons"]
    assert {icon["src"] for icon in icons} == {manifest.url("rider/icon-192.png"), manifest.url("rider/icon-512.png")}


def test_pages_and_json_are_gzipped_for_a_gzip_only_client(app):
    rider = Browser(app.test_client())
    rider.login("rider1")
    for path in ("/", "/api/v1/categories", "/sw.js"):
        answer = rider.client.get(path, headers={"Accept-Encoding": OLD_WEBVIEW})
        assert answer.headers.get("Content-Encoding") == "gzip", path
        gzip.decompress(answer.data)


def test_a_build_is_made_once_and_again_when_a_source_changes(tmp_path):
    source, target = tmp_path / "static", tmp_path / "build"
    (source / "img").mkdir(parents=True)
    (source / "img" / "dot.png").write_bytes(b"\x89PNG fake")
    (source / "app.css").write_text("body { background: url('img/dot.png'); }\n" + "p { color: red; }\n" * 200)
    (source / "app.js").write_text("console.log('one');\n" * 100)
    first = assets.build(source, target)
    css = (target / "files" / first.files["app.css"]).read_text()
    assert f"url('{first.files['img/dot.png']}')" in css
    assert (target / "files" / (first.files["app.js"] + ".br")).exists()
    assert (target / "files" / (first.files["app.js"] + ".gz")).exists()
    assert not (target / "files" / (first.files["img/dot.png"] + ".gz")).exists(), "PNGs are compressed already"
    assert assets.build(source, target) == first
    (source / "app.js").write_text("console.log('two');\n" * 100)
    second = assets.build(source, target)
    assert second.version != first.version and second.files["app.js"] != first.files["app.js"]
    assert second.files["app.css"] == first.files["app.css"]
    assert (target / "files" / first.files["app.js"]).exists(), "pages already sent still find their files"
    assert assets.read_manifest(target) == second
