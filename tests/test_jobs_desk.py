"""The district admins' queue page (/desk/jobs): each queue's figures, the workers, the failed jobs with their error
and the case they concern, requeued by a POST with its CSRF token; 404 to everyone else, 503 when Redis is away."""
from __future__ import annotations

import re
import time

import pytest
from rq import Worker
from servers import rq_worker
from support import Browser, make_settings
from test_queue_security import _plant_pickled_job

from service.follow_ups import PROCESS_CASE, FollowUp
from service.runtime import queue_view
from service.runtime.embedded_redis import free_port
from service.runtime.jobqueue import (
    DEFAULT_QUEUE,
    JOB_SPECS,
    PHOTO_QUEUE,
    QUEUES,
    SERIALIZER,
    JobQueue,
    job_id,
    redis_connection,
    rq_queue,
)
from service.web import create_app

PAGE = "/desk/jobs"


def enqueue_once(connection, follow_up: FollowUp) -> str:
    """Queue a follow-up's job as JobQueue does, but without its retries: its first failure is its last."""
    spec = JOB_SPECS[follow_up.job]
    return rq_queue(spec.queue, connection).enqueue(spec.path, follow_up.target_id, job_id=job_id(follow_up),
                                                    job_timeout=spec.timeout).id


def work_burst(connection) -> None:
    """Run every queued job to its end on the service's own worker class, in this process."""
    from workers.run import PipelineWorker

    PipelineWorker(list(QUEUES), connection=connection).work(burst=True)


def lose_photos(settings, case) -> None:
    """The case's original photos gone from the disk (a disk swapped by hand): its processing fails."""
    for photo in case.photos:
        (settings.media_dir / photo.original_path).unlink()


def page_of(browser: Browser, url: str = PAGE) -> str:
    """The page's HTML, its CSRF token kept for the next form."""
    response = browser.get(url)
    assert response.status_code == 200, response.status_code
    html = response.get_data(as_text=True)
    browser.token_from(html)
    return html


