"""Units with their own platform: a unit's Open311 settings and how far its updates were read; the requests sent
to it and the updates it gave; an Open311 client's default community

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """units.open311 and units.polled_until; the unit_requests and unit_updates tables;
    open311_clients.community_id."""
    with op.batch_alter_table('open311_clients') as batch:
        batch.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_open311_clients_community_id_communities'), 'communities',
                                 ['community_id'], ['id'])
    op.add_column('units', sa.Column('open311', sa.JSON(), nullable=True))
    op.add_column('units', sa.Column('polled_until', sa.DateTime(), nullable=True))
    op.create_table(
        'unit_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('token', sa.String(length=100), nullable=True),
        sa.Column('service_request_id', sa.String(length=100), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_unit_requests_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_requests_unit_id_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_requests')),
    )
    op.create_index(op.f('ix_unit_requests_case_id'), 'unit_requests', ['case_id'])
    op.create_index('ix_unit_requests_followed', 'unit_requests', ['unit_id', 'ended_at'])
    op.create_table(
        'unit_updates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('unit_request_id', sa.Integer(), nullable=False),
        sa.Column('update_id', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=40), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['unit_request_id'], ['unit_requests.id'],
                                name=op.f('fk_unit_updates_unit_request_id_unit_requests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_updates')),
        sa.UniqueConstraint('unit_request_id', 'update_id', name=op.f('uq_unit_updates_unit_request_id_update_id')),
    )


def downgrade() -> None:
    with op.batch_alter_table('open311_clients') as batch:
        batch.drop_constraint(op.f('fk_open311_clients_community_id_communities'), type_='foreignkey')
        batch.drop_column('community_id')
    op.drop_table('unit_updates')
    op.drop_index('ix_unit_requests_followed', table_name='unit_requests')
    op.drop_index(op.f('ix_unit_requests_case_id'), table_name='unit_requests')
    op.drop_table('unit_requests')
    op.execute("ALTER TABLE units DROP COLUMN polled_until")
    op.execute("ALTER TABLE units DROP COLUMN open311")
