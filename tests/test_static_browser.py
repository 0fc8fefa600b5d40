"""In Chromium: no page breaks its Content Security Policy and each keeps its look (screenshots, the weekly report
on paper too), the import map resolves a page script to its fingerprinted file, and the rider's page is light on
the wire: a first visit, a second one, and a first one from a phone that takes gzip only (`figure:` lines)."""
from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from browser_support import (
    ARTIFACTS,
    HQ06_SPOT,
    Person,
    choose,
    page_is_ready,
    printed_first_page,
    solid_bar_pixels,
    wait_until_loaded,
)
from images import photo_jpeg
from playwright.sync_api import Page, expect
from support import DEMO_PASSWORD, HONGQIAO

from bench.figures import figure
from service.states import OPEN, CaseState

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "static", True  # test-artifacts/static/, sticky bars in place
FOLDER = ARTIFACTS / SCREENSHOT_FOLDER
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "permissions": ["geolocation"], "geolocation": HQ06_SPOT}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
# what the page reports when the CSP refuses something, from before its own scripts run
WATCH_CSP = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__refused.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""
PUBLIC_UTILITIES = "rgb(11, 79, 163)"  # 公用设施's colour (categories.json), which 路灯 shows
# the rider's page as ES modules (13 small files, each with its ~400 bytes of HTTP/1.1 headers, each named in the
# import map and preloaded by the page) weighs ~8 KB more on a first visit than as 4 scripts did (76.6 KB); the maps'
# tiles in their own coordinate system (js/basemap.js, js/coords.js) and the nearest grid in words add ~4 KB, the bell
# (its module and style sheet, shared with the field page; its count is in the page, not asked for) ~3.2 KB (issue 13);
# the page itself, asked for again on every visit, carries the bell's markup and the tiles' settings (~0.1 KB)
FIRST_LOAD_KB, REPEAT_LOAD_KB, GZIP_ONLY_FIRST_LOAD_KB = 95, 6, 107


def hex_rgb(colour: str) -> str:
    """"#5bc0de" as a computed style gives it: "rgb(91, 192, 222)"."""
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))


class Watched:
    """A person whose pages' CSP refusals (page events and console messages) are kept, page by page."""

    def __init__(self, person: Person):
        self.person, self.page = person, person.page
        self.refused: dict[str, list[str]] = {}
        self.console: list[str] = []
        person.context.add_init_script(WATCH_CSP)
        self.page.on("console", lambda m: self.console.append(m.text) if "Content Security Policy" in m.text else None)

    def looked_at(self, name: str) -> None:
        """Note what this page refused, and take its picture."""
        self.page.wait_for_load_state("networkidle")
        self.refused[name] = self.page.evaluate("() => window.__refused")
        self.person.shot(name)

    def nothing_refused(self) -> None:
        assert not any(self.refused.values()) and not self.console, (self.refused, self.console)
        self.person.all_went_well()


def printed_report_has_its_bars(page: Page) -> None:
    """The report printed to PDF, page 1 as a PNG: the bar chart's solid bars are on paper (they once vanished)."""
    bar_area = solid_bar_pixels(printed_first_page(page, FOLDER, "report-printed"))
    assert bar_area > 5000, f"the bar chart is missing from the printed report ({bar_area} solid bar-grey pixels)"


