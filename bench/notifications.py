"""Notification throughput: messages delivered per second by one worker on the file
channel, and the time enqueueing adds to a request.

    .venv/bin/python bench/notifications.py --messages 2000
    .venv/bin/python bench/notifications.py --faults            # the fault table (PostgreSQL)

Starts a Redis of its own (or uses --redis-url, flushed) and a temporary SQLite
database; prints a Markdown table.

The delivery rate is measured three times: RQ's SimpleWorker in this process
(the embedded worker's code), and the documented command as a separate process
on --forked more messages each: ``flask worker --burst`` (the default class,
RQ's SimpleWorker: jobs in the worker's own process) and ``flask worker --fork
--burst`` (RQ's Worker forks a work horse per job, tens of milliseconds a job on
its own).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--redis-url", default="", help="a Redis to use (flushed); default: one of its own")
    parser.add_argument("--forked", type=int, default=300, help="messages for `flask worker` (0: skip)")
    parser.add_argument("--faults", action="store_true", help="the fault table instead (see run_faults)")
    parser.add_argument("--fault-messages", type=int, default=200, help="messages per fault run")
    parser.add_argument(
        "--pg-admin-url", default=os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    if args.faults:
        return run_faults(args)

    from flask_migrate import upgrade
    from redis import Redis
    from rq import SimpleWorker

    from app import create_app, worker
    from app.access import sync_roles
    from app.demo import create_demo_users, seed_demo
    from app.extensions import db
    from app.models import Customer, Message, MessageType
    from app.notifications import queue_notification

    tmp = tempfile.mkdtemp(prefix="kartoteka-notify-")
    private = None
    if not args.redis_url:
        from tests.conftest import RedisServer

        private = RedisServer(Path(tmp))
        private.start()
        args.redis_url = private.url
    app = create_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench.db",
        INSTANCE_DIR=tmp,
        REDIS_URL=args.redis_url,
        WTF_CSRF_ENABLED=False,
        NOTIFY_CHANNELS={"sms": "file", "email": "file", "push": "off"},
    )
    Redis.from_url(args.redis_url).flushdb()
    worker._job_app["app"] = app
    with app.app_context():
        upgrade(revision="heads")
        sync_roles()
        create_demo_users("bench-password-1234")
        seed_demo(customers=max(100, args.messages // 10))
        customers = db.session.query(Customer).limit(args.messages).all()
        with app.test_request_context():
            for i in range(args.messages):
                queue_notification(
                    db.session,
                    customers[i % len(customers)],
                    MessageType.MANUAL,
                    (worker_channel(),),
                    text=f"Сообщение {i}",
                )
            started = time.perf_counter()
            db.session.commit()  # after commit: every id goes to RQ
            enqueue_seconds = time.perf_counter() - started
        queued = worker.queue().count
        started = time.perf_counter()
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)
        delivery_seconds = time.perf_counter() - started
        sent = db.session.query(Message).filter(Message.status == "sent").count()

        # The documented worker, a process of its own: `flask worker` (RQ's Worker: a fork
        # per job) and `flask worker --simple` (RQ's SimpleWorker: jobs in the process).
        forked = {}
        for label, extra in (("flask worker", []), ("flask worker --fork", ["--fork"])):
            if not args.forked:
                break
            with app.test_request_context():
                batch = [
                    queue_notification(
                        db.session,
                        customers[i % len(customers)],
                        MessageType.MANUAL,
                        (worker_channel(),),
                        text=f"Сообщение {i}",
                    )[0]
                    for i in range(args.forked)
                ]
                db.session.commit()
            ids = [m.id for m in batch]
            env = {
                **os.environ,
                "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "REDIS_URL": args.redis_url,
                "NOTIFY_SMS": "file",
                "NOTIFY_EMAIL": "file",
                "NOTIFY_PUSH": "off",
                "KARTOTEKA_INSTANCE": tmp,
                "SECRET_KEY": "bench",
            }
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--burst", *extra],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            wall = time.perf_counter() - started
            db.session.expire_all()
            rows = db.session.query(Message).filter(Message.id.in_(ids), Message.status == "sent").all()
            window = (max(m.sent_at for m in rows) - min(m.started_at for m in rows)).total_seconds()
            forked[label] = (len(rows), len(rows) / window, len(rows) / wall)

    # The time an enqueue adds to a request: registering a customer with and without notifications.
    client = app.test_client()
    client.post("/login/", data={"username": "reception", "password": "bench-password-1234"})

    def register(n, channels):
        app.config["NOTIFY_CHANNELS"] = channels
        times = []
        for i in range(args.requests):
            data = {
                "last_name": "Замерова",
                "first_name": "Ирина",
                "customer_type": "individual",
                "phone": f"+7903{n:03d}{i:04d}",
                "email": f"bench{n}-{i}@example.ru",
                "discount": "0",
            }
            started = time.perf_counter()
            assert client.post("/customerview/add", data=data).status_code == 302
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    without = register(1, {"sms": "off", "email": "off", "push": "off"})
    with_two = register(2, {"sms": "file", "email": "file", "push": "off"})
    print("| measure | value |\n| --- | --- |")
    print(f"| messages delivered by one worker (file channel) | {sent} of {args.messages} |")
    if private is not None:
        private.stop()
    print(
        f"| delivery rate, SimpleWorker in-process (the embedded worker) | {sent / delivery_seconds:.0f} messages/s |"
    )
    for label, (done, rate, with_startup) in forked.items():
        print(
            f"| delivery rate, `{label} --burst` process ({done} of {args.forked}) "
            f"| {rate:.0f} messages/s ({with_startup:.0f}/s with its start-up) |"
        )
    print(
        f"| enqueue after commit, {queued} jobs | {enqueue_seconds * 1000 / max(queued, 1):.2f} ms per message |"
    )
    print(f"| «register a customer» without notifications (median) | {without:.1f} ms |")
    print(
        f"| … with a welcome by SMS and e-mail queued (median) | {with_two:.1f} ms (+{with_two - without:.1f} ms) |"
    )
    return 0


def run_faults(args) -> int:
    """Each fault of the fault suite (tests/test_notifications_faults.py) with both worker
    classes and 1 and 4 workers, a sweeper every second, on a scratch PostgreSQL database
    and a Redis of its own: messages sent (distinct messages that reached the receiving
    side), duplicated (extra copies received: the gateway ignores Idempotency-Key), lost
    (neither received nor honestly failed/expired), and the time to drain (from the end of
    the fault until every message is in a final state). Prints a Markdown table."""
    import psycopg
    from flask_migrate import upgrade

    from app import create_app, worker
    from config import TestConfig
    from tests.conftest import RedisServer
    from tests.fault_harness import (
        Cluster,
        Sinks,
        gateway_down,
        redis_restarted_empty,
        tally,
        wait_until_final,
        workers_killed_in_the_send,
    )

    name = f"kartoteka_faults_{os.getpid()}"
    with psycopg.connect(args.pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg_admin_url.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    tmp = Path(tempfile.mkdtemp(prefix="kartoteka-faults-"))
    redis = RedisServer(tmp)
    redis.start()
    n = args.fault_messages
    rows = []
    try:
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=str(tmp), REDIS_URL=redis.url)
        worker._job_app["app"] = app
        with app.app_context():
            upgrade(revision="heads")
        for fault in ("Redis killed, back empty", "gateway down 10 s", "worker killed in the send (3×)"):
            for worker_class in ("simple", "fork"):
                for size in (1, 4):
                    sinks = Sinks()
                    sinks.configure(app)
                    folder = Path(tempfile.mkdtemp(dir=tmp))
                    env = {"DATABASE_URL": url, "REDIS_URL": redis.url, **sinks.env()}
                    cluster = Cluster(folder, env, worker_class, size).start()
                    started = time.monotonic()
                    try:
                        if fault.startswith("Redis"):
                            ids, over = redis_restarted_empty(app, redis, sinks, n)
                        elif fault.startswith("gateway"):
                            ids, _, over = gateway_down(app, sinks, n, outage=10)
                        else:
                            ids, over = workers_killed_in_the_send(app, sinks, cluster, n, kills=3)
                        drained = wait_until_final(app, ids, timeout=600)
                        finished = time.monotonic()
                        counted = tally(app, ids, sinks)
                    finally:
                        cluster.stop()
                        sinks.close()
                    rows.append(
                        (
                            fault,
                            worker_class,
                            size,
                            counted,
                            None if drained is None else finished - over,
                            finished - started,
                        )
                    )
                    print(f"… {fault} / {worker_class} × {size}: {counted}", file=sys.stderr, flush=True)
    finally:
        redis.stop()
        with psycopg.connect(args.pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        "| fault | worker class | workers | messages | sent | duplicated | lost | drain after the fault, s | whole run, s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for fault, worker_class, size, c, drain, whole in rows:
        drain_text = "did not drain" if drain is None else f"{drain:.1f}"
        print(
            f"| {fault} | {worker_class} | {size} | {c['messages']} | {c['delivered']} | {c['duplicated']} "
            f"| {c['lost']} | {drain_text} | {whole:.1f} |"
        )
    return 0


def worker_channel():
    from app.models import Channel

    return Channel.SMS


if __name__ == "__main__":
    sys.exit(main())
