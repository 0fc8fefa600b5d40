"""顺手帮, help on the way: a rider's good deed (carried an elderly resident's rubbish down, showed a lost child the
way…) with its kind, place, a note and maybe a photo; the grid worker of that grid (or its community's staff)
confirms or declines it; a confirmed deed earns its kind's points, up to a weekly cap per rider."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.auth import STAFF_ROLES, Role
from service.cases import IntakeLimits, ReportForm, check_photo_count, check_photos, checked_location
from service.grids import DistrictIndex
from service.imaging import UnreadablePhoto, process_photo
from service.ledger import PointsRules, Rule, lock_wallet
from service.models import Community, GoodDeed, Grid, PointsEntry, User
from service.photo_store import PhotoStore
from service.refusals import Refused
from service.scope import Level, level_of, may_work_community
from service.vocabulary import DeedState

MAX_NOTE = 200



@dataclass(frozen=True)
class DeedKind:
    """A kind of good deed from points.json: its code, its names, and the points a confirmed one earns."""

    code: str
    zh: str
    en: str
    points: int


def deed_kind(rules: PointsRules, code: str) -> DeedKind | None:
    """The kind of good deed of that code, or None (not one, or no longer listed)."""
    return next((k for k in rules.deed_kinds if k.code == code), None)


def deed_kinds(points_file: dict) -> tuple[tuple[DeedKind, ...], int]:
    """The kinds of good deed points.json lists under good_deeds, and the weekly cap of their points."""
    listed = points_file.get("good_deeds") or {}
    kinds = tuple(DeedKind(k["code"], k["name"], k.get("name_en", k["code"]), int(k["points"]))
                  for k in listed.get("kinds", []))
    return kinds, int(listed.get("weekly_cap", 0))


def log_deed(session: Session, store: PhotoStore, rider: User, kind_code: str, note: str, where: ReportForm,
             photos: list[BinaryIO], area: DistrictIndex, limits: IntakeLimits, rules: PointsRules,
             decode_budget: int, now: datetime) -> GoodDeed:
    """Keep the rider's good deed for the grid worker to confirm, committed: its kind, its place (in a
    community of the district), the note, and the photo's original with its EXIF-free web copy."""
    kind = deed_kind(rules, kind_code)
    if kind is None:
        raise Refused("invalid", "unknown_kind", "请选择顺手帮的类型", "choose the kind of good deed", "kind")
    note = (note or "").strip()
    if len(note) > MAX_NOTE or not note.isprintable():
        raise Refused("invalid", "bad_note", f"说明不能超过 {MAX_NOTE} 字", f"the note is at most {MAX_NOTE} "
                      "printable characters", "note")
    lat, lon, _ = checked_location(where, area)
    if lat is None:
        raise Refused("invalid", "missing_location", "请打开定位后再提交", "a location is required", "lat")
    located = area.locate(lat, lon)
    check_photo_count(photos, limits, required=False)
    deed = GoodDeed(user_id=rider.id, kind=kind.code, note=note, lat=lat, lon=lon, created_at=now,
                    state=DeedState.PENDING, grid_id=located.grid_id if located else None,
                    community_id=located.community_id if located else None)
    for stream, header in zip(photos[:1], check_photos(photos[:1], limits)):
        try:  # decoded before it is kept: a photo that cannot be read leaves nothing behind
            made = process_photo(stream, limits.max_photo_pixels, rules.tz, decode_budget)
        except UnreadablePhoto:
            raise Refused("unsupported", "not_an_image", "照片无法读取", "the photo cannot be read", "photo") from None
        kept = store.put_original(stream, header.format)
        deed.photo_path = store.put_derived(kept.sha256, "web", made.web)  # shown; the original never is
    session.add(deed)
    session.commit()
    return deed


def may_decide(user: User, deed: GoodDeed) -> bool:
    """The grid worker of the deed's grid, or staff of its community's part of the district — never the one who
    logged it."""
    if deed.user_id == user.id:
        return False
    if user.role == Role.GRID_WORKER:
        return deed.grid is not None and deed.grid.worker_id == user.id
    return user.role in STAFF_ROLES and deed.community is not None and may_work_community(user, deed.community)


