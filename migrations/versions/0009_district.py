"""one service for the district: street offices, communities with boundary generations, units, grid generations,
people and cases placed in the hierarchy, weekly reports per part

An install that served one community upgrades in place: its community (code `sq`, 本社区) becomes the one
community of a one-office district (`jd`, 本街道), with a boundary around its grids; its staff and grid workers
belong to it, and so do its cases and its weekly reports. A district's files (`flask district load`) rename them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import json

from alembic import op
import sqlalchemy as sa

import service.db
from service.states import OPEN, CaseState


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OPEN_STATES = "state IN (" + ", ".join(f"'{s}'" for s in OPEN) + ")"
QUEUE_KEYS = [sa.text(f"(CASE WHEN state = '{CaseState.UNROUTED}' THEN 0 ELSE 1 END)"), sa.text('(-priority)'),
              sa.text("(COALESCE(deadline_at, '9999-12-31 00:00:00.000000'))"), 'id']
UPGRADED_OFFICE, UPGRADED_COMMUNITY = ('jd', '本街道'), ('sq', '本社区')
MARGIN_DEGREES = 0.01  # about 1 km around the old grids: the upgraded community's first boundary


def upgrade() -> None:
    """The new tables and columns, then the old install's rows placed in its one community."""
    _hierarchy_tables()
    _grid_generations()
    with op.batch_alter_table('users', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('street_office_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_users_community_id_communities'), 'communities', ['community_id'], ['id'])
        batch.create_foreign_key(op.f('fk_users_street_office_id_street_offices'), 'street_offices',
                                 ['street_office_id'], ['id'])
        batch.create_foreign_key(op.f('fk_users_unit_id_units'), 'units', ['unit_id'], ['id'])
        batch.drop_constraint(op.f('ck_users_role'), type_='check')
        batch.create_check_constraint(op.f('ck_users_role'),
                                      "role IN ('reporter', 'grid_worker', 'unit', 'staff', 'admin')")
    # cases keeps its expression indexes: columns are added in place, not by rebuilding the table
    _add_reference('cases', 'community_id', 'communities')
    _add_reference('cases', 'street_office_id', 'street_offices')
    op.add_column('cases', sa.Column('escalated_at', service.db.UTCDateTime(), nullable=True))
    op.create_index('ix_cases_community_state', 'cases', ['community_id', 'state'])
    op.create_index('ix_cases_street_office_state', 'cases', ['street_office_id', 'state'])
    for column in ('community_id', 'street_office_id'):
        op.create_index(f'ix_cases_{column}_queue', 'cases', [column, *QUEUE_KEYS],
                        postgresql_where=sa.text(OPEN_STATES), sqlite_where=sa.text(OPEN_STATES))
    _weekly_reports_per_scope()
    _place_the_old_community()
    with op.batch_alter_table('grids', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.alter_column('community_id', existing_type=sa.Integer(), nullable=False)


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable column referring to target.id, added in place (SQLite takes REFERENCES in ADD COLUMN, though
    Alembic will not emit it; a batch rebuild would lose the table's expression indexes)."""
    name = f'fk_{table}_{column}_{target}'
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
                   f"CONSTRAINT {name} REFERENCES {target} (id)")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, table, target, [column], ['id'])