def test_no_page_breaks_its_content_security_policy_and_each_keeps_its_look(people, make_api, workers,
                                                                              week_of_cases):
    reported = make_api("rider1").report(photos=[photo_jpeg(seed=95)], category="B0118", **HONGQIAO)
    case_no = reported.get_json()["case_no"]
    workers()  # its thumbnail; dispatched to gw06

    # a rider on a phone: the report page, a case nearby with its thumbnail, my reports
    rider = Watched(people(**PHONE))
    page = rider.page
    rider.person.log_in("rider2")
    page_is_ready(page)
    expect(page.locator("#tiles .tile", has_text="路灯").locator("i")).to_have_css("background-color",
                                                                                   PUBLIC_UTILITIES)
    rider.looked_at("rider-report")
    choose(page, "路灯")
    wait_until_loaded(page, page.locator("#nearby").get_by_role("img", name=case_no))
    rider.looked_at("rider-nearby")
    page.get_by_role("link", name="我的上报").click()
    expect(page.locator("#points-week")).to_have_text(re.compile(r"\d"))
    rider.looked_at("rider-mine")
    rider.nothing_refused()
    # and what a hostile string slipped into the page would do: an inline script, an inline style
    smuggled = page.evaluate("""() => {
        const s = document.createElement("script"); s.textContent = "window.__smuggled = 1"; document.body.append(s);
        const b = document.createElement("b"); b.setAttribute("style", "color: red"); document.body.append(b);
        return [window.__smuggled === undefined, getComputedStyle(b).color];
    }""")
    assert smuggled == [True, "rgb(0, 0, 0)"], "an inline script ran, or an inline style applied"

    # staff at a desk: the queue, the case with its map, the case map, an invitation's QR code, the weekly report
    staff = Watched(people(**DESKTOP))
    page = staff.page
    staff.person.log_in("staff1")
    staff.looked_at("desk-queue")
    page.get_by_role("link", name=case_no, exact=True).click()
    expect(page.locator("#minimap path.leaflet-interactive")).to_have_count(2)
    staff.looked_at("desk-case")
    page.goto("/desk/map")
    expect(page.locator("#casemap")).to_have_attribute("data-loaded", re.compile(r"[1-9]"))
    dispatched = page.locator(f"#casemap path.case-mark.state-{CaseState.DISPATCHED}:not(.late)").first
    expect(dispatched).to_have_css("fill", hex_rgb(CaseState.DISPATCHED.colour))  # css/states.css
    # overdue: a red mark, or a red ring round the cluster it is in (js/maps.js clusters the marks)
    expect(page.locator("#casemap path.case-mark.late, #casemap .marker-cluster.late").first).to_be_visible()
    if page.locator("#casemap path.case-mark.late").count():
        expect(page.locator("#casemap path.case-mark.late").first).to_have_css("fill", "rgb(217, 83, 79)")
    else:
        expect(page.locator("#casemap .marker-cluster.late").first).to_have_css("box-shadow",
                                                                                re.compile(r"rgb\(217, 83, 79\)"))
    legend = page.locator(".legend .state")
    expect(legend).to_have_text([state.zh for state in OPEN] + ["超期"])  # the states from service/states.py
    expect(legend.first).to_have_css("background-color", hex_rgb(OPEN[0].colour))
    staff.looked_at("desk-map")
    page.goto("/desk/invites")
    page.get_by_label("姓名").fill("新骑手")
    page.get_by_label("用户名（字母或数字）").fill(f"rider{uuid.uuid4().hex[:8]}")  # accounts outlive a test
    page.get_by_role("button", name="生成邀请").click()
    expect(page.locator(".qr svg")).to_be_visible()
    staff.looked_at("desk-invite")
    page.goto("/desk/reports")
    page.get_by_label("周次").fill("2026-W09")
    page.get_by_role("button", name="生成 / 重新生成").click()
    expect(page.locator(".chart svg")).to_have_count(2)
    staff.looked_at("desk-report")
    printed_report_has_its_bars(page)
    staff.nothing_refused()

    # the grid worker on a phone: the orders
    worker = Watched(people(**{k: v for k, v in PHONE.items() if k not in ("permissions", "geolocation")}))
    worker.person.log_in("gw06")
    worker.page.locator(f"#order-{case_no} > details > summary").click()  # the compact list opens the case: photos, map
    expect(worker.page.locator(f"#order-{case_no} img")).to_be_visible()
    expect(worker.page.locator(f"#order-{case_no} .field-map.leaflet-container")).to_be_visible()
    worker.looked_at("field-orders")
    worker.nothing_refused()


