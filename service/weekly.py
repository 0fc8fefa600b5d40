"""The weekly closure report (周报) of each part of the district: the standard indicators per week, grid, category
and assignee, the league table of its parts, built for every scope from one set of SQL aggregates."""
from __future__ import annotations

import gc
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer

from service.db import at_once
from service.local_time import SHORT, local_time
from service.models import WeeklyReport
from service.parsing import EARLIEST_INSTANT, LATEST_INSTANT, whole_number
from service.scope import Level
from service.weekly_figures import (
    GROUPS,
    OVERDUE_FIELDS,
    Span,
    Where,
    case_counts,
    close_hours,
    grouped_case_counts,
    grouped_event_counts,
    names_of,
    overdue_open,
    percentile,
    reporter_counts,
    send_back_reasons,
)
from service.weekly_levels import (
    DISTRICT,
    DISTRICT_NAME,
    NO_COUNTS,
    OWN,
    OWN_NAME,
    ReportScope,
    Rollup,
    district_scopes,
    parts_of,
    ranking,
    rate,
    reason_counts,
    scope_named,
    with_rates,
)

# the years a report can be built for: its week, the week before and the 8-week trend, in any zone, stay
# among the instants we take (year 9999-W52's end, or 0001-W01's trend, would leave the calendar)
FIRST_YEAR, LAST_YEAR = EARLIEST_INSTANT.year + 1, LATEST_INSTANT.year - 1
# the group tables of each level's report: above a community, its grids and workers are its communities' to list
# (their reports are a click away in the league table), the categories compared across them
GROUPS_OF_LEVEL = {Level.COMMUNITY: ("grid", "category", "assignee"), Level.STREET_OFFICE: ("category",),
                   Level.DISTRICT: ("category",)}


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


def _span(week: Week, tz: str, as_of: datetime | None = None) -> Span:
    """The week as [start, end) instants, cut short at as_of when the week is not over by then."""
    start, end = week.start(tz), week.end(tz)
    return (start, end) if as_of is None else (start, max(start, min(end, as_of)))


def _round(value) -> float | None:
    return None if value is None else round(float(value), 1)


def _hours(values: list[float] | None) -> dict:
    if not values:  # most groups' figures (every one of the week before): nothing closed to take times of
        return {"median_hours": None, "p90_hours": None}
    values = sorted(values)  # once: sorting it again for each quantile is then cheap
    return {"median_hours": _round(percentile(values, 0.5)), "p90_hours": _round(percentile(values, 0.9))}


def figures_of_weeks(session: Session, weeks: list[Week], tz: str, by: str | None = None,
                     with_hours: bool = True, as_of: datetime | None = None, where: Where = None) -> list[dict]:
    """The indicators of several weeks of the cases `where` holds (all when None), one dict per week:
    {group key: figures} ({None: ...} overall); a week not over at as_of is counted up to as_of."""
    spans = [_span(w, tz, as_of) for w in weeks]
    summed: dict = defaultdict(dict)
    for tally in (grouped_case_counts(session, spans, where)[by], grouped_event_counts(session, spans, where)[by]):
        for (i, _, _, key), values in tally.items():
            into = summed[(i, key)]
            for name, value in values.items():
                into[name] = into.get(name, 0) + value
    result = []
    for i, span in enumerate(spans):
        hours = defaultdict(list)
        for row in close_hours(session, span, where) if with_hours else ():
            hours[getattr(row, by) if by else None].append(row.hours)
        keys = {k for (j, k) in summed if j == i} | set(hours) | ({None} if by is None else set())
        result.append({k: {**with_rates(summed.get((i, k), {})), **_hours(hours.get(k))} for k in keys})
    return result


def figures(session: Session, week: Week, tz: str, by: str | None = None, where: Where = None) -> dict:
    """The indicators of one week: {group key: figures}, or {None: figures} for the whole scope."""
    return figures_of_weeks(session, [week], tz, by, where=where)[0]


