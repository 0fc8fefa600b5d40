"""The periodic work as the core does it: re-queueing lost processing, giving up after a few tries."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from service.db import utcnow
from service.models import Case, Notification, User
from service.periodic import requeue_stale_cases
from service.states import CaseState


def _nothing_in_flight(_follow_up) -> bool:
    return False


def test_a_lost_case_is_queued_again_until_the_attempts_run_out_then_staff_are_told(rider, db):
    case_no = rider.report().get_json()["case_no"]  # no worker runs: the case stays new
    later = utcnow() + timedelta(hours=1)
    rounds = [requeue_stale_cases(db, later, 10, 2, _nothing_in_flight) for _ in range(3)]
    assert [[no for no, _ in again] for again in rounds] == [[case_no], [case_no], []]
    assert {f.job for again in rounds for _, f in again} == {"process_case"}
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert case.processing_attempts == 2 and case.state == CaseState.NEW
    assert case.processing_error == "处理 2 次仍未完成 / not processed after 2 attempts"
    told = set(db.scalars(sa.select(User.username).join(Notification, Notification.user_id == User.id)
                          .where(Notification.case_id == case.id, Notification.kind == "processing_error")))
    assert told == {"staff1", "hqsq-staff"}  # the staff of the community the case is in
    assert requeue_stale_cases(db, later, 10, 2, _nothing_in_flight) == []  # given up once: no second message
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification)
                     .where(Notification.case_id == case.id)) == len(told)


def test_a_case_whose_job_is_in_flight_or_that_is_not_yet_stale_is_left_alone(rider, db):
    case_no = rider.report().get_json()["case_no"]
    asked = []

    def in_flight(follow_up) -> bool:
        asked.append(follow_up)
        return True

    assert requeue_stale_cases(db, utcnow() + timedelta(hours=1), 10, 2, in_flight) == []
    assert requeue_stale_cases(db, utcnow(), 10, 2, _nothing_in_flight) == []  # reported just now
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert [f.target_id for f in asked] == [case.id] and case.processing_attempts == 0
