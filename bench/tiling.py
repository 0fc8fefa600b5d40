"""Synthetic district maps for the benchmarks: rectangular communities tiling a block, each holding square grids."""
from __future__ import annotations

from dataclasses import dataclass

from service.grids import CommunityShape, GridShape

CELL_DEG = 0.002  # a grid's side in degrees: about 220 m north-south, 190 m east-west here


def rectangle(south: float, west: float, north: float, east: float) -> dict:
    """A GeoJSON polygon of the box, counter-clockwise from its south-west corner."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass(frozen=True)
class Tiling:
    """`rows` x `cols` communities side by side around (lat0, lon0), each a block of `cell_rows` x `cell_cols`
    square grids in its south-west corner and `margin` cells of community ground (in no grid) north and east of them.

    Communities are numbered from 1 row by row from the south-west; a community's grids follow each other, so
    community k holds grids (k - 1) * per_community + 1 ... k * per_community.
    """

    rows: int
    cols: int
    cell_rows: int
    cell_cols: int
    lat0: float
    lon0: float
    margin: float = 0.0

    @property
    def per_community(self) -> int:
        """Grids in each community."""
        return self.cell_rows * self.cell_cols

    @property
    def community_size(self) -> tuple[float, float]:
        """A community's (height, width) in degrees."""
        return (self.cell_rows + self.margin) * CELL_DEG, (self.cell_cols + self.margin) * CELL_DEG

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) of the whole block, in degrees."""
        height, width = self.community_size
        south, west = self.lat0 - self.rows * height / 2, self.lon0 - self.cols * width / 2
        return south, west, south + self.rows * height, west + self.cols * width

    def community_box(self, community_id: int) -> tuple[float, float, float, float]:
        """(south, west, north, east) of one community."""
        r, c = divmod(community_id - 1, self.cols)
        height, width = self.community_size
        south, west = self.bounds[0] + r * height, self.bounds[1] + c * width
        return south, west, south + height, west + width

    def grid_box(self, grid_id: int) -> tuple[float, float, float, float]:
        """(south, west, north, east) of one grid."""
        community, k = divmod(grid_id - 1, self.per_community)
        r, c = divmod(k, self.cell_cols)
        south, west = self.community_box(community + 1)[:2]
        south, west = south + r * CELL_DEG, west + c * CELL_DEG
        return south, west, south + CELL_DEG, west + CELL_DEG

    def community_of(self, grid_id: int) -> int:
        """The community a grid lies in."""
        return (grid_id - 1) // self.per_community + 1

    def communities(self) -> list[CommunityShape]:
        """Every community's boundary, by id."""
        return [CommunityShape(k, rectangle(*self.community_box(k))) for k in range(1, self.rows * self.cols + 1)]

    def grids(self) -> list[GridShape]:
        """Every grid's polygon with its community, by id."""
        return [GridShape(g, rectangle(*self.grid_box(g)), self.community_of(g))
                for g in range(1, self.rows * self.cols * self.per_community + 1)]

    def points(self, unit: list[tuple[float, float]], spill: float = 0.0) -> list[tuple[float, float]]:
        """Unit-square points (u, v) stretched over the block, widened by `spill` of its size on every side (so
        that share of points falls outside), as (lat, lon)."""
        south, west, north, east = self.bounds
        height, width = north - south, east - west
        south, west = south - spill * height, west - spill * width
        height, width = height * (1 + 2 * spill), width * (1 + 2 * spill)
        return [(south + v * height, west + u * width) for u, v in unit]
