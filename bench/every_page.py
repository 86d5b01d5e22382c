"""Every page once, on the benchmark's database: which one does not scale?

    .venv/bin/python bench/every_page.py                  # kartoteka_bench (build it with bench/pages.py)
    .venv/bin/python bench/every_page.py --role manager

Signs in as each role and opens every list, add form, card tab page and edit
form of one row of every view, once, printing the time and size of each page
and flagging those above --slow seconds. The page benchmark measures the main
pages precisely; this walk finds the forgotten one (a form that lists every
customer took 124 s at a million customers before customers were chosen by
typing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "bench-password-1234"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--role", action="append", help="default: every demo role")
    parser.add_argument("--slow", type=float, default=1.0)
    args = parser.parse_args()
    url = args.database_url or (
        ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/kartoteka_bench"
    )
    from sqlalchemy import select

    from app import create_app
    from app.access import ROLES
    from app.extensions import db
    from app.views import KartotekaModelView

    app = create_app(
        SQLALCHEMY_DATABASE_URI=url,
        INSTANCE_DIR=tempfile.mkdtemp(prefix="kartoteka-every-page-"),
        WTF_CSRF_ENABLED=False,
        KARTOTEKA_LOGIN_RATE_LIMIT="1000 per minute",
    )
    pages = []
    with app.app_context():
        for view in app.appbuilder.baseviews:
            if not isinstance(view, KartotekaModelView) or type(view).__name__.endswith("Tab"):
                continue
            model = view.datamodel.obj
            first = db.session.scalar(select(model.id).order_by(model.id.desc()).limit(1))
            pages += [f"{view.route_base}/list/", f"{view.route_base}/add"]
            if first is not None:
                pages += [f"{view.route_base}/show/{first}", f"{view.route_base}/edit/{first}"]
    slow = 0
    for role in args.role or list(ROLES):
        client = app.test_client()
        assert client.post("/login/", data={"username": role, "password": PASSWORD}).status_code == 302
        for page in pages:
            started = time.perf_counter()
            response = client.get(page)
            elapsed = time.perf_counter() - started
            flag = "  SLOW" if elapsed > args.slow else ""
            slow += bool(flag)
            print(
                f"{role:9} {response.status_code} {elapsed * 1000:9.1f} ms {len(response.data) // 1024:6d} KiB  {page}{flag}"
            )
    print(f"\n{slow} page(s) slower than {args.slow} s")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
