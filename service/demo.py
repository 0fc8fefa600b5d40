"""Demo data: a realistic fortnight of cases in the configured community (its grids, workers, categories, people),
reported, routed and worked through intake, the pipeline and the desk's actions at moments in the past."""
from __future__ import annotations

import heapq
import io
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry import Point, shape
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.actions import DeskRules, perform
from service.cases import IntakeLimits, ReportForm, add_after_photos, take_report
from service.db import utcnow
from service.dispatch import CURRENT_GRIDS
from service.grids import DistrictIndex
from service.lifecycle import IllegalTransition
from service.local_time import local_time
from service.models import Case, CaseEvent, Category, Grid, Notification, User, WebhookMessage
from service.photo_store import PhotoStore
from service.pipeline import PipelineRules, process_case, process_unprocessed_photos
from service.refusals import Refused
from service.states import FINAL, WORKED, CaseState
from service.weekly import Week

DEMO_ID = "demo-"  # every demo case's client_report_id starts so: how a later run finds an earlier one's cases
# how often riders report, by local hour: quiet at night, peaks at lunch and dinner (their delivery rushes)
HOURLY = (.03, .02, .02, .02, .03, .08, .2, .45, .8, .8, .8, 1, 1, .7, .6, .6, .7, 1, 1, .9, .6, .5, .25, .1)
# the categories riders meet most; any other active one weighs 1
COMMON = {"B0118": 12, "E0101": 10, "E0502": 9, "E0501": 8, "E0301": 7, "C01": 7, "E0201": 6, "B0305": 5,
          "B0211": 4, "E0103": 4, "B0102": 3, "B0103": 3, "E0404": 3, "C02": 3, "B0402": 3, "E0102": 3}
WORDS = {"B0118": ("路灯不亮", "路灯白天也亮着", "灯杆有点歪"), "E0101": ("路边垃圾没人清", "垃圾桶旁堆了好几袋垃圾"),
         "E0502": ("电动车堵住了消防通道", "共享单车乱停挡路"), "E0501": ("人行道上堆满建材",),
         "E0301": ("路面有坑，电动车容易摔", "人行道砖松动"), "C01": ("楼道里堆了纸箱和旧家具",),
         "E0201": ("电线杆上贴满小广告",), "B0102": ("井盖松动，车压过去响",), "B0211": ("护栏被撞歪了",)}
NOTES = {"close": ("核查通过", "现场核实已修复", "照片核对无误，结案"),
         "rework": ("现场核查仍未修好", "处置照片与问题不符", "只处理了一半"),
         "reject": ("属业主自家物品，非公共设施", "照片无法辨认问题", "不属本社区管辖"),
         "extend": ("等待配件到货", "需协调供电公司", "雨天无法施工"),
         "resolve": ("已处置完毕", "已清理", "已修复", "已更换")}
UNITS = ("wuye", "shizheng")  # what staff hand an unroutable case to, when not to a grid


class DemoRefused(Refused):
    """Demo data we will not make: the weeks have it already (without force), or the week has not begun."""


@dataclass(frozen=True)
class DemoTools:
    """What making demo data uses of the running service: the photo store, intake's limits, the district index,
    and the pipeline's and the desk's rules, as the settings give them."""

    store: PhotoStore
    limits: IntakeLimits
    district: DistrictIndex
    pipeline: PipelineRules
    desk: DeskRules


@dataclass(frozen=True)
class DemoSummary:
    """What one run made: for which weeks, from which seed, and how the cases stand now."""

    week: Week
    seed: int
    made: int
    by_state: dict[CaseState, int]
    reworked: int
    extended: int
    overdue: int
    dropped: int  # cases one of whose steps the lifecycle refused: left as that step found them

    @property
    def weeks(self) -> tuple[Week, Week]:
        return self.week.shifted(-1), self.week


@dataclass
class Plan:
    """One demo case as it will go: who reports what, where and when, then each step and its moment."""

    n: int
    at: datetime
    reporter: User
    category: Category
    point: tuple[float, float] | None
    steps: list[tuple[datetime, str, dict]] = field(default_factory=list)
    case: Case | None = None
    alive: bool = True

    def open_until(self) -> datetime | None:
        """When it is closed, rejected or merged (None: it stays open)."""
        return next((t for t, kind, _ in self.steps if kind in ("close", "reject", "merge")), None)


