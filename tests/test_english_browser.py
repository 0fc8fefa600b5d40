"""The rider page in English (issue 13, item 5) in Chromium at phone size: a report, 我的上报, timelines with
dispatch, duplicate, rework, extension and close events, the bell, empty states and failures, and the login page
— with no Chinese left on screen but proper names (grids and their streets, people, units) and what people typed."""
from __future__ import annotations

import json
import re
from pathlib import Path

import sqlalchemy as sa
from browser_support import RIDER_PHONE, take_photos
from images import photo_jpeg
from playwright.sync_api import Page, expect
from support import DEMO_PASSWORD

from service.models import Case, User
from service.states import CaseState

SCREENSHOT_FOLDER, STRETCHED_SCREENSHOTS = "english", True  # test-artifacts/english/

UNITS = Path(__file__).resolve().parent.parent / "config" / "district" / "units.json"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# what a person typed, which no one translates: a description, staff's reasons and notes
TYPED = ("路灯不亮，晚上很黑", "等待配件", "灯罩未装回", "现场核查已修复", "非公共设施")
# the switch back to Chinese says so in Chinese, as a language's name is written in that language
SWITCH = "中文"
# every text a person sees: the visible text, the page's title, and the words of visible elements' attributes
SEEN = """() => [document.title, document.body.innerText].concat(
  Array.from(document.querySelectorAll("[aria-label], [placeholder], [title], img[alt]"))
    .filter((n) => n.checkVisibility())
    .flatMap((n) => ["aria-label", "placeholder", "title", "alt"].map((a) => n.getAttribute(a) || "")))
  .join("\\n")"""
GRID_WORDS = """async () => { const grids = await (await fetch("/api/v1/grids")).json();
  const communities = await (await fetch("/api/v1/communities")).json();
  return grids.features.flatMap((f) => Object.values(f.properties).filter((v) => typeof v === "string"))
    .flatMap((v) => [v, ...v.split("·")])
    .concat(communities.flatMap((c) => [c.name, c.street_office.name])); }"""  # a grid's name: on two lines, at "·"


def proper_names(page: Page, db) -> list[str]:
    """Names that stay as they are in any language: the grids' (and their streets'), the communities' and their
    street offices', the people's, the units', what people typed, and 中文 on the language switch; longest first,
    so a longer one goes before a name inside it."""
    grids = page.evaluate(GRID_WORDS)
    people = list(db.scalars(sa.select(User.display_name)))
    units = [u["name"] for u in json.loads(UNITS.read_text(encoding="utf-8"))["units"]]
    return sorted({*grids, *people, *units, *TYPED, SWITCH}, key=len, reverse=True)


def no_chinese_but_names(page: Page, names: list[str], where: str) -> None:
    """Nothing Chinese on the screen once the proper names and typed words are taken out."""
    text = page.evaluate(SEEN)
    for name in names:
        text = text.replace(name, "")
    left = [line for line in text.splitlines() if CJK.search(line)]
    assert left == [], f"{where}: Chinese left in English mode: {left}"


def case_of(db, case_no: str) -> Case:
    db.expire_all()
    return db.scalar(sa.select(Case).where(Case.case_no == case_no))


def cases_with_every_kind_of_event(factory) -> dict[str, Case]:
    """rider1's cases: one closed after an extension and a rework, one merged by the pipeline as a duplicate of
    rider2's, one outside every grid and refused; each with the notification its reporter gets."""
    worked = factory.case_in(CaseState.DISPATCHED)
    factory.act(worked, "extend", deadline="2099-01-01T18:00", note="等待配件")
    factory.act(worked, "start", by="gw06")
    factory.after_photo(worked)
    factory.act(worked, "resolve", by="gw06")
    factory.act(worked, "rework", note="灯罩未装回")
    factory.act(worked, "resolve", by="gw06")
    factory.act(worked, "close", note="现场核查已修复")
    original = factory.case_in(CaseState.DISPATCHED, reporter="rider2", category="E0301", seed=4242)
    repeat = factory.process(factory.report("rider1", category="E0301", seed=4242))
    assert repeat.state == CaseState.DUPLICATE and repeat.duplicate_of_id == original.id
    refused = factory.case_in(CaseState.UNROUTED)
    factory.act(refused, "reject", note="非公共设施")
    return {"worked": worked, "repeat": repeat, "original": original, "refused": refused}


def in_english_at_the_page(people) -> tuple:
    """rider1 on a phone, logged in in Chinese, switched to English."""
    rider = people(**RIDER_PHONE)
    rider.log_in("rider1")
    page = rider.page
    expect(page.locator("#tiles .tile").first).to_be_visible()
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#where-text")).to_contain_text("±12 m")
    return rider, page


def open_case(page: Page, case_no: str) -> None:
    page.goto(f"/#case/{case_no}")
    expect(page.locator("#case .timeline li").first).to_be_visible()


