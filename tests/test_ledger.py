"""The ledger's rules on plain data: lots by earning quarter, spent oldest first, expired a set number of quarters
after theirs; quarters in the district's zone."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.ledger import PointsRules, Rule, lots_of
from service.quarters import Quarter

RULES = PointsRules(per_flower=5, expire_quarters=4, tz="Asia/Shanghai")


def test_a_quarter_begins_at_local_midnight_of_its_first_day():
    q = Quarter.parse("2026-Q4")
    assert q.start("Asia/Shanghai") == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert q.end("Asia/Shanghai") == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert Quarter.containing(datetime(2026, 12, 31, 16, tzinfo=UTC), "Asia/Shanghai").name == "2027-Q1"
    assert Quarter.containing(datetime(2026, 12, 31, 15, 59, tzinfo=UTC), "Asia/Shanghai").name == "2026-Q4"
    assert q.shifted(4).name == "2027-Q4" and q.shifted(-4).name == "2025-Q4" and q.shifted(1).name == "2027-Q1"
    assert str(q.last_day()) == "2026-12-31" and str(Quarter(2026, 1).last_day()) == "2026-03-31"


@pytest.mark.parametrize("text", ["2026-Q5", "2026-Q0", "2026Q1", "", "二〇二六-Q1", "2026-Q１"])
def test_a_name_that_is_no_quarter_is_refused(text):
    with pytest.raises(ValueError):
        Quarter.parse(text)


def test_points_live_four_quarters_after_the_one_they_were_earned_in():
    # earned in 2026-Q1: good through 2027-Q1, gone from 2027-04-01 00:00 local
    assert RULES.expires_at("2026-Q1") == datetime(2027, 3, 31, 16, tzinfo=UTC)


def test_spending_takes_from_the_oldest_lot_first():
    lots = lots_of([(10, Rule.REPORT_CLOSED, "2026-Q1"), (10, Rule.REPORT_CLOSED, "2026-Q2"),
                    (-15, Rule.REDEEMED, None)], RULES)
    assert [(lot.name, lot.left) for lot in lots] == [("2026-Q1", 0), ("2026-Q2", 5)]


def test_an_expiry_empties_its_own_lot_and_marks_it_written_off():
    lots = lots_of([(10, Rule.REPORT_CLOSED, "2025-Q1"), (7, Rule.REPORT_CLOSED, "2025-Q2"),
                    (-3, Rule.REDEEMED, None), (-7, Rule.EXPIRED, "2025-Q1"), (-4, Rule.REDEEMED, None)], RULES)
    assert [(lot.name, lot.left, lot.written_off) for lot in lots] == [("2025-Q1", 0, True), ("2025-Q2", 3, False)]


def test_a_reversal_is_a_credit_of_the_quarter_it_was_made_in():
    lots = lots_of([(20, Rule.REPORT_CLOSED, "2026-Q1"), (-20, Rule.REDEEMED, None),
                    (20, Rule.REVERSAL, "2026-Q3")], RULES)
    assert [(lot.name, lot.left) for lot in lots] == [("2026-Q1", 0), ("2026-Q3", 20)]


def test_flowers_are_whole():
    assert (RULES.flowers(24), RULES.flowers(25), RULES.flowers(4)) == (4, 5, 0)
