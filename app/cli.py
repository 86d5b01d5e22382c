"""CLI commands: two-line wrappers around domain functions."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

kartoteka = AppGroup("kartoteka", help="Kartoteka: roles, demo data, the sweeper and health.")


@kartoteka.command("init")
def init_command():
    """Create permissions and the default roles (idempotent); refresh the planner's statistics."""
    from .access import sync_roles
    from .database import refresh_statistics
    from .extensions import db

    click.echo(", ".join(sync_roles()) or "roles up to date")
    refresh_statistics(db.session)


@kartoteka.command("roles")
@click.option("--reset", is_flag=True, help="Restore the default permissions of every role.")
def roles_command(reset):
    """Sync roles; with --reset, overwrite administrators' changes with the defaults."""
    from .access import sync_roles

    click.echo(", ".join(sync_roles(reset=reset)) or "roles up to date")


@kartoteka.command("demo")
@click.option("--customers", default=300, show_default=True, help="How many customers.")
@click.option("--seed", default=1, show_default=True, help="Random seed (deterministic data).")
def demo_command(customers, seed):
    """Fill the database with realistic Russian demo data."""
    from .demo import seed_demo

    click.echo(seed_demo(customers=customers, seed=seed))


@kartoteka.command("demo-users")
@click.option("--password", envvar="KARTOTEKA_DEMO_PASSWORD", default="", help="Shared password.")
def demo_users_command(password):
    """Create one demo user per role and print their logins."""
    from flask_appbuilder.exceptions import PasswordComplexityValidationError

    from .demo import create_demo_users

    try:
        password, logins = create_demo_users(password or None)
    except PasswordComplexityValidationError as e:
        raise click.ClickException(str(e)) from None
    for login, role in logins:
        click.echo(f"{login:10} {role}")
    click.echo(f"password: {password}")


@kartoteka.command("backup")
@click.option("--to", "folder", default=None, help="Folder of the archives (default: KARTOTEKA_BACKUP_DIR).")
@click.option("--keep", type=int, default=None, help="Keep only this many newest archives in the folder.")
def backup_command(folder, keep):
    """Archive the database and the customers' files (app/backups.py)."""
    from .backups import backup

    click.echo(_domain(backup, folder, keep=keep))


@kartoteka.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(archive, yes):
    """Replace the database and the files with an archive's; stop the web and the workers first."""
    from .backups import restore

    if not yes:
        click.confirm(_restore_question(), default=False, abort=True)
    click.echo(_domain(restore, archive))


def _restore_question() -> str:
    from flask_babel import gettext as _

    return _(
        "База и файлы будут заменены копией; текущие сохранятся отдельным архивом. "
        "Веб-сервер и обработчики остановлены?"
    )


def _domain(function, *args, **kwargs):
    """A domain function's refusal (its Russian message) as the command's error."""
    from .errors import DomainError

    try:
        return function(*args, **kwargs)
    except DomainError as e:
        raise click.ClickException(str(e)) from None


@kartoteka.command("sweep")
def sweep_command():
    """Enqueue messages left behind (Redis was down, a job vanished, a reminder is due), once."""
    from .worker import sweep_once

    click.echo(f"enqueued: {len(sweep_once())}")


@kartoteka.command("sweeper")
def sweeper_command():
    """Sweep every SWEEP_INTERVAL_SECONDS, for ever (its own process; see deploy/)."""
    from .worker import run_sweeper

    _service(run_sweeper)


@kartoteka.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def health_command(as_json):
    """Queue depth, the oldest waiting message, the last sweep, Redis; exit 1 on a problem."""
    from .worker import health

    report = health()
    click.echo(health_text(report, as_json))
    raise SystemExit(0 if report["ok"] else 1)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Deliver what is queued, then exit.")
@click.option(
    "--fork/--simple",
    default=None,
    help="RQ's forking Worker (a work horse per job) or its SimpleWorker (jobs in this process, "
    "the default: WORKER_CLASS).",
)
def worker_command(burst, fork):
    """Deliver notifications: an RQ worker that waits out Redis outages."""
    from .worker import run_worker

    _service(run_worker, burst=burst, worker_class=None if fork is None else ("fork" if fork else "simple"))


def _service(function, **kwargs):
    """Run a long-lived service with timestamped INFO logs; a missing database is an error."""
    import logging

    from flask import current_app

    from .worker import NotConfigured

    level = current_app.config["LOG_LEVEL"].upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    try:
        function(**kwargs)
    except NotConfigured as e:
        raise click.ClickException(str(e)) from None


def health_text(report: dict, as_json: bool) -> str:
    import json

    if as_json:
        return json.dumps(report, default=str, indent=2, ensure_ascii=False)

    def age(seconds):
        return "-" if seconds is None else f"{seconds:.0f} s"

    lines = [
        f"status: {'ok' if report['ok'] else 'PROBLEM: ' + '; '.join(p['text'] for p in report['problems'])}",
        f"redis: {report['redis']}",
        f"waiting (due): {report['waiting']}, oldest waiting: {age(report['oldest_waiting_seconds'])}",
        f"last sweep: {report['last_sweep'] or 'never'} UTC ({age(report['last_sweep_seconds'])} ago)",
    ]
    for channel, state in report["channels"].items():
        counts = ", ".join(
            f"{key} {state[key]}"
            for key in ("waiting", "scheduled", "failing", "sending", "overdue", "failed")
        )
        paused = f" PAUSED since {state['paused_at']} UTC" if state["paused_at"] else ""
        lines.append(f"  {channel}: {counts}{paused}")
    return "\n".join(lines)


def register_cli(app: Flask) -> None:
    app.cli.add_command(kartoteka)
    app.cli.add_command(worker_command)
