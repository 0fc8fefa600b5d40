"""A rider's phone (Chromium via Playwright, 360x640): report, offline too, photos shrunk, me too, my cases, light."""
from __future__ import annotations

import io
import random
import re

import sqlalchemy as sa
from browser_support import (
    ARTIFACTS,
    CASE_NO,
    RIDER_PHONE,
    cases_on_the_server,
    choose,
    page_is_ready,
    reported_case_no,
    rider_at_the_page,
    send,
    take_photos,
    the_form_is_clear,
    wait_until_loaded,
)
from images import ASCII, SHORT, exif_block, field, jpeg_bytes, photo_jpeg
from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import expect
from support import DEMO_PASSWORD

from service.models import Case, MeToo, Photo, User

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "rider", True  # test-artifacts/rider/, sticky bars in place
HQ06_NAME = "虹桥第06网格·虹桥南路片"
PAGE_BUDGET = 200_000  # bytes on the wire for the page and everything it loads, before any photo
TAKEN_AT = "2026:11:28 09:30:00"


def twelve_megapixel_photo() -> bytes:
    """A phone's 4032x3024 JPEG of 3-5 MB, stored on its side with EXIF Orientation 6 and the time it was taken.

    Upright it is portrait (3024x4032): smooth colour fields with sensor-like noise, a red block in its top left.
    """
    rnd = random.Random(7)
    width, height = 3024, 4032
    upright = Image.frombytes("RGB", (30, 40), rnd.randbytes(30 * 40 * 3)).resize((width, height), Image.BILINEAR)
    upright.paste((230, 30, 30), (0, 0, width // 4, height // 3))
    upright = ImageChops.add(upright, Image.effect_noise((width, height), 8).convert("RGB"), 1.0, -128)
    exif = exif_block([field(0x0112, SHORT, [6])], exif_ifd=[field(0x9003, ASCII, TAKEN_AT)])
    data = jpeg_bytes(upright.transpose(Image.ROTATE_90), quality=90, exif=exif)  # orientation 6 as stored
    assert 3_000_000 <= len(data) <= 5_000_000, len(data)
    return data


def test_a_rider_reports_a_broken_street_light_and_follows_it_to_dispatch(people, workers, db):
    rider = rider_at_the_page(people, "rider1")
    page = rider.page
    # the grid polygons are the map's backdrop (they arrive by cell, after the page is up)
    page.wait_for_function("() => document.querySelectorAll('#map svg path').length >= 12", timeout=15_000)
    expect(page.locator("#where-text")).to_contain_text(HQ06_NAME)
    rider.shot("report-page")

    take_photos(page, photo_jpeg(seed=51), photo_jpeg(seed=52))
    page.locator("#previews li").nth(1).get_by_role("button", name="删除照片").click()
    expect(page.locator("#previews img")).to_have_count(1)
    choose(page, "路灯")
    page.locator("#description").fill("路灯不亮，灯罩掉了")
    rider.shot("filled-in")
    send(page)
    case_no = reported_case_no(page)
    the_form_is_clear(page)
    expect(page.locator("#outbox")).to_be_hidden()
    rider.shot("sent")

    assert cases_on_the_server(db) == 1
    case = db.scalar(sa.select(Case))
    assert (case.case_no, case.description, case.coord_system, case.accuracy_m) == (
        case_no, "路灯不亮，灯罩掉了", "wgs84", 12)
    assert abs(case.lat - 32.015) < 1e-6 and abs(case.lon - 120.855) < 1e-6
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", case.client_report_id)
    assert len(case.photos) == 1

    page.get_by_role("link", name="我的上报").click()
    row = page.locator("#mine-list li", has_text=case_no)
    expect(row).to_contain_text("路灯")
    expect(row).to_contain_text("待处理")
    expect(page.locator("#points-week")).to_have_text("0")
    rider.shot("mine-received")

    workers()  # photos processed, dispatched to HQ06's grid worker
    page.get_by_role("button", name="刷新").click()
    expect(row).to_contain_text("已派遣")
    row.get_by_role("link").click()
    detail = page.locator("#case")
    expect(detail.locator("h1")).to_contain_text("已派遣")
    expect(detail).to_contain_text(HQ06_NAME)
    expect(detail.locator(".timeline li").first).to_contain_text("已派遣")
    wait_until_loaded(page, detail.get_by_role("img", name="处置前"))
    rider.shot("case-dispatched")
    page.go_back()
    expect(row).to_be_visible()
    rider.all_went_well()


def test_a_report_made_with_no_signal_is_kept_and_sent_once_the_signal_returns(people, db):
    rider = rider_at_the_page(people, "rider1")
    page, phone = rider.page, rider.context
    # the shell is kept by now (a function, not an expression: the CSP forbids the eval Playwright would use)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    take_photos(page, photo_jpeg(seed=53))
    choose(page, "垃圾箱")

    phone.set_offline(True)
    send(page)
    expect(page.get_by_role("status").filter(has_text="已保存在手机上")).to_be_visible()
    expect(page.locator("#outbox")).to_have_text(re.compile(r"待上传\s*1"))
    the_form_is_clear(page)
    rider.shot("saved-with-no-signal")

    reopened = page.reload()
    assert reopened is not None and reopened.from_service_worker, "the page did not open from the service worker"
    page_is_ready(page)
    expect(page.locator("#outbox")).to_have_text(re.compile(r"待上传\s*1"))
    page.locator("#outbox").click()
    expect(page.locator("#pending-list li")).to_have_count(1)
    expect(page.locator("#pending-list li")).to_contain_text("垃圾箱")
    rider.shot("reopened-with-no-signal")
    assert cases_on_the_server(db) == 0

    phone.set_offline(False)
    expect(page.locator("#outbox")).to_be_hidden(timeout=20_000)
    expect(page.locator("#pending-list li")).to_have_count(0)
    case_no = reported_case_no(page)
    expect(page.locator("#mine-list li", has_text=case_no)).to_contain_text("待处理")
    rider.shot("sent-when-the-signal-returned")
    assert cases_on_the_server(db) == 1
    assert db.scalar(sa.select(Case)).case_no == case_no
    assert rider.failed == [] and rider.elsewhere == []


def test_a_twelve_megapixel_photo_goes_up_shrunk_upright_and_with_its_exif(people, workers, db, settings):
    rider = rider_at_the_page(people, "rider1")
    page = rider.page
    bodies: list[int] = []
    page.on("request", lambda r: bodies.append(len(r.post_data_buffer or b"")) if r.method == "POST"
            and r.url.endswith("/api/v1/reports") else None)
    original = twelve_megapixel_photo()
    take_photos(page, original)
    page.get_by_role("tab", name="事件").click()
    choose(page, "道路破损")
    rider.shot("twelve-megapixels")
    slow_upload = rider.context.new_cdp_session(page)  # 2 Mbit/s up, as on a busy street: the progress shows
    slow_upload.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 80, "downloadThroughput": 1_000_000, "uploadThroughput": 250_000})
    send(page)
    expect(page.locator("#progress-text")).to_have_text(re.compile(r"正在上传 1/1 · [1-9]\d?%"))
    rider.shot("uploading")
    reported_case_no(page)

    photo = db.scalar(sa.select(Photo))
    assert photo.size_bytes < 1_000_000 and len(bodies) == 1 and bodies[0] < 1_000_000, (photo.size_bytes, bodies)
    assert (photo.format, photo.width, photo.height) == ("JPEG", 1536, 2048)  # upright: portrait
    with Image.open(settings.media_dir / photo.original_path) as stored:
        assert stored.getexif().get(0x0112) == 1, "the EXIF block came along, marked upright"
        red = ImageStat.Stat(stored.crop((0, 0, 300, 600))).mean
        assert red[0] > 150 and red[1] < 100 and red[2] < 100, f"the top left is not the red block: {red}"
    workers()
    db.expire_all()
    assert db.get(Photo, photo.id).exif_taken_at is not None, "the time taken was lost on the way"
    rider.all_went_well()


