"""Run the whole suite on SQLite and on PostgreSQL (in a database of its own), side by side.

PostgreSQL is the server on 127.0.0.1:5432 (override with PG_ADMIN_URL); a
database ``kartoteka_test_<pid>`` is created for the run and dropped after it.
The two runs share nothing (each starts its own Redis, servers and browsers on
free ports), so they run at the same time, one per core; each one's output is
printed when it ends. ``KARTOTEKA_SUITES_ONE_BY_ONE=1`` runs them in turn.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import psycopg

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def start(env_extra: dict[str, str], label: str):
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    env = {**os.environ, **env_extra}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return label, process, log, time.monotonic()


def finish(label, process, log, started) -> int:
    status = process.wait()
    log.seek(0)
    print(f"=== test suite on {label} ({time.monotonic() - started:.0f} s) ===", flush=True)
    sys.stdout.write(log.read())
    sys.stdout.flush()
    return status


def main() -> int:
    name = f"kartoteka_test_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
        # Dropped after the run: a commit need not wait for the disk (only a crash of the
        # server could lose one). What a transaction sees and locks is the same. Every
        # request commits its session's row; on a 2-CPU VM's virtual disk test_lists.py and
        # test_first_week.py took 45-53 s waiting for it, 37-40 s without.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    base = ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    suites = [({}, "SQLite"), ({"TEST_DATABASE_URL": url}, "PostgreSQL")]
    try:
        if os.environ.get("KARTOTEKA_SUITES_ONE_BY_ONE"):
            statuses = [finish(*start(env, label)) for env, label in suites]
        else:
            running = [start(env, label) for env, label in suites]
            statuses = [finish(*run) for run in running]
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return max(statuses)


if __name__ == "__main__":
    sys.exit(main())
