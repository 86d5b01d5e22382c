"""Faults for the notification workers, shared by tests/test_notifications_faults.py and
``bench/notifications.py --faults``.

The receiving side is real and counts what reached the customer: an SMS gateway on
loopback that ignores ``Idempotency-Key`` (so a repeat reaches the customer twice and is
counted; many SMS gateways behave so) and an SMTP server (aiosmtpd), both keyed by the
message's delivery key. Workers and the sweeper run as a deployment runs them: separate
``flask worker`` / ``flask kartoteka sweeper`` processes, restarted when they die as
systemd's ``Restart=always`` would (deploy/), never by the test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMTP_FROM = "clinic@faults.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sinks:
    """An SMS gateway and an SMTP server on loopback that count deliveries per delivery key.

    ``down`` set: the gateway answers 503 and the SMTP server 451 (both transient).
    ``hold(n)``: the next ``n`` messages are received (they count: the provider has them)
    and the answer is held back; the client's port goes to ``held`` so that the test can
    kill the process waiting for the answer."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.received: Counter[str] = Counter()
        self.requests = 0
        self.lock = threading.Lock()
        self.down = threading.Event()
        self.release = threading.Event()
        self.held: queue.Queue[int] = queue.Queue()
        self._to_hold = 0
        sinks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = body["reference"]  # the gateway ignores Idempotency-Key on purpose
                code, hold = 200, False
                with sinks.lock:
                    sinks.requests += 1
                    if sinks.down.is_set():
                        code = 503
                    else:
                        sinks.received[key] += 1
                        if sinks._to_hold and sinks.received[key] == 1:
                            sinks._to_hold -= 1
                            hold = True
                if hold:
                    sinks.held.put(self.client_address[1])
                    sinks.release.wait(60)
                    return
                payload = json.dumps(
                    {"id": f"gw-{key}"} if code == 200 else {"error": "upstream down"}
                ).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        class Mail:
            async def handle_DATA(self, server, session, envelope):
                if sinks.down.is_set():
                    return "451 4.3.2 Service busy, try later"
                message_id = message_from_bytes(envelope.content)["Message-ID"] or ""
                with sinks.lock:
                    sinks.received[message_id.strip("<>").split("@")[0]] += 1
                return "250 OK"

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.http.daemon_threads = True
        self.gateway_url = f"http://127.0.0.1:{self.http.server_port}/send"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.smtp_port = free_port()
        self.smtp = Controller(Mail(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def reset(self) -> None:
        """Count from zero for the next test (the servers stay up, on the same ports)."""
        with self.lock:
            self.received.clear()
            self.requests = 0
            self._to_hold = 0
        self.down.clear()
        self.release.set()  # answers still held by an earlier test go now
        self.release = threading.Event()
        while not self.held.empty():
            self.held.get_nowait()

    def hold(self, n: int) -> None:
        with self.lock:
            self._to_hold = n

    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())

    def env(self) -> dict[str, str]:
        return {
            "NOTIFY_SMS": "gateway",
            "NOTIFY_EMAIL": "smtp",
            "NOTIFY_PUSH": "off",
            "SMS_GATEWAY_URL": self.gateway_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_FROM": SMTP_FROM,
        }

    def configure(self, app) -> None:
        """The in-process app (which queues the messages) speaks to the same sinks."""
        app.config["NOTIFY_CHANNELS"] = {"sms": "gateway", "email": "smtp", "push": "off"}
        app.config.update(SMS_GATEWAY_URL=self.gateway_url, SMTP_PORT=self.smtp_port, SMTP_FROM=SMTP_FROM)

    def close(self) -> None:
        self.release.set()
        self.http.shutdown()
        self.http.server_close()
        self.smtp.stop()


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def socket_owner(client_port: int, candidates: list[int], server_port: int | None = None) -> int | None:
    """The process (among ``candidates``) holding the TCP socket from local port ``client_port``
    (to ``server_port``: Linux gives one local port to connections to different servers, and
    a worker's PostgreSQL or Redis socket on the same port named the wrong process)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) != client_port:
                    continue
                if server_port is None or int(fields[2].rsplit(":", 1)[1], 16) == server_port:
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in candidates:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
    return None


class Cluster:
    """N workers of one class and a sweeper, each a process of its own, kept alive."""

    def __init__(self, folder: Path, env: dict[str, str], worker_class: str, workers: int = 2):
        self.folder, self.worker_class, self.size = Path(folder), worker_class, workers
        self.env = {
            **os.environ,
            "SECRET_KEY": "faults",
            "KARTOTEKA_INSTANCE": str(folder),
            "SWEEP_INTERVAL_SECONDS": "1",
            "SENDING_LEASE_SECONDS": "5",
            # Longer than the harness takes to find and kill a sender the gateway holds
            # (/proc scans on a busy 2-CPU machine): at 3 s a sender sometimes gave up first
            # and retried, and the kill test counted a duplicate nobody killed for.
            "GATEWAY_TIMEOUT": "30",
            "RETRY_BACKOFF_SECONDS": "0.5,1,2",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",  # RQ's line per job drowns the faults
            **env,
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.restarts = 0
        self.kills = 0
        self._log_marks: dict[str, int] = {}
        self._running = threading.Event()
        self._supervisor: threading.Thread | None = None

    def _command(self, name: str) -> list[str]:
        flask = [sys.executable, "-m", "flask", "--app", "app:create_app"]
        if name == "sweeper":
            return [*flask, "kartoteka", "sweeper"]
        return [*flask, "worker", f"--{self.worker_class}"]

    def _spawn(self, name: str) -> None:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - kept open by the process
        self.processes[name] = subprocess.Popen(
            self._command(name), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def start(self) -> Cluster:
        self._spawn("sweeper")
        for i in range(self.size):
            self._spawn(f"worker-{i + 1}")
        self._running.set()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        """systemd's Restart=always with RestartSec=1: a dead process is started again."""
        while self._running.is_set():
            for name, process in list(self.processes.items()):
                if process.poll() is not None and self._running.is_set():
                    time.sleep(1)
                    self.restarts += 1
                    self._spawn(name)
            time.sleep(0.2)

    def pids(self) -> list[int]:
        pids = [p.pid for p in self.processes.values() if p.poll() is None]
        return pids + [child for pid in pids for child in children(pid)]

    def kill_sender(self, client_port: int, server_port: int | None = None) -> bool:
        """SIGKILL the process waiting on the gateway at ``client_port`` (a worker, or its horse)."""
        for _ in range(50):
            pid = socket_owner(client_port, self.pids(), server_port)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    self.kills += 1
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._running.clear()
        if self._supervisor is not None:
            self._supervisor.join(5)
        horses = [child for p in self.processes.values() if p.poll() is None for child in children(p.pid)]
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for pid in horses:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def begin(self) -> Cluster:
        """A new test on the running processes: restarts, kills and the log count from here."""
        self.restarts = self.kills = 0
        self._log_marks = {p.name: p.stat().st_size for p in self.folder.glob("*.log")}
        return self

    def log(self) -> str:
        """What the processes wrote since ``begin`` (or since they started)."""
        parts = []
        for path in sorted(self.folder.glob("*.log")):
            with open(path, "rb") as f:
                f.seek(self._log_marks.get(path.name, 0))
                parts.append(f.read().decode(errors="replace"))
        return "\n".join(parts)


_BATCHES = itertools.count(int(time.time()) % 1000)


def queue_batch(app, n: int, channels=("sms", "email"), horizon_hours: float | None = None) -> list[int]:
    """``n`` messages, alternating ``channels``, to 30 customers; enqueued after the commit."""
    from app import notifications
    from app.customers import prepare_customer
    from app.extensions import db
    from app.models import Channel, Customer, CustomerStatus, MessageType

    saved = dict(app.config["MESSAGE_HORIZONS"])
    if horizon_hours is not None:
        app.config["MESSAGE_HORIZONS"] = {**saved, "manual": horizon_hours}
    try:
        with app.test_request_context():
            session = db.session
            stamp = next(_BATCHES)
            customers = []
            for i in range(min(30, n)):
                customer = Customer(
                    last_name="Сбоева",
                    first_name=f"Ольга{i}",
                    phone=f"+7916{stamp % 1000:03d}{i:04d}",  # unique per batch of this process
                    email=f"fault{stamp}-{i}@example.ru",
                    status=CustomerStatus.ACTIVE,
                )
                prepare_customer(session, customer)
                session.add(customer)
                customers.append(customer)
            session.flush()
            messages = []
            for i in range(n):
                channel = Channel(channels[i % len(channels)])
                messages += notifications.queue_notification(
                    session,
                    customers[i % len(customers)],
                    MessageType.MANUAL,
                    (channel,),
                    text=f"Сообщение {i}",
                )
            session.commit()
            ids = [m.id for m in messages]
            session.remove()
            return ids
    finally:
        app.config["MESSAGE_HORIZONS"] = saved


def wait_until_final(app, ids: list[int], timeout: float) -> float | None:
    """Seconds until every message is in a final state, or None if some are not by ``timeout``."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import MESSAGE_FINAL, Message

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with app.app_context():
            with db.engine.connect() as conn:
                left = conn.execute(
                    select(func.count()).where(Message.id.in_(ids), Message.status.not_in(MESSAGE_FINAL))
                ).scalar()
        if not left:
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def tally(app, ids: list[int], sinks: Sinks) -> dict:
    """Counted from both sides: the receiving end (per delivery key) and the database."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import MESSAGE_FINAL, Message, MessageStatus

    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(
            select(Message.id, Message.delivery_key, Message.status, Message.after_crash).where(
                Message.id.in_(ids)
            )
        ).all()
    with sinks.lock:
        received = dict(sinks.received)
    statuses = Counter(row.status.value for row in rows)
    honest = (MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.CANCELLED)
    return {
        "messages": len(ids),
        "delivered": sum(1 for row in rows if received.get(row.delivery_key, 0) >= 1),
        "duplicated": sum(max(0, received.get(row.delivery_key, 0) - 1) for row in rows),
        "duplicated_unmarked": sum(
            1 for row in rows if received.get(row.delivery_key, 0) > 1 and not row.after_crash
        ),
        "lost": sum(1 for row in rows if not received.get(row.delivery_key) and row.status not in honest),
        "stuck": sum(1 for row in rows if row.status not in MESSAGE_FINAL),
        "sent_not_received": sum(
            1 for row in rows if row.status == MessageStatus.SENT and not received.get(row.delivery_key)
        ),
        "statuses": dict(statuses),
    }


# ---------------------------------------------------------------------------
# The faults, as the suite and the bench play them. Each returns the messages it
# queued and the moment the fault was over (time.monotonic()).
# ---------------------------------------------------------------------------


def redis_restarted_empty(app, redis, sinks: Sinks, n: int, outage: float = 2.0) -> tuple[list[int], float]:
    """``n`` messages; once a fifth has arrived, Redis is killed and started again empty."""
    ids = queue_batch(app, n)
    while sinks.total() < n // 5:
        time.sleep(0.05)
    redis.stop()
    time.sleep(outage)
    redis.start()  # no persistence: whatever was queued in Redis is gone
    return ids, time.monotonic()


def gateway_down(app, sinks: Sinks, n: int, outage: float = 10.0, short: int = 0, short_horizon: float = 3.0):
    """The gateway answers 503 and the mail server 451 for ``outage`` seconds from the first
    refused attempt. ``n`` messages with a horizon of a minute, ``short`` more with
    ``short_horizon`` seconds (queued once the workers answer: tried, then overdue, unless the
    busy queue reaches one only after its deadline)."""
    sinks.down.set()
    lasting = queue_batch(app, n, horizon_hours=60 / 3600)
    while not sinks.requests:
        time.sleep(0.05)
    brief = queue_batch(app, short, horizon_hours=short_horizon / 3600) if short else []
    time.sleep(outage)
    sinks.down.clear()
    return lasting, brief, time.monotonic()


def workers_killed_in_the_send(app, sinks: Sinks, cluster: Cluster, n: int, kills: int = 3):
    """``n`` messages; ``kills`` times the process waiting on the gateway's answer (a simple
    worker, or a forking worker's work horse) is SIGKILLed after the gateway took the message."""
    sinks.hold(kills)
    ids = queue_batch(app, n)
    for _ in range(kills):
        port = sinks.held.get(timeout=60)
        # Not killed (or another process killed), the sender's own GATEWAY_TIMEOUT ran out and
        # it retried: a duplicate the fault did not cause (the app marks it since; the count of
        # kills and «после сбоя» marks no longer matched).
        assert cluster.kill_sender(port, sinks.http.server_port), (
            f"no process waits on the gateway from {port}"
        )
    return ids, time.monotonic()