class _Tallies:
    """One week's SQL aggregates for every part of the district the condition holds, rolled up into every scope:
    the same queries whether one community's report is built or all of the district's."""

    def __init__(self, session: Session, week: Week, tz: str, as_of: datetime, where: Where, keys: list[str],
                 everywhere: list[ReportScope]):
        self.rollup = Rollup(everywhere)
        weeks = [week.shifted(-back) for back in range(7, -1, -1)]  # the trend's 8 weeks, this one last
        spans = [_span(w, tz, as_of) for w in weeks]
        self.weeks, self.end = weeks, spans[-1][1]
        read = at_once(session, {  # the longest first
            "counts": lambda s: grouped_case_counts(s, spans[-2:], where),
            "events": lambda s: grouped_event_counts(s, spans[-2:], where),
            "reporters": lambda s: reporter_counts(s, spans[-1], where),
            "hours": lambda s: close_hours(s, spans[-1], where),
            "overdue": lambda s: overdue_open(s, self.end, where),
            "trend": lambda s: _published_rates(s, weeks[:-2], tz, spans[:-2], keys, where, self.rollup),
            "reasons": lambda s: send_back_reasons(s, spans[-1], where)})
        self.trend, counts, events = read["trend"], read["counts"], read["events"]
        self.by = {}
        for by in (None, *GROUPS):
            levels = tuple(level for level, groups in GROUPS_OF_LEVEL.items() if by is None or by in groups)
            self.by[by] = self.rollup.counts(counts[by], events[by], levels=levels)
        self.hours = defaultdict(list)  # (scope key, group, key): hours, of this week's closures
        parts: dict = defaultdict(list)  # the same per (office, community, group, key), then added to each target
        for office, community, *of_groups, hours in read["hours"]:  # of_groups in GROUPS' order
            parts[(office, community, None, None)].append(hours)
            for by, key in zip(GROUPS, of_groups):
                parts[(office, community, by, key)].append(hours)
        for (office, community, by, key), hours in parts.items():
            for target in self.rollup.targets(office, community):
                if by is None or by in GROUPS_OF_LEVEL[self.rollup.level[target]]:
                    self.hours[(target, by, key)].extend(hours)
        self.overdue = self.rollup.spread(read["overdue"], lambda r: r[2])
        self.reasons = self.rollup.spread(read["reasons"], lambda r: r[2])
        self.reporters = self.rollup.spread(read["reporters"], lambda r: r)
        self.names = {by: names_of(session, by, {k for tally in self.by[by].values() for (_, k) in tally})
                      for by in GROUPS}
        self.made: dict[tuple, dict] = {}  # the figures made so far, by (scope key, by, group, week)

    def figures(self, key: str, by: str | None = None, group=None, week: int = 1) -> dict:
        """A scope's figures (this week's: 1, the week before's: 0), overall or of one group; close times this
        week's only."""
        found = self.made.get((key, by, group, week))  # a part's figures are in its report and its parents'
        if found is None:
            counts = self.by[by].get(key, {}).get((week, group), NO_COUNTS)
            hours = self.hours.get((key, by, group)) if week == 1 else None
            found = self.made[(key, by, group, week)] = with_rates(counts) | _hours(hours)
        return found

    def previous_rates(self, key: str, by: str, group) -> dict:
        """A group's 结案率 and 按期结案率 of the week before: all its row shows of that week (a district has some
        10^4 group rows, and their whole figures would be a third of its reports' size)."""
        f = self.by[by].get(key, {}).get((0, group)) or NO_COUNTS
        closed = f["closed"]  # the indicator, not a state
        return {"closure_rate": rate(closed, f["due"]), "on_time_rate": rate(f["on_time"], f["due"])}

    def group_rows(self, key: str, by: str) -> list[dict]:
        """The scope's rows of a group table, with their names, this week's figures and the week before's rates."""
        groups = {g for (_, g) in self.by[by].get(key, {})}
        names = self.names[by]
        rows = [{"name": names.get(g, "—") if g is not None else "（未分配）", "figures": self.figures(key, by, g),
                 "previous": self.previous_rates(key, by, g)} for g in groups]
        return sorted(rows, key=lambda r: (r["name"] == "（未分配）", r["name"]))

    def reporters_of(self, key: str) -> list[dict]:
        """The reporters' ranking of a scope: reports, valid reports and points this week, most points first."""
        people: dict = {}
        for r in self.reporters.get(key, []):
            p = people.setdefault(r.username, {"username": r.username, "display_name": r.display_name,
                                               "reports": 0, "valid": 0, "points": 0})
            p["reports"] += int(r.reports)
            p["valid"] += int(r.valid)
            p["points"] += int(r.points)
        return sorted(people.values(), key=lambda r: (-r["points"], -r["valid"], -r["reports"], r["username"]))

    def trend_of(self, key: str, under_way: bool) -> list[dict]:
        """The scope's last 8 weeks' closure rates, this one last (marked partial when under way)."""
        weekly = [self.trend[(w.name, key)] for w in self.weeks[:-2]] + [self.figures(key, week=0), self.figures(key)]
        return [{"week": w.name, "closure_rate": f["closure_rate"], "on_time_rate": f["on_time_rate"],
                 "partial": under_way and i == len(self.weeks) - 1} for i, (w, f) in enumerate(zip(self.weeks, weekly))]


