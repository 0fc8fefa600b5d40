"""The desk's queue (filtered, most urgent and soonest due first, by keyset), counts, CSV rows; the field's orders."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from service.categories import active_categories
from service.db import UTCDateTime
from service.dispatch import communities_by_code, grids_by_code
from service.local_time import local_time
from service.models import Case, CaseEvent, Category, Grid, User
from service.parsing import INT32_MAX, whole_number
from service.scope import assigned_to, cases_visible_to, may_see_grid, may_see_worker
from service.states import OPEN, WORKED, CaseState
from service.users import grid_workers

PAGE_SIZE = 50
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
# the same expressions as the ix_cases_open_queue index, so the database walks the index in order
DEADLINE_KEY = sa.func.coalesce(Case.deadline_at, sa.literal_column("'9999-12-31 00:00:00.000000'", UTCDateTime))
# 0 for a case waiting for the desk to route it by hand (the desk's own work, first), 1 for the rest
ROUTED_KEY = sa.case((Case.state == sa.literal_column(f"'{CaseState.UNROUTED}'"), sa.literal_column("0")),
                     else_=sa.literal_column("1"))
QUEUE_ORDER = (ROUTED_KEY, -Case.priority, DEADLINE_KEY, Case.id)


@dataclass(frozen=True)
class QueueFilter:
    """What the desk asked to see; empty fields do not filter. No states means the open ones."""

    states: tuple[str, ...] = ()
    grid: str | None = None  # grid code
    category: str | None = None  # category code
    assignee: str | None = None  # a grid worker's username, or an external unit's code
    overdue: bool = False
    priority: int | None = None  # at least this priority
    text: str | None = None  # in the case number or the description


def _conditions(f: QueueFilter, now: datetime, viewer: User, with_states: bool = True) -> list:
    conds = [cases_visible_to(viewer)]
    if with_states:
        conds.append(Case.state.in_(f.states or OPEN))
    if f.grid:
        conds.append(Case.grid_id.in_(sa.select(Grid.id).where(Grid.code == f.grid)))  # every generation
    if f.category:
        conds.append(Case.category_id == sa.select(Category.id).where(Category.code == f.category).scalar_subquery())
    if f.assignee:
        worker = sa.select(User.id).where(User.username == f.assignee).scalar_subquery()
        conds.append(sa.or_(Case.assignee_id == worker, Case.assignee_unit == f.assignee))
    if f.overdue:
        conds += [Case.state.in_(WORKED), Case.deadline_at < now]
    if f.priority is not None:
        conds.append(Case.priority >= f.priority)
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(sa.or_(Case.case_no.like(pattern, escape="\\"), Case.description.like(pattern, escape="\\")))
    return conds


def cursor_of(case: Case) -> str:
    """The keyset position after this case, as text for a link."""
    deadline = case.deadline_at or NO_DEADLINE
    routed = 0 if case.state == CaseState.UNROUTED else 1
    return f"{routed}~{-case.priority}~{deadline.astimezone(UTC).strftime('%Y%m%dT%H%M%S%f')}~{case.id}"


class BadCursor(ValueError):
    """A queue position that is not one cursor_of made (edited by hand, or cut short)."""


def parse_cursor(text: str) -> tuple[int, int, datetime, int]:
    """The keyset position a link carries; BadCursor when it is not one (numbers out of a column's range too)."""
    try:
        routed, urgency, deadline, case_id = text.split("~")
        return (whole_number(routed, 0, 1), whole_number(urgency, -INT32_MAX, INT32_MAX),
                datetime.strptime(deadline, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC),
                whole_number(case_id, 0, INT32_MAX))
    except (ValueError, AttributeError):
        raise BadCursor(f"not a queue position: {str(text)[:60]!r}") from None


def queue_page(session: Session, f: QueueFilter, now: datetime, viewer: User, after: str | None = None,
               limit: int = PAGE_SIZE) -> tuple[list[Case], str | None]:
    """One page of the viewer's queue (the cases they may see, service.scope) and the cursor of the next page
    (None on the last); BadCursor for a bad `after`."""
    query = (sa.select(Case).where(*_conditions(f, now, viewer)).order_by(*QUEUE_ORDER).limit(limit + 1)
             .options(selectinload(Case.category), selectinload(Case.grid), selectinload(Case.assignee),
                      selectinload(Case.reporter)))
    position = parse_cursor(after) if after else None
    if position is not None:
        routed, urgency, deadline, case_id = position
        query = query.where(sa.tuple_(*QUEUE_ORDER) > sa.tuple_(sa.literal(routed), sa.literal(urgency),
                                                                sa.literal(deadline, UTCDateTime), sa.literal(case_id)))
    cases = list(session.scalars(query))
    more = len(cases) > limit
    cases = cases[:limit]
    return cases, (cursor_of(cases[-1]) if more and cases else None)


def state_counts(session: Session, f: QueueFilter, now: datetime, viewer: User) -> dict[str, int]:
    """How many of the viewer's cases of each state match the other filters."""
    rows = session.execute(sa.select(Case.state, sa.func.count()).where(*_conditions(f, now, viewer, False))
                           .group_by(Case.state))
    counts = dict.fromkeys(CaseState, 0)
    counts.update(rows.all())
    return counts


def desk_choices(session: Session, viewer: User) -> dict[str, list]:
    """What the desk's filter and assign forms offer: the grids and grid workers of the viewer's part of the
    district, and the active categories."""
    grids = [g for g in grids_by_code(session) if may_see_grid(viewer, g)]
    workers = [w for w in grid_workers(session, active_only=True) if may_see_worker(viewer, w)]
    return {"grids": grids, "categories": active_categories(session), "workers": workers,
            "communities": communities_by_code(session)}


def work_orders(session: Session, worker: User) -> list[Case]:
    """The cases being worked (dispatched or in progress) given to the worker or their unit: most urgent first,
    then soonest due."""
    return list(session.scalars(
        sa.select(Case).where(assigned_to(worker), Case.state.in_(WORKED))
        .order_by(-Case.priority, DEADLINE_KEY, Case.id)
        .options(selectinload(Case.category), selectinload(Case.grid), selectinload(Case.photos))))


HISTORY_PAGE = 20


def resolved_by(session: Session, worker: User, page: int = 1,
                per_page: int = HISTORY_PAGE) -> tuple[list[tuple[Case, datetime]], bool]:
    """The cases this worker resolved (已处置), the latest resolve first, with when they last resolved each: one
    page, and whether there are more. Each case as it is now (closed, sent back for rework, ...)."""
    last = sa.func.max(CaseEvent.created_at).label("resolved_at")
    mine = (sa.select(CaseEvent.case_id, last)
            .where(CaseEvent.actor_id == worker.id, CaseEvent.to_state == CaseState.RESOLVED)
            .group_by(CaseEvent.case_id).subquery())
    rows = session.execute(
        sa.select(Case, mine.c.resolved_at).join(mine, mine.c.case_id == Case.id)
        .order_by(mine.c.resolved_at.desc(), Case.id.desc()).offset((page - 1) * per_page).limit(per_page + 1)
        .options(selectinload(Case.category), selectinload(Case.grid))).all()
    return [(case, at) for case, at in rows[:per_page]], len(rows) > per_page


def mask_phone(phone: str | None) -> str:
    """A phone number as staff may see it: 138****0001."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


CSV_HEADER = ("案件编号 case", "类别 category", "网格 grid", "上报 created", "派遣 dispatched", "处置 resolved",
              "结案 closed", "状态 state", "纬度 lat", "经度 lon", "上报人 reporter", "处置人 assignee", "按期 on time",
              "状态代码 state code")


def export_rows(session: Session, f: QueueFilter, now: datetime, tz: str, units: dict[str, str],
                viewer: User) -> Iterator[tuple]:
    """Every case of the viewer's that the filter matches, in queue order, as CSV rows (phone numbers masked),
    read in batches; the state by its Chinese name, its code in the last column for whoever sorts by it."""
    query = (sa.select(Case).where(*_conditions(f, now, viewer)).order_by(*QUEUE_ORDER)
             .options(selectinload(Case.category), selectinload(Case.grid), selectinload(Case.assignee),
                      selectinload(Case.reporter)).execution_options(yield_per=500))
    for case in session.scalars(query):
        on_time = "" if case.closed_at is None or case.deadline_at is None else \
            ("是" if case.closed_at <= case.deadline_at else "否")
        assignee = case.assignee.display_name if case.assignee else units.get(case.assignee_unit or "", "")
        times = [local_time(t, tz) for t in (case.created_at, case.dispatched_at, case.resolved_at, case.closed_at)]
        yield (case.case_no, case.category.name, case.grid.name if case.grid else "", *times, CaseState(case.state).zh,
               case.lat if case.lat is not None else "", case.lon if case.lon is not None else "",
               f"{case.reporter.display_name} {mask_phone(case.reporter.phone)}", assignee, on_time, case.state)
