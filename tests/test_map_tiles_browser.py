"""The maps' tiles in Chromium (issue 13, items 2 and 11): each preset's tiles come from a loopback tile server the CSP
lets in; on GCJ-02 tiles (高德, 腾讯) cases are drawn the GCJ-02 offset from their WGS-84 spot and a pin placed on the
map is stored where it was dropped; with no tiles the grids are named and the nearest grid and road said in words;
the desk's map of 200 cases clusters them, fits them all and names the grids on hover only."""
from __future__ import annotations

import dataclasses
import io
import math
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prcoords
import pytest
import sqlalchemy as sa
from browser_support import RIDER_PHONE, choose, page_is_ready, reported_case_no, send, take_photos
from images import photo_jpeg
from PIL import Image, ImageDraw
from playwright.sync_api import expect
from support import OUTSIDE_GRIDS
from test_browser import DESKTOP, console_errors
from test_geo import (
    ALIYUN_GCJ,
    ALIYUN_ONE_STEP_WGS,
    EVILTRANSFORM_TOLERANCE_M,
    EVILTRANSFORM_WGS_GCJ,
    GCOORD_TOLERANCE_M,
    GCOORD_WGS_GCJ_BD,
)
from test_rider_edges_browser import KEEP_THE_MAP

from service.models import Case
from service.placement import distance_m
from service.states import CaseState

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "maps", True  # test-artifacts/maps/, sticky bars in place
GCJ_OFFSET_M = (430, 500)  # GCJ-02's shift in Chongchuan: about 466 m


class TileServer:
    """A tile server on loopback: a PNG for any path, each request kept (host, path and query)."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        tile = Image.new("RGB", (256, 256), (236, 232, 220))
        ImageDraw.Draw(tile).rectangle((0, 0, 255, 255), outline=(190, 180, 160))
        buffer = io.BytesIO()
        tile.save(buffer, "PNG")
        png, requests = buffer.getvalue(), self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append((self.headers.get("Host", ""), self.path))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="tile-server", daemon=True)
        self.thread.start()

    def tiles(self, prefix: str) -> list[tuple[int, int, int]]:
        """The (z, x, y) of every tile asked for under /prefix/."""
        found = [re.match(rf"/{prefix}/(?:\w+/)?(\d+)/(\d+)/(\d+)", path) for _, path in self.requests]
        return [(int(m[1]), int(m[2]), int(m[3])) for m in found if m]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tile_server():
    server = TileServer()
    yield server
    server.stop()


def tile_settings(mode: str, port: int) -> dict:
    """The tile settings of each mode, every preset's servers replaced by the loopback one (MAP_TILES_URL)."""
    here = f"http://127.0.0.1:{port}"
    return {
        "none": {},
        "osm": {"map_tiles": "osm", "map_tiles_url": here + "/osm/{z}/{x}/{y}.png"},
        # {s}: t1-t4.tiles.localhost (Chromium takes *.localhost to loopback), let in as http://*.tiles.localhost:port
        "amap": {"map_tiles": "amap", "map_tiles_url": f"http://t{{s}}.tiles.localhost:{port}/amap/{{z}}/{{x}}/{{y}}"},
        "tencent": {"map_tiles": "tencent", "map_tiles_url": here + "/qq/{z}/{x}/{y}"},
        "tianditu": {"map_tiles": "tianditu", "map_tiles_key": "test-tk",
                     "map_tiles_url": here + "/tdt/{layer}/{z}/{x}/{y}?tk={key}"},
    }[mode]


@pytest.fixture
def settings(settings, request, tile_server):
    """This test's settings with the tiles of its mode (parametrized indirectly; none by default)."""
    return dataclasses.replace(settings, **tile_settings(getattr(request, "param", "none"), tile_server.port))


def at_a_screen(people, tile_server, **device):
    """A person whose browser may fetch tiles from the loopback server (and nothing else but our site), whose
    console errors (a CSP refusal is one) are kept, and whose page's Leaflet map the test can ask things of."""
    person = people(**device)
    person.context.route(re.compile(rf"^http://[^/]*:{tile_server.port}/"), lambda route: route.continue_())
    person.context.add_init_script(KEEP_THE_MAP)
    person.errors = console_errors(person)
    return person


