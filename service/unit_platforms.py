"""Cases handed to a unit with its own platform: each sent there over Open311 by a job of its own, and the
platform's updates applied to the case once each (FIXED: fixed, awaiting the check; NO_FURTHER_ACTION: sent back).

A unit's settings come from units.json (`open311`): its endpoint, api_key (or api_key_env, the name of an
environment variable holding it), jurisdiction_id, service_codes (our category code -> theirs; a category not
named keeps its own code) and format (xml, as every server speaks, or json).
"""
from __future__ import annotations

import io
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service import lifecycle
from service.auth import Role
from service.cases import IntakeLimits, add_after_photos
from service.event_words import SEND_BACK_REASONS
from service.follow_ups import SEND_TO_UNIT, FollowUp
from service.lifecycle import Outcome
from service.models import Case, Unit, UnitRequest, UnitUpdate, User
from service.notifications import announce
from service.open311 import address
from service.open311_remote import Photo, Platform, RemoteError, RemoteUpdate, parse_instant
from service.photo_store import PhotoStore
from service.refusals import Refused
from service.runtime.metrics import counted_send
from service.states import CaseState as S

log = logging.getLogger(__name__)

# how a platform's status moves our case (its extended statuses, FixMyStreet's and mySociety's set)
STARTED = frozenset({"IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING"})
FIXED = frozenset({"FIXED", "CLOSED"})
SENT_BACK = {"NO_FURTHER_ACTION": "not_ours", "NOT_COUNCILS_RESPONSIBILITY": "not_ours",
             "INTERNAL_REFERRAL": "not_ours", "DUPLICATE": "duplicate"}  # not a state: a status and a reason
assert set(SENT_BACK.values()) <= set(SEND_BACK_REASONS)
# each poll reads again this far back from where the last one ended: a platform may stamp an update late
POLL_OVERLAP = timedelta(minutes=10)
LONGEST_WINDOW = timedelta(days=89)  # servers refuse a window past 90 days (GeoReport v2)
ACTION_IDS = uuid.UUID("6f1f2b62-8f37-4b55-9d0e-3c1c0a311e11")  # namespace of the events' client_action_id


@dataclass(frozen=True)
class PlatformSettings:
    """A unit's `open311` settings, checked when the district is loaded."""

    endpoint: str
    api_key: str = ""
    api_key_env: str | None = None
    jurisdiction_id: str | None = None
    service_codes: dict[str, str] = field(default_factory=dict)
    format: str = "xml"

    @classmethod
    def read(cls, raw: dict) -> PlatformSettings:
        """The settings of a units.json entry; ValueError naming what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError("open311 must be an object")
        unknown = set(raw) - {"endpoint", "api_key", "api_key_env", "jurisdiction_id", "service_codes", "format"}
        if unknown:
            raise ValueError(f"open311 has unknown settings: {', '.join(sorted(unknown))}")
        endpoint = raw.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError("open311.endpoint must be an http or https address")
        if raw.get("format", "xml") not in ("xml", "json"):
            raise ValueError("open311.format must be xml or json")
        codes = raw.get("service_codes") or {}
        if not isinstance(codes, dict) or not all(isinstance(v, str) for v in codes.values()):
            raise ValueError("open311.service_codes must map category codes to service codes")
        return cls(endpoint=endpoint, api_key=str(raw.get("api_key") or ""), api_key_env=raw.get("api_key_env"),
                   jurisdiction_id=raw.get("jurisdiction_id"), service_codes=codes,
                   format=raw.get("format", "xml"))

    def platform(self) -> Platform:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else self.api_key
        return Platform(self.endpoint, key, self.jurisdiction_id, self.format)


def platform_of(unit: Unit) -> Platform | None:
    """The unit's platform, or None when it works at our desk."""
    return PlatformSettings.read(unit.open311).platform() if unit.open311 else None


def forward(session: Session, case: Case, unit_code: str, at: datetime) -> list[FollowUp]:
    """The case has just been given to this unit: when the unit has its own platform, a request to send there
    (and any earlier one of the case no longer followed); the job that sends it, to queue once committed."""
    for earlier in session.scalars(sa.select(UnitRequest).where(UnitRequest.case_id == case.id,
                                                                UnitRequest.ended_at.is_(None))):
        earlier.ended_at = at
    unit = session.scalar(sa.select(Unit).where(Unit.code == unit_code))
    if unit is None or not unit.open311:
        return []
    request = UnitRequest(case=case, unit=unit, created_at=at)
    session.add(request)
    session.flush()
    return [FollowUp(SEND_TO_UNIT, request.id)]


