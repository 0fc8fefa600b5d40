"""In a real browser (Chromium via Playwright): 虹桥社区's staff transfer a case to 桃园社区, whose staff find it
waiting at their desk; a grid worker on their phone sends a case back with a reason from the list, and the desk
sees why; the desk escalates a case to 虹桥街道, whose staff see it at theirs."""
from __future__ import annotations

import sqlalchemy as sa
from playwright.sync_api import expect

from service.models import Case, CaseEvent
from service.states import CaseState

SCREENSHOT_FOLDER = "moves"  # test-artifacts/moves/
DESKTOP = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def _case(db, case_no: str) -> Case:
    db.expire_all()
    return db.scalar(sa.select(Case).where(Case.case_no == case_no))


def test_staff_transfer_a_case_to_another_community_whose_desk_finds_it(people, factory, db):
    case_no = factory.case_in(CaseState.DISPATCHED, seed=900, description="护栏倒在桃园一侧").case_no
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    page.goto(f"/desk/cases/{case_no}")
    expect(page.get_by_text("社区：虹桥社区 · 虹桥街道")).to_be_visible()
    form = page.locator("form[data-action=transfer]")
    form.get_by_label("转派到社区").select_option(label="虹桥街道 · 桃园社区")
    form.get_by_label("原因").fill("位置在桃园社区一侧")
    staff.shot("transfer-form")
    form.get_by_role("button", name="转派 Transfer").click()
    expect(page.locator(".flash").first).to_be_visible()
    moved = _case(db, case_no)
    assert (moved.state, moved.community.code) == (CaseState.UNROUTED, "tysq")
    other = people(**DESKTOP)
    other.log_in("tysq-staff")
    other.page.goto("/desk")
    row = other.page.locator("tr", has_text=case_no)
    expect(row).to_contain_text("待人工派遣")
    other.page.goto(f"/desk/cases/{case_no}")
    expect(other.page.locator(".timeline")).to_contain_text("由虹桥社区转派至桃园社区：位置在桃园社区一侧")
    other.shot("received")
    gone = page.goto(f"/desk/cases/{case_no}")  # no longer 虹桥社区's to see: as if it did not exist
    assert gone.status == 404


def test_a_grid_worker_sends_a_case_back_from_the_phone_with_a_reason(people, factory, db):
    case_no = factory.case_in(CaseState.DISPATCHED, seed=901, description="不是路灯，是广告牌").case_no
    worker = people(**PHONE)
    worker.log_in("gw06")
    page = worker.page
    expect(page.locator("#orders[data-ready]")).to_have_count(1)
    order = page.locator(f"#order-{case_no}")
    order.locator(":scope > details > summary").click()
    order.locator(".send-back summary").click()
    form = order.locator("form[data-step=send_back]")
    form.get_by_label("退回原因").select_option(label="不属本单位职责")
    form.get_by_label("说明").fill("归城管")
    worker.shot("send-back")
    form.get_by_role("button", name="退回").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"{case_no} 已退回")
    expect(page.locator(f"#order-{case_no}")).to_have_count(0)
    back = _case(db, case_no)
    assert back.state == CaseState.UNROUTED and back.assignee_id is None
    event = db.scalar(sa.select(CaseEvent).where(CaseEvent.case_id == back.id, CaseEvent.action == "send_back"))
    assert (event.facts, event.note) == ({"reason": "not_ours"}, "归城管")
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    staff.page.goto(f"/desk/cases/{case_no}")
    expect(staff.page.locator(".timeline")).to_contain_text("退回：不属本单位职责：归城管")


def test_the_desk_escalates_to_the_street_office_whose_staff_route_it(people, factory, db):
    case_no = factory.case_in(CaseState.UNROUTED, seed=902, description="变压器漏油").case_no
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    page.goto(f"/desk/cases/{case_no}")
    form = page.locator("form[data-action=escalate]")
    form.get_by_label("本社区无法处置的原因").fill("需供电公司处置")
    form.get_by_role("button", name="上报街道 Escalate").click()
    expect(page.locator(".escalated")).to_contain_text("已上报街道")
    expect(page.locator("form[data-action=assign]")).to_have_count(0)  # the office routes it now
    office = people(**DESKTOP)
    office.log_in("hqjd-staff")
    office.page.goto(f"/desk/cases/{case_no}")
    assign = office.page.locator("form[data-action=assign]")
    assign.get_by_label("或单位").select_option(label="供电公司")
    assign.get_by_role("button", name="派遣").click()
    expect(office.page.locator("h1 .state")).to_have_text("已派遣")
    office.shot("office-assigned")
    assert _case(db, case_no).assignee_unit == "gongdian"
