"""The weekly closure report (周报): the standard indicators per week, grid, category and assignee, from SQL
aggregates."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.local_time import SHORT, local_time
from service.models import Case, CaseEvent, Category, Grid, PointsEntry, User, WeeklyReport
from service.parsing import EARLIEST_INSTANT, LATEST_INSTANT, whole_number
from service.states import NOT_VALID, OPEN, CaseState

# the years a report can be built for: its week, the week before and the 8-week trend, in any zone, stay
# among the instants we take (year 9999-W52's end, or 0001-W01's trend, would leave the calendar)
FIRST_YEAR, LAST_YEAR = EARLIEST_INSTANT.year + 1, LATEST_INSTANT.year - 1
# the counted indicators of a week (受理, 立案, 应结, 结案, 按期): "closed" counts closures, it is not a state
COUNTS = ("received", "valid", "due", "closed", "on_time")  # not a state
GROUPS = {"grid": Case.grid_id, "category": Case.category_id, "assignee": Case.assignee_id}


@dataclass(frozen=True)
class Week:
    """An ISO week, Monday 00:00 to Sunday 24:00 in the community's time zone."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        """A week from its name, like 2026-W09, from FIRST_YEAR to LAST_YEAR; ValueError when it is not one."""
        year, _, number = text.strip().upper().partition("-W")
        week = cls(whole_number(year, FIRST_YEAR, LAST_YEAR), whole_number(number, 1, 53))
        date.fromisocalendar(week.year, week.number, 1)  # raises ValueError for a week that does not exist
        return week

    @classmethod
    def containing(cls, instant: datetime, tz: str) -> Week:
        """The week an instant falls in, as the community's clocks read it."""
        year, number, _ = instant.astimezone(ZoneInfo(tz)).isocalendar()
        return cls(year, number)

    @property
    def name(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def day(self, weekday: int) -> date:
        """The calendar date of the week's day (1 Monday .. 7 Sunday), as the community's calendars read it."""
        return date.fromisocalendar(self.year, self.number, weekday)

    def start(self, tz: str) -> datetime:
        """Monday 00:00 local, as a UTC instant."""
        monday = date.fromisocalendar(self.year, self.number, 1)
        return datetime(monday.year, monday.month, monday.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)

    def end(self, tz: str) -> datetime:
        """The next Monday 00:00 local (Sunday 24:00), as a UTC instant; the week is [start, end)."""
        return self.shifted(1).start(tz)

    def shifted(self, weeks: int) -> Week:
        """The week so many weeks later (earlier when negative)."""
        monday = date.fromisocalendar(self.year, self.number, 1) + timedelta(weeks=weeks)
        year, number, _ = monday.isocalendar()
        return Week(year, number)


def _in(column, start: datetime, end: datetime):
    return sa.and_(column >= start, column < end)


def _count_if(condition):
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _rate(part: int, whole: int) -> float | None:
    """A share as a fraction, None when there is nothing to divide by (shown as —)."""
    return None if not whole else part / whole


def _percentile(values: list[float], q: float) -> float | None:
    """The q-quantile by linear interpolation, as PostgreSQL's percentile_cont computes it."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _key(group):
    """The grouping column as `key`; NULL for the whole community."""
    return (group if group is not None else sa.null()).label("key")


def _grouped(query, group):
    return query.group_by(group) if group is not None else query


Span = tuple[datetime, datetime]  # a week as [start, end) instants


def _case_counts(session: Session, spans: list[Span], group) -> dict:
    """Per (week index, group): received, valid, due, closed and closed on time — one pass over all the weeks."""
    valid = Case.state.notin_(NOT_VALID)
    columns = []
    for i, (start, end) in enumerate(spans):
        closed_in_week = _in(Case.closed_at, start, end)
        columns += [_count_if(_in(Case.created_at, start, end)).label(f"received_{i}"),
                    _count_if(sa.and_(_in(Case.created_at, start, end), valid)).label(f"valid_{i}"),
                    _count_if(sa.and_(valid, sa.or_(_in(Case.deadline_at, start, end), closed_in_week)))
                    .label(f"due_{i}"),
                    _count_if(closed_in_week).label(f"closed_{i}"),
                    _count_if(sa.and_(closed_in_week, Case.closed_at <= Case.deadline_at)).label(f"on_time_{i}")]
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    query = sa.select(_key(group), *columns).where(sa.or_(
        _in(Case.created_at, first, last), _in(Case.deadline_at, first, last), _in(Case.closed_at, first, last)))
    return _per_week(session.execute(_grouped(query, group)), len(spans), COUNTS)


def _per_week(rows, weeks: int, names: tuple[str, ...]) -> dict:
    """Rows of `name_i` columns, as {(week index, key): {name: value}}."""
    out = {}
    for row in rows:
        values = row._asdict()
        for i in range(weeks):
            out[(i, row.key)] = {name: values[f"{name}_{i}"] for name in names}
    return out


def _event_counts(session: Session, spans: list[Span], group) -> dict:
    """Per (week index, group): cases sent back for rework (返工) and deadline extensions (延期)."""
    columns = []
    for i, (start, end) in enumerate(spans):
        in_week = _in(CaseEvent.created_at, start, end)
        columns += [sa.func.count(sa.distinct(sa.case((sa.and_(in_week, CaseEvent.action == "rework"),
                                                       CaseEvent.case_id)))).label(f"rework_{i}"),
                    _count_if(sa.and_(in_week, CaseEvent.action == "extend")).label(f"extended_{i}")]
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    query = (sa.select(_key(group), *columns).join(Case, Case.id == CaseEvent.case_id)
             .where(CaseEvent.action.in_(("rework", "extend")), _in(CaseEvent.created_at, first, last)))
    return _per_week(session.execute(_grouped(query, group)), len(spans), ("rework", "extended"))


def _close_hours(session: Session, spans: list[Span], group) -> dict:
    """Per (week index, group): median and 90th percentile of hours from report to close of the week's closures."""
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    closed = _in(Case.closed_at, first, last)
    if session.get_bind().dialect.name == "postgresql":
        hours = sa.extract("epoch", Case.closed_at - Case.created_at) / 3600
        columns = []
        for i, (start, end) in enumerate(spans):
            columns += [sa.func.percentile_cont(q).within_group(hours).filter(_in(Case.closed_at, start, end))
                        .label(f"{name}_{i}") for name, q in (("median_hours", 0.5), ("p90_hours", 0.9))]
        query = sa.select(_key(group), *columns).where(closed)
        return _per_week(session.execute(_grouped(query, group)), len(spans), ("median_hours", "p90_hours"))
    hours = (sa.func.julianday(Case.closed_at) - sa.func.julianday(Case.created_at)) * 24
    spans_of: dict = {}
    for key, closed_at, value in session.execute(sa.select(_key(group), Case.closed_at, hours).where(closed)):
        for i, (start, end) in enumerate(spans):
            if start <= closed_at < end:
                spans_of.setdefault((i, key), []).append(value)
    return {k: {"median_hours": _percentile(v, 0.5), "p90_hours": _percentile(v, 0.9)} for k, v in spans_of.items()}


def _span(week: Week, tz: str, as_of: datetime | None = None) -> Span:
    """The week as [start, end) instants, cut short at as_of when the week is not over by then."""
    start, end = week.start(tz), week.end(tz)
    return (start, end) if as_of is None else (start, max(start, min(end, as_of)))


def figures_of_weeks(session: Session, weeks: list[Week], tz: str, by: str | None = None,
                     with_hours: bool = True, as_of: datetime | None = None) -> list[dict]:
    """The indicators of several weeks at once, one dict per week: {group key: figures} ({None: ...} overall);
    a week not over at as_of is counted up to as_of (what was due by then, closed by then)."""
    spans = [_span(w, tz, as_of) for w in weeks]
    group = GROUPS[by] if by else None
    counts = _case_counts(session, spans, group)
    events = _event_counts(session, spans, group)
    hours = _close_hours(session, spans, group) if with_hours else {}
    result = []
    for i in range(len(weeks)):
        keys = {k for (j, k) in set(counts) | set(events) | set(hours) if j == i}
        if by is None:
            keys.add(None)
        week = {}
        for key in keys:
            c = counts.get((i, key), {})
            f = {name: int(c.get(name) or 0) for name in COUNTS}
            f.update({name: int(events.get((i, key), {}).get(name) or 0) for name in ("rework", "extended")})
            if by is not None and not any(f.values()) and (i, key) not in hours:
                continue  # a group with nothing that week
            f["closure_rate"] = _rate(f["closed"], f["due"])  # the indicator "closed", not a state
            f["on_time_rate"] = _rate(f["on_time"], f["due"])
            f["rework_rate"] = _rate(f["rework"], f["due"])
            h = hours.get((i, key), {})
            f["median_hours"] = _round(h.get("median_hours"))
            f["p90_hours"] = _round(h.get("p90_hours"))
            week[key] = f
        result.append(week)
    return result


def figures(session: Session, week: Week, tz: str, by: str | None = None) -> dict:
    """The indicators of one week: {group key: figures}, or {None: figures} for the whole community."""
    return figures_of_weeks(session, [week], tz, by)[0]


def _round(value) -> float | None:
    return None if value is None else round(float(value), 1)


def overdue_open(session: Session, week: Week, tz: str, as_of: datetime | None = None) -> list[dict]:
    """Cases past their deadline and still open at the end of the week (at as_of, when the week is not over by
    then), oldest deadline first, by name."""
    end = _span(week, tz, as_of)[1]
    rows = session.execute(
        sa.select(Case.case_no, Category.name.label("category"), Grid.name.label("grid"),
                  User.display_name.label("assignee"), Case.assignee_unit, Case.deadline_at, Case.state)
        .join(Category, Category.id == Case.category_id).outerjoin(Grid, Grid.id == Case.grid_id)
        .outerjoin(User, User.id == Case.assignee_id)
        # open now, or closed only after the week ended: two index ranges, not a scan of every past deadline
        .where(Case.deadline_at < end, Case.created_at < end,
               sa.or_(Case.state.in_(OPEN), sa.and_(Case.state == CaseState.CLOSED, Case.closed_at >= end)))
        .order_by(Case.deadline_at, Case.id))
    return [{"case_no": r.case_no, "category": r.category, "grid": r.grid, "assignee": r.assignee or r.assignee_unit,
             "deadline_at": r.deadline_at.isoformat(),
             "hours_overdue": round((end - r.deadline_at).total_seconds() / 3600),
             "state": r.state} for r in rows]


def reporters(session: Session, week: Week, tz: str) -> list[dict]:
    """The reporters' ranking: reports, valid reports and points earned in the week, most points first."""
    start, end = week.start(tz), week.end(tz)
    reports = (sa.select(Case.reporter_id.label("uid"), sa.func.count().label("reports"),
                         _count_if(Case.state.notin_(NOT_VALID)).label("valid"))
               .where(_in(Case.created_at, start, end)).group_by(Case.reporter_id).subquery())
    points = (sa.select(PointsEntry.user_id.label("uid"), sa.func.sum(PointsEntry.points).label("points"))
              .where(_in(PointsEntry.created_at, start, end)).group_by(PointsEntry.user_id).subquery())
    people = sa.union(sa.select(reports.c.uid), sa.select(points.c.uid)).subquery()
    rows = session.execute(
        sa.select(User.username, User.display_name, sa.func.coalesce(reports.c.reports, 0).label("reports"),
                  sa.func.coalesce(reports.c.valid, 0).label("valid"),
                  sa.func.coalesce(points.c.points, 0).label("points"))
        .select_from(people).join(User, User.id == people.c.uid)
        .outerjoin(reports, reports.c.uid == people.c.uid).outerjoin(points, points.c.uid == people.c.uid))
    ranked = sorted((r._asdict() for r in rows), key=lambda r: (-r["points"], -r["valid"], -r["reports"],
                                                                r["username"]))
    return [{**r, "reports": int(r["reports"]), "valid": int(r["valid"]), "points": int(r["points"])} for r in ranked]


def _named_rows(session: Session, by: str, current: dict, previous: dict) -> list[dict]:
    """Group rows with their names, the current week's figures and the previous week's beside them."""
    model = {"grid": Grid, "category": Category, "assignee": User}[by]
    keys = [k for k in set(current) | set(previous) if k is not None]
    names = {}
    if keys:
        label = model.display_name if model is User else model.name
        names = dict(session.execute(sa.select(model.id, label).where(model.id.in_(keys))).all())
    empty = figures_of_nothing()
    rows = [{"name": names.get(k, "—"), "figures": current.get(k, empty), "previous": previous.get(k, empty)}
            for k in keys]
    unassigned = None in current or None in previous
    if unassigned:
        rows.append({"name": "（未分配）", "figures": current.get(None, empty), "previous": previous.get(None, empty)})
    return sorted(rows, key=lambda r: r["name"])


def figures_of_nothing() -> dict:
    """The figures of a group with no cases: zeros, and rates shown as —."""
    return {**dict.fromkeys(COUNTS, 0), "rework": 0, "extended": 0, "closure_rate": None, "on_time_rate": None,
            "rework_rate": None, "median_hours": None, "p90_hours": None}


def weekly_closure(session: Session, week: Week, tz: str, now: datetime) -> dict:
    """The whole report of a week: overall and per grid, category and assignee beside the week before, the
    overdue list, the reporters' ranking, and the last 8 weeks' closure rates. A week not over at `now` is
    reported as of now and marked in progress (进行中): what was due by now, late by now."""
    under_way = now < week.end(tz)
    as_of = now if under_way else week.end(tz)
    weeks = [week.shifted(-back) for back in range(7, -1, -1)]  # the trend's 8 weeks, this one last
    trend_figures = [f[None] for f in figures_of_weeks(session, weeks[:-2], tz, with_hours=False, as_of=as_of)]
    previous, current = figures_of_weeks(session, weeks[-2:], tz, as_of=as_of)
    trend_figures += [previous[None], current[None]]
    trend = [{"week": w.name, "closure_rate": f["closure_rate"], "on_time_rate": f["on_time_rate"],
              "partial": under_way and w == week} for w, f in zip(weeks, trend_figures)]
    report = {"week": week.name, "start": week.start(tz).isoformat(), "end": week.end(tz).isoformat(),
              "first_day": week.day(1).isoformat(), "last_day": week.day(7).isoformat(),  # the community's dates
              "built_at": now.isoformat(timespec="seconds"), "timezone": tz,
              "under_way": under_way, "as_of": as_of.isoformat(timespec="seconds"),
              "overall": current[None], "previous": previous[None],
              "overdue": overdue_open(session, week, tz, as_of), "reporters": reporters(session, week, tz),
              "trend": trend}
    for by in GROUPS:
        before_by, now_by = figures_of_weeks(session, weeks[-2:], tz, by, as_of=as_of)
        report[f"by_{by}"] = _named_rows(session, by, now_by, before_by)
    return report


def last_week(now: datetime, tz: str) -> Week:
    """The week before the one now falls in: what Monday morning's report is about."""
    return Week.containing(now, tz).shifted(-1)


def percent(rate: float | None) -> str:
    """A rate as people read it: 93.7%, or — when there was nothing due."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def headline(data: dict) -> str:
    """The report's headline for the staff group: received, valid, closed, the two rates, the overdue count."""
    f = data["overall"]
    closed = f["closed"]  # the indicator, not a state
    return (f"【随手拍周报 {data['week']}{progress_note(data)}】受理 {f['received']}，立案 {f['valid']}，"
            f"应结 {f['due']}，结案 {closed}，"
            f"结案率 {percent(f['closure_rate'])}，按期结案率 {percent(f['on_time_rate'])}，"
            f"超期未结 {len(data['overdue'])} 件")


def progress_note(data: dict) -> str:
    """" 进行中（截至 12-02 10:19）" for a week built before it was over, "" for a whole week."""
    if not data.get("under_way"):
        return ""
    return f" 进行中（截至 {local_time(datetime.fromisoformat(data['as_of']), data['timezone'], SHORT)}）"


def build_weekly_report(session: Session, week: Week, tz: str, now: datetime) -> WeeklyReport:
    """Build the week's report and keep it, replacing any earlier build of the same week."""
    data = weekly_closure(session, week, tz, now)
    report = session.get(WeeklyReport, week.name) or WeeklyReport(week=week.name)
    report.data, report.built_at = data, now
    session.add(report)
    session.commit()
    return report


def kept_report(session: Session, week_name: str) -> WeeklyReport | None:
    """The report built for the week so named (2026-W09), or None when none was built or it names no week."""
    try:
        week = Week.parse(week_name)
    except ValueError:
        return None
    return session.get(WeeklyReport, week.name)


def kept_reports(session: Session, limit: int = 104) -> list[WeeklyReport]:
    """The reports built so far, newest week first (two years of them by default)."""
    return list(session.scalars(sa.select(WeeklyReport).order_by(WeeklyReport.week.desc()).limit(limit)))
