"""Open311 GeoReport v2 in our words: services from the categories, a case as a service request with its public
status, the filters of a request list, jurisdictions as the district's levels, and W3C date-times."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.orm import Session

from service.models import Case, CaseEvent, Category, Community, Unit
from service.parsing import whole_number
from service.scope import Level
from service.states import OPEN, CaseState
from service.weekly_levels import DISTRICT_NAME, ReportScope, scope_named

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
COORD_SYSTEMS = (("wgs84", "WGS-84（GPS）"), ("gcj02", "GCJ-02（高德、腾讯地图）"), ("bd09", "BD-09（百度地图）"))
MAX_DESCRIPTION = 4000
DEFAULT_DAYS, MAX_DAYS = 90, 90  # a request list's default window, and the widest start_date..end_date
DEFAULT_LIMIT = 1000  # the most requests a list answers by default (the spec's)
MAX_PAGE_SIZE = 1000
SPEC_OPEN, SPEC_CLOSED = "open", "closed"  # not a state: the spec's two public statuses of a request
CLOSED_STATES = (CaseState.CLOSED, CaseState.REJECTED, CaseState.DUPLICATE)  # those it calls closed
_W3C = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)\Z", re.ASCII)


class Open311Error(Exception):
    """A request Open311 answers with an error list: its HTTP status (400, 403 or 404) and what was wrong."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status, self.description = status, description


