"""Locations: GCJ-02 and BD-09 to WGS-84 on the way in, back out for the map apps."""
from __future__ import annotations

import math

import prcoords

TO_WGS84 = {"gcj02": prcoords.gcj_wgs_bored, "bd09": prcoords.bd_wgs_bored}


def to_wgs84(lat: float, lon: float, system: str) -> tuple[float, float]:
    """Convert a point sent in wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu) to WGS-84.

    The inverses iterate (prcoords' "bored" forms): within a few centimetres in Chongchuan, where a one-step
    inverse is off by up to 1.5 m. Outside China neither system shifts anything (and the formulas fail near the
    poles): such a point is WGS-84 as sent.
    """
    return _converted(lat, lon, system, TO_WGS84)


FROM_WGS84 = {"gcj02": prcoords.wgs_gcj, "bd09": prcoords.wgs_bd}


def from_wgs84(lat: float, lon: float, system: str) -> tuple[float, float]:
    """A stored WGS-84 point in wgs84, gcj02 (for 高德, Apple's maps in China) or bd09 (for 百度).

    The forward transforms are the published one-step formulas; outside China nothing shifts (as in to_wgs84).
    """
    return _converted(lat, lon, system, FROM_WGS84)


def _converted(lat: float, lon: float, system: str, formulas: dict) -> tuple[float, float]:
    """The point through the system's formula from the table; wgs84 and points outside China unchanged."""
    if system == "wgs84":
        return lat, lon
    if system not in formulas:
        raise ValueError(f"unknown coordinate system {system!r}")
    if not prcoords.sanity_in_china_p(prcoords.Coords(lat, lon)):
        return lat, lon
    p = formulas[system](prcoords.Coords(lat, lon))
    return p.lat, p.lon


def is_plain_coordinate(lat: float, lon: float) -> bool:
    """True when the numbers can be a point on Earth at all (finite and in range)."""
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
