"""Development entry point: migrate, seed demo data and users, serve on 127.0.0.1.

    python run.py            # http://127.0.0.1:5000, SQLite under instance/
    python run.py --port 8080

Without REDIS_URL, notifications are delivered by an embedded worker thread
over an in-process Redis-compatible store (see app/worker.py when present).
"""

from __future__ import annotations

import argparse
import os
import secrets

from flask_migrate import upgrade

from app import create_app
from app.access import sync_roles
from app.database import refresh_statistics
from app.demo import create_demo_users, seed_demo
from app.extensions import db
from app.models import Customer


def prepare(app, customers: int) -> None:
    with app.app_context():
        upgrade(revision="heads")
        sync_roles()
        password = app.config.get("KARTOTEKA_DEMO_PASSWORD") or os.environ.get("KARTOTEKA_DEMO_PASSWORD")
        password = password or secrets.token_urlsafe(12)
        password, logins = create_demo_users(password)
        if not db.session.query(Customer.id).limit(1).first():
            print(seed_demo(customers=customers))
        refresh_statistics(db.session)  # SQLite's planner has no statistics of its own
        print("Demo users (login / role), shared password:", password)
        for login, role in logins:
            print(f"  {login:10} {role}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Kartoteka with demo data.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    parser.add_argument("--customers", type=int, default=300)
    args = parser.parse_args()
    app = create_app()
    prepare(app, args.customers)
    start_embedded_worker = getattr(__import__("app"), "start_embedded_worker", None)
    if start_embedded_worker is not None:
        start_embedded_worker(app)
    print(f"Kartoteka: http://{args.host}:{args.port}/")
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()
