"""Spending points at an exchange through the API: the wallet, the catalogue, the rider's code, the staff's
redemption (once per key, never past the balance or the stock), an admin's reversal, and expiry."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support import assert_refused

from service.ledger import PointsRules, Rule, expire_points, wallet_of
from service.models import CatalogueItem, Exchange, PointsEntry, Redemption, RedemptionCode, User
from service.states import CaseState

RULES = PointsRules()


def credit(db, username: str, points: int, at: datetime | None = None) -> None:
    """Points a person earned (a closed report's credit, as the ledger keeps it), at `at` (now by default)."""
    at = at or datetime.now(UTC)
    user = db.scalar(sa.select(User).where(User.username == username))
    db.add(PointsEntry(user_id=user.id, rule=Rule.REPORT_CLOSED, points=points, created_at=at, lot=RULES.lot(at)))
    db.commit()


def stock(db, code: str) -> int:
    db.expire_all()
    return db.scalar(sa.select(CatalogueItem.stock).join(Exchange).where(CatalogueItem.code == code,
                                                                         Exchange.id == CatalogueItem.exchange_id)
                     .order_by(CatalogueItem.id).limit(1))


def new_code(rider) -> dict:
    response = rider.client.post("/api/v1/me/redemption-code", headers=rider.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def redeem(staff, code: dict, items, key: str = "k1", by: str = "code", **extra):
    body = {by: code[by], "items": items, "idempotency_key": key, **extra}
    return staff.client.post("/api/v1/redemptions", json=body, headers=staff.headers)


def test_a_closed_report_fills_the_wallet_and_the_catalogue_says_what_it_buys(rider, exchange, factory, workers):
    factory.case_in(CaseState.CLOSED, reporter="rider1")
    wallet = rider.get("/api/v1/me/wallet").get_json()
    assert (wallet["points"], wallet["flowers"], wallet["per_flower"]) == (5, 1, 5)
    assert [h["rule"] for h in wallet["history"]] == ["report_closed"] and wallet["history"][0]["case_no"]
    [lot] = wallet["expiring"]
    assert lot["points"] == 5 and lot["expires_at"] > wallet["history"][0]["at"]
    catalogue = rider.get("/api/v1/catalogue").get_json()
    assert catalogue["community"]["code"] == "hqsq"  # where rider1 reported this quarter
    soap = next(i for i in catalogue["items"] if i["code"] == "soap")
    rice = next(i for i in catalogue["items"] if i["code"] == "rice")
    assert (soap["flowers"], soap["affordable"], rice["affordable"]) == (3, False, False)
    assert soap["picture"].startswith("/static/img/catalogue/soap.") and catalogue["window"]["open_now"]
    assert {e["code"] for e in catalogue["exchanges"]} >= {"hqsq", "xssq", "qfsq"}
    other = rider.get("/api/v1/catalogue?community=qfsq").get_json()
    assert other["community"]["name"] == "起凤社区" and other["window"]["first_day"][5:] in (
        "03-20", "06-20", "09-20", "12-20")
    assert_refused(rider.get("/api/v1/catalogue?community=nowhere"), 404, "no_exchange")


def test_a_code_lives_ten_minutes_and_staff_redeem_it_once(rider, make_api, exchange, db):
    credit(db, "rider1", 100)
    code = new_code(rider)
    assert len(code["digits"]) == 6 and code["digits"].isdigit() and len(code["code"]) > 10
    expires = datetime.fromisoformat(code["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    staff = make_api("staff1")
    response = redeem(staff, code, [{"item": "soap", "qty": 2}])
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["balance"] == {"points": 70, "flowers": 14, "points_over": 0}
    assert_refused(redeem(staff, code, [{"item": "soap", "qty": 1}], key="k2"), 410, "code_used")
    assert_refused(redeem(staff, code, [{"item": "soap", "qty": 1}], key="k3", by="digits"), 410, "code_used")


def test_the_balance_and_the_stock_are_taken_once_and_the_receipt_shows_on_both_phones(rider, make_api, exchange, db):
    credit(db, "rider1", 200)
    code, staff = new_code(rider), make_api("staff1")
    rice, soap = stock(db, "rice"), stock(db, "soap")
    first = redeem(staff, code, [{"item": "rice", "qty": 1}, {"item": "soap", "qty": 2}], by="digits")
    assert first.status_code == 201, first.get_data(as_text=True)
    answer = first.get_json()
    assert (answer["flowers"], answer["points"]) == (26, 130)
    assert answer["balance"] == {"points": 70, "flowers": 14, "points_over": 0}
    assert [(i["item"], i["qty"]) for i in answer["items"]] == [("rice", 1), ("soap", 2)]
    assert (stock(db, "rice"), stock(db, "soap")) == (rice - 1, soap - 2)
    again = redeem(staff, code, [{"item": "rice", "qty": 1}, {"item": "soap", "qty": 2}], by="digits")
    assert again.status_code == 201 and again.get_json() == answer  # a retried confirmation: the first answer
    assert (stock(db, "rice"), stock(db, "soap")) == (rice - 1, soap - 2)
    assert rider.get("/api/v1/me/wallet").get_json()["points"] == 70
    assert rider.get("/api/v1/me/wallet").get_json()["last_redemption"] == answer
    assert rider.get(f"/api/v1/redemptions/{answer['id']}").get_json()["items"] == answer["items"]
    assert make_api("rider2").get(f"/api/v1/redemptions/{answer['id']}").status_code == 404
    assert make_api("xssq-staff").get(f"/api/v1/redemptions/{answer['id']}").status_code == 404


def test_a_balance_short_of_the_goods_is_409_with_the_balance_and_nothing_is_taken(rider, make_api, exchange, db):
    credit(db, "rider1", 99)  # 19 flowers and 4 points: the rice costs 20 flowers
    code, staff, rice = new_code(rider), make_api("staff1"), stock(db, "rice")
    response = redeem(staff, code, [{"item": "rice", "qty": 1}])
    assert_refused(response, 409, "insufficient_points")
    assert response.get_json()["balance"] == {"points": 99, "flowers": 19, "points_over": 4}
    assert stock(db, "rice") == rice
    db.expire_all()
    assert db.scalar(sa.select(RedemptionCode.used_at)) is None  # the code works for a smaller order
    assert redeem(staff, code, [{"item": "soap", "qty": 1}], key="k2").status_code == 201


def test_stock_never_goes_below_zero(rider, make_api, exchange, db):
    credit(db, "rider1", 10_000)
    db.execute(sa.update(CatalogueItem).where(CatalogueItem.code == "rice").values(stock=1))
    db.commit()
    staff = make_api("staff1")
    response = redeem(staff, new_code(rider), [{"item": "rice", "qty": 2}])
    assert_refused(response, 409, "out_of_stock", "items")
    assert response.get_json()["item"] == "rice" and stock(db, "rice") == 1
    assert redeem(staff, new_code(rider), [{"item": "rice", "qty": 1}], key="k2").status_code == 201
    assert stock(db, "rice") == 0
    assert_refused(redeem(staff, new_code(rider), [{"item": "rice", "qty": 1}], key="k3"), 409, "out_of_stock")


def test_an_expired_or_unknown_code_is_refused(rider, make_api, exchange, db):
    credit(db, "rider1", 100)
    code, staff = new_code(rider), make_api("staff1")
    db.execute(sa.update(RedemptionCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.commit()
    assert_refused(redeem(staff, code, [{"item": "soap", "qty": 1}]), 410, "code_expired")
    assert_refused(redeem(staff, code, [{"item": "soap", "qty": 1}], by="digits"), 404, "unknown_code")
    forged = {"code": code["code"][:-2] + ("AA" if not code["code"].endswith("AA") else "BB")}
    assert_refused(redeem(staff, forged, [{"item": "soap", "qty": 1}]), 404, "unknown_code")


@pytest.mark.parametrize("body, code", [
    ({"items": [{"item": "soap", "qty": 0}]}, "bad_items"), ({"items": [{"item": "soap", "qty": True}]}, "bad_items"),
    ({"items": []}, "bad_items"), ({"items": "soap"}, "bad_items"), ({"items": [{"item": "caviar"}]}, "unknown_item"),
    ({"idempotency_key": ""}, "bad_idempotency_key"), ({"idempotency_key": "x" * 65}, "bad_idempotency_key"),
    ({"idempotency_key": 7}, "bad_idempotency_key"), ({"code": None, "digits": None}, "code_required"),
    ({"code": 12}, "code_required")])
def test_a_malformed_order_is_a_clear_422(rider, make_api, exchange, db, body, code):
    credit(db, "rider1", 100)
    issued = new_code(rider)
    full = {"code": issued["code"], "items": [{"item": "soap", "qty": 1}], "idempotency_key": "k", **body}
    response = make_api("staff1").client.post("/api/v1/redemptions", json=full,
                                              headers=make_api("staff1").headers)
    assert_refused(response, 422, code)
    assert db.scalar(sa.select(sa.func.count()).select_from(Redemption)) == 0


def test_only_staff_of_the_exchanges_part_of_the_district_confirm(rider, make_api, exchange, db):
    credit(db, "rider1", 100)
    code = new_code(rider)
    assert_refused(redeem(make_api("rider2"), code, [{"item": "soap", "qty": 1}]), 403, "forbidden")
    assert_refused(redeem(make_api("xssq-staff"), code, [{"item": "soap", "qty": 1}], community="hqsq"), 404,
                   "no_exchange")
    assert_refused(redeem(make_api("district-staff"), code, [{"item": "soap", "qty": 1}]), 422,
                   "community_required")
    response = redeem(make_api("hqjd-staff"), code, [{"item": "soap", "qty": 1}], community="hqsq")
    assert response.status_code == 201  # its street office's staff may run the exchange day too


def test_outside_its_windows_the_exchange_is_closed_and_says_when_it_opens(rider, make_api, exchange, db):
    credit(db, "rider1", 100)
    db.execute(sa.update(Exchange).values(windows=None))  # the last week of each quarter
    db.commit()
    today = datetime.now(UTC).astimezone().date()
    in_last_week = today.month in (3, 6, 9, 12) and today.day >= (31 if today.month in (3, 12) else 30) - 6
    response = redeem(make_api("staff1"), new_code(rider), [{"item": "soap", "qty": 1}])
    if in_last_week:
        assert response.status_code == 201
    else:
        assert_refused(response, 409, "exchange_closed")
        assert "下次兑换" in response.get_json()["error"]["message"]


def test_an_admin_reverses_a_mistake_with_a_reason_and_the_ledger_keeps_both(rider, make_api, exchange, db):
    credit(db, "rider1", 100)
    staff, soap = make_api("staff1"), stock(db, "soap")
    answer = redeem(staff, new_code(rider), [{"item": "soap", "qty": 2}]).get_json()
    path = f"/api/v1/redemptions/{answer['id']}/reversal"
    assert_refused(staff.client.post(path, json={"reason": "拿错了"}, headers=staff.headers), 403, "forbidden")
    admin = make_api("admin")
    assert_refused(admin.client.post(path, json={"reason": " "}, headers=admin.headers), 422, "reason_required")
    done = admin.client.post(path, json={"reason": "拿错了物品"}, headers=admin.headers)
    assert done.status_code == 201 and done.get_json()["balance"]["points"] == 100
    assert stock(db, "soap") == soap
    assert_refused(admin.client.post(path, json={"reason": "again"}, headers=admin.headers), 409, "already_reversed")
    rules = [(e.rule, e.points, e.note) for e in db.scalars(sa.select(PointsEntry).order_by(PointsEntry.id))]
    assert rules == [("report_closed", 100, None), ("redeemed", -30, None), ("reversal", 30, "拿错了物品")]
    history = rider.get("/api/v1/me/wallet").get_json()["history"]
    assert [h["rule"] for h in history] == ["reversal", "redeemed", "report_closed"]


def test_the_ledger_is_append_only(db):
    credit(db, "rider1", 5)
    entry = db.scalar(sa.select(PointsEntry))
    entry.points = 500
    with pytest.raises(PermissionError):
        db.commit()
    db.rollback()
    db.delete(db.scalar(sa.select(PointsEntry)))
    with pytest.raises(PermissionError):
        db.commit()
    db.rollback()


def test_points_expire_four_quarters_after_theirs_once_and_oldest_are_spent_first(app, db, rider):
    now = datetime.now(UTC)
    year_and_more_ago = now - timedelta(days=470)  # five or six quarters back: lapsed
    rules = app.extensions["snap"].desk_rules.points
    credit(db, "rider1", 30, year_and_more_ago)
    credit(db, "rider1", 20, now - timedelta(days=5))
    user_id = db.scalar(sa.select(User.id).where(User.username == "rider1"))
    db.add(PointsEntry(user_id=user_id, rule=Rule.REDEEMED, points=-10, created_at=year_and_more_ago
                       + timedelta(days=1)))
    db.commit()
    assert wallet_of(db, user_id, now, rules).points == 20  # the old lot's 20 left have lapsed
    assert expire_points(db, now, rules) == 20
    assert expire_points(db, now, rules) == 0  # once
    expiries = db.scalars(sa.select(PointsEntry).where(PointsEntry.rule == Rule.EXPIRED)).all()
    assert [(e.points, e.lot) for e in expiries] == [(-20, RULES.lot(year_and_more_ago))]
    assert expiries[0].created_at == rules.expires_at(expiries[0].lot) <= now
    wallet = rider.get("/api/v1/me/wallet").get_json()
    assert wallet["points"] == 20 and [h["rule"] for h in wallet["history"]][:2] == ["report_closed", "expired"]


def test_the_daily_job_writes_off_lapsed_points_on_a_real_worker(db, settings, worker_env):
    from support import run_jobs

    from service.runtime.jobqueue import JOB_SPECS, redis_connection, rq_queue

    worker_env()
    credit(db, "rider1", 12, datetime.now(UTC) - timedelta(days=500))
    spec = JOB_SPECS["expire_points"]
    rq_queue(spec.queue, redis_connection(settings.redis_url)).enqueue(spec.path, job_timeout=spec.timeout)
    run_jobs(settings)
    db.expire_all()
    assert db.scalars(sa.select(PointsEntry.points).where(PointsEntry.rule == Rule.EXPIRED)).all() == [-12]


def test_the_points_page_lists_every_exchange_and_each_hold(rider, exchange, factory, db, client):
    from images import photo_jpeg
    for n in range(2):  # two screenshots: two reports held
        factory.case_in(CaseState.CLOSED, photo=photo_jpeg(seed=700 + n, camera=None),
                        where={"lat": f"32.00{3 + n}", "lon": "120.845"})
    page = rider.client.get("/wallet", headers=rider.headers)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("截图或翻拍") == 2 and "?community=xssq" in html and "?community=qfsq" in html


def test_staff_do_not_give_themselves_goods_and_an_id_past_the_column_is_no_row(make_api, exchange, db):
    credit(db, "staff1", 100)
    staff = make_api("staff1")
    own = staff.client.post("/api/v1/me/redemption-code", headers=staff.headers).get_json()
    assert_refused(redeem(staff, own, [{"item": "soap", "qty": 1}]), 403, "own_code")
    check = staff.client.post("/api/v1/redemption-codes/check", json={"code": own["code"]}, headers=staff.headers)
    assert_refused(check, 403, "own_code")
    for path in ("/api/v1/redemptions/99999999999", "/api/v1/good-deeds/99999999999/photo"):
        assert staff.get(path).status_code == 404
    assert staff.client.post("/api/v1/redemptions/99999999999/reversal", json={"reason": "x"},
                             headers=staff.headers).status_code == 404


def test_a_key_sent_again_for_other_goods_is_refused_and_codes_are_few(rider, make_api, exchange, db):
    credit(db, "rider1", 200)
    staff = make_api("staff1")
    assert redeem(staff, new_code(rider), [{"item": "soap", "qty": 1}], key="same").status_code == 201
    assert_refused(redeem(staff, new_code(rider), [{"item": "rice", "qty": 1}], key="same"), 422,
                   "idempotency_key_reused", "idempotency_key")
    for _ in range(49):  # 50 live at most (the first was used, the second is live still)
        new_code(rider)
    too_many = rider.client.post("/api/v1/me/redemption-code", headers=rider.headers)
    assert_refused(too_many, 429, "too_many_codes")
    assert too_many.headers["Retry-After"] == "60"
