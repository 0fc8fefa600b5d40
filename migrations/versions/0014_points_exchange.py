"""Points you can spend: the ledger's earning quarters, communities and redemptions; the exchanges, their
catalogues, the riders' redemption codes and the redemptions; a person's wallet lock and ranking choice; what
holds a case's points back, and a photo's camera; the riders' good deeds (顺手帮)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import os
from datetime import timezone
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def _lot(created_at, zone: ZoneInfo) -> str:
    """The earning quarter of an instant stored naive in UTC, as the district's clocks read it: 2026-Q4."""
    local = created_at.replace(tzinfo=timezone.utc).astimezone(zone)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def upgrade() -> None:
    """The exchanges, catalogue_items, redemption_codes, redemptions and redemption_lines tables; the ledger's
    lot, community_id, redemption_id, actor_id and note (earlier credits given their quarter, in the TIMEZONE
    setting's zone, and their case's community), its case_id optional; users.wallet_version and
    users.ranked_by_name."""
    op.create_table(
        'exchanges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('windows', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_exchanges_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exchanges')),
        sa.UniqueConstraint('community_id', name=op.f('uq_exchanges_community_id')),
    )
    op.create_table(
        'catalogue_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('exchange_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('picture', sa.String(length=64), nullable=True),
        sa.Column('flowers', sa.Integer(), nullable=False),
        sa.Column('stock', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.CheckConstraint('stock >= 0', name=op.f('ck_catalogue_items_stock')),
        sa.CheckConstraint('flowers > 0', name=op.f('ck_catalogue_items_flowers')),
        sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_catalogue_items_exchange_id_exchanges')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_items')),
        sa.UniqueConstraint('exchange_id', 'code', name=op.f('uq_catalogue_items_exchange_id_code')),
    )
    op.create_table(
        'redemption_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('digits', sa.String(length=6), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_redemption_codes_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_codes')),
    )
    op.create_index(op.f('ix_redemption_codes_user_id'), 'redemption_codes', ['user_id'])
    op.create_index('ix_redemption_codes_digits', 'redemption_codes', ['digits', 'expires_at'])
    op.create_table(
        'redemptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('exchange_id', sa.Integer(), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=64), nullable=False),
        sa.Column('flowers', sa.Integer(), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('answer', sa.JSON(), nullable=False),
        sa.Column('order_hash', sa.String(length=64), nullable=False),
        sa.Column('reversed_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_redemptions_user_id_users')),
        sa.ForeignKeyConstraint(['staff_id'], ['users.id'], name=op.f('fk_redemptions_staff_id_users')),
        sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_redemptions_exchange_id_exchanges')),
        sa.ForeignKeyConstraint(['code_id'], ['redemption_codes.id'],
                                name=op.f('fk_redemptions_code_id_redemption_codes')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
        sa.UniqueConstraint('code_id', name=op.f('uq_redemptions_code_id')),
        sa.UniqueConstraint('staff_id', 'idempotency_key', name=op.f('uq_redemptions_staff_id_idempotency_key')),
    )
    op.create_index(op.f('ix_redemptions_user_id'), 'redemptions', ['user_id'])
    op.create_index('ix_redemptions_exchange_created', 'redemptions', ['exchange_id', 'created_at'])
    op.create_table(
        'redemption_lines',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('redemption_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('qty', sa.Integer(), nullable=False),
        sa.Column('flowers_each', sa.Integer(), nullable=False),
        sa.CheckConstraint('qty > 0', name=op.f('ck_redemption_lines_qty')),
        sa.ForeignKeyConstraint(['redemption_id'], ['redemptions.id'],
                                name=op.f('fk_redemption_lines_redemption_id_redemptions')),
        sa.ForeignKeyConstraint(['item_id'], ['catalogue_items.id'],
                                name=op.f('fk_redemption_lines_item_id_catalogue_items')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_lines')),
    )
    op.create_index(op.f('ix_redemption_lines_redemption_id'), 'redemption_lines', ['redemption_id'])

    op.create_table(
        'good_deeds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('grid_id', sa.Integer(), nullable=True),
        sa.Column('community_id', sa.Integer(), nullable=True),
        sa.Column('photo_path', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'confirmed', 'declined')", name=op.f('ck_good_deeds_state')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_good_deeds_user_id_users')),
        sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_good_deeds_grid_id_grids')),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_good_deeds_community_id_communities')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_good_deeds_decided_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_good_deeds')),
    )
    op.create_index('ix_good_deeds_grid_state', 'good_deeds', ['grid_id', 'state'])
    op.create_index('ix_good_deeds_user_created', 'good_deeds', ['user_id', 'created_at'])
    with op.batch_alter_table('points_ledger', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('deed_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_points_ledger_deed_id_good_deeds'), 'good_deeds', ['deed_id'], ['id'])
        batch.create_unique_constraint(op.f('uq_points_ledger_deed_id'), ['deed_id'])
        batch.add_column(sa.Column('lot', sa.String(length=7), nullable=True))
        batch.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('redemption_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('actor_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('note', sa.String(length=200), nullable=True))
        batch.create_foreign_key(op.f('fk_points_ledger_community_id_communities'), 'communities',
                                 ['community_id'], ['id'])
        batch.create_foreign_key(op.f('fk_points_ledger_redemption_id_redemptions'), 'redemptions',
                                 ['redemption_id'], ['id'])
        batch.create_foreign_key(op.f('fk_points_ledger_actor_id_users'), 'users', ['actor_id'], ['id'])
        batch.create_unique_constraint(op.f('uq_points_ledger_redemption_id_rule'), ['redemption_id', 'rule'])
    op.create_index('ix_points_ledger_user_created', 'points_ledger', ['user_id', 'created_at'])
    op.create_index('uq_points_ledger_expired_lot', 'points_ledger', ['user_id', 'lot'], unique=True,
                    postgresql_where=sa.text("rule = 'expired'"), sqlite_where=sa.text("rule = 'expired'"))

    bind = op.get_bind()
    zone = ZoneInfo(os.environ.get("TIMEZONE") or "Asia/Shanghai")
    rows = bind.execute(sa.text("SELECT p.id, p.created_at, c.community_id FROM points_ledger p "
                                "LEFT JOIN cases c ON c.id = p.case_id")
                        .columns(id=sa.Integer, created_at=sa.DateTime, community_id=sa.Integer)).all()
    if rows:
        bind.execute(sa.text("UPDATE points_ledger SET lot = :lot, community_id = :community WHERE id = :id"),
                     [{"id": r.id, "lot": _lot(r.created_at, zone), "community": r.community_id} for r in rows])

    # in place on both engines: users, cases and photos are not rebuilt
    op.add_column('cases', sa.Column('points_hold', sa.String(length=16), nullable=True))
    op.add_column('cases', sa.Column('points_hold_note', sa.String(length=200), nullable=True))
    op.add_column('photos', sa.Column('camera', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('wallet_version', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('users', sa.Column('ranked_by_name', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    op.execute("ALTER TABLE photos DROP COLUMN camera")
    op.execute("ALTER TABLE cases DROP COLUMN points_hold_note")
    op.execute("ALTER TABLE cases DROP COLUMN points_hold")
    op.execute("ALTER TABLE users DROP COLUMN ranked_by_name")
    op.execute("ALTER TABLE users DROP COLUMN wallet_version")
    op.execute("DELETE FROM points_ledger WHERE case_id IS NULL")
    op.drop_index('uq_points_ledger_expired_lot', table_name='points_ledger')
    op.drop_index('ix_points_ledger_user_created', table_name='points_ledger')
    with op.batch_alter_table('points_ledger', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.drop_constraint(op.f('uq_points_ledger_deed_id'), type_='unique')
        batch.drop_constraint(op.f('fk_points_ledger_deed_id_good_deeds'), type_='foreignkey')
        batch.drop_column('deed_id')
        batch.drop_constraint(op.f('uq_points_ledger_redemption_id_rule'), type_='unique')
        batch.drop_constraint(op.f('fk_points_ledger_actor_id_users'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_points_ledger_redemption_id_redemptions'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_points_ledger_community_id_communities'), type_='foreignkey')
        batch.drop_column('note')
        batch.drop_column('actor_id')
        batch.drop_column('redemption_id')
        batch.drop_column('community_id')
        batch.drop_column('lot')
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=False)
    op.drop_index('ix_good_deeds_user_created', table_name='good_deeds')
    op.drop_index('ix_good_deeds_grid_state', table_name='good_deeds')
    op.drop_table('good_deeds')
    op.drop_index(op.f('ix_redemption_lines_redemption_id'), table_name='redemption_lines')
    op.drop_table('redemption_lines')
    op.drop_index('ix_redemptions_exchange_created', table_name='redemptions')
    op.drop_index(op.f('ix_redemptions_user_id'), table_name='redemptions')
    op.drop_table('redemptions')
    op.drop_index('ix_redemption_codes_digits', table_name='redemption_codes')
    op.drop_index(op.f('ix_redemption_codes_user_id'), table_name='redemption_codes')
    op.drop_table('redemption_codes')
    op.drop_table('catalogue_items')
    op.drop_table('exchanges')