def test_a_rider_in_english_reads_no_chinese_but_names_on_any_screen(people, factory, db):
    made = cases_with_every_kind_of_event(factory)
    rider, page = in_english_at_the_page(people)
    names = proper_names(page, db)
    no_chinese_but_names(page, names, "report form")

    # a report, sent in English, with the rider's own words
    take_photos(page, photo_jpeg(seed=77))
    page.get_by_role("tab", name="Incidents").click()
    page.locator("#tiles .tile", has_text="Damaged road").click()
    expect(page.locator("#nearby")).to_be_visible()  # rider2's open case, at the same spot
    page.locator("#description").fill(TYPED[0])
    rider.shot("form")
    no_chinese_but_names(page, names, "filled form with nearby cases")
    page.get_by_role("button", name="Send report").click()
    sent = page.get_by_role("status").filter(has_text="Reported: case")
    expect(sent).to_be_visible(timeout=20_000)
    rider.shot("sent")
    no_chinese_but_names(page, names, "sent")

    page.get_by_role("link", name="My reports").click()
    expect(page.locator("#mine-list li")).to_have_count(5)  # and rider2's case, joined by the duplicate
    expect(page.locator("#mine-list li.joined")).to_contain_text("Me too")
    expect(page.locator("#mine-list")).to_contain_text("Not accepted")
    rider.shot("mine")
    no_chinese_but_names(page, names, "my reports")

    worked = made["worked"].case_no
    open_case(page, worked)
    timeline = page.locator("#case .timeline")
    for words in ("Failed the check: to be reworked: 灯罩未装回", "Deadline moved from ",
                  " to 2099-01-01 18:00: 等待配件", "Work started", "Fixed", "Dispatched to ", "Reported", "System"):
        expect(timeline).to_contain_text(words)
    expect(timeline.locator("li").first).to_contain_text("Closed")
    expect(timeline.locator("li").first).to_contain_text("现场核查已修复")
    rider.shot("closed-case")
    no_chinese_but_names(page, names, "closed case")

    open_case(page, made["repeat"].case_no)
    expect(page.locator("#case")).to_contain_text(f"Same as case {made['original'].case_no}")
    expect(timeline).to_contain_text(f"The same problem as {made['original'].case_no} (")
    expect(timeline).to_contain_text("counted as “me too”")
    rider.shot("duplicate")
    no_chinese_but_names(page, names, "duplicate")

    open_case(page, made["refused"].case_no)
    expect(timeline).to_contain_text("In none of the community's grids: awaiting dispatch by hand")
    expect(page.locator("#case .verdict")).to_have_text("Reason: 非公共设施")
    rider.shot("refused")
    no_chinese_but_names(page, names, "refused")

    page.locator("#bell-button").click()
    expect(page.locator("#bell-list li")).to_have_count(3)
    expect(page.locator("#bell-list")).to_contain_text(f"Your report {worked} Street light is closed. Thank you!")
    expect(page.locator("#bell-list")).to_contain_text(f"is the same problem as {made['original'].case_no}")
    expect(page.locator("#bell-list")).to_contain_text("was not accepted: 非公共设施")
    rider.shot("bell")
    no_chinese_but_names(page, names, "notifications")
    rider.all_went_well()


def test_empty_states_and_failures_in_english(people, db):
    rider, page = in_english_at_the_page(people)
    names = proper_names(page, db)
    page.route("**/api/v1/me/notifications", lambda route: route.fulfill(json={"unread": 0, "items": []}))
    page.locator("#bell-button").click()
    expect(page.locator("#bell-empty")).to_have_text("No notifications yet.")
    rider.shot("no-notifications")
    page.locator("#bell-button").click()
    page.get_by_role("link", name="My reports").click()
    expect(page.locator("#mine-empty")).to_have_text("No reports yet.")
    expect(page.locator("#points-total")).to_have_text("0")
    rider.shot("empty")
    no_chinese_but_names(page, names, "empty")

    page.route("**/api/v1/me/reports*", lambda route: route.abort())
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("status").filter(has_text="No signal, try again later")).to_be_visible()
    page.route("**/api/v1/me/reports*", lambda route: route.fulfill(status=500, json={}))
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("alert").filter(has_text="Could not load: refresh later")).to_be_visible()
    page.unroute("**/api/v1/me/notifications")
    page.route("**/api/v1/me/notifications", lambda route: route.abort())
    page.locator("#bell-button").click()
    expect(page.locator("#bell-empty")).to_have_text("Could not load the notifications: try again later")
    rider.shot("failures")
    no_chinese_but_names(page, names, "failures")

    page.goto("/#case/20990101-0001")
    expect(page.locator("#case")).to_contain_text("No case 20990101-0001")
    no_chinese_but_names(page, names, "unknown case")
    rider.failed.clear()  # the refusals asked for above


def test_the_login_page_speaks_the_language_chosen_on_the_phone_or_asked_for_by_the_browser(people, db):
    rider, page = in_english_at_the_page(people)
    names = proper_names(page, db)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("status")).to_have_text("Logged out")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    rider.shot("login-en")
    no_chinese_but_names(page, names, "login page")
    page.get_by_label("Username").fill("rider1")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password")
    rider.shot("login-wrong-en")
    no_chinese_but_names(page, names, "wrong password")

    page.get_by_role("link", name="中文").click()  # the page's own switch: kept for the rider page too
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    rider.shot("login-zh")
    page.get_by_label("用户名").fill("rider1")
    page.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="提交上报")).to_be_visible()
    rider.failed.clear()  # the wrong password's 401

    stranger = people(**RIDER_PHONE)  # a phone whose browser asks for English first, and no choice kept
    stranger.page.route("**/*", lambda route: route.continue_(
        headers={**route.request.headers, "accept-language": "en-GB,en;q=0.9"}))
    stranger.page.goto("/login")
    expect(stranger.page.get_by_role("heading", name="Log in")).to_be_visible()
    no_chinese_but_names(stranger.page, names, "login page for an English browser")
    stranger.page.get_by_role("link", name="中文").click()
    expect(stranger.page.get_by_role("heading", name="登录")).to_be_visible()
    stranger.all_went_well()
