"""The desk's queue with two hundred open cases, in a real browser (Chromium via Playwright): how many rows a
1440x900 screen shows, select-all and bulk assign from the sticky bar, the state chips that filter, and a phone."""
from __future__ import annotations

import re
from datetime import timedelta
from itertools import cycle

import sqlalchemy as sa
from browser_support import Person
from playwright.sync_api import Page, expect
from support import OUTSIDE_GRIDS

from bench.figures import figure
from service.models import Case
from service.states import CaseState

SCREENSHOT_FOLDER = "desk-queue"
DESKTOP = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
ROWS_WANTED = 20  # issue 13 item 9: at least this many cases on the first screen of a 1440x900 desk
S = CaseState

# a spot inside each of the twelve demo grids (HQ01..HQ12: four columns, three rows), WGS-84
GRID_SPOTS = [(32.004 + row * 0.0095, 120.8445 + col * 0.0098) for row in range(3) for col in range(4)]
# mixed priorities: 井盖 and 路面塌陷 endanger life (2), 暴露垃圾, 安全隐患 and 下水道堵塞 are urgent (1), the rest
# not; 11 categories, 7 descriptions and 12 grids, so that every grid sees every category and description
CATEGORIES = ("B0118", "E0301", "B0101", "E0101", "B0211", "C02", "E0502", "C01", "B0405", "E0404", "E0401")
WORDS = ("", "路灯不亮", "井盖松动，电动车经过时会响",
         "小区北门东侧人行道上的路灯已经连续三个晚上不亮了，晚上骑车经过很危险，附近老人和孩子多，请尽快安排人员维修",
         "垃圾桶满了", "楼道里堆了很多纸箱和旧家具",
         "护栏被撞歪，一半伸到非机动车道上，早高峰外卖车很多，容易刮到人，建议先放锥桶再修")
# the open queue: how many of each state (200 in all), and a few finished ones for the chips' counts
OPEN_MIX = ((S.UNROUTED, 20), (S.NEW, 10), (S.DISPATCHED, 110), (S.IN_PROGRESS, 40), (S.RESOLVED, 20))
FINISHED_MIX = ((S.CLOSED, 4), (S.REJECTED, 2))


def a_realistic_queue(factory, db) -> dict[CaseState, list[str]]:
    """200 open cases over the twelve grids in every open state, of mixed categories and priorities, with long and
    short descriptions, reported over two days: some unrouted, some of those being worked overdue."""
    spots, categories, words, riders = cycle(GRID_SPOTS), cycle(CATEGORIES), cycle(WORDS), cycle(("rider1", "rider2"))
    made: dict[CaseState, list[str]] = {}
    for state, how_many in OPEN_MIX + FINISHED_MIX:
        for i in range(how_many):
            lat, lon = next(spots)
            # the unrouted ones along 虹桥社区's strip in none of its grids, 130 m apart (none a duplicate of another)
            where = ({"lat": f"{32.002 + i * 0.0012:.4f}", "lon": OUTSIDE_GRIDS["lon"]}
                     if state == S.UNROUTED else {"lat": f"{lat + i * 0.00003:.5f}", "lon": f"{lon:.5f}"})
            case = factory.case_in(state, reporter=next(riders), category=next(categories), where=where,
                                   description=next(words))
            made.setdefault(state, []).append(case.case_no)
    # reported over the last two days rather than in the last minute: each case's clock moved back by its age, so
    # the urgent ones made long ago are overdue as they would be (a factory's cases are all made just now)
    for n, case in enumerate(db.scalars(sa.select(Case).order_by(Case.id))):
        age = timedelta(minutes=(n * 97) % (48 * 60))
        case.created_at -= age
        if case.dispatched_at is not None:
            case.dispatched_at -= age
            case.deadline_at -= age
    db.commit()
    assert sum(len(made[s]) for s, _ in OPEN_MIX) == 200
    return made


class Console:
    """The console's errors on a page (a refused inline style or script shows here, not as a page error)."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)


def screen(person: Person, name: str) -> None:
    """What the screen shows now (the viewport at its scroll position, not the whole page), numbered with the
    test's other screenshots."""
    shots = person.screenshots
    shots.count += 1
    person.page.screenshot(path=str(shots.folder / f"{shots.prefix}-{shots.count:02d}-{name}.png"))


