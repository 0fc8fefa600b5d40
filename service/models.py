"""The typed SQLAlchemy models: the district's street offices, communities and grids, its units and users,
categories, cases, their photos and their events (and, from service/points_models.py, the points ledger, the
exchanges, their redemptions and the good deeds)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from service.db import Base, UTCDateTime, bound_text_lengths, one_of, utcnow
from service.states import OPEN, CaseState

ROLES = ("reporter", "grid_worker", "unit", "staff", "admin", "open311")
COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")
PHOTO_KINDS = ("before", "after")


class StateColumn(sa.TypeDecorator):
    """A case state as stored (its value, up to 16 characters), read back as a CaseState."""

    impl = sa.String(16)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else CaseState(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else CaseState(value)


class StreetOffice(Base):
    """A street office (街道): a command room over several communities, taking what a community cannot."""

    __tablename__ = "street_offices"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))

    communities: so.Mapped[list[Community]] = so.relationship(back_populates="street_office",
                                                              order_by="Community.code")


class Community(Base):
    """A community (社区) of a street office: its staff work the cases inside its boundary."""

    __tablename__ = "communities"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    street_office_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("street_offices.id"))
    webhook_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))  # the community staff's group robot

    street_office: so.Mapped[StreetOffice] = so.relationship(back_populates="communities")


class CommunityBoundary(Base):
    """One generation of a community's boundary: current until a reload replaces it (retired_at set), kept after."""

    __tablename__ = "community_boundaries"
    __table_args__ = (sa.Index("ix_community_boundaries_current", "community_id", "retired_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("communities.id"))
    polygon: so.Mapped[dict] = so.mapped_column(sa.JSON)  # GeoJSON Polygon or MultiPolygon, WGS-84
    valid_from: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    retired_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    community: so.Mapped[Community] = so.relationship()


class Unit(Base):
    """An external unit a case can be handed to (物业, 城管, 供电, 水务…), whose people work the cases it is given."""

    __tablename__ = "units"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    # a unit with its own platform: where its cases are sent over Open311 (service.unit_platforms.PlatformSettings)
    open311: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    # the end of the last window of its platform's updates that was read whole
    polled_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class User(Base):
    """A person with a login: a rider or other reporter, a grid worker, a unit's worker, staff or an admin.

    Staff and grid workers belong to a level of the district (service.scope): a community, a street office, or,
    with neither set, the district itself; a unit's worker to their unit. Riders belong to none.
    """

    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint(one_of("role", ROLES), name="role"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    display_name: so.Mapped[str] = so.mapped_column(sa.String(100))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    role: so.Mapped[str] = so.mapped_column(sa.String(16))
    password_hash: so.Mapped[str | None] = so.mapped_column(sa.String(256))
    api_token_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    api_token_issued_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)  # tokens expire
    # in every session cookie; bumped by logout, a password change and deactivation, which ends older sessions
    session_version: so.Mapped[int] = so.mapped_column(default=0)
    active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    community_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("communities.id"))
    street_office_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("street_offices.id"))
    unit_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("units.id"))
    # bumped by every spending of the person's points: the row lock two exchange desks queue on (service.exchange)
    wallet_version: so.Mapped[int] = so.mapped_column(default=0)
    ranked_by_name: so.Mapped[bool] = so.mapped_column(default=True)  # False: the 公示 shows 匿名 instead

    community: so.Mapped[Community | None] = so.relationship()
    street_office: so.Mapped[StreetOffice | None] = so.relationship()
    unit: so.Mapped[Unit | None] = so.relationship()

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class Grid(Base):
    """One generation of a grid (网格) of a community: a polygon of a few streets with its grid worker.

    Redrawing or removing a grid retires this row (retired_at) instead of changing it: a case keeps the grid it
    was dispatched to, and the report counts it there. One current row per code.
    """

    __tablename__ = "grids"
    __table_args__ = (
        sa.Index("uq_grids_current_code", "code", unique=True, postgresql_where=sa.text("retired_at IS NULL"),
                 sqlite_where=sa.text("retired_at IS NULL")),
        sa.Index("ix_grids_community", "community_id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32))
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    polygon: so.Mapped[dict] = so.mapped_column(sa.JSON)  # GeoJSON geometry, WGS-84
    street: so.Mapped[str | None] = so.mapped_column(sa.String(64))  # its road, what a map with no tiles shows
    worker_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    webhook_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))  # the grid's group robot, if any
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("communities.id"))
    valid_from: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    retired_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)  # None: the current generation

    worker: so.Mapped[User | None] = so.relationship()
    community: so.Mapped[Community] = so.relationship()


