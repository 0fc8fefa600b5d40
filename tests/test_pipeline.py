"""The pipeline on real RQ workers and a real Redis: photos processed, cases placed, routed, merged, told."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from PIL import Image
from support import OUTSIDE_GRIDS, Api, RobotServer, run_jobs

from service.db import utcnow
from service.event_words import Reading, notification_text
from service.models import Case, CaseEvent, Grid, MeToo, Notification, PossibleDuplicate, WebhookMessage
from service.runtime.jobqueue import PHOTO_QUEUE, SERIALIZER, redis_connection, rq_queue

HQ06 = {"lat": "32.015", "lon": "120.855"}  # inside grid HQ06, worker gw06


def exif_jpeg(seed: int = 1, gps: tuple[float, float] | None = None, taken: datetime | None = None) -> bytes:
    """A photo-like JPEG carrying EXIF GPS and DateTimeOriginal as a phone writes them."""
    img = Image.open(io.BytesIO(photo_jpeg(1200, 900, seed=seed)))
    exif = Image.Exif()
    if gps:
        def dms(value):
            d = int(value)
            m = int((value - d) * 60)
            return (float(d), float(m), round(((value - d) * 60 - m) * 60, 4))
        exif[0x8825] = {1: "N", 2: dms(gps[0]), 3: "E", 4: dms(gps[1])}
    if taken:
        exif[0x8769] = {0x9003: taken.strftime("%Y:%m:%d %H:%M:%S"), 0x9011: "+08:00"}
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def case_of(db, case_no: str) -> Case:
    db.expire_all()
    return db.scalar(sa.select(Case).where(Case.case_no == case_no))


def test_a_report_is_dispatched_to_its_grid_worker_with_the_category_deadline(rider, db, workers, app):
    case_no = rider.report(photos=[photo_jpeg(seed=11)], category="B0118", **HQ06).get_json()["case_no"]
    workers()
    case = case_of(db, case_no)
    assert case.state == "dispatched"
    assert case.grid.code == "HQ06" and case.assignee.username == "gw06"
    assert case.deadline_at - case.dispatched_at == timedelta(hours=72)  # 路灯
    assert [(e.from_state, e.to_state) for e in case.events] == [(None, "new"), ("new", "dispatched")]
    orders = db.scalars(sa.select(Notification).where(Notification.case_id == case.id)).all()
    assert [(n.user.username, n.kind) for n in orders] == [("gw06", "work_order")]
    assert case_no in notification_text(orders[0].kind, orders[0].facts, orders[0].message, "zh",
                                        Reading("Asia/Shanghai"))
    assert [e.facts for e in case.events] == [{}, {"grid": case.grid.name, "distance_m": None}]

    detail = rider.get(f"/api/v1/reports/{case_no}").get_json()
    assert detail["state_label"] == "已派遣" and detail["grid"]["code"] == "HQ06" and detail["deadline_at"]
    web = rider.get(detail["photos"][0]["web_url"])
    thumb = rider.get(detail["photos"][0]["thumb_url"])
    assert web.status_code == 200 and web.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) <= 320
    for served in (web.data, thumb.data):
        assert not Image.open(io.BytesIO(served)).getexif()
    gw06 = Api(app.test_client())
    gw06.login("gw06")
    assert gw06.get(f"/api/v1/reports/{case_no}").status_code == 200  # now in their grid
    stranger = Api(app.test_client())
    stranger.login("rider2")
    assert stranger.get(detail["photos"][0]["web_url"]).status_code == 404  # not theirs: as if there were none


def test_a_point_outside_every_grid_waits_for_staff(rider, db, workers):
    case_no = rider.report(**OUTSIDE_GRIDS).get_json()["case_no"]
    workers()
    case = case_of(db, case_no)
    assert case.state == "unrouted" and case.grid is None and case.assignee is None and case.deadline_at is None
    told = {n.user.username for n in db.scalars(sa.select(Notification).where(Notification.case_id == case.id))}
    assert told == {"staff1", "hqsq-staff"}  # 虹桥社区's staff, whose community it is in


def test_a_point_just_outside_a_grid_goes_to_the_nearest_within_30_m(rider, db, workers):
    just_south = rider.report(photos=[photo_jpeg(seed=51)], lat="32.005", lon="120.83979"
                              ).get_json()["case_no"]  # 20 m west of HQ01, 虹桥社区's edge: within the snap
    too_far = rider.report(photos=[photo_jpeg(seed=52)], lat="32.005", lon="120.83958")  # 40 m west: in none
    workers()
    assert case_of(db, just_south).grid.code == "HQ01" and case_of(db, just_south).state == "dispatched"
    assert too_far.status_code == 422 and too_far.get_json()["error"]["code"] == "outside_service_area"


def test_a_near_identical_photo_nearby_becomes_a_duplicate_and_a_me_too(rider, make_api, db, workers):
    first = rider.report(photos=[photo_jpeg(seed=21)], category="E0301", **HQ06).get_json()["case_no"]
    workers()
    # another rider, 20 m away, the same pothole at another JPEG quality
    second = make_api("rider2").report(photos=[photo_jpeg(seed=21, quality=70)], category="E0301",
                                       lat="32.01518", lon="120.855").get_json()["case_no"]
    workers()
    original, repeat = case_of(db, first), case_of(db, second)
    assert repeat.state == "duplicate" and repeat.duplicate_of_id == original.id
    assert original.state == "dispatched"
    assert [(m.case_id, m.user_id) for m in db.scalars(sa.select(MeToo))] == [(original.id, repeat.reporter_id)]
    told = db.scalars(sa.select(Notification).where(Notification.case_id == repeat.id)).all()
    assert [(n.user.username, n.kind) for n in told] == [("rider2", "duplicate")]
    assert make_api("rider2").get(f"/api/v1/reports/{second}").get_json()["duplicate_of"] == first


def test_a_different_photo_nearby_is_only_a_possible_duplicate(rider, make_api, db, workers):
    first = rider.report(photos=[photo_jpeg(seed=31)], category="E0301", **HQ06).get_json()["case_no"]
    workers()
    second = make_api("rider2").report(photos=[photo_jpeg(seed=32)], category="E0301",
                                       lat="32.0152", lon="120.8551").get_json()["case_no"]
    elsewhere = make_api("rider2").report(photos=[photo_jpeg(seed=21)], category="B0118",
                                          lat="32.0152", lon="120.8551").get_json()["case_no"]  # another category
    workers()
    assert case_of(db, second).state == "dispatched"
    pairs = db.scalars(sa.select(PossibleDuplicate)).all()
    assert [(p.case_id, p.other_case_id) for p in pairs] == [(case_of(db, second).id, case_of(db, first).id)]
    assert 20 < pairs[0].distance_m < 35 and pairs[0].hash_distance > 10
    assert case_of(db, elsewhere).state == "dispatched"
    staff_view = make_api("staff1").get(f"/api/v1/reports/{second}").get_json()
    assert staff_view["possible_duplicates"][0]["case_no"] == first


def test_the_photo_gps_stands_in_when_the_phone_sent_no_location(rider, db, workers):
    case_no = rider.report(photos=[exif_jpeg(gps=(32.015, 120.855))], lat=None, lon=None).get_json()["case_no"]
    workers()
    case = case_of(db, case_no)
    assert case.location_source == "photo" and case.state == "dispatched" and case.grid.code == "HQ06"
    assert abs(case.lat - 32.015) < 1e-5 and abs(case.lon - 120.855) < 1e-5


def test_device_and_photo_gps_far_apart_are_flagged_and_the_device_wins(rider, make_api, db, workers):
    case_no = rider.report(photos=[exif_jpeg(gps=(32.0195, 120.855))], **HQ06).get_json()["case_no"]  # 500 m
    near = rider.report(photos=[exif_jpeg(seed=2, gps=(32.0151, 120.855))], **HQ06).get_json()["case_no"]
    workers()
    case = case_of(db, case_no)
    assert case.location_source == "device" and (case.lat, case.lon) == (32.015, 120.855)
    assert 480 < case.location_mismatch_m < 520
    assert case_of(db, near).location_mismatch_m is None
    flags = make_api("staff1").get(f"/api/v1/reports/{case_no}").get_json()["flags"]
    assert flags["location_mismatch_m"] == case.location_mismatch_m
    assert "flags" not in rider.get(f"/api/v1/reports/{case_no}").get_json()


def test_a_photo_taken_days_before_the_upload_is_flagged_old(rider, db, workers):
    three_days_ago = datetime.now(timezone(timedelta(hours=8))) - timedelta(days=3)
    old = rider.report(photos=[exif_jpeg(taken=three_days_ago)]).get_json()["case_no"]
    fresh = rider.report(photos=[exif_jpeg(seed=3, taken=datetime.now(timezone(timedelta(hours=8))))]
                         ).get_json()["case_no"]
    workers()
    assert case_of(db, old).old_photo is True and case_of(db, fresh).old_photo is False
    assert case_of(db, old).photos[0].exif_taken_at is not None


def test_the_same_job_run_twice_gives_one_event_and_one_notification(rider, db, workers, settings):
    case_no = rider.report().get_json()["case_no"]
    case_id = case_of(db, case_no).id
    workers()
    files = sorted(p.name for p in settings.media_dir.rglob("*.jpg"))
    rq_queue(PHOTO_QUEUE, redis_connection(settings.redis_url)).enqueue(
        "workers.jobs.process_new_case", case_id, job_id="process_case-again")
    workers()
    case = case_of(db, case_no)
    assert case.state == "dispatched"
    assert db.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(CaseEvent.to_state == "dispatched")) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1
    assert sorted(p.name for p in settings.media_dir.rglob("*.jpg")) == files


def test_an_undecodable_original_leaves_the_case_new_with_an_error_staff_can_retry(rider, make_api, db, workers,
                                                                                     settings):
    case_no = rider.report(photos=[photo_jpeg(seed=41)]).get_json()["case_no"]
    original = settings.media_dir / case_of(db, case_no).photos[0].original_path
    good = original.read_bytes()
    original.write_bytes(good[: len(good) // 3])  # the disk lost the end of the file
    workers()
    case = case_of(db, case_no)
    assert case.state == "new" and "decoded" in case.processing_error
    assert {n.user.username for n in db.scalars(sa.select(Notification))} == {"staff1", "hqsq-staff"}
    staff = make_api("staff1")
    assert staff.get(f"/api/v1/reports/{case_no}").get_json()["flags"]["processing_error"]
    denied = rider.client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "retry_processing"},
                               headers=rider.headers)
    assert denied.status_code == 403

    original.write_bytes(good)  # restored from the backup
    retried = staff.client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "retry_processing"},
                                headers=staff.headers)
    assert retried.status_code == 200
    workers()
    assert case_of(db, case_no).state == "dispatched" and case_of(db, case_no).processing_error is None
    again = staff.client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "retry_processing"},
                              headers=staff.headers)
    assert again.status_code == 409


def test_a_redrawn_grid_takes_effect_without_restarting_the_worker(rider, db, workers, settings):
    """A new generation of HQ06 drawn over the strip of 虹桥社区 that no grid covered: the same worker process routes
    the next reports by it, and the old ground of HQ06 is now in none of the community's grids."""
    first = rider.report(**HQ06).get_json()["case_no"]
    workers()
    assert case_of(db, first).grid.code == "HQ06"
    old = db.scalar(sa.select(Grid).where(Grid.code == "HQ06", Grid.retired_at.is_(None)))
    strip = {"type": "Polygon", "coordinates": [[[120.881, 32.012], [120.884, 32.012], [120.884, 32.018],
                                                 [120.881, 32.018], [120.881, 32.012]]]}
    old.retired_at = utcnow()
    db.flush()
    redrawn = Grid(code="HQ06", name=old.name, polygon=strip, community_id=old.community_id, worker_id=old.worker_id,
                   valid_from=old.retired_at)
    db.add(redrawn)
    db.commit()
    try:
        second = rider.report(photos=[photo_jpeg(seed=61)], **OUTSIDE_GRIDS).get_json()["case_no"]
        third = rider.report(photos=[photo_jpeg(seed=62)], **HQ06).get_json()["case_no"]
        workers()  # the same process, its district index built before the change
        assert case_of(db, second).grid_id == redrawn.id
        assert case_of(db, third).state == "unrouted" and case_of(db, third).community.code == "hqsq"
        assert case_of(db, first).grid_id == old.id  # dispatched before: still in the grid it went to
    finally:
        db.execute(sa.update(Case).where(Case.grid_id == redrawn.id).values(grid_id=old.id))
        db.delete(redrawn)
        db.flush()
        old.retired_at = None
        db.commit()


