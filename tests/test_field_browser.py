"""In a real browser at a phone's size (Chromium via Playwright): the grid worker's page, item by item of issue 13
(6-8): an order taken on with no signal waits on the phone and goes once; a big after photo is shrunk and its
upload shows progress; 导航 links in each app's system; one next step per card, urgent first; 19 orders in at most
3 screens; 已处置 lists what I resolved."""
from __future__ import annotations

import random
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from images import jpeg_bytes, photo_jpeg
from PIL import Image, ImageChops
from playwright.sync_api import Page, expect

from service.db import utcnow
from service.geo import from_wgs84
from service.models import Case, CaseEvent, Photo
from service.states import CaseState

SCREENSHOT_FOLDER = "field"  # test-artifacts/field/
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
SCREEN = PHONE["viewport"]["height"]
MAX_SIDE = 2048  # static/js/capture.js shrinks a photo to this long side


def big_phone_photo() -> bytes:
    """A 4032x3024 JPEG of about 3 MB: smooth colour fields with sensor-like noise, as a phone's camera makes."""
    rnd = random.Random(11)
    width, height = 4032, 3024
    picture = Image.frombytes("RGB", (40, 30), rnd.randbytes(40 * 30 * 3)).resize((width, height), Image.BILINEAR)
    picture = ImageChops.add(picture, Image.effect_noise((width, height), 7).convert("RGB"), 1.0, -128)
    data = jpeg_bytes(picture, quality=88)
    assert 2_500_000 <= len(data) <= 5_000_000, len(data)
    return data


def spot(i: int) -> dict:
    """The i-th spot inside grid HQ06 (gw06's), some 30 m apart."""
    return {"lat": f"{32.0110 + 0.0003 * i:.4f}", "lon": f"{120.8530 + 0.0002 * (i % 5):.4f}"}


def events(db, case_no: str, action: str) -> list[CaseEvent]:
    db.expire_all()
    case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
    return list(db.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == action)))


def open_order(page: Page, case_no: str):
    """Tap the order's line in the list: the case opens under it."""
    order = page.locator(f"#order-{case_no}")
    expect(page.locator("#orders[data-ready]")).to_have_count(1)  # the page's script has taken over its forms
    order.locator(":scope > details > summary").click()
    expect(order.locator(".case-detail")).to_be_visible()
    return order


def watch_progress(page: Page) -> None:
    """Keep every text the upload bar shows (an upload on loopback is over before a test could look)."""
    page.evaluate("""() => { window.__progress = [];
        new MutationObserver(() => document.querySelectorAll('.upload').forEach((u) => {
          if (!u.hidden) { window.__progress.push(u.querySelector('.upload-text').textContent); } }))
        .observe(document.getElementById('orders'), { subtree: true, childList: true, attributes: true,
                                                      characterData: true }); }""")