class Category(Base):
    """A case category after GB/T 30428.2 (部件 or 事件), with its deadline, priority and points."""

    __tablename__ = "categories"
    __table_args__ = (sa.CheckConstraint("kind IN ('部件', '事件')", name="kind"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(16), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(64))
    kind: so.Mapped[str] = so.mapped_column(sa.String(8))
    major_class: so.Mapped[str] = so.mapped_column(sa.String(64))
    deadline_hours: so.Mapped[int]
    priority: so.Mapped[int] = so.mapped_column(default=0)
    points: so.Mapped[int] = so.mapped_column(default=5)
    active: so.Mapped[bool] = so.mapped_column(default=True)


class Case(Base):
    """One reported problem, from the rider's snap to its close-out."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.CheckConstraint(one_of("state", tuple(CaseState)), name="state"),
        sa.CheckConstraint(one_of("coord_system", COORD_SYSTEMS), name="coord_system"),
        sa.UniqueConstraint("reporter_id", "client_report_id"),
        # the desk queue: by state, sorted by deadline; per grid; per assignee
        sa.Index("ix_cases_state_deadline", "state", "deadline_at"),
        sa.Index("ix_cases_grid_state", "grid_id", "state"),
        sa.Index("ix_cases_community_state", "community_id", "state"),
        sa.Index("ix_cases_street_office_state", "street_office_id", "state"),
        sa.Index("ix_cases_assignee_state", "assignee_id", "state"),
        # a rider's own list, newest first
        sa.Index("ix_cases_reporter_created", "reporter_id", "created_at"),
        # the weekly report: received, due and closed in a week
        sa.Index("ix_cases_created", "created_at"),
        sa.Index("ix_cases_deadline", "deadline_at"),
        sa.Index("ix_cases_closed", "closed_at"),
        # nearby open cases of a category (duplicates): a bounding box on latitude
        sa.Index("ix_cases_category_lat", "category_id", "lat"),
        # the desk queue of open cases: those awaiting routing by hand first, then most urgent, then by deadline
        # (none last), then id (service.queue)
        sa.Index("ix_cases_open_queue", sa.text(f"(CASE WHEN state = '{CaseState.UNROUTED}' THEN 0 ELSE 1 END)"),
                 sa.text("(-priority)"),
                 sa.text("(COALESCE(deadline_at, '9999-12-31 00:00:00.000000'))"), "id",
                 postgresql_where=sa.text(one_of("state", OPEN)),
                 sqlite_where=sa.text(one_of("state", OPEN))),
        # the same queue for one community's desk, and for one street office's
        *(sa.Index(f"ix_cases_{column}_queue", column,
                   sa.text(f"(CASE WHEN state = '{CaseState.UNROUTED}' THEN 0 ELSE 1 END)"), sa.text("(-priority)"),
                   sa.text("(COALESCE(deadline_at, '9999-12-31 00:00:00.000000'))"), "id",
                   postgresql_where=sa.text(one_of("state", OPEN)), sqlite_where=sa.text(one_of("state", OPEN)))
          for column in ("community_id", "street_office_id")),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_no: so.Mapped[str] = so.mapped_column(sa.String(20), unique=True)
    reporter_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    category_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("categories.id"))
    lat: so.Mapped[float | None]  # WGS-84; None when the phone sent no location
    lon: so.Mapped[float | None]
    coord_system: so.Mapped[str] = so.mapped_column(sa.String(8), default="wgs84")  # what the client sent
    accuracy_m: so.Mapped[float | None]
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    state: so.Mapped[CaseState] = so.mapped_column(StateColumn, default=CaseState.NEW)
    grid_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("grids.id"))  # the grid generation it went to
    # where it is worked: the community it was dispatched (or transferred) to, and that community's street office;
    # None until the pipeline placed it, and for a case with no place in any community (the district's own)
    community_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("communities.id"))
    street_office_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("street_offices.id"))
    escalated_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)  # 上报: its street office's to route
    assignee_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    dispatched_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    deadline_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    duplicate_of_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cases.id"))
    client_report_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    # who to reach about a case another system filed (Open311: email, first_name, last_name, phone, device_id,
    # account_id), and the photo link it sent (shown to staff, never fetched from elsewhere)
    contact: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    media_url: so.Mapped[str | None] = so.mapped_column(sa.String(2000))
    # what the pipeline found: where the point came from, and what staff should look at
    location_source: so.Mapped[str | None] = so.mapped_column(sa.String(8))  # device, photo, or None
    location_mismatch_m: so.Mapped[float | None]  # set when device and photo GPS disagree by > 200 m
    old_photo: so.Mapped[bool] = so.mapped_column(default=False)  # taken > 24 h before the upload
    # what holds the reporter's points back until staff release them (service.points.HOLDS), and its detail
    points_hold: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    points_hold_note: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    processing_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    processing_attempts: so.Mapped[int] = so.mapped_column(default=0)  # times the sweeper re-queued it
    processed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # the desk: copied from the category at intake so the queue sorts without a join
    priority: so.Mapped[int] = so.mapped_column(default=0)
    assignee_unit: so.Mapped[str | None] = so.mapped_column(sa.String(32))  # an external unit (物业, 市政)
    rework_count: so.Mapped[int] = so.mapped_column(default=0)
    overdue_notified_on: so.Mapped[str | None] = so.mapped_column(sa.String(10))  # local date, YYYY-MM-DD
    # optimistic locking: two runs of a job (or a job and a person) cannot both move the case
    version: so.Mapped[int] = so.mapped_column(default=1)

    reporter: so.Mapped[User] = so.relationship(foreign_keys=[reporter_id])
    assignee: so.Mapped[User | None] = so.relationship(foreign_keys=[assignee_id])
    category: so.Mapped[Category] = so.relationship()
    grid: so.Mapped[Grid | None] = so.relationship()
    community: so.Mapped[Community | None] = so.relationship()
    street_office: so.Mapped[StreetOffice | None] = so.relationship()
    photos: so.Mapped[list[Photo]] = so.relationship(back_populates="case", order_by="Photo.id")
    events: so.Mapped[list[CaseEvent]] = so.relationship(back_populates="case", order_by="CaseEvent.id")
    duplicate_of: so.Mapped[Case | None] = so.relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        """Still being dealt with (service.states.OPEN): counted in the queue, open to "me too" and to merges."""
        return CaseState(self.state).is_open


class Photo(Base):
    """A photo of a case: the original as sent, and the web copy and thumbnail the pipeline makes."""

    __tablename__ = "photos"
    __table_args__ = (sa.CheckConstraint(one_of("kind", PHOTO_KINDS), name="kind"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(8), default="before")
    sha256: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    format: so.Mapped[str] = so.mapped_column(sa.String(8))  # JPEG, PNG, WEBP, HEIF
    width: so.Mapped[int]
    height: so.Mapped[int]
    size_bytes: so.Mapped[int]
    original_path: so.Mapped[str] = so.mapped_column(sa.String(200))  # relative to MEDIA_DIR
    web_path: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    thumb_path: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    exif_taken_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    exif_lat: so.Mapped[float | None]
    exif_lon: so.Mapped[float | None]
    camera: so.Mapped[str | None] = so.mapped_column(sa.String(64))  # the EXIF make and model; None: no camera's
    dhash: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)  # 64-bit perceptual hash, stored signed
    processed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    case: so.Mapped[Case] = so.relationship(back_populates="photos")


class CaseEvent(Base):
    """One change of a case's state: who, when, from, to, why."""

    __tablename__ = "case_events"
    __table_args__ = (
        sa.Index("ix_case_events_case", "case_id", "id"),
        sa.Index("ix_case_events_created_to", "created_at", "to_state"),
        sa.Index("ix_case_events_action_created", "action", "created_at"),
        sa.UniqueConstraint("actor_id", "client_action_id"),  # an action sent twice by one person is done once
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))  # None: the pipeline
    from_state: so.Mapped[CaseState | None] = so.mapped_column(StateColumn)
    to_state: so.Mapped[CaseState] = so.mapped_column(StateColumn)
    action: so.Mapped[str] = so.mapped_column(sa.String(16), default="")  # report, dispatch, assign, extend, ...
    note: so.Mapped[str] = so.mapped_column(sa.Text, default="")  # what a person typed (before 0008: the sentence)
    # what the service says of it is made from these when read (service.event_words); None: written before 0008
    facts: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    client_action_id: so.Mapped[str | None] = so.mapped_column(sa.String(36))  # the page's UUID for the action

    case: so.Mapped[Case] = so.relationship(back_populates="events")
    actor: so.Mapped[User | None] = so.relationship()