def test_a_second_rider_nearby_joins_the_open_case_instead_of_reporting_it_again(people, make_api, workers, db):
    first = make_api("rider1").report(photos=[photo_jpeg(seed=54)], category="B0118")  # at HQ06_SPOT
    assert first.status_code == 201, first.get_json()
    case_no = first.get_json()["case_no"]
    workers()  # its thumbnail, and dispatched

    rider = rider_at_the_page(people, "rider2")
    page = rider.page
    take_photos(page, photo_jpeg(seed=55))
    choose(page, "路灯")
    nearby = page.locator("#nearby")
    expect(nearby.get_by_role("heading", name="附近已有人上报")).to_be_visible()
    card = nearby.locator("li")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("0 米")
    wait_until_loaded(page, card.get_by_role("img", name=case_no))
    rider.shot("nearby")

    card.get_by_role("button", name="我也遇到").click()
    expect(page.get_by_role("status").filter(has_text=f"已加入案件 {case_no}")).to_be_visible()
    the_form_is_clear(page)
    expect(nearby).to_be_hidden()
    rider.shot("joined")

    db.expire_all()
    rider2 = db.scalar(sa.select(User).where(User.username == "rider2"))
    joined = [(db.get(Case, m.case_id).case_no, m.user_id) for m in db.scalars(sa.select(MeToo))]
    assert joined == [(case_no, rider2.id)]
    assert cases_on_the_server(db) == 1
    rider.all_went_well()


