"""Backups an operator can trust: a restore refuses a backup folder holding anything a backup never writes (a symlink,
a stranger, a copy that is no JPEG) before writing anything, puts the photos back before the database, will not run
beside workers and empties the queues after; a backup fails when a photo its rows name is lost, hard-links what the
backup before it holds, prunes beyond --keep, and notes its success for the metrics collector."""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
import test_backups
from images import photo_jpeg
from rq import Worker
from support import Api
from test_backups import _backed_up, _report_twice, photo_rows

from service.runtime.collector import ServiceCollector
from service.runtime.jobqueue import PHOTO_QUEUE, SERIALIZER, redis_connection, rq_queue
from service.web import create_app

# the fresh, empty instance a restore goes into: test_backups' fixtures
restored_url, fresh_instance = test_backups.restored_url, test_backups.fresh_instance


def tables(url: str) -> list[str]:
    """The tables of the database at the URL (none: a restore wrote nothing into it)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def a_file(folder: Path, under: str, ending: str = "") -> Path:
    """The first photo file of the backup under photos/<under>, ending so."""
    return next(p for p in sorted((folder / "photos" / under).rglob(f"*{ending}")) if p.is_file())


def symlinked_copy(folder: Path, tmp_path: Path) -> str:
    """A derived copy replaced by a link to a secret of the host, as a planted backup would hold."""
    secret = tmp_path / "secret_key"
    secret.write_bytes(b"\xff\xd8 not for anyone's eyes")
    web = a_file(folder, "derived", "_web.jpg")
    web.unlink()
    web.symlink_to(secret)
    return f"{web} is a symlink"


def symlinked_folder(folder: Path, tmp_path: Path) -> str:
    """A folder of originals that is a link to another folder of the host."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ("ff" + "0" * 62 + ".jpg")).write_bytes(b"\xff\xd8")
    link = folder / "photos" / "originals" / "zz"  # no hash begins so: never a folder a backup made
    link.symlink_to(elsewhere, target_is_directory=True)
    return f"{link} is a symlink"


def stranger(folder: Path, tmp_path: Path) -> str:
    """A file that is no photo's name."""
    planted = a_file(folder, "derived").parent / "notes.txt"
    planted.write_text("hello")
    return f"{planted} is not named as a photo is"


def not_a_jpeg(folder: Path, tmp_path: Path) -> str:
    """A copy with the right name and length but not a JPEG."""
    thumb = a_file(folder, "derived", "_thumb.jpg")
    size = thumb.stat().st_size
    thumb.unlink()  # a new file: the one in the source store stays as it was
    thumb.write_bytes(b"<svg" + b" " * (size - 4))
    return f"{thumb} is not a JPEG"


@pytest.fixture
def backed_up(app, workers, tmp_path) -> Path:
    """A backup of two reports with their copies made."""
    _report_twice(app)
    workers()
    return _backed_up(app, tmp_path / "backups")


@pytest.mark.parametrize("plant", [symlinked_copy, symlinked_folder, stranger, not_a_jpeg])
def test_a_backup_holding_what_no_backup_writes_is_refused_before_anything_is_written(
        backed_up, fresh_instance, tmp_path, plant):
    said = plant(backed_up, tmp_path)
    refused = create_app(fresh_instance).test_cli_runner().invoke(args=["restore", "--from", str(backed_up)])
    assert refused.exit_code != 0
    assert said in refused.output and "nothing was changed" in refused.output
    assert tables(fresh_instance.database_url) == []
    assert not fresh_instance.media_dir.exists()


def test_a_photo_failing_its_check_stops_the_restore_before_the_database(backed_up, fresh_instance):
    original = a_file(backed_up, "originals")
    damaged = bytearray(original.read_bytes())
    damaged[-3] ^= 0xFF  # the same length: only its hash tells
    original.unlink()
    original.write_bytes(bytes(damaged))
    failed = create_app(fresh_instance).test_cli_runner().invoke(args=["restore", "--from", str(backed_up)])
    assert failed.exit_code != 0
    assert "hash to" in failed.output and "The database was not touched" in failed.output
    assert tables(fresh_instance.database_url) == []