def _published_rates(session: Session, weeks: list[Week], tz: str, spans: list[Span], keys: list[str], where: Where,
                     rollup: Rollup) -> dict[tuple[str, str], dict]:
    """{(week name, scope key): figures} of the trend's earlier weeks for those scopes: as each week's own report
    published them (kept, built once the week was over; the weekly job keeps one every Monday), and counted from
    the cases for a week that one of the scopes has no such report of."""
    kept = session.execute(
        sa.select(WeeklyReport.week, WeeklyReport.scope, WeeklyReport.built_at, WeeklyReport.overall)
        .where(WeeklyReport.week.in_([w.name for w in weeks]), WeeklyReport.overall.is_not(None)))
    ends = {w.name: w.end(tz) for w in weeks}
    rates = {(r.week, r.scope): r.overall for r in kept if r.built_at >= ends[r.week]}
    missing = [i for i, w in enumerate(weeks) if any((w.name, key) not in rates for key in keys)]
    if missing:
        counted = rollup.counts(case_counts(session, [spans[i] for i in missing], where))
        for j, i in enumerate(missing):
            rates.update({(weeks[i].name, key): with_rates(counted.get(key, {}).get((j, None), {})) for key in keys})
    return rates


def _rankings(tallies: _Tallies, scope: ReportScope, scopes: list[ReportScope]) -> list[dict]:
    """The scope's league tables: the district's of its street offices and of all communities, an office's of its
    communities; under the direct parts' table, the scope's own cases in none of them, when it has any."""
    parts = parts_of(scope, scopes)
    tables = []
    for level in (Level.STREET_OFFICE, Level.COMMUNITY):
        ranked = [p for p in parts if p.level is level]
        if not ranked:
            continue
        table = {"level": level.value, "title": f"{level.zh}排名", "title_en": f"{level.en} ranking",
                 "rows": ranking(ranked, {p.key: tallies.figures(p.key) for p in ranked}), "own": None}
        direct = level is (Level.STREET_OFFICE if scope.level is Level.DISTRICT else Level.COMMUNITY)
        own = tallies.figures(scope.key + OWN)
        if direct and (own["received"] or own["due"] or own["dispatched"]):  # not a state: a count's name
            table["own"] = {"name": OWN_NAME, "figures": own}
        tables.append(table)
    return tables


def _report(tallies: _Tallies, scope: ReportScope, scopes: list[ReportScope], week: Week, tz: str,
            now: datetime) -> dict:
    """One scope's whole report from the week's tallies."""
    under_way = now < week.end(tz)
    as_of = now if under_way else week.end(tz)
    key = scope.key
    report = {"week": week.name, "start": week.start(tz).isoformat(), "end": week.end(tz).isoformat(),
              "first_day": week.day(1).isoformat(), "last_day": week.day(7).isoformat(),  # the community's dates
              "built_at": now.isoformat(timespec="seconds"), "timezone": tz,
              "under_way": under_way, "as_of": as_of.isoformat(timespec="seconds"),
              "scope": key, "level": scope.level.value, "scope_name": scope.name,
              "office_name": scope.office_name if scope.level is Level.COMMUNITY else None,
              "overall": tallies.figures(key), "previous": tallies.figures(key, week=0),
              "overdue": tallies.overdue.get(key, []), "overdue_fields": list(OVERDUE_FIELDS),
              "reporters": tallies.reporters_of(key),
              "send_back_reasons": reason_counts(tallies.reasons.get(key, [])),
              "trend": tallies.trend_of(key, under_way), "rankings": _rankings(tallies, scope, scopes)}
    for by in GROUPS:
        report[f"by_{by}"] = tallies.group_rows(key, by) if by in GROUPS_OF_LEVEL[scope.level] else []
    return report


def weekly_reports(session: Session, week: Week, tz: str, now: datetime,
                   scopes: list[ReportScope] | None = None) -> dict[str, dict]:
    """The week's report of each scope ({scope key: report}; every scope of the district when None), from one
    set of queries over the first scope's cases when it holds the others (one community's report reads only that
    community's cases), over all of them otherwise. A week not over at `now` is reported as of now and marked in
    progress (进行中): what was due by now, late by now."""
    everywhere = district_scopes(session)
    scopes = everywhere if scopes is None else scopes
    where = scopes[0].condition if all(scopes[0].holds(s) for s in scopes) else None
    as_of = now if now < week.end(tz) else week.end(tz)
    with _no_collection():
        tallies = _Tallies(session, week, tz, as_of, where, [s.key for s in scopes], everywhere)
        return {s.key: _report(tallies, s, everywhere, week, tz, now) for s in scopes}


