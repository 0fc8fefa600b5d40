"""Spending points at an exchange: the rider's short-lived single-use code (a signed QR code and six digits to
type), the redemption a staff member confirms — balance checked and debited, stock taken, in one transaction two
desks cannot interleave, once per idempotency key — and an admin's reversal with a reason."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, Signer
from sqlalchemy.orm import Session

from service.exchange import next_window, open_window
from service.ledger import PointsRules, Rule, lock_wallet, wallet_of, write_expiries
from service.local_time import local_iso
from service.models import CatalogueItem, Exchange, PointsEntry, Redemption, RedemptionCode, RedemptionLine, User
from service.refusals import Refused

CODE_MINUTES = 10  # how long a code shown at the desk works
MAX_LIVE_CODES = 50  # codes one person may hold live at once (a desk's rush of retries, not a flood)
CODE_SALT = "redemption-code"
MAX_LINES, MAX_QTY = 20, 99
KEY_LENGTH = 64


@dataclass(frozen=True)
class IssuedCode:
    """What the rider's phone shows: the QR code's text, the six digits, and when both stop working."""

    code: str
    digits: str
    expires_at: datetime


def issue_code(session: Session, rider: User, now: datetime, secret: str) -> IssuedCode:
    """A new code for the rider (earlier ones work on until used or expired), committed: six digits no other live
    code has, and the QR text, the code's number signed."""
    mine = session.scalar(sa.select(sa.func.count()).where(RedemptionCode.user_id == rider.id,
                                                           RedemptionCode.expires_at > now,
                                                           RedemptionCode.used_at.is_(None)))
    if mine >= MAX_LIVE_CODES:
        raise Refused("too_many", "too_many_codes", "兑换码太多，请使用已出示的或稍后再试",
                      f"at most {MAX_LIVE_CODES} codes at once: use one shown already, or wait")
    live = set(session.scalars(sa.select(RedemptionCode.digits).where(RedemptionCode.expires_at > now,
                                                                      RedemptionCode.used_at.is_(None))))
    digits = next((d for d in (f"{secrets.randbelow(10 ** 6):06d}" for _ in range(100)) if d not in live), None)
    if digits is None:
        raise Refused("too_many", "no_free_digits", "现在兑换码太多，请稍后再试", "too many codes live: try shortly")
    code = RedemptionCode(user_id=rider.id, digits=digits, created_at=now,
                          expires_at=now + timedelta(minutes=CODE_MINUTES))
    session.add(code)
    session.commit()
    return IssuedCode(signed_code(code.id, secret), digits, code.expires_at)


def _signer(secret: str) -> Signer:
    return Signer(secret, salt=CODE_SALT)


def signed_code(code_id: int, secret: str) -> str:
    """The QR code's text of a code: its number, signed (nothing else can be made into a code)."""
    return _signer(secret).sign(str(code_id)).decode()


def code_named(session: Session, secret: str, code: str | None = None, digits: str | None = None,
               now: datetime | None = None) -> RedemptionCode:
    """The code the desk scanned (its signed text) or typed (its digits: among the codes still live); refused
    as not found when it names none."""
    found = None
    if code:
        try:
            found = session.get(RedemptionCode, int(_signer(secret).unsign(code.strip()).decode()))
        except (BadSignature, ValueError):
            found = None
    elif digits and len(digits) == 6 and digits.isascii() and digits.isdigit():
        # among the codes not yet expired, an unused one first: a used one is still found, so that a retried
        # confirmation reaches its first answer, and anything else is told the code was used (410)
        found = session.scalar(sa.select(RedemptionCode).where(
            RedemptionCode.digits == digits, RedemptionCode.expires_at > now)
            .order_by(RedemptionCode.used_at.is_not(None), RedemptionCode.id.desc()).limit(1))
    if found is None:
        raise Refused("not_found", "unknown_code", "兑换码无效，请让骑手重新出示", "no such redemption code",
                      "code" if code else "digits")
    return found


def not_ones_own() -> Refused:
    """Staff do not give goods for their own points: another desk does."""
    return Refused("forbidden", "own_code", "不能为自己办理兑换，请由其他工作人员办理",
                   "staff do not confirm their own redemption: another staff member does")


def live_or_gone(code: RedemptionCode, now: datetime) -> None:
    """Refuse a code that was used or has expired (410)."""
    if code.used_at is not None:
        raise Refused("gone", "code_used", "兑换码已使用，请让骑手刷新", "this redemption code has been used", "code")
    if code.expires_at <= now:
        raise Refused("gone", "code_expired", "兑换码已过期，请让骑手刷新", "this redemption code has expired", "code")


