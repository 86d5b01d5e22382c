"""Load run: gunicorn on loopback, wrk against the customers list and the card.

    .venv/bin/python bench/load.py --customers 10000 --workers 2 --duration 15

Builds a SQLite database under a temporary directory (or uses --database-url),
starts ``gunicorn -w N --preload`` on a free loopback port, signs in as the
manager, and runs ``wrk`` (Debian package) with the session cookie. Prints
requests per second, latency and the peak resident memory of each worker.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-password-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(database_url: str, customers: int, instance: str) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from app.access import sync_roles
    from app.demo import create_demo_users, seed_demo

    app = create_app(SQLALCHEMY_DATABASE_URI=database_url, INSTANCE_DIR=instance)
    with app.app_context():
        upgrade(revision="heads")
        sync_roles()
        create_demo_users(PASSWORD)
        print(seed_demo(customers=customers), flush=True)


def login(base: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login/").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": "manager", "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(base + "/login/", data)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def rss_of_children(pid: int) -> dict[int, int]:
    out = subprocess.run(["ps", "-o", "pid=,rss=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(p): int(r) for p, r in (line.split() for line in out.splitlines() if line.strip())}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="kartoteka-load-")
    url = args.database_url or f"sqlite:///{tmp}/load.db"
    prepare(url, args.customers, tmp)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KARTOTEKA_INSTANCE": tmp,
        "SECRET_KEY": "load-test",
        "KARTOTEKA_LOGIN_RATE_LIMIT": "1000 per minute",
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-w",
            str(args.workers),
            "--preload",
            "--timeout",
            "30",
            "-b",
            f"127.0.0.1:{port}",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        cookie = login(base)
        check = urllib.request.Request(base + "/customerview/list/", headers={"Cookie": cookie})
        with urllib.request.urlopen(check) as response:
            assert response.status == 200 and "kartoteka-list" in response.read().decode(), "not signed in"
        peak: dict[int, int] = {}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                for pid, rss in rss_of_children(server.pid).items():
                    peak[pid] = max(peak.get(pid, 0), rss)
                time.sleep(0.2)

        threading.Thread(target=sample, daemon=True).start()
        print("| page | requests/s | avg latency | p99 latency | non-2xx |\n| --- | --- | --- | --- | --- |")
        for name, path in (
            ("customers list", "/customerview/list/"),
            ("customer card", "/customerview/show/42"),
        ):
            out = subprocess.run(
                [
                    "wrk",
                    "-t",
                    str(args.threads),
                    "-c",
                    str(args.connections),
                    "-d",
                    f"{args.duration}s",
                    "--latency",
                    "-H",
                    f"Cookie: {cookie}",
                    base + path,
                ],
                capture_output=True,
                text=True,
                timeout=args.duration + 30,
            ).stdout
            rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
            avg = re.search(r"Latency\s+(\S+)", out).group(1)
            p99 = re.search(r"99%\s+(\S+)", out).group(1)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            print(f"| {name} | {rps} | {avg} | {p99} | {errors.group(1) if errors else 0} |", flush=True)
        stop.set()
        print(f"\npeak RSS per worker (MiB): {', '.join(f'{v / 1024:.0f}' for v in sorted(peak.values()))}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
