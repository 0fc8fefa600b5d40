"""The desk's pages as staff use them: login, the queue, a case, the map, CSV, invites, users, overdue chasing."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from support import DEMO_PASSWORD, Api, Browser, staff_browser

from service.db import utcnow
from service.models import Case, Grid, Notification, User
from service.overdue import chase_overdue
from service.states import CaseState

DISPATCHED, UNROUTED = CaseState.DISPATCHED, CaseState.UNROUTED


def test_each_role_lands_on_its_own_page_after_logging_in(app):
    for username, home in (("staff1", "/desk"), ("admin", "/desk"), ("gw06", "/field"), ("rider1", "/")):
        assert Browser(app.test_client()).login(username).headers["Location"] == home


def test_a_wrong_password_shows_the_form_again_with_401_and_no_session(app):
    browser = Browser(app.test_client())
    response = browser.login("staff1", "wrong")
    assert response.status_code == 401 and "用户名或密码错误" in response.get_data(as_text=True)
    assert browser.get("/desk").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(app):
    browser = staff_browser(app)
    response = browser.client.post("/desk/invites", data={"display_name": "王", "username": "x1"})
    assert response.status_code == 400
    assert browser.post("/desk/invites", display_name="王", username="x1").status_code == 200


def test_repeated_login_failures_are_slowed_down_per_account(app):
    browser = Browser(app.test_client())
    codes = [browser.login("gw03", "wrong").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    api = app.test_client().post("/api/v1/auth/login", json={"username": "gw03", "password": DEMO_PASSWORD})
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "too_many_requests"
    assert int(api.headers["Retry-After"]) > 0
    # another account from the same address is still served
    assert Browser(app.test_client()).login("gw04").status_code == 302


def test_logout_forgets_the_session(app):
    browser = staff_browser(app)
    assert browser.post("/logout").headers["Location"] == "/login"
    assert browser.get("/desk").status_code == 302


def test_the_queue_filters_counts_and_pages_by_keyset(app, factory, db):
    made = [factory.case_in(DISPATCHED, seed=200 + i, where={"lat": f"{32.0120 + i * 0.001:.4f}"}).case_no
            for i in range(7)]
    urgent = factory.case_in(DISPATCHED, seed=300, category="B0101").case_no  # 井盖: priority 2, 6 hours
    outside = factory.case_in(UNROUTED, seed=301).case_no
    urgent_outside = factory.case_in(UNROUTED, seed=302, category="B0101").case_no
    browser = staff_browser(app)
    page = browser.get("/desk").get_data(as_text=True)
    listed = re.findall(r'href="/desk/cases/([0-9-]+)"', page)
    # the desk's own work (待人工派遣) first, most urgent first; then the most urgent, then by deadline
    assert listed[:3] == [urgent_outside, outside, urgent]
    assert set(listed) == set(made) | {urgent, outside, urgent_outside}
    assert re.search(r"已派遣 <strong>8</strong>", page) and re.search(r"待人工派遣 <strong>2</strong>", page)
    # the tab of cases waiting for the desk, with their number
    assert re.search(r'<a href="/desk\?state=unrouted"[^>]*>待人工派遣 <strong>2</strong></a>', page)

    unrouted = browser.get("/desk?state=unrouted").get_data(as_text=True)
    assert re.findall(r'href="/desk/cases/([0-9-]+)"', unrouted) == [urgent_outside, outside]
    assert re.search(r'<a href="/desk\?state=unrouted" aria-current="page">', unrouted)
    by_text = browser.get(f"/desk?q={made[3]}").get_data(as_text=True)
    assert re.findall(r'href="/desk/cases/([0-9-]+)"', by_text) == [made[3]]

    # keyset pages of any size walk the whole queue once, in order, across the unrouted/routed boundary
    from service.queue import QueueFilter, queue_page
    staff = db.scalar(sa.select(User).where(User.username == "staff1"))
    for size in (1, 2, 3, 4):
        seen, after = [], None
        while True:
            cases, after = queue_page(db, QueueFilter(), utcnow(), staff, after, limit=size)
            seen += [c.case_no for c in cases]
            if after is None:
                break
        assert seen == listed
    # and so do the page's own "next page" links
    walked, url = [], "/desk?state=unrouted&state=dispatched"
    while url:
        html = browser.get(url).get_data(as_text=True)
        walked += re.findall(r'href="/desk/cases/([0-9-]+)"', html)
        more = re.search(r'<a href="([^"]+)">下一页', html)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert walked == listed


def test_the_state_chips_are_links_that_keep_the_other_filters_and_the_page_works_without_script(app, factory):
    factory.case_in(DISPATCHED, seed=250)
    factory.case_in(CaseState.IN_PROGRESS, seed=251, where={"lat": "32.0140"})
    browser = staff_browser(app)
    page = browser.get(f"/desk?grid=HQ06&state={DISPATCHED}").get_data(as_text=True)
    # one click on a chip asks for its state alone, keeping the grid; the chip of the current filter is marked
    assert f'<a href="/desk?state={CaseState.IN_PROGRESS}&amp;grid=HQ06">处置中 <strong>1</strong></a>' in page
    assert f'<a href="/desk?state={DISPATCHED}&amp;grid=HQ06" aria-current="page">已派遣 <strong>1</strong>' in page
    assert '<a href="/desk?grid=HQ06">全部待办 <strong>2</strong></a>' in page
    # the filter form keeps the state the chip chose; the bulk form posts without any script
    assert f'<input type="hidden" name="state" value="{DISPATCHED}">' in page
    assert re.search(r'<button type="submit" class="primary">批量派遣</button>', page)
    assert '<script type="module" src="/static/desk/queue.' in page
    # one line a case, its age in words (the full time in the title)
    assert re.search(r'<td class="wide c-age" title="[0-9-]+ [0-9:]+">0 分钟</td>', page)
    # the links carry the filters alone: url_for's own words in the query are no 500 and go nowhere
    odd = browser.get("/desk?grid=HQ06&_external=1&_scheme=javascript&endpoint=x&_anchor=y")
    text = odd.get_data(as_text=True)
    links = re.findall(r'href="([^"]*)"', text)
    assert odd.status_code == 200 and not [a for a in links if "javascript" in a or "endpoint" in a or "#" in a]
    assert '<a href="/desk/export.csv?grid=HQ06">导出 CSV</a>' in text


def test_bulk_assign_gives_ticked_cases_to_one_worker(app, factory, db):
    cases = [factory.case_in(UNROUTED, seed=400 + i, where={"lat": f"{32.001 + i * 0.003:.3f}"}).case_no
             for i in range(3)]
    browser = staff_browser(app)
    response = browser.client.post("/desk/bulk-assign", data={"csrf_token": browser.csrf, "assignee": "gw02",
                                                              "case_no": cases[:2]})
    assert response.status_code == 303
    db.expire_all()
    states = {c.case_no: (c.state, c.assignee.username if c.assignee else None)
              for c in db.scalars(sa.select(Case))}
    assert states == {cases[0]: ("dispatched", "gw02"), cases[1]: ("dispatched", "gw02"), cases[2]: ("unrouted", None)}


def test_the_case_page_shows_the_case_safely_and_its_actions(app, factory):
    case_no = factory.case_in(DISPATCHED, seed=500, description="<script>alert('x')</script> 井盖松动").case_no
    page = staff_browser(app).get(f"/desk/cases/{case_no}").get_data(as_text=True)
    assert "&lt;script&gt;alert" in page and "<script>alert" not in page
    assert "138****0001" in page and "13800000001" not in page
    assert 'data-action="assign"' in page and 'data-action="reject"' in page and 'data-action="close"' not in page
    assert 'id="minimap"' in page and "虹桥第06网格" in page
    assert f"/api/v1/reports/{case_no}/photos/" in page
    assert not re.search(r"<h3>提示</h3>\s*<ul>\s*</ul>", page)  # no hints: no empty heading either
    # the icon under its fingerprinted name (no 404)
    assert re.search(r'<link rel="icon" type="image/png" href="/static/rider/icon-512\.[0-9a-f]+\.png">', page)


def test_a_page_form_takes_an_action_and_comes_back(app, factory, db):
    case_no = factory.case_in(DISPATCHED, seed=600).case_no
    browser = staff_browser(app)
    response = browser.post(f"/api/v1/cases/{case_no}/actions", action="reject", note="非公共设施")
    assert response.status_code == 303 and response.headers["Location"] == f"/desk/cases/{case_no}"
    db.expire_all()
    assert db.scalar(sa.select(Case.state).where(Case.case_no == case_no)) == "rejected"
    refused = browser.post(f"/api/v1/cases/{case_no}/actions", action="close", note="x")
    assert refused.status_code == 303  # back to the page, which says why
    assert "不能核查结案" in browser.get(f"/desk/cases/{case_no}").get_data(as_text=True)


def test_the_map_data_has_every_grid_and_the_open_cases(app, factory):
    factory.case_in(DISPATCHED, seed=700)
    data = staff_browser(app).get("/desk/map.json").get_json()
    assert len(data["grids"]["features"]) == 70  # the district's: the map shows the neighbours' too
    assert [f["properties"]["state"] for f in data["cases"]["features"]] == ["dispatched"]
    assert data["cases"]["features"][0]["geometry"]["coordinates"] == [120.855, 32.015]


def test_the_csv_export_has_the_filtered_cases_with_masked_phones(app, factory):
    factory.case_in(DISPATCHED, seed=800)
    factory.case_in(UNROUTED, seed=801)
    text = staff_browser(app).get("/desk/export.csv?state=unrouted").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0].startswith("案件编号") and len(rows) == 2
    assert rows[0][7] == "状态 state" and rows[1][7] == "待人工派遣" and rows[0][-1] == "状态代码 state code"
    assert rows[1][-1] == UNROUTED and "138****0001" in rows[1][10] and "13800000001" not in text


def test_an_invited_rider_sets_a_password_once_and_lands_logged_in(app, db):
    browser = staff_browser(app)
    page = browser.post("/desk/invites", display_name="王师傅", phone="13912345678",
                        username="rider9").get_data(as_text=True)
    assert "<svg" in page
    link = re.search(r'id="invite-link">([^<]+)<', page).group(1)
    path = link.split("localhost", 1)[1]
    phone = Browser(app.test_client())
    phone.token_from(phone.get(path).get_data(as_text=True))
    assert phone.post(path, password="short", password2="short").status_code == 422
    done = phone.post(path, password="ride-safe-2026", password2="ride-safe-2026")
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert Api(app.test_client()).login("rider9", "ride-safe-2026").status_code == 200
    again = Browser(app.test_client())
    assert again.get(path).status_code == 410  # the link works once
    assert Browser(app.test_client()).get("/invite/forged-token").status_code == 410


def test_an_admin_adds_a_person_deactivates_one_and_names_a_grid_worker(app, db):
    browser = Browser(app.test_client())
    browser.login("admin")
    browser.post("/desk/users/add", username="gw13", display_name="网格员 13", role="grid_worker",
                 password="worker-pass-13")
    browser.post("/desk/users/grid-worker", grid="HQ01", worker="gw13")
    browser.post("/desk/users/active", username="rider2", active="0")
    db.expire_all()
    assert db.scalar(sa.select(Grid).where(Grid.code == "HQ01")).worker.username == "gw13"
    assert db.scalar(sa.select(User.active).where(User.username == "rider2")) is False
    assert Api(app.test_client()).login("gw13", "worker-pass-13").status_code == 200
    # put the demo community back for the tests that follow
    grid = db.scalar(sa.select(Grid).where(Grid.code == "HQ01"))
    grid.worker = db.scalar(sa.select(User).where(User.username == "gw01"))
    db.execute(sa.delete(User).where(User.username == "gw13"))
    db.commit()


def test_the_grid_worker_page_lists_my_open_orders_urgent_first_then_soonest(app, factory):
    later = factory.case_in(DISPATCHED, seed=900, category="B0118").case_no  # 72 h
    sooner = factory.case_in(DISPATCHED, seed=901, category="E0101", where={"lat": "32.0155"}).case_no  # 暴露垃圾, 4 h
    # 上水井盖: 6 h, due after the 暴露垃圾 but a danger to life (priority 2): at the top all the same
    urgent_no = factory.case_in(DISPATCHED, seed=902, category="B0101", where={"lat": "32.0152"}).case_no
    phone = Browser(app.test_client())
    phone.login("gw06")
    page = phone.get("/field").get_data(as_text=True)
    assert page.index(urgent_no) < page.index(sooner) < page.index(later)
    assert "⚠ 紧急" in page[page.index(f'id="order-{urgent_no}"'):page.index(f'id="order-{sooner}"')]
    assert "接单处置" in page and "处置完成" in page  # the next step, and the resolve form for once it is taken on


def test_overdue_cases_are_chased_once_a_day(app, factory, db, settings):
    case_no = factory.case_in(DISPATCHED, seed=950).case_no
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    case.deadline_at = utcnow() - timedelta(hours=5)
    db.commit()
    now = utcnow()
    local = now.astimezone(ZoneInfo(settings.timezone))
    end_of_day = local.replace(hour=23, minute=59, second=59, microsecond=0)
    later_that_day = min(now + timedelta(hours=1), end_of_day)  # (a run just before local midnight stays that day)
    assert chase_overdue(db, now, settings.timezone) == 1
    assert chase_overdue(db, later_that_day, settings.timezone) == 0  # the same day
    told = {n.user.username for n in db.scalars(sa.select(Notification).where(Notification.kind == "overdue"))}
    assert told == {"gw06", "staff1", "hqsq-staff"}  # the worker and their community's staff
    assert chase_overdue(db, now + timedelta(days=1), settings.timezone) == 1  # and again the next day
    page = staff_browser(app).get("/desk?overdue=1").get_data(as_text=True)
    assert case_no in page and "超期" in page


def test_a_duplicate_case_page_offers_unmerge_which_brings_it_back(app, factory, db):
    case = factory.case_in(CaseState.DUPLICATE, seed=620)
    case_no, original = case.case_no, case.duplicate_of.case_no
    browser = staff_browser(app)
    page = browser.get(f"/desk/cases/{case_no}").get_data(as_text=True)
    assert 'data-action="unmerge"' in page and "撤销合并" in page
    assert 'data-action="unmerge"' not in browser.get(f"/desk/cases/{original}").get_data(as_text=True)
    response = browser.post(f"/api/v1/cases/{case_no}/actions", action="unmerge", note="")
    assert response.status_code == 303 and response.headers["Location"] == f"/desk/cases/{case_no}"
    db.expire_all()
    assert db.scalar(sa.select(Case.state).where(Case.case_no == case_no)) == CaseState.DISPATCHED
    page = browser.get(f"/desk/cases/{case_no}").get_data(as_text=True)
    assert 'data-action="unmerge"' not in page and f"撤销合并（原记为 {original} 的重复）" in page


def test_the_users_page_names_roles_in_chinese_then_english(app):
    from service.auth import Role
    from service.models import ROLES
    assert {str(r) for r in Role} == set(ROLES)  # one label for each role the database allows
    admin = Browser(app.test_client())
    admin.login("admin")
    page = admin.get("/desk/users").get_data(as_text=True)
    assert "<td>网格员 Grid worker</td>" in page and "<td>骑手 Rider</td>" in page
    assert "<td>管理员 Administrator</td>" in page
    assert '<option value="grid_worker">网格员 Grid worker</option>' in page
    assert "<td>grid_worker</td>" not in page and "<td>reporter</td>" not in page


def test_desk_pages_refuse_in_chinese_then_english_as_pages(app):
    rider = Browser(app.test_client())
    rider.login("rider1")
    forbidden = rider.get("/desk")
    text = forbidden.get_data(as_text=True)
    assert forbidden.status_code == 403 and forbidden.mimetype == "text/html"
    assert "无权进行此操作" in text and "not allowed" in text and "Forbidden" not in text
    assert text.index("无权进行此操作") < text.index("not allowed")
    missing = staff_browser(app).get("/desk/cases/20990101-0001")
    text = missing.get_data(as_text=True)
    assert missing.status_code == 404 and missing.mimetype == "text/html" and '<html lang="zh-CN">' in text
    assert "找不到案件 20990101-0001" in text and "no case 20990101-0001" in text
    # the API keeps its JSON, with the same words
    api = staff_browser(app).client.get("/api/v1/reports/20990101-0001", headers={"Accept": "application/json"})
    assert api.status_code == 404 and "找不到案件 20990101-0001" in api.get_json()["error"]["message"]


def test_the_grid_worker_sees_what_they_resolved_latest_first_with_what_became_of_it(app, factory, make_api):
    closed = factory.case_in(CaseState.CLOSED, seed=910).case_no
    waiting = factory.case_in(CaseState.RESOLVED, seed=911, where={"lat": "32.0155"}).case_no
    sent_back = factory.case_in(CaseState.RESOLVED, seed=912, where={"lat": "32.0152"}).case_no
    assert make_api("staff1").act(sent_back, "rework", note="灯仍不亮").status_code == 200
    factory.case_in(DISPATCHED, seed=913, where={"lat": "32.0148"})  # not resolved yet: not in the history
    phone = Browser(app.test_client())
    phone.login("gw06")
    page = phone.get("/field/done").get_data(as_text=True)
    items = re.findall(r'id="done-([\d-]+)"[^>]*>(.*?)</li>', page, re.S)
    assert [no for no, _ in items] == [sent_back, waiting, closed]  # the latest resolve first
    states = {no: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for no, body in items}
    assert "返工" in states[sent_back] and "已处置待核查" in states[waiting] and "已结案" in states[closed], states
    # 20 a page; a page past the end is empty, and a page number that is not one is the first page
    assert "还没有处置过的工单" in phone.get("/field/done?page=2").get_data(as_text=True)
    assert phone.get("/field/done?page=abc").status_code == 200