def _hours(h: float) -> timedelta:
    return timedelta(hours=h)


class Planner:
    """Draws a fortnight of plans from one seed: the same seed, weeks and community give the same plans."""

    def __init__(self, session: Session, rng: random.Random, tools: DemoTools, tz: str):
        self.rng, self.tz = rng, tz
        self.grids = list(session.scalars(sa.select(Grid).where(CURRENT_GRIDS).order_by(Grid.code)))
        self.shapes = [shape(g.polygon) for g in self.grids]
        self.busy = [rng.uniform(.4, 1.8) for _ in self.grids]  # some grids see more than others
        self.categories = list(session.scalars(sa.select(Category).where(Category.active.is_(True))
                                               .order_by(Category.code)))
        self.riders = list(session.scalars(sa.select(User).where(User.role == "reporter", User.active.is_(True))
                                           .order_by(User.username)))
        self.index = tools.district
        if not self.grids or not self.categories or not self.riders:
            raise DemoRefused("conflict", "no_community",
                              "社区数据未载入（网格、类别、上报人），请先运行 district load",
                              "the community is not loaded (grids, categories, reporters): run district load first")

    def moment(self, start: datetime, end: datetime) -> datetime:
        """A moment in [start, end) as riders report: by day evenly, by hour as HOURLY says."""
        while True:
            at = start + (end - start) * self.rng.random()
            if self.rng.random() < HOURLY[at.astimezone(ZoneInfo(self.tz)).hour]:
                return at.replace(microsecond=0)

    def point_in(self, i: int) -> tuple[float, float]:
        """A point inside grid i."""
        west, south, east, north = self.shapes[i].bounds
        while True:
            lat, lon = self.rng.uniform(south, north), self.rng.uniform(west, east)
            if self.shapes[i].contains(Point(lon, lat)):
                return round(lat, 6), round(lon, 6)

    def point_outside(self) -> tuple[float, float] | None:
        """A point in a community but in none of its grids (or none: the phone sent no fix)."""
        if self.rng.random() < .2:
            return None
        south, west, north, east = self.index.bounds
        for _ in range(400):
            lat, lon = round(self.rng.uniform(south, north), 6), round(self.rng.uniform(west, east), 6)
            placed = self.index.locate(lat, lon)
            if placed is not None and placed.grid_id is None:
                return lat, lon
        return None

    def category(self) -> Category:
        return self.rng.choices(self.categories, [COMMON.get(c.code, 1) for c in self.categories])[0]

    def note(self, kind: str) -> str:
        return self.rng.choice(NOTES[kind])

    def case(self, n: int, at: datetime, workers: dict[int, User]) -> Plan:
        """A new report: by a rider anywhere, or by a grid worker on their rounds in their own grid."""
        rng = self.rng
        grid = rng.choices(range(len(self.grids)), self.busy)[0]
        worker = workers.get(self.grids[grid].worker_id)
        reporter = worker if worker is not None and rng.random() < .15 else rng.choice(self.riders)
        return Plan(n, at, reporter, self.category(), self.point_in(grid))

    def worked(self, plan: Plan, d: datetime) -> None:
        """Steps from a dispatch at d: taken on, fixed (late now and then), checked and closed; some sent back for
        rework, some extended, some never fixed (overdue once the deadline passes)."""
        rng, hours = self.rng, plan.category.deadline_hours
        urgent = plan.category.priority > 0
        check = (lambda: _hours(rng.uniform(.1, .8))) if urgent else (lambda: _hours(rng.uniform(.3, 5)))
        start = d + _hours(hours * rng.uniform(.05, .3))
        fate = rng.random()
        if fate < .09:  # stalls: perhaps taken on, never fixed
            plan.steps += [(start, "start", {})] if rng.random() < .6 else []
            return
        plan.steps.append((start, "start", {}))
        late = rng.random() < .14
        resolve = d + _hours(hours * (rng.uniform(1.05, 1.8) if late else rng.uniform(.35, .85)))
        if fate < .17:  # extended before the deadline, fixed before the new one
            extend = start + (d + _hours(hours) - start) * rng.uniform(.3, .8)
            deadline = d + _hours(hours + rng.choice((24, 48, 72)))
            plan.steps.append((extend, "extend", {"deadline": local_time(deadline, self.tz).replace(" ", "T"),
                                                  "note": self.note("extend")}))
            resolve = extend + (deadline - extend) * rng.uniform(.2, .7)
        plan.steps.append((resolve, "resolve", {"note": self.note("resolve")}))
        if fate < .25:  # sent back once, fixed again
            rework = resolve + check()
            plan.steps.append((rework, "rework", {"note": self.note("rework")}))
            resolve = rework + _hours(max(1.0, hours * rng.uniform(.1, .4)))
            plan.steps.append((resolve, "resolve", {"note": self.note("resolve")}))
        plan.steps.append((resolve + check(), "close", {"note": self.note("close")}))

    def fate(self, plan: Plan) -> None:
        """What becomes of a report: rejected, unroutable (routed by hand, or still waiting), or worked."""
        rng, d = self.rng, plan.at + timedelta(minutes=2)  # the pipeline's dispatch
        roll = rng.random()
        if roll < .05:
            plan.steps.append((d + _hours(rng.uniform(.3, 6)), "reject", {"note": self.note("reject")}))
        elif roll < .12:
            plan.point = self.point_outside()
            if rng.random() < .55:
                assigned = d + _hours(rng.uniform(.5, 8))
                to = ({"unit": rng.choice(UNITS)} if rng.random() < .5 else
                      {"grid": rng.choice(self.grids).code})
                plan.steps.append((assigned, "assign", {**to, "note": "人工派遣"}))
                self.worked(plan, assigned)
        else:
            self.worked(plan, d)

    def duplicate(self, n: int, original: Plan, end: datetime) -> Plan | None:
        """Someone else's report of the same problem a little later, merged by staff while the original is open."""
        rng = self.rng
        closes = original.open_until() or end
        latest = min(closes - _hours(1), original.at + _hours(48), end)
        if original.point is None or latest <= original.at + _hours(1):
            return None
        at = self.moment(original.at + _hours(.5), latest)
        others = [r for r in self.riders if r.id != original.reporter.id] or self.riders
        lat, lon = original.point
        plan = Plan(n, at, rng.choice(others), original.category,
                    (round(lat + rng.uniform(-1.5e-4, 1.5e-4), 6), round(lon + rng.uniform(-1.5e-4, 1.5e-4), 6)))
        merge = min(at + _hours(rng.uniform(.3, 3)), closes - _hours(.5))
        if merge > at + timedelta(minutes=3):
            plan.steps.append((merge, "merge", {"original": original}))
        return plan


