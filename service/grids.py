"""The district index: which community (社区) and grid (网格) a point falls in, from their polygons filed by place."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy
import shapely
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_AT_EQUATOR = 111_320.0


@dataclass(frozen=True)
class GridShape:
    """A grid's id, its community's and its polygon as GeoJSON (WGS-84), as stored."""

    grid_id: int
    geometry: dict
    community_id: int = 0


@dataclass(frozen=True)
class CommunityShape:
    """A community's id and its current boundary as GeoJSON (WGS-84)."""

    community_id: int
    geometry: dict


@dataclass(frozen=True)
class Located:
    """Where a point was placed: its community, its grid (None when in none of the community's grids) and how far
    outside that grid the point lay (0 when inside)."""

    community_id: int
    grid_id: int | None
    distance_m: float = 0.0


class LocalMetres:
    """A flat projection in metres around a reference latitude: exact enough across one city for 30 m tests."""

    def __init__(self, lat0: float, lon0: float):
        self.lat0, self.lon0 = lat0, lon0
        self.kx = METRES_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(lat0))

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * METRES_PER_DEGREE_LAT

    def geometry(self, geojson: dict):
        """The polygon in this projection's metres."""
        return shapely.transform(shape(geojson), lambda c: _project_array(self, c))


def _project_array(projection: LocalMetres, coords):
    out = coords.copy()
    out[:, 0] = (coords[:, 0] - projection.lon0) * projection.kx
    out[:, 1] = (coords[:, 1] - projection.lat0) * METRES_PER_DEGREE_LAT
    return out


class _Tree:
    """Polygons (projected to metres, prepared), each with the id it stands for: in an STRtree for boxes, and filed
    under the squares of ground (CELL_M) their envelopes cover for a single point, which then costs a dictionary
    look-up and one prepared test of the few polygons there (the tree's numpy wrapper costs more than that)."""

    def __init__(self, projection: LocalMetres, ids: list[int], geometries: list[dict]):
        self.ids = ids
        self.polygons = [projection.geometry(g) for g in geometries]
        for polygon in self.polygons:
            shapely.prepare(polygon)
        # each square's polygon positions and the polygons themselves, as arrays for one vectorised test
        self.cells = {cell: (numpy.array(ns), numpy.array([self.polygons[n] for n in ns], dtype=object))
                      for cell, ns in self._filed(CELL_M).items()}
        self.whole = self._wholly_inside()
        self.tree = STRtree(self.polygons)

    def _filed(self, side: float) -> dict[tuple[int, int], list[int]]:
        """{square: positions of the polygons whose envelopes meet it}, for squares of that side (metres)."""
        filed: dict[tuple[int, int], list[int]] = defaultdict(list)
        for n, polygon in enumerate(self.polygons):
            for cell in _cells_under(polygon, side):
                filed[cell].append(n)
        return filed

    def _wholly_inside(self) -> dict[tuple[int, int], int]:
        """The small squares (WHOLE_M) lying inside one polygon, clear of its border, where no polygon of a lower
        id could also reach: a point there is in that polygon, with no test."""
        near, whole = self._filed(WHOLE_M), {}
        for n, polygon in enumerate(self.polygons):
            cells = _cells_under(polygon, WHOLE_M)
            if not cells:
                continue
            squares = shapely.box(*numpy.array([(cx * WHOLE_M, cy * WHOLE_M, (cx + 1) * WHOLE_M, (cy + 1) * WHOLE_M)
                                                for cx, cy in cells]).T)
            for cell, inside in zip(cells, shapely.contains_properly(polygon, squares)):
                if inside and all(self.ids[m] > self.ids[n] for m in near[cell] if m != n):
                    whole[cell] = n
        return whole

    def containing(self, x: float, y: float) -> list[int]:
        """The positions of the polygons the point (x, y) is in or on."""
        whole = self.whole.get((math.floor(x / WHOLE_M), math.floor(y / WHOLE_M)))
        if whole is not None:
            return [whole]
        filed = self.cells.get((math.floor(x / CELL_M), math.floor(y / CELL_M)))
        if filed is None:
            return []
        positions, polygons = filed
        return positions[shapely.intersects_xy(polygons, x, y)].tolist()

    def within(self, x: float, y: float, metres: float) -> list[tuple[float, int]]:
        """(distance, position) of every polygon within that many metres of the point (x, y), nearest first."""
        near = {int(n) for cell in _cells(x - metres, y - metres, x + metres, y + metres)
                for n in self.cells.get(cell, ((), ()))[0]}
        point = Point(x, y)
        found = [(float(self.polygons[n].distance(point)), n) for n in near]
        return sorted(d for d in found if d[0] <= metres)


