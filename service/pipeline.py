"""The pipeline after intake: process a new case's photos, settle its location, spot duplicates, route it."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service import lifecycle
from service.db import utcnow
from service.dispatch import dispatch_case
from service.follow_ups import PROCESS_CASE, FollowUp
from service.grids import DistrictIndex
from service.imaging import UnreadablePhoto, process_photo
from service.models import Case, Photo, PossibleDuplicate
from service.notifications import announce, announce_processing_error
from service.photo_store import PhotoStore
from service.placement import Neighbour, PlacementRules, neighbours, same_problem, settle_location, to_signed64
from service.points import photo_hold
from service.runtime.metrics import timed_step
from service.states import CaseState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineRules:
    """Everything the pipeline reads from the settings."""

    placement: PlacementRules
    max_pixels: int
    timezone: str
    decode_budget: int  # bytes one photo's decoding may take (MAX_DECODE_MB)
    staff_webhook: str | None = None

    @classmethod
    def from_settings(cls, s) -> PipelineRules:
        """The rules from the service's settings (config.Settings, passed in: the core does not read config)."""
        placement = PlacementRules(location_mismatch_m=s.location_mismatch_m, old_photo_hours=s.old_photo_hours,
                                   duplicate_radius_m=s.duplicate_radius_m, duplicate_days=s.duplicate_days,
                                   duplicate_hash_bits=s.duplicate_hash_bits)
        return cls(placement=placement, max_pixels=s.max_photo_pixels, timezone=s.timezone,
                   decode_budget=s.max_decode_mb * 1024 * 1024, staff_webhook=s.webhook_url)


@dataclass(frozen=True)
class Processed:
    """What one run of the pipeline did to a case, and the jobs to queue now that it is committed."""

    case_no: str
    state: str
    follow_ups: tuple[FollowUp, ...] = ()


def process_photos(store: PhotoStore, photos: list[Photo], rules: PipelineRules, now: datetime) -> None:
    """Make each photo's web copy and thumbnail, and note its hash, GPS and time; raises UnreadablePhoto."""
    for photo in photos:
        with store.open(photo.original_path) as original:
            result = process_photo(original, rules.max_pixels, rules.timezone, rules.decode_budget)
        photo.web_path = store.put_derived(photo.sha256, "web", result.web)
        photo.thumb_path = store.put_derived(photo.sha256, "thumb", result.thumb)
        photo.dhash = to_signed64(result.dhash)
        photo.exif_taken_at = result.taken_at
        photo.exif_lat, photo.exif_lon = result.gps if result.gps else (None, None)
        photo.camera = result.camera
        photo.processed_at = now


def _record_unreadable(session: Session, case: Case, error: UnreadablePhoto) -> Processed:
    """Leave the case `new` with the error for staff to see and retry; retrying by itself would not help."""
    session.rollback()
    case.processing_error = f"照片无法解码 / photo cannot be decoded: {error}"[:1000]
    announce_processing_error(session, case, "photo_unreadable")
    session.commit()
    log.warning("case %s: photo cannot be decoded (%s); left for staff", case.case_no, error)
    return Processed(case.case_no, case.state)


def _merge_as_duplicate(session: Session, case: Case, original: Neighbour, now: datetime) -> lifecycle.Outcome:
    """The new case repeats an open one: link it; its reporter counts as a "me too" there."""
    facts = {"distance_m": round(original.distance_m, 1), "hash_distance": original.hash_distance}
    return lifecycle.mark_duplicate(session, case, original.case, at=now, facts=facts)


def process_case(session: Session, store: PhotoStore, grids: DistrictIndex, rules: PipelineRules, case_id: int,
                 now: datetime | None = None) -> Processed | None:
    """Run the whole pipeline for one case, once: a case that is no longer `new` is left as it is.

    Safe to run twice, or twice at once: the photo copies are named by content, and the case's version
    lets only one run commit its change of state; the other finds nothing left to do.
    """
    now = now or utcnow()
    case = session.get(Case, case_id)
    if case is None or case.state != CaseState.NEW or case.processing_error:
        return None
    photos = [p for p in case.photos if p.kind == "before"]
    try:
        process_photos(store, photos, rules, now)
    except UnreadablePhoto as error:
        return _record_unreadable(session, case, error)
    settle_location(case, photos, rules.placement)
    session.flush()
    held = photo_hold(session, case, photos, rules.placement.duplicate_hash_bits, now)
    if held is not None:
        case.points_hold, case.points_hold_note = held
    nearby = neighbours(session, case, now, rules.placement)
    original = same_problem(nearby, rules.placement)
    if original is not None:
        outcome = _merge_as_duplicate(session, case, original, now)
    else:
        for n in nearby:
            session.add(PossibleDuplicate(case_id=case.id, other_case_id=n.case.id, distance_m=n.distance_m,
                                          hash_distance=n.hash_distance))
        with timed_step("dispatch"):
            outcome = dispatch_case(session, case, grids, now)
    follow_ups = outcome.follow_ups + announce(session, outcome.event, rules.timezone, rules.staff_webhook)
    case.processed_at = now
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        log.info("case %s: another run got there first", case.case_no)
        return None
    return Processed(case.case_no, case.state, tuple(follow_ups))


def process_unprocessed_photos(session: Session, store: PhotoStore, rules: PipelineRules, case_id: int) -> int:
    """Make the copies of any photo of the case that has none yet (after photos); how many were made."""
    photos = list(session.scalars(sa.select(Photo).where(Photo.case_id == case_id, Photo.web_path.is_(None))))
    try:
        process_photos(store, photos, rules, utcnow())
    except UnreadablePhoto as error:
        session.rollback()
        log.warning("case id %s: an after photo cannot be decoded (%s)", case_id, error)
        return 0
    session.commit()
    return len(photos)


def retry_processing(case: Case) -> FollowUp:
    """Staff's retry of a case whose photos could not be processed: clear the error; queue it once committed."""
    case.processing_error = None
    case.processing_attempts = 0
    return FollowUp(PROCESS_CASE, case.id)

