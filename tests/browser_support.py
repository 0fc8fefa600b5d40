"""Real-browser test helpers: Debian's Chromium via Playwright, the app served from a thread, people and screenshots.

Test modules import the fixtures they use (`from browser_support import chromium, live_server, people, wire`). A
module may name its screenshot folder under test-artifacts/ with SCREENSHOT_FOLDER (default "browser"), and set
STRETCHED_SCREENSHOTS to shoot its pages in a window as tall as the page (sticky bars then sit where they belong).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import numpy
import pytest
import sqlalchemy as sa
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support import DEMO_PASSWORD
from werkzeug.serving import make_server

from service.models import Case

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`; .ci/run installs it
# without the background-networking flags Chromium keeps calling out to a network that is not there
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # git-ignored
# what a page is waited for before an expectation fails: a busy CI machine draws a map's first tiles in over 5 s
# (Playwright's default); an expectation that holds passes at once all the same
expect.set_options(timeout=12_000)


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


class WireMeter:
    """WSGI middleware counting what each response puts on the wire: status line, headers and (gzipped) body."""

    # the two headers werkzeug's server adds after the app has answered, about this long
    SERVER_HEADERS = len("Server: Werkzeug/3.1.3 Python/3.11.2\r\nDate: Sat, 29 Nov 2026 08:00:00 GMT\r\n")

    def __init__(self, app):
        self.app = app
        self.responses: list[tuple[str, int]] = []  # (path, bytes), in the order they finished

    def __call__(self, environ, start_response):
        size = [self.SERVER_HEADERS]

        def counting_start_response(status, headers, exc_info=None):
            size[0] += len(f"HTTP/1.1 {status}\r\n\r\n") + sum(len(f"{k}: {v}\r\n") for k, v in headers)
            return start_response(status, headers, exc_info)

        body = self.app(environ, counting_start_response)
        try:
            for chunk in body:
                size[0] += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            self.responses.append((environ.get("PATH_INFO", ""), size[0]))

    def since(self, mark: int) -> list[tuple[str, int]]:
        """The responses finished after `mark` (a former len(responses))."""
        return self.responses[mark:]


@pytest.fixture
def wire(app):
    """The byte counter the live server's responses pass through."""
    return WireMeter(app)


@pytest.fixture
def live_server(wire):
    """The test's app served over HTTP on a free port of 127.0.0.1, from a background thread."""
    server = make_server("127.0.0.1", 0, wire, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class Screenshots:
    """Full-page PNGs of one test, numbered in the order the story is told, under test-artifacts/<folder>/."""

    def __init__(self, folder: Path, prefix: str, stretch: bool = False):
        self.folder, self.prefix, self.count, self.stretch = folder, prefix, 0, stretch
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{prefix}-*.png"):
            old.unlink()

    def take(self, page: Page, name: str) -> None:
        self.count += 1
        path = str(self.folder / f"{self.prefix}-{self.count:02d}-{name}.png")
        window = page.viewport_size
        height = page.evaluate("document.documentElement.scrollHeight") if self.stretch else 0
        if height <= window["height"]:
            page.screenshot(path=path, full_page=True)
            return
        page.set_viewport_size({"width": window["width"], "height": height})
        try:
            page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            page.screenshot(path=path)
        finally:
            page.set_viewport_size(window)


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

    def all_went_well(self) -> None:
        """Nothing refused, nothing fetched from elsewhere, no script error on this person's pages."""
        went_wrong = {"refused": self.failed, "elsewhere": self.elsewhere, "script errors": self.script_errors}
        assert not any(went_wrong.values()), went_wrong


@pytest.fixture
def people(chromium, live_server, request):
    """people(**device) -> a Person with their own browser context; all closed at the end of the test."""
    folder = ARTIFACTS / getattr(request.module, "SCREENSHOT_FOLDER", "browser")
    screenshots = Screenshots(folder, "_".join(request.node.name.removeprefix("test_").split("_")[:4]),
                              stretch=getattr(request.module, "STRETCHED_SCREENSHOTS", False))
    made: list[Person] = []

    def person(**device) -> Person:
        made.append(Person(chromium, live_server, screenshots, **device))
        return made[-1]

    yield person
    for one in made:
        one.context.close()


# the rider page, as the rider and static-file browser tests find it
HQ06_SPOT = {"latitude": 32.015, "longitude": 120.855, "accuracy": 12}  # inside grid HQ06


def page_is_ready(page: Page) -> None:
    """The rider page has its category tiles and the fix (±12 m) shown."""
    expect(page).to_have_url(re.compile(r"/$"))
    # a first visit fetches the page's modules and registers its service worker: give a busy machine time
    expect(page.locator("#tiles .tile").first).to_be_visible(timeout=15_000)
    expect(page.locator("#where-text")).to_contain_text("±12 米")


def choose(page: Page, category: str) -> None:
    """Tap the category's tile on the rider page."""
    page.locator("#tiles .tile", has_text=category).click()
    expect(page.locator("#chosen .tile")).to_have_text(re.compile(category))


def wait_until_loaded(page: Page, image) -> None:
    """The image is shown and decoded."""
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())


