"""Weekly report benchmark: building one week's report with 10^4, 10^5 and 10^6 cases, against a count(*)."""
from __future__ import annotations

import math
import os
import time

import sqlalchemy as sa

from bench.dataset import fill, fresh_database
from bench.figures import figure, median_ms
from service.db import utcnow
from service.weekly import last_week, weekly_closure

SIZES = [int(s) for s in os.environ.get("BENCH_WEEKLY_SIZES", "10000,100000,1000000").split(",")]
TZ = "Asia/Shanghai"


def measure(n: int) -> tuple[float, float]:
    """(report ms, count(*) ms) on a fresh database of n cases."""
    started = time.perf_counter()
    db = fresh_database()
    fill(db, n)
    print(f"weekly: {n} cases generated in {time.perf_counter() - started:.0f} s", flush=True)
    week, now = last_week(utcnow(), TZ), utcnow()
    with db.session() as session:
        report_ms = median_ms(lambda: weekly_closure(session, week, TZ, now), repeat=5)
        count_ms = median_ms(lambda: session.scalar(sa.text("SELECT count(*) FROM cases")), repeat=5)
        data = weekly_closure(session, week, TZ, now)
    print(f"weekly: {n} cases: report {report_ms:.0f} ms, count(*) {count_ms:.1f} ms, ratio "
          f"{report_ms / count_ms:.1f}; week {data['week']}: received {data['overall']['received']}, "
          f"closed {data['overall']['closed']}, closure rate {data['overall']['closure_rate']}", flush=True)
    db.dispose()
    return report_ms, count_ms


def main() -> None:
    """Measure every size, then print the ratio at the largest and the growth from the smallest."""
    results = {n: measure(n) for n in SIZES}
    small, large = min(SIZES), max(SIZES)
    exponent = math.log(results[large][0] / results[small][0]) / math.log(large / small) if large > small else None
    figure(f"weekly_report_vs_count_1e{len(str(large)) - 1}", results[large][0] / results[large][1], "<=", 10)
    figure("weekly_report_growth_exponent", exponent, "<=", 1.0)


if __name__ == "__main__":
    main()
