"""Taking in a rider's report: checking what was sent, keeping the photos, and opening the case."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import lifecycle
from service.auth import STAFF_ROLES
from service.case_numbers import case_no_of
from service.db import on_postgresql, utcnow
from service.follow_ups import PROCESS_PHOTOS, FollowUp
from service.geo import is_plain_coordinate, to_wgs84
from service.grids import DistrictIndex
from service.models import COORD_SYSTEMS, Case, CaseCounter, Category, Community, MeToo, Photo, User
from service.parsing import finite_number
from service.photo_store import PhotoStore, StoredOriginal
from service.photos import PhotoHeader, PhotoRefused, inspect_photo, stream_size
from service.placement import distance_m
from service.refusals import Refused
from service.states import CaseState

MAX_DESCRIPTION = 1000
MAX_CLIENT_REPORT_ID = 64


@dataclass(frozen=True)
class Channel:
    """How a report comes in, and what it must carry: from a rider's phone (a photo at least, 1000 characters), or
    from another system through Open311 (the hotline's cases often have no photo; the spec's 4000 characters), with
    the contact details and photo link that system sent."""

    photos_required: bool = True
    max_description: int = MAX_DESCRIPTION
    contact: dict | None = None
    media_url: str | None = None
    community_id: int | None = None  # the desk a report with no location goes to (an Open311 client's default)


RIDER_APP = Channel()


class ReportRefused(Refused):
    """A report (or a me-too) we will not take, and why: malformed, too_large, unsupported, invalid, forbidden or
    conflict."""


@dataclass(frozen=True)
class ReportForm:
    """The text fields of a report exactly as the client sent them (None when absent)."""

    category: str | None = None
    lat: str | None = None
    lon: str | None = None
    coord_system: str | None = None
    accuracy_m: str | None = None
    description: str | None = None
    client_report_id: str | None = None


@dataclass(frozen=True)
class CheckedReport:
    """A report's fields once checked: a known category, and a WGS-84 point inside the district (or none)."""

    category: Category
    lat: float | None
    lon: float | None
    coord_system: str
    accuracy_m: float | None
    description: str
    client_report_id: str | None
    community_id: int | None = None  # the community the point is in: the case is its staff's from the start


@dataclass(frozen=True)
class IntakeLimits:
    """How much a report may carry."""

    max_photos: int
    max_photo_bytes: int
    max_photo_pixels: int


@dataclass(frozen=True)
class Intake:
    """A case taken in: `created` is False when the same client_report_id had already made it."""

    case: Case
    created: bool
    follow_ups: tuple[FollowUp, ...] = ()


def _invalid(field: str, code: str, zh: str, en: str) -> ReportRefused:
    return ReportRefused("invalid", code, zh, en, field)


def _number(raw: str, field: str) -> float:
    """A finite number from a form field, or a refusal naming the field."""
    try:
        return finite_number(raw)
    except ValueError:
        raise _invalid(field, "invalid_number", f"{field} 须为有限的数字", f"{field} must be a finite number") from None


def checked_location(form: ReportForm, area: DistrictIndex) -> tuple[float | None, float | None, str]:
    """The WGS-84 point of the report, converted from the system the client used; None, None when absent."""
    system = (form.coord_system or "wgs84").strip().lower()
    if system not in COORD_SYSTEMS:
        raise _invalid("coord_system", "unknown_coord_system", "坐标系只能是 wgs84、gcj02 或 bd09",
                       "coord_system must be wgs84, gcj02 or bd09")
    lat_raw, lon_raw = (form.lat or "").strip(), (form.lon or "").strip()
    if not lat_raw and not lon_raw:
        return None, None, system
    if not lat_raw or not lon_raw:
        field = "lat" if not lat_raw else "lon"
        raise _invalid(field, "incomplete_location", "纬度和经度须同时提供", "lat and lon must be sent together")
    lat, lon = _number(lat_raw, "lat"), _number(lon_raw, "lon")
    if not is_plain_coordinate(lat, lon):
        raise _invalid("lat", "location_out_of_range", "经纬度超出范围", "lat/lon out of range")
    lat, lon = to_wgs84(lat, lon, system)
    if not area.contains(lat, lon):
        raise _invalid("lat", "outside_service_area", f"位置不在{area.name}范围内（不在任何社区内）",
                       f"the location is outside {area.name or 'the district'}: in none of its communities")
    return lat, lon, system


