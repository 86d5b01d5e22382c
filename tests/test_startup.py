"""What an operator sees when the app starts, and what a browser asks for on every page."""

import logging
import re

from app.access import sync_roles


def test_syncing_roles_logs_no_warning(app, ctx, caplog):
    # A view and its API share a resource: registering them one by one made FAB try
    # to drop each other's permissions, a dozen warnings at every start.
    with caplog.at_level(logging.WARNING):
        sync_roles()
        sync_roles()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_starting_the_app_logs_no_warning(app, caplog):
    # FAB's filter converter warned «Filter type not supported for column: debt» at
    # every start (a filter of the customers list that is not a column).
    from app import create_app

    with caplog.at_level(logging.WARNING):
        create_app(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_every_page_names_an_icon_that_exists(client, login_as):
    # Without one, the browser's request for /favicon.ico was a full 404 page on every visit.
    for page in (client.get("/login/"), login_as("reception").get("/customerview/list/")):
        icon = re.search(r'<link href="([^"]+)" rel="icon"', page.get_data(as_text=True))
        assert icon, "no icon link on the page"
        answer = client.get(icon.group(1))
        assert answer.status_code == 200
        assert answer.mimetype == "image/svg+xml"
        assert answer.data.startswith(b"<svg")


def test_the_example_environment_names_the_clinic():
    from pathlib import Path

    from tests.test_checklist import environment_file

    example = environment_file(Path(__file__).parent.parent / "deploy" / "kartoteka.env.example")
    assert example["KARTOTEKA_CLINIC_NAME"] == "Клиника «Здоровье»"


def test_the_user_form_offers_staff_roles_only(app, login_as):
    # «Public» (the signed-out visitor's role, in English) was offered beside the staff roles.
    from tests.conftest import user_id

    admin = login_as("sysadmin")
    for url in ("/users/add", f"/users/edit/{user_id(app, 'auditor')}"):
        page = admin.get(url).get_data(as_text=True)
        options = re.findall(
            r"<option[^>]*>([^<]+)</option>", page.split('name="roles"', 1)[1].split("</select>")[0]
        )
        assert "Администратор системы" in options and "Аудитор" in options
        assert "Public" not in options


def test_postgresql_runs_kartotekas_statements_without_jit(app):
    """PostgreSQL compiled a list's deep page (its estimated cost passed jit_above_cost):
    91 ms of its 141 ms at a million customers. The app's sessions run without JIT."""
    import pytest
    from sqlalchemy import text

    from app.extensions import db

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("a PostgreSQL setting")
    with app.app_context():
        assert db.session.execute(text("SHOW jit")).scalar() == "off"
