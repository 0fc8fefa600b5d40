"""Grid benchmark: DistrictIndex.locate against a linear scan of the same polygons, for 100 to 10,000 square grids
in square communities."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from shapely.geometry import Point

from bench.figures import figure, median_seconds
from bench.tiling import Tiling
from service.grids import DistrictIndex

SIZES = (100, 1_000, 10_000)
BLOCK = 5  # each community a block of BLOCK x BLOCK grids, the communities tiling a rectangle
LAT0, LON0 = 31.9, 120.7  # the centre of the synthetic grids (Nantong)
INDEX_POINTS = 5_000  # points located per timed run of the index
SCAN_TESTS = 1_000_000  # polygon tests per timed run of the linear scan: it gets SCAN_TESTS // size points
MIN_SCAN_POINTS = 50  # but never fewer points than this
INDEX_REPEAT = 9  # timed runs of the index per size, after one warm-up
SCAN_REPEAT = 3  # timed runs of the scan per size, after one warm-up


def layout(size: int) -> tuple[int, int]:
    """(rows, cols) of the most nearly square block of exactly `size` cells."""
    rows = max(r for r in range(1, int(size ** 0.5) + 1) if size % r == 0)
    return rows, size // rows


def tiling(size: int) -> Tiling:
    """`size` grids in communities of BLOCK x BLOCK, the communities tiling a rectangle with no ground between."""
    rows, cols = layout(size // BLOCK ** 2)
    return Tiling(rows, cols, BLOCK, BLOCK, LAT0, LON0)


def scan(index: DistrictIndex, lat: float, lon: float) -> list[int]:
    """The positions of the grid polygons containing the point, testing every one in turn (the point is built
    once)."""
    point = Point(index.projection.xy(lat, lon))
    return [i for i, poly in enumerate(index.grids.polygons) if poly.contains(point)]


def check_same(index: DistrictIndex, points: list[tuple[float, float]]) -> int:
    """Assert the index and the scan name the same grid (and its community) for every point inside one; how many
    were inside."""
    inside = 0
    for lat, lon in points:
        hits = scan(index, lat, lon)
        if hits:
            inside += 1
            found = index.locate(lat, lon)
            best = min(hits, key=lambda i: index.grids.ids[i])
            expected = (index.grid_community[best], index.grids.ids[best])
            assert found is not None and (found.community_id, found.grid_id) == expected, (lat, lon, found, expected)
    return inside


@dataclass(frozen=True)
class Case:
    """One size: its index, the points it locates, and the fewer points the slow linear scan gets."""

    size: int
    index: DistrictIndex
    points: list[tuple[float, float]]
    scan_points: list[tuple[float, float]]


def make_case(size: int, unit: np.ndarray) -> Case:
    """Build the index over `size` grids and check it against the scan on the scan's points."""
    shapes = tiling(size)
    index = DistrictIndex(shapes.communities(), shapes.grids())
    points = shapes.points(unit.tolist())
    scan_points = points[:max(MIN_SCAN_POINTS, min(len(points), SCAN_TESTS // size))]
    inside = check_same(index, scan_points)
    assert inside == len(scan_points), f"only {inside} of {len(scan_points)} points fell inside a grid"
    print(f"grids {size:>6} ({shapes.rows}x{shapes.cols} communities of {BLOCK}x{BLOCK}): index and linear scan "
          f"name the same grid for all {inside} points checked", flush=True)
    return Case(size, index, points, scan_points)


def lookups(lookup: Callable[[float, float], object], points: list[tuple[float, float]]) -> Callable[[], list]:
    """A run that looks up every point once."""
    return lambda: [lookup(lat, lon) for lat, lon in points]


def per_lookup_us(cases: list[Case]) -> dict[int, tuple[float, float]]:
    """Median microseconds per lookup, (index, scan) by size; the sizes take turns so drift bends them alike."""
    index_s = median_seconds({c.size: lookups(c.index.locate, c.points) for c in cases}, INDEX_REPEAT)
    scan_s = median_seconds({c.size: lookups(partial(scan, c.index), c.scan_points) for c in cases}, SCAN_REPEAT)
    return {c.size: (index_s[c.size] / len(c.points) * 1e6, scan_s[c.size] / len(c.scan_points) * 1e6)
            for c in cases}


def main() -> None:
    """Time the index and the scan at each size on the same random points, print the times and figures."""
    unit = np.random.default_rng(31).random((INDEX_POINTS, 2))
    cases = [make_case(size, unit) for size in SIZES]
    timings = per_lookup_us(cases)
    for c in cases:
        index_us, scan_us = timings[c.size]
        print(f"grids {c.size:>6}: index {index_us:7.1f} us/lookup over {len(c.points)} points, linear scan "
              f"{scan_us:8.1f} us/lookup over {len(c.scan_points)} points ({scan_us / index_us:.0f}x)", flush=True)
    (index_small, _), (index_big, scan_big) = timings[SIZES[0]], timings[SIZES[-1]]
    figure("grid_index_speedup_1e4", scan_big / index_big, ">=", 100)
    figure("grid_lookup_growth_1e2_to_1e4", index_big / index_small, "<=", 2)


if __name__ == "__main__":
    main()
