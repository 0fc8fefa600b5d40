"""The district admins' page of the job queues: each queue's figures, the workers, the failed jobs to requeue."""
from __future__ import annotations

import logging
from functools import wraps

import redis
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from service.case_lookup import cases_of_follow_ups
from service.db import utcnow
from service.parsing import whole_number
from service.refusals import Refused
from service.runtime import queue_view
from service.scope import runs_the_district
from service.web.access import current_user, page_login_required
from service.web.api import int_arg
from service.web.extensions import db_session, services

log = logging.getLogger(__name__)
bp = Blueprint("jobs_desk", __name__)
bp.add_app_template_global(runs_the_district, "runs_the_district")  # base.html's link, for those admins alone
REDIS_DOWN = "队列服务（Redis）暂时无法连接 / the queue's Redis cannot be reached"
MAX_PAGE = 100_000


def district_admin_page(view):
    """For this blueprint's pages: the login page for a visitor, 404 for anyone but a district admin (the queues
    are the whole district's, and their failed jobs name cases of every community)."""

    @page_login_required()
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not runs_the_district(current_user()):
            abort(404)
        return view(*args, **kwargs)

    return wrapped


@bp.get("/desk/jobs")
@district_admin_page
def jobs():
    """The queues, the workers and a page of the failed jobs, the case each concerns linked; 503 with a message
    when Redis does not answer."""
    connection = services().jobs.connection
    try:
        queues = queue_view.queue_figures(connection)
        workers = queue_view.worker_figures(connection)
        failed = queue_view.failed_jobs(connection, int_arg("page", 1, 1, MAX_PAGE))
    except redis.RedisError as exc:
        log.warning("the queue page could not read Redis: %s", exc)
        return render_template("desk/jobs.html", unavailable=REDIS_DOWN), 503
    cases = cases_of_follow_ups(db_session(), current_user(), [j.follow_up for j in failed.jobs if j.follow_up])
    return render_template("desk/jobs.html", queues=queues, workers=workers, failed=failed, cases=cases,
                           now=utcnow())


@bp.post("/desk/jobs/requeue")
@district_admin_page
def requeue():
    """Put one failed job back on its queue; back to the page it was asked from, saying how it went."""
    job_id = request.form.get("job_id", "")
    try:
        queue = queue_view.requeue_failed(services().jobs.connection, job_id)
        flash(f"已重新排队 {job_id}（{queue} 队列）/ requeued on {queue}", "ok")
    except Refused as refused:
        flash(refused.message, "error")
    except redis.RedisError:
        flash(REDIS_DOWN, "error")
    return _back()


@bp.post("/desk/jobs/requeue-all")
@district_admin_page
def requeue_all():
    """Put the failed jobs back on their queues, a batch at a time (queue_view.REQUEUE_BATCH); the message says how
    many are left for the next press."""
    try:
        count, left = queue_view.requeue_all_failed(services().jobs.connection)
        flash(f"已重新排队 {count} 个失败任务，还剩 {left} 个 / {count} failed job(s) requeued, {left} left", "ok")
    except redis.RedisError:
        flash(REDIS_DOWN, "error")
    return _back()


def _back():
    """To the page of failed jobs the form was on."""
    try:
        page = whole_number(request.form.get("page", ""), 2, MAX_PAGE)
    except ValueError:
        page = None  # the first page, whose link carries no number
    return redirect(url_for("jobs_desk.jobs", page=page), code=303)
