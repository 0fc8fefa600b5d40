"""The weekly indicators' SQL aggregates, each one query for every part of the district at once: counts, events,
close times, the overdue list and the reporters, grouped by (street office, community) and optionally a group."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from service.db import on_postgresql
from service.models import Case, CaseEvent, Category, Grid, PointsEntry, User
from service.states import NOT_VALID, OPEN, CaseState

# the counted indicators of a week (受理, 立案, 应结, 结案, 按期): "closed" counts closures, it is not a state
COUNTS = ("received", "valid", "due", "closed", "on_time")  # not a state
# counted from the week's events: 返工 and 延期 per group; 转派, 上报, 退回 and first dispatches per part only
EVENT_COUNTS = ("rework", "extended")
MOVES = {"transfers": ("transfer",), "escalations": ("escalate",), "sent_back": ("send_back",)}
DISPATCH_ACTIONS = ("dispatch", "assign")  # a case's first of these is its dispatch (the send-back rate's base)
PART_COUNTS = (*MOVES, "dispatched")  # not a state: a count's name
GROUPS = {"grid": Case.grid_id, "category": Case.category_id, "assignee": Case.assignee_id}
# where a case is worked: its street office and community, the parts the district's reports are made of
PART = (Case.street_office_id.label("office"), Case.community_id.label("community"))

Span = tuple[datetime, datetime]  # a week as [start, end) instants
Where = sa.ColumnElement[bool] | None  # a condition on Case: the scope's cases; None for the whole district
_HOUR = timedelta(hours=1)


def _in(column, start: datetime, end: datetime):
    return sa.and_(column >= start, column < end)


def _count_if(condition):
    return sa.func.sum(sa.case((condition, 1), else_=0))


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile by linear interpolation, as PostgreSQL's percentile_cont computes it."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _grouped(query, group, where: Where):
    """The query per part (and group), restricted to the scope's cases."""
    keys = [*PART, (group if group is not None else sa.null()).label("key")]
    query = query.add_columns(*keys).group_by(*PART, *([group] if group is not None else []))
    return query.where(where) if where is not None else query


def _by_every_group(session: Session, query, where: Where):
    """The query per part alone (by None) and per part and each group (by "grid", "category", "assignee"), each
    row naming its `by` and `key`: one pass with GROUPING SETS on PostgreSQL, a union of the groupings on SQLite
    (which has none)."""
    query = query.where(where) if where is not None else query
    if on_postgresql(session):
        return _grouping_sets(query, (Case.street_office_id, Case.community_id), GROUPS)
    return sa.union_all(_grouped(query.add_columns(sa.null().label("by")), None, None), *(
        _grouped(query.add_columns(sa.literal(name).label("by")), column, None) for name, column in GROUPS.items()))


def _grouping_sets(query, part: tuple, groups: dict):
    """The query grouped by the part's two columns alone and by them with each group's column, in one GROUPING
    SETS pass (PostgreSQL), with the columns office, community, by and key."""
    by = sa.case(*((sa.func.grouping(column) == 0, sa.literal(name)) for name, column in groups.items()))
    key = sa.case(*((sa.func.grouping(column) == 0, column) for column in groups.values()))
    sets = sa.func.grouping_sets(sa.tuple_(*part), *(sa.tuple_(*part, column) for column in groups.values()))
    return query.add_columns(part[0].label("office"), part[1].label("community"), by.label("by"),
                             key.label("key")).group_by(sets)


def _run(session: Session, query) -> sa.CursorResult:
    """The query's result, its rows plain tuples without the ORM's bookkeeping (the report reads thousands of
    rows; take them with .all(), in one fetch, not row by row); the session's pending changes written first, as
    the ORM's own execute would."""
    session.flush()
    return session.connection().execute(query)


def _per_group(result: sa.CursorResult, weeks: int, names: tuple[str, ...],
               group_names: tuple[str, ...] = ()) -> dict:
    """Rows of `name_i` columns per week i, and of office, community, key and (when grouped, _by_every_group)
    by, as {by: {(week index, office, community, key): {name: value}}}: the part's own rows with `names`, a
    group's with `group_names`."""
    index = {key: n for n, key in enumerate(result.keys())}
    columns = {kept: [[(name, index[f"{name}_{i}"]) for name in kept] for i in range(weeks)]
               for kept in (names, group_names)}
    office, community, key, by = index["office"], index["community"], index["key"], index.get("by")
    out: dict = {None: {}, **{name: {} for name in GROUPS}}
    for row in result.all():
        group = None if by is None else row[by]
        for i, week in enumerate(columns[names if group is None else group_names]):
            out[group][(i, row[office], row[community], row[key])] = {name: int(row[n] or 0) for name, n in week}
    return out


