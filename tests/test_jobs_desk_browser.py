"""The admins' queue page in a real browser (Chromium via Playwright): the district admin follows the desk's link,
reads a failed job's traceback, requeues it and is told so; screenshots under test-artifacts/jobs/."""
from __future__ import annotations

import re
import time

from playwright.sync_api import expect
from servers import rq_worker
from test_jobs_desk import enqueue_once, lose_photos, work_burst

from service.follow_ups import PROCESS_CASE, PROCESS_PHOTOS, FollowUp
from service.runtime.jobqueue import PHOTO_QUEUE, JobQueue, redis_connection, rq_queue

SCREENSHOT_FOLDER = "jobs"
DESKTOP = {"viewport": {"width": 1440, "height": 900}}


def test_the_district_admin_requeues_a_failed_job_from_the_page(people, factory, settings, worker_env, tmp_path):
    env = worker_env()
    connection = redis_connection(settings.redis_url)
    lost = factory.report(description="照片丢失的一件")
    lose_photos(settings, lost)
    failed_id = enqueue_once(connection, FollowUp(PROCESS_CASE, lost.id))
    work_burst(connection)
    waiting = factory.report()
    JobQueue(connection).enqueue_follow_ups(waiting.case_no, [FollowUp(PROCESS_CASE, waiting.id),
                                                              FollowUp(PROCESS_PHOTOS, waiting.id)])

    admin = people(**DESKTOP)
    admin.log_in("admin")
    page = admin.page
    page.get_by_role("link", name="队列与任务").click()
    expect(page).to_have_url(re.compile(r"/desk/jobs$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("队列与任务")
    failed_row = page.locator(f'tr[data-job="{failed_id}"]')
    expect(failed_row.get_by_role("link", name=lost.case_no)).to_be_visible()
    failed_row.locator("summary").click()  # the whole traceback, folded under the error's line
    expect(failed_row.locator("pre")).to_contain_text("Traceback (most recent call last)")
    admin.shot("failed-job")

    failed_row.get_by_role("button", name=re.compile("重新排队")).click()
    expect(page.get_by_role("status")).to_contain_text(f"已重新排队 {failed_id}")
    expect(page.locator(f'tr[data-job="{failed_id}"]')).to_have_count(0)
    expect(page.get_by_text("没有失败的任务")).to_be_visible()
    admin.shot("requeued")
    assert failed_id in rq_queue(PHOTO_QUEUE, connection).job_ids

    with rq_worker(env, tmp_path / "worker.log") as worker:  # a real worker takes the queue: listed, counting
        photos = rq_queue(PHOTO_QUEUE, connection)
        for _ in range(600):  # the requeued job fails again (its photo is still lost), the others are done
            if photos.count == 0 and failed_id in photos.failed_job_registry.get_job_ids():
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        page.reload()
        expect(page.locator("tr[data-worker]")).to_have_count(1)
        expect(page.locator(f'tr[data-job="{failed_id}"]')).to_have_count(1)
        admin.shot("worker")
    admin.all_went_well()
