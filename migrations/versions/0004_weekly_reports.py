"""weekly reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('weekly_reports',
    sa.Column('week', sa.String(length=8), nullable=False),
    sa.Column('built_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('week', name=op.f('pk_weekly_reports'))
    )


def downgrade() -> None:
    op.drop_table('weekly_reports')