def w3c(instant: datetime | None) -> str | None:
    """An instant as the spec writes it: W3C date-time in UTC, whole seconds, with its zone (2026-12-01T08:00:00Z)."""
    if instant is None:
        return None
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_w3c(text: str, name: str) -> datetime:
    """A W3C date-time a client sent (a zone required: Z or ±hh:mm; seconds and fractions optional), as an aware
    UTC instant; 400 naming the parameter otherwise."""
    match = _W3C.match(text.strip())
    if match is None:
        raise Open311Error(400, f"{name} must be a W3C date-time with a zone, like 2026-12-01T08:00:00Z")
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        offset = timedelta(0) if zone == "Z" else (1 if zone[0] == "+" else -1) * timedelta(
            hours=int(zone[1:3]), minutes=int(zone[-2:]))
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        return (local - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise Open311Error(400, f"{name} is not a real date and time") from None


def public_status(state: CaseState) -> str:
    """The spec's status of a case: closed once closed, not accepted or merged as a duplicate; open otherwise."""
    return SPEC_CLOSED if state in CLOSED_STATES else SPEC_OPEN


def jurisdiction(session: Session, code: str | None, district_code: str) -> ReportScope:
    """The part of the district a jurisdiction_id names: the district's own code (or none given), a street
    office's or a community's code, as GET /api/v1/communities lists them; 404 for any other."""
    if code is None or code.strip() == "" or code.strip() == district_code:
        return ReportScope(Level.DISTRICT)
    code = code.strip()
    for level in (Level.STREET_OFFICE, Level.COMMUNITY):
        found = scope_named(session, f"{level.value}:{code}")
        if found is not None:
            return found
    raise Open311Error(404, f"jurisdiction_id {code} is not this district ({district_code}), one of its street "
                            "offices or one of its communities")


def services(session: Session, names_en: dict[str, str]) -> list[dict]:
    """One service per active category, by code: its code, Chinese name, English name as the description,
    its major class as the group, realtime (a POST answers the case number at once), with attributes."""
    categories = session.scalars(sa.select(Category).where(Category.active.is_(True)).order_by(Category.code))
    return [{"service_code": c.code, "service_name": c.name, "description": names_en.get(c.code, ""),
             "metadata": True, "type": "realtime",
             "keywords": ",".join(k for k in (c.kind, c.major_class, names_en.get(c.code)) if k),
             "group": c.major_class} for c in categories]


def service_definition(session: Session, code: str) -> dict:
    """The attributes a request of this service may carry, in order: the coordinate system of lat and long (the
    maps Chinese phones use give GCJ-02 or BD-09) and the client's own id for the report (a repeat is not a
    second case); 404 for a code that is no active category."""
    if session.scalar(sa.select(Category.id).where(Category.code == code, Category.active.is_(True))) is None:
        raise Open311Error(404, f"service_code {code} is not a service of this district")
    return {"service_code": code, "attributes": [
        {"variable": True, "code": "coord_system", "datatype": "singlevaluelist", "required": False,
         "datatype_description": "wgs84 (the default), gcj02 or bd09", "order": 1,
         "description": "lat 与 long 的坐标系，默认 wgs84 (the coordinate system of lat and long)",
         "values": [{"key": key, "name": name} for key, name in COORD_SYSTEMS]},
        {"variable": True, "code": "client_report_id", "datatype": "string", "required": False,
         "datatype_description": "at most 64 printable characters", "order": 2,
         "description": "客户端自己的报告编号：重复提交不会产生第二个案件 (your own id of the report: sending it "
                        "again makes no second case)", "values": []}]}


@dataclass(frozen=True)
class RequestFilter:
    """What a GET requests list asks for, checked: the cases it names (overriding the rest), or services,
    statuses and the window of report times; with the page."""

    case_nos: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    page_size: int = DEFAULT_LIMIT

    @classmethod
    def from_args(cls, args, now: datetime) -> RequestFilter:
        """The filter from the query's parameters, an empty one being absent; 400 naming a bad one."""
        def listed(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in (args.get(name) or "").split(",") if v.strip())

        statuses = listed("status")
        if any(s not in (SPEC_OPEN, SPEC_CLOSED) for s in statuses):
            raise Open311Error(400, "status must be open, closed or both (open,closed)")
        start = parse_w3c(args["start_date"], "start_date") if args.get("start_date") else None
        end = parse_w3c(args["end_date"], "end_date") if args.get("end_date") else None
        try:
            if start is None and end is None:
                end = now
            if start is None:
                start = end - timedelta(days=DEFAULT_DAYS)
            if end is None:  # up to now (a start still to come finds nothing), at most the widest window
                end = max(start, min(now, start + timedelta(days=MAX_DAYS)))
        except OverflowError:
            raise Open311Error(400, "start_date or end_date is out of range") from None
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        if end - start > timedelta(days=MAX_DAYS):
            raise Open311Error(400, f"start_date and end_date may be at most {MAX_DAYS} days apart")
        page, size = _whole(args, "page", 1, 1, 10 ** 6), _whole(args, "page_size", DEFAULT_LIMIT, 1, MAX_PAGE_SIZE)
        return cls(listed("service_request_id"), listed("service_code"), statuses, start, end, page, size)

    def condition(self) -> sa.ColumnElement[bool]:
        """The cases asked for, as a condition on Case."""
        if self.case_nos:
            return Case.case_no.in_(self.case_nos)
        first, after = published_between(self.start, self.end)
        terms = [Case.created_at >= first, Case.created_at < after]
        if self.service_codes:
            terms.append(Case.category_id.in_(sa.select(Category.id).where(Category.code.in_(self.service_codes))))
        if len(set(self.statuses)) == 1:
            closed = Case.state.in_(CLOSED_STATES)
            terms.append(closed if self.statuses[0] == SPEC_CLOSED else ~closed)
        return sa.and_(*terms)


def published_between(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The instants from `first` until before `after` whose published time (W3C, whole seconds) lies between start
    and end: a request is found by a window at its own requested_datetime, an update by one at its own time."""
    first = start.replace(microsecond=0)
    if first < start:
        first += timedelta(seconds=1)
    try:
        return first, end.replace(microsecond=0) + timedelta(seconds=1)
    except OverflowError:  # end_date in the last second of year 9999
        return first, datetime.max.replace(tzinfo=UTC)


def _whole(args, name: str, default: int, low: int, high: int) -> int:
    text = args.get(name) or ""
    if not text.strip():
        return default
    try:
        return whole_number(text, low, high)
    except ValueError:
        raise Open311Error(400, f"{name} must be a whole number from {low} to {high}") from None


def find_requests(session: Session, wanted: RequestFilter, scope: ReportScope) -> list[Case]:
    """The cases of the jurisdiction the filter asks for, newest report first, one page of them."""
    query = sa.select(Case).where(wanted.condition()).order_by(Case.created_at.desc(), Case.id.desc())
    if scope.condition is not None:
        query = query.where(scope.condition)
    query = query.options(so.selectinload(Case.category), so.selectinload(Case.grid), so.selectinload(Case.events),
                          so.selectinload(Case.photos),  # media_url: not one query per case of a page of 1000
                          so.selectinload(Case.community).selectinload(Community.street_office))
    return list(session.scalars(query.limit(wanted.page_size).offset((wanted.page - 1) * wanted.page_size)))


def find_request(session: Session, case_no: str, scope: ReportScope) -> Case:
    """The case with that number in the jurisdiction; 404 when there is none."""
    query = sa.select(Case).where(Case.case_no == case_no)
    case = session.scalar(query.where(scope.condition) if scope.condition is not None else query)
    if case is None:
        raise Open311Error(404, f"service_request_id {case_no} is not a request of this jurisdiction")
    return case


def status_notes(case: Case) -> str:
    """The public note of a case's last change of state: why it was not accepted, how it was closed, which case it
    duplicates; empty while open."""
    if case.state not in CLOSED_STATES:
        return ""
    last: CaseEvent | None = next((e for e in reversed(case.events) if e.to_state == case.state), None)
    if case.state is CaseState.DUPLICATE and case.duplicate_of is not None:
        return f"与 {case.duplicate_of.case_no} 为同一问题 (a duplicate of {case.duplicate_of.case_no})"
    return (last.note if last is not None else "") or case.state.zh


def agency_responsible(case: Case, units: dict[str, str]) -> str:
    """Who has the case: the unit it was handed to, its grid's worker, or its community (street office) staff."""
    if case.assignee_unit:
        return units.get(case.assignee_unit, case.assignee_unit)
    if case.grid is not None and case.state in OPEN and case.state is not CaseState.UNROUTED:
        return f"{case.grid.name}网格"
    if case.community is not None:
        return case.community.name
    return DISTRICT_NAME


def address(case: Case) -> str:
    """Where the case is, in words: its street office, community and grid."""
    parts = [case.community.street_office.name, case.community.name] if case.community is not None else []
    if case.grid is not None:
        parts.append(f"{case.grid.name}网格")
    return " ".join(parts)


def unit_names(session: Session) -> dict[str, str]:
    """Every unit's name by its code."""
    return dict(session.execute(sa.select(Unit.code, Unit.name)).all())


def service_request(case: Case, units: dict[str, str], media_url: str | None) -> dict:
    """A case as the spec's request, its fields in the spec's order; no reporter's identity, ever."""
    return {"service_request_id": case.case_no, "status": public_status(case.state),
            "status_notes": status_notes(case), "service_name": case.category.name,
            "service_code": case.category.code, "description": case.description,
            "agency_responsible": agency_responsible(case, units), "service_notice": "",
            "requested_datetime": w3c(case.created_at), "updated_datetime": w3c(case.updated_at),
            "expected_datetime": w3c(case.deadline_at), "address": address(case), "address_id": "", "zipcode": "",
            "lat": case.lat, "long": case.lon, "media_url": media_url or ""}



# the updates extension (mySociety's servicerequestupdates): each public change of a case's state as the extended
# status FixMyStreet and open311-adapter read (lower case), by the action that made it and else the state it led to.
# A transfer or escalation is no internal_referral: FixMyStreet reads that as closed (and so does our own client, as
# "not ours"), while the case is still ours, at another desk: open.
UPDATE_STATUS_OF_ACTION = {"reopen": "reopen", "rework": "reopen"}
UPDATE_STATUS_OF_STATE = {CaseState.UNROUTED: "open", CaseState.DISPATCHED: "action_scheduled",
                          CaseState.IN_PROGRESS: "in_progress",  # not a state: the extension's status of the same name
                          CaseState.RESOLVED: "fixed",
                          CaseState.CLOSED: "closed",  # not a state: the extension's status of the same name
                          CaseState.REJECTED: "no_further_action",
                          CaseState.DUPLICATE: "duplicate",  # not a state: the extension's status of the same name
                          CaseState.NEW: "open"}
PUBLIC_NOTE_ACTIONS = ("close", "reject")  # whose note is written for the public (as status_notes)
DEFAULT_UPDATE_HOURS = 24  # the window of an updates list asked for with no dates


@dataclass(frozen=True)
class UpdateWindow:
    """What a servicerequestupdates list asks for: the instants its updates fall between, and the page."""

    start: datetime
    end: datetime
    page: int = 1
    page_size: int = DEFAULT_LIMIT

    @classmethod
    def from_args(cls, args, now: datetime) -> UpdateWindow:
        """Both dates or neither (the last DEFAULT_UPDATE_HOURS), at most MAX_DAYS apart; 400 otherwise."""
        given = [name for name in ("start_date", "end_date") if (args.get(name) or "").strip()]
        if len(given) == 1:
            raise Open311Error(400, "start_date and end_date go together: give both or neither")
        if given:
            start, end = parse_w3c(args["start_date"], "start_date"), parse_w3c(args["end_date"], "end_date")
        else:
            start, end = now - timedelta(hours=DEFAULT_UPDATE_HOURS), now
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        if end - start > timedelta(days=MAX_DAYS):
            raise Open311Error(400, f"start_date and end_date may be at most {MAX_DAYS} days apart")
        page, size = _whole(args, "page", 1, 1, 10 ** 6), _whole(args, "page_size", DEFAULT_LIMIT, 1, MAX_PAGE_SIZE)
        return cls(start, end, page, size)


def find_updates(session: Session, window: UpdateWindow, scope: ReportScope) -> list[CaseEvent]:
    """The changes of state of the jurisdiction's cases in the window, oldest first (a case's in their order)."""
    first, after = published_between(window.start, window.end)
    query = (sa.select(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
             .where(CaseEvent.created_at >= first, CaseEvent.created_at < after,
                    CaseEvent.from_state.is_not(None), CaseEvent.from_state != CaseEvent.to_state)
             .order_by(CaseEvent.created_at, CaseEvent.id)
             .options(so.selectinload(CaseEvent.case).selectinload(Case.photos)))
    if scope.condition is not None:
        query = query.where(scope.condition)
    return list(session.scalars(query.limit(window.page_size).offset((window.page - 1) * window.page_size)))


def update_status(event: CaseEvent) -> str:
    """The extended status of a change of state (open, action_scheduled, in_progress, fixed, closed, reopen...)."""
    return UPDATE_STATUS_OF_ACTION.get(event.action) or UPDATE_STATUS_OF_STATE[event.to_state]


def update_description(event: CaseEvent) -> str:
    """What the update says: the note written for the public (a close or rejection reason), else the new state."""
    if event.action in PUBLIC_NOTE_ACTIONS and event.note:
        return event.note
    return f"{event.to_state.zh} ({event.to_state.en})"


def request_update(event: CaseEvent, media_url: str | None) -> dict:
    """An event as the extension's request_update; its update_id the event's own, which never changes."""
    return {"update_id": str(event.id), "service_request_id": event.case.case_no, "status": update_status(event),
            "updated_datetime": w3c(event.created_at), "description": update_description(event),
            "media_url": media_url or ""}
