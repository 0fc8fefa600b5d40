"""Command-line tasks on the app: `flask --app service.web db upgrade`, `... district load`, `... report weekly`,
`... open311 add-client NAME`, `... demo week`, `... backup`, `... restore --from DIR`."""
import dataclasses
from contextlib import contextmanager
from pathlib import Path

import click
import redis
from flask import Flask

from service import backups, open311_intake
from service.db import upgrade_schema, utcnow
from service.demo import DemoRefused, DemoSummary, DemoTools, make_demo_week
from service.district import DistrictFileError, load_district
from service.pipeline import PipelineRules
from service.refusals import Refused
from service.runtime.jobqueue import forget_all_jobs, registered_workers
from service.states import CaseState
from service.web.extensions import services
from service.weekly import FIRST_YEAR, LAST_YEAR, Week, build_all_weekly_reports, headline, last_week


def _week_option(week_name: str | None, default: Week) -> Week:
    """The week named by --week, or the default; a name that is no ISO week is a usage error."""
    try:
        return Week.parse(week_name) if week_name else default
    except ValueError:
        raise click.BadParameter(f"{week_name!r} is not an ISO week like 2026-W09 from {FIRST_YEAR} to {LAST_YEAR}",
                                 param_hint="--week") from None


@contextmanager
def _as_usage_error():
    """A backup or restore refused or failed: its message on the terminal and a non-zero exit."""
    try:
        yield
    except backups.BackupFailed as failed:
        raise click.ClickException(str(failed)) from None


def demo_tools() -> DemoTools:
    """What the demo data is made with: the app's photo store, intake limits and area, and the pipeline's and the
    desk's rules from the settings (as the photo worker reads them)."""
    svc, s = services(), services().settings
    rules = dataclasses.replace(PipelineRules.from_settings(s), staff_webhook=None)  # no robot for made-up cases
    with svc.db.session() as session:
        district = svc.district.fresh(session)
    return DemoTools(svc.photos, svc.limits, district, rules, svc.desk_rules)


