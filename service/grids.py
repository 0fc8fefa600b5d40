"""The grid index: which grid (网格) a point falls in, answered from an STRtree of the grid polygons."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import shapely
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_AT_EQUATOR = 111_320.0


@dataclass(frozen=True)
class GridShape:
    """A grid's id and its polygon as GeoJSON (WGS-84), as stored."""

    grid_id: int
    geometry: dict


@dataclass(frozen=True)
class Located:
    """The grid a point was placed in, and how far outside it the point lay (0 when inside)."""

    grid_id: int
    distance_m: float


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


class GridIndex:
    """Grid polygons in an STRtree: locate(lat, lon) costs a tree descent, not a scan of every polygon."""

    def __init__(self, grids: Iterable[GridShape], snap_m: float = 30.0, fingerprint=None):
        grids = list(grids)
        self.fingerprint = fingerprint
        self.snap_m = snap_m
        if grids:
            bounds = [shape(g.geometry).bounds for g in grids]
            lat0 = (min(b[1] for b in bounds) + max(b[3] for b in bounds)) / 2
            lon0 = (min(b[0] for b in bounds) + max(b[2] for b in bounds)) / 2
        else:
            lat0 = lon0 = 0.0
        self.projection = LocalMetres(lat0, lon0)
        self.grid_ids = [g.grid_id for g in grids]
        self.polygons = [self.projection.geometry(g.geometry) for g in grids]
        for polygon in self.polygons:
            shapely.prepare(polygon)
        self.tree = STRtree(self.polygons)

    def __len__(self) -> int:
        return len(self.grid_ids)

    def locate(self, lat: float, lon: float) -> Located | None:
        """The grid containing the point; else the nearest grid within snap_m metres; else None.

        A point on a shared border belongs to the grid with the lowest id, so the answer never depends on
        the order the tree returns candidates in.
        """
        if not self.grid_ids:
            return None
        point = Point(self.projection.xy(lat, lon))
        inside = self.tree.query(point, predicate="intersects")
        if len(inside):
            return Located(min(self.grid_ids[i] for i in inside), 0.0)
        nearest, distances = self.tree.query_nearest(point, max_distance=self.snap_m, return_distance=True)
        if not len(nearest):
            return None
        best = min(zip(distances, (self.grid_ids[i] for i in nearest)))
        return Located(best[1], float(best[0]))


@lru_cache(maxsize=4)
def grid_streets(path: Path) -> dict[str, str]:
    """Each grid's road (its `street` in grids.geojson), by code: the words a map with no tiles shows. Read once."""
    features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    return {f["properties"]["code"]: f["properties"]["street"] for f in features if f["properties"].get("street")}
