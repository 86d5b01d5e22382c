"""What the embedded SQLite needs to serve a small clinic, and statistics for both databases.

- Foreign keys on: SQLite ignores them unless asked per connection, so a customer
  deleted on SQLite left their messages, documents and history behind.
- WAL and a busy timeout: readers do not wait for a writer (the embedded worker
  thread and the web share the file), a write waits for another instead of failing.
- No JIT on PostgreSQL: its planner compiles a statement whose estimated cost passes
  ``jit_above_cost``, and a list's deep page (a correlated «Сумма покупок» over the
  ~9,900 rows its OFFSET skips, estimated at 50 million) spent 91 ms of its 141 ms
  compiling, at a million customers. Kartoteka's statements are short; they run
  without it (38 ms).
- Statistics: SQLite's planner has none until ``ANALYZE`` (or ``PRAGMA optimize``)
  runs, and sorted 80,000 rows where an analysed copy used an index; PostgreSQL's
  autovacuum comes later than a bulk seed (a fresh 50,000-customer database served
  the phone search at 22 requests/s, 119 after ANALYZE).
"""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    # deleted rows are overwritten, not left in free pages (an erasure is an erasure)
    "PRAGMA secure_delete = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA synchronous = NORMAL",
)


def engine_options(uri: str, options: dict | None = None) -> dict:
    """Flask-SQLAlchemy's engine options for ``uri``: PostgreSQL's sessions start with
    JIT off (libpq's ``options``), whatever the server's default."""
    options = dict(options or {})
    if uri.startswith("postgresql"):
        connect_args = dict(options.get("connect_args") or {})
        connect_args["options"] = f"{connect_args.get('options', '')} -c jit=off".strip()
        options["connect_args"] = connect_args
    return options


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    module = type(dbapi_connection).__module__
    if not module.startswith(("sqlite3", "pysqlite")):
        return
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.execute("PRAGMA database_list")
        if any(row[2] for row in cursor.fetchall()):  # a file, not an in-memory database
            cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def refresh_statistics(session, tables: tuple[str, ...] = ()) -> None:
    """Statistics for the planner after a bulk write (a seed, an import) or at start:
    ``ANALYZE`` of what was written on PostgreSQL, ``PRAGMA optimize`` (or a full
    ``ANALYZE`` after a bulk write) on SQLite. Commits."""
    session.commit()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        for table in tables or ("",):
            session.execute(text(f'ANALYZE "{table}"' if table else "ANALYZE"))
    elif dialect == "sqlite":
        session.execute(text("ANALYZE" if tables else "PRAGMA optimize"))
    session.commit()
