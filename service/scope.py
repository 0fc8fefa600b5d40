"""Who may see and touch which cases: the district's levels, a person's place in them, and the one rule every
query of the desk, the field, the API, the exports and the reports goes through (outside it a case is not found)."""
from __future__ import annotations

import sqlalchemy as sa

from service.auth import STAFF_ROLES, Role
from service.models import Case, Community, Grid, User
from service.vocabulary import Worded


class Level(Worded):
    """A level of the district (区 → 街道 → 社区), with its Chinese and English names."""

    DISTRICT = "district", "区", "District"
    STREET_OFFICE = "street_office", "街道", "Street office"
    COMMUNITY = "community", "社区", "Community"


def level_of(user: User) -> Level:
    """The level a person works at: their community, their street office, or (with neither) the district."""
    if user.community_id is not None:
        return Level.COMMUNITY
    if user.street_office_id is not None:
        return Level.STREET_OFFICE
    return Level.DISTRICT


def runs_the_district(user: User) -> bool:
    """An administrator of the whole district: who may see what the district shares, the job queues (whose
    failed jobs name cases of every community)."""
    return user.role == Role.ADMIN and level_of(user) is Level.DISTRICT


def cases_visible_to(user: User) -> sa.ColumnElement[bool]:
    """The cases this person may see, as a condition on Case: staff those of their part of the district; a grid
    worker their grids' cases and their own work; a unit's worker what was given to the unit; everyone their own
    reports."""
    own = Case.reporter_id == user.id
    if user.role in STAFF_ROLES:
        level = level_of(user)
        if level is Level.COMMUNITY:
            return sa.or_(Case.community_id == user.community_id, own)
        if level is Level.STREET_OFFICE:
            return sa.or_(Case.street_office_id == user.street_office_id, own)
        return sa.true()
    if user.role == Role.GRID_WORKER:
        return sa.or_(own, Case.assignee_id == user.id,
                      Case.grid_id.in_(sa.select(Grid.id).where(Grid.worker_id == user.id)))
    if user.role == Role.UNIT and user.unit is not None:
        return sa.or_(own, Case.assignee_unit == user.unit.code)
    return own


def may_see(user: User, case: Case) -> bool:
    """The same rule as cases_visible_to, for one case already loaded."""
    if case.reporter_id == user.id:
        return True
    if user.role in STAFF_ROLES:
        return _same_part(user, case.community_id, case.street_office_id)
    if user.role == Role.GRID_WORKER:
        return case.assignee_id == user.id or (case.grid is not None and case.grid.worker_id == user.id)
    if user.role == Role.UNIT and user.unit is not None:
        return case.assignee_unit == user.unit.code
    return False


def _same_part(user: User, community_id: int | None, street_office_id: int | None) -> bool:
    """The community (of that street office) lies in the staff member's part of the district."""
    level = level_of(user)
    if level is Level.COMMUNITY:
        return community_id == user.community_id
    if level is Level.STREET_OFFICE:
        return street_office_id == user.street_office_id
    return True


def may_work_community(user: User, community: Community) -> bool:
    """Staff whose part of the district holds the community (its exchange, its stock, its 公示)."""
    return user.role in STAFF_ROLES and _same_part(user, community.id, community.street_office_id)


def may_see_grid(user: User, grid: Grid) -> bool:
    """A grid of the staff member's part of the district (what their desk's forms offer)."""
    return _same_part(user, grid.community_id, grid.community.street_office_id)


def may_see_worker(user: User, worker: User) -> bool:
    """A grid worker of the staff member's part of the district."""
    office = worker.community.street_office_id if worker.community else worker.street_office_id
    return _same_part(user, worker.community_id, office)


FIELD_ROLES = (Role.GRID_WORKER, Role.UNIT)  # whose page is the field's work orders


def assigned_to(user: User) -> sa.ColumnElement[bool]:
    """The cases given to this person to work: to them by name, or to their unit."""
    if user.role == Role.UNIT and user.unit is not None:
        return Case.assignee_unit == user.unit.code
    return Case.assignee_id == user.id


def is_assignee(user: User, case: Case) -> bool:
    """The case is this person's (or their unit's) to work."""
    if user.role == Role.UNIT and user.unit is not None:
        return case.assignee_unit == user.unit.code
    return case.assignee_id is not None and case.assignee_id == user.id