def plans_for(session: Session, tools: DemoTools, start: datetime, end: datetime, cases: int, seed: int,
              tz: str) -> list[Plan]:
    """The plans of `cases` reports between start and end, about one in twenty a duplicate, by report time."""
    planner = Planner(session, random.Random(seed), tools, tz)
    workers = {u.id: u for u in session.scalars(sa.select(User).where(User.role == "grid_worker"))}
    plans = []
    for n in range(cases - cases // 20):
        plan = planner.case(n, planner.moment(start, end), workers)
        planner.fate(plan)
        plans.append(plan)
    originals = [p for p in plans if p.category.priority == 0 and any(k == "close" for _, k, _ in p.steps)]
    for n in range(len(plans), cases):
        made = planner.duplicate(n, planner.rng.choice(originals), end) if originals else None
        if made is not None:
            plans.append(made)
    return sorted(plans, key=lambda p: p.at)


def _label_font(size: int):
    """A CJK font for the pictures' words if the machine has one (Debian's fonts-noto-cjk), else Pillow's own."""
    try:
        return ImageFont.truetype("NotoSansCJK-Bold.ttc", size)
    except OSError:
        return None


def demo_photo(rng: random.Random, label: str, size=(480, 360)) -> bytes:
    """A small real JPEG: muted colour fields, each its own picture (alike ones at one spot would be merged as
    duplicates), with the category's name on a card and 演示 (demo) in a corner, so no one takes it for a photo."""
    fields = Image.frombytes("RGB", (8, 6), bytes(90 + rng.randrange(120) for _ in range(8 * 6 * 3)))
    img = fields.resize(size, Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    w, h = size
    lines = label.split()
    font = _label_font(min(44, int(w * .54 / max(len(line) for line in lines))))
    draw.rounded_rectangle((w * .2, h * .3, w * .8, h * .7), radius=14, fill=(255, 255, 255), outline=(40, 40, 40),
                           width=3)
    draw.multiline_text((w / 2, h / 2), "\n".join(lines) if font else "DEMO", fill=(20, 20, 20), anchor="mm",
                        align="center", font=font or ImageFont.load_default(36))
    draw.text((12, 10), "演示 DEMO" if font else "DEMO", fill=(255, 255, 255), font=_label_font(20) or None)
    buf = io.BytesIO()
    camera = Image.Exif()
    camera[0x010F], camera[0x0110] = "Demo", "随手拍演示"  # Make, Model: as a phone's photo names its camera
    img.save(buf, "JPEG", quality=80, exif=camera.tobytes())
    return buf.getvalue()


class Run:
    """Carries the plans out in the order of their moments, each step as the app or the worker would take it."""

    def __init__(self, session: Session, tools: DemoTools, offset: int, seed: int):
        self.session, self.tools, self.offset = session, tools, offset
        self.photos = random.Random(f"{seed}-{offset}-photos")  # another run's photos differ: no merges by sight
        self.grids = tools.district
        staff = list(session.scalars(sa.select(User).where(User.role == "staff", User.active.is_(True))
                                     .order_by(User.username)))
        self.staff = next((u for u in staff if u.community_id is None and u.street_office_id is None),
                          staff[0] if staff else None)
        self.community_staff: dict[int, User] = {}  # who works each community's desk: its first staff member
        for person in staff:
            if person.community_id is not None:
                self.community_staff.setdefault(person.community_id, person)
        if self.staff is None:
            raise DemoRefused("conflict", "no_staff", "没有工作人员账号，请先运行 district load",
                              "no staff account: run district load first")

    def report(self, plan: Plan, at: datetime) -> None:
        lat, lon = plan.point or (None, None)
        form = ReportForm(category=plan.category.code, lat=None if lat is None else str(lat),
                          lon=None if lon is None else str(lon), accuracy_m=str(self.photos.choice((5, 8, 12, 20, 30))),
                          description=self.photos.choice(WORDS.get(plan.category.code, ("",))),
                          client_report_id=f"{DEMO_ID}{self.offset + plan.n:05d}")
        t, snap = self.tools, demo_photo(self.photos, plan.category.name)
        plan.case = take_report(self.session, t.store, plan.reporter, form, [io.BytesIO(snap)],
                                t.limits, t.district, t.pipeline.timezone, now=at).case
        process_case(self.session, t.store, self.grids, t.pipeline, plan.case.id, now=at + timedelta(seconds=90))

    def act(self, plan: Plan, at: datetime, kind: str, params: dict) -> None:
        case, t = plan.case, self.tools
        desk = self.community_staff.get(case.community_id, self.staff)
        actor = (case.assignee or desk) if kind in ("start", "resolve") else desk
        if kind == "resolve":
            fixed = demo_photo(self.photos, f"{case.category.name} 已处置")
            add_after_photos(self.session, t.store, case, [io.BytesIO(fixed)], t.limits)
            process_unprocessed_photos(self.session, t.store, t.pipeline, case.id)
        if kind == "merge":
            original = params["original"].case
            params = {"duplicate_of": original.case_no if original else ""}
        perform(self.session, case, kind, actor, params, t.desk, now=at)

    def carry_out(self, plans: list[Plan], now: datetime) -> int:
        """Every step up to now, in time order across all cases; a refused step ends its case's plan (the case is
        left as it stands). How many plans ended so."""
        steps = [(p.at, p.n, 0, "report", {}, p) for p in plans]
        steps += [(at, p.n, i, kind, params, p) for p in plans for i, (at, kind, params) in enumerate(p.steps, 1)]
        heapq.heapify(steps)
        dropped = 0
        while steps and steps[0][0] <= now:
            at, _, _, kind, params, plan = heapq.heappop(steps)
            if not plan.alive:
                continue
            try:
                self.report(plan, at) if kind == "report" else self.act(plan, at, kind, params)
            except (Refused, IllegalTransition, StaleDataError):
                self.session.rollback()
                plan.alive, dropped = False, dropped + 1
        return dropped


def demo_cases(session: Session, start: datetime, end: datetime):
    """The demo cases reported in [start, end)."""
    return sa.select(Case.id).where(Case.client_report_id.like(f"{DEMO_ID}%"), Case.created_at >= start,
                                    Case.created_at < end)


def make_demo_week(session: Session, tools: DemoTools, week: Week, cases: int = 300, seed: int | None = None,
                   force: bool = False, now: datetime | None = None) -> DemoSummary:
    """Make `cases` demo reports over the week before `week` and `week` itself (so far, when it is under way),
    each worked through the lifecycle as far as now; refused when those weeks have demo cases already, unless
    `force` (then another set is added beside them). Robot messages for them are dropped, never sent."""
    now = now or utcnow()
    tz = tools.pipeline.timezone
    start, end = week.shifted(-1).start(tz), min(week.end(tz), now)
    if week.start(tz) > now:
        raise DemoRefused("invalid", "week_not_begun", f"{week.name} 尚未开始，无法生成演示数据",
                          f"{week.name} has not begun: there is nothing to make yet", "week")
    there = session.scalar(sa.select(sa.func.count()).select_from(demo_cases(session, start, end).subquery()))
    if there and not force:
        raise DemoRefused("conflict", "demo_exists",
                          f"{week.shifted(-1).name} 至 {week.name} 已有 {there} 件演示案件；要再添加一批请加 --force",
                          f"{week.shifted(-1).name} and {week.name} have {there} demo cases already: add --force "
                          "to add another set beside them")
    seed = random.SystemRandom().randrange(1, 10**6) if seed is None else seed
    offset = session.scalar(sa.select(sa.func.count()).where(Case.client_report_id.like(f"{DEMO_ID}%")))
    plans = plans_for(session, tools, start, end, cases, seed, tz)
    run = Run(session, tools, offset, seed)
    dropped = run.carry_out(plans, now)
    made = [p.case.id for p in plans if p.case is not None]
    return _settle(session, week, seed, made, dropped, now)


def _settle(session: Session, week: Week, seed: int, made: list[int], dropped: int, now: datetime) -> DemoSummary:
    """Drop the unsent robot messages of the made cases, mark read what their final cases told people, and say
    how the cases stand."""
    ids = sa.select(Case.id).where(Case.id.in_(made))
    session.execute(sa.delete(WebhookMessage).where(WebhookMessage.case_id.in_(ids), WebhookMessage.sent_at.is_(None)))
    final = sa.select(Case.id).where(Case.id.in_(made), Case.state.in_(FINAL))
    session.execute(sa.update(Notification).where(Notification.case_id.in_(final), Notification.read_at.is_(None))
                    .values(read_at=now))
    session.commit()
    by_state = Counter({CaseState(s): n for s, n in session.execute(
        sa.select(Case.state, sa.func.count()).where(Case.id.in_(made)).group_by(Case.state))})
    events = dict(session.execute(sa.select(CaseEvent.action, sa.func.count(sa.distinct(CaseEvent.case_id)))
                                  .where(CaseEvent.case_id.in_(made), CaseEvent.action.in_(("rework", "extend")))
                                  .group_by(CaseEvent.action)).all())
    overdue = session.scalar(sa.select(sa.func.count()).where(Case.id.in_(made), Case.state.in_(WORKED),
                                                              Case.deadline_at < now))
    return DemoSummary(week, seed, len(made), dict(by_state), events.get("rework", 0), events.get("extend", 0),
                       overdue, dropped)
