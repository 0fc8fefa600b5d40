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
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"  # git-ignored
OUTSIDE_GRIDS = {"lat": "32.05", "lon": "120.90"}  # in the service area, outside every grid: unrouted
HQ06 = {"lat": "32.015", "lon": "120.855"}  # inside grid HQ06: dispatched to gw06
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESCRIPTION = "路灯杆倒了 <script>window.__injected = 1</script> 请尽快处理"
STAFF_NAME, WORKER_NAME = "社区工作人员 王", "网格员 06"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
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
    """One person at a browser: their own cookies and screen; what goes wrong on their pages is kept."""

    def __init__(self, browser: Browser, base_url: str, screenshots: Screenshots, **device):
        self.base_url, self.screenshots = base_url, screenshots
        self.context = browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai", **device)
        self.elsewhere: list[str] = []  # requests for anything not on our server (none expected: a closed network)
        self.failed: list[str] = []  # answers >= 400 from our server
        self.script_errors: list[str] = []  # uncaught errors in the pages' scripts
        self.context.route("**/*", self._only_our_server)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.script_errors.append(f"{self.page.url}: {exc}"))
        self.page.on("response", self._note_failure)

    def _only_our_server(self, route) -> None:
        if route.request.url.startswith(self.base_url + "/"):
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def _note_failure(self, response) -> None:
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
            self.failed.append(f"{response.status} {response.request.method} {response.url}")

    def shot(self, name: str) -> None:
        self.screenshots.take(self.page, name)

    def log_in(self, username: str) -> None:
        """Through the login form, as a person types it."""
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


class Screenshots:
    """Full-page PNGs of one test, numbered in the order the story is told, under test-artifacts/browser/."""

    def __init__(self, prefix: str):
        self.prefix, self.count = prefix, 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob(f"{prefix}-*.png"):
            old.unlink()

    def take(self, page: Page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{self.count:02d}-{name}.png"), full_page=True)


@pytest.fixture
def people(chromium, live_server, request):
    """people(**device) -> a Person with their own browser context; all closed at the end of the test."""
    screenshots = Screenshots("_".join(request.node.name.removeprefix("test_").split("_")[:4]))
    made: list[Person] = []

    def person(**device) -> Person:
        made.append(Person(chromium, live_server, screenshots, **device))
        return made[-1]

    yield person
    for one in made:
        one.context.close()


def the_description_shows_as_text(page: Page, where) -> None:
    """The rider's `<script>` is shown as the characters they typed, and never runs."""
    expect(where.get_by_text(DESCRIPTION, exact=True)).to_be_visible()
    assert "&lt;script&gt;window.__injected = 1&lt;/script&gt;" in page.content()
    assert page.evaluate("typeof window.__injected") == "undefined"


def test_staff_assign_an_unrouted_case_the_grid_worker_resolves_it_on_a_phone_and_staff_close_it(
        people, rider, workers, tmp_path):
    report = rider.report(photos=[photo_jpeg(seed=41)], description=DESCRIPTION, **OUTSIDE_GRIDS)
    assert report.status_code == 201, report.get_json()
    case_no = report.get_json()["case_no"]
    workers()  # the pipeline finds no grid for it
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["state"] == "unrouted"
    after_photo = tmp_path / "after.jpg"
    after_photo.write_bytes(photo_jpeg(seed=42))
    staff, worker = people(**DESKTOP), people(**PHONE)

    # staff, at a desk: log in, open the case from the queue, assign it to gw06, log out
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

    # staff again: the after photo is there; check it and close the case
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
    expected = [("已派遣", STAFF_NAME), ("处置中", WORKER_NAME), ("已处置待核查", WORKER_NAME), ("已结案", STAFF_NAME)]
    found = [next((i for i, line in enumerate(lines) if line.startswith(f"{label} · {actor} · ")), None)
             for label, actor in expected]
    assert None not in found and found == sorted(found), lines
    assert "已扶正灯杆并加固底座" in lines[found[2]] and "现场核查灯杆已扶正" in lines[found[3]], lines

    for person in (staff, worker):
        assert person.failed == [] and person.elsewhere == [], (person.failed, person.elsewhere)
    assert worker.script_errors == [] and staff.script_errors == []


def test_the_case_page_map_shows_the_case_and_its_grid(people, rider, workers):
    case_no = rider.report(photos=[photo_jpeg(seed=43)], **HQ06).get_json()["case_no"]
    workers()  # dispatched to HQ06
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    staff.open_case_from_the_queue(case_no)
    expect(staff.page.locator("h1 .state")).to_have_text("已派遣")
    staff.shot("staff-case-map")
    assert staff.script_errors == []
    # the case's marker and its grid's polygon, both drawn by Leaflet as SVG paths
    expect(staff.page.locator("#minimap path.leaflet-interactive")).to_have_count(2)
