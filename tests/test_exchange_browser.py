"""In real browsers: a rider sees what their points buy and shows a code; staff at the exchange desk read it from
the phone camera (a fake camera stream showing the rider's QR code) or type its six digits, pick the goods and
confirm; a receipt shows on both phones. Staff correct stock at the desk; an admin reverses a mistake."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import segno
import sqlalchemy as sa
from browser_support import CHROMIUM, CHROMIUM_ARGS, RIDER_PHONE, Person
from PIL import Image
from playwright.sync_api import expect

from service.ledger import PointsRules, Rule
from service.models import CatalogueItem, PointsEntry, RedemptionCode, User
from service.redemption import signed_code
from service.states import CaseState

SCREENSHOT_FOLDER = "exchange"  # test-artifacts/exchange/
STAFF_PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
               "has_touch": True}


def _credit(db, username: str, points: int) -> None:
    now = datetime.now(UTC)
    user = db.scalar(sa.select(User).where(User.username == username))
    db.add(PointsEntry(user_id=user.id, rule=Rule.REPORT_CLOSED, points=points, created_at=now,
                       lot=PointsRules().lot(now)))
    db.commit()


def _rider_shows_a_code(people, factory, db, extra_points: int = 0) -> Person:
    """rider1, whose closed report earned 5 points (and `extra_points` more), on the exchange code page."""
    factory.case_in(CaseState.CLOSED, reporter="rider1", seed=77)
    if extra_points:
        _credit(db, "rider1", extra_points)
    rider = people(**{k: v for k, v in RIDER_PHONE.items() if k not in ("permissions", "geolocation")})
    rider.log_in("rider1")
    page = rider.page
    page.goto("/wallet")
    expect(page.locator("#balance-points")).to_have_text(str(5 + extra_points))
    expect(page.locator(".history")).to_contain_text("上报结案")
    expect(page.locator(".goods li").first).to_be_visible()
    rider.shot("wallet")
    page.get_by_role("button", name="出示兑换码").click()
    expect(page.locator("#digits")).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    expect(page.locator(".qr svg")).to_be_visible()
    rider.shot("code")
    return rider


def test_a_rider_sees_what_points_buy_and_staff_type_the_digits(people, factory, db, exchange):
    rider = _rider_shows_a_code(people, factory, db, extra_points=95)  # 100 points: 20 flowers
    digits = rider.page.locator("#digits").inner_text().replace(" ", "")
    staff = people(**STAFF_PHONE)  # a browser with no camera: the digits are typed
    staff.log_in("staff1")
    page = staff.page
    page.goto("/desk/exchange")
    expect(page.locator("#camera-status")).to_contain_text("请输入六位数字")
    page.get_by_label("或输入六位数字").fill(f"{digits[:3]} {digits[3:]}")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#rider-points")).to_have_text("100")
    soap = page.locator(".picks li[data-item=soap]")
    soap.get_by_role("button", name="增加 香皂").click()
    soap.get_by_role("button", name="增加 香皂").click()
    page.locator(".picks li[data-item=tissues]").get_by_role("button", name="增加 抽纸 3 包").click()
    expect(page.locator("#total-flowers")).to_have_text("11")
    staff.shot("goods-picked")
    page.get_by_role("button", name="确认兑换").click()
    expect(page.locator("#step-receipt")).to_be_visible()
    expect(page.locator("#receipt-body")).to_contain_text("−55 积分（11 朵紫藤花） · 剩余 45 积分")
    staff.shot("receipt")
    expect(rider.page.locator("#receipt")).to_contain_text("兑换成功", timeout=15_000)
    expect(rider.page.locator("#receipt")).to_contain_text("香皂 × 2")
    rider.shot("receipt-on-the-rider-phone")
    rider.page.goto("/wallet")
    expect(rider.page.locator("#balance-points")).to_have_text("45")
    expect(rider.page.locator(".history tr").first).to_contain_text("兑换")
    rider.shot("wallet-after")
    rider.all_went_well()
    staff.all_went_well()


def _camera_stream_of(text: str, path: Path) -> Path:
    """A Y4M video (what Chromium's fake camera plays) of the QR code of `text` on white, 640x480."""
    code = segno.make(text, error="m")
    qr = Image.open(_png(code, path.with_suffix(".png"))).convert("RGB")
    frame = Image.new("RGB", (640, 480), "white")
    qr.thumbnail((440, 440))
    frame.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (320, 240)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            out.write(b"FRAME\n" + planes)
    return path


def _png(code, path: Path) -> Path:
    code.save(str(path), scale=10, border=4)
    return path


@pytest.fixture
def camera_browser(chromium):
    """launch(video) -> a second Chromium (of the same Playwright) whose camera shows that Y4M video, its use
    allowed without asking."""
    browsers = []

    def launch(video: Path):
        browsers.append(chromium.browser_type.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={video}"]))
        return browsers[-1]

    yield launch
    for browser in browsers:
        browser.close()


def test_staff_read_the_code_from_the_phone_camera(people, factory, db, exchange, camera_browser, live_server,
                                                    tmp_path, settings):
    rider = _rider_shows_a_code(people, factory, db, extra_points=100)  # 105 points
    db.expire_all()
    code_id = db.scalar(sa.select(RedemptionCode.id).order_by(RedemptionCode.id.desc()).limit(1))
    video = _camera_stream_of(signed_code(code_id, settings.secret_key), tmp_path / "code.y4m")
    staff = Person(camera_browser(video), live_server, rider.screenshots,
                   **STAFF_PHONE, permissions=["camera"])
    try:
        staff.log_in("staff1")
        page = staff.page
        page.goto("/desk/exchange")
        expect(page.locator("#rider-name")).to_have_text("骑手 张师傅", timeout=20_000)  # read from the camera
        expect(page.locator("#rider-points")).to_have_text("105")
        staff.shot("read-from-the-camera")
        page.locator(".picks li[data-item=rice]").get_by_role("button", name="增加 大米 5 斤").click()
        page.get_by_role("button", name="确认兑换").click()
        expect(page.locator("#receipt-body")).to_contain_text("−100 积分（20 朵紫藤花） · 剩余 5 积分")
        expect(rider.page.locator("#receipt")).to_contain_text("大米 5 斤 × 1", timeout=15_000)
        staff.all_went_well()
    finally:
        staff.context.close()


def test_staff_correct_stock_and_an_admin_reverses_a_redemption(people, factory, db, exchange, make_api):
    _credit(db, "rider1", 50)
    rider_api = make_api("rider1")
    code = rider_api.client.post("/api/v1/me/redemption-code", headers=rider_api.headers).get_json()
    staff_api = make_api("staff1")
    done = staff_api.client.post("/api/v1/redemptions", headers=staff_api.headers, json={
        "code": code["code"], "items": [{"item": "toothpaste", "qty": 1}], "idempotency_key": "wrong-one"})
    assert done.status_code == 201
    admin = people(viewport={"width": 1280, "height": 900})
    admin.log_in("admin")
    page = admin.page
    page.goto("/desk/exchange/stock?community=hqsq")
    row = page.locator("tr", has_text="牙膏").first
    row.get_by_label("牙膏 库存").fill("12")
    row.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("牙膏 库存已改为 12")
    redemption = page.locator("tr", has_text="牙膏 × 1")
    redemption.get_by_placeholder("撤销原因").fill("拿错了，骑手要的是香皂")
    redemption.get_by_role("button", name="撤销").click()
    expect(page.get_by_role("status")).to_contain_text("已撤销，积分已退回")
    expect(page.locator("tr", has_text="牙膏 × 1")).to_contain_text("已撤销")
    admin.shot("stock-and-reversal")
    db.expire_all()
    assert db.scalar(sa.select(CatalogueItem.stock).where(CatalogueItem.code == "toothpaste")
                     .order_by(CatalogueItem.id).limit(1)) == 13  # 12 counted, the reversed one back
    assert rider_api.get("/api/v1/me/wallet").get_json()["points"] == 50
    admin.all_went_well()