def test_an_order_taken_on_offline_goes_once_and_a_big_after_photo_goes_up_shrunk_with_progress(
        people, factory, db, make_api, tmp_path):
    case = factory.case_in(CaseState.DISPATCHED, seed=800, description="路灯不亮", where=spot(0))
    case_no, lat, lon = case.case_no, case.lat, case.lon
    photo = tmp_path / "after.jpg"
    photo.write_bytes(big_phone_photo())
    worker = people(**PHONE)
    page = worker.page
    worker.log_in("gw06")
    expect(page).to_have_url(re.compile(r"/field$"))
    order = open_order(page, case_no)

    # where it is: the opened case's map, and 导航 in the system each app expects
    expect(order.locator(".field-map.leaflet-container")).to_be_visible()
    expect(order.locator(".field-map path.case-point")).to_have_count(1)
    links = {a.get_attribute("data-app"): a.get_attribute("href") for a in order.locator(".navigate a").all()}
    gcj, bd = from_wgs84(lat, lon, "gcj02"), from_wgs84(lat, lon, "bd09")
    amap = parse_qs(urlsplit(links["高德"]).query)
    assert urlsplit(links["高德"]).netloc == "uri.amap.com" and amap["coordinate"] == ["gaode"]
    assert amap["position"] == [f"{gcj[1]:.6f},{gcj[0]:.6f}"]  # lon,lat
    baidu = parse_qs(urlsplit(links["百度"]).query)
    assert baidu["coord_type"] == ["bd09ll"] and baidu["location"] == [f"{bd[0]:.6f},{bd[1]:.6f}"]
    assert parse_qs(urlsplit(links["Apple 地图"]).query)["ll"] == [f"{gcj[0]:.6f},{gcj[1]:.6f}"]
    assert abs(gcj[0] - lat) + abs(gcj[1] - lon) > 0.003, "the GCJ-02 point really is shifted"
    # its one next step: take it on
    expect(order.get_by_role("button", name="接单处置")).to_be_visible()
    expect(order.get_by_role("button", name="处置完成")).to_have_count(0)
    worker.shot("order-opened")

    # in a basement: no signal; the page stays, the card says the step waits on the phone
    worker.context.set_offline(True)
    order.get_by_role("button", name="接单处置").click()
    expect(order.locator(".pending")).to_contain_text("待上传")
    expect(order.locator(".pending")).to_contain_text("已保存在手机上")
    expect(order.locator("summary .waiting-mark")).to_be_visible()
    expect(order.get_by_role("button", name="处置完成")).to_be_visible()  # the next step, while it waits
    expect(page).to_have_url(re.compile(r"/field$"))
    worker.shot("offline-start-waiting")
    assert events(db, case_no, "start") == []

    # back above ground: it goes by itself, once
    worker.context.set_offline(False)
    expect(order.locator(".pending")).to_be_hidden(timeout=20_000)
    expect(order.locator(":scope > details > summary")).to_contain_text("处置中")
    started = events(db, case_no, "start")
    assert len(started) == 1 and started[0].client_action_id, started

    # the after photo, 4032x3024 and ~3 MB: shrunk on the phone, sent with a progress bar
    watch_progress(page)
    cdp = worker.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 40, "downloadThroughput": 4_000_000,
                                                  "uploadThroughput": 300_000})  # a weak 4G uplink, bytes/s
    order.get_by_label("处置后照片").set_input_files(photo)
    expect(order.locator(".previews img")).to_have_count(1)
    order.get_by_label("处置说明").fill("已更换灯泡")
    worker.shot("resolving")
    order.get_by_role("button", name="处置完成").click()
    expect(order.locator(".upload")).to_be_visible()
    expect(order.locator(".upload-text")).to_contain_text(re.compile(r"正在上传处置完成 [1-9]\d?%"))
    expect(order.locator(".pending")).to_be_hidden()  # one status at a time: going up, not "saved on the phone"
    worker.shot("uploading")
    expect(page.locator(f"#order-{case_no}")).to_have_count(0, timeout=30_000)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    expect(page.get_by_text("暂无待处置工单")).to_be_visible()
    shown = page.evaluate("window.__progress")
    percents = {int(re.search(r"(\d+)%", text).group(1)) for text in shown}
    assert len([p for p in percents if 0 < p < 100]) >= 3, shown  # it moved as the photo went up
    worker.shot("resolved")
    db.expire_all()
    after = db.scalars(sa.select(Photo).join(Case).where(Case.case_no == case_no, Photo.kind == "after")).all()
    assert len(after) == 1 and max(after[0].width, after[0].height) <= MAX_SIDE, [(p.width, p.height) for p in after]
    assert after[0].size_bytes < photo.stat().st_size / 2, after[0].size_bytes
    resolved = events(db, case_no, "resolve")
    assert len(resolved) == 1 and resolved[0].client_action_id

    # the same actions again with the ids the page used (a retry whose answer was lost): done once, same success
    gw06 = make_api("gw06")
    for action, event in (("resolve", resolved[0]), ("start", started[0])):
        again = gw06.act(case_no, action, client_action_id=event.client_action_id)
        assert again.status_code == 200 and again.get_json()["state"] == CaseState.RESOLVED, again.get_json()
        assert len(events(db, case_no, action)) == 1

    # 已处置: what I resolved, and later what became of it
    page.get_by_role("link", name="已处置").click()
    done = page.locator(f"#done-{case_no}")
    expect(done).to_contain_text("已处置待核查")
    assert make_api("staff1").act(case_no, "close", note="现场核查已修复").status_code == 200
    page.reload()
    expect(done).to_contain_text("已结案")
    worker.shot("history")
    worker.all_went_well()


