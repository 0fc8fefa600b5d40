"""Who sees which case across the district: each route that shows or acts on a case, and each list of cases (the
desk's queue, map and CSV, the field page, notifications, the weekly report), for each kind of person, by where
they stand from the case: its own community (its assignee, or the worker of its grid), a sibling (another community
of the same street office), a parent (its street office, the district) or another street office's. Outside one's
scope a case is 404, as if there were none: no one learns which case numbers exist elsewhere.

The two cases are 虹桥社区's (虹桥街道): one dispatched to its grid worker gw06, one handed to the unit 供电.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from support import DEMO_PASSWORD

from service.db import utcnow
from service.models import Case, Notification, User
from service.states import CaseState
from service.weekly import Week, build_all_weekly_reports

# (kind, where they stand, username, sees the grid worker's case, sees the unit's case)
PEOPLE = [
    ("community staff", "own", "hqsq-staff", True, True),
    ("community staff", "sibling", "tysq-staff", False, False),
    ("community staff", "other", "qfsq-staff", False, False),
    ("street-office staff", "parent", "hqjd-staff", True, True),
    ("street-office staff", "other", "hpqjd-staff", False, False),
    ("district staff", "parent", "district-staff", True, True),
    ("grid worker", "own", "gw06", True, True),  # the assignee of the one; the other lies in their grid, HQ06
    ("grid worker", "sibling", "ty01", False, False),
    ("grid worker", "other", "qf01", False, False),
    ("unit", "own", "gongdian-1", False, True),
    ("unit", "other", "shuiwu-1", False, False),
    ("reporter", "own", "rider1", True, True),  # their own reports, anywhere in the district
    ("reporter", "other", "rider2", False, False),
]
# the field page lists one's orders: what was given to oneself or one's unit (not every case one may open)
ORDERS = {"gw06": {"worker"}, "gongdian-1": {"unit"}}
STAFF_KINDS = {"community staff", "street-office staff", "district staff"}
FIELD_KINDS = {"grid worker", "unit"}
IDS = [f"{kind}-{where}-{name}" for kind, where, name, *_ in PEOPLE]
REPORT_SCOPE = "community:hqsq"
WEEK = Week.containing(utcnow(), "Asia/Shanghai")


@pytest.fixture
def cases(app, factory, db):
    """The grid worker's case and the unit's, as {"worker": (case_no, photo_id), "unit": ...}."""
    app.config["WTF_CSRF_ENABLED"] = False  # these tests are about who; CSRF has tests of its own
    worker = factory.case_in(CaseState.DISPATCHED, seed=301)
    unit = factory.case_in(CaseState.DISPATCHED, category="E0301", where={"lat": "32.0155"}, seed=302)
    factory.act(unit, "assign", unit="gongdian", note="供电所的线路")
    db.expire_all()
    assert unit.assignee_unit == "gongdian" and worker.community.code == unit.community.code == "hqsq"
    build_all_weekly_reports(db, WEEK, "Asia/Shanghai", utcnow())
    return {"worker": (worker.case_no, worker.photos[0].id), "unit": (unit.case_no, unit.photos[0].id)}


def client_of(app, username: str):
    client = app.test_client()
    answer = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert answer.status_code == 200, username
    client.bearer = {"Authorization": f"Bearer {answer.get_json()['token']}"}
    return client


def text(answer) -> str:
    return answer.get_data(as_text=True)


@pytest.mark.parametrize("kind, where, username, sees_worker_case, sees_unit_case", PEOPLE, ids=IDS)
def test_each_route_naming_a_case_is_404_outside_ones_scope(app, cases, kind, where, username, sees_worker_case,
                                                             sees_unit_case):
    client = client_of(app, username)
    for which, sees in (("worker", sees_worker_case), ("unit", sees_unit_case)):
        case_no, photo_id = cases[which]
        routes = [("GET", f"/api/v1/reports/{case_no}"), ("GET", f"/api/v1/reports/{case_no}/photos/{photo_id}/thumb")]
        if kind in STAFF_KINDS:
            routes += [("GET", f"/desk/cases/{case_no}"), ("POST", f"/desk/cases/{case_no}/resend")]
        if kind != "reporter":
            routes += [("POST", f"/api/v1/cases/{case_no}/actions"), ("POST", f"/api/v1/cases/{case_no}/photos")]
        for method, url in routes:
            if method == "GET":
                answer = client.get(url, headers=client.bearer)
            else:  # an action no one may take, photos with no file: refused for what they are, past the scope
                answer = client.post(url, json={"action": "no-such-action"}, headers=client.bearer)
            assert answer.status_code < 500, (username, url, text(answer)[:200])
            assert (answer.status_code != 404) == sees, (username, which, method, url, answer.status_code)


@pytest.mark.parametrize("kind, where, username, sees_worker_case, sees_unit_case",
                         [p for p in PEOPLE if p[0] in STAFF_KINDS | FIELD_KINDS],
                         ids=[i for i, p in zip(IDS, PEOPLE, strict=True) if p[0] in STAFF_KINDS | FIELD_KINDS])
def test_each_list_shows_exactly_the_cases_in_ones_scope(app, db, cases, kind, where, username, sees_worker_case,
                                                         sees_unit_case):
    client = client_of(app, username)
    pages = ("/desk", "/desk/map.json", "/desk/export.csv") if kind in STAFF_KINDS else ("/field",)
    for url in pages:
        answer = client.get(url, headers=client.bearer if url.endswith((".json", ".csv")) else {})
        if answer.status_code == 302:  # a page: the cookie the API login set
            answer = client.get(url)
        assert answer.status_code == 200, (username, url, answer.status_code)
        for which, sees in (("worker", sees_worker_case), ("unit", sees_unit_case)):
            listed = sees if kind in STAFF_KINDS else which in ORDERS.get(username, set())
            assert (cases[which][0] in text(answer)) == listed, (username, url, which)
    # notifications: a new order or a case at one's desk reaches those in scope only
    user_id = db.scalar(sa.select(User.id).where(User.username == username))
    told = set(db.scalars(sa.select(Case.case_no).join(Notification, Notification.case_id == Case.id)
                          .where(Notification.user_id == user_id)))
    for which, sees in (("worker", sees_worker_case), ("unit", sees_unit_case)):
        if not sees:
            assert cases[which][0] not in told, (username, which)


@pytest.mark.parametrize("kind, where, username, reads", [
    ("community staff", "own", "hqsq-staff", True), ("community staff", "sibling", "tysq-staff", False),
    ("community staff", "other", "qfsq-staff", False), ("street-office staff", "parent", "hqjd-staff", True),
    ("street-office staff", "other", "hpqjd-staff", False), ("district staff", "parent", "district-staff", True)])
def test_a_communitys_weekly_report_is_read_by_its_staff_and_those_above_only(app, cases, kind, where, username,
                                                                             reads):
    client = client_of(app, username)
    client.get("/desk")  # the page session from the API login's cookie
    for suffix in ("", ".csv", ".xlsx"):
        answer = client.get(f"/desk/reports/{WEEK.name}{suffix}?scope={REPORT_SCOPE}")
        assert answer.status_code == (200 if reads else 404), (username, suffix, answer.status_code)