def _hierarchy_tables() -> None:
    op.create_table('street_offices',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('code', sa.String(length=32), nullable=False),
                    sa.Column('name', sa.String(length=100), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_street_offices')),
                    sa.UniqueConstraint('code', name=op.f('uq_street_offices_code')))
    op.create_table('communities',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('code', sa.String(length=32), nullable=False),
                    sa.Column('name', sa.String(length=100), nullable=False),
                    sa.Column('street_office_id', sa.Integer(), nullable=False),
                    sa.Column('webhook_url', sa.String(length=500), nullable=True),
                    sa.ForeignKeyConstraint(['street_office_id'], ['street_offices.id'],
                                            name=op.f('fk_communities_street_office_id_street_offices')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_communities')),
                    sa.UniqueConstraint('code', name=op.f('uq_communities_code')))
    op.create_table('community_boundaries',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('community_id', sa.Integer(), nullable=False),
                    sa.Column('polygon', sa.JSON(), nullable=False),
                    sa.Column('valid_from', service.db.UTCDateTime(), nullable=False),
                    sa.Column('retired_at', service.db.UTCDateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                            name=op.f('fk_community_boundaries_community_id_communities')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_community_boundaries')))
    op.create_index('ix_community_boundaries_current', 'community_boundaries', ['community_id', 'retired_at'])
    op.create_table('units',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('code', sa.String(length=32), nullable=False),
                    sa.Column('name', sa.String(length=100), nullable=False),
                    sa.Column('active', sa.Boolean(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
                    sa.UniqueConstraint('code', name=op.f('uq_units_code')))


def _grid_generations() -> None:
    with op.batch_alter_table('grids', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('street', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('valid_from', service.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('retired_at', service.db.UTCDateTime(), nullable=True))
        batch.create_foreign_key(op.f('fk_grids_community_id_communities'), 'communities', ['community_id'], ['id'])
        batch.drop_constraint(op.f('uq_grids_code'), type_='unique')
    op.execute("UPDATE grids SET valid_from = updated_at")
    with op.batch_alter_table('grids', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.alter_column('valid_from', existing_type=service.db.UTCDateTime(), nullable=False)
    op.create_index('uq_grids_current_code', 'grids', ['code'], unique=True,
                    postgresql_where=sa.text('retired_at IS NULL'), sqlite_where=sa.text('retired_at IS NULL'))
    op.create_index('ix_grids_community', 'grids', ['community_id'])


def _weekly_reports_per_scope() -> None:
    """weekly_reports gains `scope` in its key: the table is made anew and the kept reports copied over."""
    op.create_table('weekly_reports_0009',
                    sa.Column('week', sa.String(length=8), nullable=False),
                    sa.Column('scope', sa.String(length=48), nullable=False),
                    sa.Column('built_at', service.db.UTCDateTime(), nullable=False),
                    sa.Column('data', sa.JSON(), nullable=False),
                    sa.PrimaryKeyConstraint('week', 'scope', name='pk_weekly_reports_0009'))
    op.execute(f"INSERT INTO weekly_reports_0009 (week, scope, built_at, data) "
               f"SELECT week, 'community:{UPGRADED_COMMUNITY[0]}', built_at, data FROM weekly_reports")
    op.drop_table('weekly_reports')
    op.rename_table('weekly_reports_0009', 'weekly_reports')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE weekly_reports RENAME CONSTRAINT pk_weekly_reports_0009 TO pk_weekly_reports")


def _place_the_old_community() -> None:
    """An install with data in it: one office, one community holding its grids, staff, grid workers and cases."""
    conn = op.get_bind()
    has_data = any(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) for table in ('grids', 'cases', 'users'))
    if not has_data:
        return
    conn.execute(sa.text("INSERT INTO street_offices (code, name) VALUES (:c, :n)"),
                 {"c": UPGRADED_OFFICE[0], "n": UPGRADED_OFFICE[1]})
    office = conn.scalar(sa.text("SELECT id FROM street_offices WHERE code = :c"), {"c": UPGRADED_OFFICE[0]})
    conn.execute(sa.text("INSERT INTO communities (code, name, street_office_id) VALUES (:c, :n, :o)"),
                 {"c": UPGRADED_COMMUNITY[0], "n": UPGRADED_COMMUNITY[1], "o": office})
    community = conn.scalar(sa.text("SELECT id FROM communities WHERE code = :c"), {"c": UPGRADED_COMMUNITY[0]})
    conn.execute(sa.text("UPDATE grids SET community_id = :c"), {"c": community})
    conn.execute(sa.text("UPDATE users SET community_id = :c WHERE role IN ('staff', 'grid_worker')"),
                 {"c": community})
    conn.execute(sa.text("UPDATE cases SET community_id = :c, street_office_id = :o"), {"c": community, "o": office})
    for (code,) in conn.execute(sa.text("SELECT DISTINCT assignee_unit FROM cases WHERE assignee_unit IS NOT NULL")):
        conn.execute(sa.text("INSERT INTO units (code, name, active) VALUES (:c, :c, :a)"), {"c": code, "a": True})
    boundary = _box_around(conn)
    if boundary is not None:
        conn.execute(sa.text("INSERT INTO community_boundaries (community_id, polygon, valid_from) "
                             "VALUES (:c, :p, CURRENT_TIMESTAMP)"), {"c": community, "p": json.dumps(boundary)})


def _box_around(conn) -> dict | None:
    """A rectangle 1 km wider than the old grids all round, as a GeoJSON Polygon; None with no grids."""
    points = [point for (text,) in conn.execute(sa.text("SELECT polygon FROM grids"))
              for point in _points_of(json.loads(text) if isinstance(text, str) else text)]
    if not points:
        return None
    west, east = min(p[0] for p in points) - MARGIN_DEGREES, max(p[0] for p in points) + MARGIN_DEGREES
    south, north = min(p[1] for p in points) - MARGIN_DEGREES, max(p[1] for p in points) + MARGIN_DEGREES
    return {"type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]]}


def _points_of(geometry: dict) -> list:
    rings = geometry["coordinates"] if geometry["type"] == "Polygon" else \
        [ring for polygon in geometry["coordinates"] for ring in polygon]
    return [point for ring in rings for point in ring]


def downgrade() -> None:
    """Back to one community: the hierarchy's tables and columns dropped (retired grid generations with them)."""
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE cases SET grid_id = NULL WHERE grid_id IN "
                         "(SELECT id FROM grids WHERE retired_at IS NOT NULL)"))
    conn.execute(sa.text("DELETE FROM grids WHERE retired_at IS NOT NULL"))
    op.create_table('weekly_reports_0008',
                    sa.Column('week', sa.String(length=8), nullable=False),
                    sa.Column('built_at', service.db.UTCDateTime(), nullable=False),
                    sa.Column('data', sa.JSON(), nullable=False),
                    sa.PrimaryKeyConstraint('week', name='pk_weekly_reports_0008'))
    # one report a week: a one-community install's own (its community's sorts before 'district')
    op.execute("INSERT INTO weekly_reports_0008 (week, built_at, data) SELECT week, built_at, data "
               "FROM weekly_reports w WHERE scope = (SELECT min(scope) FROM weekly_reports v WHERE v.week = w.week)")
    op.drop_table('weekly_reports')
    op.rename_table('weekly_reports_0008', 'weekly_reports')
    if conn.dialect.name == 'postgresql':
        op.execute("ALTER TABLE weekly_reports RENAME CONSTRAINT pk_weekly_reports_0008 TO pk_weekly_reports")
    for column in ('community_id', 'street_office_id'):
        op.drop_index(f'ix_cases_{column}_queue', table_name='cases')
    op.drop_index('ix_cases_street_office_state', table_name='cases')
    op.drop_index('ix_cases_community_state', table_name='cases')
    with op.batch_alter_table('cases', reflect_kwargs={'resolve_fks': False}) as batch:
        if conn.dialect.name != 'sqlite':  # there the rebuilt table simply leaves them out with their columns
            batch.drop_constraint(op.f('fk_cases_street_office_id_street_offices'), type_='foreignkey')
            batch.drop_constraint(op.f('fk_cases_community_id_communities'), type_='foreignkey')
        batch.drop_column('escalated_at')
        batch.drop_column('street_office_id')
        batch.drop_column('community_id')
    if conn.dialect.name == 'sqlite':  # rebuilding the table lost the expression index batch mode cannot reflect
        op.execute("DROP INDEX IF EXISTS ix_cases_open_queue")
        op.create_index('ix_cases_open_queue', 'cases', QUEUE_KEYS,
                        postgresql_where=sa.text(OPEN_STATES), sqlite_where=sa.text(OPEN_STATES))
    with op.batch_alter_table('users', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.drop_constraint(op.f('fk_users_unit_id_units'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_users_street_office_id_street_offices'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_users_community_id_communities'), type_='foreignkey')
        batch.drop_column('unit_id')
        batch.drop_column('street_office_id')
        batch.drop_column('community_id')
    op.drop_index('ix_grids_community', table_name='grids')
    op.drop_index('uq_grids_current_code', table_name='grids')
    with op.batch_alter_table('grids', reflect_kwargs={'resolve_fks': False}) as batch:
        batch.drop_constraint(op.f('fk_grids_community_id_communities'), type_='foreignkey')
        batch.drop_column('retired_at')
        batch.drop_column('valid_from')
        batch.drop_column('street')
        batch.drop_column('community_id')
        batch.create_unique_constraint(op.f('uq_grids_code'), ['code'])
    op.drop_table('units')
    op.drop_index('ix_community_boundaries_current', table_name='community_boundaries')
    op.drop_table('community_boundaries')
    op.drop_table('communities')
    op.drop_table('street_offices')
