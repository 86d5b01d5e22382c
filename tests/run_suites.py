"""Run the whole suite on SQLite, then on PostgreSQL in a database of its own.

PostgreSQL is the server on 127.0.0.1:5432 (override with PG_ADMIN_URL); a
database ``kartoteka_test_<pid>`` is created for the run and dropped after it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pytest(env_extra: dict[str, str], label: str) -> int:
    print(f"=== test suite on {label} ===", flush=True)
    env = {**os.environ, **env_extra}
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env=env)


def main() -> int:
    status = pytest({}, "SQLite")
    name = f"kartoteka_test_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = ADMIN_URL.rsplit("/", 1)[0]
        url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
        status = pytest({"TEST_DATABASE_URL": url}, "PostgreSQL") or status
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return status


if __name__ == "__main__":
    sys.exit(main())
