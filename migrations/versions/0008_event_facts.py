"""events and notifications keep their facts (service.event_words makes their words when read, in zh or en)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A nullable JSON `facts` on case_events and notifications; rows written before keep their sentence."""
    op.add_column('case_events', sa.Column('facts', sa.JSON(), nullable=True))
    op.add_column('notifications', sa.Column('facts', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop the facts (rows written since then keep only the notes people typed)."""
    with op.batch_alter_table('notifications') as batch:
        batch.drop_column('facts')
    with op.batch_alter_table('case_events') as batch:
        batch.drop_column('facts')
