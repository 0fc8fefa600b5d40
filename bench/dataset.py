"""A synthetic community (or district) in PostgreSQL for the benchmarks: N cases over two years, made by
INSERT ... SELECT, each case in a grid of its community and street office."""
from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa

from service.db import Database, upgrade_schema

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/snap_bench")
SPAN_DAYS = 730  # the cases are spread over two years, so a week holds about N / 104 of them
OPEN_DAYS = 10  # cases still open were reported in the last days; older ones are long closed or rejected
REPORTER_ID, WORKER_ID, STAFF_ID = 1, 2, 3  # the users every benchmark database starts with
EMPTY_POLYGON = '{"type": "Polygon", "coordinates": []}'


@dataclass(frozen=True)
class Place:
    """Where some cases land: a grid, its community and street office, and the box (degrees) their points fill."""

    grid_id: int
    community_id: int
    street_office_id: int
    south: float
    west: float
    north: float
    east: float


def empty_database(url: str = URL) -> Database:
    """Drop and re-create the benchmark's own database, migrate it, and add a reporter, a grid worker, a district
    staff member (no community or office: they see everything) and 4 categories."""
    admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    assert name != "test", "the benchmarks never touch the database named test"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    upgrade_schema(url)
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (id, username, display_name, role, active, created_at) VALUES "
                             f"({REPORTER_ID}, 'r', 'r', 'reporter', true, now()), "
                             f"({WORKER_ID}, 'w', 'w', 'grid_worker', true, now()), "
                             f"({STAFF_ID}, 's', 's', 'staff', true, now())"))
        conn.execute(sa.text("SELECT setval('users_id_seq', (SELECT max(id) FROM users))"))
        for code in ("B0118", "B0101", "E0101", "E0301"):
            conn.execute(sa.text("INSERT INTO categories (code, name, kind, major_class, deadline_hours, priority,"
                                 " points, active) VALUES (:c, :c, '部件', 'x', 48, 0, 5, true)"), {"c": code})
    return db


def fresh_database(url: str = URL) -> Database:
    """An empty database (empty_database) holding one community of one street office, with 12 grids."""
    db = empty_database(url)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO street_offices (id, code, name) VALUES (1, 'jd', 'jd')"))
        conn.execute(sa.text("INSERT INTO communities (id, code, name, street_office_id) VALUES (1, 'sq', 'sq', 1)"))
        conn.execute(sa.text(f"""INSERT INTO grids (id, code, name, polygon, worker_id, community_id, valid_from,
                                                    updated_at)
            SELECT g, 'G' || g, 'G' || g, '{EMPTY_POLYGON}', {WORKER_ID}, 1, now(), now()
            FROM generate_series(1, 12) AS g"""))
    return db


def community_places() -> list[Place]:
    """The one community's 12 grids, their cases all over its 3 x 4 km."""
    return [Place(g, 1, 1, 32.0, 120.84, 32.03, 120.88) for g in range(1, 13)]


def _places_table(conn: sa.Connection, places: list[Place]) -> None:
    """A temporary table of the places, numbered from 0 (a case goes to place g % len(places))."""
    conn.execute(sa.text("CREATE TEMPORARY TABLE places (slot int PRIMARY KEY, grid_id int, community_id int, "
                         "street_office_id int, south float8, west float8, north float8, east float8) "
                         "ON COMMIT DROP"))
    conn.execute(sa.text("INSERT INTO places VALUES (:slot, :grid_id, :community_id, :street_office_id, :south, "
                         ":west, :north, :east)"),
                 [{"slot": i, **vars(p)} for i, p in enumerate(places)])
    conn.execute(sa.text("ANALYZE places"))


def fill(db: Database, n: int, places: list[Place] | None = None, span_days: int = SPAN_DAYS) -> None:
    """n cases reported over span_days up to now, in the order they came in (as a real table grows), taking turns
    over the places (the one community's by default), each at a random point of its place: most of the last 10
    days' still open, 3% rejected, the rest closed, ~85% on time; a rework on 4% and an extension on 3% of them; a
    points row per closed case."""
    places = places or community_places()
    with db.engine.begin() as conn:
        _places_table(conn, places)
        conn.execute(sa.text(f"""
            INSERT INTO cases (case_no, reporter_id, category_id, grid_id, community_id, street_office_id,
                               assignee_id, lat, lon, coord_system, description, state, created_at, updated_at,
                               dispatched_at, deadline_at, closed_at, old_photo, processing_attempts, version,
                               priority, rework_count)
            SELECT 'B' || g, {REPORTER_ID}, 1 + g % 4, p.grid_id, p.community_id, p.street_office_id, {WORKER_ID},
                   p.south + random() * (p.north - p.south), p.west + random() * (p.east - p.west),
                   'wgs84', '', s.state, s.created, s.created, s.created, s.created + interval '48 hours',
                   CASE WHEN s.state = 'closed' THEN s.created + (random() * 56) * interval '1 hour' END,
                   false, 0, 1, CASE WHEN g % 10 = 0 THEN 2 ELSE 0 END, 0
            FROM generate_series(1, {n}) AS g
            JOIN places AS p ON p.slot = g % {len(places)},
            LATERAL (SELECT t.created,
                            CASE WHEN t.created > now() - interval '{OPEN_DAYS} days' AND random() < 0.6
                                 THEN 'in_progress' WHEN random() < 0.03 THEN 'rejected' ELSE 'closed' END AS state
                     FROM (SELECT now() - (({n} - g) * {span_days}.0 / {n}) * interval '1 day'
                                  - random() * interval '1 hour' AS created) AS t
                    ) AS s
            ORDER BY g"""))
        conn.execute(sa.text(f"""
            INSERT INTO case_events (case_id, actor_id, from_state, to_state, action, note, created_at)
            SELECT id, {WORKER_ID}, 'resolved', 'in_progress', 'rework', '', created_at + interval '20 hours'
            FROM cases WHERE id % 25 = 0
            UNION ALL
            SELECT id, {WORKER_ID}, 'dispatched', 'dispatched', 'extend', '', created_at + interval '10 hours'
            FROM cases WHERE id % 33 = 0"""))
        conn.execute(sa.text(f"""
            INSERT INTO points_ledger (user_id, case_id, rule, points, created_at)
            SELECT {REPORTER_ID}, id, 'report_closed', 5, closed_at FROM cases WHERE state = 'closed'"""))
    # as autovacuum would leave a settled table: statistics, and a visibility map for index-only counts
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
