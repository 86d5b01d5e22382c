"""Fixtures: app (migrated database) -> users per role -> client -> login_as.

The database is SQLite (a temporary file) unless TEST_DATABASE_URL points at
PostgreSQL; .ci/run runs the suite on both. Migrations create the schema once
per session; every test starts from empty domain tables.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from werkzeug.security import generate_password_hash

from app import create_app
from app.access import ROLES, sync_roles
from app.extensions import db

PASSWORD = "correct-horse-battery-staple"
QUICK_HASH = "pbkdf2:sha256:1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of the suite's own, on a free port, keeping nothing on disk.

    Tests never touch a Redis they did not start (a plain ``pytest`` used to empty
    database 7 of whatever listened on 6379); a test may stop and start it again
    to play an outage."""

    def __init__(self, folder):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.folder), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """The suite's private Redis (TEST_REDIS_URL points at another one instead)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
        server.url = url
        yield server
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis(app, redis_server):
    """The app enqueues to the suite's Redis, emptied before and after the test."""
    from redis import Redis

    from app import worker

    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    saved = dict(app.config["NOTIFY_CHANNELS"]), app.config["REDIS_URL"]
    app.config["REDIS_URL"] = redis_server.url
    worker._job_app["app"] = app
    yield connection
    app.config["NOTIFY_CHANNELS"], app.config["REDIS_URL"] = saved
    with contextlib.suppress(Exception):
        connection.flushdb()


# `make mutation` starts the app once per mutant: there the first start leaves its
# migrated database, roles and users in this file, and every later start copies it
# instead of migrating and seeding the roles again (tests/mutation.py sets it).
DATABASE_TEMPLATE = os.environ.get("KARTOTEKA_TEST_DATABASE_TEMPLATE")


def pytest_collection_modifyitems(config, items):
    """Under `make mutation`, the quickest tests first: a mutant is killed by the first
    test that fails (-x), and one start of the roles' sync takes seconds."""
    stats = os.environ.get("KARTOTEKA_MUTATION_STATS")
    if stats and os.path.exists(stats):
        import json

        with open(stats, encoding="utf-8") as f:
            durations = json.load(f).get("duration_by_test", {})
        items.sort(key=lambda item: durations.get(item.nodeid, 0.0))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    path = tmp_path_factory.mktemp("db") / "test.db"
    if DATABASE_TEMPLATE and os.path.exists(DATABASE_TEMPLATE):
        shutil.copyfile(DATABASE_TEMPLATE, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    from config import TestConfig

    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        INSTANCE_DIR=str(tmp_path_factory.mktemp("instance")),
        SECRET_KEY="test-secret-key",
    )
    app.jinja_env.undefined = (
        __import__("jinja2").StrictUndefined if os.environ.get("STRICT_JINJA") else app.jinja_env.undefined
    )
    templated = (
        bool(DATABASE_TEMPLATE) and database_url.startswith("sqlite:") and os.path.exists(DATABASE_TEMPLATE)
    )
    with app.app_context():
        upgrade(revision="heads")
        empty_domain_tables()  # the migrations write default rows (message templates)
        if not templated:
            sync_roles()
        sm = app.appbuilder.sm
        for key, spec in ROLES.items():
            if sm.find_user(username=key) is None:
                sm.add_user(
                    key,
                    key.capitalize(),
                    "Тестовый",
                    f"{key}@test.example",
                    [sm.find_role(spec.name)],
                    password=PASSWORD,
                )
            # Signing in checks the password against its hash: with FAB's scrypt that is
            # ~70 ms of CPU per login_as, a minute or more of the suite. The role users
            # the fixtures sign in keep the same password under a one-round hash (the
            # method is read from the stored hash); users a test creates, and the app's
            # own setting, keep scrypt.
            sm.find_user(username=key).password = generate_password_hash(PASSWORD, method=QUICK_HASH)
        db.session.commit()
    if DATABASE_TEMPLATE and database_url.startswith("sqlite:") and not templated:
        import sqlite3  # its backup reads what is committed, the write-ahead log included

        with (
            contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as source,
            contextlib.closing(sqlite3.connect(DATABASE_TEMPLATE + ".part")) as copy,
        ):
            source.backup(copy)
        os.replace(DATABASE_TEMPLATE + ".part", DATABASE_TEMPLATE)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