def request_of(session: Session, case: Case) -> UnitRequest | None:
    """The case's latest request to a unit's platform, for the desk."""
    return session.scalar(sa.select(UnitRequest).where(UnitRequest.case_id == case.id)
                          .order_by(UnitRequest.id.desc()).limit(1))


def resend(session: Session, case: Case) -> FollowUp:
    """Staff ask to send a case again that its unit's platform did not take; Refused when there is none to send."""
    request = request_of(session, case)
    if request is None or request.ended_at is not None or request.sent_at is not None:
        raise Refused("conflict", "nothing_to_resend", "该案件没有待发送至单位平台的请求",
                      "the case has no request waiting to go to a unit's platform")
    request.last_error = None
    session.commit()
    return FollowUp(SEND_TO_UNIT, request.id)


def _request_fields(case: Case, settings: PlatformSettings) -> dict[str, str]:
    """A request as the spec names its fields: where (WGS-84), what, and our case number for their dedup."""
    fields = {"service_code": settings.service_codes.get(case.category.code, case.category.code),
              "description": f"{case.category.name}：{case.description or '（无描述）'}\n随手拍案件 {case.case_no}",
              "attribute[client_report_id]": case.case_no}
    if case.lat is not None:
        fields |= {"lat": f"{case.lat:.6f}", "long": f"{case.lon:.6f}"}
    if where := address(case):
        fields["address_string"] = where
    return fields


def _photos_of(case: Case, store: PhotoStore) -> list[Photo]:
    """The case's photos as sent to another system: the web copies, EXIF-free (never the originals)."""
    return [Photo(f"{case.case_no}-{p.id}.jpg", store.read_bytes(p.web_path))
            for p in case.photos if p.kind == "before" and p.web_path]


def send(session: Session, store: PhotoStore, request_id: int, now: datetime) -> bool:
    """Send one request to its unit's platform; True once sent (or nothing is left to send). A failure is kept on
    the request for the desk, then raised as RemoteError so the job is retried."""
    request = session.get(UnitRequest, request_id)
    if request is None or request.sent_at is not None or request.ended_at is not None:
        return True
    case = request.case
    if case.assignee_unit != request.unit.code or not S(case.state).is_worked:
        request.ended_at = now  # no longer the unit's: nothing to send
        session.commit()
        return True
    settings = PlatformSettings.read(request.unit.open311)
    request.attempts += 1
    try:
        with counted_send("open311"):
            posted = settings.platform().post_request(_request_fields(case, settings), _photos_of(case, store))
    except RemoteError as error:
        request.last_error = str(error)[:2000]
        session.commit()
        log.warning("case %s to %s's platform, attempt %d: %s", case.case_no, request.unit.code,
                    request.attempts, error)
        raise
    request.sent_at, request.last_error = now, None
    request.service_request_id, request.token = posted.service_request_id, posted.token
    session.commit()
    log.info("case %s sent to %s's platform: %s", case.case_no, request.unit.code,
             posted.service_request_id or f"token {posted.token}")
    return True


@dataclass
class Poll:
    """What one poll of a platform did: updates applied, and follow-ups (after photos, notifications) to queue."""

    applied: int = 0
    follow_ups: list[tuple[str, list[FollowUp]]] = field(default_factory=list)


def _followed(session: Session, unit: Unit, now: datetime) -> list[UnitRequest]:
    """The unit's sent requests still followed; one whose case has left the unit is no longer followed."""
    followed = []
    for request in session.scalars(sa.select(UnitRequest).where(
            UnitRequest.unit_id == unit.id, UnitRequest.ended_at.is_(None), UnitRequest.sent_at.is_not(None))):
        if request.case.assignee_unit != unit.code or not S(request.case.state).is_worked:
            request.ended_at = now
        else:
            followed.append(request)
    return followed


def _learn_ids(platform: Platform, requests: list[UnitRequest]) -> None:
    """Exchange the tokens a platform answered with for its request ids, where it has made them."""
    for request in requests:
        if request.service_request_id is None and request.token:
            try:
                request.service_request_id = platform.request_id_of(request.token)
            except RemoteError as error:
                log.info("token %s at %s: %s", request.token, platform.host, error)


def _from_requests(platform: Platform, ids: list[str]) -> list[RemoteUpdate]:
    """For a platform without the updates extension: each closed request read as fixed, from GET requests."""
    updates = []
    for element in platform.requests_by_id(ids):
        status = str(element.get("status") or "").strip().upper()
        request_id = str(element.get("service_request_id") or "").strip()
        if status == "CLOSED" and request_id:
            stamp = str(element.get("updated_datetime") or "")
            updates.append(RemoteUpdate(f"requests:closed:{stamp}", request_id, "FIXED", parse_instant(stamp),
                                        str(element.get("status_notes") or ""), element.get("media_url") or None))
    return updates