@pytest.fixture
def robot():
    server = RobotServer()
    yield server
    server.close()


def test_a_dispatch_is_posted_to_the_group_robot(rider, db, worker_env, settings, robot):
    worker_env(WEBHOOK_URL=robot.url)
    case_no = rider.report(**HQ06).get_json()["case_no"]
    run_jobs(settings)
    assert len(robot.received) == 1
    message = robot.received[0]
    assert message["msgtype"] == "text" and case_no in message["text"]["content"]
    assert "虹桥第06网格" in message["text"]["content"]
    sent = db.scalar(sa.select(WebhookMessage))
    assert sent.sent_at is not None and sent.attempts == 1


def test_a_dead_robot_never_holds_up_dispatch(rider, db, worker_env, settings):
    dead = RobotServer(fail=True)
    try:
        worker_env(WEBHOOK_URL=dead.url)
        case_no = rider.report(**OUTSIDE_GRIDS).get_json()["case_no"]
        run_jobs(settings)
    finally:
        dead.close()
    assert case_of(db, case_no).state == "unrouted"
    message = db.scalar(sa.select(WebhookMessage))
    assert message.sent_at is None and message.attempts == 1 and "500" in message.last_error
    # the failed delivery waits for its retry with backoff
    from rq.registry import ScheduledJobRegistry
    scheduled = ScheduledJobRegistry("default", connection=redis_connection(settings.redis_url),
                                     serializer=SERIALIZER).get_job_ids()
    assert scheduled == [f"deliver_webhook-{message.id}"]


