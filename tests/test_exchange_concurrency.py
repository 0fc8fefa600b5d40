"""Two exchange desks at once cannot spend one balance twice: 20 redemptions sent at the same moment over real
HTTP to a threaded server, each on its own database connection, against a balance that covers 7."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import requests
import sqlalchemy as sa
from browser_support import live_server, wire  # noqa: F401
from support import DEMO_PASSWORD

from service.ledger import PointsRules, Rule
from service.models import CatalogueItem, Community, Exchange, PointsEntry, User

SOAP_POINTS = 3 * 5  # 3 flowers


def _token(base: str, username: str) -> dict:
    answer = requests.post(f"{base}/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD},
                           timeout=10)
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _all_at_once(requests_to_send: list) -> list:
    """Send every (url, json, headers) at the same moment from threads of its own; the answers, in order."""
    gate, answers = threading.Barrier(len(requests_to_send)), [None] * len(requests_to_send)

    def send(i, url, body, headers):
        gate.wait()
        answers[i] = requests.post(url, json=body, headers=headers, timeout=60)

    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(requests_to_send)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return answers


def _shelf_of_twenty(db) -> list[str]:
    """Twenty goods at 虹桥社区's exchange at one price, one for each desk: no two redemptions share a stock row, so
    only the balance can keep them apart."""
    exchange = db.scalar(sa.select(Exchange).join(Community).where(Community.code == "hqsq"))
    codes = [f"bar{n:02d}" for n in range(20)]
    db.add_all(CatalogueItem(exchange=exchange, code=c, name=f"肥皂 {c}", flowers=3, stock=5, position=100 + n)
               for n, c in enumerate(codes))
    db.commit()
    return codes


def _stock_taken(db, codes: list[str]) -> int:
    db.expire_all()
    return sum(5 - db.scalar(sa.select(CatalogueItem.stock).where(CatalogueItem.code == c)) for c in codes)


def test_twenty_redemptions_at_once_against_a_balance_for_seven_exactly_seven_succeed(live_server, exchange, db):  # noqa: F811
    now = datetime.now(UTC)
    rider_id = db.scalar(sa.select(User.id).where(User.username == "rider1"))
    db.add(PointsEntry(user_id=rider_id, rule=Rule.REPORT_CLOSED, points=7 * SOAP_POINTS + 10, created_at=now,
                       lot=PointsRules().lot(now)))
    db.commit()
    goods = _shelf_of_twenty(db)
    rider, staff = _token(live_server, "rider1"), _token(live_server, "staff1")
    codes = [requests.post(f"{live_server}/api/v1/me/redemption-code", headers=rider, timeout=10).json()
             for _ in range(20)]
    answers = _all_at_once([(f"{live_server}/api/v1/redemptions",
                             {"code": c["code"], "items": [{"item": item, "qty": 1}], "idempotency_key": f"desk-{i}"},
                             staff) for i, (c, item) in enumerate(zip(codes, goods))])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 7 + [409] * 13, [a.text for a in answers]
    for refused in (a.json() for a in answers if a.status_code == 409):
        assert refused["error"]["code"] == "insufficient_points"
        assert refused["balance"]["points"] == 10  # what was left once the seven had gone through
    balances = sorted(a.json()["balance"]["points"] for a in answers if a.status_code == 201)
    assert balances == [10 + SOAP_POINTS * k for k in range(7)]  # each saw the one before it
    debits = db.scalars(sa.select(PointsEntry.points).where(PointsEntry.rule == Rule.REDEEMED)).all()
    assert debits == [-SOAP_POINTS] * 7 and _stock_taken(db, goods) == 7
    wallet = requests.get(f"{live_server}/api/v1/me/wallet", headers=rider, timeout=10).json()
    assert wallet["points"] == 10


def test_one_confirmation_sent_five_times_at_once_debits_once(live_server, exchange, db):  # noqa: F811
    now = datetime.now(UTC)
    rider_id = db.scalar(sa.select(User.id).where(User.username == "rider1"))
    db.add(PointsEntry(user_id=rider_id, rule=Rule.REPORT_CLOSED, points=100, created_at=now,
                       lot=PointsRules().lot(now)))
    db.commit()
    rider, staff = _token(live_server, "rider1"), _token(live_server, "staff1")
    code = requests.post(f"{live_server}/api/v1/me/redemption-code", headers=rider, timeout=10).json()
    body = {"digits": code["digits"], "items": [{"item": "soap", "qty": 2}], "idempotency_key": "tap-once"}
    answers = _all_at_once([(f"{live_server}/api/v1/redemptions", body, staff)] * 5)
    assert [a.status_code for a in answers] == [201] * 5, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1  # the same answer each time
    assert db.scalars(sa.select(PointsEntry.points).where(PointsEntry.rule == Rule.REDEEMED)).all() == [-30]