def demo_lines(made: DemoSummary) -> list[str]:
    """What a demo run made, for the terminal: the weeks, the seed, and the cases per state."""
    before, week = made.weeks
    lines = [f"made {made.made} demo cases in {before.name} and {week.name} (seed {made.seed}; "
             f"the same again: --seed {made.seed})"]
    lines += [f"  {s.zh} {s.value}: {made.by_state.get(s, 0)}" for s in CaseState]
    lines.append(f"  返工 reworked: {made.reworked} · 延期 extended: {made.extended} · "
                 f"超期未结 overdue: {made.overdue}")
    if made.dropped:
        lines.append(f"  {made.dropped} case(s) stopped early: the lifecycle refused one of their steps")
    return lines


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
    def district():
        """The district's data files (config/district/: offices, communities, boundaries, grids, people)."""

    @district.command("load")
    def district_load():
        """Load or refresh the district from its files; a redrawn grid or boundary becomes a new generation."""
        s = services().settings
        with services().db.session() as session:
            try:
                summary = load_district(session, s.district_dir, s.resolved_demo_password())
            except DistrictFileError as error:
                raise click.ClickException(str(error)) from None
        click.echo(summary.line())

    app.cli.add_command(click.Group("community", help="The former name of `district`.",
                                    commands={"load": district_load}))

    @app.cli.group()
    def report():
        """The weekly closure report."""

    @report.command("weekly")
    @click.option("--week", "week_name", help="ISO week like 2026-W09; last week when left out")
    def report_weekly(week_name):
        """Build (or rebuild) a week's closure report and keep it."""
        tz, now = services().settings.timezone, utcnow()
        week = _week_option(week_name, last_week(now, tz))
        with services().db.session() as session:
            built = build_all_weekly_reports(session, week, tz, now)
        click.echo(f"{len(built)} reports built (the district, its street offices and communities)")
        click.echo(headline(built[0].data))

    @app.cli.group()
    def open311():
        """The systems that file cases through Open311 (/open311/v2/), each with its api_key."""

    @open311.command("add-client")
    @click.argument("name")
    def open311_add_client(name):
        """Add a client and print its api_key on the last line: shown this once, kept only as a hash."""
        with services().db.session() as session:
            try:
                client, key = open311_intake.add_client(session, name)
            except Refused as refused:
                raise click.ClickException(refused.en) from None
            click.echo(f"Open311 client {client.name} added; its api_key (shown once, keep it safe):")
        click.echo(key)

    @app.cli.command("backup")
    @click.option("--to", "parent", type=click.Path(file_okay=False, path_type=Path),
                  help="the folder backups go in, each in <UTC time>/; BACKUP_DIR, else instance/backups")
    @click.option("--keep", default=backups.DEFAULT_KEEP, show_default=True, type=click.IntRange(min=1),
                  help="whole backups kept in that folder (this one included); older ones are removed")
    def backup(parent, keep):
        """Back up the database (a consistent snapshot) and then every photo, with a manifest."""
        svc = services()
        with _as_usage_error():
            folder, manifest = backups.back_up(svc.settings, svc.photos,
                                               parent or backups.default_backup_folder(svc.settings), keep)
        click.echo(manifest.line(folder))

    @app.cli.command("restore")
    @click.option("--from", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="one backup: <backups>/<UTC time>")
    @click.option("--force", is_flag=True, help="restore even over a database that holds cases (replacing them)")
    def restore(folder, force):
        """Bring a backup back into this instance's database and photo store (stop the web, workers and scheduler
        first), then empty the job queues: their jobs name the old database's cases."""
        svc = services()
        try:
            workers = registered_workers(svc.jobs.connection)
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis cannot be reached ({exc}): a restore empties its job queues, so it "
                                       "needs Redis; nothing was changed") from None
        if workers:
            raise click.ClickException(
                f"{len(workers)} RQ worker(s) are running ({', '.join(workers[:3])}): stop the workers and the "
                "scheduler (systemctl stop suishoupai.target) and try again; nothing was changed")
        with _as_usage_error():
            restored = backups.restore(svc.settings, svc.photos, folder, force)
        click.echo(restored.line(folder))
        try:
            click.echo(f"{forget_all_jobs(svc.jobs.connection)} job(s) of the old database removed from Redis")
        except redis.RedisError as exc:
            raise click.ClickException(f"the restore is done, but Redis's job queues could not be emptied ({exc}): "
                                       "their jobs name the old database's cases; empty them before starting the "
                                       "workers (run restore again with --force once Redis is back)") from None

    @app.cli.group()
    def demo():
        """Demo data, for trying the service out and for screenshots."""

    @demo.command("week")
    @click.option("--week", "week_name", help="ISO week like 2026-W48; the current week when left out")
    @click.option("--cases", default=300, show_default=True, type=click.IntRange(1, 5000),
                  help="reports over that week and the one before")
    @click.option("--seed", type=int, help="the same seed makes the same cases; a random one when left out")
    @click.option("--force", is_flag=True, help="add another set even if those weeks have demo cases")
    def demo_week(week_name, cases, seed, force):
        """Make a realistic fortnight of cases (the week, so far if under way, and the week before), worked
        through the lifecycle, and build both weeks' reports."""
        tz, now = services().settings.timezone, utcnow()
        week = _week_option(week_name, Week.containing(now, tz))
        with services().db.session() as session:
            try:
                made = make_demo_week(session, demo_tools(), week, cases, seed, force, now)
            except DemoRefused as refused:
                raise click.ClickException(refused.message) from None
            for each in made.weeks:
                build_all_weekly_reports(session, each, tz, utcnow())
        click.echo("\n".join(demo_lines(made)))
        click.echo(f"weekly reports built: /desk/reports/{made.weeks[0].name}, /desk/reports/{week.name}")
