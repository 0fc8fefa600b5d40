"""In real browsers: a rider logs a good deed with a photo where it happened; the grid worker confirms it on the
field page; the rider's points page shows the points."""
from __future__ import annotations

from browser_support import RIDER_PHONE
from images import photo_jpeg
from playwright.sync_api import expect

SCREENSHOT_FOLDER = "good-deeds"  # test-artifacts/good-deeds/


def test_a_rider_logs_a_good_deed_and_the_grid_worker_confirms_it(people):
    rider = people(**RIDER_PHONE)
    rider.log_in("rider1")
    page = rider.page
    page.goto("/good-deeds")
    expect(page.locator("#deed-where")).to_contain_text("已定位（±12 米）")
    page.get_by_label("做了什么").select_option("elderly")
    page.get_by_label("说明（可不填）").fill("扶一位老人过马路")
    page.get_by_label("照片（可不拍）").set_input_files(
        {"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg(seed=41)})
    rider.shot("form")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("status")).to_contain_text("已提交，等待网格员确认")
    expect(page.locator(".history")).to_contain_text("帮扶老人")
    expect(page.locator(".history")).to_contain_text("待确认")
    rider.shot("waiting")
    worker = people(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    worker.log_in("gw06")
    worker.page.goto("/field/good-deeds")
    deed = worker.page.locator(".deeds li").first
    expect(deed).to_contain_text("帮扶老人")
    expect(deed.get_by_role("img", name="顺手帮照片")).to_be_visible()
    worker.page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                  arg=deed.get_by_role("img").element_handle())
    worker.shot("to-confirm")
    deed.get_by_role("button", name="确认（3 积分）").click()
    expect(worker.page.get_by_role("status")).to_contain_text("获得 3 积分")
    expect(worker.page.locator(".deeds")).to_contain_text("没有待确认的顺手帮")
    page.goto("/wallet")
    expect(page.locator("#balance-points")).to_have_text("3")
    expect(page.locator(".history")).to_contain_text("顺手帮")
    rider.shot("wallet")
    rider.all_went_well()
    worker.all_went_well()
