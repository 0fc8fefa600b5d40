"""The rider page where new riders tripped over it (issue 13), in Chromium at phone size: no location fix (the pin
placed by hand), cases joined as "me too" in 我的上报 and on the desk, one report status at a time."""
from __future__ import annotations

import math
import re
import time

import sqlalchemy as sa
from browser_support import (
    RIDER_PHONE,
    cases_on_the_server,
    choose,
    page_is_ready,
    reported_case_no,
    rider_at_the_page,
    send,
    take_photos,
    the_form_is_clear,
)
from images import photo_jpeg
from playwright.sync_api import Page, expect

from service.models import Case, User

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "rider", True  # test-artifacts/rider/, sticky bars in place

NO_PERMISSION = {k: v for k, v in RIDER_PHONE.items() if k not in ("permissions", "geolocation")}
# the Leaflet map the page makes, kept where the test can ask it which point a pixel is (the page names nothing)
KEEP_THE_MAP = """
(() => { let real;
  Object.defineProperty(window, "L", { configurable: true, get: () => real, set: (value) => {
    real = value; const make = value.map;
    value.map = function (...args) { const map = make.apply(this, args); window.__riderMap = map; return map; };
  } });
})();
"""
FIX_NEVER_COMES = """
navigator.geolocation.watchPosition = () => 7;
navigator.geolocation.clearWatch = () => {};
navigator.geolocation.getCurrentPosition = () => {};
"""