def rows_fully_on_the_first_screen(page: Page) -> int:
    """The queue's rows whose whole box lies inside the window at the top of the page."""
    page.evaluate("window.scrollTo(0, 0)")
    return page.evaluate("""() => [...document.querySelectorAll('.queue-table tbody tr')].filter(row => {
        const box = row.getBoundingClientRect();
        return box.top >= 0 && box.bottom <= window.innerHeight;
    }).length""")


def row_metrics(page: Page) -> dict:
    """The rows' heights and the table's font size, in CSS pixels."""
    return page.evaluate("""() => {
        const rows = [...document.querySelectorAll('.queue-table tbody tr')];
        const cell = rows[0].querySelector('td.no');
        return {heights: rows.map(r => r.getBoundingClientRect().height),
                font: parseFloat(getComputedStyle(cell).fontSize)};
    }""")


def inside_the_window(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    window = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= window["height"] \
        and box["x"] >= 0 and box["x"] + box["width"] <= window["width"]


def test_two_hundred_cases_show_20_plus_to_a_screen_and_staff_filter_select_all_and_assign_in_bulk(
        people, factory, db, capsys):
    made = a_realistic_queue(factory, db)
    staff = people(**DESKTOP)
    console = Console(staff.page)
    page = staff.page
    staff.log_in("staff1")
    expect(page).to_have_url(re.compile(r"/desk$"))
    rows = page.locator(".queue-table tbody tr")
    expect(rows).to_have_count(50)
    screen(staff, "first-screen-1440x900")
    staff.shot("queue-whole-page")

    # density: one line a case, readable, and at least 20 of them on the first screen
    shown = rows_fully_on_the_first_screen(page)
    with capsys.disabled():
        print()
        figure("desk_rows_per_screen", shown, ">=", ROWS_WANTED)
    assert shown >= ROWS_WANTED
    metrics = row_metrics(page)
    assert metrics["font"] >= 13
    assert min(metrics["heights"]) >= 28 and max(metrics["heights"]) < 34  # one line each: nothing wraps
    # long words are cut with an ellipsis, and kept whole in the cell's title
    long_text = page.locator(".queue-table td.text", has_text="小区北门东侧").first
    assert long_text.evaluate("td => td.scrollWidth > td.clientWidth && getComputedStyle(td).textOverflow")\
        == "ellipsis"
    assert long_text.get_attribute("title") == WORDS[3]
    # the desk's own work first, with no grid; an overdue deadline in red; urgent categories marked
    first = rows.first
    expect(first.locator(".state")).to_have_text(S.UNROUTED.zh)
    expect(first.locator("td.no-grid")).to_have_text(S.UNROUTED.zh)
    late = page.locator(".queue-table td.overdue").first
    expect(late).to_contain_text("超期")
    assert late.evaluate("td => getComputedStyle(td).color") == "rgb(163, 11, 11)"
    expect(page.locator(".queue-table .priority.p2").first).to_have_text("⚠")

    # the bulk bar: nothing ticked, so its button is off; it stays on screen at the bottom of the page
    bar = page.locator(".bulk-bar")
    expect(bar.locator("#bulk-count")).to_have_text("已选 0 件")
    expect(bar.get_by_role("button", name="批量派遣")).to_be_disabled()
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("() => window.scrollY > 0")
    assert inside_the_window(page, ".bulk-bar") and inside_the_window(page, ".queue-table thead th.c-no")
    screen(staff, "scrolled-to-the-bottom-bar-stays")
    page.evaluate("window.scrollTo(0, 0)")

    # a state chip filters with one click, and is marked as the current filter
    chip = page.locator(".queue-tabs a", has_text=S.IN_PROGRESS.zh)
    expect(chip).to_contain_text("40")
    chip.click()
    expect(page).to_have_url(re.compile(rf"/desk\?state={S.IN_PROGRESS}$"))
    expect(rows).to_have_count(40)
    expect(page.locator(".queue-table tbody .state")).to_have_text([S.IN_PROGRESS.zh] * 40)
    expect(chip).to_have_attribute("aria-current", "page")
    expect(page.locator(".queue-tabs a[aria-current=page]")).to_have_count(1)
    background = "a => getComputedStyle(a).backgroundColor"  # filled: marked for the eye, not only for a reader
    assert chip.evaluate(background) != page.locator(".queue-tabs a", has_text="全部待办").evaluate(background)
    # a run of rows: tick one, shift-click another, and every row between is ticked too
    boxes = page.locator("tbody input[name=case_no]")
    boxes.nth(2).check()
    boxes.nth(7).click(modifiers=["Shift"])
    expect(page.locator("tbody input[name=case_no]:checked")).to_have_count(6)
    expect(bar.locator("#bulk-count")).to_have_text("已选 6 件")
    expect(bar.get_by_role("button", name="批量派遣")).to_be_enabled()
    screen(staff, "chip-in-progress-a-run-ticked")

    # the desk's own tab: select all 20 and give them to one grid worker
    page.locator(".queue-tabs a", has_text=S.UNROUTED.zh).click()
    expect(rows).to_have_count(20)
    expect(page.locator(".queue-table tbody .state")).to_have_text([S.UNROUTED.zh] * 20)
    select_all = page.get_by_label("全选本页")
    select_all.check()
    expect(bar.locator("#bulk-count")).to_have_text("已选 20 件")
    page.get_by_label(f"选择 {made[S.UNROUTED][0]}").uncheck()
    assert select_all.evaluate("box => box.indeterminate") is True
    expect(bar.locator("#bulk-count")).to_have_text("已选 19 件")
    select_all.check()
    assert select_all.evaluate("box => box.indeterminate") is False
    expect(page.locator("tbody input[name=case_no]:checked")).to_have_count(20)
    bar.get_by_label("网格员").select_option(label="网格员 03")
    expect(bar.get_by_role("button", name="批量派遣")).to_be_enabled()
    screen(staff, "unrouted-all-ticked")
    bar.get_by_role("button", name="批量派遣").click()
    expect(page.locator("p.flash")).to_have_text("已派遣 20 件")
    expect(page).to_have_url(re.compile(rf"/desk\?state={S.UNROUTED}$"))
    expect(page.locator(".queue-tabs a", has_text=S.UNROUTED.zh)).to_contain_text("0")
    screen(staff, "after-bulk-assign")
    db.expire_all()
    assigned = {(c.state, c.assignee.username if c.assignee else None)
                for c in db.scalars(sa.select(Case).where(Case.case_no.in_(made[S.UNROUTED])))}
    assert assigned == {(S.DISPATCHED, "gw03")}

    assert console.errors == []
    staff.all_went_well()

    # and with scripts off, the chips still filter (links) and the bulk form still assigns (a plain form)
    plain = people(**DESKTOP, java_script_enabled=False)
    page = plain.page
    plain.log_in("staff1")
    page.locator(".queue-tabs a", has_text=S.RESOLVED.zh).click()
    expect(page.locator(".queue-table tbody .state")).to_have_text([S.RESOLVED.zh] * 20)
    expect(page.locator("#select-all")).to_be_hidden()  # it needs the script: no box that does nothing
    page.locator(".queue-tabs a", has_text=S.IN_PROGRESS.zh).click()
    two = [page.locator("tbody input[name=case_no]").nth(i) for i in (0, 1)]
    chosen = [box.get_attribute("value") for box in two]
    for box in two:
        box.check()
    page.locator(".bulk-bar").get_by_label("网格员").select_option(label="网格员 05")
    page.locator(".bulk-bar").get_by_role("button", name="批量派遣").click()
    expect(page.locator("p.flash")).to_have_text("已派遣 2 件")
    screen(plain, "no-script-bulk-assigned")
    db.expire_all()
    assert {c.assignee.username for c in db.scalars(sa.select(Case).where(Case.case_no.in_(chosen)))} == {"gw05"}
    plain.all_went_well()


def test_on_a_phone_the_queue_fits_the_width_and_shows_each_case_number_whole(people, factory, db):
    a_realistic_queue(factory, db)
    phone = people(**PHONE)
    console = Console(phone.page)
    page = phone.page
    phone.log_in("staff1")
    numbers = page.locator(".queue-table td.no a")
    expect(numbers).to_have_count(50)
    screen(phone, "phone-390x844")
    phone.shot("phone-whole-page")
    width = PHONE["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sideways to scroll to
    for i in range(10):
        box = numbers.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        # the whole number inside its cell, not cut off by an ellipsis
        assert numbers.nth(i).evaluate("a => a.parentElement.scrollWidth <= a.parentElement.clientWidth")
    assert console.errors == []
    phone.all_went_well()

    # nor does a tablet or a narrow desk window scroll sideways
    window = people(**DESKTOP)
    window.log_in("staff1")
    expect(window.page.locator(".queue-table td.no a")).to_have_count(50)  # the queue is there, not on its way
    for width in (761, 800, 1024, 1280):
        window.page.set_viewport_size({"width": width, "height": 900})
        assert window.page.evaluate("document.documentElement.scrollWidth") <= width, width
        if width == 800:
            screen(window, "window-800")
