"""In a real browser: the rider's map across the district. Far out it draws every community's boundary with its
name; close in, the grids around the rider with theirs, and the words under the map say which community and grid
the pin is in. A phone never downloads the district's every grid: only the cells (0.02°) it comes near.
Screenshots under test-artifacts/district-maps/."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from browser_support import RIDER_PHONE, page_is_ready
from playwright.sync_api import expect
from test_rider_edges_browser import KEEP_THE_MAP

SCREENSHOT_FOLDER = "district-maps"
JS01_MIDDLE = {"latitude": 31.9635, "longitude": 120.845, "accuracy": 10}  # in 军山第01网格, 军山社区 (狼山镇街道)
# how many boundaries the map draws: the paths in Leaflet's overlay pane with the communities' dashes
COMMUNITY_LINES = """() => document.querySelectorAll("#map path[stroke-dasharray]").length"""


def rider_on_the_map(people):
    rider = people(**RIDER_PHONE)
    rider.context.add_init_script(KEEP_THE_MAP)
    grids_asked = []
    rider.context.on("request", lambda r: grids_asked.append(r.url) if "/api/v1/grids" in r.url else None)
    rider.log_in("rider1")
    page_is_ready(rider.page)
    return rider, grids_asked


def zoom(page, level: int) -> None:
    page.evaluate(f"() => window.__riderMap.setZoom({level}, {{ animate: false }})")


def test_far_out_the_map_names_the_communities_and_close_in_the_grids_and_where_the_pin_is(people, client):
    rider, grids_asked = rider_on_the_map(people)
    page = rider.page
    where = page.locator("#where-text")
    expect(where).to_have_text("定位精度 ±12 米 · 虹桥社区 · 虹桥第06网格·虹桥南路片")
    expect(page.locator("#map .grid-label", has_text="虹桥第06网格")).to_be_visible()
    expect(page.locator("#map .community-label", has_text="虹桥社区")).to_be_hidden()  # names never crowd
    rider.shot("near-hongqiao")

    zoom(page, 12)
    communities = client.get("/api/v1/communities").get_json()
    assert len(communities) == 8
    for community in communities:
        expect(page.locator("#map .community-label", has_text=community["name"])).to_have_count(1)
    for name in ("虹桥社区", "桃园社区", "起凤社区", "三桥社区"):  # those around Hongqiao, in the view
        expect(page.locator("#map .community-label", has_text=name)).to_be_visible()
    expect(page.locator("#map .grid-label", has_text="虹桥第06网格")).to_be_hidden()
    assert page.evaluate(COMMUNITY_LINES) == len(communities)
    rider.shot("far-the-communities")

    page.locator("#lang").click()
    expect(where).to_have_text("Accuracy ±12 m · 虹桥社区 · 虹桥第06网格·虹桥南路片")
    page.locator("#lang").click()
    # only the cells near the rider came: each ask a box, and far fewer grids than the district's 70
    assert grids_asked and all("bbox" in parse_qs(urlsplit(url).query) for url in grids_asked), grids_asked
    drawn = page.evaluate("() => document.querySelectorAll('#map .grid-label').length")
    assert 0 < drawn < 40, drawn
    rider.all_went_well()


def test_a_rider_across_the_district_sees_the_community_and_grid_there(people):
    rider, grids_asked = rider_on_the_map(people)
    page = rider.page
    rider.context.set_geolocation(JS01_MIDDLE)
    page.get_by_role("button", name="重新定位").click()
    expect(page.locator("#where-text")).to_have_text("定位精度 ±10 米 · 军山社区 · 军山第01网格·军山新村片")
    expect(page.locator("#map .grid-label", has_text="军山第01网格")).to_be_visible()
    expect(page.locator("#nearest-grid")).to_have_text("最近网格：军山第01网格 · 军山路")
    rider.shot("near-junshan")
    # a box of its own for the cell 军山 lies in
    assert any(parse_qs(urlsplit(url).query)["bbox"] == ["120.84,31.96,120.86,31.98"] for url in grids_asked), \
        grids_asked
    rider.all_went_well()