def test_nineteen_orders_fit_in_three_phone_screens_urgent_first_with_one_next_step_each(people, factory, db):
    # 上水井盖 (priority 2) and 消防设施 (1) are urgent; the rest by deadline; two taken on already, one overdue
    kinds = ["B0118", "E0101", "B0101", "B0117", "B0113", "E0101", "B0118", "B0117"]
    made = []
    for i in range(19):
        state = CaseState.IN_PROGRESS if i in (3, 10) else CaseState.DISPATCHED
        made.append(factory.case_in(state, seed=820 + i, category=kinds[i % len(kinds)], where=spot(i)).case_no)
    late_no = made[6]
    db.execute(sa.update(Case).where(Case.case_no == late_no).values(deadline_at=utcnow() - timedelta(hours=3)))
    db.commit()
    expected = [c.case_no for c in db.scalars(sa.select(Case).where(Case.case_no.in_(made))
                                              .order_by(-Case.priority, Case.deadline_at, Case.id))]
    urgent = {c.case_no for c in db.scalars(sa.select(Case).where(Case.case_no.in_(made), Case.priority > 0))}
    assert 0 < len(urgent) < 19

    worker = people(**PHONE)
    page = worker.page
    worker.log_in("gw06")
    cards = page.locator("#orders li.order")
    expect(cards).to_have_count(19)
    assert cards.evaluate_all("cs => cs.map(c => c.dataset.caseNo)") == expected
    first = cards.nth(0)
    expect(first.locator(".urgent-mark")).to_have_text("⚠ 紧急")
    assert [no in urgent for no in expected] == sorted((no in urgent for no in expected), reverse=True)
    for no in expected[len(urgent):]:
        expect(page.locator(f"#order-{no} .urgent-mark")).to_have_count(0)
    late = page.locator(f"#order-{late_no} .late-mark")
    expect(late).to_have_text("超期")
    assert late.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(163, 11, 11)"
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 3 * SCREEN, f"19 orders make {height} px: {height / SCREEN:.1f} screens"
    worker.shot("nineteen-orders")

    # one next step per card: a dispatched order is taken on; one in progress is resolved
    for no in expected:
        order = open_order(page, no)
        state = order.get_attribute("data-state")
        buttons = order.locator(".case-detail form button:visible").all_inner_texts()  # not the map's +/−
        assert buttons == (["接单处置"] if state == CaseState.DISPATCHED else ["处置完成"]), (no, state, buttons)
        if state == CaseState.IN_PROGRESS:
            expect(order.get_by_label("处置后照片")).to_be_visible()
        else:
            expect(order.get_by_label("处置后照片")).to_be_hidden()
        expect(order.locator(".navigate a")).to_have_count(3)
        order.locator(":scope > details > summary").click()  # closed again
    open_order(page, expected[0])
    worker.shot("urgent-order-opened")
    worker.all_went_well()


def test_both_steps_taken_with_no_signal_wait_in_order_and_go_once_each(people, factory, db, tmp_path):
    case_no = factory.case_in(CaseState.DISPATCHED, seed=850, where=spot(3)).case_no
    photo = tmp_path / "after.jpg"
    photo.write_bytes(photo_jpeg(seed=851))
    worker = people(**PHONE)
    page = worker.page
    worker.log_in("gw06")
    order = open_order(page, case_no)
    worker.context.set_offline(True)
    order.get_by_role("button", name="接单处置").click()
    order.get_by_label("处置后照片").set_input_files(photo)
    expect(order.locator(".previews img")).to_have_count(1)
    order.get_by_label("处置说明").fill("已清理")
    order.get_by_role("button", name="处置完成").click()
    expect(order.locator(".pending")).to_contain_text("接单处置、处置完成（1 张照片） 已保存在手机上")
    expect(order.locator("form.step button:visible")).to_have_count(0)  # nothing left to do but wait
    expect(page.locator("#outbox-status")).to_have_text("2 项操作待上传，已保存在手机上")
    worker.shot("both-steps-waiting")

    worker.context.set_offline(False)
    expect(page.locator(f"#order-{case_no}")).to_have_count(0, timeout=20_000)
    expect(page.locator("#outbox-status")).to_be_hidden()
    started, resolved = events(db, case_no, "start"), events(db, case_no, "resolve")
    assert len(started) == len(resolved) == 1 and started[0].id < resolved[0].id
    assert resolved[0].note == "已清理"
    worker.shot("both-steps-sent")
    worker.all_went_well()
