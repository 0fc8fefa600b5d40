"""actions sent twice are done once: case_events.client_action_id, unique per actor

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The page's id for an action (a UUID), nullable: events written by the desk or the pipeline carry none."""
    with op.batch_alter_table('case_events', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.add_column(sa.Column('client_action_id', sa.String(length=36), nullable=True))
        batch.create_unique_constraint(op.f('uq_case_events_actor_id_client_action_id'),
                                       ['actor_id', 'client_action_id'])


def downgrade() -> None:
    """Drop the id and its constraint."""
    with op.batch_alter_table('case_events', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.drop_constraint(op.f('uq_case_events_actor_id_client_action_id'), type_='unique')
        batch.drop_column('client_action_id')
