"""The database engine, sessions and schema migrations, for SQLite (embedded) and PostgreSQL alike."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from service.parsing import INT32_MAX
from service.refusals import Refused

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base of every model; constraint names are fixed so migrations can refer to them."""

    metadata = sa.MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK expression limiting the column to the given values."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class UTCDateTime(sa.TypeDecorator):
    """A UTC instant: stored naive in UTC on every engine, handed back timezone-aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class ValueTooLong(Refused):
    """Text longer than its column holds. PostgreSQL would refuse it at the commit (a 500 by then) and SQLite would
    keep it; both refuse it here, when it is set, with a message naming the field."""

    def __init__(self, field: str, limit: int):
        super().__init__("invalid", "value_too_long", f"{field} 不能超过 {limit} 个字符",
                         f"{field} must be at most {limit} characters", field)
        self.limit = limit


def bound_text_lengths(base: type[DeclarativeBase]) -> None:
    """Make every String(n) column of the models refuse, as it is set, a value longer than n (ValueTooLong)."""
    for mapper in base.registry.mappers:
        for attr in mapper.column_attrs:
            limit = getattr(attr.columns[0].type, "length", None)
            if isinstance(attr.columns[0].type, sa.String) and limit:
                event.listen(getattr(mapper.class_, attr.key), "set", _length_check(attr.key, limit), retval=True)


def _length_check(field: str, limit: int):
    """The attribute listener refusing a str longer than the limit."""
    def check(_target, value, _old, _initiator):
        if isinstance(value, str) and len(value) > limit:
            raise ValueTooLong(field, limit)
        return value
    return check


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def _hash_distance(a: int | None, b: int | None) -> int | None:
    """How many bits of two 64-bit photo hashes differ (SQLite's hash_distance(), for service.points)."""
    return None if a is None or b is None else ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL lets readers run beside the one writer; busy_timeout makes writers wait rather than fail; and the one
    function of ours SQLite lacks."""
    dbapi_conn.create_function("hash_distance", 2, _hash_distance, deterministic=True)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.close()


def _json_text(value) -> str:
    """A JSON column's value as text (orjson: a district's weekly reports are megabytes of it each week)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


JSON_CODEC = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def make_engine(url: str) -> sa.Engine:
    """An engine for the URL; SQLite gets WAL and a busy timeout, PostgreSQL a checked pool."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, **JSON_CODEC)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=10,
                            connect_args={"connect_timeout": 5}, **JSON_CODEC)


class Database:
    """One engine and its session factory; each process (web, or work horse after the fork) makes its own."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new session; the caller commits or rolls back and closes it."""
        return self.sessions()

    def dispose(self) -> None:
        """Close every pooled connection (after a fork, or at shutdown)."""
        self.engine.dispose()


def by_id(session: Session, model, row_id: int):
    """The row of that id, or None — also for an id past what an INTEGER key holds (a client may send any)."""
    return session.get(model, row_id) if 0 < row_id <= INT32_MAX else None


def on_postgresql(session: Session) -> bool:
    """The session's database is PostgreSQL (not the embedded SQLite): where a query may use what only it has."""
    return session.get_bind().dialect.name == "postgresql"


def at_once(session: Session, reads: dict[str, Callable[[Session], Any]], most: int = 4) -> dict[str, Any]:
    """Each read's answer, the read given a session. On PostgreSQL up to `most` run at the same time, each in a
    session (and a pooled connection) of its own, so the database works on one while Python takes in another's
    rows; each sees what was committed when its statements began, as one after another would in a READ COMMITTED
    session. So they do not see the calling session's changes until it commits: with any pending, and on SQLite,
    they run one after another in the calling session."""
    if not on_postgresql(session) or session.new or session.dirty or session.deleted or len(reads) < 2:
        return {name: read(session) for name, read in reads.items()}
    engine = session.get_bind()

    def in_own_session(read):
        with Session(engine) as own:
            return read(own)

    with ThreadPoolExecutor(max_workers=most) as pool:
        futures = {name: pool.submit(in_own_session, read) for name, read in reads.items()}
        return {name: future.result() for name, future in futures.items()}


def alembic_config(url: str):
    """The Alembic configuration for our migrations folder, pointed at the URL."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_schema(url: str, revision: str = "head") -> None:
    """Run the migrations up to the revision (head by default)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
