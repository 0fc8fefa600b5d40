"""Every `next` a client names is followed only to a path on this site: the login page, the case-action forms of
the desk and the field page, and bulk assign; anything else lands on the default page."""
from __future__ import annotations

import pytest
from support import DEMO_PASSWORD, Browser, staff_browser

from service.states import CaseState

# what an attacker puts in `next`; each is read by a browser as another site (or a script)
HOSTILE = ["////evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example", "/%2F%2Fevil.example",
           "%2F%2Fevil.example", "/%5Cevil.example", "/%252F%252Fevil.example", "\t//evil.example",
           "/\t/evil.example", "/\n/evil.example", " //evil.example", "\x01//evil.example",
           "https://evil.example", "https:evil.example", "javascript:alert(1)", "evil.example"]


def _location(response) -> str:
    assert response.status_code in (302, 303), response.status_code
    return response.headers["Location"]


@pytest.mark.parametrize("target", HOSTILE)
def test_the_login_page_never_sends_anyone_to_another_site(app, target):
    form = Browser(app.test_client())
    form.token_from(form.get("/login").get_data(as_text=True))
    sent = form.post("/login", username="rider1", password=DEMO_PASSWORD, next=target)
    assert _location(sent) == "/"
    query = Browser(app.test_client())
    query.token_from(query.get("/login").get_data(as_text=True))
    response = query.client.post("/login", query_string={"next": target},
                                 data={"username": "staff1", "password": DEMO_PASSWORD, "csrf_token": query.csrf})
    assert _location(response) == "/desk"


def test_the_login_page_follows_a_path_on_this_site(app):
    browser = Browser(app.test_client())
    browser.token_from(browser.get("/login?next=/desk/map").get_data(as_text=True))
    page = browser.get("/login?next=/desk/map").get_data(as_text=True)
    assert 'name="next" value="/desk/map"' in page
    sent = browser.post("/login", username="staff1", password=DEMO_PASSWORD, next="/desk?state=new&q=%E4%B8%AD")
    assert _location(sent) == "/desk?state=new&q=%E4%B8%AD"


def test_case_action_forms_come_back_only_to_this_site(app, factory):
    case_no = factory.case_in(CaseState.DISPATCHED, seed=31).case_no
    desk = staff_browser(app)
    for target in HOSTILE:  # refused actions come back too: the page says why
        refused = desk.post(f"/api/v1/cases/{case_no}/actions", action="close", note="x", next=target)
        assert _location(refused) == f"/desk/cases/{case_no}", target
    assert _location(desk.post(f"/api/v1/cases/{case_no}/actions", action="close", next="/desk/map")) == "/desk/map"
    # the grid worker's field page posts its forms with next=/field
    field = Browser(app.test_client())
    field.login("gw06")
    taken = field.post(f"/api/v1/cases/{case_no}/actions", action="start", next="/\\evil.example")
    assert _location(taken) == f"/desk/cases/{case_no}"
    again = field.post(f"/api/v1/cases/{case_no}/actions", action="start", next="/field")
    assert _location(again) == "/field"


def test_bulk_assign_comes_back_only_to_this_site(app):
    desk = staff_browser(app)
    for target in HOSTILE:
        assert _location(desk.post("/desk/bulk-assign", case_no="nothing", back=target)) == "/desk", target
    assert _location(desk.post("/desk/bulk-assign", case_no="nothing", back="/desk?state=new")) == "/desk?state=new"
