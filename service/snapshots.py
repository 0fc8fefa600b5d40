"""Consistent snapshots of the database into one file, and back: SQLite by its online backup API, PostgreSQL by
pg_dump and pg_restore (custom format)."""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

SQLITE, POSTGRESQL = "sqlite", "postgresql"
SNAPSHOT_FILES = {SQLITE: "database.sqlite3", POSTGRESQL: "database.pgdump"}
POSTGRES_VERSIONS = Path("/usr/lib/postgresql")  # Debian's side-by-side installs: <major>/bin/pg_dump


class SnapshotFailed(Exception):
    """A snapshot could not be taken or put back; the message says why."""


@dataclass(frozen=True)
class Figures:
    """What a database holds, as a backup's manifest records it and a restore checks it."""

    cases: int
    photos: int
    revision: str | None  # the migration (Alembic) revision of its schema; None when it has none


def database_kind(url: str) -> str:
    """sqlite or postgresql, from a DATABASE_URL; any other is refused."""
    kind = make_url(url).get_backend_name()
    if kind not in SNAPSHOT_FILES:
        raise SnapshotFailed(f"backups know SQLite and PostgreSQL, not {kind!r}")
    return kind


def sqlite_file(url: str) -> Path:
    """The database file a sqlite:///path URL names."""
    path = make_url(url).database
    if not path or path == ":memory:":
        raise SnapshotFailed(f"{url!r} names no database file")
    return Path(path)


def figures(connection: sa.Connection) -> Figures:
    """The cases and photos rows and the schema's revision; nothing (0, 0, None) in a database without our tables."""
    tables = set(sa.inspect(connection).get_table_names())
    if "cases" not in tables:
        return Figures(0, 0, None)

    def scalar(sql: str):
        return connection.execute(sa.text(sql)).scalar()

    revision = scalar("SELECT version_num FROM alembic_version") if "alembic_version" in tables else None
    return Figures(scalar("SELECT count(*) FROM cases"), scalar("SELECT count(*) FROM photos"), revision)


# every column naming a file of the photo store: (table, column)
PHOTO_COLUMNS = (("photos", "original_path"), ("photos", "web_path"), ("photos", "thumb_path"),
                 ("good_deeds", "photo_path"))


