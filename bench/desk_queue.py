"""Desk queue benchmark: a page of the open-case queue (first and deep) among 10^6 cases in PostgreSQL."""
from __future__ import annotations

import os
import time
from datetime import timedelta

import sqlalchemy as sa

from bench.figures import figure
from service.db import Database, upgrade_schema, utcnow
from service.desk import QueueFilter, queue_page

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/snap_bench")
CASES = int(os.environ.get("BENCH_CASES", "1000000"))
OPEN_SHARE = 0.05  # most cases of a running community are long closed


def fresh_database(url: str) -> None:
    """Drop and re-create the benchmark's own database, then migrate it."""
    admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    upgrade_schema(url)


def fill(db: Database, n: int) -> None:
    """n cases in one INSERT ... SELECT: 5% open with deadlines spread over a week, the rest closed."""
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, display_name, role, active, created_at) "
                             "VALUES ('r', 'r', 'reporter', true, now())"))
        conn.execute(sa.text("INSERT INTO categories (code, name, kind, major_class, deadline_hours, priority, points,"
                             " active) VALUES ('B0118', '路灯', '部件', '公用设施', 72, 0, 5, true)"))
        conn.execute(sa.text(f"""
            INSERT INTO cases (case_no, reporter_id, category_id, lat, lon, coord_system, description, state,
                               created_at, updated_at, deadline_at, old_photo, processing_attempts, version,
                               priority, rework_count)
            SELECT 'B' || g, 1, 1, 32.0 + random() * 0.03, 120.84 + random() * 0.04, 'wgs84', '', 
                   CASE WHEN random() < {OPEN_SHARE} THEN 'dispatched' ELSE 'closed' END,
                   now() - g * interval '30 seconds', now(), now() + (random() * 168 - 84) * interval '1 hour',
                   false, 0, 1, CASE WHEN random() < 0.1 THEN 2 ELSE 0 END, 0
            FROM generate_series(1, {n}) AS g"""))
        conn.execute(sa.text("ANALYZE cases"))


def timed_ms(fn, repeat: int = 20) -> float:
    """Median milliseconds of fn over repeat calls."""
    spent = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        spent.append((time.perf_counter() - start) * 1000)
    return sorted(spent)[len(spent) // 2]


def main() -> None:
    """Build the database, then time the first page and a page 200 pages deep, against a count(*)."""
    started = time.perf_counter()
    fresh_database(URL)
    db = Database(URL)
    fill(db, CASES)
    print(f"desk queue: {CASES} cases generated in {time.perf_counter() - started:.0f} s", flush=True)
    now = utcnow() + timedelta(seconds=1)
    with db.session() as session:
        first = timed_ms(lambda: queue_page(session, QueueFilter(), now))
        cursor = None
        for _ in range(200):
            _, cursor = queue_page(session, QueueFilter(), now, cursor)
        deep = timed_ms(lambda: queue_page(session, QueueFilter(), now, cursor))
        count = timed_ms(lambda: session.scalar(sa.text("SELECT count(*) FROM cases")), repeat=5)
    print(f"desk queue: first page {first:.1f} ms, page 201 {deep:.1f} ms, count(*) {count:.1f} ms", flush=True)
    figure("desk_queue_first_page_ms_1e6", first, "<=", 50)
    figure("desk_queue_deep_page_vs_first_1e6", deep / first, "<=", 2)
    db.dispose()


if __name__ == "__main__":
    main()
