"""The quarterly exchange report: goods given, points spent, reversed and expired, stock left, per community and
rolled up to the street office and the district, each equal to a hand count; page, workbook and CSV for staff of
that part only."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from openpyxl import load_workbook

from service.db import utcnow
from service.exchange_report import exchange_report
from service.ledger import PointsRules, Rule, expire_points
from service.models import Community, Exchange, PointsEntry, User
from service.quarters import Quarter
from service.weekly_levels import scope_named

RULES = PointsRules()


def _credit(db, username: str, points: int, community: str, at: datetime | None = None) -> None:
    at = at or datetime.now(UTC)
    user = db.scalar(sa.select(User).where(User.username == username))
    db.add(PointsEntry(user_id=user.id, rule=Rule.REPORT_CLOSED, points=points, created_at=at, lot=RULES.lot(at),
                       community_id=db.scalar(sa.select(Community.id).where(Community.code == community))))
    db.commit()


def _redeem(make_api, rider: str, staff: str, items: list, key: str) -> dict:
    r, s = make_api(rider), make_api(staff)
    code = r.client.post("/api/v1/me/redemption-code", headers=r.headers).get_json()
    done = s.client.post("/api/v1/redemptions", headers=s.headers,
                         json={"code": code["code"], "items": items, "idempotency_key": key})
    assert done.status_code == 201, done.get_data(as_text=True)
    return done.get_json()


def test_a_quarter_of_exchanges_adds_up_from_communities_to_the_district(db, make_api, exchange):
    db.execute(sa.update(Exchange).values(windows=[["01-01", "12-31"]]))  # every exchange open, today too
    db.commit()
    _credit(db, "rider1", 200, "hqsq")
    _credit(db, "rider2", 200, "xssq")
    _redeem(make_api, "rider1", "staff1", [{"item": "rice", "qty": 1}, {"item": "soap", "qty": 2}], "a")  # 26 fl.
    mistake = _redeem(make_api, "rider1", "staff1", [{"item": "soap", "qty": 1}], "b")  # 3 flowers, reversed
    _redeem(make_api, "rider2", "xssq-staff", [{"item": "oil", "qty": 1}], "c")  # 25 flowers
    admin = make_api("admin")
    assert admin.client.post(f"/api/v1/redemptions/{mistake['id']}/reversal", json={"reason": "拿错"},
                             headers=admin.headers).status_code == 201
    # rider3 earned 12 at tysq and 8 at hqsq five quarters ago: they expired as this quarter began, counted at tysq
    now = utcnow()
    quarter = Quarter.containing(now, RULES.tz)
    long_ago = quarter.shifted(-5).start(RULES.tz) + timedelta(days=3)
    _credit(db, "rider3", 12, "tysq", long_ago)
    _credit(db, "rider3", 8, "hqsq", long_ago)
    assert expire_points(db, now, RULES) == 20

    hq = exchange_report(db, quarter, scope_named(db, "community:hqsq"), RULES, now)
    assert {k: hq["total"][k] for k in ("redemptions", "flowers", "spent", "reversed")} == \
        {"redemptions": 2, "flowers": 26, "spent": 145, "reversed": 15}
    assert {g["item"]: (g["given"], g["flowers"]) for g in hq["goods"] if g["given"]} == \
        {"大米 5 斤": (1, 20), "香皂": (2, 6)}
    office = exchange_report(db, quarter, scope_named(db, "street_office:hqjd"), RULES, now)
    district = exchange_report(db, quarter, scope_named(db, "district"), RULES, now)
    xs = exchange_report(db, quarter, scope_named(db, "community:xssq"), RULES, now)
    for name in ("redemptions", "flowers", "spent", "reversed", "expired"):
        assert office["total"][name] == sum(r[name] for r in office["communities"])
        assert district["total"][name] == sum(r[name] for r in district["communities"])
        assert district["total"][name] >= office["total"][name] + xs["total"][name]
    assert district["total"]["spent"] == 145 + 125 and district["total"]["flowers"] == 26 + 25
    ty = next(r for r in office["communities"] if r["scope"] == "community:tysq")
    assert ty["expired"] == 20 and office["total"]["expired"] == 20 and district["total"]["expired"] == 20


def test_staff_read_the_report_of_their_part_only_as_page_workbook_and_csv(db, make_api, exchange):
    _credit(db, "rider1", 100, "hqsq")
    _redeem(make_api, "rider1", "staff1", [{"item": "tissues", "qty": 2}], "k")
    staff = make_api("staff1")
    page = staff.client.get("/desk/exchange-report", headers=staff.headers)
    assert page.status_code == 200 and "抽纸 3 包" in page.get_data(as_text=True)
    assert staff.client.get("/desk/exchange-report?scope=community:xssq", headers=staff.headers).status_code == 404
    assert staff.client.get("/desk/exchange-report?scope=district", headers=staff.headers).status_code == 404
    book = load_workbook(io.BytesIO(staff.client.get("/desk/exchange-report.xlsx", headers=staff.headers).data))
    goods = list(book["兑出物品"].iter_rows(values_only=True))[2:]
    assert ("抽纸 3 包", 2, 10, 58) in goods  # 60 in stock, 2 given
    text = staff.client.get("/desk/exchange-report.csv", headers=staff.headers).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert ["抽纸 3 包", "2", "10", "58"] in rows
    district = make_api("district-staff")
    assert district.client.get("/desk/exchange-report?scope=district", headers=district.headers).status_code == 200
