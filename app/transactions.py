"""Read-only requests end with COMMIT, so PostgreSQL keeps its prepared statements.

psycopg prepares a statement on the server after its fifth execution on a
connection, and then skips planning it (1-4 ms for the user-and-permissions
load, the card and the tab queries). But it forgets every prepared statement on
ROLLBACK, and a request's session ends with a rollback: so nothing was ever
prepared and every page paid planning for every statement.

A transaction that ran nothing but SELECT statements changes nothing, so ending
it with COMMIT is the same as a rollback for the data, and keeps the statements.
Any other statement (INSERT, UPDATE, DELETE, SAVEPOINT, DDL…) or pending ORM
changes, or an exception, and the request ends with a rollback as before.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db

_WROTE = "kartoteka_wrote"


@event.listens_for(Engine, "begin")
def _transaction_begins(conn) -> None:
    conn.info[_WROTE] = False


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn, cursor, statement, parameters, context, executemany) -> None:
    if not statement.lstrip()[:6].upper() == "SELECT":
        conn.info[_WROTE] = True


def install(app: Flask) -> None:
    @app.teardown_appcontext
    def commit_read_only_transaction(exc) -> None:
        """At the end of the request's application context, just before
        Flask-SQLAlchemy closes the session (teardown functions run in reverse
        order of registration, and db.init_app came first).

        COMMIT on the connection itself: the ORM's commit (flush, the identity
        map expired, its events) was ~140 Python calls of every page, for a
        transaction that read only (nothing to flush, nothing for the events:
        messages and erasures are flushed writes). Done when the session ends,
        not at the request's teardown: a session that outlived the request (a
        test's or a shell's application context) would find its transaction
        ended under it. The session then closes without a ROLLBACK."""
        if exc is not None or not db.session.registry.has():
            return
        session = db.session.registry()
        if not session.in_transaction() or session.new or session.dirty or session.deleted:
            return
        connection = session.connection()
        if connection.info.get(_WROTE, True):
            return  # left to the rollback when the session closes
        transaction = connection.get_transaction()
        if transaction is not None:
            transaction.commit()
        db.session.remove()  # now, whatever the order of the teardown functions


def end_read_only() -> None:
    """End the session's transaction now: COMMIT if it only read (keeping
    PostgreSQL's prepared statements), else ROLLBACK (what the request left
    unsaved is not for another write to commit; app/sessions.py writes the session
    row after the response is built)."""
    if not db.session.registry.has():
        return
    session = db.session()
    if not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted or session.connection().info.get(_WROTE, True):
        session.rollback()
    else:
        session.commit()
