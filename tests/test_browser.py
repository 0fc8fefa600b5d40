"""In a real browser (Chromium via Playwright): staff assign an unrouted case, gw06 resolves it, staff close it."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

from browser_support import Person
from images import photo_jpeg
from PIL import Image
from playwright.sync_api import Page, expect
from support import OUTSIDE_GRIDS

from service.states import CaseState

HQ06 = {"lat": "32.015", "lon": "120.855"}  # inside grid HQ06: dispatched to gw06
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESCRIPTION = "路灯杆倒了 <script>window.__injected = 1</script> 请尽快处理"
STAFF_NAME, WORKER_NAME = "社区工作人员 王", "网格员 06"


def open_case_from_the_queue(person: Person, case_no: str) -> None:
    page = person.page
    expect(page).to_have_url(re.compile(r"/desk$"))
    page.get_by_role("link", name=case_no, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/desk/cases/{case_no}$"))
    expect(page.locator("h1")).to_contain_text(case_no)


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
    assert rider.get(f"/api/v1/reports/{case_no}").get_json()["state"] == CaseState.UNROUTED
    after_photo = tmp_path / "after.jpg"
    after_photo.write_bytes(photo_jpeg(seed=42))
    staff, worker = people(**DESKTOP), people(**PHONE)

    # staff, at a desk: log in, open the case from the queue, assign it to gw06, log out
    page = staff.page
    staff.log_in("staff1")
    staff.shot("staff-queue")
    open_case_from_the_queue(staff, case_no)
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
    expect(order.locator(":scope > details > summary")).to_contain_text("待处置")
    worker.shot("worker-orders")
    order.locator(":scope > details > summary").click()  # the compact line opens the case
    the_description_shows_as_text(page, order)
    expect(order.get_by_role("button", name="处置完成")).to_have_count(0)  # one next step: take it on first
    order.get_by_role("button", name="接单处置").click()
    expect(order.locator(":scope > details > summary")).to_contain_text("处置中")
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
    open_case_from_the_queue(staff, case_no)
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
    open_case_from_the_queue(staff, case_no)
    expect(staff.page.locator("h1 .state")).to_have_text("已派遣")
    staff.shot("staff-case-map")
    assert staff.script_errors == []
    # the case's marker and its grid's polygon, both drawn by Leaflet as SVG paths
    expect(staff.page.locator("#minimap path.leaflet-interactive")).to_have_count(2)


def grid_middle(code: str) -> dict:
    """The mean of a demo grid's corners: where the case map writes the grid's name."""
    file = Path(__file__).resolve().parent.parent / "config/district/communities/hqsq/grids.geojson"
    grids = json.loads(file.read_text("utf-8"))
    ring = next(f for f in grids["features"] if f["properties"]["code"] == code)["geometry"]["coordinates"][0][:-1]
    return {"lon": f"{sum(p[0] for p in ring) / len(ring):.6f}", "lat": f"{sum(p[1] for p in ring) / len(ring):.6f}"}


def test_the_case_map_names_a_grid_on_hover_and_draws_its_cases_above_the_name(people, rider, workers):
    rider.report(photos=[photo_jpeg(seed=44)], **grid_middle("HQ06"))
    workers()  # dispatched: a blue mark in the middle of 虹桥第06网格
    staff = people(**DESKTOP)
    staff.log_in("staff1")
    page = staff.page
    page.goto("/desk/map")
    expect(page.locator("#casemap")).to_have_attribute("data-loaded", re.compile(r"[1-9]"))
    expect(page.locator(".grid-label")).to_have_count(0)  # no name hides a mark until someone asks for it
    ours = page.locator(f"#casemap path.case-mark.state-{CaseState.DISPATCHED}:not(.late)").first.bounding_box()
    x, y = round(ours["x"] + ours["width"] / 2), round(ours["y"] + ours["height"] / 2)
    page.mouse.move(x, y + 24)  # just below the mark, in the grid: its name comes up over the mark
    label = page.locator(".grid-label", has_text="虹桥第06网格")
    expect(label).to_be_visible()
    box = label.bounding_box()
    assert box["x"] < x < box["x"] + box["width"] and box["y"] < y < box["y"] + box["height"], (box, x, y)
    with Image.open(io.BytesIO(page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1}))) as dot:
        seen = dot.convert("RGB").getpixel((0, 0))
    staff.shot("case-map-labels")
    blue = tuple(int(CaseState.DISPATCHED.colour[i:i + 2], 16) for i in (1, 3, 5))
    assert all(abs(a - b) < 40 for a, b in zip(seen, blue)), f"the mark shows {seen}, not its blue {blue}"
    page.mouse.move(5, 5)
    expect(page.locator(".grid-label")).to_have_count(0)
    staff.all_went_well()


def console_errors(person: Person) -> list[str]:
    """Start keeping what the browser's console reports as errors on this person's pages."""
    errors: list[str] = []
    person.page.on("console", lambda message: errors.append(f"{person.page.url}: {message.text}")
                   if message.type == "error" else None)
    return errors


def test_the_desk_puts_unrouted_cases_first_unmerges_a_duplicate_and_speaks_chinese_without_console_errors(
        people, factory):
    dispatched = [factory.case_in(CaseState.DISPATCHED, seed=60 + i, where={"lat": f"{32.012 + i * 0.001:.3f}"})
                  for i in range(3)]
    urgent = factory.case_in(CaseState.DISPATCHED, seed=70, category="B0101")  # 井盖: the most urgent
    unrouted = [factory.case_in(CaseState.UNROUTED, seed=71 + i, where={"lat": f"{32.001 + i * 0.003:.3f}"})
                for i in range(2)]
    duplicate = factory.case_in(CaseState.DUPLICATE, reporter="rider2", seed=75)
    original = duplicate.duplicate_of.case_no
    staff = people(**DESKTOP)
    errors = console_errors(staff)
    page = staff.page

    # the queue: the desk's own work first, above even the most urgent dispatched case, and a tab for it
    staff.log_in("staff1")
    expect(page).to_have_url(re.compile(r"/desk$"))
    numbers = page.locator("table tbody tr td:nth-child(2) a").all_inner_texts()
    assert set(numbers[:2]) == {c.case_no for c in unrouted}
    assert numbers.index(urgent.case_no) == 2 and {c.case_no for c in dispatched} <= set(numbers)
    tab = page.get_by_role("link", name=re.compile(r"待人工派遣\s*2"))
    expect(tab).to_be_visible()
    staff.shot("queue-unrouted-first")
    tab.click()
    expect(page).to_have_url(re.compile(r"/desk\?state=unrouted$"))
    expect(page.locator("table tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name=re.compile(r"待人工派遣\s*2"))).to_have_attribute("aria-current", "page")
    staff.shot("queue-unrouted-tab")

    # a merged duplicate: un-merge it, and it is back where it was, no longer counted on the original
    page.goto(f"/desk/cases/{duplicate.case_no}")
    expect(page.locator("h1 .state")).to_have_text(CaseState.DUPLICATE.zh)
    button = page.locator("form[data-action=unmerge]").get_by_role("button", name=re.compile("撤销合并"))
    expect(button).to_be_visible()
    staff.shot("duplicate-with-unmerge")
    button.click()
    expect(page.locator("h1 .state")).to_have_text(CaseState.DISPATCHED.zh)
    expect(page.get_by_text(f"撤销合并（原记为 {original} 的重复）")).to_be_visible()
    expect(page.locator("form[data-action=unmerge]")).to_have_count(0)
    staff.shot("unmerged")

    # the invite form, and a case number no one has: a page in Chinese then English, not JSON
    page.goto("/desk/invites")
    expect(page.get_by_label("用户名（字母或数字）")).to_be_visible()
    assert errors == [], errors  # the queue, its tab, the case pages and the invite form: a quiet console
    missing = page.goto("/desk/cases/20990101-0001")
    assert missing.status == 404 and "text/html" in missing.headers["content-type"]
    expect(page.locator("h1")).to_have_text("找不到案件 20990101-0001 / no case 20990101-0001")
    staff.shot("unknown-case")
    staff.failed = [f for f in staff.failed if "20990101-0001" not in f]
    staff.log_out()

    # the users page, as the admin: roles by name, Chinese then English
    staff.log_in("admin")
    page.goto("/desk/users")
    expect(page.locator("td", has_text="网格员 Grid worker").first).to_be_visible()
    expect(page.locator("td", has_text="骑手 Rider").first).to_be_visible()
    roles = page.locator("table:has(th:text-is('角色')) tbody td:nth-child(3)").all_inner_texts()
    assert roles and not {"reporter", "grid_worker", "staff", "admin"} & set(roles), roles
    staff.shot("users-roles")
    staff.log_out()

    # a rider who wanders onto the desk is told so in Chinese first
    staff.log_in("rider1")
    refused = page.goto("/desk")
    assert refused.status == 403
    expect(page.locator("h1")).to_contain_text("无权进行此操作 / not allowed")
    expect(page.get_by_text("Forbidden")).to_have_count(0)
    staff.shot("forbidden")
    staff.failed = [f for f in staff.failed if not f.startswith("403 GET")]
    assert all("Failed to load resource" in e and ("status of 404" in e or "status of 403" in e) for e in errors), \
        errors  # only the two refusals asked for
    assert len(errors) == 2, errors
    staff.all_went_well()
