"""No page reads a whole table that grows with the clinic, under the statistics a
large clinic's SQLite gathers.

The embedded default plans its statements from ``ANALYZE``'s statistics (the app
runs it after a bulk write and ``PRAGMA optimize`` at start). SQLite counts the
rows that leave an optional reference empty as one value: in a clinic whose bonus
accruals name no payment, the index on ``account_operation.payment_id`` looked as
if it matched every row, and the card's «Платежи» tab scanned every account
operation once per payment (148 ms of a 180 ms card at 100,000 customers). A test
database of forty rows never shows it; these statistics do.

Generated, not listed: the pages are the whole URL map's GETs (tests/test_walk.py's
walk, with a row in every table that points at a customer), for a role that sees
every row and for each role limited to its own; every statement they issue is
explained on a copy of the database that is given the statistics of a clinic with
100,000 rows in each table that grows with its customers, and the worst case for
every index on a column that may be empty (all of its rows empty). A growing table
must not be scanned inside a correlated subquery, as the inner side of a join, or
at all on a record's page; nor may SQLite have to build an automatic index on it.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from flask_appbuilder import Model

from app.extensions import db
from tests import matrix
from tests.test_walk import plant, walk

ROWS = 100_000  # each growing table's rows in the statistics
SMALL = 50  # a table an administrator fills (branches, tags, users…)
SCAN = re.compile(r"^SCAN (\w+)(?: AS \w+)?(?: USING (?:COVERING )?INDEX \w+)?$")
AUTOMATIC = re.compile(r"AUTOMATIC (?:PARTIAL )?(?:COVERING )?INDEX ON (\w+)")


def growing_tables() -> set[str]:
    """The customer, every table with a customer's id, and every table that points
    at one of those (an order's items, a message's attempts…)."""
    tables = Model.metadata.tables
    grown = {"customer"} | {name for name, table in tables.items() if "customer_id" in table.c}
    while True:
        more = {
            name
            for name, table in tables.items()
            if name not in grown and any(fk.column.table.name in grown for fk in table.foreign_keys)
        }
        if not more:
            return grown
        grown |= more


def big_clinic_statistics(conn, grown: set[str]) -> list[tuple[str, str | None, str]]:
    """sqlite_stat1's rows for a big clinic, each index of the database at its worst
    plausible: on a reference that may be empty, as if every row left it empty (what
    ANALYZE reports for such a column); a partial index over the rows that have a
    value as selective, a unique one as unique, any other as ten rows a value."""
    rows = []
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        total = ROWS if table in grown else SMALL
        rows.append((table, None, str(total)))
        nullable = {
            name
            for _cid, name, _type, notnull, _default, pk in conn.execute(
                "SELECT * FROM pragma_table_info(?)", (table,)
            )
            if not notnull and not pk
        }
        references = {row[3] for row in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (table,))}
        for _seq, index, unique, _origin, partial in conn.execute(
            "SELECT * FROM pragma_index_list(?)", (table,)
        ):
            columns = [row[2] for row in conn.execute("SELECT * FROM pragma_index_info(?)", (index,))]
            stats = [total]
            for position, column in enumerate(columns):
                if partial or unique:
                    stats.append(1)
                elif (
                    position == 0 and column in nullable and (column in references or column.endswith("_id"))
                ):
                    stats.append(total)
                else:
                    stats.append(min(10, total) if position == 0 else 1)
            rows.append((table, index, " ".join(map(str, stats))))
    return rows


def flagged(plan: list[tuple], grown: set[str], record_page: bool) -> list[str]:
    """The plan's lines that read a growing table whole (see the module's text)."""
    by_id = {row[0]: row for row in plan}
    found = []
    first_of = {}
    for node_id, parent, _unused, detail in plan:
        if detail.startswith(("SCAN", "SEARCH")):
            first_of.setdefault(parent, node_id)
        automatic = AUTOMATIC.search(detail)
        if automatic and automatic.group(1) in grown:
            found.append(detail)
            continue
        scan = SCAN.match(detail)
        if not scan or scan.group(1) not in grown:
            continue
        ancestors, up = [], parent
        while up in by_id:
            ancestors.append(by_id[up][3])
            up = by_id[up][1]
        if record_page or any("CORRELATED" in a for a in ancestors) or first_of[parent] != node_id:
            found.append(detail)
    return found


def roles_to_walk() -> list[str]:
    """One role that sees every row, and each role limited to its own rows."""
    return [next(k for k in matrix.ROLE_KEYS if k in matrix.ALL_ROWS and k != "sysadmin")] + [
        k for k in matrix.ROLE_KEYS if k not in matrix.ALL_ROWS
    ]


def test_no_page_scans_a_growing_table_under_a_big_clinics_statistics(app, login_as, tmp_path):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the statistics and the plans here are SQLite's (the embedded default)")
    with app.app_context():
        rows = plant(app)
        engine = db.engine
    # (statement, from a record's page) -> (parameters, the first page that issued it):
    # the walk of tests/test_walk.py, which each role does once a session
    issued: dict[tuple[str, bool], tuple[tuple, str]] = {}
    for role in roles_to_walk():
        for key, first in walk(app, login_as, rows, role).issued.items():
            issued.setdefault(key, first)
    assert len(issued) > 100, len(issued)

    copy = tmp_path / "big-clinic.db"
    engine.dispose()
    shutil.copyfile(Path(engine.url.database), copy)
    grown = growing_tables()
    conn = sqlite3.connect(copy)
    try:
        conn.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 if it is missing
        conn.execute("DELETE FROM sqlite_stat1")
        conn.executemany(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", big_clinic_statistics(conn, grown)
        )
        conn.commit()
        conn.execute("ANALYZE sqlite_schema")  # the planner reads the statistics again
        bad = {}
        for (statement, record_page), (parameters, url) in issued.items():
            plan = conn.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            lines = flagged(plan, grown, record_page)
            if lines:
                bad[url] = (lines, statement[:400])
    finally:
        conn.close()
    assert bad == {}, "\n\n".join(f"{url}: {lines}\n{sql}" for url, (lines, sql) in bad.items())
