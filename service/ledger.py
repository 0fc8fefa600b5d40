"""The points ledger's rules: credits counted by the quarter they were earned in (their lot), spent oldest first,
expired a set number of quarters after that quarter, each expiry written once as its own entry; a balance in
points and in 紫藤花; never a row changed or deleted."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from service.models import PointsEntry, User
from service.quarters import Quarter
from service.vocabulary import Worded

log = logging.getLogger(__name__)


class Rule(Worded):
    """Why a ledger entry was written, with its words for the rider's history (Chinese, English)."""

    REPORT_CLOSED = "report_closed", "上报结案", "report closed"
    ME_TOO_CLOSED = "me_too_closed", "我也遇到·结案", "me too, closed"
    GOOD_DEED = "good_deed", "顺手帮", "good deed"
    REDEEMED = "redeemed", "兑换", "exchanged"
    REVERSAL = "reversal", "兑换撤销", "exchange reversed"
    EXPIRED = "expired", "过期", "expired"


@dataclass(frozen=True)
class PointsRules:
    """The scheme's numbers (points.json and the POINTS_ settings): points to one 紫藤花, quarters points live
    after the one they were earned in, the district's zone (in which quarters and days begin), what a "me too"
    earns, the most one day's reports of a rider earn, and the kinds of good deed (顺手帮) with their weekly cap."""

    per_flower: int = 5
    expire_quarters: int = 4
    tz: str = "Asia/Shanghai"
    me_too_closed: int = 1
    daily_cap: int = 50
    deed_kinds: tuple = ()  # service.good_deeds.DeedKind, from points.json
    deed_weekly_cap: int = 0

    def lot(self, instant: datetime) -> str:
        """The earning quarter of a credit written at that instant."""
        return Quarter.containing(instant, self.tz).name

    def expires_at(self, lot: str) -> datetime:
        """When what is left of a lot expires: the end of the quarter `expire_quarters` after it."""
        return Quarter.parse(lot).shifted(self.expire_quarters).end(self.tz)

    def flowers(self, points: int) -> int:
        """Whole flowers in so many points."""
        return points // self.per_flower


@dataclass
class Lot:
    """What is left of the points earned in one quarter, and whether its expiry has been written."""

    name: str
    left: int
    expires_at: datetime
    written_off: bool = False


@dataclass
class Wallet:
    """A person's points as the ledger has them at an instant: spendable now, and by lot (oldest first)."""

    points: int
    flowers: int
    lots: list[Lot] = field(default_factory=list)  # lots with points left and not yet expired
    lapsed: list[Lot] = field(default_factory=list)  # lots past their expiry whose expiry is not yet written


def lots_of(entries: list[tuple[int, str, str | None]], rules: PointsRules) -> list[Lot]:
    """Every lot after the entries (points, rule, lot), taken in the order written, oldest first: a credit adds
    to its lot, an expiry empties its own, anything else spent takes from the oldest lots first."""
    left: dict[str, int] = {}
    written_off: set[str] = set()
    for points, rule, lot in entries:
        if rule == Rule.EXPIRED:
            written_off.add(lot)
        if points >= 0 or rule == Rule.EXPIRED:
            left[lot] = left.get(lot, 0) + points
            continue
        owed = -points
        for name in sorted(left):
            taken = min(owed, max(left[name], 0))
            left[name] -= taken
            owed -= taken
            if not owed:
                break
        if owed:  # spending past every lot: the ledger's rules were broken somewhere
            log.error("a debit of %d points found %d of them in no lot", -points, owed)
    return [Lot(name, n, rules.expires_at(name), name in written_off) for name, n in sorted(left.items())]


def wallet_of(session: Session, user_id: int, now: datetime, rules: PointsRules) -> Wallet:
    """The person's wallet at `now`: what they may spend, and which lots lapsed but are not yet written off."""
    entries = session.execute(sa.select(PointsEntry.points, PointsEntry.rule, PointsEntry.lot)
                              .where(PointsEntry.user_id == user_id)
                              .order_by(PointsEntry.created_at, PointsEntry.id)).all()
    lots = lots_of([tuple(e) for e in entries], rules)
    live = [lot for lot in lots if lot.expires_at > now and lot.left > 0]
    points = sum(lot.left for lot in live)
    return Wallet(points, rules.flowers(points), live,
                  [lot for lot in lots if lot.expires_at <= now and not lot.written_off])