@pytest.mark.parametrize("redis_restarts_empty", [False, True], ids=["redis-kept", "redis-restarted-empty"])
def test_a_worker_killed_mid_job_is_finished_exactly_once(rider, db, worker_env, settings,
                                                                  redis_restarts_empty):
    """SIGKILL mid-job: RQ hands the dead worker's job back; if Redis lost it too, the sweeper re-queues it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from rq.job import Job, JobStatus

    env = {**os.environ, **worker_env(STALE_NEW_MINUTES="0")}
    big = [photo_jpeg(4032, 3024, quality=92, seed=70 + i) for i in range(4)]  # four 12 MP photos: a long job
    connection = redis_connection(settings.redis_url)

    def start_worker():
        return subprocess.Popen([sys.executable, "-m", "workers.run"], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    worker = start_worker()
    try:
        case_no = rider.report(photos=big, **HQ06).get_json()["case_no"]
        case_id = case_of(db, case_no).id
        deadline = time.monotonic() + 30
        job = Job.fetch(f"process_case-{case_id}", connection=connection, serializer=SERIALIZER)
        while job.get_status() != JobStatus.STARTED:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.killpg(worker.pid, signal.SIGKILL)  # mid-job, as a crash or the OOM killer would
        worker.wait()
        assert case_of(db, case_no).state == "new"
        if redis_restarts_empty:
            connection.flushdb()  # no persistence: the job, its registries and the worker are gone

        # a new worker, and the scheduler's sweep seen from ten minutes on
        worker = start_worker()
        later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
        rq_queue("default", connection).enqueue("workers.jobs.sweep_stale_reports", later)
        while case_of(db, case_no).state == "new":
            assert time.monotonic() < deadline + 60, "the case was never finished"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    case = case_of(db, case_no)
    assert case.state == "dispatched"
    assert [(e.from_state, e.to_state) for e in case.events] == [(None, "new"), ("new", "dispatched")]
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1


def test_the_grid_worker_reads_the_work_order_in_the_app(rider, make_api, workers):
    case_no = rider.report(photos=[photo_jpeg(seed=81)], **HQ06).get_json()["case_no"]
    workers()
    gw06 = make_api("gw06")
    inbox = gw06.get("/api/v1/me/notifications").get_json()
    assert inbox["unread"] == 1 and inbox["items"][0]["case_no"] == case_no
    assert inbox["items"][0]["kind"] == "work_order" and "路灯" in inbox["items"][0]["message"]
    assert gw06.client.post("/api/v1/me/notifications/read", headers=gw06.headers).get_json() == {"unread": 0}
    assert gw06.get("/api/v1/me/notifications").get_json()["items"][0]["read"] is True
    assert make_api("gw01").get("/api/v1/me/notifications").get_json() == {"unread": 0, "items": []}


def test_an_iphone_heic_photo_goes_through_to_a_jpeg_web_copy(rider, db, workers):
    from images import encode

    case_no = rider.report(photos=[(encode("HEIF", 1200, 900), "IMG_0042.HEIC")], **HQ06).get_json()["case_no"]
    workers()
    case = case_of(db, case_no)
    assert case.state == "dispatched" and case.photos[0].format == "HEIF"
    served = rider.get(rider.get(f"/api/v1/reports/{case_no}").get_json()["photos"][0]["web_url"])
    assert served.mimetype == "image/jpeg" and Image.open(io.BytesIO(served.data)).size == (1200, 900)
