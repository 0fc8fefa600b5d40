"""pipeline: photo hashes, location flags, duplicates, notifications, webhooks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('me_toos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('via_case_id', sa.Integer(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_me_toos_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_me_toos_user_id_users')),
    sa.ForeignKeyConstraint(['via_case_id'], ['cases.id'], name=op.f('fk_me_toos_via_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_me_toos')),
    sa.UniqueConstraint('case_id', 'user_id', name=op.f('uq_me_toos_case_id_user_id'))
    )
    with op.batch_alter_table('me_toos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_me_toos_case_id'), ['case_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', service.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notifications_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_unread', ['user_id', 'read_at', 'id'], unique=False)

    op.create_table('possible_duplicates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('other_case_id', sa.Integer(), nullable=False),
    sa.Column('distance_m', sa.Double(), nullable=False),
    sa.Column('hash_distance', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_possible_duplicates_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['other_case_id'], ['cases.id'], name=op.f('fk_possible_duplicates_other_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_possible_duplicates')),
    sa.UniqueConstraint('case_id', 'other_case_id', name=op.f('uq_possible_duplicates_case_id_other_case_id'))
    )
    with op.batch_alter_table('possible_duplicates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_possible_duplicates_case_id'), ['case_id'], unique=False)

    op.create_table('webhook_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('sent_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_webhook_messages_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_messages'))
    )
    with op.batch_alter_table('webhook_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_messages_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('location_source', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('location_mismatch_m', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('old_photo', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('processing_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('processing_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('processed_at', service.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))

    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('updated_at', service.db.UTCDateTime(), nullable=False,
                                      server_default=sa.text('CURRENT_TIMESTAMP')))

    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dhash', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('processed_at', service.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_column('processed_at')
        batch_op.drop_column('dhash')

    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('webhook_url')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('processed_at')
        batch_op.drop_column('processing_attempts')
        batch_op.drop_column('processing_error')
        batch_op.drop_column('old_photo')
        batch_op.drop_column('location_mismatch_m')
        batch_op.drop_column('location_source')

    with op.batch_alter_table('webhook_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_messages_case_id'))

    op.drop_table('webhook_messages')
    with op.batch_alter_table('possible_duplicates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_possible_duplicates_case_id'))

    op.drop_table('possible_duplicates')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_unread')

    op.drop_table('notifications')
    with op.batch_alter_table('me_toos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_me_toos_case_id'))

    op.drop_table('me_toos')