def photo_names(connection: sa.Connection) -> set[str]:
    """Every photo file the database's rows name (a table this database's schema lacks names none)."""
    tables = set(sa.inspect(connection).get_table_names())
    names: set[str] = set()
    for table, column in PHOTO_COLUMNS:
        if table in tables:
            names.update(connection.execute(
                sa.text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")).scalars())
    return names


@dataclass(frozen=True)
class Snapshot:
    """A snapshot taken: its file's name in the backup, its figures and the photo files its rows name."""

    file: str
    figures: Figures
    photo_names: frozenset[str]


def figures_of(url: str) -> Figures:
    """The figures of the database at the URL, read on a connection of its own."""
    return _read(url, figures)


def _read(url: str, what):
    """What the function reads on a connection of its own to the database at the URL."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return what(connection)
    except sa.exc.DBAPIError as exc:
        raise SnapshotFailed(f"could not read the database: {exc.orig}") from exc
    finally:
        engine.dispose()


# --- SQLite ---

def snapshot_sqlite(url: str, target: Path) -> tuple[Figures, set[str]]:
    """Copy the live database file into target in one step of the backup API: one read transaction for the whole
    copy, so the copy is the database at one instant while the service goes on writing (WAL)."""
    source_path = sqlite_file(url)
    if not source_path.exists():
        raise SnapshotFailed(f"no database at {source_path}")
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        checked = copy.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        copy.close()
        source.close()
    if checked != "ok":
        raise SnapshotFailed(f"the snapshot of {source_path} fails SQLite's check: {checked}")
    return _read(f"sqlite:///{target}", lambda connection: (figures(connection), photo_names(connection)))


def restore_sqlite(snapshot: Path, url: str) -> None:
    """Write the snapshot into the database file the URL names, through SQLite (the backup API again), so its
    journal is kept right; the service must be stopped, or it would go on from what it had in memory."""
    target = sqlite_file(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    into = sqlite3.connect(target, timeout=30)
    try:
        source.backup(into)
    except sqlite3.Error as exc:
        raise SnapshotFailed(f"could not write {target}: {exc}") from exc
    finally:
        into.close()
        source.close()


# --- PostgreSQL ---

def postgres_tool(name: str, chosen: str | None) -> str:
    """The program to run: the one chosen (PG_DUMP, PG_RESTORE), else the newest of Debian's installed versions,
    else the one on PATH. pg_dump refuses a server newer than itself, so the newest is the one to take."""
    if chosen:
        found = shutil.which(chosen)
        if not found:
            raise SnapshotFailed(f"{chosen} (set for {name}) is not a program that can be run")
        return found
    versions = sorted(((int(p.parent.parent.name), p) for p in POSTGRES_VERSIONS.glob(f"*/bin/{name}")
                       if p.parent.parent.name.isdigit()), reverse=True)
    found = str(versions[0][1]) if versions else shutil.which(name)
    if not found:
        raise SnapshotFailed(f"{name} not found: install PostgreSQL's client programs, or set "
                             f"{name.upper()} to one")
    return found


def tool_major(program: str) -> int:
    """The major version of a PostgreSQL program, from its --version."""
    said = subprocess.run([program, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"\)\s*(\d+)", said)
    if not match:
        raise SnapshotFailed(f"{program} --version said {said!r}, not a PostgreSQL version")
    return int(match.group(1))


def _conninfo_value(value) -> str:
    """A value quoted for a libpq connection string."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """What pg_dump and pg_restore take for the SQLAlchemy URL: a connection string without the password, and the
    environment for the child, with the password in PGPASSWORD (never on a command line, where ps shows it)."""
    parsed = make_url(url)
    parts = {"host": parsed.host, "port": parsed.port, "user": parsed.username, "dbname": parsed.database,
             **{k: v for k, v in parsed.query.items() if isinstance(v, str)}}
    conninfo = " ".join(f"{k}={_conninfo_value(v)}" for k, v in parts.items() if v not in (None, ""))
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return conninfo, env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    """Run a PostgreSQL program; its refusal, with what it said, is SnapshotFailed."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SnapshotFailed(f"{what} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def snapshot_postgresql(url: str, target: Path, pg_dump: str | None) -> tuple[Figures, set[str]]:
    """pg_dump in custom format of a snapshot exported by a REPEATABLE READ transaction that reads the figures
    and the photos' names too: the dump, the manifest's counts and the names are of the same instant, however busy
    the service is."""
    program = postgres_tool("pg_dump", pg_dump)
    conninfo, env = libpq_target(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                exported = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar()
                server = int(connection.execute(sa.text("SHOW server_version_num")).scalar()) // 10000
                if tool_major(program) < server:
                    raise SnapshotFailed(f"{program} is older than the server (PostgreSQL {server}): set PG_DUMP "
                                         f"to a pg_dump of version {server} or newer")
                held = figures(connection), photo_names(connection)
                _run([program, "--format=custom", f"--snapshot={exported}", "--no-password",
                      f"--file={target}", f"--dbname={conninfo}"], env, "pg_dump")
    except sa.exc.DBAPIError as exc:
        raise SnapshotFailed(f"could not read the database: {exc.orig}") from exc
    finally:
        engine.dispose()
    return held


def restore_postgresql(snapshot: Path, url: str, pg_restore: str | None) -> None:
    """pg_restore the dump into the database the URL names in one transaction: its tables dropped and made again
    from the dump, owned by whoever restores; on any error nothing of it is kept."""
    program = postgres_tool("pg_restore", pg_restore)
    conninfo, env = libpq_target(url)
    _run([program, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--no-password",
          f"--dbname={conninfo}", str(snapshot)], env, "pg_restore")


def take_snapshot(url: str, target_folder: Path, pg_dump: str | None) -> Snapshot:
    """Snapshot the database into its file in the folder."""
    kind = database_kind(url)
    target = target_folder / SNAPSHOT_FILES[kind]
    held, names = snapshot_sqlite(url, target) if kind == SQLITE else snapshot_postgresql(url, target, pg_dump)
    return Snapshot(target.name, held, frozenset(names))


def put_snapshot_back(kind: str, snapshot: Path, url: str, pg_restore: str | None) -> None:
    """Write a snapshot of that kind into the database the URL names."""
    if kind == SQLITE:
        restore_sqlite(snapshot, url)
    else:
        restore_postgresql(snapshot, url, pg_restore)