def _per_week(result: sa.CursorResult, weeks: int, names: tuple[str, ...]) -> dict:
    """Rows of `name_i` columns per part, as {(week index, office, community, key): {name: value}}."""
    return _per_group(result, weeks, names)[None]


def _bounds(spans: list[Span]) -> Span:
    return min(a for a, _ in spans), max(b for _, b in spans)


def _case_flags(spans: list[Span]) -> list[tuple[str, sa.ColumnElement[bool]]]:
    """Each week's counted conditions on a case, as (`<name>_<week index>`, condition)."""
    valid = Case.state.notin_(NOT_VALID)
    flags = []
    for i, (start, end) in enumerate(spans):
        received, closed_in_week = _in(Case.created_at, start, end), _in(Case.closed_at, start, end)
        flags += [(f"received_{i}", received), (f"valid_{i}", sa.and_(received, valid)),
                  (f"due_{i}", sa.and_(valid, sa.or_(_in(Case.deadline_at, start, end), closed_in_week))),
                  (f"closed_{i}", closed_in_week),
                  (f"on_time_{i}", sa.and_(closed_in_week, Case.closed_at <= Case.deadline_at))]
    return flags


def _concerned(spans: list[Span]) -> sa.ColumnElement[bool]:
    """The cases any of the weeks concerns: reported, due or closed in them."""
    first, last = _bounds(spans)
    return sa.or_(_in(Case.created_at, first, last), _in(Case.deadline_at, first, last),
                  _in(Case.closed_at, first, last))


def _case_count_query(spans: list[Span]):
    """The counts of each week as `<name>_<week index>` columns, over the cases any of the weeks concerns."""
    return sa.select(*(_count_if(condition).label(name) for name, condition in _case_flags(spans))) \
        .where(_concerned(spans))


def _flagged_case_count_query(spans: list[Span], where: Where):
    """_case_count_query by every group in one GROUPING SETS pass (PostgreSQL), each case's conditions worked out
    once beneath it as 0 or 1, not again in each of the pass's sorts (a third less time over a district)."""
    flags = sa.select(Case.street_office_id, Case.community_id, *GROUPS.values(), *(
        sa.case((condition, 1), else_=0).label(name) for name, condition in _case_flags(spans))) \
        .where(_concerned(spans))
    flags = (flags.where(where) if where is not None else flags).subquery()
    sums = sa.select(*(sa.func.sum(flags.c[name]).label(name) for name, _ in _case_flags(spans)))
    return _grouping_sets(sums, (flags.c.street_office_id, flags.c.community_id),
                          {name: flags.c[column.key] for name, column in GROUPS.items()})


def case_counts(session: Session, spans: list[Span], where: Where) -> dict:
    """Per (week index, part): received, valid, due, closed and closed on time — one pass over the weeks."""
    return _per_week(_run(session, _grouped(_case_count_query(spans), None, where)), len(spans), COUNTS)


def grouped_case_counts(session: Session, spans: list[Span], where: Where) -> dict:
    """case_counts per part and per part and group at once: {by: {(week index, part, key): counts}}, by None
    for the part alone."""
    if on_postgresql(session):
        rows = _run(session, _flagged_case_count_query(spans, where))
    else:
        rows = _run(session, _by_every_group(session, _case_count_query(spans), where))
    return _per_group(rows, len(spans), COUNTS, COUNTS)


def grouped_event_counts(session: Session, spans: list[Span], where: Where) -> dict:
    """Per (week index, part), and per part and group, as grouped_case_counts: cases sent back for rework (返工)
    and deadline extensions (延期); per part alone also the cases transferred (转派), escalated (上报), sent back
    (退回) and first dispatched."""
    actions = ["rework", "extend", *(a for names in MOVES.values() for a in names)]
    first, last = _bounds(spans)
    columns = []
    for i, (start, end) in enumerate(spans):
        in_week = _in(CaseEvent.created_at, start, end)
        columns += [sa.func.count(sa.distinct(sa.case((sa.and_(in_week, CaseEvent.action == "rework"),
                                                       CaseEvent.case_id)))).label(f"rework_{i}"),
                    _count_if(sa.and_(in_week, CaseEvent.action == "extend")).label(f"extended_{i}")]
        columns += [sa.func.count(sa.distinct(sa.case((sa.and_(in_week, CaseEvent.action.in_(kinds)),
                                                       CaseEvent.case_id)))).label(f"{name}_{i}")
                    for name, kinds in MOVES.items()]
    query = (sa.select(*columns).select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
             .where(CaseEvent.action.in_(actions), _in(CaseEvent.created_at, first, last)))
    counts = _per_group(_run(session, _by_every_group(session, query, where)), len(spans),
                        EVENT_COUNTS + tuple(MOVES), EVENT_COUNTS)
    for key, value in first_dispatches(session, spans, where).items():
        into = counts[None].setdefault(key, dict.fromkeys(EVENT_COUNTS + tuple(MOVES), 0))
        into["dispatched"] = value  # not a state: a count's name
    return counts


