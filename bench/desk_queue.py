"""Desk queue benchmark: a page of the district staff's open-case queue (first and deep) among 10^6 cases in
PostgreSQL."""
from __future__ import annotations

import os
import time
from datetime import timedelta

import sqlalchemy as sa

from bench.dataset import STAFF_ID, fill, fresh_database
from bench.figures import figure, median_ms
from service.db import utcnow
from service.models import User
from service.queue import QueueFilter, queue_page

CASES = int(os.environ.get("BENCH_CASES", "1000000"))


def main() -> None:
    """Build the database, then time the district staff's first page and a page 200 pages deep, against a
    count(*)."""
    started = time.perf_counter()
    db = fresh_database()
    fill(db, CASES)
    print(f"desk queue: {CASES} cases generated in {time.perf_counter() - started:.0f} s", flush=True)
    now = utcnow() + timedelta(seconds=1)
    with db.session() as session:
        staff = session.get(User, STAFF_ID)  # the district's: every case is theirs, as before the district
        first = median_ms(lambda: queue_page(session, QueueFilter(), now, staff), 20, warmup=0)
        cursor = None
        for _ in range(200):
            _, cursor = queue_page(session, QueueFilter(), now, staff, cursor)
        deep = median_ms(lambda: queue_page(session, QueueFilter(), now, staff, cursor), 20, warmup=0)
        count = median_ms(lambda: session.scalar(sa.text("SELECT count(*) FROM cases")), 5, warmup=0)
    print(f"desk queue: first page {first:.1f} ms, page 201 {deep:.1f} ms, count(*) {count:.1f} ms", flush=True)
    figure("desk_queue_first_page_ms_1e6", first, "<=", 50)
    figure("desk_queue_deep_page_vs_first_1e6", deep / first, "<=", 2)
    db.dispose()


if __name__ == "__main__":
    main()
