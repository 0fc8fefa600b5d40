"""The demo district's data files (config/district/): offices, boundaries, grids and people agree with each other."""
from __future__ import annotations

import json
import math
import re
from itertools import combinations
from pathlib import Path

import pytest
from shapely import affinity
from shapely.geometry import Point, shape
from shapely.ops import unary_union

CONFIG = Path(__file__).resolve().parent.parent / "config"
DISTRICT = CONFIG / "district"
SERVICE_AREA = {"south": 31.95, "north": 32.08, "west": 120.78, "east": 120.95}
OVERLAP_AREA = 1e-12  # square degrees: shared edges only, no shared ground
OUTSIDE_TOLERANCE = 1e-9  # square degrees of a grid allowed outside its boundary (rounding)
UNGRIDDED_STRIP_M = 300  # every community keeps a strip at least this wide outside all its grids
CODE = re.compile(r"^[a-z]+$")
# (lat, lon) inside each community and outside all its grids, as other tests use them
UNGRIDDED_POINTS = {
    "hqsq": (32.015, 120.8825), "tysq": (32.0465, 120.8625), "qfsq": (31.989, 120.842), "sqsq": (31.989, 120.888),
    "jssq": (31.957, 120.865), "xssq": (32.013, 120.904), "gyssq": (32.0, 120.943), "hjsq": (32.03, 120.887),
}


def load(path: Path):
    """One JSON file, parsed."""
    return json.loads(path.read_text(encoding="utf-8"))


DISTRICT_DOC = load(DISTRICT / "district.json")
OFFICES = DISTRICT_DOC["street_offices"]
COMMUNITIES = [c for office in OFFICES for c in office["communities"]]
COMMUNITY_CODES = [c["code"] for c in COMMUNITIES]


def boundary(code: str):
    """A community's boundary feature."""
    return load(DISTRICT / "communities" / code / "boundary.geojson")


def grids(code: str) -> list[dict]:
    """A community's grid features."""
    return load(DISTRICT / "communities" / code / "grids.geojson")["features"]


def community_users(code: str) -> list[dict]:
    """A community's people."""
    return load(DISTRICT / "communities" / code / "users.json")["users"]


def district_users() -> list[dict]:
    """The district-level people."""
    return load(DISTRICT / "users.json")["users"]


def metres(geom):
    """The geometry in local metres around Nantong (equirectangular: fine over a few kilometres)."""
    lat0 = 32.0
    return affinity.scale(geom, xfact=111_320 * math.cos(math.radians(lat0)), yfact=110_574, origin=(120.86, lat0))


def ungridded(code: str):
    """The part of a community's boundary that no grid of it covers."""
    return shape(boundary(code)["geometry"]).difference(unary_union([shape(g["geometry"]) for g in grids(code)]))


def test_district_has_five_offices_and_eight_communities_with_distinct_codes():
    """Offices and communities counted; every code lowercase ascii, unique, an office's never a community's."""
    assert (DISTRICT_DOC["code"], DISTRICT_DOC["name"]) == ("chongchuan", "崇川区")
    assert len(OFFICES) >= 4
    assert len(COMMUNITIES) >= 6
    office_codes = [o["code"] for o in OFFICES]
    codes = office_codes + COMMUNITY_CODES
    assert all(CODE.match(c) for c in codes), codes
    assert len(set(codes)) == len(codes)
    assert {c["webhook"] for c in COMMUNITIES} == {None}
    folders = {p.name for p in (DISTRICT / "communities").iterdir()}
    assert folders == set(COMMUNITY_CODES)


def test_the_named_places_sit_in_their_street_offices():
    """虹桥社区, 新胜社区, 军山社区 and 起凤社区 under the street offices they belong to."""
    where = {(c["code"], c["name"]): (o["code"], o["name"]) for o in OFFICES for c in o["communities"]}
    assert where[("hqsq", "虹桥社区")] == ("hqjd", "虹桥街道")
    assert where[("xssq", "新胜社区")] == ("gysjd", "观音山街道")
    assert where[("jssq", "军山社区")] == ("lszjd", "狼山镇街道")
    assert where[("qfsq", "起凤社区")] == ("hpqjd", "和平桥街道")
    assert any("观河华府" in g["properties"]["name"] for g in grids("xssq"))


