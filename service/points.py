"""Earning points (积分, 5 points = one 紫藤花): what a reported case pays its reporter and those who said "me too"
when it is closed, written to the ledger (service.ledger) once per person, case and rule — and what holds a case's
points back against farming (old or reused photos, a screen's, split reports, a day's cap, staff's word) until
staff release them."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from service.auth import Role
from service.ledger import PointsRules, Rule
from service.models import Case, MeToo, Photo, PointsEntry
from service.placement import distance_m
from service.refusals import Refused
from service.states import CaseState

# why a case's points are held back, in words for the rider and staff (中文, English): each word once
HOLDS = {
    "old_photo": ("照片拍摄于上报很久之前", "the photo was taken long before the report"),
    "same_photo": ("照片与之前的案件 {note} 完全相同", "the photo is the very file of an earlier case, {note}"),
    "similar_photo": ("照片与近期案件 {note} 几乎相同", "the photo is almost the same as a recent case's, {note}"),
    "no_camera": ("照片没有相机信息，可能是截图或翻拍", "the photo carries no camera details: a screenshot or a "
                  "photo of a photo?"),
    "split": ("与 {note} 为同一人 10 分钟内在 30 米内上报的同类问题，只计一次",
              "the same rider reported the same kind of problem within 30 m and 10 minutes as {note}: paid once"),
    "daily_cap": ("当天上报的积分已达上限", "that day's reports have earned the most a day may"),
    "withheld": ("工作人员暂缓发放：{note}", "held by staff: {note}"),
}
SPLIT_WINDOW, SPLIT_METRES = timedelta(minutes=10), 30.0
SIMILAR_DAYS = 90


class HashDistance(sa.sql.functions.FunctionElement):
    """How many of two 64-bit photo hashes' bits differ, worked out by the database (a district's 90 days of
    photos are too many to bring over): PostgreSQL's bit_count, SQLite's function of ours (service.db)."""

    type = sa.Integer()
    inherit_cache = True


@compiles(HashDistance, "postgresql")
def _hash_distance_postgresql(element, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"bit_count(CAST(({a}) # ({b}) AS bit(64)))"


@compiles(HashDistance, "sqlite")
def _hash_distance_sqlite(element, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"hash_distance({a}, {b})"


def hold_words(code: str | None, note: str | None, lang: str = "zh") -> str | None:
    """Why the points are held, in the reader's language, or None when they are not."""
    if code is None:
        return None
    zh, en = HOLDS.get(code, (code, code))
    return (en if lang == "en" else zh).format(note=note or "")


def photo_hold(session: Session, case: Case, photos: list[Photo], hash_bits: int, now: datetime) -> tuple | None:
    """Why the case's photos hold its points back, as (code, note), or None: taken long before (old_photo), the
    very file of another case (same_photo), within `hash_bits` of another case's in the last 90 days
    (similar_photo), or no photo carrying a camera's make or model (no_camera: a screenshot, a photo of a
    screen or of a print)."""
    if not photos:
        return None
    if case.old_photo:
        return "old_photo", None
    others = sa.select(Case.case_no).join(Photo, Photo.case_id == Case.id).where(Case.id != case.id) \
        .order_by(Case.id).limit(1)
    same = session.scalar(others.where(Photo.sha256.in_([p.sha256 for p in photos])))
    if same:
        return "same_photo", same
    since = now - timedelta(days=SIMILAR_DAYS)
    for photo in (p for p in photos if p.dhash is not None):
        similar = session.scalar(others.where(Photo.kind == "before", Photo.created_at >= since,
                                              HashDistance(Photo.dhash, sa.literal(photo.dhash)) <= hash_bits))
        if similar:
            return "similar_photo", similar
    if not any(p.camera for p in photos):
        return "no_camera", None
    return None


def _rule_hold(session: Session, case: Case, rules: PointsRules) -> tuple | None:
    """Why the scheme's rules hold this closing case's points back, or None: the same rider's report of the
    same kind within 30 m and 10 minutes already paid (split), or that day's reports at the day's cap."""
    paid = sa.select(PointsEntry.case_id).where(PointsEntry.user_id == case.reporter_id,
                                                PointsEntry.rule == Rule.REPORT_CLOSED)
    if case.lat is not None:
        near = session.execute(sa.select(Case.case_no, Case.lat, Case.lon).where(
            Case.reporter_id == case.reporter_id, Case.category_id == case.category_id, Case.id != case.id,
            Case.created_at.between(case.created_at - SPLIT_WINDOW, case.created_at + SPLIT_WINDOW),
            Case.lat.is_not(None), Case.id.in_(paid))).all()
        split = next((n for n in near if distance_m((case.lat, case.lon), (n.lat, n.lon)) <= SPLIT_METRES), None)
        if split is not None:
            return "split", split.case_no
    zone = ZoneInfo(rules.tz)
    day = case.created_at.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    that_day = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).join(
        Case, Case.id == PointsEntry.case_id).where(
        PointsEntry.user_id == case.reporter_id, PointsEntry.rule == Rule.REPORT_CLOSED,
        Case.created_at >= day, Case.created_at < day + timedelta(days=1)))
    if that_day + case.category.points > rules.daily_cap:
        return "daily_cap", None
    return None