def _accuracy(form: ReportForm) -> float | None:
    """The fix's accuracy in metres as the phone reported it (None when not sent)."""
    if form.accuracy_m in (None, ""):
        return None
    accuracy = _number(form.accuracy_m, "accuracy_m")
    if accuracy < 0:
        raise _invalid("accuracy_m", "invalid_number", "定位精度不能为负数", "accuracy_m must not be negative")
    return accuracy


def check_report(session: Session, form: ReportForm, area: DistrictIndex,
                 max_description: int = MAX_DESCRIPTION) -> CheckedReport:
    """Check every text field of a report; raises ReportRefused naming the first bad one."""
    code = (form.category or "").strip()
    if not code:
        raise _invalid("category", "missing_category", "请选择问题类别", "category is required")
    category = session.scalar(sa.select(Category).where(Category.code == code, Category.active.is_(True)))
    if category is None:
        raise _invalid("category", "unknown_category", f"未知的问题类别：{code}", f"unknown category: {code}")
    lat, lon, system = checked_location(form, area)
    accuracy = _accuracy(form)
    description = (form.description or "").strip()
    if len(description) > max_description:
        raise _invalid("description", "description_too_long", f"描述不能超过 {max_description} 字",
                       f"description is longer than {max_description} characters")
    client_id = (form.client_report_id or "").strip() or None
    if client_id is not None and (len(client_id) > MAX_CLIENT_REPORT_ID or not client_id.isprintable()):
        raise _invalid("client_report_id", "invalid_client_report_id",
                       f"client_report_id 须为不超过 {MAX_CLIENT_REPORT_ID} 个可打印字符",
                       f"client_report_id must be at most {MAX_CLIENT_REPORT_ID} printable characters")
    community = area.community_at(lat, lon) if lat is not None else None
    return CheckedReport(category, lat, lon, system, accuracy, description, client_id, community)


def check_photo_count(photos: list[BinaryIO], limits: IntakeLimits, required: bool = True) -> None:
    """A report carries one photo at least (when required) and max_photos at most."""
    if not photos and required:
        raise ReportRefused("malformed", "missing_photo", "请至少上传一张照片", "at least one photo is required",
                            "photo")
    if len(photos) > limits.max_photos:
        raise ReportRefused("too_large", "too_many_photos", f"最多上传 {limits.max_photos} 张照片",
                            f"at most {limits.max_photos} photos per report", "photo")


def check_photos(photos: list[BinaryIO], limits: IntakeLimits) -> list[PhotoHeader]:
    """Check each photo's size and content; returns each one's header."""
    headers = []
    for stream in photos:
        size = stream_size(stream)
        if size > limits.max_photo_bytes:
            mb = limits.max_photo_bytes // (1024 * 1024)
            raise ReportRefused("too_large", "photo_too_large", f"每张照片不能超过 {mb} MB",
                                f"each photo must be at most {mb} MB", "photo")
        if size == 0:
            raise ReportRefused("unsupported", "not_an_image", "照片文件为空", "the photo file is empty", "photo")
        try:
            headers.append(inspect_photo(stream, limits.max_photo_pixels))
        except PhotoRefused as refused:
            raise ReportRefused("unsupported", refused.code, refused.zh, refused.en, "photo") from None
    return headers


def find_by_client_id(session: Session, reporter: User, client_report_id: str | None) -> Case | None:
    """The case this reporter already made with this client_report_id, if any."""
    if client_report_id is None:
        return None
    return session.scalar(sa.select(Case).where(Case.reporter_id == reporter.id,
                                                Case.client_report_id == client_report_id))


def next_case_no(session: Session, now: datetime, tz: str) -> str:
    """The next human-readable case number of the local day, like 20260301-0007, unique across processes."""
    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    dialect = postgresql if on_postgresql(session) else sqlite
    stmt = (dialect.insert(CaseCounter).values(day=day, last=1)
            .on_conflict_do_update(index_elements=[CaseCounter.day], set_={"last": CaseCounter.last + 1})
            .returning(CaseCounter.last))
    return case_no_of(day, session.execute(stmt).scalar_one())