@pytest.mark.parametrize("code", COMMUNITY_CODES)
def test_boundary_is_one_valid_feature_inside_the_service_area(code):
    """One Feature with its community's code and name, a valid polygon within the lon/lat box."""
    feature = boundary(code)
    name = next(c["name"] for c in COMMUNITIES if c["code"] == code)
    assert feature["type"] == "Feature"
    assert feature["properties"] == {"code": code, "name": name}
    assert feature["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    geom = shape(feature["geometry"])
    assert geom.is_valid and geom.area > 0
    west, south, east, north = geom.bounds
    assert SERVICE_AREA["west"] <= west and east <= SERVICE_AREA["east"]
    assert SERVICE_AREA["south"] <= south and north <= SERVICE_AREA["north"]


def test_boundaries_do_not_overlap_and_an_offices_communities_touch():
    """No two communities share ground; the communities of one street office are neighbours."""
    shapes = {code: shape(boundary(code)["geometry"]) for code in COMMUNITY_CODES}
    for a, b in combinations(COMMUNITY_CODES, 2):
        assert shapes[a].intersection(shapes[b]).area < OVERLAP_AREA, (a, b)
    for office in OFFICES:
        members = [shapes[c["code"]] for c in office["communities"]]
        if len(members) > 1:
            assert unary_union(members).geom_type == "Polygon", office["code"]


@pytest.mark.parametrize("code", COMMUNITY_CODES)
def test_grids_are_valid_inside_their_boundary_and_apart(code):
    """Each grid a valid polygon within its community's boundary; no two grids of it overlap."""
    area = shape(boundary(code)["geometry"])
    features = grids(code)
    assert features
    shapes = []
    for feature in features:
        assert feature["geometry"]["type"] == "Polygon"
        geom = shape(feature["geometry"])
        assert geom.is_valid and geom.area > 0, feature["properties"]["code"]
        assert geom.difference(area).area < OUTSIDE_TOLERANCE, feature["properties"]["code"]
        shapes.append(geom)
    for (fa, a), (fb, b) in combinations(zip(features, shapes), 2):
        assert a.intersection(b).area < OVERLAP_AREA, (fa["properties"]["code"], fb["properties"]["code"])


@pytest.mark.parametrize("code", COMMUNITY_CODES)
def test_a_point_in_the_community_lies_in_none_of_its_grids(code):
    """Some ground of every community is outside all its grids: a strip at least 300 m wide, and a point on it."""
    rest = ungridded(code)
    assert not metres(rest).buffer(-UNGRIDDED_STRIP_M / 2).is_empty, code
    point = rest.representative_point()
    assert shape(boundary(code)["geometry"]).contains(point)
    assert not any(shape(g["geometry"]).intersects(point) for g in grids(code))


@pytest.mark.parametrize("code", COMMUNITY_CODES)
def test_the_published_ungridded_point_is_in_the_community_and_no_grid(code):
    """The point other tests rely on lies in this community only, outside every grid of the district."""
    lat, lon = UNGRIDDED_POINTS[code]
    point = Point(lon, lat)
    assert [c for c in COMMUNITY_CODES if shape(boundary(c)["geometry"]).contains(point)] == [code]
    assert not any(shape(g["geometry"]).intersects(point) for c in COMMUNITY_CODES for g in grids(c))


def test_at_least_sixty_grids_with_codes_unique_across_the_district():
    """60+ grids; codes are the community's two-letter prefix and two digits, never repeated; names and streets set."""
    codes = []
    for community in COMMUNITY_CODES:
        prefixes = set()
        for feature in grids(community):
            props = feature["properties"]
            assert set(props) == {"code", "name", "street", "grid_worker"}
            assert re.fullmatch(r"[A-Z]{2}\d{2}", props["code"]), props["code"]
            assert re.fullmatch(rf"\S+第{props['code'][2:]}网格·\S+片", props["name"]), props["name"]
            assert props["street"]
            prefixes.add(props["code"][:2])
            codes.append(props["code"])
        assert len(prefixes) == 1, community
    assert len(codes) >= 60
    assert len(set(codes)) == len(codes)


def test_usernames_and_phones_unique_across_the_district():
    """No username or phone twice in the district file and all the community files; phones are 11 digits."""
    everyone = district_users() + [u for c in COMMUNITY_CODES for u in community_users(c)]
    names = [u["username"] for u in everyone]
    phones = [u["phone"] for u in everyone]
    assert len(set(names)) == len(names)
    assert len(set(phones)) == len(phones)
    assert all(re.fullmatch(r"1\d{10}", p) for p in phones)
    for u in everyone:
        assert {"username", "display_name", "phone", "role"} <= set(u) <= {
            "username", "display_name", "phone", "role", "street_office", "unit"}


@pytest.mark.parametrize("code", COMMUNITY_CODES)
def test_every_grid_worker_is_one_of_the_communitys_own(code):
    """Each grid names a grid worker of its community; each grid worker there holds one grid."""
    people = {u["username"]: u for u in community_users(code)}
    workers = [g["properties"]["grid_worker"] for g in grids(code)]
    assert all(people[w]["role"] == "grid_worker" for w in workers)
    assert sorted(workers) == sorted(u for u, p in people.items() if p["role"] == "grid_worker")
    assert people[f"{code}-staff"]["role"] == "staff"
    assert {p["role"] for p in people.values()} <= {"staff", "grid_worker"}


def test_district_and_street_office_staff_exist():
    """district-staff has no office; each street office has its <code>-staff bound to it."""
    people = {u["username"]: u for u in district_users()}
    assert people["district-staff"]["role"] == "staff"
    assert "street_office" not in people["district-staff"]
    for office in OFFICES:
        staff = people[f"{office['code']}-staff"]
        assert (staff["role"], staff["street_office"]) == ("staff", office["code"])
    assert sum(p["role"] == "reporter" for p in people.values()) >= 6


def test_units_each_have_an_account():
    """The seven external units, each with a <code>-1 account of role unit; no account names an unknown unit."""
    units = {u["code"]: u["name"] for u in load(DISTRICT / "units.json")["units"]}
    assert units == {
        "wuye": "物业公司", "shizheng": "市政部门", "gongdian": "供电公司", "yuanlin": "园林绿化部门",
        "chengguan": "城管执法", "shuiwu": "水务公司", "zhujian": "住建部门"}
    people = {u["username"]: u for u in district_users()}
    for code in units:
        assert (people[f"{code}-1"]["role"], people[f"{code}-1"]["unit"]) == ("unit", code)
    assert all(p["unit"] in units for p in people.values() if p["role"] == "unit")