@dataclass(frozen=True)
class Order:
    """What the desk asks for: (item code, how many) pairs, and its idempotency key."""

    lines: tuple[tuple[str, int], ...]
    key: str

    @property
    def digest(self) -> str:
        """The goods asked for, as a hash: what a retry under the same key must ask for again."""
        return hashlib.sha256(repr(self.lines).encode()).hexdigest()

    @classmethod
    def read(cls, items, key) -> Order:
        """The order from the request's values, refused (invalid, naming the field) when it is not one."""
        if not isinstance(key, str) or not 0 < len(key) <= KEY_LENGTH or not key.isprintable():
            raise Refused("invalid", "bad_idempotency_key", f"idempotency_key 须为 1–{KEY_LENGTH} 个字符",
                          f"idempotency_key must be 1 to {KEY_LENGTH} characters", "idempotency_key")
        if not isinstance(items, list) or not 0 < len(items) <= MAX_LINES:
            raise Refused("invalid", "bad_items", f"请选择 1–{MAX_LINES} 种物品", f"give 1 to {MAX_LINES} items",
                          "items")
        wanted: dict[str, int] = {}
        for line in items:
            item, qty = (line.get("item"), line.get("qty", 1)) if isinstance(line, dict) else (None, None)
            if not isinstance(item, str) or isinstance(qty, bool) or not isinstance(qty, int) \
                    or not 0 < qty <= MAX_QTY:
                raise Refused("invalid", "bad_items", f"每项须有物品编号 item 和数量 qty（1–{MAX_QTY}）",
                              f"each item needs an item code and a qty of 1 to {MAX_QTY}", "items")
            wanted[item] = wanted.get(item, 0) + qty
        return cls(tuple(sorted(wanted.items())), key)


def redemption_answer(redemption: Redemption, points_left: int, rules: PointsRules) -> dict:
    """What the desk (and the rider's receipt) is told of a redemption: who, what, the points taken and the
    balance left."""
    return {"id": redemption.id, "created_at": local_iso(redemption.created_at, rules.tz),
            "rider": {"username": redemption.user.username, "display_name": redemption.user.display_name},
            "exchange": redemption.exchange.community.code,
            "items": [{"item": line.item.code, "name": line.item.name, "qty": line.qty, "flowers": line.flowers_each}
                      for line in redemption.lines],
            "flowers": redemption.flowers, "points": redemption.points,
            "balance": balance_of(points_left, rules)}


def balance_of(points: int, rules: PointsRules) -> dict:
    """A balance as answers give it: points, whole flowers, and the points left over."""
    return {"points": points, "flowers": rules.flowers(points), "points_over": points % rules.per_flower}


def _earlier(session: Session, staff: User, key: str) -> Redemption | None:
    return session.scalar(sa.select(Redemption).where(Redemption.staff_id == staff.id,
                                                      Redemption.idempotency_key == key))


def earlier_answer(session: Session, staff: User, order: Order) -> dict | None:
    """The answer of the redemption this staff member confirmed with this order's key, if any: a retry gets it
    again, before its code (used by then) is even looked at. The key sent again with other goods is refused."""
    done = _earlier(session, staff, order.key)
    if done is not None and done.order_hash != order.digest:
        raise Refused("invalid", "idempotency_key_reused", "这个 idempotency_key 已用于另一笔兑换",
                      "this idempotency_key was used for a different order", "idempotency_key")
    return done.answer if done is not None else None


