"""Backups as an operator takes them: `flask backup` while riders are reporting to a real gunicorn, `flask restore`
into a fresh instance (SQLite, or PostgreSQL when DATABASE_URL names it), photos in a folder or in an S3 bucket,
and a restore over live data refused unless forced."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from servers import ROOT, gunicorn, login_token, rq_worker
from support import HONGQIAO, Api, make_settings

from bench.riders import multipart_body
from config.settings import object_store_access
from service.db import Database
from service.photo_store import FolderPhotoStore, photo_store_for
from service.web import create_app

UNLIMITED = "100000 per minute"  # the riders here post far faster than any rate limit lets a person


@pytest.fixture
def restored_url(database_url, tmp_path):
    """A database of the run's own kind holding nothing yet, for a restore: a new SQLite file, or on PostgreSQL
    `<test database>_restored`, made for this test and dropped after it."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'snap.db'}"
        return
    name = f"{url.database}_restored"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def drop_and(then: str | None = None):
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if then:
                conn.execute(sa.text(then))

    drop_and(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    drop_and()
    admin.dispose()


@pytest.fixture
def fresh_instance(restored_url, redis_url, tmp_path):
    """Settings of a fresh instance: the empty database, a media folder and instance folder of its own."""
    return make_settings(tmp_path / "fresh", restored_url, redis_url)


def operator_env(settings, **extra: str) -> dict[str, str]:
    """The environment an operator's shell has for this instance."""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "INSTANCE_DIR": str(settings.instance_dir), "MEDIA_DIR": str(settings.media_dir),
           "SECRET_KEY": "test-secret", **extra}
    return env


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`flask --app service.web ARGS` as an operator runs it."""
    return subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "service.web", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def the_backup(parent: Path) -> Path:
    """The one finished backup under parent (nothing half-made beside it; last_success.json names it)."""
    made = sorted(p for p in parent.iterdir() if p.is_dir())
    assert json.loads((parent / "last_success.json").read_text())["backup"] == made[-1].name
    assert len(made) == 1 and not made[0].name.endswith(".partial"), made
    return made[0]


def photo_rows(url: str) -> dict[str, list[tuple[str, str | None, str | None]]]:
    """Each case's photos in the database at the URL: {case_no: [(original, web, thumb), ...]}."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            cases = {no: [] for no in conn.execute(sa.text("SELECT case_no FROM cases")).scalars()}
            for row in conn.execute(sa.text("SELECT c.case_no, p.original_path, p.web_path, p.thumb_path "
                                            "FROM photos p JOIN cases c ON c.id = p.case_id")):
                cases[row[0]].append(tuple(row[1:]))
    finally:
        db.dispose()
    return cases


def assert_photos_restored(rows: dict, source, restored) -> None:
    """Every file each photo row names is in the restored store, byte for byte the source store's."""
    names = [name for photos in rows.values() for photo in photos for name in photo if name]
    assert names
    for name in names:
        assert restored.read_bytes(name) == source.read_bytes(name), name


def assert_matches_manifest(folder: Path, rows: dict) -> dict:
    """The backup's manifest counts what its snapshot and photo folder hold (the restored database's rows);
    returns it."""
    manifest = json.loads((folder / "manifest.json").read_text())
    files = [p for p in (folder / "photos").rglob("*") if p.is_file()]
    assert manifest["cases"] == len(rows)
    assert manifest["photos"] == sum(len(photos) for photos in rows.values())
    assert manifest["photo_files"] == len(files)
    assert manifest["photo_bytes"] == sum(p.stat().st_size for p in files)
    return manifest