# a rider at a phone on the report page
RIDER_PHONE = {"viewport": {"width": 360, "height": 640}, "device_scale_factor": 2, "is_mobile": True,
               "has_touch": True, "permissions": ["geolocation"], "geolocation": HQ06_SPOT}
CASE_NO = re.compile(r"\d{8}-\d{4}")


def rider_at_the_page(people, username: str) -> Person:
    """A rider on their phone, logged in through the form, on the report page with a fix and the categories."""
    rider = people(**RIDER_PHONE)
    rider.log_in(username)
    page_is_ready(rider.page)
    return rider


def take_photos(page: Page, *photos: bytes) -> None:
    """Shoot them one after another with the camera button."""
    before = page.locator("#previews li").count()
    for i, data in enumerate(photos):
        shot = {"name": f"IMG_{i:04d}.jpg", "mimeType": "image/jpeg", "buffer": data}
        page.locator("#photo-input").set_input_files(shot)
    expect(page.locator("#previews img")).to_have_count(before + len(photos), timeout=20_000)


def send(page: Page) -> None:
    """Tap 提交上报."""
    page.get_by_role("button", name="提交上报").click()


def reported_case_no(page: Page) -> str:
    """The case number the 已上报 notice gives."""
    sent = page.get_by_role("status").filter(has_text="已上报")
    expect(sent).to_be_visible(timeout=20_000)
    return CASE_NO.search(sent.inner_text()).group()


def the_form_is_clear(page: Page) -> None:
    """No photos, no category and no words left in the form."""
    expect(page.locator("#previews li")).to_have_count(0)
    expect(page.locator("#chosen")).to_be_hidden()
    expect(page.locator("#description")).to_have_value("")


def cases_on_the_server(db) -> int:
    """How many cases the database holds now."""
    db.expire_all()
    return db.scalar(sa.select(sa.func.count()).select_from(Case))


# printed pages (the weekly report on A4): page 1 as pixels, and the bar chart's solid grey in them
def printed_first_page(page: Page, folder: Path, name: str):
    """The page printed to an A4 PDF, its first page as an RGB array (the PDF and PNG kept in `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf, png = folder / f"{name}.pdf", folder / name
    page.pdf(path=str(pdf), format="A4")
    if shutil.which("pdftoppm") is None:
        if in_ci():
            pytest.fail("pdftoppm is missing: apt-get install -y poppler-utils (.ci/run does)")
        pytest.skip("pdftoppm is missing (poppler-utils)")
    subprocess.run(["pdftoppm", "-r", "100", "-f", "1", "-l", "1", "-png", "-singlefile", str(pdf), str(png)],
                   check=True)
    with Image.open(f"{png}.png") as printed:
        return numpy.asarray(printed.convert("RGB"))


def solid_bar_pixels(pixels) -> int:
    """The pixels inside solid areas of 结案率's bar grey: #222 at 70 % opacity on white is (100, 100, 100). Only
    filled shapes count (every pixel of the 7x7 square around one is that grey): the antialiased edges of text,
    lines and the legend's swatch do not."""
    grey = ((pixels >= 85) & (pixels <= 115)).all(axis=2)
    solid = grey[6:, 6:].copy()
    for dy in range(7):
        for dx in range(7):
            solid &= grey[dy:dy + grey.shape[0] - 6, dx:dx + grey.shape[1] - 6]
    return int(solid.sum())
