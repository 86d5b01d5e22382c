"""A worker that outlives its lease cannot undo another worker's delivery.

A slow send (or a work horse whose parent was killed) passes SENDING_LEASE_SECONDS; the
sweeper hands the message out again, a second worker sends it; then the first one's
gateway call ends. Its outcome must not be written: the message stays «отправлено», sent
once. Real Redis is not needed here: both deliveries run in this process, in two threads
with sessions of their own, against a real HTTP gateway on loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import notifications
from app.extensions import db
from app.models import AttemptOutcome, Channel, Message, MessageStatus, MessageType, utcnow
from tests import factories


class SlowThenFastGateway:
    """The first request waits for ``release`` and then answers ``first_answer``; later ones 200."""

    def __init__(self, first_answer: int):
        self.requests: list[str] = []
        self.accepted: list[str] = []  # keys answered 200 (a real gateway drops a repeated key)
        self.release = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                first = not gateway.requests
                gateway.requests.append(key)
                code = 200
                if first:
                    gateway.release.wait(10)
                    code = first_answer
                if code == 200:
                    gateway.accepted.append(key)
                payload = json.dumps({"id": f"gw-{len(gateway.requests)}"}).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize("late_answer", [500, 400, 200], ids=["late-500", "late-400", "late-200"])
def test_a_worker_past_its_lease_writes_nothing(app, ctx, late_answer):
    gateway = SlowThenFastGateway(late_answer)
    saved = dict(app.config["NOTIFY_CHANNELS"]), app.config["SMS_GATEWAY_URL"]
    app.config["NOTIFY_CHANNELS"] = {"sms": "gateway", "email": "off", "push": "off"}
    app.config["SMS_GATEWAY_URL"] = gateway.url
    outcome: dict[str, object] = {}
    try:
        with app.test_request_context():
            customer = factories.customer(ctx, phone="+79161234567")
            (message,) = notifications.queue_notification(
                ctx, customer, MessageType.MANUAL, (Channel.SMS,), text="Анализы готовы"
            )
            ctx.commit()
            message_id = message.id

        def slow_worker():
            with app.app_context():
                try:
                    outcome["slow"] = notifications.deliver(db.session, message_id, worker="slow")
                finally:
                    db.session.remove()

        slow = threading.Thread(target=slow_worker)
        slow.start()
        for _ in range(200):
            if gateway.requests:
                break
            slow.join(0.02)
        assert gateway.requests, "the first worker is in the middle of its send"

        later = utcnow() + dt.timedelta(seconds=app.config["SENDING_LEASE_SECONDS"] + 1)
        with app.app_context():
            assert notifications.sweep(db.session, now=later) == [message_id]  # lease over
            assert notifications.deliver(db.session, message_id, worker="second") == "sent"
        gateway.release.set()
        slow.join(10)
    finally:
        gateway.release.set()
        gateway.server.shutdown()
        app.config["NOTIFY_CHANNELS"], app.config["SMS_GATEWAY_URL"] = saved

    assert outcome["slow"] == "superseded"
    ctx.expire_all()
    row = ctx.get(Message, message_id)
    assert (row.status, row.attempts, row.last_error) == (MessageStatus.SENT, 2, None)
    assert row.provider_id == "gw-2"
    assert len(gateway.requests) == 2
    assert len(gateway.accepted) == (2 if late_answer == 200 else 1)
    assert set(gateway.accepted) == {row.delivery_key}  # one idempotency key: one SMS
    history = [(a.number, a.worker, a.outcome) for a in row.attempt_log]
    assert history == [(1, "slow", AttemptOutcome.SUPERSEDED), (2, "second", AttemptOutcome.SENT)]
    assert row.after_crash  # handed out again after its lease: «Отправлено повторно после сбоя»


def test_an_unexpected_channel_error_fails_visibly_and_stays_out_of_redis(app, ctx, redis, monkeypatch):
    """A bug in a channel: the message is «ошибка» with the kind of error, not stuck in
    «отправляется» for the sweeper to loop on, and RQ keeps no traceback quoting the text."""
    from rq import SimpleWorker

    from app import channels, worker

    def broken(message):
        raise ValueError(f"cannot encode {message.customer.phone}: {message.body}")

    monkeypatch.setattr(channels, "_file", broken)
    with app.test_request_context():
        customer = factories.customer(ctx, phone="+79161234567")
        (message,) = notifications.queue_notification(
            ctx, customer, MessageType.MANUAL, (Channel.SMS,), text="Секретный текст"
        )
        ctx.commit()
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)
    ctx.expire_all()
    row = ctx.get(Message, message.id)
    assert row.status == MessageStatus.FAILED
    assert row.last_error == "Внутренняя ошибка при отправке: ValueError"
    with app.app_context():  # nothing left for the sweeper: not stuck
        later = utcnow() + dt.timedelta(seconds=app.config["SENDING_LEASE_SECONDS"] + 1)
        assert notifications.sweep(db.session, now=later) == []
    dump = b"".join(
        b"".join(redis.hgetall(k).values()) if redis.type(k) == b"hash" else k for k in redis.keys("*")
    )
    assert b"79161234567" not in dump and "Секретный".encode() not in dump


def test_rq_ends_a_send_before_its_lease_ends(app, ctx, redis):
    """RQ's default limit for a job (180 s) outlasted the sending lease (120 s): a send
    stuck between the two was handed out again while it still ran, and two workers sent
    the same SMS. Each delivery job is limited to end inside the lease."""
    from rq.job import Job

    from app import worker

    with app.test_request_context():
        customer = factories.customer(ctx, phone="+79161234567")
        (message,) = notifications.queue_notification(
            ctx, customer, MessageType.MANUAL, (Channel.SMS,), text="Т"
        )
        ctx.commit()
    with app.app_context():
        jobs = [Job.fetch(j, connection=worker.connection()) for j in worker.queue().job_ids]
    assert [j.args for j in jobs] == [(message.id,)]
    assert 0 < jobs[0].timeout < app.config["SENDING_LEASE_SECONDS"] - 5
