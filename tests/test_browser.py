"""In a real browser (Chromium via Playwright): staff assign an unrouted case, gw06 resolves it, staff close it."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from conftest import DEMO_PASSWORD
from images import photo_jpeg

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`; .ci/run installs it
# without the background-networking flags Chromium keeps calling out to a network that is not there
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
OUTSIDE_GRIDS = {"lat": "32.05", "lon": "120.90"}  # in the service area, outside every grid: unrouted
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESCRIPTION = "路灯杆倒了 <script>window.__injected = 1</script> 请尽快处理"
STAFF_NAME, WORKER_NAME = "社区工作人员 王", "网格员 06"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def chromium() -> Browser:
    """Debian's Chromium, headless; skipped on a developer's machine without it, a failure in CI."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """The test's app served over HTTP on a free port of 127.0.0.1, from a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class Person:
    """One person at one browser: their own cookies and window size; what goes wrong on their pages is kept."""

    def __init__(self, browser: Browser, base_url: str, shots: list, **device):
        self.base_url, self.shots = base_url, shots
        self.context = browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai", **device)
        self.elsewhere: list[str] = []  # requests for anything not on our server (none expected: a closed network)
        self.errors: list[str] = []  # script errors, and answers >= 400 from our server
        self.context.route("**/*", self._only_our_server)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(f"script error: {exc}"))
        self.page.on("response", self._note_failure)

    def _only_our_server(self, route):
        if route.request.url.startswith(self.base_url + "/"):
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def _note_failure(self, response):
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
            self.errors.append(f"{response.status} {response.request.method} {response.url}")

    def shot(self, name: str) -> None:
        """A full-page screenshot, numbered in the order the story is told."""
        path = ARTIFACTS / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)

    def log_in(self, username: str) -> None:
        page = self.page
        page.goto("/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()

    def log_out(self) -> None:
        self.page.get_by_role("button", name="退出").click()
        expect(self.page).to_have_url(re.compile(r"/login$"))
        expect(self.page.get_by_role("status")).to_have_text("已退出登录")

    def open_case_from_the_queue(self, case_no: str) -> None:
        page = self.page
        expect(page).to_have_url(re.compile(r"/desk$"))
        page.get_by_role("link", name=case_no, exact=True).click()
        expect(page).to_have_url(re.compile(rf"/desk/cases/{case_no}$"))
        expect(page.locator("h1")).to_contain_text(case_no)

    def close(self) -> None:
        self.context.close()


def the_description_shows_as_text(page: Page, where) -> None:
    """The rider's `<script>` is shown as the characters they typed and never runs."""
    expect(where.get_by_text(DESCRIPTION, exact=True)).to_be_visible()
    assert "&lt;script&gt;window.__injected = 1&lt;/script&gt;" in page.content()
    assert page.evaluate("typeof window.__injected") == "undefined"


def test_staff_assign_an_unrouted_case_the_grid_worker_resolves_it_on_a_phone_and_staff_close_it(
        chromium, live_server, rider, workers, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    report = rider.report(photos=[photo_jpeg(seed=41)], description=DESCRIPTION, **OUTSIDE_GRIDS)
    assert report.status_code == 201, report.get_json()
    case_no = report.get_json()["case_no"]
    workers()  # the pipeline finds no grid for it
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["state"] == "unrouted"
    after_photo = tmp_path / "after.jpg"
    after_photo.write_bytes(photo_jpeg(seed=42))

    shots: list[Path] = []
    staff = Person(chromium, live_server, shots, **DESKTOP)
    worker = Person(chromium, live_server, shots, **PHONE)
    try:
        # staff: log in, open the case from the queue, assign it to gw06, log out
        page = staff.page
        staff.log_in("staff1")
        staff.shot("staff-queue")
        staff.open_case_from_the_queue(case_no)
        expect(page.locator("h1 .state")).to_have_text("待人工派遣")
        the_description_shows_as_text(page, page.locator("main"))
        staff.shot("staff-case-unrouted")
        assign = page.locator("form[data-action=assign]")
        assign.get_by_label("网格员").select_option(label=WORKER_NAME)
        staff.shot("staff-assigning")
        assign.get_by_role("button", name="派遣").click()
        expect(page.locator("h1 .state")).to_have_text("已派遣")
        expect(page.get_by_text(f"处置人：{WORKER_NAME}")).to_be_visible()
        staff.shot("staff-case-assigned")
        staff.log_out()

        # the grid worker, on a phone: log in, land on 我的工单, take the order on, resolve it with an after photo
        page = worker.page
        worker.log_in("gw06")
        expect(page).to_have_url(re.compile(r"/field$"))
        expect(page.get_by_role("heading", name=re.compile("我的工单"))).to_be_visible()
        order = page.locator(f"#order-{case_no}")
        expect(order.get_by_role("heading")).to_contain_text("待处置")
        the_description_shows_as_text(page, order)
        worker.shot("worker-orders")
        order.get_by_role("button", name="接单处置").click()
        expect(order.get_by_role("heading")).to_contain_text("处置中")
        expect(order.get_by_role("button", name="接单处置")).to_have_count(0)
        order.get_by_label("处置后照片").set_input_files(after_photo)
        order.get_by_label("处置说明").fill("已扶正灯杆并加固底座")
        worker.shot("worker-resolving")
        order.get_by_role("button", name="处置完成").click()
        expect(page.locator(f"#order-{case_no}")).to_have_count(0)
        expect(page.get_by_text("暂无待处置工单")).to_be_visible()
        worker.shot("worker-done")
        worker.log_out()

        workers()  # the after photo's web copy and thumbnail

        # staff again: the after photo is there; check and close the case
        page = staff.page
        staff.log_in("staff1")
        staff.open_case_from_the_queue(case_no)
        expect(page.locator("h1 .state")).to_have_text("已处置待核查")
        after = page.get_by_role("img", name="处置后照片")
        expect(after).to_be_visible()
        assert after.evaluate("img => img.complete && img.naturalWidth") > 0, "the after photo's thumbnail did not load"
        staff.shot("staff-case-resolved")
        close = page.locator("form[data-action=close]")
        close.get_by_label("核查说明").fill("现场核查灯杆已扶正")
        close.get_by_role("button", name="核查结案").click()

        expect(page.locator("h1 .state")).to_have_text("已结案")
        the_description_shows_as_text(page, page.locator("main"))
        events = page.locator("ol.timeline > li")
        expect(events.filter(has_text="已结案")).to_have_count(1)
        staff.shot("staff-case-closed")
        lines = [" ".join(text.split()) for text in events.all_inner_texts()]
        expected = [("已派遣", STAFF_NAME), ("处置中", WORKER_NAME), ("已处置待核查", WORKER_NAME),
                    ("已结案", STAFF_NAME)]
        found = [next((i for i, line in enumerate(lines) if line.startswith(f"{label} · {actor}")), None)
                 for label, actor in expected]
        assert None not in found and found == sorted(found), lines
        assert "已扶正灯杆并加固底座" in lines[found[2]] and "现场核查灯杆已扶正" in lines[found[3]], lines

        for person in (staff, worker):
            assert person.errors == [], person.errors
            assert person.elsewhere == [], person.elsewhere
    finally:
        staff.close()
        worker.close()