@dataclass(frozen=True, eq=False)
class _Square:
    """What is left to test in a small square of ground no one answer settles: the grids meeting it (positions and
    polygons, None when none: a point there may be in them), the community wholly around it (None near a
    boundary) and the positions of the grids within the snap distance of it (the only ones to snap to)."""

    meeting: tuple[numpy.ndarray, numpy.ndarray] | None
    community: int | None
    reaching: tuple[int, ...]


CELL_M = 250.0  # the side of the squares _Tree files polygons under: a few grids' width
WHOLE_M = 50.0  # the side of the squares it knows to lie wholly inside one polygon


def _cells(x0: float, y0: float, x1: float, y1: float, side: float = CELL_M) -> list[tuple[int, int]]:
    """The squares of that side (metres) that the box meets."""
    return [(cx, cy) for cx in range(math.floor(x0 / side), math.floor(x1 / side) + 1)
            for cy in range(math.floor(y0 / side), math.floor(y1 / side) + 1)]


def _cells_under(polygon, side: float) -> list[tuple[int, int]]:
    """The squares of that side that the polygon's envelope meets (none for an empty polygon)."""
    return [] if polygon.is_empty else _cells(*polygon.bounds, side=side)


class DistrictIndex:
    """The district's current community boundaries and grid polygons, and the district's ground in 50 m squares:
    most squares hold their answer (wholly in a grid, wholly in a community far from its grids, far from every
    community), so placing a point there is one dictionary look-up; the others hold the few polygons to test.

    A point on a shared border belongs to the lowest id, so the answer never depends on the order the tree returns
    candidates in. The snap distance forgives a phone's error: a point that far outside a grid (or the district)
    is taken as in the nearest, within the same community.
    """

    def __init__(self, communities: Iterable[CommunityShape], grids: Iterable[GridShape], snap_m: float = 30.0,
                 fingerprint=None, name: str = ""):
        communities, grids = list(communities), list(grids)
        self.fingerprint, self.snap_m, self.name = fingerprint, snap_m, name
        bounds = [shape(c.geometry).bounds for c in communities] or [shape(g.geometry).bounds for g in grids]
        # (south, west, north, east) in degrees: the box around the district
        self.bounds = (min(b[1] for b in bounds), min(b[0] for b in bounds), max(b[3] for b in bounds),
                       max(b[2] for b in bounds)) if bounds else (0.0, 0.0, 0.0, 0.0)
        lat0, lon0 = (self.bounds[0] + self.bounds[2]) / 2, (self.bounds[1] + self.bounds[3]) / 2
        self.projection = LocalMetres(lat0, lon0)
        self.communities = _Tree(self.projection, [c.community_id for c in communities],
                                 [c.geometry for c in communities])
        self.grids = _Tree(self.projection, [g.grid_id for g in grids], [g.geometry for g in grids])
        self.grid_community = [g.community_id for g in grids]
        self.squares = self._squares()

    def _squares(self) -> dict[tuple[int, int], Located | _Square | None]:
        """The small squares (WHOLE_M) of the ground within the snap distance of any polygon, each with its
        answer where every point of it has the same one — wholly inside a grid; or with no grid within the snap
        distance and wholly inside a community (in it, in none of its grids) or with none that near (outside) —
        else what is left to test there (_Square). A point beyond them all is outside the district."""
        squares: dict[tuple[int, int], Located | _Square | None] = {
            cell: Located(self.grid_community[n], self.grids.ids[n], 0.0) for cell, n in self.grids.whole.items()}
        bounds = [p.bounds for p in (*self.grids.polygons, *self.communities.polygons) if not p.is_empty]
        if not bounds:
            return squares
        reach = self.snap_m
        cells = [cell for cell in _cells(min(b[0] for b in bounds) - reach, min(b[1] for b in bounds) - reach,
                                         max(b[2] for b in bounds) + reach, max(b[3] for b in bounds) + reach,
                                         side=WHOLE_M) if cell not in squares]
        corners = numpy.array(cells, dtype=float).reshape(-1, 2) * WHOLE_M

        def met(tree: _Tree, widen: float) -> dict[int, list[int]]:
            """{square's index: positions of the tree's polygons meeting it, widened by that many metres}"""
            boxes = shapely.box(corners[:, 0] - widen, corners[:, 1] - widen, corners[:, 0] + WHOLE_M + widen,
                                corners[:, 1] + WHOLE_M + widen)
            found: dict[int, list[int]] = defaultdict(list)
            if tree.ids:
                for i, n in zip(*tree.tree.query(boxes, predicate="intersects").tolist()):
                    found[i].append(n)
            return found

        # a polygon not meeting the square widened by the snap distance is farther than that from all of it
        meeting, reaching, near_community = met(self.grids, 0.0), met(self.grids, reach), met(self.communities, reach)
        shared: dict[tuple, _Square] = {}  # neighbouring squares mostly hold the same: one _Square for them all
        for i, cell in enumerate(cells):
            around = self.communities.whole.get(cell)
            community = None if around is None else self.communities.ids[around]
            if i not in reaching:
                squares[cell] = None if i not in near_community else \
                    Located(community, None, 0.0) if community is not None else _Square(None, None, ())
                continue
            key = (tuple(sorted(meeting.get(i, ()))), community, tuple(sorted(reaching[i])))
            if key not in shared:
                inside = numpy.array(key[0]), numpy.array([self.grids.polygons[n] for n in key[0]], dtype=object)
                shared[key] = _Square(inside if key[0] else None, community, key[2])
            squares[cell] = shared[key]
        return squares

    def __len__(self) -> int:
        return len(self.grids.ids)

    def community_at(self, lat: float, lon: float) -> int | None:
        """The community the point is in, or within the snap distance of (the nearest); None: outside the district."""
        if not self.communities.ids:
            return None
        return self._community_at(*self.projection.xy(lat, lon))

    def _community_at(self, x: float, y: float) -> int | None:
        inside = self.communities.containing(x, y)
        if inside:
            return min(self.communities.ids[i] for i in inside)
        near = self.communities.within(x, y, self.snap_m)
        return min((d, self.communities.ids[i]) for d, i in near)[1] if near else None

    def grids_meeting(self, south: float, west: float, north: float, east: float) -> list[int]:
        """The ids of the grids that reach into the box (degrees, WGS-84), by id: what a map of that box draws."""
        (x0, y0), (x1, y1) = self.projection.xy(south, west), self.projection.xy(north, east)
        found = self.grids.tree.query(shapely.box(x0, y0, x1, y1), predicate="intersects")
        return sorted(self.grids.ids[int(i)] for i in found)

    def contains(self, lat: float, lon: float) -> bool:
        """The point is in the district: in (or within the snap distance of) one of its communities."""
        return self.community_at(lat, lon) is not None

    def locate(self, lat: float, lon: float) -> Located | None:
        """The community and grid of the point: the grid containing it, else the community containing it and the
        nearest of that community's grids within the snap distance (or none); None outside the district."""
        x, y = self.projection.xy(lat, lon)
        square = self.squares.get((math.floor(x / WHOLE_M), math.floor(y / WHOLE_M)))
        if not isinstance(square, _Square):  # its answer, or beyond every polygon's reach: outside
            return square
        if square.meeting is not None:
            positions, polygons = square.meeting
            inside = positions[shapely.intersects_xy(polygons, x, y)].tolist()
            if inside:
                best = min(inside, key=lambda i: self.grids.ids[i])
                return Located(self.grid_community[best], self.grids.ids[best], 0.0)
        community = square.community
        if community is None:
            community = self._community_at(x, y) if self.communities.ids else None
            if community is None:
                return None
        if square.reaching:
            point = Point(x, y)
            for distance, i in sorted((float(self.grids.polygons[n].distance(point)), n) for n in square.reaching):
                if distance <= self.snap_m and self.grid_community[i] == community:
                    return Located(community, self.grids.ids[i], distance)
        return Located(community, None, 0.0)
