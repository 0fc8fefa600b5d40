"""Fixtures: a real database (SQLite, or PostgreSQL with DATABASE_URL), a real Redis, the app and its clients.

With nothing set, the tests start their own embedded redis-server and use a SQLite file; `.ci/run` runs them a
second time with DATABASE_URL and REDIS_URL pointing at the machine's PostgreSQL and Redis.
"""
from __future__ import annotations

import os
import secrets
import sys
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from config import Settings  # noqa: E402
from service.auth import hash_password  # noqa: E402
from service.community import load_community  # noqa: E402
from service.db import Database, upgrade_schema  # noqa: E402
from service.runtime.embedded_redis import EmbeddedRedis  # noqa: E402
from service.runtime.jobqueue import redis_connection  # noqa: E402
from service.web import create_app  # noqa: E402
from images import photo_jpeg  # noqa: E402

DEMO_PASSWORD = "demo-pass-123"
# rows the tests make; the community (users, grids, categories) is loaded once per session and kept
PER_TEST_TABLES = ("points_ledger", "notifications", "webhook_messages", "possible_duplicates", "me_toos", "case_events", "photos",
                   "cases", "case_counters")
HONGQIAO = {"lat": "32.015", "lon": "120.855"}  # inside the demo grids, WGS-84


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
        load_community(session, defaults.categories_file, defaults.users_file, defaults.grids_file, DEMO_PASSWORD)
    db.dispose()
    return url


@cache
def demo_password_hash() -> str:
    """One hash of the demo password for the whole run: scrypt is deliberately slow."""
    return hash_password(DEMO_PASSWORD)


def clean_state(database_url: str, redis_url: str) -> None:
    """Empty the per-test tables and the Redis database; every user active, logged out, with a password set
    back to the demo one (tests change passwords, and `community load` never resets one)."""
    db = Database(database_url)
    with db.engine.begin() as conn:
        for table in PER_TEST_TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("UPDATE users SET api_token_hash = NULL, api_token_issued_at = NULL, "
                             "session_version = 0, active = true, "
                             "password_hash = CASE WHEN password_hash IS NULL THEN NULL ELSE :h END"),
                     {"h": demo_password_hash()})
    db.dispose()
    redis_connection(redis_url).flushdb()


def make_settings(tmp_path: Path, database_url: str, redis_url: str, **overrides) -> Settings:
    """Settings for one test: its own media and instance folders."""
    values = dict(instance_dir=tmp_path / "instance", database_url=database_url, redis_url=redis_url,
                  embedded_redis=False, media_dir=tmp_path / "media", secret_key="test-secret",
                  demo_password=DEMO_PASSWORD)
    values.update(overrides)
    return Settings.from_env(env={}, **values)


@pytest.fixture
def settings(tmp_path, database_url, redis_url):
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


def run_jobs(settings) -> None:
    """Work every queued job to the end on a real RQ worker (in this process, for speed)."""
    from rq import SimpleWorker

    from service.runtime.jobqueue import PHOTO_QUEUE, SERIALIZER, rq_queue

    connection = redis_connection(settings.redis_url)
    SimpleWorker([rq_queue(PHOTO_QUEUE, connection), rq_queue("default", connection)],
                 connection=connection, serializer=SERIALIZER).work(burst=True)


@pytest.fixture
def workers(worker_env, settings):
    """Run the queued jobs: workers() after posting reports."""
    worker_env()
    return lambda: run_jobs(settings)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["snap"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A client of the JSON API, logged in as one user: the AuthActions of the flaskr tutorial, for the API."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def login(self, username: str, password: str = DEMO_PASSWORD):
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        if response.status_code == 200:
            self.token = response.get_json()["token"]
        return response

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def report(self, photos=None, **fields):
        """POST a report: photos as bytes (or (bytes, filename) pairs), fields as form values."""
        from io import BytesIO

        photos = [photo_jpeg()] if photos is None else photos
        data = {**HONGQIAO, "category": "B0118", **fields}
        data = {k: v for k, v in data.items() if v is not None}
        files = []
        for i, photo in enumerate(photos):
            content, name = photo if isinstance(photo, tuple) else (photo, f"photo{i}.jpg")
            files.append((BytesIO(content), name))
        if files:
            data["photo"] = files
        return self.client.post("/api/v1/reports", data=data, headers=self.headers,
                                content_type="multipart/form-data")

    def get(self, path: str):
        return self.client.get(path, headers=self.headers)


@pytest.fixture
def rider(client):
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


def originals_on_disk(settings: Settings) -> list[Path]:
    """Every original photo file under the media folder (temporary files included)."""
    root = settings.media_dir / "originals"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