@contextmanager
def _no_collection():
    """Python's cycle collector paused: the district's reports are some 10^5 small dicts and lists, none in a
    cycle, that it would otherwise walk again and again while they are made (a fifth of the build's time)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def weekly_closure(session: Session, week: Week, tz: str, now: datetime, scope: str = DISTRICT) -> dict:
    """The whole report of a week for one scope (its key): overall and per group beside the week before, the
    overdue list, the reporters' ranking, the last 8 weeks' closure rates and, above a community, its parts
    ranked."""
    named = scope_named(session, scope)
    if named is None:
        raise ValueError(f"no such report scope: {scope}")
    return weekly_reports(session, week, tz, now, [named])[named.key]


def last_week(now: datetime, tz: str) -> Week:
    """The week before the one now falls in: what Monday morning's report is about."""
    return Week.containing(now, tz).shifted(-1)


def percent(rate: float | None) -> str:
    """A rate as people read it: 93.7%, or — when there was nothing due."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def headline(data: dict) -> str:
    """The report's headline for its staff group: whose, received, valid, closed, the two rates, the overdue
    count."""
    f = data["overall"]
    closed = f["closed"]  # the indicator, not a state
    whose = data.get("scope_name") or DISTRICT_NAME  # reports kept before scopes were the one community's
    return (f"【随手拍周报 {data['week']}{progress_note(data)} {whose}】受理 {f['received']}，立案 {f['valid']}，"
            f"应结 {f['due']}，结案 {closed}，"
            f"结案率 {percent(f['closure_rate'])}，按期结案率 {percent(f['on_time_rate'])}，"
            f"超期未结 {len(data['overdue'])} 件")


def progress_note(data: dict) -> str:
    """" 进行中（截至 12-02 10:19）" for a week built before it was over, "" for a whole week."""
    if not data.get("under_way"):
        return ""
    return f" 进行中（截至 {local_time(datetime.fromisoformat(data['as_of']), data['timezone'], SHORT)}）"


def _kept(session: Session, week: Week, built: dict[str, dict], now: datetime) -> list[WeeklyReport]:
    """The week's reports of those scopes ({scope key: data}) kept, replacing earlier builds: those read in one
    query, their old data never loaded (each is overwritten)."""
    earlier = {r.scope: r for r in session.scalars(
        sa.select(WeeklyReport).options(defer(WeeklyReport.data))
        .where(WeeklyReport.week == week.name, WeeklyReport.scope.in_(list(built))))}
    reports = []
    for key, data in built.items():
        report = earlier.get(key) or WeeklyReport(week=week.name, scope=key)
        report.data, report.overall, report.built_at = data, data["overall"], now
        reports.append(report)
    session.add_all(reports)
    return reports


def build_weekly_report(session: Session, week: Week, tz: str, now: datetime, scope: str = DISTRICT) -> WeeklyReport:
    """Build one scope's report of the week (the district's by default) and keep it, replacing an earlier build."""
    [report] = _kept(session, week, {scope: weekly_closure(session, week, tz, now, scope)}, now)
    session.commit()
    return report


def build_weekly_reports(session: Session, week: Week, tz: str, now: datetime,
                         scopes: list[ReportScope] | None = None) -> list[WeeklyReport]:
    """Build and keep the week's report of those scopes (the first holding the others, as readable_scopes lists
    them) from one set of queries, replacing earlier builds; of every scope of the district when None."""
    reports = _kept(session, week, weekly_reports(session, week, tz, now, scopes), now)
    session.commit()
    return reports


def build_all_weekly_reports(session: Session, week: Week, tz: str, now: datetime) -> list[WeeklyReport]:
    """Build and keep the week's report of every scope — the district first, each street office followed by its
    communities — from one set of queries (the weekly job and `report weekly`)."""
    return build_weekly_reports(session, week, tz, now)


def kept_report(session: Session, week_name: str, scope: str = DISTRICT) -> WeeklyReport | None:
    """The report built for the week so named (2026-W09) and scope, or None when none was built or it names no
    week."""
    try:
        week = Week.parse(week_name)
    except ValueError:
        return None
    return session.get(WeeklyReport, (week.name, scope))


def kept_reports(session: Session, scopes: list[str] | None = None, limit: int = 104) -> list[WeeklyReport]:
    """The reports built so far of those scopes (all when None), newest week first, then by scope."""
    query = sa.select(WeeklyReport).order_by(WeeklyReport.week.desc(), WeeklyReport.scope).limit(limit)
    return list(session.scalars(query.where(WeeklyReport.scope.in_(scopes)) if scopes is not None else query))
