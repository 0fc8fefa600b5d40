"""The weekly report's scopes (the district, a street office, a community), who may read which, and how the
parts' figures roll up into every scope's figures and league table (rates re-derived from summed counts)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.orm import Session

from service.models import Case, Community, StreetOffice, User
from service.scope import Level, level_of
from service.weekly_figures import COUNTS, EVENT_COUNTS, PART_COUNTS, Where

DISTRICT = "district"  # the district's scope key; the others are "street_office:<code>" and "community:<code>"
DISTRICT_NAME = "全区"
OWN = "+own"  # after a scope's key: its cases in none of its parts (a street office's own, the district's own)
OWN_NAME = "（本级直接办理）"
ALL_COUNTS = (*COUNTS, *EVENT_COUNTS, *PART_COUNTS)
NO_COUNTS = dict.fromkeys(ALL_COUNTS, 0)
# the send-back reasons an assignee picks from (service.lifecycle), as the report names them
SEND_BACK_REASONS = {"not_ours": "不属本单位职责", "wrong_location": "位置不准", "incomplete": "信息不全",
                     "duplicate": "重复", "other": "其他"}  # not a state: a reason's code


@dataclass(frozen=True)
class ReportScope:
    """Whose report: the district, one street office or one community (its id; a community's office too)."""

    level: Level
    code: str | None = None
    name: str = DISTRICT_NAME
    id: int | None = None
    office_id: int | None = None  # a street office's own id, a community's office
    office_name: str | None = None

    @property
    def key(self) -> str:
        """The scope as reports are kept and URLs name it: district, street_office:hqjd, community:hqsq."""
        return DISTRICT if self.level is Level.DISTRICT else f"{self.level.value}:{self.code}"

    @property
    def condition(self) -> Where:
        """The scope's cases, as a condition on Case (None: all of them)."""
        if self.level is Level.COMMUNITY:
            return Case.community_id == self.id
        if self.level is Level.STREET_OFFICE:
            return Case.street_office_id == self.id
        return None

    def holds(self, other: ReportScope) -> bool:
        """The other scope is this one or lies inside it."""
        if self.level is Level.DISTRICT or self == other:
            return True
        return self.level is Level.STREET_OFFICE and other.office_id == self.id


def district_scopes(session: Session) -> list[ReportScope]:
    """Every scope of the district: the district, then each street office followed by its communities."""
    scopes = [ReportScope(Level.DISTRICT)]
    offices = sa.select(StreetOffice).order_by(StreetOffice.code).options(so.selectinload(StreetOffice.communities))
    for office in session.scalars(offices):
        scopes.append(ReportScope(Level.STREET_OFFICE, office.code, office.name, office.id, office.id, office.name))
        scopes += [ReportScope(Level.COMMUNITY, c.code, c.name, c.id, office.id, office.name)
                   for c in office.communities]
    return scopes


def scope_named(session: Session, key: str) -> ReportScope | None:
    """The scope a key names (district, street_office:<code>, community:<code>), or None."""
    level, _, code = key.partition(":")
    if key == DISTRICT:
        return ReportScope(Level.DISTRICT)
    if level == Level.STREET_OFFICE.value:
        office = session.scalar(sa.select(StreetOffice).where(StreetOffice.code == code))
        return office and ReportScope(Level.STREET_OFFICE, office.code, office.name, office.id, office.id, office.name)
    if level == Level.COMMUNITY.value:
        c = session.scalar(sa.select(Community).where(Community.code == code))
        return c and ReportScope(Level.COMMUNITY, c.code, c.name, c.id, c.street_office_id, c.street_office.name)
    return None


def own_scope(session: Session, user: User) -> ReportScope:
    """The scope of the staff member's own level: their community, their street office, or the district."""
    level = level_of(user)
    if level is Level.COMMUNITY:
        return scope_named(session, f"{level.value}:{user.community.code}")
    if level is Level.STREET_OFFICE:
        return scope_named(session, f"{level.value}:{user.street_office.code}")
    return ReportScope(Level.DISTRICT)


def readable_scopes(session: Session, user: User) -> list[ReportScope]:
    """The scopes whose reports the staff member may read: their own and those inside it."""
    own = own_scope(session, user)
    return [s for s in district_scopes(session) if own.holds(s)]


def parts_of(scope: ReportScope, scopes: list[ReportScope]) -> list[ReportScope]:
    """The parts a scope's league table ranks: the district's street offices and communities, an office's
    communities; a community has none."""
    if scope.level is Level.COMMUNITY:
        return []
    return [s for s in scopes if s != scope and scope.holds(s)]


class Rollup:
    """Where each part's rows add up: the (office id, community id) of a case to the keys of the scopes holding
    it — its community, its street office, the district."""

    def __init__(self, scopes: list[ReportScope]):
        self.offices = {s.id: s.key for s in scopes if s.level is Level.STREET_OFFICE}
        self.communities = {s.id: s.key for s in scopes if s.level is Level.COMMUNITY}
        self.level = {s.key: s.level for s in scopes} | {key + OWN: level for key, level in (
            (DISTRICT, Level.DISTRICT), *((k, Level.STREET_OFFICE) for k in self.offices.values()))}
        self._targets: dict[tuple, list[str]] = {}

    def targets(self, office: int | None, community: int | None) -> list[str]:
        """The scope keys a case of that part counts in (a case of no community counts in its office's and the
        district's figures only)."""
        found = self._targets.get((office, community))
        if found is None:
            found = self._targets[(office, community)] = self._targets_of(office, community)
        return found

    def _targets_of(self, office: int | None, community: int | None) -> list[str]:
        keys = [DISTRICT]
        if office in self.offices:
            keys.append(self.offices[office])
        if community in self.communities:
            keys.append(self.communities[community])
        elif office in self.offices:
            keys.append(self.offices[office] + OWN)  # the office's own work, in none of its communities
        else:
            keys.append(DISTRICT + OWN)
        return keys

    def counts(self, *tallies: dict, levels: tuple[Level, ...] | None = None) -> dict:
        """{scope key: {(week index, group key): summed counts}} from tallies keyed (week, office, community, key);
        with levels, only the scopes of those levels."""
        out: dict = defaultdict(dict)
        wanted: dict[tuple, list[str]] = {}  # a part's targets of those levels
        for tally in tallies:
            for (i, office, community, key), values in tally.items():
                targets = wanted.get((office, community))
                if targets is None:
                    targets = wanted[(office, community)] = [
                        t for t in self.targets(office, community) if levels is None or self.level[t] in levels]
                for target in targets:
                    into = out[target].get((i, key))
                    if into is None:
                        out[target][(i, key)] = {**NO_COUNTS, **values}
                    else:
                        for name, value in values.items():
                            into[name] += value
        return out

    def spread(self, rows, make):
        """{scope key: [make(row)]} for rows whose first two items are office and community, each in every scope
        holding it."""
        out = defaultdict(list)
        for row in rows:
            office, community = row[:2]
            for target in self.targets(office, community):
                out[target].append(make(row))
        return out


def with_rates(counts: dict) -> dict:
    """The counts with the rates derived from them (None when there is nothing to divide by, shown as —)."""
    f = {**NO_COUNTS, **counts}
    f["closure_rate"] = rate(f["closed"], f["due"])  # the indicator "closed", not a state
    f["on_time_rate"] = rate(f["on_time"], f["due"])
    f["rework_rate"] = rate(f["rework"], f["due"])
    f["send_back_rate"] = rate(f["sent_back"], f["dispatched"])  # not a state: a count's name
    return f


def rate(part: int, whole: int) -> float | None:
    """part ÷ whole, or None when there is nothing to divide by (shown as —)."""
    return None if not whole else part / whole


def league_order(row: dict):
    """The league table's order: 结案率 then 按期结案率 highest first, then 返工率 lowest; a part with nothing due
    after every part with something, then by code."""
    f = row["figures"]

    def high(rate):
        return (1, 0) if rate is None else (0, -rate)

    low = (1, 0) if f["rework_rate"] is None else (0, f["rework_rate"])
    return high(f["closure_rate"]), high(f["on_time_rate"]), low, row["code"]


def ranking(parts: list[ReportScope], figures: dict) -> list[dict]:
    """The parts ranked (名次 from 1), each with its figures and its report's scope key."""
    rows = sorted(({"scope": p.key, "code": p.code, "name": p.name, "level": p.level.value,
                    "office": p.office_name if p.level is Level.COMMUNITY else None,
                    "figures": figures[p.key]} for p in parts), key=league_order)
    return [{**row, "rank": n} for n, row in enumerate(rows, start=1)]


def reason_counts(reasons: list[str]) -> list[dict]:
    """The send-back reasons with how many of each, in the list's order, those not given left out."""
    known = [r if r in SEND_BACK_REASONS else "other" for r in reasons]
    tally = {code: known.count(code) for code in SEND_BACK_REASONS}
    return [{"reason": code, "name": SEND_BACK_REASONS[code], "count": n} for code, n in tally.items() if n]