def _earn(session: Session, user_id: int, case: Case, rule: Rule, points: int, at: datetime,
          rules: PointsRules) -> bool:
    """Add one credit unless this rule already paid this person for this case (a reopened case re-closed)."""
    paid = session.scalar(sa.select(PointsEntry.id).where(PointsEntry.user_id == user_id,
                                                          PointsEntry.case_id == case.id, PointsEntry.rule == rule))
    if paid is None and points > 0:
        session.add(PointsEntry(user_id=user_id, case_id=case.id, rule=rule, points=points, created_at=at,
                                lot=rules.lot(at), community_id=case.community_id))
        return True
    return False


def award_on_close(session: Session, case: Case, rules: PointsRules, at: datetime) -> None:
    """The reporter earns the category's points unless they are held back (the photos' hold, or now the
    scheme's rules); everyone who said "me too" earns the scheme's me-too points.

    Rejected and duplicate cases never close, so they earn nothing; nor does a case another system filed through
    Open311 (its reporter is that system's account, not a person).
    """
    if case.reporter.role != Role.OPEN311 and case.points_hold is None and not paid_for(session, case):
        held = _rule_hold(session, case, rules)
        if held is not None:
            case.points_hold, case.points_hold_note = held
        else:
            _earn(session, case.reporter_id, case, Rule.REPORT_CLOSED, case.category.points, at, rules)
    for user_id in session.scalars(sa.select(MeToo.user_id).where(MeToo.case_id == case.id)):
        _earn(session, user_id, case, Rule.ME_TOO_CLOSED, rules.me_too_closed, at, rules)


def paid_for(session: Session, case: Case) -> int:
    """The points the case's report paid its reporter (0 until it closes, or while held)."""
    return session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
        PointsEntry.case_id == case.id, PointsEntry.user_id == case.reporter_id,
        PointsEntry.rule == Rule.REPORT_CLOSED))


def withhold(session: Session, case: Case, note: str) -> None:
    """Staff hold a case's points back, with the reason the rider sees; refused once they have been paid."""
    if paid_for(session, case):
        raise Refused("conflict", "points_already_paid", "积分已发放，不能再暂缓", "the points were paid already")
    case.points_hold, case.points_hold_note = "withheld", note[:200]


def release(session: Session, case: Case, rules: PointsRules, at: datetime) -> bool:
    """Staff clear a case's hold: a closed case pays its reporter now (the rules that held it set aside); True
    when points were paid. Refused when nothing holds them."""
    if case.points_hold is None:
        raise Refused("conflict", "points_not_held", "该案件的积分没有被暂缓", "nothing holds this case's points")
    case.points_hold = case.points_hold_note = None
    if case.state == CaseState.CLOSED and case.reporter.role != Role.OPEN311:
        return _earn(session, case.reporter_id, case, Rule.REPORT_CLOSED, case.category.points, at, rules)
    return False


def points_of(session: Session, user_id: int, since: datetime | None = None) -> int:
    """A person's points earned in total, or since an instant (credits only: what they spent is not taken off)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
        PointsEntry.user_id == user_id, PointsEntry.rule.in_((Rule.REPORT_CLOSED, Rule.ME_TOO_CLOSED, Rule.GOOD_DEED)))
    if since is not None:
        query = query.where(PointsEntry.created_at >= since)
    return session.scalar(query)



def held_reports(session: Session, user_id: int, limit: int = 50) -> list:
    """The person's reports whose points are held back, newest first: rows of case_no, points_hold and its note."""
    return session.execute(sa.select(Case.case_no, Case.points_hold, Case.points_hold_note).where(
        Case.reporter_id == user_id, Case.points_hold.is_not(None)).order_by(Case.id.desc()).limit(limit)).all()


def case_numbers(session: Session, entries: list[PointsEntry]) -> dict[int, str]:
    """{case id: case number} of the cases the ledger entries name (for a history a person reads)."""
    ids = {e.case_id for e in entries if e.case_id}
    return dict(session.execute(sa.select(Case.id, Case.case_no).where(Case.id.in_(ids))).all()) if ids else {}
