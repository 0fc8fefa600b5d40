"""The admins' Open311 clients page: a client added with its key shown once, a new key, a revoked client, its
own rate limit; each as the admin sees it and as the client then finds it."""
from __future__ import annotations

import re

import sqlalchemy as sa
from support import Browser
from test_open311 import errors_of
from test_open311_post import post


def _admin(app) -> Browser:
    admin = Browser(app.test_client())
    admin.login("admin")
    admin.token_from(admin.get("/desk/open311").get_data(as_text=True))
    return admin


def _shown_key(response) -> str:
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return re.search(r'<code id="new-key">([^<]+)</code>', response.get_data(as_text=True)).group(1)


def _client_id(admin: Browser, name: str) -> int:
    page = admin.get("/desk/open311").get_data(as_text=True)
    row = next(r for r in page.split("<tr>") if f"<td>{name}</td>" in r)
    return int(re.search(r"/desk/open311/(\d+)/key", row).group(1))


def test_an_admin_adds_a_client_whose_key_is_shown_once_and_works(app, client):
    admin = _admin(app)
    key = _shown_key(admin.post("/desk/open311/add", name="12345 热线"))
    assert post(client, key).status_code == 201
    page = admin.get("/desk/open311").get_data(as_text=True)
    assert "12345 热线" in page and "1 件" in page and key not in page
    assert "http://localhost/open311/v2/" in page
    again = admin.post("/desk/open311/add", name="12345 热线")
    assert again.status_code == 303 and "已有名为" in admin.get("/desk/open311").get_data(as_text=True)


def test_a_new_key_refuses_the_old_and_a_revoked_client_is_refused(app, client):
    admin = _admin(app)
    old = _shown_key(admin.post("/desk/open311/add", name="外卖平台"))
    client_id = _client_id(admin, "外卖平台")
    new = _shown_key(admin.post(f"/desk/open311/{client_id}/key"))
    errors_of(post(client, old), 403, "json")
    assert post(client, new).status_code == 201
    assert admin.post(f"/desk/open311/{client_id}/revoke").status_code == 303
    errors_of(post(client, new), 403, "json")
    assert "已停用" in admin.get("/desk/open311").get_data(as_text=True)
    assert admin.post(f"/desk/open311/{client_id}/key").status_code == 303  # no new key for a revoked client


def test_an_admin_sets_a_clients_rate_limit_and_a_bad_one_is_refused(app, client):
    admin = _admin(app)
    key = _shown_key(admin.post("/desk/open311/add", name="慢客户端"))
    client_id = _client_id(admin, "慢客户端")
    admin.post(f"/desk/open311/{client_id}/limit", rate_limit="1 per minute")
    assert 'value="1 per minute"' in admin.get("/desk/open311").get_data(as_text=True)
    assert post(client, key).status_code == 201
    errors_of(post(client, key), 429, "json")
    admin.post(f"/desk/open311/{client_id}/limit", rate_limit="lots")
    assert "限流格式不对" in admin.get("/desk/open311").get_data(as_text=True)


def test_staff_who_are_not_admins_do_not_manage_clients(app):
    staff = Browser(app.test_client())
    staff.login("staff1")
    assert staff.get("/desk/open311").status_code == 403


def test_a_clients_request_that_cannot_be_placed_goes_to_its_default_communitys_desk(app, client, db, workers):
    from support import staff_browser

    from service.models import Case, CaseEvent
    from service.states import CaseState

    admin = _admin(app)
    key = _shown_key(admin.post("/desk/open311/add", name="12345 热线"))
    address_only = {"api_key": key, "service_code": "B0118", "address_string": "虹桥新村 12 幢东侧"}
    errors_of(client.post("/open311/v2/requests.json", data=address_only), 400, "json")  # no default: refused
    client_id = _client_id(admin, "12345 热线")
    assert admin.post(f"/desk/open311/{client_id}/community", community="nowhere").status_code == 303
    assert "没有该社区" in admin.get("/desk/open311").get_data(as_text=True)
    assert admin.post(f"/desk/open311/{client_id}/community", community="hqsq").status_code == 303
    page = admin.get("/desk/open311").get_data(as_text=True)
    assert '<option value="hqsq" selected>虹桥社区</option>' in page
    answer = client.post("/open311/v2/requests.json", data=address_only)
    assert answer.status_code == 201
    case_no = answer.get_json()[0]["service_request_id"]
    workers()
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert case.state == CaseState.UNROUTED and case.community.code == "hqsq" and case.lat is None
    why = db.scalar(sa.select(CaseEvent.facts).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.to_state == CaseState.UNROUTED))
    assert why == {"why": "no_location"}
    staff_page = staff_browser(app).get(f"/desk/cases/{case_no}").get_data(as_text=True)  # 虹桥社区's staff
    assert "虹桥新村 12 幢东侧" in staff_page
    point = {**address_only, "lat": "32.015", "long": "120.855"}  # a request with a point goes where it is
    assert client.post("/open311/v2/requests.json", data=point).status_code == 201
