"""The weekly 公示: each community's riders ranked by the points they earned there in the week and the quarter,
names masked or 匿名 by choice; posted by the community's robot with the Monday report; as a picture drawn in the
font we ship (Chinese, not boxes) and an A4 poster printed from the browser."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from io import BytesIO

import numpy
import pytest
import sqlalchemy as sa
from browser_support import ARTIFACTS, in_ci
from fontTools.ttLib import TTFont
from PIL import Image, ImageFont

from service import periodic
from service.ledger import PointsRules, Rule
from service.models import Community, PointsEntry, User, WebhookMessage
from service.poster import FONT, drawable, poster_png
from service.publicity import ANONYMOUS, masked, robot_text, weekly_publicity
from service.weekly import Week

RULES = PointsRules()
TZ = "Asia/Shanghai"
FOLDER = ARTIFACTS / "publicity"


@pytest.mark.parametrize("name, shown", [("张伟华", "张*华"), ("骑手 张师傅", "张*傅"), ("李娜", "李*"),
                                         ("欧阳娜娜", "欧*娜"), ("王", "王*"), ("", "*"), ("Zhang Wei", "W*i")])
def test_a_name_shows_its_first_and_last_character(name, shown):
    assert masked(name) == shown


def _earn(db, username: str, points: int, at: datetime, community: str = "hqsq", rule: Rule = Rule.REPORT_CLOSED):
    user = db.scalar(sa.select(User).where(User.username == username))
    community_id = db.scalar(sa.select(Community.id).where(Community.code == community))
    db.add(PointsEntry(user_id=user.id, rule=rule, points=points, created_at=at, lot=RULES.lot(at),
                       community_id=community_id))
    db.commit()


@pytest.fixture
def week_of_points(db):
    """Last week's points at 虹桥社区: rider1 15, rider2 15, rider3 5 (and 50 at another community), rider4 who
    asked to be anonymous 10; the week before, rider5 20 (in the quarter's ranking only, when in this quarter)."""
    week = Week.containing(datetime.now(UTC), TZ).shifted(-1)
    tuesday = week.start(TZ) + timedelta(days=1, hours=3)
    for name, points in (("rider1", 15), ("rider2", 15), ("rider3", 5), ("rider4", 10)):
        _earn(db, name, points, tuesday)
    _earn(db, "rider3", 50, tuesday, community="xssq")
    _earn(db, "rider5", 20, tuesday - timedelta(days=7))
    db.execute(sa.update(User).where(User.username == "rider4").values(ranked_by_name=False))
    db.commit()
    return week


def test_the_weeks_ranking_counts_the_communitys_points_ties_share_a_place_and_a_choice_is_kept(db, week_of_points):
    community = db.scalar(sa.select(Community).where(Community.code == "hqsq"))
    data = weekly_publicity(db, community, week_of_points, RULES, datetime.now(UTC))
    rows = [(s.rank, s.name, s.points, s.flowers) for s in data["week_ranking"]]
    assert [(rank, points, flowers) for rank, _, points, flowers in rows] == [(1, 15, 3), (1, 15, 3), (3, 10, 2),
                                                                               (4, 5, 1)]
    names = {u.username: masked(u.display_name) for u in db.scalars(sa.select(User))}
    assert {rows[0][1], rows[1][1]} == {names["rider1"], names["rider2"]}
    assert (rows[2][1], rows[3][1]) == (ANONYMOUS, names["rider3"])  # rider3's 50 elsewhere count elsewhere
    quarter_points = [s.points for s in data["quarter_ranking"]]
    same_quarter = data["quarter"] == RULES.lot(week_of_points.start(TZ) - timedelta(days=6))
    assert quarter_points[:2] == ([20, 15] if same_quarter else [15, 15])
    text = robot_text(data)
    assert text.startswith(f"【紫藤花公示 {week_of_points.name} 虹桥社区】") and "1. " in text and ANONYMOUS in text


def test_the_monday_job_posts_each_communitys_publicity_to_its_robot(db, week_of_points):
    db.execute(sa.update(Community).where(Community.code == "hqsq").values(webhook_url="http://127.0.0.1:9/robot"))
    db.commit()
    periodic.build_and_announce_weeks(db, week_of_points.name, TZ, datetime.now(UTC), None, RULES)
    posted = db.scalars(sa.select(WebhookMessage.content).where(WebhookMessage.url == "http://127.0.0.1:9/robot")).all()
    assert any(p.startswith("【随手拍周报") for p in posted)
    assert any(p.startswith("【紫藤花公示") and "15 积分（3 朵紫藤花）" in p for p in posted)


def _notdef(font: ImageFont.FreeTypeFont) -> bytes:
    return bytes(font.getmask("\U000F0000"))  # a private-use character no font of ours has: the box


def test_rare_characters_of_names_are_in_the_font_and_any_beyond_it_is_drawn_as_a_star():
    cmap = TTFont(str(FONT)).getBestCmap()
    assert all(ord(c) in cmap for c in "堃玥喆昇珺琍張偉華欧阳娜")
    assert drawable("王*\U00020BB7") == "王**"  # 𠮷, beyond GBK: a * rather than a box


def test_the_picture_is_drawn_in_chinese_glyphs_not_boxes(db, week_of_points):
    community = db.scalar(sa.select(Community).where(Community.code == "hqsq"))
    data = weekly_publicity(db, community, week_of_points, RULES, datetime.now(UTC))
    png = poster_png(data, "2026-12-07 08:00")
    image = Image.open(BytesIO(png))
    assert image.format == "PNG" and image.width == 1080 and 900 < image.height < 3000
    FOLDER.mkdir(parents=True, exist_ok=True)
    (FOLDER / "poster.png").write_bytes(png)
    words = "紫藤花积分公示本周排行本季度累计名次姓名积分结案另有人获得暂无进行中生成于"
    words += "不愿公示者显示为匿名每季度末可到社区兑换点兑换生活用品"
    words += "".join(s.name for s in data["week_ranking"]) + data["community"] + data["office"]
    cmap = TTFont(str(FONT)).getBestCmap()
    assert not [c for c in words if ord(c) not in cmap and not c.isspace()]
    font = ImageFont.truetype(str(FONT), 32)
    box = _notdef(font)
    assert [c for c in set(words) if not c.isspace() and bytes(font.getmask(c)) == box] == []
    header = numpy.asarray(image.convert("RGB"))[30:120, 60:600]
    assert (header > 240).all(axis=2).sum() > 2000  # the title's white strokes on the wisteria band


def test_a_rider_chooses_to_be_anonymous_on_the_points_page(people, db):
    rider = people(viewport={"width": 390, "height": 844})
    rider.log_in("rider2")
    rider.page.goto("/wallet")
    rider.page.get_by_role("button", name="改为匿名").click()
    assert rider.page.get_by_role("status").inner_text().startswith("公示中将显示为")
    db.expire_all()
    assert db.scalar(sa.select(User.ranked_by_name).where(User.username == "rider2")) is False
    rider.page.get_by_role("button", name="显示姓名").click()
    db.expire_all()
    assert db.scalar(sa.select(User.ranked_by_name).where(User.username == "rider2")) is True
    rider.all_went_well()


def test_the_poster_prints_on_one_a4_page_with_its_chinese(people, db, week_of_points):
    staff = people(viewport={"width": 1280, "height": 900})
    staff.log_in("staff1")
    page = staff.page
    page.goto(f"/desk/publicity?community=hqsq&week={week_of_points.name}")
    assert "张*傅" in page.locator("table").first.inner_text()
    picture = page.request.get(f"/desk/publicity/poster.png?community=hqsq&week={week_of_points.name}")
    assert picture.status == 200 and picture.headers["content-type"] == "image/png"
    page.goto(f"/desk/publicity/poster?community=hqsq&week={week_of_points.name}")
    FOLDER.mkdir(parents=True, exist_ok=True)
    pdf = FOLDER / "poster.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    if shutil.which("pdfinfo") is None:
        if in_ci():
            pytest.fail("poppler-utils is missing (.ci/run installs it)")
        pytest.skip("poppler-utils is missing")
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M) and "(A4)" in info
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "紫藤花积分公示" in text and "张*傅" in text and "本季度累计" in text
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", str(pdf), str(FOLDER / "poster-printed")],
                   check=True)
    staff.all_went_well()