class Riders:
    """Riders reporting to a real server from several threads, one photo each report, until told to stop;
    every 201 is noted with the moment it came."""

    def __init__(self, base: str, tokens: list[str]):
        self.base, self.tokens = base, tokens
        self.acknowledged: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.seed = iter(range(1000, 100000))
        self.lock = threading.Lock()

    def report(self, token: str) -> None:
        """One report with a photo of its own."""
        with self.lock:
            seed = next(self.seed)
        body, content_type = multipart_body(
            {**HONGQIAO, "category": "B0118", "client_report_id": str(uuid.uuid4())},
            {"photo": ("street.jpg", photo_jpeg(640, 480, seed=seed))})
        request = urllib.request.Request(f"{self.base}/api/v1/reports", data=body, method="POST",
                                         headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                case_no = json.load(answer)["case_no"]
            with self.lock:
                self.acknowledged.append((time.monotonic(), case_no))
        except OSError as exc:
            self.errors.append(repr(exc))

    def ride(self, token: str) -> None:
        """Report until stopped."""
        while not self.stop.is_set():
            self.report(token)

    def acknowledged_between(self, start: float, end: float) -> list[str]:
        """The cases whose 201 came in that span."""
        return [no for at, no in self.acknowledged if start <= at <= end]


def test_a_backup_taken_under_load_restores_every_case_and_photo(settings, fresh_instance, worker_env, tmp_path):
    env = worker_env()
    backups = tmp_path / "backups"
    with gunicorn(settings, tmp_path / "web.log", INTAKE_LIMIT_PER_USER=UNLIMITED,
                  INTAKE_LIMIT_PER_ADDRESS=UNLIMITED) as (_, base, _), rq_worker(env, tmp_path / "worker.log"):
        riders = Riders(base, [login_token(base, f"rider{n}") for n in (1, 2, 3)])
        for _ in range(3):
            for token in riders.tokens:
                riders.report(token)
        threads = [threading.Thread(target=riders.ride, args=(token,)) for token in riders.tokens]
        for thread in threads:
            thread.start()
        try:
            while len(riders.acknowledged) < 12:  # the riders are well under way
                time.sleep(0.05)
            began = time.monotonic()
            before = [no for at, no in riders.acknowledged if at < began]
            backed = flask(operator_env(settings), "backup", "--to", str(backups))
            ended = time.monotonic()
        finally:
            riders.stop.set()
            for thread in threads:
                thread.join(timeout=120)
    assert backed.returncode == 0, backed.stderr
    assert not riders.errors, riders.errors[:3]
    assert riders.acknowledged_between(began, ended), "no report was taken while the backup ran"
    folder = the_backup(backups)
    assert backed.stdout.startswith(f"backup {folder}:")

    restored = flask(operator_env(fresh_instance), "restore", "--from", str(folder))
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout

    rows = photo_rows(fresh_instance.database_url)
    source_rows = photo_rows(settings.database_url)
    assert set(before) <= set(rows)  # every case acknowledged before the backup began
    for case_no in before:
        assert sorted(p[0] for p in rows[case_no]) == sorted(p[0] for p in source_rows[case_no]) != []
    # any case in the snapshot, one taken during the backup too, has every file its rows name, byte for byte
    assert_photos_restored(rows, FolderPhotoStore(settings.media_dir), FolderPhotoStore(fresh_instance.media_dir))
    manifest = assert_matches_manifest(folder, rows)
    assert manifest["database"] == sa.engine.make_url(settings.database_url).get_backend_name()
    if manifest["database"] == "sqlite":
        restored_file = sa.engine.make_url(fresh_instance.database_url).database
        with sqlite3.connect(restored_file) as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    else:
        assert (folder / "database.pgdump").read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    # the snapshot's schema is current: migrating after the restore has nothing to do, and changes nothing
    upgraded = flask(operator_env(fresh_instance), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert photo_rows(fresh_instance.database_url) == rows


def _report_twice(app) -> None:
    """Two reports with photos of their own, through the API."""
    rider = Api(app.test_client())
    assert rider.login("rider1").status_code == 200
    for seed in (11, 12):
        assert rider.report(photos=[photo_jpeg(640, 480, seed=seed)]).status_code == 201


def _backed_up(app, parent: Path) -> Path:
    """A backup of the app's instance under parent, by its command."""
    made = app.test_cli_runner().invoke(args=["backup", "--to", str(parent)])
    assert made.exit_code == 0, made.output
    return the_backup(parent)


def test_a_restore_over_cases_is_refused_unless_forced(app, workers, fresh_instance, tmp_path):
    _report_twice(app)
    workers()
    folder = _backed_up(app, tmp_path / "backups")
    target = create_app(fresh_instance).test_cli_runner()
    assert target.invoke(args=["restore", "--from", str(folder)]).exit_code == 0
    rows = photo_rows(fresh_instance.database_url)
    gone_case, kept_case = sorted(rows)
    # the restored instance lives on: a case is removed and a photo file lost
    db = Database(fresh_instance.database_url)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM cases WHERE case_no = :no"), {"no": gone_case})
    db.dispose()
    lost = fresh_instance.media_dir / rows[kept_case][0][0]
    lost.unlink()

    refused = target.invoke(args=["restore", "--from", str(folder)])
    assert refused.exit_code != 0
    assert "already holds 1 cases" in refused.output and "--force" in refused.output
    assert set(photo_rows(fresh_instance.database_url)) == {kept_case}  # nothing changed
    assert not lost.exists()

    forced = target.invoke(args=["restore", "--from", str(folder), "--force"])
    assert forced.exit_code == 0, forced.output
    assert photo_rows(fresh_instance.database_url) == rows
    assert_photos_restored(rows, FolderPhotoStore(app.extensions["snap"].settings.media_dir),
                           FolderPhotoStore(fresh_instance.media_dir))


def test_a_half_made_or_damaged_backup_is_not_restored(app, fresh_instance, tmp_path):
    _report_twice(app)
    folder = _backed_up(app, tmp_path / "backups")
    target = create_app(fresh_instance).test_cli_runner()
    half = folder.rename(folder.with_name(folder.name + ".partial"))
    said = target.invoke(args=["restore", "--from", str(half)])
    assert said.exit_code != 0 and "never finished" in said.output
    folder = half.rename(folder)
    snapshot = next(p for p in folder.iterdir() if p.name.startswith("database."))
    with open(snapshot, "r+b") as damaged:
        damaged.seek(100)
        damaged.write(b"\x00" * 16)
    said = target.invoke(args=["restore", "--from", str(folder)])
    assert said.exit_code != 0 and "damaged" in said.output
    engine = sa.create_engine(fresh_instance.database_url)
    assert sa.inspect(engine).get_table_names() == []  # nothing was written
    engine.dispose()
    assert not fresh_instance.media_dir.exists()


def test_photos_in_a_bucket_are_backed_up_and_restored_into_another_prefix(s3_settings, object_store, workers,
                                                                            fresh_instance, tmp_path):
    app = create_app(s3_settings)
    _report_twice(app)
    workers()
    folder = _backed_up(app, tmp_path / "backups")
    assert json.loads((folder / "manifest.json").read_text())["photo_store"].startswith("s3://photos/t-")

    elsewhere = object_store.settings_env(prefix=f"restored-{uuid.uuid4().hex[:8]}")
    target_settings = replace(fresh_instance, photo_objects=object_store_access(elsewhere))
    restored = create_app(target_settings).test_cli_runner().invoke(args=["restore", "--from", str(folder)])
    assert restored.exit_code == 0, restored.output

    rows = photo_rows(fresh_instance.database_url)
    assert len(rows) == 2 and all(photos and all(photos[0]) for photos in rows.values())  # copies made too
    assert_photos_restored(rows, photo_store_for(s3_settings), photo_store_for(target_settings))
    prefix = target_settings.photo_objects.prefix + "/"
    restored_keys = {key[len(prefix):] for key in object_store.object_keys() if key.startswith(prefix)}
    assert {name for photos in rows.values() for photo in photos for name in photo} <= restored_keys
    assert not fresh_instance.media_dir.exists() or not any(fresh_instance.media_dir.rglob("*.jpg"))
    assert_matches_manifest(folder, rows)


def test_a_backup_that_cannot_reach_the_photos_fails_and_leaves_no_backup(settings, tmp_path):
    from config.settings import ObjectStoreAccess
    from service.runtime.embedded_redis import free_port

    nowhere = ObjectStoreAccess(bucket="photos", prefix="", endpoint_url=f"http://127.0.0.1:{free_port()}",
                                access_key_id="k", secret_access_key="s")
    failed = create_app(replace(settings, photo_objects=nowhere)).test_cli_runner().invoke(
        args=["backup", "--to", str(tmp_path / "backups")])
    assert failed.exit_code != 0
    assert "backup failed" in failed.output and "list_objects_v2" in failed.output
    assert [p.name.endswith(".partial") for p in (tmp_path / "backups").iterdir()] == [True]
