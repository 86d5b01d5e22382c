"""The access journal's rows of a request, written in one INSERT at its end.

A page that reads a customer's data (the card and its restricted tabs, a file's
download, an API read) notes what it read with ``access.journal()``; the rows go
to the database together, in the request's own transaction, once the answer is
a success (a refused request read nothing), or a refusal that shows what was read (the
card drawn again under a refused form). One statement however many rows: the card with
three restricted tabs costs one INSERT, not four commits.
"""

from __future__ import annotations

from flask import Flask, g, request
from sqlalchemy import insert

from ..extensions import db
from ..models import AccessLog, utcnow


def pending() -> list[dict]:
    return g.get("kartoteka_journal") or []


def shown() -> None:
    """This request's answer shows what its rows say whatever its status: the card
    drawn again under a refused form (422) or a refused status change (403) is read as
    the card is. Nothing the refused request tried is kept (write_journal)."""
    g.kartoteka_journal_shown = True


def write_journal(response):
    rows = g.pop("kartoteka_journal", None)
    if not rows or response.status_code >= 500:
        return response
    refused = response.status_code >= 400
    if refused and not g.get("kartoteka_journal_shown"):
        return response
    if request.method == "HEAD":  # answered without its body (a download's file): nothing was read
        return response
    if refused:  # only the reading is written: what the refused request left is dropped
        db.session.rollback()
    user = g.get("user")
    common = {
        "user_id": getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None,
        "ip": request.remote_addr,
        "user_agent": (request.user_agent.string or "")[:300] or None,
        "at": utcnow(),
    }
    # Core's executemany: one statement for every row (the ORM's bulk insert split
    # rows by the keys that were None)
    db.session.execute(insert(AccessLog.__table__), [{**common, **row} for row in rows])
    db.session.commit()
    return response


def install(app: Flask) -> None:
    app.after_request(write_journal)
