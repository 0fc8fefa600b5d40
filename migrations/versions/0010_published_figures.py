"""a kept weekly report's overall figures in a column of their own, read by the trend of the weeks after it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

reports = sa.table('weekly_reports', sa.column('week', sa.String), sa.column('scope', sa.String),
                   sa.column('data', sa.JSON), sa.column('overall', sa.JSON))


def upgrade() -> None:
    """A nullable JSON `overall` on weekly_reports, filled from each kept report's data."""
    op.add_column('weekly_reports', sa.Column('overall', sa.JSON(), nullable=True))
    conn = op.get_bind()
    for week, scope, data in conn.execute(sa.select(reports.c.week, reports.c.scope, reports.c.data)).all():
        data = json.loads(data) if isinstance(data, str) else data
        if isinstance(data, dict) and isinstance(data.get('overall'), dict):
            conn.execute(reports.update().where(reports.c.week == week, reports.c.scope == scope)
                         .values(overall=data['overall']))


def downgrade() -> None:
    """Drop the column (the figures stay in each report's data)."""
    with op.batch_alter_table('weekly_reports') as batch:
        batch.drop_column('overall')
