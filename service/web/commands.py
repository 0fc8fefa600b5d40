"""Command-line tasks on the app: `flask --app service.web db upgrade`, `... community load`."""
import click
from flask import Flask

from service.community import load_community
from service.db import upgrade_schema
from service.web import services


def init_app(app: Flask) -> None:
    """Register the command groups."""

    @app.cli.group()
    def db():
        """Database schema."""

    @db.command("upgrade")
    def db_upgrade():
        """Run the migrations up to the newest."""
        upgrade_schema(services().settings.database_url)
        click.echo("database is up to date")

    @app.cli.group()
    def community():
        """The community's data files (categories, users, grids)."""

    @community.command("load")
    def community_load():
        """Load or refresh categories, demo users and grids from config/."""
        s = services().settings
        with services().db.session() as session:
            summary = load_community(session, s.categories_file, s.users_file, s.grids_file,
                                     s.resolved_demo_password())
        click.echo(f"loaded {summary.categories} categories, {summary.users} users, {summary.grids} grids")
