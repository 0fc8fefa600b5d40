"""A synthetic community in PostgreSQL for the benchmarks: N cases over two years, made by INSERT ... SELECT."""
from __future__ import annotations

import os

import sqlalchemy as sa

from service.db import Database, upgrade_schema

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/snap_bench")
SPAN_DAYS = 730  # the cases are spread over two years, so a week holds about N / 104 of them
OPEN_DAYS = 10  # cases still open were reported in the last days; older ones are long closed or rejected


def fresh_database(url: str = URL) -> Database:
    """Drop and re-create the benchmark's own database, migrate it, and add a reporter, a worker, 4 categories."""
    admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    upgrade_schema(url)
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, display_name, role, active, created_at) VALUES "
                             "('r', 'r', 'reporter', true, now()), ('w', 'w', 'grid_worker', true, now())"))
        for code in ("B0118", "B0101", "E0101", "E0301"):
            conn.execute(sa.text("INSERT INTO categories (code, name, kind, major_class, deadline_hours, priority,"
                                 " points, active) VALUES (:c, :c, '部件', 'x', 48, 0, 5, true)"), {"c": code})
        conn.execute(sa.text("""INSERT INTO grids (code, name, polygon, worker_id, updated_at)
            SELECT 'G' || g, 'G' || g, '{"type": "Polygon", "coordinates": []}', 2, now()
            FROM generate_series(1, 12) AS g"""))
    return db


def fill(db: Database, n: int) -> None:
    """n cases reported over two years up to now, in the order they came in (as a real table grows): most of the
    last 10 days' still open, 3% rejected, the rest closed, ~85% on time; a rework on 4% and an extension on 3%
    of them; a points row per closed case."""
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"""
            INSERT INTO cases (case_no, reporter_id, category_id, grid_id, assignee_id, lat, lon, coord_system,
                               description, state, created_at, updated_at, dispatched_at, deadline_at, closed_at,
                               old_photo, processing_attempts, version, priority, rework_count)
            SELECT 'B' || g, 1, 1 + g % 4, 1 + g % 12, 2, 32.0 + random() * 0.03, 120.84 + random() * 0.04,
                   'wgs84', '', s.state, s.created, s.created, s.created, s.created + interval '48 hours',
                   CASE WHEN s.state = 'closed' THEN s.created + (random() * 56) * interval '1 hour' END,
                   false, 0, 1, CASE WHEN g % 10 = 0 THEN 2 ELSE 0 END, 0
            FROM generate_series(1, {n}) AS g,
            LATERAL (SELECT t.created,
                            CASE WHEN t.created > now() - interval '{OPEN_DAYS} days' AND random() < 0.6
                                 THEN 'in_progress' WHEN random() < 0.03 THEN 'rejected' ELSE 'closed' END AS state
                     FROM (SELECT now() - (({n} - g) * {SPAN_DAYS}.0 / {n}) * interval '1 day'
                                  - random() * interval '1 hour' AS created) AS t
                    ) AS s"""))
        conn.execute(sa.text("""
            INSERT INTO case_events (case_id, actor_id, from_state, to_state, action, note, created_at)
            SELECT id, 2, 'resolved', 'in_progress', 'rework', '', created_at + interval '20 hours'
            FROM cases WHERE id % 25 = 0
            UNION ALL
            SELECT id, 2, 'dispatched', 'dispatched', 'extend', '', created_at + interval '10 hours'
            FROM cases WHERE id % 33 = 0"""))
        conn.execute(sa.text("""
            INSERT INTO points_ledger (user_id, case_id, rule, points, created_at)
            SELECT 1, id, 'report_closed', 5, closed_at FROM cases WHERE state = 'closed'"""))
    # as autovacuum would leave a settled table: statistics, and a visibility map for index-only counts
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
