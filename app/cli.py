"""CLI commands: two-line wrappers around domain functions."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

kartoteka = AppGroup("kartoteka", help="Kartoteka: roles, demo data.")


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
    from .demo import create_demo_users

    password, logins = create_demo_users(password or None)
    for login, role in logins:
        click.echo(f"{login:10} {role}")
    click.echo(f"password: {password}")


@kartoteka.command("sweep")
def sweep_command():
    """Enqueue messages left behind (Redis was down, a job vanished, a reminder is due)."""
    from .worker import sweep_once

    click.echo(f"enqueued: {len(sweep_once())}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Deliver what is queued, then exit.")
@click.option(
    "--simple",
    is_flag=True,
    help="Run jobs in this process instead of forking one work horse per job (faster; "
    "if it dies, the sweeper hands its message out again).",
)
def worker_command(burst, simple):
    """Deliver notifications: an RQ worker with the scheduler and a periodic sweeper."""
    from flask import current_app

    from .worker import run_worker, start_sweeper

    start_sweeper(current_app._get_current_object())
    run_worker(burst=burst, simple=simple)


def register_cli(app: Flask) -> None:
    app.cli.add_command(kartoteka)
    app.cli.add_command(worker_command)