def fine(person) -> None:
    """Nothing refused, fetched from elsewhere or broken, and no console error (no tile refused by the CSP)."""
    person.all_went_well()
    assert person.errors == [], person.errors


def tile_lat_range(z: int, y: int) -> tuple[float, float]:
    """The latitudes a Web Mercator (XYZ) tile row spans."""
    def lat(row):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / 2 ** z))))
    return lat(y + 1), lat(y)


def as_drawn(mode: str, lat: float, lon: float) -> tuple[float, float]:
    """Where a WGS-84 point belongs on the tiles of this mode."""
    return tuple(prcoords.wgs_gcj((lat, lon))) if mode in ("amap", "tencent") else (lat, lon)


MARKS = """() => { const found = [];
  window.__riderMap.eachLayer((layer) => {
    const marks = layer instanceof L.MarkerClusterGroup ? layer.getLayers() : [];
    marks.forEach((m) => found.push([m.getPopup().getContent().textContent.split(" ")[0], m.getLatLng().lat,
                                     m.getLatLng().lng]));
  });
  return found; }"""


def point_at(page, x: float, y: float) -> tuple[float, float]:
    """The map's (lat, lon) under the page's pixel (x, y), as Leaflet reckons a click: in the tiles' own system."""
    return tuple(page.evaluate("""([x, y]) => { const map = window.__riderMap, el = map.getContainer();
      const box = el.getBoundingClientRect();  // a click's point is counted inside the map's border
      const p = map.containerPointToLatLng([x - box.left - el.clientLeft, y - box.top - el.clientTop]);
      return [p.lat, p.lng]; }""", [x, y]))


