"""Photos in a folder or on an S3-compatible object store (a real SeaweedFS on loopback): one interface, a report's
photos kept before its 201, copies made by a worker with no shared disk, served by the web and never public."""
from __future__ import annotations

import hashlib
import io
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from servers import rq_worker
from support import Api

from config.settings import ObjectStoreAccess
from service.models import Case, Photo
from service.photo_store import (
    CHUNK,
    FolderPhotoStore,
    PhotoMissing,
    PhotoStoreUnavailable,
    photo_store_for,
    sha256_of_stream,
)
from service.runtime.embedded_redis import free_port
from service.web import create_app


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path):
    """Each kind of store, empty."""
    if request.param == "folder":
        return FolderPhotoStore(tmp_path / "media")
    return photo_store_for(request.getfixturevalue("s3_settings"))


def test_a_streams_sha256_is_what_is_left_of_it_read_in_chunks():
    data = bytes(range(256)) * (CHUNK // 128 + 3)  # more than two chunks
    stream = io.BytesIO(b"head" + data)
    stream.seek(4)
    assert sha256_of_stream(stream) == (hashlib.sha256(data).hexdigest(), len(data))


def test_an_original_is_kept_once_under_its_content(store):
    data = photo_jpeg(seed=1)
    first = store.put_original(io.BytesIO(data), "JPEG")
    again = store.put_original(io.BytesIO(data), "JPEG")
    assert first.newly_written and not again.newly_written
    assert first.relpath == again.relpath == f"originals/{first.sha256[:2]}/{first.sha256}.jpg"
    assert first.size_bytes == len(data)
    assert store.read_bytes(first.relpath) == data
    with store.open(first.relpath) as opened:
        assert opened.read() == data


def test_copies_are_listed_with_the_originals_and_a_discarded_one_is_gone(store):
    kept = store.put_original(io.BytesIO(photo_jpeg(seed=2)), "JPEG")
    web = store.put_derived(kept.sha256, "web", b"web copy")
    assert store.read_bytes(web) == b"web copy"
    assert sorted(store.names()) == sorted([kept.relpath, web])
    store.discard(web)
    store.discard(web)  # twice: nothing to remove is not an error
    assert list(store.names()) == [kept.relpath]
    with pytest.raises(PhotoMissing):
        store.read_bytes(web)


def test_a_restored_file_keeps_its_name(store):
    store.put("derived/ab/abc_thumb.jpg", io.BytesIO(b"thumb"))
    assert store.read_bytes("derived/ab/abc_thumb.jpg") == b"thumb"


def _rider(app) -> Api:
    api = Api(app.test_client())
    assert api.login("rider1").status_code == 200
    return api


def test_a_report_on_the_object_store_from_intake_to_the_phone(s3_settings, object_store, workers, db):
    app = create_app(s3_settings)
    rider = _rider(app)
    photo = photo_jpeg(seed=3)
    answer = rider.report(photos=[photo])
    assert answer.status_code == 201, answer.get_json()
    prefix = s3_settings.photo_objects.prefix + "/"
    case_no = answer.get_json()["case_no"]
    stored = db.scalar(sa.select(Photo).join(Case).where(Case.case_no == case_no))
    # the original was in the bucket when the 201 was sent, byte for byte; nothing went to the local folder
    assert prefix + stored.original_path in object_store.object_keys()
    assert photo_store_for(s3_settings).read_bytes(stored.original_path) == photo
    assert not s3_settings.media_dir.exists() or not any(s3_settings.media_dir.rglob("*.jpg"))

    workers()
    db.expire_all()
    stored = db.get(Photo, stored.id)
    assert {prefix + stored.web_path, prefix + stored.thumb_path} <= object_store.object_keys()
    url = f"/api/v1/reports/{case_no}/photos/{stored.id}/web"
    shown = rider.client.get(url, headers=rider.headers)
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    assert shown.data == photo_store_for(s3_settings).read_bytes(stored.web_path)
    assert shown.data[:2] == b"\xff\xd8"
    again = rider.client.get(url, headers={**rider.headers, "If-None-Match": shown.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_the_bucket_is_never_public(s3_settings, object_store):
    kept = photo_store_for(s3_settings).put_original(io.BytesIO(photo_jpeg(seed=4)), "JPEG")
    key = f"{s3_settings.photo_objects.prefix}/{kept.relpath}"
    for url in (f"{object_store.endpoint_url}/photos/{key}", f"{object_store.endpoint_url}/photos/"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 403


def test_a_store_that_cannot_be_reached_is_503_and_nothing_is_kept(settings, db):
    nowhere = ObjectStoreAccess(bucket="photos", prefix="", endpoint_url=f"http://127.0.0.1:{free_port()}",
                                access_key_id="k", secret_access_key="s")
    app = create_app(replace(settings, photo_objects=nowhere))
    with pytest.raises(PhotoStoreUnavailable):
        photo_store_for(replace(settings, photo_objects=nowhere)).put_original(io.BytesIO(b"x"), "JPEG")
    answer = _rider(app).report()
    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "photo_store_unavailable"
    assert int(answer.headers["Retry-After"]) > 0
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_a_worker_on_another_host_makes_the_copies_without_a_shared_disk(s3_settings, object_store, worker_env,
                                                                          db, tmp_path):
    app = create_app(s3_settings)
    answer = _rider(app).report(photos=[photo_jpeg(seed=5)])
    assert answer.status_code == 201
    other_host = tmp_path / "other-host"
    env = worker_env(MEDIA_DIR=str(other_host / "media"), INSTANCE_DIR=str(other_host / "instance"))
    env.update(object_store.settings_env(prefix=s3_settings.photo_objects.prefix))
    with rq_worker(env, tmp_path / "worker.log"):
        deadline = time.monotonic() + 60
        while True:
            db.expire_all()
            photo = db.scalar(sa.select(Photo).join(Case).where(Case.case_no == answer.get_json()["case_no"]))
            if photo.thumb_path or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert photo.web_path and photo.thumb_path, (tmp_path / "worker.log").read_text()[-3000:]
    prefix = s3_settings.photo_objects.prefix + "/"
    assert {prefix + photo.web_path, prefix + photo.thumb_path} <= object_store.object_keys()
    assert not any((other_host / "media").rglob("*.jpg"))  # nothing was written on the worker's own disk


def _photo_store_up(settings) -> float:
    """What the metrics collector reads of the photo store at a scrape (suishoupai_collector_up{source})."""
    from service.runtime.collector import ServiceCollector

    collector = ServiceCollector(settings)
    try:
        up = next(m for m in collector.collect() if m.name == "suishoupai_collector_up")
    finally:
        collector.database.dispose()
    return {s.labels["source"]: s.value for s in up.samples}.get("photo_store")


def test_the_metrics_collector_says_whether_the_bucket_answers(s3_settings):
    assert _photo_store_up(s3_settings) == 1
    nowhere = replace(s3_settings.photo_objects, endpoint_url=f"http://127.0.0.1:{free_port()}")
    assert _photo_store_up(replace(s3_settings, photo_objects=nowhere)) == 0


def test_originals_no_row_names_are_removed_a_day_on_and_named_ones_stay(store, factory, db):
    from datetime import timedelta

    from service.db import utcnow
    from service.models import GoodDeed, User
    from service.orphan_photos import remove_orphaned_originals
    from service.photo_store import derived_name

    case = factory.report(seed=11)
    in_a_case = store.put_original(io.BytesIO(factory.services.photos.read_bytes(case.photos[0].original_path)),
                                   "JPEG")
    deed_photo = store.put_original(io.BytesIO(photo_jpeg(seed=12)), "JPEG")
    rider = db.scalar(sa.select(User).where(User.username == "rider1"))
    db.add(GoodDeed(user_id=rider.id, kind="help", lat=32.01, lon=120.85,
                    photo_path=derived_name(deed_photo.sha256, "web")))
    db.commit()
    orphan = store.put_original(io.BytesIO(photo_jpeg(seed=13)), "JPEG")  # a request failed after storing it

    assert remove_orphaned_originals(db, store, utcnow()) == 0  # not a day old: a request may still name it
    assert remove_orphaned_originals(db, store, utcnow() + timedelta(days=2)) == 1
    assert sorted(store.names()) == sorted([in_a_case.relpath, deed_photo.relpath])
    with pytest.raises(PhotoMissing):
        store.read_bytes(orphan.relpath)


def test_a_report_that_fails_after_storing_its_photo_leaves_it_for_the_sweep(rider, db, settings, monkeypatch):
    import service.cases

    def no_case(*args, **kwargs):
        raise RuntimeError("the database went away mid-report")

    monkeypatch.setattr(service.cases, "_open_case", no_case)  # after the photo is kept, before the case is
    assert rider.report(photos=[photo_jpeg(seed=14)]).status_code == 500
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    # another report of the same bytes may be about to commit: the request removes nothing
    assert len(list(FolderPhotoStore(settings.media_dir).names())) == 1


class _Sent(Exception):
    """Raised by the test's hook with what the client was about to send, instead of sending it."""


def test_an_upload_over_https_is_a_plain_put_with_its_md5_not_aws_chunked():
    # many S3-compatible stores (older Ceph and MinIO, cloud gateways) refuse botocore's aws-chunked uploads with a
    # checksum trailer, which it sends over https by default since 1.36: ours must be a plain PUT with Content-MD5
    from service.photo_store import ObjectPhotoStore

    store = ObjectPhotoStore(ObjectStoreAccess(bucket="photos", prefix="p", endpoint_url="https://s3.example.invalid",
                                               access_key_id="k", secret_access_key="s"))

    def capture(request, **_):
        if request.method == "PUT":
            raise _Sent(dict(request.headers))

    store.client.meta.events.register("before-send.s3.*", capture)
    store._size = lambda relpath: None  # the HEAD before the PUT, which would go to the network
    with pytest.raises(_Sent) as sent:
        store.put_original(io.BytesIO(photo_jpeg(seed=15)), "JPEG")
    headers = {name.lower(): (value.decode() if isinstance(value, bytes) else value)
               for name, value in sent.value.args[0].items()}
    assert "content-md5" in headers and headers["content-length"].isdigit()
    assert "aws-chunked" not in headers.get("content-encoding", "")
    assert "x-amz-trailer" not in headers and headers.get("transfer-encoding") != "chunked"


def test_a_store_that_takes_the_connection_and_never_answers_is_503_to_the_rider(settings, db):
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold_every_connection():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # read nothing, answer nothing
            except TimeoutError:
                pass

    threading.Thread(target=hold_every_connection, daemon=True).start()
    silent = ObjectStoreAccess(bucket="photos", prefix="", access_key_id="k", secret_access_key="s",
                               endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        answer = _rider(create_app(replace(settings, photo_objects=silent))).report()
    finally:
        stop.set()
        for conn in held:
            conn.close()
        listener.close()
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "photo_store_unavailable"
    assert held  # it did reach the store, which kept it waiting
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_while_the_bucket_is_unreachable_the_sweeper_spends_no_attempts(factory, db, worker_env, settings):
    from datetime import UTC, datetime, timedelta

    from support import run_jobs

    from service.runtime.jobqueue import redis_connection, rq_queue

    case = factory.report(seed=16)  # new, and its job never ran: stale ten minutes on
    later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    queue = rq_queue("default", redis_connection(settings.redis_url))

    def sweep() -> int:
        """The scheduler's sweep, run by a real worker as the job it is; the cases it queued again."""
        job = queue.enqueue("workers.jobs.sweep_stale_reports", later)
        run_jobs(settings)
        return job.return_value()

    worker_env(PHOTO_STORE="s3://photos", S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
               S3_ACCESS_KEY_ID="k", S3_SECRET_ACCESS_KEY="s")
    assert sweep() == 0
    db.expire_all()
    assert db.get(Case, case.id).processing_attempts == 0 and db.get(Case, case.id).processing_error is None
    worker_env(PHOTO_STORE="")  # the store is back (here: this test's folder)
    assert sweep() == 1
    db.expire_all()
    assert db.get(Case, case.id).processing_attempts == 1
