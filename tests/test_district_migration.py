"""An install that served one community upgrades in place (migration 0009): a database made by the schema before,
with people, grids, cases and a weekly report in it, becomes one community of a one-office district, and its staff,
grid workers and riders go on as before: the same logins, the same cases at the desk, reports still routed."""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from support import DEMO_PASSWORD, Api, demo_password_hash, make_settings, run_jobs

from service.db import Database, upgrade_schema
from service.web import create_app

GRID = {"type": "Polygon", "coordinates": [[[120.84, 32.0], [120.85, 32.0], [120.85, 32.01], [120.84, 32.01],
                                            [120.84, 32.0]]]}
OLD_PEOPLE = (("oldstaff", "staff"), ("oldgw", "grid_worker"), ("oldrider", "reporter"), ("oldadmin", "admin"))


@contextmanager
def scratch_database(tmp_path):
    """An empty database of the engine the suite runs on: a SQLite file, or a new PostgreSQL database."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"migration_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _old_install(url: str) -> None:
    """The schema of 0008 with what a community had made in it: people, a category, a grid, cases, a report."""
    upgrade_schema(url, "0008")
    db = Database(url)
    with db.engine.begin() as conn:
        run = conn.execute
        for username, role in OLD_PEOPLE:
            run(sa.text("INSERT INTO users (username, display_name, role, active, created_at, password_hash, "
                        "session_version) VALUES (:u, :u, :r, true, '2026-11-02 00:00:00', :h, 0)"),
                {"u": username, "r": role, "h": demo_password_hash()})
        ids = dict(run(sa.text("SELECT username, id FROM users")).all())
        run(sa.text("INSERT INTO categories (code, name, kind, major_class, deadline_hours, priority, points, active)"
                    " VALUES ('B0118', '路灯', '部件', '公用设施', 72, 0, 5, true)"))
        run(sa.text("INSERT INTO grids (code, name, polygon, worker_id, updated_at) "
                    "VALUES ('G01', '老网格', :p, :w, '2026-11-02 00:00:00')"),
            {"p": json.dumps(GRID), "w": ids["oldgw"]})
        category = run(sa.text("SELECT id FROM categories")).scalar()
        grid = run(sa.text("SELECT id FROM grids")).scalar()
        for n, (state, unit) in enumerate((("dispatched", None), ("unrouted", None), ("dispatched", "wuye")), 1):
            run(sa.text("INSERT INTO cases (case_no, reporter_id, category_id, lat, lon, coord_system, description, "
                        "state, grid_id, assignee_id, created_at, updated_at, priority, assignee_unit, rework_count, "
                        "old_photo, processing_attempts, version, deadline_at) VALUES (:no, :r, :c, 32.005, 120.845, "
                        "'wgs84', '', :s, :g, :a, '2026-11-30 01:00:00', '2026-11-30 01:00:00', 0, :unit, 0, false, "
                        "0, 1, '2026-12-30 01:00:00')"),
                {"no": f"20261130-000{n}", "r": ids["oldrider"], "c": category, "s": state,
                 "g": grid if state == "dispatched" else None, "a": ids["oldgw"] if not unit else None, "unit": unit})
        run(sa.text("INSERT INTO weekly_reports (week, built_at, data) VALUES ('2026-W48', '2026-11-30 00:00:00', "
                    "'{\"week\": \"2026-W48\", \"overall\": {\"closure_rate\": 0.5}}')"))
    db.dispose()


@pytest.fixture
def upgraded(tmp_path):
    """The old install's database, upgraded to the newest schema."""
    with scratch_database(tmp_path) as url:
        _old_install(url)
        upgrade_schema(url)
        yield url