def test_a_me_too_from_a_coarse_fix_is_refused_with_the_reason_on_screen(people, make_api, workers, db):
    first = make_api("rider1").report(photos=[photo_jpeg(seed=56)], category="B0118")  # at HQ06_SPOT
    case_no = first.get_json()["case_no"]
    workers()

    coarse = {"latitude": 32.0152, "longitude": 120.855, "accuracy": 150}  # 22 m off, but only to ±150 m
    rider = people(**{**RIDER_PHONE, "geolocation": coarse})
    rider.log_in("rider2")
    page = rider.page
    expect(page.locator("#where-text")).to_contain_text("±150 米")
    choose(page, "路灯")
    card = page.locator("#nearby li")
    expect(card).to_have_count(1)
    card.get_by_role("button", name="我也遇到").click()
    refusal = page.get_by_role("alert").filter(has_text="定位精度 ±150 米太差")
    expect(refusal).to_be_visible()
    expect(refusal).to_be_in_viewport()  # beside the card tapped, far down the page: the notice comes to the rider
    expect(page.locator("#chosen")).to_be_visible()  # the report stays as it was: the rider may still send it
    rider.shot("me_too_refused")
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(MeToo)) == 0
    assert rider.failed == [f"422 POST {rider.base_url}/api/v1/reports/{case_no}/me-too"]


