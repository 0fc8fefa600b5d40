"""The round trip of issue 15, B, against a second instance of our own service on loopback acting as the power
company's platform: our case goes there over Open311 with its photo and our number, is worked and fixed there,
and the fix (with the after photo) comes back as 已处置待核查 — once; a case the platform rejects comes back to our
desk sent back with its reason. Both instances are real: their own databases, Redis databases, media and workers."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from support import DEMO_PASSWORD, Api, make_settings, run_jobs
from test_unit_platforms import UNIT, _case, _request, given_to_the_power_company, poll
from werkzeug.serving import make_server

from config import Settings
from service.db import Database, upgrade_schema
from service.district import load_district
from service.models import Case, CaseEvent
from service.open311_intake import add_client
from service.runtime.jobqueue import redis_connection
from service.states import CaseState
from service.web import create_app


def another_redis_database(url: str) -> str:
    """The same Redis server, the next of its 16 databases: the other instance's queue is its own."""
    parts = urlsplit(url)
    n = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(n + 1) % 16}"))


@dataclass
class Theirs:
    """The other instance: its app, address, the key it gave us, and its settings and workers."""

    app: Flask
    url: str
    key: str
    settings: Settings
    work: callable

    def api(self, username: str) -> Api:
        api = Api(self.app.test_client())
        assert api.login(username).status_code == 200
        return api

    def case(self, case_no: str) -> dict | None:
        """Their case as their desk shows it: state, our number, description, assignee."""
        with self.app.extensions["snap"].db.session() as session:
            case = session.scalar(sa.select(Case).where(Case.case_no == case_no))
            return case and {"state": case.state, "client_report_id": case.client_report_id,
                             "description": case.description,
                             "assignee": case.assignee.username if case.assignee else None}


@pytest.fixture
def their_service(tmp_path: Path, redis_url, worker_env, settings):
    """A second instance of our service, the demo district loaded, served over HTTP on 127.0.0.1 from a thread."""
    url = f"sqlite:///{tmp_path / 'theirs.db'}"
    upgrade_schema(url)
    database = Database(url)
    with database.session() as session:
        load_district(session, Settings.from_env(env={}, secret_key="x").district_dir, DEMO_PASSWORD)
        _, key = add_client(session, "崇川区随手拍")
    database.dispose()
    their_redis = another_redis_database(redis_url)
    redis_connection(their_redis).flushdb()
    theirs = make_settings(tmp_path / "theirs", url, their_redis)
    app = create_app(theirs)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="their-service", daemon=True)
    thread.start()

    def work() -> None:
        """Their workers run their queue (then ours are pointed back at our own)."""
        worker_env(their_redis, DATABASE_URL=url, MEDIA_DIR=str(theirs.media_dir),
                   INSTANCE_DIR=str(theirs.instance_dir))
        try:
            run_jobs(theirs)
        finally:
            worker_env()

    yield Theirs(app, f"http://127.0.0.1:{server.server_port}", key, theirs, work)
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    app.extensions["snap"].db.dispose()
    redis_connection(their_redis).flushdb()


@pytest.fixture
def sent_to_them(their_service, platform_unit, factory, make_api, workers):
    """A street-light case of ours handed to the power company, whose platform is the other instance: our case
    number and theirs, once our worker has sent it."""
    platform_unit({"endpoint": f"{their_service.url}/open311/v2", "api_key": their_service.key,
                   "jurisdiction_id": "chongchuan", "format": "xml"})
    ours = given_to_the_power_company(factory, make_api)
    workers()
    return ours, _request(factory.session, ours).service_request_id


def test_a_case_fixed_on_the_units_platform_comes_back_fixed_with_its_photo_once(
        their_service, sent_to_them, db, settings, workers):
    ours, their_no = sent_to_them
    theirs = their_service.case(their_no)
    assert theirs is not None and theirs["client_report_id"] == ours  # our number kept for their dedup
    assert theirs["description"].startswith("路灯：路灯不亮")
    their_service.work()  # their pipeline: the photo's copies, dispatch to their grid worker
    theirs = their_service.case(their_no)
    assert theirs["state"] == CaseState.DISPATCHED
    worker = their_service.api(theirs["assignee"])
    assert worker.act(their_no, "start").status_code == 200
    assert worker.after_photo(their_no, seed=5).status_code == 201
    their_service.work()  # the after photo's copies
    assert worker.act(their_no, "resolve", note="换了灯头").status_code == 200

    poll(settings)
    case = _case(db, ours)
    assert case.state == CaseState.RESOLVED
    actions = db.scalars(sa.select(CaseEvent.action).where(CaseEvent.case_id == case.id)
                         .order_by(CaseEvent.id)).all()
    assert actions[-2:] == ["start", "resolve"]  # their 处置中 and 已处置, in order
    [after] = [p for p in case.photos if p.kind == "after"]
    assert after.web_path is not None
    poll(settings)
    assert db.scalar(sa.select(sa.func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id)) == len(actions)
    assert len([p for p in _case(db, ours).photos if p.kind == "after"]) == 1


def test_a_case_the_units_platform_rejects_comes_back_to_our_desk_with_its_reason(
        their_service, sent_to_them, db, settings, workers):
    ours, their_no = sent_to_them
    their_service.work()
    staff = their_service.api("staff1")
    assert staff.act(their_no, "reject", note="该路段路灯归市政管理").status_code == 200
    poll(settings)
    case = _case(db, ours)
    assert case.state == CaseState.UNROUTED and case.assignee_unit is None
    back = db.scalar(sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "send_back"))
    assert back.facts["reason"] == "not_ours" and back.note == "该路段路灯归市政管理"
    assert back.actor.unit.code == UNIT


def test_sending_the_same_case_again_makes_no_second_case_there(their_service, sent_to_them, db, make_api, workers):
    ours, their_no = sent_to_them
    staff = make_api("staff1")
    assert staff.act(ours, "assign", assignee="gw06").status_code == 200
    assert staff.act(ours, "assign", unit=UNIT).status_code == 200  # back to the power company: sent again
    workers()
    assert _request(db, ours).service_request_id == their_no  # their dedup on our number: the same case
    with their_service.app.extensions["snap"].db.session() as session:
        assert session.scalar(sa.select(sa.func.count(Case.id))) == 1