def _part_of(case_id, where: Where) -> tuple:
    """The part of the case with that id, as correlated look-ups by primary key, and the condition on it: a few
    thousand probes, where a join would have PostgreSQL hash the whole cases table first. Under a scope's
    condition, the plain join (through the scope's index) is the cheaper, and the one used."""
    def of(column):
        return sa.select(column).where(Case.id == case_id).scalar_subquery()

    if where is None:
        return (of(Case.street_office_id).label("office"), of(Case.community_id).label("community")), None, \
            of(Case.created_at)
    return PART, where, Case.created_at


def first_dispatches(session: Session, spans: list[Span], where: Where) -> dict:
    """Per (week index, part): the cases first dispatched in the week (their first dispatch or assign event)."""
    earlier = sa.orm.aliased(CaseEvent)
    first, last = _bounds(spans)
    part, scoped, reported_at = _part_of(CaseEvent.case_id, where)
    # only a case reported before the weeks can have been dispatched before them: the others need no look back
    # (an OR keeps the look back a per-row index probe for those few, not a hash of every dispatch ever)
    never_before = sa.or_(reported_at >= first, ~sa.exists().where(
        earlier.case_id == CaseEvent.case_id, earlier.action.in_(DISPATCH_ACTIONS), earlier.created_at < first))
    firsts = (sa.select(CaseEvent.case_id, sa.func.min(CaseEvent.created_at).label("at"))
              .where(CaseEvent.action.in_(DISPATCH_ACTIONS), _in(CaseEvent.created_at, first, last), never_before))
    if scoped is not None:
        firsts = firsts.join(Case, Case.id == CaseEvent.case_id).where(scoped)
    firsts = firsts.group_by(CaseEvent.case_id).subquery()
    part, _, _ = _part_of(firsts.c.case_id, where)
    located = sa.select(firsts.c.at, *part).select_from(firsts)
    if scoped is not None:
        located = located.join(Case, Case.id == firsts.c.case_id)
    located = located.subquery()
    columns = [_count_if(_in(located.c.at, start, end)).label(f"dispatched_{i}") for i, (start, end) in
               enumerate(spans)]
    query = sa.select(*columns, located.c.office, located.c.community, sa.null().label("key")) \
        .group_by(located.c.office, located.c.community)
    count = "dispatched"  # not a state: a count's name
    return {k: v[count] for k, v in _per_week(_run(session, query), len(spans), (count,)).items()}


def send_back_reasons(session: Session, span: Span, where: Where) -> list[tuple[int | None, int | None, str]]:
    """The week's send-backs (退回) as (office, community, reason), for counting the reasons."""
    query = (sa.select(*PART, CaseEvent.facts).select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
             .where(CaseEvent.action.in_(MOVES["sent_back"]), _in(CaseEvent.created_at, *span)))
    rows = _run(session, query.where(where) if where is not None else query).all()
    return [(r.office, r.community, (r.facts or {}).get("reason") or "other") for r in rows]


def close_hours(session: Session, span: Span, where: Where) -> list:
    """The week's closures as rows of part, grid, category, assignee and hours from report to close, from which
    each scope's and group's median and 90th percentile are taken (percentiles do not add up)."""
    if on_postgresql(session):
        hours = sa.extract("epoch", Case.closed_at - Case.created_at) / 3600
    else:
        hours = (sa.func.julianday(Case.closed_at) - sa.func.julianday(Case.created_at)) * 24
    query = (sa.select(*PART, *(c.label(name) for name, c in GROUPS.items()), sa.cast(hours, sa.Float).label("hours"))
             .where(_in(Case.closed_at, *span)))
    return _run(session, query.where(where) if where is not None else query).all()


# an overdue case as the report keeps it: a row of these, in this order (a district has some 10^4 of them, in its
# own report, its street office's and its community's: as rows they are half the bytes they were as objects); how
# many hours it is overdue follows from its deadline and the moment the report counts to (its as_of)
OVERDUE_FIELDS = ("case_no", "category", "grid", "assignee", "deadline_at", "state")


class UTCSecondText(sa.sql.functions.FunctionElement):
    """A UTC timestamp column as ISO 8601 text to the second with its zone, 2026-11-29T06:22:23+00:00, written by
    the database: 10^4 rows formatted in Python took half the overdue list's reading time."""

    type = sa.String()
    inherit_cache = True


@compiles(UTCSecondText, "postgresql")
def _utc_second_text_postgresql(element, compiler, **kw):
    return f"""to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')"""


@compiles(UTCSecondText, "sqlite")
def _utc_second_text_sqlite(element, compiler, **kw):
    return f"strftime('%Y-%m-%dT%H:%M:%S+00:00', {compiler.process(element.clauses, **kw)})"