def centre_of(page, locator: str) -> tuple[float, float]:
    """The map point under the middle of an element drawn on it."""
    box = page.locator(locator).bounding_box()
    return point_at(page, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def pin_tip(page) -> tuple[float, float]:
    """The map point under the rider's pin's tip (41 px below its top, in the middle)."""
    pin = page.locator("#map .pin").bounding_box()
    return point_at(page, pin["x"] + 15, pin["y"] + 41)


# --- the conversion in the browser: js/coords.js against the published pairs and prcoords ------------------------

def test_the_pages_gcj02_conversion_matches_the_published_pairs_and_the_servers(people, live_server):
    person = people()
    person.page.goto("/login")
    convert = "async (points) => { const c = await import('/static/js/coords.js');" \
              " return points.map(([lat, lon]) => [c.wgsToGcj(lat, lon), c.gcjToWgs(lat, lon)]); }"
    pairs = list(EVILTRANSFORM_WGS_GCJ.values()) + [(wgs, gcj) for wgs, gcj, _ in GCOORD_WGS_GCJ_BD.values()]
    answers = person.page.evaluate(convert, [gcj for _, gcj in pairs] + [wgs for wgs, _ in pairs])
    back, forward = answers[:len(pairs)], answers[len(pairs):]
    for (wgs, gcj), (_, from_gcj), (to_gcj, _) in zip(pairs, back, forward):
        tolerance = EVILTRANSFORM_TOLERANCE_M if (wgs, gcj) in EVILTRANSFORM_WGS_GCJ.values() else GCOORD_TOLERANCE_M
        assert distance_m(from_gcj, wgs) < tolerance, (wgs, gcj, from_gcj)
        assert distance_m(to_gcj, gcj) < tolerance, (wgs, gcj, to_gcj)
    # Aliyun's published WGS-84 is a one-step inverse: ours, iterated, is 1.5-2 m from it, as the server's is
    (_, aliyun), = person.page.evaluate(convert, [ALIYUN_GCJ])
    assert 1.0 < distance_m(aliyun, ALIYUN_ONE_STEP_WGS) < 2.5

    # a few hundred random points in Chongchuan: the page and the server (prcoords) agree within millimetres
    rng = random.Random(13)
    points = [(rng.uniform(31.95, 32.08), rng.uniform(120.78, 120.95)) for _ in range(300)]
    answers = person.page.evaluate(convert, points)
    worst_back = max(distance_m(tuple(prcoords.gcj_wgs_bored(p)), tuple(a[1])) for p, a in zip(points, answers))
    worst_forward = max(distance_m(tuple(prcoords.wgs_gcj(p)), tuple(a[0])) for p, a in zip(points, answers))
    offsets = [distance_m(p, tuple(a[0])) for p, a in zip(points, answers)]
    print(f"figure: coords_js_vs_prcoords_m back={worst_back:.4f} forward={worst_forward:.6f} "
          f"gcj02_offset_m={min(offsets):.0f}-{max(offsets):.0f}")
    assert worst_back < 0.5 and worst_forward < 0.01
    assert all(GCJ_OFFSET_M[0] < m < GCJ_OFFSET_M[1] for m in offsets)
    round_trip = person.page.evaluate("async (points) => { const c = await import('/static/js/coords.js');"
                                      " return points.map(([lat, lon]) => c.gcjToWgs(...c.wgsToGcj(lat, lon))); }",
                                      points)
    assert max(distance_m(p, tuple(r)) for p, r in zip(points, round_trip)) < 0.01
    person.all_went_well()


# --- each preset on the desk: tiles from its server, cases where the tiles have them ----------------------------

TILE_PREFIX = {"osm": "osm", "amap": "amap", "tencent": "qq", "tianditu": "tdt"}


@pytest.mark.parametrize("settings", ["osm", "amap", "tencent", "tianditu"], indirect=True)
def test_desk_cases_on_tiles(settings, people, factory, tile_server, db):
    """The desk draws each case where the preset's tiles have it (a short name: the preset is in the screenshots')."""
    mode = settings.tiles.preset
    here = factory.case_in(CaseState.DISPATCHED, seed=301)  # HQ06
    lost = factory.case_in(CaseState.UNROUTED, seed=302)  # outside every grid
    tile_server.requests.clear()
    staff = at_a_screen(people, tile_server, **DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    page.goto("/desk/map")
    expect(page.locator("#casemap")).to_have_attribute("data-loaded", "2")
    expect(page.locator("#casemap img.leaflet-tile-loaded").first).to_be_visible()
    expect(page.locator("#casemap .leaflet-control-attribution")).to_contain_text(settings.tiles.attribution)
    staff.shot(f"desk-map-{mode}")

    # the tiles came from the loopback server, for the rows where Chongchuan is (TMS rows counted from the south)
    tiles = tile_server.tiles(TILE_PREFIX[mode])
    assert tiles, tile_server.requests
    for z, _, y in tiles:
        south, north = tile_lat_range(z, 2 ** z - 1 - y if settings.tiles.tms else y)
        assert south - 0.1 < 32.02 < north + 0.1, (mode, z, y)
    if mode == "tianditu":  # the vector base and its annotation, each with the key
        paths = [path for _, path in tile_server.requests]
        assert any("/tdt/vec/" in p for p in paths) and any("/tdt/cva/" in p for p in paths)
        assert all(p.endswith("?tk=test-tk") for p in paths)
    if mode == "amap":  # its subdomains, all let in by one wildcard
        assert {host.split(".")[0] for host, _ in tile_server.requests} <= {"t1", "t2", "t3", "t4"}

    # each case drawn where these tiles have its spot: on GCJ-02 tiles the offset away from its WGS-84 one
    marks = {no: (lat, lon) for no, lat, lon in page.evaluate(MARKS)}
    for case in (here, lost):
        db.expire_all()
        row = db.scalar(sa.select(Case).where(Case.case_no == case.case_no))
        drawn, spot = marks[case.case_no], (row.lat, row.lon)
        assert distance_m(drawn, as_drawn(mode, *spot)) < 0.05, (mode, case.case_no, drawn, spot)
        apart = distance_m(drawn, spot)
        if settings.tiles.crs == "gcj02":
            print(f"figure: gcj02_offset_on_the_desk_map_m {mode} {case.case_no} {apart:.1f}")
            assert GCJ_OFFSET_M[0] < apart < GCJ_OFFSET_M[1], apart
        else:
            assert apart < 0.05

    # the case page's small map, closer in: the mark's pixels sit over the tiles' spot for the case
    page.goto(f"/desk/cases/{here.case_no}")
    expect(page.locator("#minimap img.leaflet-tile-loaded").first).to_be_visible()
    drawn = centre_of(page, "#minimap path.case-point")
    assert distance_m(drawn, as_drawn(mode, here.lat, here.lon)) < 4, (mode, drawn)  # a pixel is 2.3 m at zoom 16
    staff.shot(f"case-minimap-{mode}")
    fine(staff)


# --- the rider on GCJ-02 tiles: the fix drawn shifted, a pin dropped stored where it was dropped ------------------

@pytest.mark.parametrize("settings", ["amap"], indirect=True)
def test_a_pin_dropped_on_gcj02_tiles_is_stored_at_the_wgs84_point_of_where_it_was_dropped(
        settings, people, tile_server, db):
    rider = at_a_screen(people, tile_server, **RIDER_PHONE)
    rider.log_in("rider1")
    page = rider.page
    page_is_ready(page)
    expect(page.locator("#map img.leaflet-tile-loaded").first).to_be_visible()
    fix = (RIDER_PHONE["geolocation"]["latitude"], RIDER_PHONE["geolocation"]["longitude"])
    # the phone's fix (WGS-84) drawn where GCJ-02 tiles have it: the pin's tip and the accuracy ring's middle
    shifted = tuple(prcoords.wgs_gcj(fix))
    pin_at, ring_at = page.evaluate("""() => { const found = {};
      window.__riderMap.eachLayer((l) => { if (l instanceof L.Marker) { found.pin = l.getLatLng(); }
                                           if (l instanceof L.Circle) { found.ring = l.getLatLng(); } });
      return [[found.pin.lat, found.pin.lng], [found.ring.lat, found.ring.lng]]; }""")
    assert distance_m(tuple(pin_at), shifted) < 0.05 and distance_m(tuple(ring_at), shifted) < 0.05
    assert GCJ_OFFSET_M[0] < distance_m(tuple(pin_at), fix) < GCJ_OFFSET_M[1]
    # and drawn there: a pixel is a metre at zoom 17
    assert distance_m(pin_tip(page), shifted) < 2
    assert distance_m(centre_of(page, '#map path[stroke="#0b4fa3"]'), shifted) < 2
    expect(page.locator("#nearest-grid")).to_be_hidden()  # the tiles have the streets
    rider.shot("fix-on-gcj02-tiles")

    take_photos(page, photo_jpeg(seed=311))
    choose(page, "路灯")
    # closer in, as a rider would before placing it: at zoom 18 (高德's closest) a pixel is half a metre
    page.evaluate("() => window.__riderMap.setView(window.__riderMap.getCenter(), 18, { animate: false })")
    box = page.locator("#map").bounding_box()
    tap = (round(box["x"] + box["width"] / 2) - 70, round(box["y"] + box["height"] / 2) + 30)
    page.mouse.click(*tap)
    expect(page.locator("#where-text")).to_contain_text("已手动选点")
    assert distance_m(pin_tip(page), point_at(page, *tap)) < 0.5, "the pin's tip where the map was tapped"
    pin = page.locator("#map .pin").bounding_box()  # then dragged a little further, as riders do
    page.mouse.move(pin["x"] + 15, pin["y"] + 21)
    page.mouse.down()
    for step in range(1, 7):
        page.mouse.move(pin["x"] + 15 + 5 * step, pin["y"] + 21 - 3 * step)
    page.mouse.up()
    dropped = pin_tip(page)  # GCJ-02, as the tiles are
    meant = tuple(prcoords.gcj_wgs_bored(dropped))
    rider.shot("pin-dropped-on-gcj02-tiles")
    send(page)
    case_no = reported_case_no(page)
    db.expire_all()
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    stored = (case.lat, case.lon)
    print(f"figure: pin_dropped_vs_stored_m {distance_m(stored, meant):.3f} (gcj02 tiles, zoom 18)")
    assert distance_m(stored, meant) < 1.0, (stored, meant)
    assert GCJ_OFFSET_M[0] < distance_m(stored, dropped) < GCJ_OFFSET_M[1], "stored unshifted, as WGS-84"
    assert case.coord_system == "wgs84" and case.accuracy_m is None
    fine(rider)


# --- no tiles at all: the grids named on the map, the nearest grid and its road in words ---------------------------

def test_with_no_tiles_the_rider_map_names_the_grids_and_says_the_nearest_grid_and_road(people, tile_server, rider):
    grids = rider.get("/api/v1/grids").get_json()["features"]
    streets = {f["properties"]["code"]: f["properties"]["street"] for f in grids}
    assert len(streets) >= 60 and streets["HQ06"] == "虹桥南路" and all(streets.values())  # the whole district's
    phone = at_a_screen(people, tile_server, **RIDER_PHONE)
    phone.log_in("rider1")
    page = phone.page
    page_is_ready(page)
    assert page.locator("#map img.leaflet-tile").count() == 0
    expect(page.locator("#map .grid-label", has_text="虹桥第06网格")).to_be_visible()
    expect(page.locator("#nearest-grid")).to_have_text("最近网格：虹桥第06网格 · 虹桥南路")
    phone.shot("no-tiles-nearest-grid")
    page.locator("#lang").click()
    expect(page.locator("#nearest-grid")).to_have_text("Nearest grid: 虹桥第06网格 · 虹桥南路")
    phone.shot("no-tiles-nearest-grid-en")
    page.locator("#lang").click()
    # in 虹桥社区's strip east of its grids: the nearest is HQ08, across its eastern edge
    phone.context.set_geolocation({"latitude": float(OUTSIDE_GRIDS["lat"]), "longitude": float(OUTSIDE_GRIDS["lon"]),
                                   "accuracy": 12})
    page.get_by_role("button", name="重新定位").click()
    expect(page.locator("#where-text")).to_contain_text("虹桥社区 · 不在网格内")
    expect(page.locator("#nearest-grid")).to_have_text("最近网格：虹桥第08网格 · 钟秀中路")
    phone.shot("no-tiles-outside-the-grids")
    fine(phone)


# --- the desk's map of 200 cases: clusters, every case reachable and on screen, grid names on hover --------------

VISIBLE_COUNT = """() => { let clustered = 0, single = 0;
  document.querySelectorAll("#casemap .marker-cluster > div > span").forEach((s) => {
    clustered += parseInt(s.textContent, 10); });
  window.__riderMap.eachLayer((l) => { if (l instanceof L.CircleMarker && l.getPopup()) { single += 1; } });
  return { clustered, single, clusters: document.querySelectorAll("#casemap .marker-cluster").length }; }"""

# what is drawn inside the view: a cluster's count of cases, or 1 for a case on its own
VISIBLE_COUNT_IN_VIEW = """() => { const map = window.__riderMap, view = map.getBounds(), counts = [];
  map.eachLayer((l) => {
    if (l instanceof L.MarkerCluster && view.contains(l.getLatLng())) { counts.push(l.getChildCount()); }
    else if (l instanceof L.CircleMarker && l.getPopup() && view.contains(l.getLatLng())) { counts.push(1); }
  });
  return counts; }"""

# a point inside a grid with nothing drawn over it but the grid: where a person hovers to read its name
EMPTY_SPOT_IN_A_GRID = """() => { const map = window.__riderMap, box = map.getContainer().getBoundingClientRect();
  for (const layer of Object.values(map._layers)) {
    if (!(layer instanceof L.Polygon) || !layer.getTooltip()) { continue; }
    const b = layer.getBounds();
    for (let i = 1; i < 10; i++) { for (let j = 1; j < 10; j++) {
      const p = map.latLngToContainerPoint([b.getSouth() + (b.getNorth() - b.getSouth()) * i / 10,
                                            b.getWest() + (b.getEast() - b.getWest()) * j / 10]);
      const x = box.left + p.x, y = box.top + p.y, under = document.elementFromPoint(x, y);
      if (under && under.classList.contains("grid-outline") && under === layer.getElement()) {
        return { x, y, name: layer.feature.properties.name };
      }
    } }
  }
  return null; }"""


def test_the_desk_map_of_200_cases_clusters_them_shows_them_all_and_names_grids_on_hover(people, factory,
                                                                                          tile_server):
    categories = ["B0118", "E0301", "B0211", "E0302", "B0305"]
    made = []
    for i in range(180):  # on a lattice over the twelve grids, about 250 m apart: no two alike
        where = {"lat": f"{32.0015 + (i // 15) * 0.0015:.4f}", "lon": f"{120.8410 + (i % 15) * 0.0026:.4f}"}
        made.append(factory.case_in(CaseState.DISPATCHED, category=categories[i % 5], where=where))
    unrouted = []
    for i in range(20):  # on 虹桥社区's strip east of its grids: staff must route these, so they must be seen
        where = {"lat": f"{32.0010 + i * 0.0014:.4f}", "lon": f"{120.8815 + (i % 2) * 0.002:.4f}"}
        unrouted.append(factory.case_in(CaseState.UNROUTED, category=categories[i % 5], where=where))
    staff = at_a_screen(people, tile_server, **DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    page.goto("/desk/map")
    expect(page.locator("#casemap")).to_have_attribute("data-loaded", "200")
    expect(page.locator("#casemap .marker-cluster").first).to_be_visible()
    staff.shot("200-cases-clustered")

    # every case is in a cluster's count or drawn on its own, and every one is inside the view, unrouted too
    seen = page.evaluate(VISIBLE_COUNT)
    assert seen["clustered"] + seen["single"] == 200 and seen["clusters"] >= 5, seen
    inside = page.evaluate("() => { const view = window.__riderMap.getBounds(); let n = 0;"
                           " window.__riderMap.eachLayer((l) => { if (l instanceof L.MarkerClusterGroup) {"
                           " l.getLayers().forEach((m) => { if (view.contains(m.getLatLng())) { n += 1; } }); } });"
                           " return n; }")
    assert inside == 200
    assert len(page.evaluate(MARKS)) == 200

    # the grids' names only on hover: none to begin with, one where the mouse is, gone when it leaves
    expect(page.locator("#casemap .grid-label")).to_have_count(0)
    spot = page.evaluate(EMPTY_SPOT_IN_A_GRID)
    assert spot, "a spot in some grid with no cluster over it"
    page.mouse.move(spot["x"], spot["y"])
    label = page.locator("#casemap .grid-label")
    expect(label).to_have_count(1)
    expect(label).to_contain_text(spot["name"].split("·")[0])
    staff.shot("grid-name-on-hover")
    page.mouse.move(5, 5)
    expect(page.locator("#casemap .grid-label")).to_have_count(0)

    # the biggest cluster opens on a click: closer in, each of its cases on its own
    zoom, counts = page.evaluate("() => window.__riderMap.getZoom()"), page.evaluate(VISIBLE_COUNT_IN_VIEW)
    biggest = max(counts)
    page.locator("#casemap .marker-cluster > div > span", has_text=re.compile(rf"^{biggest}\b")).click()
    page.wait_for_function("(z) => window.__riderMap.getZoom() > z", arg=zoom)
    expect(page.locator("#casemap .leaflet-zoom-anim, #casemap .leaflet-cluster-anim")).to_have_count(0)
    after = page.evaluate(VISIBLE_COUNT_IN_VIEW)
    assert after.count(1) >= biggest, (biggest, after)
    staff.shot("cluster-opened")
    fine(staff)
