"""Where a case is and what it repeats: the device's point checked against the photo's GPS, and nearby open cases."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from geopy.distance import geodesic
from sqlalchemy.orm import Session

from service.imaging import hash_distance
from service.models import Case, Photo
from service.states import OPEN

METRES_PER_DEGREE_LAT = 110_574.0


@dataclass(frozen=True)
class PlacementRules:
    """The community's thresholds for locations and duplicates."""

    location_mismatch_m: float = 200
    old_photo_hours: float = 24
    duplicate_radius_m: float = 50
    duplicate_days: int = 14
    duplicate_hash_bits: int = 10


@dataclass(frozen=True)
class Neighbour:
    """An open case of the same category near a new one."""

    case: Case
    distance_m: float
    hash_distance: int | None  # None when either side has no hashed photo yet


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance in metres between two (lat, lon) points on WGS-84."""
    return geodesic(a, b).meters


def settle_location(case: Case, photos: list[Photo], rules: PlacementRules) -> None:
    """Choose the case's point and set the flags staff should see.

    The device's point wins when there is one; the first photo GPS stands in when there is not, and is a
    second witness when there is: disagreeing by more than the threshold flags location_mismatch. A photo
    taken long before the upload flags old_photo.
    """
    photo_gps = next(((p.exif_lat, p.exif_lon) for p in photos if p.exif_lat is not None), None)
    if case.lat is not None:
        case.location_source = "device"
        if photo_gps is not None:
            apart = distance_m((case.lat, case.lon), photo_gps)
            case.location_mismatch_m = round(apart, 1) if apart > rules.location_mismatch_m else None
    elif photo_gps is not None:
        case.lat, case.lon = photo_gps
        case.location_source = "photo"
    limit = case.created_at - timedelta(hours=rules.old_photo_hours)
    case.old_photo = any(p.exif_taken_at is not None and p.exif_taken_at < limit for p in photos)


def _closest_hash(a: list[Photo], b: list[Photo]) -> int | None:
    pairs = [hash_distance(_unsigned(x.dhash), _unsigned(y.dhash))
             for x in a if x.dhash is not None for y in b if y.dhash is not None]
    return min(pairs) if pairs else None


def _unsigned(value: int) -> int:
    return value & 0xFFFF_FFFF_FFFF_FFFF


def to_signed64(value: int) -> int:
    """A 64-bit hash as the signed integer a BIGINT column stores."""
    return value - (1 << 64) if value >= 1 << 63 else value


def open_cases_near(session: Session, category_id: int, lat: float, lon: float, now: datetime,
                    rules: PlacementRules, reported_before: datetime | None = None,
                    other_than: int | None = None) -> list[tuple[Case, float]]:
    """(case, metres) of the open cases of a category reported in the last days within the radius, oldest first.

    A bounding box on the (category, lat) index narrows the search to a handful of rows; only those are
    measured exactly.
    """
    dlat = rules.duplicate_radius_m / METRES_PER_DEGREE_LAT
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    query = (sa.select(Case).where(
        Case.category_id == category_id, Case.state.in_(OPEN),
        Case.lat.between(lat - dlat, lat + dlat), Case.lon.between(lon - dlon, lon + dlon),
        Case.created_at >= now - timedelta(days=rules.duplicate_days))
        .order_by(Case.created_at, Case.id))
    if reported_before is not None:
        query = query.where(Case.created_at <= reported_before)
    if other_than is not None:
        query = query.where(Case.id != other_than)
    found = []
    for other in session.scalars(query):
        apart = distance_m((lat, lon), (other.lat, other.lon))
        if apart <= rules.duplicate_radius_m:
            found.append((other, round(apart, 1)))
    return found


def neighbours(session: Session, case: Case, now: datetime, rules: PlacementRules) -> list[Neighbour]:
    """Open cases of the same category reported before this one nearby, with how alike their photos are."""
    if case.lat is None:
        return []
    mine = [p for p in case.photos if p.kind == "before"]
    return [Neighbour(other, apart, _closest_hash(mine, [p for p in other.photos if p.kind == "before"]))
            for other, apart in open_cases_near(session, case.category_id, case.lat, case.lon, now, rules,
                                                reported_before=case.created_at, other_than=case.id)]


def same_problem(found: list[Neighbour], rules: PlacementRules) -> Neighbour | None:
    """The oldest neighbour whose photos look the same (hashes within the bit limit), if any."""
    return next((n for n in found if n.hash_distance is not None and n.hash_distance <= rules.duplicate_hash_bits),
                None)
