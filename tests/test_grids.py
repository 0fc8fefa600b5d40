"""The district index on the demo district's own files: a point's community and grid, the snap distance at a
grid's edge and the district's, shared borders, and what lies outside every community (no database)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.grids import CommunityShape, DistrictIndex, GridShape

DISTRICT = Path(__file__).resolve().parent.parent / "config" / "district"
CODES = [c["code"] for o in json.loads((DISTRICT / "district.json").read_text(encoding="utf-8"))["street_offices"]
         for c in o["communities"]]
METRE_LAT = 1 / 110_574  # a metre northwards, in degrees


def _features(code: str, name: str):
    return json.loads((DISTRICT / "communities" / code / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def index():
    """The demo district: communities numbered 1.. in district.json's order, grids 1.. in file order."""
    communities, grids, grid_codes = [], [], {}
    for n, code in enumerate(CODES, start=1):
        communities.append(CommunityShape(n, _features(code, "boundary.geojson")["geometry"]))
        for feature in _features(code, "grids.geojson")["features"]:
            grids.append(GridShape(len(grids) + 1, feature["geometry"], n))
            grid_codes[len(grids)] = feature["properties"]["code"]
    built = DistrictIndex(communities, grids, snap_m=30, name="崇川区")
    built.codes = grid_codes
    return built


def community(code: str) -> int:
    return CODES.index(code) + 1


def test_a_point_in_a_grid_is_in_that_grid_and_its_community(index):
    placed = index.locate(32.015, 120.855)  # HQ06
    assert (index.codes[placed.grid_id], placed.community_id, placed.distance_m) == ("HQ06", community("hqsq"), 0)
    placed = index.locate(31.989811, 120.894655)  # XS01
    assert (index.codes[placed.grid_id], placed.community_id) == ("XS01", community("xssq"))


def test_a_point_in_a_community_but_in_none_of_its_grids_has_a_community_and_no_grid(index):
    placed = index.locate(32.015, 120.8825)  # 虹桥社区's strip east of its grids, 250 m from HQ12's edge
    assert placed.community_id == community("hqsq") and placed.grid_id is None
    assert index.contains(32.015, 120.8825)


@pytest.mark.parametrize("lat, lon", [(39.9087, 116.3975), (32.008, 120.8875), (31.0, 120.86), (120.855, 32.015)],
                         ids=["beijing", "between-communities", "south-of-the-district", "lat-lon-swapped"])
def test_a_point_in_no_community_is_outside_the_district(index, lat, lon):
    assert index.locate(lat, lon) is None
    assert not index.contains(lat, lon) and index.community_at(lat, lon) is None


def test_a_point_just_off_a_grid_snaps_to_it_within_its_community_and_not_beyond_30_m(index):
    # HQ12's east edge is near lon 120.88 inside 虹桥社区; 20 m east of it is still HQ12 (a phone's error)
    edge = index.locate(32.025, 120.8799)
    assert edge.grid_id is not None and index.codes[edge.grid_id] == "HQ12"
    near = index.locate(32.025, 120.88 + 20 / 94_000)
    assert index.codes[near.grid_id] == "HQ12" and 15 < near.distance_m < 25
    far = index.locate(32.025, 120.88 + 60 / 94_000)
    assert far.community_id == community("hqsq") and far.grid_id is None


def test_a_point_just_outside_the_district_snaps_to_the_nearest_community_within_30_m(index):
    south_edge = 31.955  # 军山社区's southern boundary
    assert index.community_at(south_edge - 10 * METRE_LAT, 120.865) == community("jssq")
    assert index.community_at(south_edge - 60 * METRE_LAT, 120.865) is None


def test_on_a_border_shared_by_two_communities_the_lower_id_wins_whatever_the_order(index):
    # 虹桥社区 (lat 32.000-32.030) and 桃园社区 (32.030-32.048) share the line lat 32.03 at lon 120.882 (no grid there)
    assert index.community_at(32.03, 120.8825) == min(community("hqsq"), community("tysq"))


def test_the_bounds_are_the_box_around_every_community(index):
    south, west, north, east = index.bounds
    assert (south, west, north, east) == (31.955, 120.84, 32.048, 120.945)


def test_every_point_is_placed_as_the_polygons_themselves_say(index):
    """Against a plain reading of the polygons, point by point with no squares or tiles: 4,000 random points over
    the district and 300 m beyond it, many near a border or the snap distance of one."""
    from random import Random

    from shapely.geometry import Point

    def polygons(kind: str) -> list[tuple[int, object]]:
        found = []
        for n, code in enumerate(CODES, start=1):
            if kind == "boundary.geojson":
                found.append((n, projection.geometry(_features(code, kind)["geometry"])))
            else:
                found += [(n, projection.geometry(f["geometry"])) for f in _features(code, kind)["features"]]
        return found

    projection = index.projection
    communities, grids = polygons("boundary.geojson"), polygons("grids.geojson")

    def expected(lat: float, lon: float):
        point = Point(*projection.xy(lat, lon))
        in_grid = [g for g, (_, p) in enumerate(grids, start=1) if p.intersects(point)]
        if in_grid:
            return grids[min(in_grid) - 1][0], min(in_grid), 0.0
        inside = [c for c, p in communities if p.intersects(point)]
        near = sorted((p.distance(point), c) for c, p in communities if p.distance(point) <= 30)
        community = min(inside) if inside else near[0][1] if near else None
        if community is None:
            return None
        snapped = sorted((p.distance(point), g) for g, (c, p) in enumerate(grids, start=1)
                         if c == community and p.distance(point) <= 30)
        return (community, snapped[0][1], round(snapped[0][0], 6)) if snapped else (community, None, 0.0)

    south, west, north, east = index.bounds
    margin = 300 * METRE_LAT
    rng = Random(14)
    for _ in range(4000):
        lat = rng.uniform(south - margin, north + margin)
        lon = rng.uniform(west - margin * 1.2, east + margin * 1.2)
        found = index.locate(lat, lon)
        got = None if found is None else (found.community_id, found.grid_id, round(found.distance_m, 6))
        assert got == expected(lat, lon), (lat, lon)