def test_the_page_is_light_fits_a_small_phone_speaks_english_and_forgets_itself_on_log_out(people, wire):
    rider = people(**RIDER_PHONE)
    page = rider.page
    page.goto("/login")
    page.get_by_label("用户名").fill("rider1")
    page.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
    first_byte = len(wire.responses)
    page.get_by_role("button", name="登录").click()
    page_is_ready(page)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # a function: the CSP forbids eval
    page.wait_for_load_state("networkidle")
    sent = wire.since(first_byte)
    weight = sum(size for _, size in sent)
    (ARTIFACTS / SCREENSHOT_FOLDER / "page-weight.txt").write_text(
        "".join(f"{size:>8} {path}\n" for path, size in sent) + f"{weight:>8} in all\n")
    assert weight < PAGE_BUDGET, sent

    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the page scrolls sideways"
    targets = {"camera": page.locator("label.camera"), "gallery": page.locator("label.gallery"),
               "relocate": page.get_by_role("button", name="重新定位"),
               "submit": page.get_by_role("button", name="提交上报"),
               "zoom in": page.locator(".leaflet-control-zoom-in"), "language": page.locator("#lang"),
               "log out": page.get_by_role("button", name="退出"), "password": page.get_by_role("link", name="改密码"),
               "tab": page.get_by_role("link", name="我的上报"),
               "kind": page.get_by_role("tab", name="事件"), "category": page.locator("#tiles .tile").first}
    small = {name: box for name, box in ((n, t.bounding_box()) for n, t in targets.items())
             if box is None or box["height"] < 44 or box["width"] < 44}
    assert small == {}, small
    rider.shot("light-page")

    page.locator("#lang").click()
    expect(page.get_by_role("button", name="Send report")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Send report")).to_be_visible()
    expect(page.locator("#tiles .tile", has_text="Street light")).to_be_visible()
    expect(page.get_by_role("link", name="Password")).to_be_visible()
    rider.shot("in-english")
    page.locator("#lang").click()
    expect(page.get_by_role("button", name="提交上报")).to_be_visible()
    rider.all_went_well()

    rider.log_out()  # the kept copy of this person's page goes with them
    page.wait_for_load_state("networkidle")  # the login page shares a style sheet with it: that is not kept again
    assert page.evaluate("caches.keys()") == []


def staff_act(staff, case_no: str, action: str, **fields) -> None:
    answer = staff.client.post(f"/api/v1/cases/{case_no}/actions", json={"action": action, **fields},
                               headers=staff.headers)
    assert answer.status_code == 200, answer.get_json()


def staff_add_after_photo(staff, case_no: str) -> None:
    answer = staff.client.post(f"/api/v1/cases/{case_no}/photos", headers=staff.headers,
                               data={"photo": (io.BytesIO(photo_jpeg(seed=63)), "after.jpg")},
                               content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()


def test_a_rider_reads_why_a_report_was_refused_and_reopens_a_closed_one(people, make_api, workers):
    reporter, staff = make_api("rider1"), make_api("staff1")
    refused = reporter.report(photos=[photo_jpeg(seed=61)], category="B0118").get_json()["case_no"]
    closed = reporter.report(photos=[photo_jpeg(seed=62)], category="E0301").get_json()["case_no"]
    workers()
    staff_act(staff, refused, "reject", note="属于小区物业管理范围，请联系物业")
    staff_add_after_photo(staff, closed)
    staff_act(staff, closed, "resolve", note="已修补路面")
    workers()  # the after photo's copies
    staff_act(staff, closed, "close", note="现场核查已修好")

    rider = rider_at_the_page(people, "rider1")
    page = rider.page
    page.get_by_role("link", name="我的上报").click()
    expect(page.locator("#points-week")).to_have_text("5")
    expect(page.locator("#points-total")).to_have_text("5")
    expect(page.locator("#mine-list li", has_text=refused)).to_contain_text("不予立案")
    rider.shot("mine")

    page.locator("#mine-list li", has_text=refused).get_by_role("link").click()
    expect(page.locator("#case .verdict")).to_have_text("原因：属于小区物业管理范围，请联系物业")
    expect(page.get_by_role("button", name="重新打开")).to_have_count(0)
    rider.shot("refused")

    page.get_by_role("link", name="返回我的上报").click()
    page.locator("#mine-list li", has_text=closed).get_by_role("link").click()
    detail = page.locator("#case")
    expect(detail.locator("h1")).to_contain_text("已结案")
    wait_until_loaded(page, detail.get_by_role("img", name="处置后"))
    expect(detail.locator(".timeline li").first).to_contain_text("现场核查已修好")
    rider.shot("closed")
    page.get_by_role("button", name="重新打开").click()
    expect(page.get_by_role("status").filter(has_text="请填写原因")).to_be_visible()
    page.get_by_label("重新打开的原因（必填）").fill("路面又裂开了")
    page.get_by_role("button", name="重新打开").click()
    expect(detail.locator("h1")).to_contain_text("处置中")
    expect(page.get_by_role("button", name="重新打开")).to_have_count(0)
    expect(detail.locator(".timeline li").first).to_contain_text("路面又裂开了")
    rider.shot("reopened")
    rider.all_went_well()


def test_a_report_the_server_refuses_is_dropped_with_the_reason_shown_and_the_form_given_back(people, db):
    rider = rider_at_the_page(people, "rider1")
    page = rider.page
    rider.context.set_geolocation({"latitude": 31.2304, "longitude": 121.4737, "accuracy": 20})  # Shanghai
    page.get_by_role("button", name="重新定位").click()
    expect(page.locator("#where-text")).to_contain_text("±20 米 · 不在本区服务范围内")
    take_photos(page, photo_jpeg(seed=71))
    choose(page, "路灯")
    send(page)
    expect(page.get_by_role("alert")).to_contain_text("上报未被接受：位置不在崇川区范围内")
    expect(page.locator("#previews img")).to_have_count(1)  # given back to mend, not lost
    expect(page.locator("#chosen .tile")).to_contain_text("路灯")
    expect(page.locator("#outbox")).to_be_hidden()
    rider.shot("refused")
    assert cases_on_the_server(db) == 0
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("位置不在崇川区范围内")  # shown until the rider closes it
    page.get_by_role("alert").get_by_role("button", name="关闭").click()
    page.reload()
    expect(page.locator("#tiles .tile").first).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert rider.failed == [f"422 POST {rider.base_url}/api/v1/reports"], rider.failed


def test_a_page_left_open_across_a_new_login_still_gets_its_report_through(people, db):
    rider = rider_at_the_page(people, "rider1")
    page = rider.page
    old_token = page.locator("meta[name=csrf-token]").get_attribute("content")
    again = rider.context.request.post("/login", max_redirects=0, form={
        "csrf_token": old_token, "username": "rider1", "password": DEMO_PASSWORD})
    assert again.status == 302  # a new session: the open page's CSRF token is now stale
    take_photos(page, photo_jpeg(seed=81))
    choose(page, "路灯")
    send(page)
    reported_case_no(page)
    assert cases_on_the_server(db) == 1
    assert rider.failed == [f"400 POST {rider.base_url}/api/v1/reports"], rider.failed  # then a fresh token
    assert page.locator("meta[name=csrf-token]").get_attribute("content") != old_token


OUTBOX_CONTENTS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("suishoupai", 1);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const request = open.result.transaction("outbox").objectStore("outbox").getAll();
    request.onsuccess = () => resolve(request.result.map((r) => ({
      id: r.id, client_report_id: r.fields.client_report_id, owner: r.owner, photos: r.photos.length })));
  };
})"""


def test_the_page_adds_no_name_to_window_and_a_report_waits_in_the_outbox_under_its_client_report_id(people, db):
    rider = people(**RIDER_PHONE)
    page = rider.page
    page.goto("/login")  # a page with no script of ours: what the browser itself puts on window
    bare = set(page.evaluate("() => Object.keys(window)"))
    rider.log_in("rider1")
    page_is_ready(page)
    assert page.evaluate("() => window.Snap === undefined")
    added = set(page.evaluate("() => Object.keys(window)")) - bare
    assert added == {"L", "leaflet", "_leaflet_events"}, "only Leaflet, a classic script, adds names (its own)"

    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    take_photos(page, photo_jpeg(seed=91))
    choose(page, "路灯")
    rider.context.set_offline(True)
    send(page)
    expect(page.locator("#outbox")).to_have_text(re.compile(r"待上传\s*1"))
    [waiting] = page.evaluate(OUTBOX_CONTENTS)
    assert waiting["id"] == waiting["client_report_id"] and (waiting["owner"], waiting["photos"]) == ("rider1", 1)
    rider.context.set_offline(False)
    case_no = reported_case_no(page)
    assert page.evaluate(OUTBOX_CONTENTS) == []
    db.expire_all()
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert case.client_report_id == waiting["id"]
    rider.all_went_well()


SEND_FROM_ANOTHER_PAGE = """async (jpeg) => {
  const { Outbox } = await import("/static/js/outbox.js");
  const { PhotoSet } = await import("/static/js/capture.js");
  const photos = new PhotoSet({ max: 4 });
  photos.add([new File([new Uint8Array(jpeg)], "IMG_0001.jpg", { type: "image/jpeg" })]);
  const outbox = new Outbox({ owner: "gw06" });
  const sent = new Promise((resolve) => outbox.addEventListener("sent", (e) => resolve(e.detail.body.case_no)));
  await outbox.add({ fields: { lat: "32.0150000", lon: "120.8550000", coord_system: "wgs84", category: "B0118",
                               description: "from the orders page" },
                     photos: await photos.blobs(), category: "B0118", label: "路灯" });
  await outbox.flush(true);
  return [await sent, (await outbox.waiting()).length];
}"""


def test_the_capture_and_outbox_modules_send_a_report_from_a_page_that_is_not_the_riders(people, db):
    worker = people(**RIDER_PHONE)
    worker.log_in("gw06")
    page = worker.page
    expect(page).to_have_url(re.compile(r"/field$"))  # the grid worker's orders: no rider DOM, no rider words
    case_no, left = page.evaluate(SEND_FROM_ANOTHER_PAGE, list(photo_jpeg(seed=92)))
    assert CASE_NO.fullmatch(case_no) and left == 0
    db.expire_all()
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert (case.reporter.username, case.description, len(case.photos)) == ("gw06", "from the orders page", 1)
    worker.all_went_well()