def row(html: str, attribute: str, value: str) -> str:
    """The table row carrying data-<attribute>="value"."""
    found = re.search(rf'<tr data-{attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(1)


def cell(html: str, queue: str, figure: str) -> str:
    """One figure of a queue's row."""
    return re.search(rf'class="[^"]*\b{figure}\b[^"]*">([^<]*)<', row(html, "queue", queue)).group(1).strip()


@pytest.fixture
def admin(app) -> Browser:
    """The district's administrator (admin: no community, no street office), logged in at the desk."""
    browser = Browser(app.test_client())
    browser.login("admin")
    return browser


@pytest.fixture
def connection(settings, worker_env):
    """The test's Redis, the workers pointed at the test's database and media."""
    worker_env()
    return redis_connection(settings.redis_url)


def test_the_queues_show_what_waits_since_when_what_waits_to_retry_and_what_failed(admin, factory, settings,
                                                                                    connection):
    retried = factory.report()
    lose_photos(settings, retried)
    JobQueue(connection).enqueue_follow_ups(retried.case_no, [FollowUp(PROCESS_CASE, retried.id)])
    failed = factory.report()
    lose_photos(settings, failed)
    enqueue_once(connection, FollowUp(PROCESS_CASE, failed.id))
    work_burst(connection)  # one fails for good, the other waits for its retry
    waiting = factory.report()
    JobQueue(connection).enqueue_follow_ups(waiting.case_no, [FollowUp(PROCESS_CASE, waiting.id)])

    html = page_of(admin)
    assert "队列与任务" in html and "Queues and jobs" in html
    figures = {f: cell(html, PHOTO_QUEUE, f) for f in ("waiting", "running", "scheduled", "deferred", "failed")}
    assert figures == {"waiting": "1", "running": "0", "scheduled": "1", "deferred": "0", "failed": "1"}
    assert "0 分钟" in cell(html, PHOTO_QUEUE, "oldest")  # the waiting job, just queued
    assert cell(html, DEFAULT_QUEUE, "waiting") == "0" and cell(html, DEFAULT_QUEUE, "oldest") == "—"
    assert f'href="{PAGE}"' in html  # the desk's navigation leads here


def test_a_running_worker_is_listed_with_its_host_pid_state_and_heartbeat(admin, settings, worker_env, tmp_path):
    env = worker_env()
    connection = redis_connection(settings.redis_url)
    assert "没有在运行的工作进程" in page_of(admin)
    with rq_worker(env, tmp_path / "worker.log") as worker:
        for _ in range(300):  # it registers once started, then waits for work: a few seconds
            if [w for w in Worker.all(connection=connection, serializer=SERIALIZER) if w.get_state() == "idle"]:
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        html = page_of(admin)
        name = re.search(r'<tr data-worker="([^"]+)">', html).group(1)
        listed = row(html, "worker", name)
        assert f'<td class="n">{worker.pid}</td>' in listed
        assert "空闲" in listed and "idle" in listed
        heartbeat = r'<td class="nowrap">\d\d-\d\d \d\d:\d\d</td>'  # in the community's time
        assert re.search(heartbeat, listed)
        assert "photos, default" in listed
    assert "没有在运行的工作进程" in page_of(admin)  # a worker stopped says goodbye


def test_a_failed_job_shows_its_case_and_error_and_is_requeued_with_csrf_only(admin, app, factory, settings,
                                                                              connection):
    case = factory.report()
    lose_photos(settings, case)
    failed_id = enqueue_once(connection, FollowUp(PROCESS_CASE, case.id))
    work_burst(connection)

    html = page_of(admin)
    listed = row(html, "job", failed_id)
    assert "<code>process_new_case</code>" in listed
    assert f'<a href="/desk/cases/{case.case_no}">{case.case_no}</a>' in listed
    error = re.search(r"<summary>(.*?)</summary>", listed).group(1)  # the exception's own line, up front
    assert error.startswith("service.photo_store.PhotoMissing: originals/"), error
    assert case.photos[0].original_path.rsplit("/", 1)[-1] in error
    assert "Traceback (most recent call last)" in re.search(r"<pre>(.*?)</pre>", listed, re.S).group(1)

    refused = admin.client.post("/desk/jobs/requeue", data={"job_id": failed_id})  # no CSRF token
    assert refused.status_code == 400
    assert rq_queue(PHOTO_QUEUE, connection).failed_job_registry.get_job_ids() == [failed_id]

    done = admin.post("/desk/jobs/requeue", job_id=failed_id)
    assert done.status_code == 303 and done.headers["Location"] == PAGE
    assert rq_queue(PHOTO_QUEUE, connection).job_ids == [failed_id]
    html = page_of(admin)
    assert f"已重新排队 {failed_id}" in html and f'data-job="{failed_id}"' not in html
    assert "没有失败的任务" in html and cell(html, PHOTO_QUEUE, "waiting") == "1"

    admin.post("/desk/jobs/requeue", job_id=failed_id)  # twice: it is queued, no longer failed
    assert "不在失败列表中" in page_of(admin)
    admin.post("/desk/jobs/requeue", job_id="process_case-999999")
    assert "找不到任务 process_case-999999" in page_of(admin)
    assert rq_queue(PHOTO_QUEUE, connection).job_ids == [failed_id]


def test_odd_failed_jobs_still_show_and_a_pickle_is_never_opened(admin, tmp_path, connection):
    mark = tmp_path / "pwned"
    _plant_pickled_job(connection, mark, "planted")
    gone = rq_queue(DEFAULT_QUEUE, connection).enqueue("workers.jobs.a_job_since_removed", 7).id
    work_burst(connection)
    assert not mark.exists()

    html = page_of(admin)
    assert "无法读取" in row(html, "job", "planted") and not mark.exists()
    removed = row(html, "job", gone)
    assert "<code>a_job_since_removed</code>" in removed and "AttributeError" in removed
    assert cell(html, PHOTO_QUEUE, "failed") == "1" and cell(html, DEFAULT_QUEUE, "failed") == "1"

    admin.post("/desk/jobs/requeue", job_id="planted")
    assert "数据无法读取，不能重新排队" in page_of(admin)
    admin.post("/desk/jobs/requeue-all")
    html = page_of(admin)
    assert "已重新排队 1 个失败任务" in html and 'data-job="planted"' in html and f'data-job="{gone}"' not in html
    assert rq_queue(DEFAULT_QUEUE, connection).job_ids == [gone]
    assert not mark.exists()


def test_failed_jobs_come_fifty_a_page_newest_first(admin, connection):
    for n in range(52):
        rq_queue(DEFAULT_QUEUE, connection).enqueue("workers.jobs.a_job_since_removed", n, job_id=f"gone-{n:02}")
    work_burst(connection)
    first = page_of(admin)
    assert first.count("<tr data-job=") == 50 and "第 1 / 2 页" in first
    second = page_of(admin, PAGE + "?page=2")
    assert second.count("<tr data-job=") == 2
    shown = re.findall(r'<tr data-job="([^"]+)">', first + second)
    assert sorted(shown) == [f"gone-{n:02}" for n in range(52)]
    # a requeue from the second page comes back to it
    back = admin.post("/desk/jobs/requeue", job_id=shown[-1], page="2")
    assert back.headers["Location"] == PAGE + "?page=2"


@pytest.mark.parametrize("who, belongs", [("staff1", None), ("district-staff", None),
                                          ("hqsq-admin", "community:hqsq"), ("hqjd-admin", "street_office:hqjd")])
def test_everyone_but_a_district_admin_is_told_the_page_is_not_there(app, factory, who, belongs):
    if belongs:
        factory.person(who, "admin", belongs)
    browser = Browser(app.test_client())
    browser.login(who)
    html = browser.get("/desk").get_data(as_text=True)
    browser.token_from(html)
    assert f'href="{PAGE}"' not in html  # no link to it either
    assert browser.get(PAGE).status_code == 404
    assert browser.post("/desk/jobs/requeue", job_id="x").status_code == 404
    assert browser.post("/desk/jobs/requeue-all").status_code == 404


def test_a_visitor_is_sent_to_log_in(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/desk/jobs")


def test_with_redis_away_the_page_says_so(tmp_path, database_url, settings):
    away = make_settings(tmp_path, database_url, f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(away)
    try:
        browser = Browser(app.test_client())
        browser.login("admin")
        response = browser.get(PAGE)
        assert response.status_code == 503
        assert "暂时无法连接" in response.get_data(as_text=True)
        browser.token_from(response.get_data(as_text=True))
        done = browser.post("/desk/jobs/requeue", job_id="process_case-1")
        assert done.status_code == 303
    finally:
        app.extensions["snap"].db.dispose()


def test_a_failed_jobs_error_shows_no_secret_it_held(admin, connection):
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY123"
    failed = rq_queue(DEFAULT_QUEUE, connection).enqueue(
        "tests.fault_jobs.fail_saying", f"Max retries exceeded with url: {url} (phone 13812345678)").id
    work_burst(connection)

    html = page_of(admin)
    listed = row(html, "job", failed)
    assert "SECRETKEY123" not in html and "13812345678" not in html
    error = re.search(r"<summary>(.*?)</summary>", listed).group(1)
    assert error.startswith("ConnectionError: Max retries exceeded with url: https://qyapi.weixin.qq.com/")
    assert "key=[redacted]" in error and "138****5678" in error
    assert "Traceback (most recent call last)" in re.search(r"<pre>(.*?)</pre>", listed, re.S).group(1)


def test_requeue_all_takes_a_batch_at_a_time_and_says_how_many_are_left(admin, connection, monkeypatch):
    monkeypatch.setattr(queue_view, "REQUEUE_BATCH", 3)
    for n in range(5):
        rq_queue(DEFAULT_QUEUE, connection).enqueue("workers.jobs.a_job_since_removed", n, job_id=f"gone-{n}")
    work_burst(connection)
    failed = rq_queue(DEFAULT_QUEUE, connection).failed_job_registry

    page_of(admin)
    admin.post("/desk/jobs/requeue-all")
    html = page_of(admin)
    assert "已重新排队 3 个失败任务，还剩 2 个" in html and "3 failed job(s) requeued, 2 left" in html
    assert len(rq_queue(DEFAULT_QUEUE, connection).job_ids) == 3 and failed.get_job_count(cleanup=False) == 2

    admin.post("/desk/jobs/requeue-all")
    assert "已重新排队 2 个失败任务，还剩 0 个" in page_of(admin)
    assert len(rq_queue(DEFAULT_QUEUE, connection).job_ids) == 5 and failed.get_job_count(cleanup=False) == 0
