"""sessions that end: a per-user session version, when the API token was issued, usernames normalised

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import logging

from alembic import op
import sqlalchemy as sa
import service.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _normalise_usernames() -> None:
    """Usernames typed with stray spaces or full-width letters get their one spelling, which login now looks up;
    one whose spelling another account already has is left as it is, and named."""
    from service.auth import normalise_username

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, username FROM users")).all()
    taken = {name for _, name in rows}
    for uid, name in rows:
        normal = normalise_username(name)
        if normal == name:
            continue
        if not normal or normal in taken:
            log.warning("username %r (id %s) kept: its normal form %r is empty or taken", name, uid, normal)
            continue
        conn.execute(sa.text("UPDATE users SET username = :n WHERE id = :i"), {"n": normal, "i": uid})
        taken.add(normal)


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_token_issued_at', service.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))
    # tokens issued before this revision have no issue time: they are expired, and their holders log in again
    op.execute("UPDATE users SET api_token_hash = NULL")
    _normalise_usernames()


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
        batch_op.drop_column('api_token_issued_at')