def test_the_import_map_resolves_a_page_script_to_its_fingerprinted_file(people, app):
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    expect(page).to_have_url(re.compile(r"/desk$"))
    fetched: list[str] = []
    # scripts only: the page's icon may still be on its way, whenever Chromium gets round to it
    page.on("request", lambda r: r.resource_type == "script" and fetched.append(urlsplit(r.url).path))
    # what an ES module's `import "./maps.js"` will do; maps.js draws nothing on a page without a map
    assert page.evaluate("() => import('/static/js/maps.js').then(() => 'loaded')") == "loaded"
    manifest = app.extensions["assets"]
    # and its relative imports ("./basemap.js" from /static/js/maps.<hash>.js, and its "./coords.js") through it too
    maps = [manifest.url(name) for name in ("js/maps.js", "js/basemap.js", "js/coords.js")]
    assert fetched == maps
    assert page.evaluate("() => import('/static/js/outbox.js').then((m) => typeof m.Outbox)") == "function"
    assert sorted(fetched[3:]) == sorted([manifest.url("js/outbox.js"), manifest.url("js/http.js")])
    staff.all_went_well()


def on_the_wire(request) -> int:
    """What crossed the network for one request's answer, as Chromium counts it: headers and encoded body.

    An answer the service worker gave the page counts nothing here (the worker's own request counts it); one
    from the HTTP cache counts nothing (Playwright reports it with a negative body size); a 304, its headers.
    """
    response, sizes = request.response(), request.sizes()
    if response is None or response.from_service_worker:
        return 0
    return max(0, sizes["responseHeadersSize"] + sizes["responseBodySize"])


def listed(requests) -> list[str]:
    return [f"{on_the_wire(r):>7} {'worker' if r.service_worker else 'page  '} {r.method} {urlsplit(r.url).path}"
            for r in requests]


def rider_visits(chromium, live_server, accept_encoding: str | None) -> tuple[int, int, list[str]]:
    """A rider logs in on a fresh phone (first load), then opens the page again later (repeat load): bytes of each.

    A browser context of our own, for Playwright's request interception (browser_support.Person) would switch
    Chromium's HTTP cache off, and the cache is what a second visit is about.
    """
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding else {}
    phone = chromium.new_context(base_url=live_server, locale="zh-CN", extra_http_headers=headers, **PHONE)
    try:
        page = phone.new_page()
        finished, elsewhere = [], []
        phone.on("requestfinished", lambda r: finished.append(r))
        phone.on("request", lambda r: None if r.url.startswith(live_server + "/") else elsewhere.append(r.url))
        page.goto("/login")
        page.get_by_label("用户名").fill("rider1")
        page.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
        finished.clear()
        page.get_by_role("button", name="登录").click()
        page_is_ready(page)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.wait_for_load_state("networkidle")
        first, listing = sum(map(on_the_wire, finished)), ["first visit"] + listed(finished)
        finished.clear()
        page.goto("/")
        page_is_ready(page)
        page.wait_for_load_state("networkidle")
        repeat = sum(map(on_the_wire, finished))
        listing += ["second visit"] + listed(finished)
        assert elsewhere == [], elsewhere
        return first, repeat, listing
    finally:
        phone.close()


def test_the_rider_page_is_light_first_time_second_time_and_on_a_gzip_only_phone(chromium, live_server, capsys):
    first, repeat, listing = rider_visits(chromium, live_server, None)  # Chromium's own: gzip, deflate, br, zstd
    gzip_first, _, _ = rider_visits(chromium, live_server, "gzip")  # an older WebView
    FOLDER.mkdir(parents=True, exist_ok=True)
    (FOLDER / "rider-page-weight.txt").write_text("\n".join(listing) + "\n")
    with capsys.disabled():
        print()
        ok = [figure("rider_first_load_kb", first / 1000, "<=", FIRST_LOAD_KB),
              figure("rider_repeat_load_kb", repeat / 1000, "<=", REPEAT_LOAD_KB),
              figure("rider_first_load_gzip_only_kb", gzip_first / 1000, "<=", GZIP_ONLY_FIRST_LOAD_KB)]
    assert all(ok), (first, repeat, gzip_first)
