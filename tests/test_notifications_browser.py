"""The bell (issue 13, item 4) in Chromium: a rider hears that staff closed their case, in Chinese and in English,
opens it from the list (read, count 0); a grid worker sees a new work order on /field."""
from __future__ import annotations

import re

import sqlalchemy as sa
from browser_support import page_is_ready, rider_at_the_page
from playwright.sync_api import Page, expect

from service.models import Notification, User
from service.states import CaseState

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "bell", False  # test-artifacts/bell/; the panel is shot as it opens

# the page asks for the count when it comes back to the front: the test brings it back until the count shows
BACK_TO_THE_FRONT = """n => { window.dispatchEvent(new Event("focus"));
  const count = document.getElementById("bell-count"); return !count.hidden && count.textContent === n; }"""


def count_becomes(page: Page, n: str) -> None:
    """The bell's count shows n without a reload (the page asks again each time it is brought to the front)."""
    page.wait_for_function(BACK_TO_THE_FRONT, arg=n, polling=1000, timeout=20_000)


def unread_of(db, username: str) -> int:
    db.expire_all()
    return db.scalar(sa.select(sa.func.count()).select_from(Notification).join(User, User.id == Notification.user_id)
                     .where(User.username == username, Notification.read_at.is_(None)))


def test_a_rider_hears_of_the_close_in_both_languages_and_opens_the_case_from_the_bell(people, factory, db):
    case = factory.case_in(CaseState.RESOLVED)  # rider1's 路灯, fixed by gw06 and waiting for the check
    rider = rider_at_the_page(people, "rider1")
    page = rider.page
    count = page.locator("#bell-count")
    expect(count).to_be_hidden()
    page.locator("#bell-button").click()
    expect(page.locator("#bell-empty")).to_have_text("暂无通知")
    rider.shot("nothing-yet")
    page.locator("#bell-button").click()

    factory.act(case, "close", note="现场核查已修复")  # staff, at the desk
    count_becomes(page, "1")
    expect(page.locator("#bell-button")).to_have_attribute("aria-label", "通知（1 条未读）")
    rider.shot("one-unread")

    page.locator("#bell-button").click()
    item = page.locator("#bell-list li")
    expect(item).to_have_count(1)
    expect(item).to_have_class("unread")
    expect(item).to_contain_text(f"您上报的 {case.case_no} 路灯 已结案，感谢参与！")
    rider.shot("list-zh")

    page.locator("#lang").click()  # English: the list follows (the tap outside closed it)
    expect(page.locator("#bell-panel")).to_be_hidden()
    page.locator("#bell-button").click()
    expect(page.locator("#bell-title")).to_have_text("Notifications")
    expect(item).to_contain_text(f"Your report {case.case_no} Street light is closed. Thank you!")
    expect(page.locator("#bell-all")).to_have_text("Mark all read")
    rider.shot("list-en")

    item.locator("a").click()  # opened: read, and its case shown
    expect(page).to_have_url(re.compile(rf"#case/{case.case_no}$"))
    expect(page.locator("#bell-panel")).to_be_hidden()
    expect(count).to_be_hidden()
    expect(page.locator("#case h1")).to_contain_text("Street light")
    expect(page.locator("#case .timeline li").first).to_contain_text("Closed")
    assert unread_of(db, "rider1") == 0
    rider.shot("case-opened")

    page.reload()  # still read after a reload, still English
    page_is_ready_in_english(page)
    expect(count).to_be_hidden()
    page.locator("#bell-button").click()
    expect(item).to_have_class("read")
    rider.all_went_well()


def page_is_ready_in_english(page: Page) -> None:
    """The rider page in English with its case view or its tiles."""
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#lang")).to_have_text("中文")


def test_a_grid_worker_sees_a_new_work_order_on_the_bell_of_the_field_page_and_marks_all_read(people, factory, db):
    first = factory.case_in(CaseState.DISPATCHED)  # to gw06
    worker = people(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    worker.log_in("gw06")
    page = worker.page
    expect(page).to_have_url(re.compile(r"/field$"))
    count = page.locator("#bell-count")
    expect(count).to_have_text("1")
    second = factory.case_in(CaseState.DISPATCHED)  # another one while the page is open
    count_becomes(page, "2")
    worker.shot("two-orders")

    page.locator("#bell-button").click()
    items = page.locator("#bell-list li")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text(f"【随手拍】新工单 {second.case_no} 路灯")  # newest first
    expect(items.nth(1)).to_contain_text(f"新工单 {first.case_no}")
    expect(items.first).to_contain_text("期限")
    worker.shot("list")

    items.nth(1).locator("a").click()  # the order it names, on the same page
    expect(page).to_have_url(re.compile(rf"/field#order-{first.case_no}$"))
    expect(page.locator(f"#order-{first.case_no} .case-detail")).to_be_visible()  # opened, its next step at hand
    worker.shot("order-opened-from-the-bell")
    expect(count).to_have_text("1")
    page.locator("#bell-button").click()
    expect(items.nth(1)).to_have_class("read")
    page.locator("#bell-all").click()
    expect(count).to_be_hidden()
    expect(items.first).to_have_class("read")
    expect(page.locator("#bell-all")).to_be_hidden()
    assert unread_of(db, "gw06") == 0
    worker.shot("all-read")
    worker.all_went_well()


def test_the_rider_page_is_ready_with_the_bell_in_the_header(people):
    """The bell takes no room from the header's other buttons on a 360 px phone."""
    rider = rider_at_the_page(people, "rider2")
    page = rider.page
    page_is_ready(page)
    box, lang = page.locator("#bell-button").bounding_box(), page.locator("#lang").bounding_box()
    assert box["width"] >= 40 and box["height"] >= 44 and box["x"] + box["width"] <= lang["x"]
    rider.all_went_well()