def lock_wallet(session: Session, user_id: int) -> None:
    """Queue behind any other spending or writing off of this person's points until this transaction ends: a row
    lock on PostgreSQL; on SQLite the database's write lock, taken here, before the balance is read (the first
    statement that writes makes pysqlite begin the transaction)."""
    session.execute(sa.update(User).where(User.id == user_id).values(wallet_version=User.wallet_version + 1)
                    .execution_options(synchronize_session=False))


def write_expiries(session: Session, user_id: int, now: datetime, rules: PointsRules) -> int:
    """Write off each of the person's lots past its expiry, one entry per lot dated at its expiry (of what is
    left of it; of nothing, for a lot spent whole, so that it is not looked at again); how many points that took.
    Written once: the entry marks the lot written off."""
    lapsed = wallet_of(session, user_id, now, rules).lapsed
    where = _earned_most_in(session, user_id, [lot.name for lot in lapsed]) if lapsed else {}
    for lot in lapsed:
        session.add(PointsEntry(user_id=user_id, rule=Rule.EXPIRED, points=-max(lot.left, 0), lot=lot.name,
                                created_at=lot.expires_at, community_id=where.get(lot.name)))
    session.flush()
    return sum(max(lot.left, 0) for lot in lapsed)


def _earned_most_in(session: Session, user_id: int, lots: list[str]) -> dict[str, int | None]:
    """For each lot, the community the person earned most of its points in (the lowest id among equals): where
    its expiry is counted (a rider's points are one balance, earned in many communities)."""
    rows = session.execute(sa.select(PointsEntry.lot, PointsEntry.community_id, sa.func.sum(PointsEntry.points))
                           .where(PointsEntry.user_id == user_id, PointsEntry.points > 0, PointsEntry.lot.in_(lots))
                           .group_by(PointsEntry.lot, PointsEntry.community_id)).all()
    best: dict[str, tuple] = {}
    for lot, community, points in rows:
        key = (-points, community is None, community or 0)
        if lot not in best or key < best[lot][0]:
            best[lot] = (key, community)
    return {lot: community for lot, (_, community) in best.items()}


def expire_points(session: Session, now: datetime, rules: PointsRules) -> int:
    """The periodic job's work: write off every lot past its expiry, person by person, each committed; points
    expired. Only people with credits in lots already past their expiry are looked at, and running it again
    writes nothing."""
    first_live = Quarter.containing(now, rules.tz).shifted(-rules.expire_quarters).name  # older lots have lapsed
    expired_lots = sa.select(PointsEntry.user_id, PointsEntry.lot).where(PointsEntry.rule == Rule.EXPIRED)
    owing = (sa.select(PointsEntry.user_id, PointsEntry.lot)
             .where(PointsEntry.points > 0, PointsEntry.lot < first_live).distinct()
             .except_(expired_lots).subquery())
    people = session.scalars(sa.select(sa.distinct(owing.c.user_id))).all()
    total = 0
    for user_id in people:
        try:
            lock_wallet(session, user_id)  # a redemption at this moment writes these expiries itself, or waits
            total += write_expiries(session, user_id, now, rules)
            session.commit()
        except sa.exc.SQLAlchemyError:
            session.rollback()
            log.exception("points of user %s not written off; the next run tries again", user_id)
    return total


def history_of(session: Session, user_id: int, limit: int = 100) -> list[PointsEntry]:
    """The person's ledger entries, newest first (an expiry that found nothing left is not shown)."""
    return list(session.scalars(sa.select(PointsEntry).where(PointsEntry.user_id == user_id, PointsEntry.points != 0)
                                .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc()).limit(limit)))


@event.listens_for(PointsEntry, "before_update")
@event.listens_for(PointsEntry, "before_delete")
def _append_only(_mapper, _connection, entry: PointsEntry) -> None:
    """The ledger is append-only: a mistake is put right by another entry, never by changing one."""
    raise PermissionError(f"the points ledger is append-only: entry {entry.id} cannot be changed or deleted")