@counted_send("open311_poll")
def poll(session: Session, store: PhotoStore, unit: Unit, now: datetime, limits: IntakeLimits, tz: str,
         photo_hosts: frozenset[str] = frozenset()) -> Poll:
    """Read the unit's platform's updates since the last poll and apply each to its case, once; the platform's
    `requests` when it has no updates to offer. Raises RemoteError when the platform cannot be read."""
    platform, done = platform_of(unit), Poll()
    followed = _followed(session, unit, now)
    _learn_ids(platform, followed)
    session.commit()
    by_id = {r.service_request_id: r for r in followed if r.service_request_id}
    if by_id:
        since = min([unit.polled_until or now, *(r.sent_at for r in by_id.values())]) - POLL_OVERLAP
        try:
            # to the next whole second: the spec's times have none, and an update of this very second is past `now`
            updates = platform.updates(max(since, now - LONGEST_WINDOW), now + timedelta(seconds=1))
        except RemoteError as error:
            if not error.not_offered:
                raise
            updates = _from_requests(platform, sorted(by_id))
        for update in sorted(updates, key=lambda u: u.updated_at or now):
            request = by_id.get(update.service_request_id)
            if request is not None and _apply(session, store, platform, request, update, now, limits, tz,
                                              photo_hosts, done):
                done.applied += 1
    unit.polled_until = now
    session.commit()
    return done


def platform_account(session: Session, unit: Unit) -> User:
    """The unit's platform as the actor of the events its updates make: a unit account with no password."""
    username = f"{unit.code}-platform"
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=f"{unit.name}（平台）", role=Role.UNIT, unit=unit,
                    password_hash=None, active=True)
        session.add(user)
        session.flush()
    return user


def _apply(session: Session, store: PhotoStore, platform: Platform, request: UnitRequest, update: RemoteUpdate,
           now: datetime, limits: IntakeLimits, tz: str, photo_hosts: frozenset[str], done: Poll) -> bool:
    """Apply one update to its case unless it was seen before; True when it changed the case."""
    seen = session.scalar(sa.select(UnitUpdate.id).where(UnitUpdate.unit_request_id == request.id,
                                                         UnitUpdate.update_id == update.update_id))
    if seen is not None:
        return False
    case, actor = request.case, platform_account(session, request.unit)
    state = S(case.state)
    outcome, what = None, "no_change"
    note = update.description[:1000]
    if update.status in STARTED and state == S.DISPATCHED:
        outcome, what = lifecycle.transition(session, case, S.IN_PROGRESS, actor, note, now, "start"), "start"
    elif update.status in FIXED and state.is_worked:
        _take_photo(session, store, platform, case, update, limits, photo_hosts, done)
        outcome, what = lifecycle.transition(session, case, S.RESOLVED, actor, note, now, "resolve"), "resolve"
        case.resolved_at = now
    elif update.status in SENT_BACK and state.is_worked:
        outcome = lifecycle.send_back(session, case, actor, SENT_BACK[update.status], note, now)
        what = "send_back"
        request.ended_at = now
    session.add(UnitUpdate(unit_request_id=request.id, update_id=update.update_id[:100],
                           status=update.status[:40], updated_at=update.updated_at, received_at=now, outcome=what))
    follow_ups = _announce(session, outcome, request, update, tz) if outcome else []
    session.commit()
    if follow_ups:
        done.follow_ups.append((case.case_no, follow_ups))
    return outcome is not None


def _announce(session: Session, outcome: Outcome, request: UnitRequest, update: RemoteUpdate,
              tz: str) -> list[FollowUp]:
    outcome.event.client_action_id = str(uuid.uuid5(ACTION_IDS, f"{request.id}:{update.update_id}"))
    outcome.event.facts = {**outcome.event.facts, "platform_update": update.update_id[:100]}
    return outcome.follow_ups + announce(session, outcome.event, tz)


def _take_photo(session: Session, store: PhotoStore, platform: Platform, case: Case, update: RemoteUpdate,
                limits: IntakeLimits, photo_hosts: frozenset[str], done: Poll) -> None:
    """Keep the update's photo as the case's after photo; a photo that cannot be had leaves the case without one."""
    if not update.media_url:
        return
    try:
        data = platform.fetch_photo(update.media_url, limits.max_photo_bytes, photo_hosts)
        follow_ups = add_after_photos(session, store, case, [io.BytesIO(data)], limits)
    except (RemoteError, Refused) as error:
        log.warning("case %s: the platform's photo %s was not kept: %s", case.case_no, update.media_url, error)
        return
    done.follow_ups.append((case.case_no, follow_ups))
