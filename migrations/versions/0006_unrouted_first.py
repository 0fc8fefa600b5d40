"""the desk queue puts cases awaiting routing by hand (unrouted) first: ix_cases_open_queue gains a leading key

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

from service.states import OPEN, CaseState


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OPEN_STATES = "state IN (" + ", ".join(f"'{s}'" for s in OPEN) + ")"
DEADLINE = sa.text("(COALESCE(deadline_at, '9999-12-31 00:00:00.000000'))")


def upgrade() -> None:
    """Re-create the queue's index with the unrouted-first key ahead of priority, deadline and id."""
    op.drop_index('ix_cases_open_queue', table_name='cases')
    op.create_index('ix_cases_open_queue', 'cases',
                    [sa.text(f"(CASE WHEN state = '{CaseState.UNROUTED}' THEN 0 ELSE 1 END)"), sa.text('(-priority)'),
                     DEADLINE, 'id'],
                    postgresql_where=sa.text(OPEN_STATES), sqlite_where=sa.text(OPEN_STATES))


def downgrade() -> None:
    """Back to priority, deadline and id."""
    op.drop_index('ix_cases_open_queue', table_name='cases')
    op.create_index('ix_cases_open_queue', 'cases', [sa.text('(-priority)'), DEADLINE, 'id'],
                    postgresql_where=sa.text(OPEN_STATES), sqlite_where=sa.text(OPEN_STATES))
