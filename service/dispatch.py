"""Routing a case to its community and grid: the district index built from the database and kept fresh, and the
dispatch itself."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from service import lifecycle
from service.grids import CommunityShape, DistrictIndex, GridShape
from service.models import Case, Community, CommunityBoundary, Grid, StreetOffice
from service.states import CaseState

CURRENT_GRIDS = Grid.retired_at.is_(None)
CURRENT_BOUNDARIES = CommunityBoundary.retired_at.is_(None)
_BUILDING = threading.Lock()


def district_fingerprint(session: Session) -> tuple:
    """Changes whenever a grid or a boundary is drawn anew or retired (generations are never edited in place):
    one small query tells if the index is stale."""
    grids = sa.select(sa.func.count(Grid.id), sa.func.max(Grid.id)).where(CURRENT_GRIDS)
    boundaries = sa.select(sa.func.count(CommunityBoundary.id), sa.func.max(CommunityBoundary.id)).where(
        CURRENT_BOUNDARIES)
    return tuple(session.execute(grids).one()) + tuple(session.execute(boundaries).one())


# the last few indexes this process built, by exactly what each was built from: building one takes about half a
# second (its squares), and every web and worker process of a host, or a test, would otherwise build the same again
_BUILT: OrderedDict[tuple, DistrictIndex] = OrderedDict()
KEEP_BUILT = 4


def build_district_index(session: Session, snap_m: float, name: str = "") -> DistrictIndex:
    """An index of every current boundary and grid in the database (the one built before from the very same
    polygons, when there is one)."""
    fingerprint = district_fingerprint(session)
    communities = [CommunityShape(b.community_id, b.polygon) for b in session.scalars(
        sa.select(CommunityBoundary).where(CURRENT_BOUNDARIES).order_by(CommunityBoundary.community_id))]
    grids = [GridShape(g.id, g.polygon, g.community_id) for g in session.scalars(
        sa.select(Grid).where(CURRENT_GRIDS).order_by(Grid.id))]
    drawn = orjson.dumps([[(c.community_id, c.geometry) for c in communities],
                          [(g.grid_id, g.community_id, g.geometry) for g in grids]], option=orjson.OPT_SORT_KEYS)
    key = (snap_m, name, fingerprint, hashlib.sha256(drawn).digest())
    with _BUILDING:
        if key in _BUILT:
            _BUILT.move_to_end(key)
            return _BUILT[key]
    index = DistrictIndex(communities, grids, snap_m=snap_m, fingerprint=fingerprint, name=name)
    with _BUILDING:
        _BUILT[key] = index
        while len(_BUILT) > KEEP_BUILT:
            _BUILT.popitem(last=False)
    return index


def fresh_district_index(session: Session, current: DistrictIndex | None, snap_m: float,
                         name: str = "") -> DistrictIndex:
    """The current index if no grid or boundary has changed since it was built, else a new one."""
    if current is not None and current.fingerprint == district_fingerprint(session) and current.snap_m == snap_m:
        return current
    return build_district_index(session, snap_m, name)


class KeptIndex:
    """One process's district index, rebuilt only when the grids or boundaries in the database have changed."""

    def __init__(self, snap_m: float, name: str = ""):
        self.snap_m, self.name = snap_m, name
        self.current: DistrictIndex | None = None

    def fresh(self, session: Session) -> DistrictIndex:
        """The index as the database now stands (one small query when nothing changed)."""
        self.current = fresh_district_index(session, self.current, self.snap_m, self.name)
        return self.current


def dispatch_case(session: Session, case: Case, index: DistrictIndex, now: datetime) -> lifecycle.Outcome:
    """Dispatch the case to the grid its point is in (or within the snap distance of); else leave it to the staff
    of the community it is in (or, in none, to the district's; one with no location stays at the desk intake
    gave it, an Open311 client's default community).

    Dispatch gives the case to the grid's worker with the category's deadline from now; the event says who is
    told (service.notifications.announce): the worker and the grid's robot, or staff for an unroutable case.
    """
    located = index.locate(case.lat, case.lon) if case.lat is not None else None
    if located is None or located.grid_id is None:
        lifecycle.place(case, session.get(Community, located.community_id) if located
                        else case.community if case.lat is None else None)
        return lifecycle.transition(session, case, CaseState.UNROUTED, None, at=now,
                                    facts={"why": why_unrouted(case)})
    grid = session.get(Grid, located.grid_id)
    deadline = now + timedelta(hours=case.category.deadline_hours)
    facts = {"grid": grid.name, "distance_m": round(located.distance_m, 1) if located.distance_m else None}
    return lifecycle.dispatch(session, case, grid, grid.worker, deadline, at=now, facts=facts)


def why_unrouted(case: Case) -> str:
    """Why the pipeline could not route the case (service.event_words says it): no location, in a community but
    in none of its grids, or in no community at all."""
    if case.lat is None:
        return "no_location"
    return "outside_grids" if case.community_id is not None else "outside_district"


def grid_features(session: Session, grid_ids: Iterable[int] | None = None) -> dict:
    """Every current grid (or those of `grid_ids`) as a GeoJSON FeatureCollection (code, name, road and community),
    for the maps."""
    query = (sa.select(Grid, Community.code).join(Community, Community.id == Grid.community_id)
             .where(CURRENT_GRIDS).order_by(Grid.code))
    if grid_ids is not None:
        query = query.where(Grid.id.in_(list(grid_ids)))
    rows = session.execute(query)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g.polygon,
         "properties": {"code": g.code, "name": g.name, "street": g.street, "community": community}}
        for g, community in rows]}


def community_list(session: Session) -> list[dict]:
    """Every community with its street office and its current boundary (a GeoJSON Polygon or MultiPolygon), by
    code; a community with no current boundary is left out (no report can reach it)."""
    rows = session.execute(
        sa.select(Community, StreetOffice, CommunityBoundary.polygon)
        .join(StreetOffice, StreetOffice.id == Community.street_office_id)
        .join(CommunityBoundary, sa.and_(CommunityBoundary.community_id == Community.id, CURRENT_BOUNDARIES))
        .order_by(Community.code))
    return [{"code": c.code, "name": c.name, "street_office": {"code": o.code, "name": o.name}, "boundary": polygon}
            for c, o, polygon in rows]


def communities_by_code(session: Session) -> list[Community]:
    """Every community with its street office, by code, as the desk's transfer form lists them."""
    return list(session.scalars(sa.select(Community).options(joinedload(Community.street_office))
                                .order_by(Community.code)))


def grids_by_code(session: Session) -> list[Grid]:
    """Every current grid, by code, as the desk's forms list them."""
    return list(session.scalars(sa.select(Grid).where(CURRENT_GRIDS).order_by(Grid.code)))