def overdue_open(session: Session, end: datetime, where: Where) -> list[tuple[int | None, int | None, list]]:
    """Cases past their deadline and still open at `end`, oldest deadline first, by name, each after its part
    (office, community): (office, community, a row of OVERDUE_FIELDS)."""
    query = (
        sa.select(*PART, Case.case_no, Category.name.label("category"), Grid.name.label("grid"),
                  sa.func.coalesce(sa.func.nullif(User.display_name, ""), Case.assignee_unit).label("assignee"),
                  UTCSecondText(Case.deadline_at).label("deadline_at"),
                  sa.type_coerce(Case.state, sa.String).label("state"))  # its name: the report keeps text
        .join(Category, Category.id == Case.category_id).outerjoin(Grid, Grid.id == Case.grid_id)
        .outerjoin(User, User.id == Case.assignee_id)
        # open now, or closed only after the week ended: two index ranges, not a scan of every past deadline
        .where(Case.deadline_at < end, Case.created_at < end,
               sa.or_(Case.state.in_(OPEN), sa.and_(Case.state == CaseState.CLOSED, Case.closed_at >= end)))
        .order_by(Case.deadline_at, Case.id))
    rows = _run(session, query.where(where) if where is not None else query).all()
    return [(row[0], row[1], list(row[2:])) for row in rows]


def overdue_cases(data: dict) -> list[dict]:
    """A report's overdue cases as {field: value} with hours_overdue (whole hours from the deadline to the moment
    the report counts to), whether it keeps them as rows with their fields named beside them or, as reports built
    before 2026-12 did, as objects with their hours."""
    fields = data.get("overdue_fields", OVERDUE_FIELDS)
    counted_to = datetime.fromisoformat(data.get("as_of") or data["end"])
    cases = []
    for o in data.get("overdue", []):
        case = o if isinstance(o, dict) else dict(zip(fields, o))
        if "hours_overdue" not in case:
            case["hours_overdue"] = round((counted_to - datetime.fromisoformat(case["deadline_at"])) / _HOUR)
        cases.append(case)
    return cases


def reporter_counts(session: Session, span: Span, where: Where) -> list:
    """Per part and reporter: reports, valid reports and points earned in the week (points by their case's part)."""
    start, end = span
    reports = sa.select(*PART, Case.reporter_id.label("uid"), sa.func.count().label("reports"),
                        _count_if(Case.state.notin_(NOT_VALID)).label("valid"), sa.literal(0).label("points")) \
        .where(_in(Case.created_at, start, end))
    reports = reports.where(where) if where is not None else reports
    in_week = _in(PointsEntry.created_at, start, end)
    if on_postgresql(session):
        # each entry's case looked up once by its key, a lateral join PostgreSQL keeps as one (its LIMIT 1, a
        # no-op on a key, stops the planner making it a hash of the whole cases table)
        case = sa.select(*PART).where(Case.id == PointsEntry.case_id)
        case = (case.where(where) if where is not None else case).limit(1).lateral()
        earned = sa.select(PointsEntry.user_id.label("uid"), PointsEntry.points, case.c.office, case.c.community) \
            .join(case, sa.true()).where(in_week)
    else:  # SQLite has no LATERAL, and looks each case up by its key anyway
        earned = sa.select(PointsEntry.user_id.label("uid"), PointsEntry.points, *PART) \
            .join(Case, Case.id == PointsEntry.case_id).where(in_week)
        earned = earned.where(where) if where is not None else earned
    earned = earned.subquery()
    points = sa.select(earned.c.office, earned.c.community, earned.c.uid, sa.literal(0).label("reports"),
                       sa.literal(0).label("valid"), sa.func.sum(earned.c.points).label("points")) \
        .group_by(earned.c.office, earned.c.community, earned.c.uid)
    both = sa.union_all(reports.group_by(*PART, Case.reporter_id), points).subquery()
    return _run(session, sa.select(both.c.office, both.c.community, User.username, User.display_name, both.c.reports,
                                   both.c.valid, both.c.points).join(User, User.id == both.c.uid)).all()


def names_of(session: Session, by: str, keys) -> dict:
    """The names of a group's keys: grids, categories or assignees."""
    model = {"grid": Grid, "category": Category, "assignee": User}[by]
    keys = [k for k in keys if k is not None]
    if not keys:
        return {}
    label = model.display_name if model is User else model.name
    if on_postgresql(session):  # one array, not thousands of bound parameters
        match = model.id == sa.any_(sa.bindparam("ids", keys, type_=postgresql.ARRAY(sa.Integer)))
    else:
        match = model.id.in_(keys)
    return dict(_run(session, sa.select(model.id, label).where(match)).all())
