"""Open311: clients (a service account each, the key kept hashed), the open311 role, and on a case the contact
details and photo link another system sent

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('reporter', 'grid_worker', 'unit', 'staff', 'admin')"
NEW_ROLES = "role IN ('reporter', 'grid_worker', 'unit', 'staff', 'admin', 'open311')"


def _roles(check: str) -> None:
    with op.batch_alter_table('users', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.drop_constraint(op.f('ck_users_role'), type_='check')
        batch.create_check_constraint(op.f('ck_users_role'), check)


def upgrade() -> None:
    """The open311_clients table, the open311 role, cases.contact and cases.media_url."""
    op.create_table(
        'open311_clients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('key_changed_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('rate_limit', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_open311_clients_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_clients')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_open311_clients_key_hash')),
        sa.UniqueConstraint('name', name=op.f('uq_open311_clients_name')),
        sa.UniqueConstraint('user_id', name=op.f('uq_open311_clients_user_id')),
    )
    _roles(NEW_ROLES)
    # cases keeps its expression indexes: columns are added in place, not by rebuilding the table
    op.add_column('cases', sa.Column('contact', sa.JSON(), nullable=True))
    op.add_column('cases', sa.Column('media_url', sa.String(length=2000), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE cases DROP COLUMN media_url")  # in place on both engines (SQLite 3.35 and later)
    op.execute("ALTER TABLE cases DROP COLUMN contact")
    op.execute("DELETE FROM open311_clients")
    _roles(OLD_ROLES)
    op.drop_table('open311_clients')
