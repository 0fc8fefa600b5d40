"""District benchmark: 15 street offices, 200 communities, 3,000 grids and 10^6 cases over a year in PostgreSQL —
a community desk's first queue page, placing a point among the grids, every level's weekly report."""
from __future__ import annotations

import json
import os
import random
import time
from datetime import timedelta

import sqlalchemy as sa

import service.weekly as weekly
from bench.dataset import URL, WORKER_ID, Place, empty_database, fill
from bench.figures import figure, median_ms, median_seconds
from bench.tiling import Tiling
from service.db import Database, utcnow
from service.dispatch import build_district_index
from service.grids import DistrictIndex
from service.models import Community, User
from service.queue import QueueFilter, queue_page

CASES = int(os.environ.get("BENCH_CASES", "1000000"))
DISTRICT_URL = os.environ.get("BENCH_DISTRICT_DATABASE_URL", URL + "_district")
OFFICES = 15
# 10 x 20 communities of 3 x 5 grids around Chongchuan, each with half a grid of ground in no grid north and east:
# about 0.77 x 1.04 km a community, 7.7 x 21 km in all
MAP = Tiling(rows=10, cols=20, cell_rows=3, cell_cols=5, lat0=32.0, lon0=120.86, margin=0.5)
SPAN_DAYS = 365
TZ = "Asia/Shanghai"
SNAP_M = 30.0
DESK_COMMUNITY = 101  # whose staff member's desk is timed: one community in the middle of the map
LOOKUP_POINTS = 5_000  # points located per timed run, 2% of the map's size beyond it on each side
CHECKED_POINTS = 1_000  # of which this many are checked against the polygons one by one


def office_of(community_id: int) -> int:
    """The street office a community belongs to: the offices take consecutive runs of communities."""
    return 1 + (community_id - 1) * OFFICES // (MAP.rows * MAP.cols)


def places() -> list[Place]:
    """Every grid as a place cases land in, with its community and street office."""
    return [Place(g.grid_id, g.community_id, office_of(g.community_id), *MAP.grid_box(g.grid_id))
            for g in MAP.grids()]


def district_database() -> Database:
    """A fresh database holding the map's street offices, communities (current boundaries) and grids, and a
    staff member of DESK_COMMUNITY."""
    db = empty_database(DISTRICT_URL)
    now = utcnow()
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO street_offices (id, code, name) VALUES (:id, :code, :name)"),
                     [{"id": k, "code": f"jd{k:02}", "name": f"街道{k:02}"} for k in range(1, OFFICES + 1)])
        communities = MAP.communities()
        conn.execute(sa.text("INSERT INTO communities (id, code, name, street_office_id) "
                             "VALUES (:id, :code, :name, :office)"),
                     [{"id": c.community_id, "code": f"sq{c.community_id:03}", "name": f"社区{c.community_id:03}",
                       "office": office_of(c.community_id)} for c in communities])
        conn.execute(sa.text("INSERT INTO community_boundaries (community_id, polygon, valid_from) "
                             "VALUES (:id, CAST(:polygon AS json), :now)"),
                     [{"id": c.community_id, "polygon": json.dumps(c.geometry), "now": now} for c in communities])
        conn.execute(sa.text("INSERT INTO grids (id, code, name, polygon, worker_id, community_id, valid_from, "
                             "updated_at) VALUES (:id, :code, :code, CAST(:polygon AS json), :worker, :community, "
                             ":now, :now)"),
                     [{"id": g.grid_id, "code": f"G{g.grid_id:04}", "polygon": json.dumps(g.geometry),
                       "worker": WORKER_ID, "community": g.community_id, "now": now} for g in MAP.grids()])
        conn.execute(sa.text("INSERT INTO users (username, display_name, role, active, created_at, community_id, "
                             "street_office_id) VALUES ('desk', 'desk', 'staff', true, :now, :c, :o)"),
                     {"now": now, "c": DESK_COMMUNITY, "o": office_of(DESK_COMMUNITY)})
    return db


def count_cases(session) -> int:
    """The baseline every report is measured against: a plain count of the cases."""
    return session.scalar(sa.text("SELECT count(*) FROM cases"))


def desk_queue(session, count_ms: float) -> None:
    """Time the community staff member's first queue page (their community's open cases only)."""
    desk = session.scalar(sa.select(User).where(User.username == "desk"))
    now = utcnow() + timedelta(seconds=1)
    cases, _ = queue_page(session, QueueFilter(), now, desk)
    assert cases and all(c.community_id == DESK_COMMUNITY for c in cases), "the desk saw another community's cases"
    first = median_ms(lambda: queue_page(session, QueueFilter(), now, desk), 20)
    print(f"district: community {DESK_COMMUNITY}'s desk: first page ({len(cases)} cases) {first:.1f} ms "
          f"(count(*) {count_ms:.1f} ms)", flush=True)
    figure(f"district_queue_first_page_ms_{size_name(CASES)}", first, "<=", 20)


