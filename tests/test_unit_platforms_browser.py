"""In a real browser: staff see at the case page that the power company's platform did not take a case, press
重新发送 once it is back, and see the platform's number; an admin picks the community that takes a client's
requests that cannot be placed."""
from __future__ import annotations

import sqlalchemy as sa
from playwright.sync_api import expect
from unit_platform_fake import FakePlatform, Serving

from service.models import Case, UnitRequest
from service.open311_intake import add_client
from service.states import CaseState

SCREENSHOT_FOLDER = "unit-platforms"  # test-artifacts/unit-platforms/
DESKTOP = {"viewport": {"width": 1440, "height": 900}}


def test_staff_see_a_failed_send_and_send_it_again(people, factory, db, workers, platform_unit, make_api):
    with Serving(FakePlatform(post_status=503, post_answer="503 - service unavailable")) as fake:
        platform_unit({"endpoint": fake.url, "api_key": "k"})
        case_no = factory.case_in(CaseState.DISPATCHED, seed=911, description="路灯不亮").case_no
        assert make_api("staff1").act(case_no, "assign", unit="gongdian").status_code == 200
        workers()
        staff = people(**DESKTOP)
        staff.log_in("staff1")
        page = staff.page
        page.goto(f"/desk/cases/{case_no}")
        line = page.locator("div.platform")
        expect(line).to_contain_text("单位平台：供电公司")
        expect(line).to_contain_text("发送失败（已试 1 次）")
        staff.shot("send-failed")
        fake.post_status, fake.post_answer = 200, FakePlatform().token_answer  # back, answering with an id
        line.get_by_role("button", name="重新发送").click()
        expect(page.get_by_role("status")).to_contain_text("已重新发送至单位平台")
        workers()
        page.reload()
        expect(page.locator("div.platform")).to_contain_text("平台编号 248")
        expect(page.get_by_role("button", name="重新发送")).to_have_count(0)
        staff.shot("sent")
        staff.all_went_well()
    db.expire_all()
    request = db.scalar(sa.select(UnitRequest).join(Case).where(Case.case_no == case_no))
    assert request.service_request_id == "248" and len(fake.received) == 2


def test_an_admin_picks_the_community_for_a_clients_unplaced_requests(people, app, db):
    with app.extensions["snap"].db.session() as session:
        add_client(session, "12345 热线")
    admin = people(**DESKTOP)
    admin.log_in("admin")
    page = admin.page
    page.goto("/desk/open311")
    choice = page.get_by_label("12345 热线 无法定位的案件交哪个社区")
    expect(choice).to_have_value("")
    choice.select_option(label="虹桥社区")
    choice.locator("xpath=..").get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("无法定位的案件交虹桥社区")
    expect(page.get_by_label("12345 热线 无法定位的案件交哪个社区")).to_have_value("hqsq")
    admin.shot("default-community")
    admin.all_went_well()
