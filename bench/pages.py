"""Page benchmark: every main page against the SQL it minimally needs.

    .venv/bin/python bench/pages.py                       # PostgreSQL, 1,000,000 customers
    .venv/bin/python bench/pages.py --customers 100000
    .venv/bin/python bench/pages.py --sqlite --customers 10000

It builds its own database (PostgreSQL: ``kartoteka_bench`` on the server of
PG_ADMIN_URL; SQLite: a temporary file), migrates it, seeds deterministic demo
data in bulk (COPY on PostgreSQL), then measures in-process, signed in as the
receptionist and as the manager, each page over --repeat requests after a
warm-up: median and p95, SQL statements per request, and the page's floor —
the data statements the page issued (everything but the signed-in user's
load), replayed on a raw connection — with the ratio page / floor. The table
is printed and written to bench/results/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-1234"
ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def build(args):
    from flask_migrate import upgrade

    from app import create_app
    from app.access import sync_roles
    from app.demo import create_demo_users, seed_demo

    if args.sqlite:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='kartoteka-bench-')}/bench.db"
    else:
        import psycopg

        name = "kartoteka_bench"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    app = create_app(
        SQLALCHEMY_DATABASE_URI=url,
        INSTANCE_DIR=tempfile.mkdtemp(prefix="kartoteka-bench-instance-"),
        WTF_CSRF_ENABLED=False,
        KARTOTEKA_LOGIN_RATE_LIMIT="1000 per minute",
    )
    with app.app_context():
        upgrade(revision="heads")
        sync_roles()
        create_demo_users(PASSWORD)
        started = time.perf_counter()
        done = 0
        while done < args.customers:  # in chunks, so memory stays flat
            chunk = min(50_000, args.customers - done)
            summary = seed_demo(customers=chunk, seed=done + 1)
            done += chunk
            print(
                f"  seeded {done:,} customers ({summary}), {time.perf_counter() - started:.0f} s", flush=True
            )
        from app.extensions import db

        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
    return app, url


def pick(app):
    """Real values to search for: a phone fragment, a name prefix, an e-mail, a busy customer."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Customer, Order

    with app.app_context():
        customer = (
            db.session.scalars(select(Customer).where(Customer.id == 4242)).first()
            or db.session.scalars(select(Customer).limit(1)).first()
        )
        busy = db.session.execute(
            select(Order.customer_id, func.count())
            .group_by(Order.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        return {
            "phone": customer.phone[-4:-2] + "-" + customer.phone[-2:],
            "name": customer.last_name[:5],
            "email": customer.email,
            "card": busy[0] if busy else customer.id,
            "count": db.session.scalar(select(func.count()).select_from(Customer)),
        }


def measure(app, client, method, url, data, repeat, warmup):
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    captured: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    for _ in range(warmup):
        client.open(url, method=method, data=data)
    times, counts = [], []
    event.listen(engine, "before_cursor_execute", before)
    try:
        for _ in range(repeat):
            captured.clear()
            started = time.perf_counter()
            response = client.open(url, method=method, data=data)
            times.append(time.perf_counter() - started)
            counts.append(len(captured))
            assert response.status_code in (200, 302), (url, response.status_code)
        statements = list(captured)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    # Floor: the page's own data statements (not the signed-in user's load), replayed raw.
    data_statements = [(s, p) for s, p in statements if "ab_user_role" not in s]
    floor_times = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        for _ in range(warmup):
            run_raw(raw, data_statements)
        for _ in range(repeat):
            started = time.perf_counter()
            run_raw(raw, data_statements)
            floor_times.append(time.perf_counter() - started)
        raw.rollback()
    return times, counts, floor_times


def run_raw(raw, statements):
    cursor = raw.cursor()
    for statement, parameters in statements:
        cursor.execute(statement, parameters)
        if cursor.description is not None:
            cursor.fetchall()
    cursor.close()


def ms(values):
    return statistics.median(values) * 1000


def p95(values):
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    print(
        f"Building {'SQLite' if args.sqlite else 'PostgreSQL'} with {args.customers:,} customers…", flush=True
    )
    app, _url = build(args)
    values = pick(app)
    deep = max(0, min(values["count"], 10_000) // 20 - 5)
    pages = [
        ("customers list, page 1", "GET", "/customerview/list/", None),
        (f"customers list, page {deep + 1}", "GET", f"/customerview/list/?page_CustomerView={deep}", None),
        (
            "filtered + sorted",
            "GET",
            "/customerview/list/?_flt_0_status=verified&_oc_CustomerView=registered_at&_od_CustomerView=desc",
            None,
        ),
        ("search: phone fragment", "GET", f"/customerview/list/?q={values['phone']}", None),
        ("search: name prefix", "GET", f"/customerview/list/?q={values['name']}", None),
        ("search: e-mail", "GET", f"/customerview/list/?q={values['email']}", None),
        ("customer card", "GET", f"/customerview/show/{values['card']}", None),
        ("orders list", "GET", "/orderview/list/", None),
        (
            "note from the card",
            "POST",
            f"/customerview/{values['card']}/notes",
            {"text": "Перезвонить после 18:00"},
        ),
    ]
    rows = []
    for role in ("reception", "manager"):
        client = app.test_client()
        assert client.post("/login/", data={"username": role, "password": PASSWORD}).status_code == 302
        for name, method, url, data in pages:
            times, counts, floor = measure(app, client, method, url, data, args.repeat, args.warmup)
            rows.append(
                (role, name, ms(times), p95(times), max(counts), ms(floor), ms(times) / max(ms(floor), 1e-6))
            )
            print(f"  {role:9} {name:28} {ms(times):7.1f} ms  floor {ms(floor):6.2f} ms", flush=True)
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    lines = [
        f"{engine}, {values['count']:,} customers; {args.repeat} requests per page after {args.warmup} warm-up",
        "",
        "| role | page | median, ms | p95, ms | SQL statements | floor, ms | page / floor |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {role} | {name} | {median:.1f} | {tail:.1f} | {count} | {floor:.2f} | {ratio:.1f}× |"
        for role, name, median, tail, count, floor, ratio in rows
    ]
    table = "\n".join(lines)
    print("\n" + table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"pages-{engine.lower()}-{values['count']}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