def check_located(index: DistrictIndex, points: list[tuple[float, float]]) -> dict[str, int]:
    """Assert the index places each point as the map says (the grid it is in; else its community, and a grid only
    within the snap distance; else outside or within the snap distance of the map); how many fell where."""
    where = {"grid": 0, "community": 0, "outside": 0}
    for lat, lon in points:
        found = index.locate(lat, lon)
        grids = [g for g in range(1, len(index) + 1) if _inside(MAP.grid_box(g), lat, lon)]
        communities = [c for c in range(1, MAP.rows * MAP.cols + 1) if _inside(MAP.community_box(c), lat, lon)]
        if grids:
            where["grid"] += 1
            assert found is not None and found.grid_id == min(grids) and found.distance_m == 0, (lat, lon, found)
            assert found.community_id == MAP.community_of(found.grid_id), (lat, lon, found)
        elif communities:
            where["community"] += 1
            assert found is not None and found.community_id == min(communities), (lat, lon, found)
            assert found.grid_id is None or found.distance_m <= SNAP_M, (lat, lon, found)
        else:
            where["outside"] += 1
            assert found is None or found.distance_m <= SNAP_M, (lat, lon, found)
    return where


def _inside(box: tuple[float, float, float, float], lat: float, lon: float) -> bool:
    south, west, north, east = box
    return south <= lat <= north and west <= lon <= east


def dispatch_lookup(session) -> None:
    """Time DistrictIndex.locate, built from the database's current boundaries and grids, on random points."""
    index = build_district_index(session, SNAP_M)
    rng = random.Random(14)
    points = MAP.points([(rng.random(), rng.random()) for _ in range(LOOKUP_POINTS)], spill=0.02)
    where = check_located(index, points[:CHECKED_POINTS])
    per_lookup = median_seconds({"locate": lambda: [index.locate(lat, lon) for lat, lon in points]}, 9)["locate"]
    us = per_lookup / len(points) * 1e6
    print(f"district: {len(index)} grids, {len(index.communities.ids)} communities; of {CHECKED_POINTS} points "
          f"checked {where['grid']} in a grid, {where['community']} in a community outside its grids, "
          f"{where['outside']} outside; {us:.1f} us/lookup over {len(points)} points", flush=True)
    figure(f"district_dispatch_lookup_us_{size_name(len(index))}", us, "<=", 25)


def size_name(n: int) -> str:
    """3e3 for 3,000, 1e6 for 10^6: how a figure names its size."""
    return f"{n / 10 ** (len(str(n)) - 1):g}e{len(str(n)) - 1}"


def weekly_reports(session) -> None:
    """Time every level's weekly report of last week, and one community's alone, against count(*), in turns."""
    week, now = weekly.last_week(utcnow(), TZ), utcnow()
    build_all = getattr(weekly, "build_all_weekly_reports", None)
    community = session.get(Community, DESK_COMMUNITY).code
    if build_all is None:  # before the levelled report: the one report the service builds
        print("district: no build_all_weekly_reports in service.weekly: timing weekly_closure (one report) for the "
              "district figure; the community figure is missing", flush=True)
        runs = {"all": lambda: weekly.weekly_closure(session, week, TZ, now)}
    else:
        runs = {"all": lambda: build_all(session, week, TZ, now),
                "community": lambda: weekly.build_weekly_report(session, week, TZ, now, scope=f"community:{community}")}
    runs["count"] = lambda: count_cases(session)
    if build_all is not None:
        # the trend's 6 earlier weeks come from their own kept reports, as the Monday job leaves them; the first
        # build, with none kept, counts those weeks from the cases
        started = time.perf_counter()
        build_all(session, week, TZ, now)
        cold_ms = (time.perf_counter() - started) * 1000
        for back in range(2, 8):
            build_all(session, week.shifted(-back), TZ, now)
        print(f"district: week {week.name}'s reports with no earlier week's kept: {cold_ms:.0f} ms (once); the "
              f"6 earlier weeks' then kept, as the weekly job leaves them", flush=True)
    seconds = median_seconds(runs, 5)
    count_s = seconds["count"]
    scopes = len(build_all(session, week, TZ, now)) if build_all else 1
    community_s = seconds.get("community")
    print(f"district: week {week.name}: {scopes} reports {seconds['all'] * 1000:.0f} ms, community {community} "
          f"{'—' if community_s is None else f'{community_s * 1000:.0f}'} ms, count(*) {count_s * 1000:.1f} ms",
          flush=True)
    figure(f"district_weekly_vs_count_{size_name(CASES)}", seconds["all"] / count_s, "<=", 10)
    community_ratio = None if community_s is None else community_s / count_s
    figure(f"district_community_weekly_vs_count_{size_name(CASES)}", community_ratio, "<=", 3)


def main() -> None:
    """Generate the district, then measure its figures."""
    started = time.perf_counter()
    db = district_database()
    fill(db, CASES, places(), SPAN_DAYS)
    print(f"district: {OFFICES} street offices, {MAP.rows * MAP.cols} communities, "
          f"{MAP.rows * MAP.cols * MAP.per_community} grids, {CASES} cases generated in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    with db.session() as session:
        count_ms = median_ms(lambda: count_cases(session), 5)
        desk_queue(session, count_ms)
        dispatch_lookup(session)
        weekly_reports(session)
    db.dispose()


if __name__ == "__main__":
    main()