def test_a_restore_waits_for_the_workers_to_stop_and_then_forgets_the_old_jobs(backed_up, fresh_instance):
    connection = redis_connection(fresh_instance.redis_url)
    queue = rq_queue(PHOTO_QUEUE, connection)
    waiting = queue.enqueue("workers.jobs.process_new_case", 42, job_id="process_case-42")
    failed = queue.enqueue("workers.jobs.process_new_case", 43, job_id="process_case-43")
    queue.remove(failed)
    queue.failed_job_registry.add(failed, ttl=3600, exc_string="boom")
    worker = Worker([queue], connection=connection, serializer=SERIALIZER, name="still-running")
    worker.register_birth()
    target = create_app(fresh_instance).test_cli_runner()
    try:
        refused = target.invoke(args=["restore", "--from", str(backed_up)])
        assert refused.exit_code != 0
        assert "still-running" in refused.output and "stop the workers" in refused.output
        assert tables(fresh_instance.database_url) == []
    finally:
        worker.register_death()

    restored = target.invoke(args=["restore", "--from", str(backed_up)])
    assert restored.exit_code == 0, restored.output
    assert "removed from Redis" in restored.output
    assert queue.count == 0 and queue.failed_job_registry.get_job_ids(cleanup=False) == []
    assert not connection.exists(waiting.key) and not connection.exists(failed.key)
    assert len(photo_rows(fresh_instance.database_url)) == 2


def test_a_backup_missing_a_photo_its_rows_name_fails(app, workers, settings, tmp_path):
    _report_twice(app)
    workers()
    lost = next(p for photos in photo_rows(settings.database_url).values() for p in photos)[2]  # a thumbnail
    (settings.media_dir / lost).unlink()
    failed = app.test_cli_runner().invoke(args=["backup", "--to", str(tmp_path / "backups")])
    assert failed.exit_code != 0
    assert "1 photo file(s) the database names" in failed.output and lost in failed.output
    assert [p.name.endswith(".partial") for p in (tmp_path / "backups").iterdir()] == [True]


def test_a_backup_folder_that_cannot_be_made_is_a_clear_failure(app, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    failed = app.test_cli_runner().invoke(args=["backup", "--to", str(tmp_path / "a-file" / "backups")])
    assert failed.exit_code != 0 and isinstance(failed.exception, SystemExit)  # a message, not a traceback
    assert "no backup folder could be made" in failed.output


def test_nightly_backups_link_what_the_last_holds_keep_n_and_note_their_success(app, workers, settings, tmp_path):
    parent = tmp_path / "backups"
    _report_twice(app)
    workers()

    def backup() -> Path:
        made = app.test_cli_runner().invoke(args=["backup", "--to", str(parent), "--keep", "2"])
        assert made.exit_code == 0, made.output
        return parent / json.loads((parent / "last_success.json").read_text())["backup"]

    first = backup()
    rider = Api(app.test_client())
    rider.login("rider2")
    assert rider.report(photos=[photo_jpeg(640, 480, seed=99)]).status_code == 201
    workers()
    second = backup()
    photos = {p.relative_to(first): p.stat() for p in (first / "photos").rglob("*") if p.is_file()}
    again = {p.relative_to(second): p.stat() for p in (second / "photos").rglob("*") if p.is_file()}
    assert photos and set(photos) < set(again)
    for name, kept in photos.items():
        assert again[name].st_ino == kept.st_ino and kept.st_nlink == 2  # linked, not copied
    assert all(again[name].st_nlink == 1 for name in set(again) - set(photos))  # the new report's photos
    last = json.loads((parent / "last_success.json").read_text())
    assert (last["photo_files"], last["linked_files"]) == (len(again), len(photos))

    abandoned = parent / "20200101T000000Z.partial"
    abandoned.mkdir()
    os.utime(abandoned, (time.time() - 3 * 86400,) * 2)
    running = parent / "29990101T000000Z.partial"  # a run in progress: young
    running.mkdir()
    third = backup()
    assert sorted(p.name for p in parent.iterdir()) == sorted(
        [second.name, third.name, running.name, "last_success.json"])

    read = {s.name: s.value for family in ServiceCollector(replace(settings, backup_dir=parent)).collect()
            for s in family.samples}
    noted = json.loads((parent / "last_success.json").read_text())
    assert read["suishoupai_backup_last_success_timestamp_seconds"] == noted["timestamp"] > time.time() - 600
    up = {s.labels["source"]: s.value for family in ServiceCollector(replace(settings, backup_dir=parent)).collect()
          if family.name == "suishoupai_collector_up" for s in family.samples}
    assert up["backup"] == 1
