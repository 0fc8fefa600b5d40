"""Command-line tasks on the app: `flask --app service.web db upgrade`, `... community load`, `... report weekly`."""
import click
from flask import Flask

from service.community import load_community
from service.db import upgrade_schema, utcnow
from service.web.extensions import services
from service.weekly import FIRST_YEAR, LAST_YEAR, Week, build_weekly_report, headline, last_week


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

    @app.cli.group()
    def report():
        """The weekly closure report."""

    @report.command("weekly")
    @click.option("--week", "week_name", help="ISO week like 2026-W09; last week when left out")
    def report_weekly(week_name):
        """Build (or rebuild) a week's closure report and keep it."""
        tz, now = services().settings.timezone, utcnow()
        try:
            week = Week.parse(week_name) if week_name else last_week(now, tz)
        except ValueError:
            raise click.BadParameter(f"{week_name!r} is not an ISO week like 2026-W09 from {FIRST_YEAR} to {LAST_YEAR}",
                                     param_hint="--week") from None
        with services().db.session() as session:
            built = build_weekly_report(session, week, tz, now)
        click.echo(headline(built.data))
