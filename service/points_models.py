"""The points' models: the append-only ledger, the communities' exchanges with their goods, the riders' redemption
codes and redemptions, and the good deeds (顺手帮). service.models names them with the others."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm as so

from service.db import Base, UTCDateTime, one_of, utcnow
from service.vocabulary import DeedState

if TYPE_CHECKING:  # the relationships name these by string, resolved when the mappers are configured
    from service.models import Community, Grid, User


class PointsEntry(Base):
    """One line of the append-only points ledger (积分): a credit (a closed report, a "me too", a good deed, a
    redemption reversed) or a debit (a redemption, an expiry), never changed or deleted (service.ledger)."""

    __tablename__ = "points_ledger"
    __table_args__ = (sa.UniqueConstraint("user_id", "case_id", "rule"),
                      sa.UniqueConstraint("redemption_id", "rule"),  # one debit, at most one reversal
                      sa.Index("ix_points_ledger_created", "created_at"),
                      sa.Index("ix_points_ledger_user_created", "user_id", "created_at"),
                      # each earning quarter of a person expires once
                      sa.Index("uq_points_ledger_expired_lot", "user_id", "lot", unique=True,
                               postgresql_where=sa.text("rule = 'expired'"), sqlite_where=sa.text("rule = 'expired'")))

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    case_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cases.id"))
    rule: so.Mapped[str] = so.mapped_column(sa.String(32))  # service.ledger.Rule
    points: so.Mapped[int]  # a credit above zero, a debit below
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # a credit's earning quarter (2026-Q4), from which it expires; an expiry's, the quarter it expired; None for a
    # redemption, which spends the oldest first
    lot: so.Mapped[str | None] = so.mapped_column(sa.String(7))
    community_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("communities.id"))  # whose ranking
    redemption_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("redemptions.id"))
    deed_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("good_deeds.id"), unique=True)
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))  # who wrote it, when a person
    note: so.Mapped[str | None] = so.mapped_column(sa.String(200))  # why: a reversal's reason

    user: so.Mapped[User] = so.relationship(foreign_keys=[user_id])


class GoodDeed(Base):
    """A rider's good deed on the way (顺手帮), for the grid worker of its grid to confirm or decline
    (service.good_deeds)."""

    __tablename__ = "good_deeds"
    __table_args__ = (sa.CheckConstraint(one_of("state", tuple(DeedState)), name="state"),
                      sa.Index("ix_good_deeds_grid_state", "grid_id", "state"),
                      sa.Index("ix_good_deeds_user_created", "user_id", "created_at"))

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))  # a kind's code in points.json
    note: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    lat: so.Mapped[float]  # WGS-84
    lon: so.Mapped[float]
    grid_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("grids.id"))
    community_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("communities.id"))
    photo_path: so.Mapped[str | None] = so.mapped_column(sa.String(200))  # its EXIF-free web copy
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default=DeedState.PENDING)
    decided_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    decided_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    reason: so.Mapped[str | None] = so.mapped_column(sa.String(200))  # why declined
    points: so.Mapped[int] = so.mapped_column(default=0)  # what its confirmation paid

    user: so.Mapped[User] = so.relationship(foreign_keys=[user_id])
    grid: so.Mapped[Grid | None] = so.relationship()
    community: so.Mapped[Community | None] = so.relationship()


class Exchange(Base):
    """A community's exchange (兑换点): its goods and the windows its exchange days fall in."""

    __tablename__ = "exchanges"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("communities.id"), unique=True)
    # [["12-25", "12-31"], ...]: month-day spans, both days whole, in the district's zone; None: the last 7 days of
    # each quarter (service.exchange)
    windows: so.Mapped[list | None] = so.mapped_column(sa.JSON)

    community: so.Mapped[Community] = so.relationship()
    items: so.Mapped[list[CatalogueItem]] = so.relationship(back_populates="exchange",
                                                             order_by="CatalogueItem.position")


class CatalogueItem(Base):
    """Goods an exchange gives for flowers (紫藤花): its price and how many are left."""

    __tablename__ = "catalogue_items"
    __table_args__ = (sa.UniqueConstraint("exchange_id", "code"),
                      sa.CheckConstraint("stock >= 0", name="stock"), sa.CheckConstraint("flowers > 0", name="flowers"))

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    exchange_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("exchanges.id"))
    code: so.Mapped[str] = so.mapped_column(sa.String(32))
    name: so.Mapped[str] = so.mapped_column(sa.String(64))
    picture: so.Mapped[str | None] = so.mapped_column(sa.String(64))  # a file under static/img/catalogue/
    flowers: so.Mapped[int]
    stock: so.Mapped[int]  # the staff's count, kept when the catalogue is loaded again
    position: so.Mapped[int] = so.mapped_column(default=0)  # the order the catalogue lists it in
    active: so.Mapped[bool] = so.mapped_column(default=True)

    exchange: so.Mapped[Exchange] = so.relationship(back_populates="items")


class RedemptionCode(Base):
    """A rider's short-lived, single-use code for the exchange desk: the QR code carries its id signed, the six
    digits are its fallback for typing."""

    __tablename__ = "redemption_codes"
    __table_args__ = (sa.Index("ix_redemption_codes_digits", "digits", "expires_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    digits: so.Mapped[str] = so.mapped_column(sa.String(6))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()


class Redemption(Base):
    """Goods given at an exchange for a rider's points, as the staff member confirmed them: debited once however
    often the confirmation is sent (its idempotency key), reversed only by an admin with a reason."""

    __tablename__ = "redemptions"
    __table_args__ = (sa.UniqueConstraint("staff_id", "idempotency_key"),
                      sa.Index("ix_redemptions_exchange_created", "exchange_id", "created_at"))

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    staff_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    exchange_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("exchanges.id"))
    code_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("redemption_codes.id"), unique=True)
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(64))
    flowers: so.Mapped[int]
    points: so.Mapped[int]
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    answer: so.Mapped[dict] = so.mapped_column(sa.JSON)  # what the desk was told: the same again for a retry
    order_hash: so.Mapped[str] = so.mapped_column(sa.String(64))  # the goods asked for: a key reused for others
    reversed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship(foreign_keys=[user_id])
    staff: so.Mapped[User] = so.relationship(foreign_keys=[staff_id])
    exchange: so.Mapped[Exchange] = so.relationship()
    lines: so.Mapped[list[RedemptionLine]] = so.relationship(back_populates="redemption",
                                                             order_by="RedemptionLine.id")


class RedemptionLine(Base):
    """One item of a redemption: how many, at what price."""

    __tablename__ = "redemption_lines"
    __table_args__ = (sa.CheckConstraint("qty > 0", name="qty"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    redemption_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("redemptions.id"), index=True)
    item_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("catalogue_items.id"))
    qty: so.Mapped[int]
    flowers_each: so.Mapped[int]

    redemption: so.Mapped[Redemption] = so.relationship(back_populates="lines")
    item: so.Mapped[CatalogueItem] = so.relationship()