class CaseCounter(Base):
    """The last case number given out on each local day, for numbers like 20260301-0007."""

    __tablename__ = "case_counters"

    day: so.Mapped[str] = so.mapped_column(sa.String(8), primary_key=True)
    last: so.Mapped[int] = so.mapped_column(default=0)


class PossibleDuplicate(Base):
    """An open case of the same category close to a new one, for staff to judge."""

    __tablename__ = "possible_duplicates"
    __table_args__ = (sa.UniqueConstraint("case_id", "other_case_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    other_case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    distance_m: so.Mapped[float]
    hash_distance: so.Mapped[int | None]  # bits apart of the closest pair of photos

    other_case: so.Mapped[Case] = so.relationship(foreign_keys=[other_case_id])


class MeToo(Base):
    """A reporter who met the same problem as a case (我也遇到), counted on that case."""

    __tablename__ = "me_toos"
    __table_args__ = (sa.UniqueConstraint("case_id", "user_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    via_case_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cases.id"))  # their own duplicate
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user: so.Mapped[User] = so.relationship()


class Notification(Base):
    """An in-app message to one person: a new work order, a case to route by hand, a report merged."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at", "id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    case_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    message: so.Mapped[str] = so.mapped_column(sa.Text, default="")  # the text itself, before 0008
    # the text is made from the kind and these when read, in the reader's language (service.event_words)
    facts: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    read_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    case: so.Mapped[Case | None] = so.relationship()
    user: so.Mapped[User] = so.relationship()


class WebhookMessage(Base):
    """A text for a WeCom/DingTalk group robot, kept until its own job has delivered it."""

    __tablename__ = "webhook_messages"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    url: so.Mapped[str] = so.mapped_column(sa.String(500))
    content: so.Mapped[str] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)

    case: so.Mapped[Case | None] = so.relationship()


class Open311Client(Base):
    """A system that files and follows cases through Open311 (the 12345 hotline, a platform's rider app, a civic
    app): its service account is the reporter of its cases; its key is kept only as a SHA-256 hash."""

    __tablename__ = "open311_clients"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), unique=True)
    key_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    key_changed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    rate_limit: so.Mapped[str | None] = so.mapped_column(sa.String(32))  # Flask-Limiter's notation; None: the default
    # the desk its requests go to when they cannot be placed (an address no geocoder finds); None: refused (400)
    community_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("communities.id"))

    user: so.Mapped[User] = so.relationship()
    community: so.Mapped[Community | None] = so.relationship()


class WeeklyReport(Base):
    """A built weekly closure report (周报) of one part of the district, kept as built; building the same week
    again replaces it."""

    __tablename__ = "weekly_reports"

    week: so.Mapped[str] = so.mapped_column(sa.String(8), primary_key=True)  # ISO week, like 2026-W09
    # whose report: "district", "street_office:<code>" or "community:<code>" (service.weekly_levels.ReportScope)
    scope: so.Mapped[str] = so.mapped_column(sa.String(48), primary_key=True, default="district")
    built_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    data: so.Mapped[dict] = so.mapped_column(sa.JSON)
    # its overall figures again, apart from the data, for the trend of later weeks' reports to read cheaply
    overall: so.Mapped[dict | None] = so.mapped_column(sa.JSON)



# the points' models, defined in service/points_models.py and named here with the others
from service.points_models import (  # noqa: E402, F401
    CatalogueItem,
    Exchange,
    GoodDeed,
    PointsEntry,
    Redemption,
    RedemptionCode,
    RedemptionLine,
)

bound_text_lengths(Base)  # a name or phone number too long for its column is a clear refusal on every engine


class UnitRequest(Base):
    """A case as sent to a unit's own platform over Open311: the platform's id for it (or the token to ask it for),
    how sending went, and whether it is still followed (until the case leaves the unit)."""

    __tablename__ = "unit_requests"
    __table_args__ = (sa.Index("ix_unit_requests_followed", "unit_id", "ended_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    unit_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("units.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    token: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    service_request_id: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    ended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    case: so.Mapped[Case] = so.relationship()
    unit: so.Mapped[Unit] = so.relationship()


class UnitUpdate(Base):
    """An update a unit's platform gave on one of our requests, recorded once with what came of it: seen again, it
    is not applied again."""

    __tablename__ = "unit_updates"
    __table_args__ = (sa.UniqueConstraint("unit_request_id", "update_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    unit_request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("unit_requests.id", ondelete="CASCADE"))
    update_id: so.Mapped[str] = so.mapped_column(sa.String(100))
    status: so.Mapped[str] = so.mapped_column(sa.String(40))
    updated_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    outcome: so.Mapped[str] = so.mapped_column(sa.String(32))  # the action it made (start, resolve...), or no_change