def take_report(session: Session, store: PhotoStore, reporter: User, form: ReportForm, photos: list[BinaryIO],
                limits: IntakeLimits, area: DistrictIndex, tz: str, now: datetime | None = None,
                channel: Channel = RIDER_APP) -> Intake:
    """Check a report, keep its original photos and commit the case; a refused report keeps nothing (its photos are
    checked before any is stored; one failing later leaves them for the daily sweep, service/orphan_photos.py).

    The same client_report_id from the same reporter gives back the case it made the first time. `now` is when
    it was reported (a moment in the past for demo data; the API's reports are taken now).
    """
    check_photo_count(photos, limits, channel.photos_required)
    checked = check_report(session, form, area, channel.max_description)
    existing = find_by_client_id(session, reporter, checked.client_report_id)
    if existing is not None:
        return Intake(existing, created=False)
    headers = check_photos(photos, limits)
    stored: list[StoredOriginal] = []
    try:
        for stream, header in zip(photos, headers):
            stored.append(store.put_original(stream, header.format))
        intake = _open_case(session, reporter, checked, headers, stored, tz, now or utcnow(), channel)
        session.commit()
        return intake
    except IntegrityError:  # the same report from the same phone, committed meanwhile by its first attempt
        session.rollback()
        again = find_by_client_id(session, reporter, checked.client_report_id)
        if again is None:
            raise
        return Intake(again, created=False)
    except BaseException:  # what was stored stays: another report may be naming the same bytes (orphan_photos)
        session.rollback()
        raise


def _open_case(session: Session, reporter: User, checked: CheckedReport, headers: list[PhotoHeader],
               stored: list[StoredOriginal], tz: str, now: datetime, channel: Channel) -> Intake:
    """Add the case, its photo rows and its first event to the session."""
    case = Case(case_no=next_case_no(session, now, tz), reporter=reporter, category=checked.category,
                lat=checked.lat, lon=checked.lon, coord_system=checked.coord_system, accuracy_m=checked.accuracy_m,
                description=checked.description, client_report_id=checked.client_report_id, created_at=now,
                updated_at=now, priority=checked.category.priority, contact=channel.contact,
                media_url=channel.media_url)
    community_id = checked.community_id or (channel.community_id if checked.lat is None else None)
    lifecycle.place(case, session.get(Community, community_id) if community_id else None)
    session.add(case)
    for header, original in zip(headers, stored):
        session.add(_photo_row(case, "before", header, original, now))
    session.flush()
    outcome = lifecycle.open_case(session, case, reporter)
    session.flush()
    return Intake(case, created=True, follow_ups=tuple(outcome.follow_ups))


def _photo_row(case: Case, kind: str, header: PhotoHeader, original: StoredOriginal, now: datetime) -> Photo:
    """The row of a kept original, before (上报) or after (处置后); the pipeline fills in its copies."""
    return Photo(case=case, kind=kind, sha256=original.sha256, format=header.format, width=header.width,
                 height=header.height, size_bytes=original.size_bytes, original_path=original.relpath,
                 created_at=now)


def stale_new_cases(session: Session, created_before: datetime) -> list[Case]:
    """The cases still `new`, without a processing error, reported before the given instant, oldest first."""
    return list(session.scalars(sa.select(Case).where(Case.state == CaseState.NEW, Case.processing_error.is_(None),
                                                      Case.created_at < created_before).order_by(Case.id)))


def add_after_photos(session: Session, store: PhotoStore, case: Case, photos: list[BinaryIO],
                     limits: IntakeLimits, kind: str = "after") -> list[FollowUp]:
    """Keep the after photos (处置后) of a case as intake keeps originals, or with kind="before" a photo that came
    later (the one an Open311 request linked to); the pipeline makes their copies."""
    check_photo_count(photos, limits)
    headers = check_photos(photos, limits)
    try:
        now = utcnow()
        for stream, header in zip(photos, headers):
            session.add(_photo_row(case, kind, header, store.put_original(stream, header.format), now))
        session.commit()
    except BaseException:  # what was stored stays, as at intake (orphan_photos)
        session.rollback()
        raise
    return [FollowUp(PROCESS_PHOTOS, case.id)]


