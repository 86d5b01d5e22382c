"""Python calls per page: the deterministic twin of bench/pages.py.

    .venv/bin/python bench/calls.py                  # SQLite, 2,000 customers
    .venv/bin/python bench/calls.py --customers 500 --repeat 20

Timings on a shared machine move by 2× within minutes; the number of Python
function calls a page makes does not. This signs in as the receptionist and
the manager and counts, under cProfile, the calls of each main page (the
customers list, a search, the card, the orders list), averaged over
--repeat requests after a warm-up, so that a change to the rendering can be
judged in one run. It writes no files.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import PASSWORD, build, pick  # noqa: E402


def calls_per_request(client, url: str, repeat: int) -> float:
    for _ in range(5):
        assert client.get(url).status_code == 200, url
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(repeat):
        client.get(url)
    profile.disable()
    return pstats.Stats(profile).total_calls / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    args.sqlite, args.reuse = True, False
    logging.disable(logging.INFO)
    tempfile.tempdir = tempfile.mkdtemp(prefix="kartoteka-calls-")
    app, _url = build(args)
    values = pick(app)
    pages = [
        ("customers list", "/customerview/list/"),
        ("search: phone fragment", f"/customerview/list/?q={values['phone']}"),
        ("customer card", f"/customerview/show/{values['card']}"),
        ("orders list", "/orderview/list/"),
    ]
    print("| role | page | Python calls per request |\n| --- | --- | --- |")
    for role in ("reception", "manager"):
        client = app.test_client()
        assert client.post("/login/", data={"username": role, "password": PASSWORD}).status_code == 302
        for name, url in pages:
            print(f"| {role} | {name} | {calls_per_request(client, url, args.repeat):,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