def metres_apart(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the sphere, near enough for a few metres."""
    dy = (lat2 - lat1) * 111_195
    dx = (lon2 - lon1) * 111_195 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def point_at(page: Page, x: float, y: float) -> tuple[float, float]:
    """The (lat, lon) under pixel (x, y) of the map."""
    found = page.evaluate("([x, y]) => { const p = window.__riderMap.containerPointToLatLng([x, y]);"
                          " return [p.lat, p.lng]; }", [x, y])
    return found[0], found[1]


def says_no_fix_within_ten_seconds(page: Page, started: float, words: str) -> None:
    """The plain words and the retry button, shown within 10 s of the page opening."""
    expect(page.locator("#where-text")).to_contain_text(words, timeout=12_000)
    assert time.monotonic() - started < 10, "the rider is told within 10 s"
    expect(page.get_by_role("button", name="重试")).to_be_visible()
    expect(page.locator("#where-text")).to_contain_text("请在地图上点出问题的位置")


def in_english_too(rider, name: str) -> None:
    """The same screen in English, shot, then back to Chinese."""
    page = rider.page
    page.locator("#lang").click()
    rider.shot(name + "-en")
    page.locator("#lang").click()


def place_by_hand_and_send(rider, db, drag: bool) -> None:
    """Tap the middle of the map (and drag the pin a little), send: the case is stored where the pin was."""
    page = rider.page
    take_photos(page, photo_jpeg(seed=61))
    choose(page, "路灯")
    # close in, as a rider would before placing it: at zoom 19 a pixel is a quarter of a metre
    page.evaluate("() => window.__riderMap.setView(window.__riderMap.getCenter(), 19, { animate: false })")
    box = page.locator("#map").bounding_box()
    page.locator("#map").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    expect(page.locator("#where-text")).to_contain_text("已手动选点")
    if drag:
        pin = page.locator("#map .pin").bounding_box()
        page.mouse.move(pin["x"] + 15, pin["y"] + 21)
        page.mouse.down()
        for step in range(1, 7):
            page.mouse.move(pin["x"] + 15 + 6 * step, pin["y"] + 21 + 4 * step)
        page.mouse.up()
        moved = page.locator("#map .pin").bounding_box()
        assert (moved["x"] - pin["x"], moved["y"] - pin["y"]) != (0, 0), "the pin went where it was dragged"
    box, pin = page.locator("#map").bounding_box(), page.locator("#map .pin").bounding_box()  # tip: 41 px down
    lat, lon = point_at(page, pin["x"] + 15 - box["x"], pin["y"] + 41 - box["y"])
    rider.shot("placed-by-hand")
    in_english_too(rider, "placed-by-hand")
    send(page)
    case_no = reported_case_no(page)
    db.expire_all()
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert metres_apart(case.lat, case.lon, lat, lon) < 1.0, (case.lat, case.lon, lat, lon)
    assert case.accuracy_m is None, "a pin placed by hand claims no accuracy"


def test_a_rider_who_denies_location_is_told_at_once_and_reports_with_a_pin_placed_by_hand(people, db):
    rider = people(**NO_PERMISSION)
    rider.context.add_init_script(KEEP_THE_MAP)
    rider.log_in("rider1")
    page = rider.page
    expect(page).to_have_url(re.compile(r"/$"))
    started = time.monotonic()
    says_no_fix_within_ten_seconds(page, started, "")
    expect(page.locator("#tiles .tile").first).to_be_visible(timeout=15_000)  # a busy machine draws tiles late
    rider.shot("no-fix")
    in_english_too(rider, "no-fix")
    place_by_hand_and_send(rider, db, drag=True)
    rider.all_went_well()


def test_a_rider_whose_fix_never_comes_is_told_within_ten_seconds_and_may_place_the_pin(people, db):
    rider = people(**RIDER_PHONE)
    rider.context.add_init_script(KEEP_THE_MAP)
    rider.context.add_init_script(FIX_NEVER_COMES)
    rider.log_in("rider1")
    page = rider.page
    expect(page).to_have_url(re.compile(r"/$"))
    started = time.monotonic()
    expect(page.locator("#where-text")).to_have_text("正在定位…")
    says_no_fix_within_ten_seconds(page, started, "暂时未能定位")
    rider.shot("fix-never-came")
    in_english_too(rider, "fix-never-came")
    place_by_hand_and_send(rider, db, drag=False)
    rider.all_went_well()


def test_a_case_joined_as_me_too_shows_in_my_reports_marked_and_on_the_desk_with_who_joined(
        people, make_api, workers, db):
    first = make_api("rider1").report(photos=[photo_jpeg(seed=62)], category="B0118")  # at HQ06_SPOT
    case_no = first.get_json()["case_no"]
    workers()
    rider = people(**RIDER_PHONE)
    rider.log_in("rider2")
    page = rider.page
    page_is_ready(page)
    take_photos(page, photo_jpeg(seed=63))
    choose(page, "路灯")
    page.locator("#nearby li").get_by_role("button", name="我也遇到").click()
    expect(page.get_by_role("status").filter(has_text=f"已加入案件 {case_no}")).to_be_visible()

    page.get_by_role("link", name="我的上报").click()
    row = page.locator("#mine-list li", has_text=case_no)
    expect(row).to_contain_text("我也遇到")
    expect(row).to_contain_text("路灯")
    expect(row.get_by_role("link")).to_have_count(0)  # the case's page is its reporter's
    rider.shot("mine-joined")
    page.locator("#lang").click()
    expect(row).to_contain_text("Me too")
    rider.shot("mine-joined-en")
    page.locator("#lang").click()
    rider.all_went_well()

    staff = people(viewport={"width": 1440, "height": 900})
    staff.log_in("staff1")
    staff.page.goto(f"/desk/cases/{case_no}")
    joined = staff.page.locator("ul.joined li")
    expect(joined).to_have_count(1)
    rider2 = db.scalar(sa.select(User).where(User.username == "rider2"))
    expect(joined).to_have_text(re.compile(re.escape(rider2.display_name) + r" · \d{2}-\d{2} \d{2}:\d{2}"))
    expect(staff.page.get_by_role("heading", name="我也遇到（1 人）")).to_be_visible()
    staff.shot("desk-joined")


def report_statuses(page: Page):
    """The notices that tell how the rider's reports stand."""
    return page.get_by_role("status").filter(has_text=re.compile("已上报|已保存在手机上"))


def test_one_report_status_at_a_time_and_the_next_report_may_begin_while_one_goes_up(people, db):
    rider = rider_at_the_page(people, "rider1")
    page, phone = rider.page, rider.context
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    take_photos(page, photo_jpeg(seed=64))
    choose(page, "路灯")
    send(page)
    reported_case_no(page)

    phone.set_offline(True)  # the next one is kept on the phone: "已保存在手机上" takes the place of "已上报"
    take_photos(page, photo_jpeg(seed=65))
    choose(page, "垃圾箱")
    send(page)
    expect(report_statuses(page)).to_have_count(1)
    expect(report_statuses(page)).to_contain_text("已保存在手机上")
    rider.shot("one-status-saved")
    phone.set_offline(False)
    expect(page.locator("#outbox")).to_be_hidden(timeout=20_000)
    expect(report_statuses(page)).to_have_count(1)
    expect(report_statuses(page)).to_contain_text("已上报")

    held = []  # the third report's upload, held on its way until the rider has begun a fourth
    page.route("**/api/v1/reports", lambda route: held.append(route) if route.request.method == "POST"
               else route.fallback())
    take_photos(page, photo_jpeg(seed=66))
    choose(page, "路灯")
    send(page)
    page.wait_for_function("() => document.querySelector('#progress') && !document.querySelector('#progress').hidden")
    the_form_is_clear(page)
    expect(page.get_by_role("button", name="提交上报")).to_be_enabled()
    expect(report_statuses(page)).to_have_count(0)  # the last one's "已上报" is not this one's status
    take_photos(page, photo_jpeg(seed=67))
    choose(page, "垃圾箱")
    page.locator("#description").fill("第四个")
    rider.shot("next-report-while-one-uploads")
    assert held, "the third report was on its way"
    held[0].continue_()
    page.unroute("**/api/v1/reports")
    expect(report_statuses(page)).to_contain_text(re.compile(r"已上报，案件号 \d{8}-0003"), timeout=20_000)
    expect(report_statuses(page)).to_have_count(1)
    expect(page.locator("#chosen .tile")).to_have_text(re.compile("垃圾箱"))  # the fourth, as the rider left it
    expect(page.locator("#description")).to_have_value("第四个")
    assert cases_on_the_server(db) == 3
    rider.all_went_well()
