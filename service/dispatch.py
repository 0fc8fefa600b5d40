"""Routing a case to its grid: the grid index built from the database and kept fresh, and the dispatch itself."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service import lifecycle
from service.grids import GridIndex, GridShape
from service.lifecycle import FollowUp
from service.models import Case, Grid
from service.notifications import notify, queue_webhook, staff_members


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


def _local(instant: datetime, tz: str) -> str:
    return instant.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


def dispatch_case(session: Session, case: Case, index: GridIndex, now: datetime, tz: str,
               staff_webhook: str | None) -> list[FollowUp]:
    """Dispatch the case to the grid its point is in (or within the snap distance of); else leave it to staff.

    Dispatch gives the case to the grid's worker with the category's deadline from now, and tells the worker
    in the app and the grid's group robot; an unroutable case is told to staff.
    """
    located = index.locate(case.lat, case.lon) if case.lat is not None else None
    follow_ups: list[FollowUp] = []
    if located is None:
        why = "无位置信息" if case.lat is None else "位置不在任何网格内"
        lifecycle.transition(session, case, "unrouted", None, f"{why}，待人工派遣", at=now)
        text = f"【随手拍】{case.case_no} {case.category.name}：{why}，请人工派遣"
        notify(session, staff_members(session), case, "unrouted", text)
        follow_ups.append(queue_webhook(session, staff_webhook, case, text))
        return [f for f in follow_ups if f]
    grid = session.get(Grid, located.grid_id)
    deadline = now + timedelta(hours=case.category.deadline_hours)
    note = f"派遣至{grid.name}" + (f"（距网格边界 {located.distance_m:.0f} m）" if located.distance_m else "")
    lifecycle.dispatch(session, case, grid, grid.worker, deadline, note=note, at=now)
    text = (f"【随手拍】新工单 {case.case_no} {case.category.name} · {grid.name} · "
            f"期限 {_local(deadline, tz)}" + (f" · 指派 {grid.worker.display_name}" if grid.worker else ""))
    if grid.worker is not None:
        notify(session, [grid.worker], case, "work_order", text)
    else:
        notify(session, staff_members(session), case, "work_order_unassigned", text + "（该网格未设网格员）")
    follow_ups.append(queue_webhook(session, grid.webhook_url or staff_webhook, case, text))
    return [f for f in follow_ups if f]


def grid_features(session: Session) -> dict:
    """Every grid as a GeoJSON FeatureCollection (code and name), for the maps."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g.polygon, "properties": {"code": g.code, "name": g.name}}
        for g in session.scalars(sa.select(Grid).order_by(Grid.code))]}


def grids_by_code(session: Session) -> list[Grid]:
    """Every grid, by code, as the desk's forms list them."""
    return list(session.scalars(sa.select(Grid).order_by(Grid.code)))
