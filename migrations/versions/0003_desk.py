"""desk: event actions, priority, units, rework, overdue, points ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('points_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_points_ledger_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_points_ledger_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_ledger')),
    sa.UniqueConstraint('user_id', 'case_id', 'rule', name=op.f('uq_points_ledger_user_id_case_id_rule'))
    )
    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_points_ledger_created', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_points_ledger_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('action', sa.String(length=16), nullable=False, server_default=''))
        batch_op.create_index('ix_case_events_action_created', ['action', 'created_at'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('assignee_unit', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('rework_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('overdue_notified_on', sa.String(length=10), nullable=True))

    op.execute("UPDATE cases SET priority = (SELECT priority FROM categories WHERE categories.id = cases.category_id)")
    # the desk queue of open cases (service.queue): most urgent first, then by deadline with none last, then by id
    open_states = "state IN ('new', 'dispatched', 'unrouted', 'in_progress', 'resolved')"
    op.create_index('ix_cases_open_queue', 'cases',
                    [sa.text('(-priority)'), sa.text("(COALESCE(deadline_at, '9999-12-31 00:00:00.000000'))"), 'id'],
                    postgresql_where=sa.text(open_states), sqlite_where=sa.text(open_states))


def downgrade() -> None:
    op.drop_index('ix_cases_open_queue', table_name='cases')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('overdue_notified_on')
        batch_op.drop_column('rework_count')
        batch_op.drop_column('assignee_unit')
        batch_op.drop_column('priority')

    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_action_created')
        batch_op.drop_column('action')

    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_points_ledger_user_id'))
        batch_op.drop_index('ix_points_ledger_created')

    op.drop_table('points_ledger')
