"""Loading the district from its files (config/district/): categories, units, street offices, communities with
their boundaries, grids, people and exchanges. Loading again is harmless; a redrawn boundary or grid becomes a new
generation and the old one is kept for the cases dispatched to it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from shapely.geometry import shape
from shapely.strtree import STRtree
from sqlalchemy.orm import Session

from service.auth import hash_password, normalise_username
from service.db import utcnow
from service.exchange import CatalogueFileError, load_exchanges
from service.models import ROLES, Category, Community, CommunityBoundary, Grid, StreetOffice, Unit, User
from service.unit_platforms import PlatformSettings

# how much of a grid may lie outside its community, and two boundaries overlap, in square degrees (about 1 m²)
SLIVER = 1e-10


class DistrictFileError(ValueError):
    """A district file that cannot be loaded as it is: the message names the file and what is wrong."""


@dataclass(frozen=True)
class DistrictFiles:
    """Where a district's files are: district.json and the district-wide files at the top, one folder per
    community under communities/ with its boundary.geojson, grids.geojson and users.json."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    def community(self, code: str, name: str) -> Path:
        return self.root / "communities" / code / name


@dataclass(frozen=True)
class LoadSummary:
    """What the files describe, and what this load changed in the geometry."""

    street_offices: int
    communities: int
    grids: int
    users: int
    units: int
    categories: int
    exchanges: int = 0  # communities holding an exchange, with a catalogue file
    new_generations: int = 0  # boundaries and grids drawn anew (or for the first time)
    retired: int = 0  # boundaries and grids no longer current

    def line(self) -> str:
        return (f"loaded {self.street_offices} street offices, {self.communities} communities, {self.grids} grids, "
                f"{self.users} users, {self.units} units, {self.categories} categories, "
                f"{self.exchanges} exchanges; "
                f"{self.new_generations} boundaries or grids drawn anew, {self.retired} retired")


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DistrictFileError(f"{path}: {error}") from None


def district_name(root: Path) -> str:
    """The district's name (崇川区), as refusals and reports say it."""
    return _read_json(DistrictFiles(Path(root)).path("district.json"))["name"]


def district_code(root: Path) -> str:
    """The district's code (chongchuan), the jurisdiction_id Open311 clients name it by."""
    return _read_json(DistrictFiles(Path(root)).path("district.json"))["code"]


def load_categories(session: Session, path: Path) -> int:
    """Insert or update every category of the file, by code."""
    rows = _read_json(path)["categories"]
    existing = {c.code: c for c in session.scalars(sa.select(Category))}
    for row in rows:
        category = existing.get(row["code"]) or Category(code=row["code"])
        for key in ("name", "kind", "major_class", "deadline_hours", "priority", "points"):
            setattr(category, key, row[key])
        category.active = row.get("active", True)
        session.add(category)
    return len(rows)


def load_units(session: Session, path: Path) -> dict[str, Unit]:
    """Insert or update every unit of the file, by code; a unit no longer in it is made inactive."""
    rows = _read_json(path)["units"]
    existing = {u.code: u for u in session.scalars(sa.select(Unit))}
    listed = {row["code"] for row in rows}
    for row in rows:
        unit = existing.get(row["code"]) or Unit(code=row["code"])
        unit.name, unit.active = row["name"], True
        unit.open311 = _platform_settings(row)
        existing[unit.code] = unit
        session.add(unit)
    for code, unit in existing.items():
        unit.active = code in listed
    return existing


def _platform_settings(row: dict) -> dict | None:
    """A unit's `open311` settings as given, once checked (service.unit_platforms); None for a unit without."""
    if "open311" not in row:
        return None
    try:
        PlatformSettings.read(row["open311"])
    except ValueError as error:
        raise DistrictFileError(f"units.json: {row['code']}: {error}") from None
    return row["open311"]


