"""Routing a case to its grid: the grid index built from the database and kept fresh, and the dispatch itself."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service import lifecycle
from service.grids import GridIndex, GridShape
from service.models import Case, Grid
from service.states import CaseState


def grid_fingerprint(session: Session) -> tuple:
    """Changes whenever a grid is added, removed or edited: one small query tells if the index is stale."""
    row = session.execute(sa.select(sa.func.count(Grid.id), sa.func.max(Grid.id), sa.func.max(Grid.updated_at))).one()
    return tuple(row)


def build_grid_index(session: Session, snap_m: float) -> GridIndex:
    """An index of every grid polygon in the database."""
    fingerprint = grid_fingerprint(session)
    shapes = [GridShape(g.id, g.polygon) for g in session.scalars(sa.select(Grid).order_by(Grid.id))]
    return GridIndex(shapes, snap_m=snap_m, fingerprint=fingerprint)


def fresh_grid_index(session: Session, current: GridIndex | None, snap_m: float) -> GridIndex:
    """The current index if the grids have not changed since it was built, else a new one."""
    if current is not None and current.fingerprint == grid_fingerprint(session) and current.snap_m == snap_m:
        return current
    return build_grid_index(session, snap_m)


def dispatch_case(session: Session, case: Case, index: GridIndex, now: datetime) -> lifecycle.Outcome:
    """Dispatch the case to the grid its point is in (or within the snap distance of); else leave it to staff.

    Dispatch gives the case to the grid's worker with the category's deadline from now; the event says who is
    told (service.notifications.announce): the worker and the grid's robot, or staff for an unroutable case.
    """
    located = index.locate(case.lat, case.lon) if case.lat is not None else None
    if located is None:
        return lifecycle.transition(session, case, CaseState.UNROUTED, None, at=now,
                                    facts={"why": why_unrouted(case)})
    grid = session.get(Grid, located.grid_id)
    deadline = now + timedelta(hours=case.category.deadline_hours)
    facts = {"grid": grid.name, "distance_m": round(located.distance_m, 1) if located.distance_m else None}
    return lifecycle.dispatch(session, case, grid, grid.worker, deadline, at=now, facts=facts)


def why_unrouted(case: Case) -> str:
    """Why the pipeline could not route the case (service.event_words says it): no location, or in no grid."""
    return "no_location" if case.lat is None else "outside_grids"


def grid_features(session: Session) -> dict:
    """Every grid as a GeoJSON FeatureCollection (code and name), for the maps."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g.polygon, "properties": {"code": g.code, "name": g.name}}
        for g in session.scalars(sa.select(Grid).order_by(Grid.code))]}


def grids_by_code(session: Session) -> list[Grid]:
    """Every grid, by code, as the desk's forms list them."""
    return list(session.scalars(sa.select(Grid).order_by(Grid.code)))