class MeTooRefused(ReportRefused):
    """A "me too" we will not count. `kind` is invalid (the caller's point: 422), forbidden (who: 403) or
    conflict (already counted, or the case no longer open: 409)."""


ALREADY_JOINED = ("conflict", "me_too_already", "您已加入该案件，无需重复", "you have already joined this case")


def _check_joiner(session: Session, case: Case, user: User) -> None:
    """Only someone who met the problem may join: not staff, the case's assignee or its reporter; once, while open."""
    if user.role in STAFF_ROLES:
        raise MeTooRefused("forbidden", "me_too_staff", "工作人员不能加入“我也遇到”",
                           "staff cannot join a case as me too")
    if case.assignee_id == user.id:
        raise MeTooRefused("forbidden", "me_too_assignee", "您是该案件的处置人，不能加入“我也遇到”",
                           "you are the case's assignee")
    if case.reporter_id == user.id:
        raise MeTooRefused("forbidden", "me_too_own_report", "这是您自己上报的问题", "this is your own report")
    if not case.is_open:
        raise MeTooRefused("conflict", "case_not_open", f"该问题已{CaseState(case.state).zh}",
                           f"the case is {case.state}")
    if session.scalar(sa.select(MeToo.id).where(MeToo.case_id == case.id, MeToo.user_id == user.id)) is not None:
        raise MeTooRefused(*ALREADY_JOINED)


def _check_on_the_spot(case: Case, where: ReportForm, area: DistrictIndex, radius_m: float) -> None:
    """The caller's own fix is within radius_m of the case, and fine enough to tell.

    The point is validated exactly as a report's (coord_system converted to WGS-84, inside the district);
    it and accuracy_m are required. A fix coarser than the radius (accuracy_m > radius_m) is refused rather
    than given the benefit of the doubt, and the accuracy is not added to the allowed distance: the point
    itself must lie within radius_m of the case, measured geodesically.
    """
    lat, lon, _ = checked_location(where, area)
    if lat is None:
        raise _invalid("lat", "location_required", "请打开定位：须在现场才能加入“我也遇到”",
                       "your current location (lat, lon) is required to join a case")
    accuracy = _accuracy(where)
    if accuracy is None:
        raise _invalid("accuracy_m", "accuracy_required", "缺少定位精度", "accuracy_m is required")
    if accuracy > radius_m:
        raise _invalid("accuracy_m", "location_too_coarse", f"定位精度 ±{accuracy:.0f} 米太差，请到开阔处稍候再试",
                       f"a fix of ±{accuracy:.0f} m is too coarse to tell you are within {radius_m:.0f} m")
    if case.lat is None:
        raise MeTooRefused("conflict", "case_without_location", "该案件没有位置，无法确认您在现场",
                           "the case has no location to compare yours with")
    apart = distance_m((lat, lon), (case.lat, case.lon))
    if apart > radius_m:
        raise _invalid("lat", "too_far_from_case", f"您距该问题约 {apart:.0f} 米，须在 {radius_m:.0f} 米内才能加入",
                       f"you are about {apart:.0f} m from the case: join within {radius_m:.0f} m")


def join_as_me_too(session: Session, case: Case, user: User, where: ReportForm, area: DistrictIndex,
                   radius_m: float) -> int:
    """Count the user as having met the same problem (我也遇到), on the spot; how many have, the reporter aside.

    `where` carries the caller's current point (lat, lon, accuracy_m, coord_system); raises MeTooRefused or
    ReportRefused (a bad point) saying why not.
    """
    _check_joiner(session, case, user)
    _check_on_the_spot(case, where, area, radius_m)
    lifecycle.count_me_too(session, case, user.id, utcnow())
    try:
        session.commit()
    except IntegrityError:  # the same person's second tap, a moment apart: counted once
        session.rollback()
        raise MeTooRefused(*ALREADY_JOINED) from None
    return session.scalar(sa.select(sa.func.count()).select_from(MeToo).where(MeToo.case_id == case.id))