def test_the_one_community_becomes_a_community_of_a_one_office_district(upgraded):
    db = Database(upgraded)
    with db.engine.connect() as conn:
        q = conn.execute
        assert q(sa.text("SELECT code, name FROM street_offices")).all() == [("jd", "本街道")]
        community, office = q(sa.text("SELECT c.id, c.street_office_id FROM communities c")).one()
        assert q(sa.text("SELECT code, community_id, retired_at FROM grids")).all() == [("G01", community, None)]
        people = dict(q(sa.text("SELECT username, community_id FROM users")).all())
        assert people == {"oldstaff": community, "oldgw": community, "oldrider": None, "oldadmin": None}
        assert q(sa.text("SELECT DISTINCT community_id, street_office_id FROM cases")).all() == [(community, office)]
        assert q(sa.text("SELECT code, name, active FROM units")).all() == [("wuye", "wuye", True)]
        assert q(sa.text("SELECT week, scope FROM weekly_reports")).all() == [("2026-W48", "community:sq")]
        overall = q(sa.text("SELECT overall FROM weekly_reports")).scalar()  # 0010: for later weeks' trends
        assert (json.loads(overall) if isinstance(overall, str) else overall) == {"closure_rate": 0.5}
        boundary = q(sa.text("SELECT polygon FROM community_boundaries WHERE retired_at IS NULL")).scalar()
    db.dispose()
    ring = (json.loads(boundary) if isinstance(boundary, str) else boundary)["coordinates"][0]
    # the old grid with about a kilometre all round
    assert (min(p[0] for p in ring), max(p[0] for p in ring)) == pytest.approx((120.83, 120.86))
    assert (min(p[1] for p in ring), max(p[1] for p in ring)) == pytest.approx((31.99, 32.02))


def test_a_report_kept_after_the_upgrade_is_compressed_with_lz4_on_postgresql(upgraded):
    """0011: a new report's JSON, big enough to be compressed at all, is kept with lz4 (PostgreSQL only)."""
    if not upgraded.startswith("postgresql"):
        pytest.skip("column compression is PostgreSQL's")
    db = Database(upgraded)
    data = json.dumps({"overdue": [{"case_no": f"20261130-{n:04}", "state": "dispatched"} for n in range(500)]})
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO weekly_reports (week, scope, built_at, data, overall) "
                             "VALUES ('2026-W49', 'district', '2026-12-07 00:00:00', :d, :d)"), {"d": data})
        kept = conn.execute(sa.text("SELECT pg_column_compression(data), pg_column_compression(overall), "
                                    "data::text FROM weekly_reports WHERE week = '2026-W49'")).one()
    db.dispose()
    assert kept[:2] == ("lz4", "lz4") and json.loads(kept[2]) == json.loads(data)


def test_after_the_upgrade_everyone_goes_on_as_before(upgraded, tmp_path, redis_url, monkeypatch):
    """The old staff see their three cases at the desk; the old rider's next report is routed to the old grid's
    worker, who finds it among their work orders; a report beyond the old community is refused."""
    from service.runtime.jobqueue import redis_connection
    from workers import context

    redis_connection(redis_url).flushdb()
    settings = make_settings(tmp_path, upgraded, redis_url)
    for name, value in {"DATABASE_URL": upgraded, "REDIS_URL": redis_url, "MEDIA_DIR": str(settings.media_dir),
                        "INSTANCE_DIR": str(settings.instance_dir), "SECRET_KEY": "test-secret"}.items():
        monkeypatch.setenv(name, value)
    context.reset()
    app = create_app(settings)
    try:
        staff = Api(app.test_client())
        assert staff.login("oldstaff", DEMO_PASSWORD).status_code == 200
        desk = staff.client.get("/desk", headers=staff.headers).get_data(as_text=True)
        assert all(f"20261130-000{n}" in desk for n in (1, 2, 3))
        rider = Api(app.test_client())
        assert rider.login("oldrider").status_code == 200
        made = rider.report(category="B0118", lat="32.005", lon="120.845", photos=[photo_jpeg(seed=5)])
        assert made.status_code == 201, made.get_json()
        run_jobs(settings)
        detail = rider.get(f"/api/v1/reports/{made.get_json()['case_no']}").get_json()
        assert detail["state"] == "dispatched" and detail["grid"]["code"] == "G01"
        worker = Api(app.test_client())
        assert worker.login("oldgw").status_code == 200
        assert made.get_json()["case_no"] in worker.client.get("/field", headers=worker.headers).get_data(as_text=True)
        far = rider.report(category="B0118", lat="32.06", lon="120.90", photos=[photo_jpeg(seed=6)])
        assert far.status_code == 422 and far.get_json()["error"]["code"] == "outside_service_area"
    finally:
        app.extensions["snap"].db.dispose()
        context.reset()
