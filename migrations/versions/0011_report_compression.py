"""kept weekly reports compressed with lz4 on PostgreSQL: a district's week is some 7 MB of JSON, which pglz takes
about half again as long to write

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _lz4_available(conn) -> bool:
    """PostgreSQL 14 or later built with lz4 (Debian's and the official images are; a build without it lists no
    lz4 among default_toast_compression's values)."""
    return conn.dialect.name == 'postgresql' and bool(conn.execute(sa.text(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")).first())


def upgrade() -> None:
    """New values of weekly_reports.data and .overall compressed with lz4 (those already kept stay as they are);
    nothing to do on SQLite or a PostgreSQL without lz4."""
    conn = op.get_bind()
    if _lz4_available(conn):
        op.execute("ALTER TABLE weekly_reports ALTER COLUMN data SET COMPRESSION lz4, "
                   "ALTER COLUMN overall SET COMPRESSION lz4")


def downgrade() -> None:
    """Back to the server's default compression for new values."""
    conn = op.get_bind()
    if _lz4_available(conn):
        op.execute("ALTER TABLE weekly_reports ALTER COLUMN data SET COMPRESSION default, "
                   "ALTER COLUMN overall SET COMPRESSION default")