def load_offices_and_communities(session: Session, district: dict) -> dict[str, Community]:
    """Insert or update the street offices and their communities of district.json, by code."""
    offices = {o.code: o for o in session.scalars(sa.select(StreetOffice))}
    communities = {c.code: c for c in session.scalars(sa.select(Community))}
    office_codes = {row["code"] for row in district["street_offices"]}
    for row in district["street_offices"]:
        office = offices.get(row["code"]) or StreetOffice(code=row["code"])
        office.name = row["name"]
        offices[office.code] = office
        session.add(office)
        for each in row["communities"]:
            if each["code"] in office_codes:
                raise DistrictFileError(f"district.json: {each['code']} names both a street office and a community")
            community = communities.get(each["code"]) or Community(code=each["code"])
            community.name, community.street_office = each["name"], office
            community.webhook_url = each.get("webhook") or None
            communities[community.code] = community
            session.add(community)
    return communities


def _valid_area(geometry: dict, what: str):
    try:
        area = shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DistrictFileError(f"{what}: not a GeoJSON geometry ({error})") from None
    if area.geom_type not in ("Polygon", "MultiPolygon") or not area.is_valid or area.is_empty:
        raise DistrictFileError(f"{what}: not a valid Polygon or MultiPolygon")
    return area


def load_boundaries(session: Session, files: DistrictFiles, communities: dict[str, Community],
                    now: datetime) -> tuple[dict, int, int]:
    """Each listed community's boundary, checked not to overlap another's; a changed one replaces the current
    generation. Returns the boundaries as shapes by community code, and how many were drawn anew and retired."""
    current = {b.community_id: b for b in session.scalars(
        sa.select(CommunityBoundary).where(CommunityBoundary.retired_at.is_(None)))}
    shapes, drawn, retired = {}, 0, 0
    for code, community in communities.items():
        path = files.community(code, "boundary.geojson")
        if not path.exists():
            continue
        feature = _read_json(path)
        geometry = feature.get("geometry", feature)
        shapes[code] = _valid_area(geometry, str(path))
        old = current.get(community.id) if community.id else None
        if old is not None and shape(old.polygon).equals_exact(shapes[code], 0):
            continue
        if old is not None:
            old.retired_at, retired = now, retired + 1
        session.add(CommunityBoundary(community=community, polygon=geometry, valid_from=now))
        drawn += 1
    _check_apart(shapes)
    return shapes, drawn, retired


def _check_apart(shapes: dict) -> None:
    """No two communities' boundaries overlap (they may touch)."""
    codes = list(shapes)
    tree = STRtree([shapes[c] for c in codes])
    for i, code in enumerate(codes):
        for j in tree.query(shapes[code]):
            if j > i and shapes[code].intersection(shapes[codes[j]]).area > SLIVER:
                raise DistrictFileError(f"the boundaries of {code} and {codes[j]} overlap")


def load_users(session: Session, rows: list[dict], password: str, community: Community | None = None,
               offices: dict[str, StreetOffice] | None = None, units: dict[str, Unit] | None = None) -> int:
    """Create the users with the given (demo) password, or bring an existing user's details in line; an existing
    user's password is never touched (an admin may have changed it). A community's users.json places its people
    in that community; the district's may name a street office or a unit."""
    existing = {u.username: u for u in session.scalars(sa.select(User))}
    password_hash = None  # one hash for all new users, made only if there are any: scrypt is deliberately slow
    for row in rows:
        username = normalise_username(row["username"])
        if row["role"] not in ROLES or not username:
            raise DistrictFileError(f"user {row['username']!r}: empty username or unknown role {row['role']!r}")
        user = existing.get(username)
        if user is None:
            password_hash = password_hash or hash_password(password)
            user = existing[username] = User(username=username, password_hash=password_hash)
        user.display_name, user.phone, user.role = row["display_name"], row.get("phone"), row["role"]
        user.community = community
        user.street_office = _named(offices or {}, row.get("street_office"), f"user {username}: street office")
        user.unit = _named(units or {}, row.get("unit"), f"user {username}: unit")
        session.add(user)
    return len(rows)


