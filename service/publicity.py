"""The weekly 公示 of a community's points: its riders ranked by the points they earned there in the week and in the
quarter so far (names masked, 张*华; 匿名 for those who asked not to be named), with their flowers and the reports
of theirs that closed; as data, and as the text its group's robot posts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.ledger import PointsRules, Rule
from service.models import Case, Community, PointsEntry, User
from service.quarters import Quarter
from service.weekly import Week

EARNINGS = (Rule.REPORT_CLOSED, Rule.ME_TOO_CLOSED, Rule.GOOD_DEED)  # what a ranking counts: points earned
ANONYMOUS = "匿名"
POSTED_ROWS = 10  # the robot's post: the first ten of the week


def masked(display_name: str) -> str:
    """A name as the 公示 shows it: its first and last characters with a * between (张*华; 张* for two), of the
    name's last word (a demo's "骑手 张师傅" is 张*傅)."""
    name = (display_name or "").split()[-1] if (display_name or "").split() else ""
    if len(name) <= 1:
        return name + "*" if name else "*"
    return f"{name[0]}*" if len(name) == 2 else f"{name[0]}*{name[-1]}"


@dataclass(frozen=True)
class Standing:
    """One rider's place in a ranking."""

    rank: int
    name: str
    points: int
    flowers: int
    reports_closed: int  # their reports in the community closed in the period


def ranking(session: Session, community_id: int, start: datetime, end: datetime, rules: PointsRules,
            limit: int | None = None) -> list[Standing]:
    """The community's riders by points earned there in [start, end), most first (then most reports closed);
    equal points and reports share a rank."""
    earned = sa.select(PointsEntry.user_id.label("uid"), sa.func.sum(PointsEntry.points).label("points")) \
        .where(PointsEntry.community_id == community_id, PointsEntry.rule.in_(EARNINGS),
               PointsEntry.created_at >= start, PointsEntry.created_at < end) \
        .group_by(PointsEntry.user_id).subquery()
    done = sa.select(Case.reporter_id.label("uid"), sa.func.count().label("reports_closed")) \
        .where(Case.community_id == community_id, Case.closed_at >= start, Case.closed_at < end) \
        .group_by(Case.reporter_id).subquery()
    rows = session.execute(
        sa.select(User.display_name, User.ranked_by_name, earned.c.points,
                  sa.func.coalesce(done.c.reports_closed, 0).label("reports_closed"))
        .join(earned, earned.c.uid == User.id).outerjoin(done, done.c.uid == User.id)
        .where(earned.c.points > 0)
        .order_by(earned.c.points.desc(), sa.literal_column("reports_closed").desc(), User.id)).all()
    standings, previous, rank = [], None, 0
    for n, row in enumerate(rows, start=1):
        if (row.points, row.reports_closed) != previous:
            rank, previous = n, (row.points, row.reports_closed)
        standings.append(Standing(rank, masked(row.display_name) if row.ranked_by_name else ANONYMOUS,
                                  int(row.points), rules.flowers(int(row.points)), int(row.reports_closed)))
    return standings[:limit] if limit else standings


def weekly_publicity(session: Session, community: Community, week: Week, rules: PointsRules,
                     now: datetime) -> dict:
    """A community's 公示 of a week: the week's ranking, and the quarter's (of the quarter the week ends in) up to the
    week's end (or now, for a week under way)."""
    start, end = week.start(rules.tz), min(week.end(rules.tz), max(now, week.start(rules.tz)))
    quarter = Quarter.containing(end - timedelta(microseconds=1), rules.tz)  # the one the week (so far) ends in
    return {"community": community.name, "code": community.code, "office": community.street_office.name,
            "week": week.name, "first_day": week.day(1), "last_day": week.day(7), "quarter": quarter.name,
            "under_way": now < week.end(rules.tz), "per_flower": rules.per_flower,
            "week_ranking": ranking(session, community.id, start, end, rules),
            "quarter_ranking": ranking(session, community.id, quarter.start(rules.tz), end, rules)}


def robot_text(publicity: dict) -> str:
    """The 公示 as the community's group robot posts it: the week's first ten, and who was counted."""
    rows = publicity["week_ranking"]
    head = f"【紫藤花公示 {publicity['week']} {publicity['community']}】"
    if not rows:
        return head + "本周暂无积分。"
    lines = [f"{s.rank}. {s.name} {s.points} 积分（{s.flowers} 朵紫藤花），结案 {s.reports_closed} 件"
             for s in rows[:POSTED_ROWS]]
    more = f"\n……共 {len(rows)} 人获得积分" if len(rows) > POSTED_ROWS else ""
    return head + "\n" + "\n".join(lines) + more