def may_see_deed(user: User, deed: GoodDeed) -> bool:
    return deed.user_id == user.id or may_decide(user, deed)


def pending_for(session: Session, user: User) -> list[GoodDeed]:
    """The deeds waiting for this grid worker (their grids') or staff member (their part), oldest first."""
    query = sa.select(GoodDeed).where(GoodDeed.state == DeedState.PENDING, GoodDeed.user_id != user.id) \
        .order_by(GoodDeed.id).limit(200)
    if user.role == Role.GRID_WORKER:
        query = query.where(GoodDeed.grid_id.in_(sa.select(Grid.id).where(Grid.worker_id == user.id)))
    elif user.role in STAFF_ROLES and level_of(user) is Level.COMMUNITY:
        query = query.where(GoodDeed.community_id == user.community_id)
    elif user.role in STAFF_ROLES and level_of(user) is Level.STREET_OFFICE:
        query = query.where(GoodDeed.community_id.in_(
            sa.select(Community.id).where(Community.street_office_id == user.street_office_id)))
    elif user.role not in STAFF_ROLES:
        return []
    return list(session.scalars(query))


def decide(session: Session, deed: GoodDeed, by: User, confirmed: bool, reason: str, now: datetime,
           rules: PointsRules) -> int:
    """Confirm (paying the kind's points, within the rider's weekly cap) or decline the deed with a reason, and
    commit; the points paid. Decided once: two deciders at the same moment, one wins and the other is refused."""
    if not may_decide(by, deed):
        raise Refused("not_found", "not_found", "找不到该顺手帮记录", "no such good deed")
    reason = (reason or "").strip()[:MAX_NOTE]
    if not confirmed and not reason:
        raise Refused("invalid", "reason_required", "请写明不予确认的原因", "give the reason", "reason")
    kind = deed_kind(rules, deed.kind)
    if confirmed and kind is None:
        raise Refused("conflict", "kind_withdrawn", "这种顺手帮已不再计分", "this kind of good deed earns no longer")
    try:
        lock_wallet(session, deed.user_id)  # the weekly cap is counted with no other payment of theirs under way
        decided = session.execute(sa.update(GoodDeed).where(GoodDeed.id == deed.id,
                                                            GoodDeed.state == DeedState.PENDING)
                                  .values(state=DeedState.CONFIRMED if confirmed else DeedState.DECLINED,
                                          decided_by_id=by.id, decided_at=now, reason=reason or None)
                                  .execution_options(synchronize_session=False)).rowcount
        if not decided:
            raise Refused("conflict", "already_decided", "这条顺手帮已确认或已退回",
                          "this good deed was decided already")
        paid = _pay(session, deed, kind, rules, now) if confirmed else 0
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(deed)
    return paid


def _pay(session: Session, deed: GoodDeed, kind: DeedKind, rules: PointsRules, now: datetime) -> int:
    """The deed's points, as much of them as the rider's deeds of that week leave under the weekly cap."""
    zone = ZoneInfo(rules.tz)
    local = deed.created_at.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    that_week = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).join(
        GoodDeed, GoodDeed.id == PointsEntry.deed_id).where(
        PointsEntry.user_id == deed.user_id, PointsEntry.rule == Rule.GOOD_DEED,
        GoodDeed.created_at >= monday, GoodDeed.created_at < monday + timedelta(days=7)))
    points = max(0, min(kind.points, rules.deed_weekly_cap - that_week))
    if points:
        session.add(PointsEntry(user_id=deed.user_id, rule=Rule.GOOD_DEED, points=points, created_at=now,
                                lot=rules.lot(now), community_id=deed.community_id, deed_id=deed.id))
    session.execute(sa.update(GoodDeed).where(GoodDeed.id == deed.id).values(points=points)
                    .execution_options(synchronize_session=False))
    return points
