"""A page view ends its read-only transaction with COMMIT (psycopg forgets its
prepared statements on ROLLBACK); anything that wrote still ends with a rollback."""

from __future__ import annotations

import contextlib

from sqlalchemy import event, func, insert, select

from app.extensions import db
from app.models import Tag


@contextlib.contextmanager
def transaction_ends(app):
    ends: list[str] = []
    with app.app_context():
        engine = db.engine

    def committed(conn):
        ends.append("commit")

    def rolled_back(conn):
        ends.append("rollback")

    event.listen(engine, "commit", committed)
    event.listen(engine, "rollback", rolled_back)
    try:
        yield ends
    finally:
        event.remove(engine, "commit", committed)
        event.remove(engine, "rollback", rolled_back)


def test_a_page_view_ends_with_commit(app, login_as):
    client = login_as("reception")
    with transaction_ends(app) as ends:
        assert client.get("/customerview/list/").status_code == 200
        assert client.get("/orderview/list/").status_code == 200
    # each page's read, and the session's row where the page changed it (the
    # back-navigation history), end with COMMIT: no ROLLBACK drops the prepared statements
    assert ends and set(ends) == {"commit"}


def tags_named(app, name) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Tag).where(Tag.name == name))


def test_a_request_that_wrote_without_committing_is_rolled_back(app):
    with transaction_ends(app) as ends:
        with app.test_request_context("/"):
            db.session.execute(insert(Tag).values(name="Не сохранять", color="#000000"))
    assert ends == ["rollback"]
    assert tags_named(app, "Не сохранять") == 0


def test_pending_orm_changes_are_not_committed_by_the_hook(app):
    with app.test_request_context("/"):
        db.session.scalar(select(func.count()).select_from(Tag))
        db.session.add(Tag(name="Тоже не сохранять"))
    assert tags_named(app, "Тоже не сохранять") == 0


def test_a_request_that_failed_is_rolled_back(app):
    with transaction_ends(app) as ends:
        try:
            with app.test_request_context("/"):
                db.session.scalar(select(func.count()).select_from(Tag))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert ends == ["rollback"]