DOMAIN_TABLES_KEEP = re.compile(r"^ab_|^alembic_version$")


def empty_domain_tables():
    """DELETE every domain table, children first, in one transaction.

    On PostgreSQL the DELETEs go as one multi-statement query (one round trip, no
    SQLAlchemy compilation): after every test that took ~40 ms of 38 statements,
    now ~4 ms. On SQLite the statements are sent as plain text (no compilation).
    A worker process's writes are emptied too: nothing here guesses which tables a
    test wrote."""
    from flask_appbuilder import Model

    statements = domain_deletes(len(Model.metadata.tables))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute("; ".join(statements).encode())  # no parameters: one simple query
        else:
            for statement in statements:
                conn.exec_driver_sql(statement)


@functools.cache
def domain_deletes(_tables: int) -> tuple[str, ...]:
    """The statements, once per set of tables (keyed by their number)."""
    from flask_appbuilder import Model

    return tuple(
        f'DELETE FROM "{table.name}"'
        for table in reversed(Model.metadata.sorted_tables)
        if not DOMAIN_TABLES_KEEP.match(table.name)
    )


@pytest.fixture(autouse=True)
def clean_db(request, app):
    """Every test starts with empty domain tables (security tables are kept)."""
    yield
    with app.app_context():
        db.session.rollback()
        empty_domain_tables()
    # what the emptied rows stored on disk goes too: the demo's scans stayed in files/,
    # and the next test that counts the stored files found them
    for folder in ("files", "exports", "outbox"):
        for path in (Path(app.config["INSTANCE_DIR"]) / folder).rglob("*"):
            if path.is_file():
                path.unlink()
    # the kept filter choices are of the data just deleted under the ORM's feet
    from app.admin import options

    options.forget()
    # The in-process job store (run.py's default) outlives a test, while message
    # ids start again at 1 in the emptied tables: a job one test left behind
    # («message-1-0», unique) made the next test's enqueue a duplicate, and its
    # message stayed «в очереди».
    from app import worker

    store = worker._embedded.get("redis")
    if store is not None:
        store.flushall()


@pytest.fixture
def ctx(app):
    """An application context for direct database work inside a test."""
    with app.app_context():
        yield db.session
        db.session.rollback()


class IsolatedClient(FlaskClient):
    """Each request in an application context of its own, as in production.

    Without this a request would reuse the test's pushed app context and share
    its ``g`` (the signed-in user, the permission cache) and database session.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, username, password=PASSWORD):
        return self.client.post("/login/", data={"username": username, "password": password})

    def logout(self):
        return self.client.get("/logout/")


@pytest.fixture
def login_as(client):
    """``login_as("reception")`` signs the test client in as that role's user."""

    def _login(role_key):
        auth = Auth(client)
        auth.logout()  # FAB ignores a login while someone is signed in
        response = auth.login(role_key)
        assert response.status_code == 302, response.data[:500]
        return client

    return _login


def user_id(app, username) -> int:
    with app.app_context():
        return app.appbuilder.sm.find_user(username=username).id


@contextlib.contextmanager
def count_queries(app):
    """Count SQL statements executed (permissions, data) inside the block."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


# -- the browser tests' app on 127.0.0.1 and Debian's chromium in Russian (Playwright) -----

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def server(app):
    """The app served on 127.0.0.1 for a module's browser tests, with real CSRF tokens."""
    import threading

    from werkzeug.serving import make_server

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    app.config["WTF_CSRF_ENABLED"] = True  # the browser carries real tokens
    # The browser keeps the static files it fetched for an hour: with Flask's default (no
    # max-age) every page load asked again for its ~25 scripts, styles and fonts, each a
    # request through this process's app answered 304, half of a page's time in these
    # tests. The files are the same; pages and API answers stay «no-store» (app/admin/headers.py).
    saved_max_age = app.config["SEND_FILE_MAX_AGE_DEFAULT"]
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = saved_max_age


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the session: the browser modules open a context of their own per test."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--lang=ru",
            ],
        )
        yield browser
        browser.close()
