"""The test harness itself: the factory reaches every state the way the app does, and each test starts from the
demo community alone, whatever tables the migrations add."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from support import DISTRICT_TABLES, PER_TEST_TABLES

from service.lifecycle import TRANSITIONS
from service.models import Case, CaseEvent, Photo
from service.states import CaseState


@pytest.mark.parametrize("state", list(CaseState))
def test_the_factory_brings_a_case_to_each_state_through_the_lifecycle(factory, db, state):
    case_no = factory.case_in(state).case_no
    case = db.scalar(sa.select(Case).where(Case.case_no == case_no))
    assert case.state == state
    trail = [(e.from_state, e.to_state) for e in db.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                                           .order_by(CaseEvent.id))]
    assert trail[0] == (None, CaseState.NEW)  # reported, as intake records it
    for before, after in trail[1:]:
        assert after in TRANSITIONS[before], (before, after)
    assert trail[-1][1] == state
    if state == CaseState.RESOLVED:  # resolving needs an after photo, made as the upload makes it
        kinds = {p.kind: p.web_path for p in db.scalars(sa.select(Photo).where(Photo.case_id == case.id))}
        assert set(kinds) == {"before", "after"} and all(kinds.values())


def test_every_table_of_the_schema_is_either_the_communitys_or_emptied_before_each_test(settings):
    from service.db import Database

    db = Database(settings.database_url)
    try:
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
    finally:
        db.dispose()
    assert tables == DISTRICT_TABLES | set(PER_TEST_TABLES)
    assert "weekly_reports" in PER_TEST_TABLES
    assert PER_TEST_TABLES.index("points_ledger") < PER_TEST_TABLES.index("cases")  # its rows first: no cascade