def _named(rows: dict, code: str | None, what: str):
    if not code:
        return None
    if code not in rows:
        raise DistrictFileError(f"{what} {code!r} is not in the district's files")
    return rows[code]


def load_grids(session: Session, community: Community, features: list[dict], boundary, now: datetime,
               current: dict[str, Grid], workers: dict[str, User], path: Path) -> tuple[int, int]:
    """Insert or update the community's grids, by code: a grid whose polygon, name or community changed is retired
    and drawn anew; its worker, road and robot are updated in place. Returns (drawn anew, retired)."""
    drawn = retired = 0
    for feature in features:
        props = feature["properties"]
        code = props["code"]
        polygon = _valid_area(feature["geometry"], f"{path}: grid {code}")
        if polygon.geom_type != "Polygon":
            raise DistrictFileError(f"{path}: grid {code} is not a Polygon")
        if boundary is not None and polygon.difference(boundary).area > SLIVER:
            raise DistrictFileError(f"{path}: grid {code} lies partly outside the boundary of {community.code}")
        grid = current.pop(code, None)
        if grid is not None and (grid.name != props["name"] or grid.community_id != community.id
                                 or not shape(grid.polygon).equals_exact(polygon, 0)):
            grid.retired_at, retired = now, retired + 1
            session.flush()  # the old generation stops being current before the new one takes its code
            grid = None
        if grid is None:
            grid = Grid(code=code, name=props["name"], polygon=feature["geometry"], community=community,
                        valid_from=now)
            drawn += 1
        grid.street = props.get("street") or None
        grid.webhook_url = props.get("webhook") or None
        username = normalise_username(props.get("grid_worker") or "")
        if username and username not in workers:
            raise DistrictFileError(f"{path}: grid {code}: unknown grid worker {username!r}")
        grid.worker = workers.get(username) if username else None
        session.add(grid)
    return drawn, retired


def load_district(session: Session, root: Path, password: str, now: datetime | None = None) -> LoadSummary:
    """Load the whole district and commit: categories and units, offices and communities, their boundaries,
    people (before the grids, which name their workers), then the grids; a current grid that no file lists any
    more is retired."""
    now = now or utcnow()
    files = DistrictFiles(Path(root))
    district = _read_json(files.path("district.json"))
    n_categories = load_categories(session, files.path("categories.json"))
    units = load_units(session, files.path("units.json"))
    communities = load_offices_and_communities(session, district)
    session.flush()
    offices = {o.code: o for o in session.scalars(sa.select(StreetOffice))}
    boundaries, drawn, retired = load_boundaries(session, files, communities, now)
    n_users = load_users(session, _read_json(files.path("users.json"))["users"], password, None, offices, units)
    for code, community in communities.items():
        path = files.community(code, "users.json")
        if path.exists():
            n_users += load_users(session, _read_json(path)["users"], password, community, offices, units)
    session.flush()
    workers = {u.username: u for u in session.scalars(sa.select(User))}
    current = {g.code: g for g in session.scalars(sa.select(Grid).where(Grid.retired_at.is_(None)))}
    n_grids = 0
    for code, community in communities.items():
        path = files.community(code, "grids.geojson")
        features = _read_json(path)["features"] if path.exists() else []
        n_grids += len(features)
        made, gone = load_grids(session, community, features, boundaries.get(code), now, current, workers, path)
        drawn, retired = drawn + made, retired + gone
    for grid in current.values():  # in no file any more
        grid.retired_at, retired = now, retired + 1
    try:
        n_exchanges = load_exchanges(session, communities, files.root)
    except CatalogueFileError as error:
        raise DistrictFileError(str(error)) from None
    session.commit()
    return LoadSummary(len(district["street_offices"]), len(communities), n_grids, n_users, len(units),
                       n_categories, n_exchanges, drawn, retired)