def redeem(session: Session, staff: User, exchange: Exchange, code: RedemptionCode, order: Order, now: datetime,
           rules: PointsRules) -> tuple[dict, bool]:
    """Give the rider of the code the order's goods for their points and commit: (the answer, True), or the first
    answer again for a key already used by this staff member (False). Refused, with nothing kept (the code still
    unused): 410 for a used or expired code, 409 when the exchange is closed, an item out of stock, or the
    balance short (the refusal carries it)."""
    rider_id = code.user_id
    if rider_id == staff.id:
        raise not_ones_own()
    try:
        lock_wallet(session, rider_id)
        done = earlier_answer(session, staff, order)  # the same key sent twice at once: the second waited here
        if done is not None:
            session.rollback()
            return done, False
        session.refresh(code)
        live_or_gone(code, now)
        if open_window(exchange, now, rules.tz) is None:
            window = next_window(exchange, now, rules.tz)
            raise Refused("conflict", "exchange_closed", f"现在不是兑换时间，下次兑换：{window.first} 至 {window.last}",
                          f"the exchange is closed; it opens next {window.first} to {window.last}")
        write_expiries(session, rider_id, now, rules)
        redemption = _take_goods(session, staff, exchange, code, order, now, rules)
        wallet = wallet_of(session, rider_id, now, rules)
        if wallet.points < redemption.points:
            raise Refused("conflict", "insufficient_points",
                          f"积分不足：需要 {redemption.points} 积分，现有 {wallet.points} 积分",
                          f"not enough points: {redemption.points} needed, {wallet.points} held",
                          extra={"balance": balance_of(wallet.points, rules)})
        code.used_at = now
        session.add(PointsEntry(user_id=rider_id, rule=Rule.REDEEMED, points=-redemption.points, created_at=now,
                                community_id=exchange.community_id, redemption_id=redemption.id, actor_id=staff.id))
        session.flush()
        redemption.answer = redemption_answer(redemption, wallet.points - redemption.points, rules)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return redemption.answer, True


def _take_goods(session: Session, staff: User, exchange: Exchange, code: RedemptionCode, order: Order,
                now: datetime, rules: PointsRules) -> Redemption:
    """The redemption row with its lines, each item's stock taken (refused when one has too few left)."""
    items = {i.code: i for i in exchange.items if i.active}
    redemption = Redemption(user_id=code.user_id, staff_id=staff.id, exchange_id=exchange.id, code_id=code.id,
                            idempotency_key=order.key, order_hash=order.digest, created_at=now, flowers=0,
                            points=0, answer={})
    for item_code, qty in order.lines:
        item = items.get(item_code)
        if item is None:
            raise Refused("invalid", "unknown_item", f"本兑换点没有物品 {item_code}",
                          f"this exchange has no item {item_code}", "items")
        taken = session.execute(sa.update(CatalogueItem).where(CatalogueItem.id == item.id, CatalogueItem.stock >= qty)
                                .values(stock=CatalogueItem.stock - qty)
                                .execution_options(synchronize_session=False)).rowcount
        if not taken:
            raise Refused("conflict", "out_of_stock", f"{item.name} 库存不足", f"{item_code} is out of stock", "items",
                          extra={"item": item_code})
        redemption.lines.append(RedemptionLine(item=item, qty=qty, flowers_each=item.flowers))
        redemption.flowers += qty * item.flowers
    redemption.points = redemption.flowers * rules.per_flower
    redemption.user = session.get(User, code.user_id)
    redemption.exchange = exchange
    session.add(redemption)
    session.flush()
    return redemption


def reverse_redemption(session: Session, admin: User, redemption: Redemption, reason: str, now: datetime,
                       rules: PointsRules) -> dict:
    """Put a mistaken redemption right and commit: its points back to the rider as a new credit (earned now, so
    living as long as points earned now), its goods back in stock, the reason kept; the debit itself stays.
    Refused when already reversed or given no reason."""
    reason = (reason or "").strip()
    if not 0 < len(reason) <= 200:
        raise Refused("invalid", "reason_required", "请写明撤销原因（200 字以内）",
                      "give the reason for the reversal (at most 200 characters)", "reason")
    try:
        lock_wallet(session, redemption.user_id)
        session.refresh(redemption)
        if redemption.reversed_at is not None:
            raise Refused("conflict", "already_reversed", "这笔兑换已撤销", "this redemption was reversed already")
        session.add(PointsEntry(user_id=redemption.user_id, rule=Rule.REVERSAL, points=redemption.points,
                                created_at=now, lot=rules.lot(now), community_id=redemption.exchange.community_id,
                                redemption_id=redemption.id, actor_id=admin.id, note=reason))
        for line in redemption.lines:
            session.execute(sa.update(CatalogueItem).where(CatalogueItem.id == line.item_id)
                            .values(stock=CatalogueItem.stock + line.qty).execution_options(synchronize_session=False))
        redemption.reversed_at = now
        session.flush()
        wallet = wallet_of(session, redemption.user_id, now, rules)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return {"id": redemption.id, "reversed_at": local_iso(now, rules.tz), "points": redemption.points,
            "reason": reason, "balance": balance_of(wallet.points, rules)}
