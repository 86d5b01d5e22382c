"""Notifications end to end: real Redis (its own DB), real workers, a real SMTP server and
a real HTTP gateway on loopback. Every fault ends with each message delivered exactly once
or visibly failed, none stuck."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker

from app import notifications, worker
from app.extensions import db
from app.models import (
    AttemptOutcome,
    Channel,
    Customer,
    Message,
    MessageStatus,
    MessageTemplate,
    MessageType,
    Order,
    utcnow,
)
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
PHONE, EMAIL = "+79161234567", "notify.me@example.ru"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """An SMS gateway on loopback: scripted answers, and it drops repeats of an Idempotency-Key."""

    def __init__(self):
        self.requests: list[dict] = []
        self.delivered: dict[str, dict] = {}
        self.answers: list[int] = []
        self.hang = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key")
                gateway.requests.append({"key": key, **body})
                if gateway.hang.is_set():
                    gateway.hang.clear()
                    time.sleep(20)  # the worker is killed while it waits here
                    return
                code = gateway.answers.pop(0) if gateway.answers else 200
                if code == 200:
                    gateway.delivered.setdefault(key, body)
                payload = json.dumps(
                    {"id": f"gw-{key}"} if code == 200 else {"error": "number is not mobile"}
                ).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def gateway(app):
    gw = Gateway()
    app.config["NOTIFY_CHANNELS"] = {"sms": "gateway", "email": "off", "push": "off"}
    app.config["SMS_GATEWAY_URL"] = gw.url
    yield gw
    gw.close()


def work(app):
    """Run the queued jobs with RQ's SimpleWorker, as in RQ's own tests."""
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)


def messages(ctx, **filters):
    ctx.expire_all()
    return ctx.query(Message).filter_by(**filters).order_by(Message.id).all()


def time_passes(ctx, message_id):
    """The message's time comes (a reminder due, a retry's back-off over)."""
    ctx.query(Message).filter_by(id=message_id).update({"send_after": utcnow() - dt.timedelta(seconds=1)})
    ctx.commit()


def customer_with_sms(ctx):
    return factories.customer(ctx, phone=PHONE, email=EMAIL)


# -- events produce the right message, in Russian, and the card shows it sent ---------


def test_registration_welcomes_in_russian_and_the_card_shows_it_sent(app, ctx, redis, login_as):
    client = login_as("reception")
    data = {
        "last_name": "Новая",
        "first_name": "Ирина",
        "customer_type": "individual",
        "phone": "8 916 123-45-67",
        "email": EMAIL,
        "discount": "0",
    }
    assert client.post("/customerview/add", data=data).status_code == 302
    welcome = messages(ctx, message_type=MessageType.WELCOME)
    assert {m.channel.value for m in welcome} == {"sms", "email"}
    assert all(m.status == MessageStatus.QUEUED for m in welcome)
    assert welcome[0].body == "Ирина, добро пожаловать! Вас приветствует Картотека."
    assert Queue(app.config["RQ_QUEUE"], connection=redis).count == 2
    work(app)
    assert [m.status for m in messages(ctx, message_type=MessageType.WELCOME)] == [MessageStatus.SENT] * 2
    outbox = Path(app.config["INSTANCE_DIR"]) / "outbox"
    assert any("добро пожаловать" in p.read_text(encoding="utf-8") for p in outbox.iterdir())
    customer = ctx.query(Customer).one()
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert 'href="#messages"' in card and "Отправлено" in card and "Приветствие" in card


def shown_visit(app, order) -> str:
    """The visit as the order's form shows it (on the clinic's clock)."""
    from app.formatting import typed_datetime_value

    with app.test_request_context():
        return typed_datetime_value(order.visit_at)


def test_status_order_and_reminder_events(app, ctx, redis, login_as):
    """A visit booked for 10:30 on the clinic's clock: the confirmation (SMS and
    e-mail), the reminder's text and the reminder's due time all say that moment,
    read from what was stored and what was delivered. (The test read only the kinds
    of the messages: with the visit's time blanked from every text it passed.)"""
    import zoneinfo

    customer = customer_with_sms(ctx)
    client = login_as("manager")
    client.post(f"/customerview/{customer.id}/status", data={"status": "verified"})
    item = factories.catalog_item(ctx)
    clinic = zoneinfo.ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    day = (dt.datetime.now(clinic) + dt.timedelta(days=3)).date()
    typed = f"{day:%d.%m.%Y} 10:30"  # as the receptionist types it
    booked = client.post(
        f"/customerview/{customer.id}/orders",
        data={"kind": "visit", "catalog_item": str(item.id), "quantity": "1", "paid": "0", "visit_at": typed},
    )
    assert booked.status_code == 302
    order = ctx.query(Order).one()
    visit_utc = (
        dt.datetime.combine(day, dt.time(10, 30), tzinfo=clinic).astimezone(dt.UTC).replace(tzinfo=None)
    )
    assert order.visit_at == visit_utc
    confirmed = client.post(
        f"/orderview/edit/{order.id}",
        data={
            "customer": str(customer.id),
            "kind": "visit",
            "status": "confirmed",
            "paid": "0",
            "visit_at": shown_visit(app, order),  # the visit keeps its time
        },
    )
    assert confirmed.status_code == 302
    assert shown_visit(app, order) == typed
    created = messages(ctx, message_type=MessageType.ORDER_CREATED)
    assert {m.channel.value for m in created} == {"sms", "email"}
    for message in created:
        assert message.body.startswith(f"Анна, заказ №{order.id} оформлен, визит {typed}. Сумма: "), (
            message.body
        )
    (status,) = messages(ctx, message_type=MessageType.ORDER_STATUS, channel=Channel.SMS)
    assert status.body == f"Анна, статус заказа №{order.id}: Подтверждён."
    assert not messages(ctx, message_type=MessageType.STATUS_CHANGED)  # the staff's own mark
    reminders = messages(ctx, message_type=MessageType.VISIT_REMINDER)
    assert {m.channel.value for m in reminders} == {"sms", "email"}
    due = visit_utc - dt.timedelta(hours=app.config["REMINDER_HOURS_BEFORE"])
    for reminder in reminders:
        assert reminder.body == f"Анна, напоминаем о визите {typed}.", reminder.body
        assert reminder.send_after == due  # 24 h before 10:30 on the clinic's clock
    reminder = next(m for m in reminders if m.channel == Channel.EMAIL)
    work(app)
    assert (
        messages(ctx, message_type=MessageType.VISIT_REMINDER)[0].status == MessageStatus.QUEUED
    )  # not yet due
    time_passes(ctx, reminder.id)
    with app.app_context():
        assert reminder.id in notifications.sweep(db.session)
    work(app)
    (sent,) = messages(ctx, id=reminder.id)
    assert sent.status == MessageStatus.SENT
    outbox = Path(app.config["INSTANCE_DIR"]) / "outbox"
    delivered = [p.read_text(encoding="utf-8") for p in outbox.iterdir()]
    assert any(f"напоминаем о визите {typed}." in text for text in delivered)  # what the customer reads


def test_manual_message_with_preview_and_bulk_send(app, ctx, redis, login_as):
    customer = customer_with_sms(ctx)
    other = factories.customer(ctx, last_name="Вторая", phone="+79035550000")
    client = login_as("reception")
    preview = client.post(
        f"/customerview/{customer.id}/message/preview",
        data={"channel": "sms", "message_type": "manual", "text": "Ждём вас завтра"},
    )
    assert preview.get_json() == {"text": "Ждём вас завтра"}
    assert ctx.query(Message).count() == 0  # a preview sends nothing
    client.post(
        f"/customerview/{customer.id}/message",
        data={"channel": "sms", "message_type": "manual", "text": "Ждём вас завтра"},
    )
    client.post(
        "/customerview/message",
        data={
            "ids": f"{customer.id},{other.id}",
            "channel": "sms",
            "message_type": "manual",
            "text": "Акция",
        },
    )
    work(app)
    sent = messages(ctx, status=MessageStatus.SENT)
    assert sorted((m.customer_id, m.body) for m in sent) == sorted(
        [(customer.id, "Ждём вас завтра"), (customer.id, "Акция"), (other.id, "Акция")]
    )
    assert all(m.created_by.username == "reception" for m in sent)


def test_template_edited_by_administrator_and_a_broken_one_is_refused(app, ctx, redis, login_as):
    admin = login_as("sysadmin")
    broken = admin.post(
        "/messagetemplateview/add",
        data={
            "message_type": "welcome",
            "channel": "sms",
            "body": "{{ customer.nonexistent }",
            "active": "y",
        },
    )
    assert broken.status_code == 422 and "Ошибка в шаблоне" in broken.get_data(as_text=True)
    assert (
        admin.post(
            "/messagetemplateview/add",
            data={
                "message_type": "welcome",
                "channel": "sms",
                "body": "Здравствуйте, {{ customer.full_name }}!",
                "active": "y",
            },
        ).status_code
        == 302
    )
    with app.test_request_context():
        customer = factories.customer(ctx, phone=PHONE)
        (sms,) = notifications.queue_notification(
            ctx, customer, MessageType.WELCOME, (notifications.Channel.SMS,)
        )
        assert sms.body == "Здравствуйте, Иванова Анна Сергеевна!"
        # a template that breaks at send time is shown to the administrator, not sent
        template = ctx.query(MessageTemplate).one()
        template.body = "{{ customer.first_name.__class__.__mro__ }}"
        with pytest.raises(notifications.TemplateFailed):
            notifications.queue_notification(ctx, customer, MessageType.WELCOME, (notifications.Channel.SMS,))
        ctx.rollback()


# -- channels: a real SMTP server and a real HTTP gateway on loopback -----------------


def test_email_over_smtp(app, ctx, redis):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    app.config["NOTIFY_CHANNELS"] = {"sms": "off", "email": "smtp", "push": "off"}
    app.config["SMTP_PORT"] = port
    try:
        with app.test_request_context():
            customer = customer_with_sms(ctx)
            notifications.queue_notification(ctx, customer, MessageType.WELCOME)
            ctx.commit()
        work(app)
    finally:
        controller.stop()
        app.config["SMTP_PORT"] = 25
    assert len(received) == 1 and received[0][0] == [EMAIL]
    (message,) = messages(ctx)
    message_id = f"<{message.delivery_key}@kartoteka.example>"  # the same on every attempt
    assert message.status == MessageStatus.SENT and message.provider_id == message_id
    assert f"Message-ID: {message_id}" in received[0][1]


def queue_sms(app, ctx, **kwargs):
    with app.test_request_context():
        customer = kwargs.pop("customer", None) or customer_with_sms(ctx)
        (message,) = notifications.queue_notification(
            ctx, customer, MessageType.MANUAL, (notifications.Channel.SMS,), text="Ваш анализ готов"
        )
        ctx.commit()
        return message.id, customer


def test_gateway_500_then_200_is_retried_and_sent_once(app, ctx, redis, gateway):
    gateway.answers = [500, 200]
    message_id, _ = queue_sms(app, ctx)
    work(app)
    (message,) = messages(ctx)
    assert message.status == MessageStatus.QUEUED and message.attempts == 1 and "500" in message.last_error
    time_passes(ctx, message.id)  # the back-off is over
    with app.app_context():
        notifications.sweep(db.session)
    work(app)
    (message,) = messages(ctx)
    assert message.status == MessageStatus.SENT and message.attempts == 2
    assert len(gateway.requests) == 2 and len(gateway.delivered) == 1  # one SMS reached the customer


def test_gateway_permanent_error_is_not_retried(app, ctx, redis, gateway):
    gateway.answers = [400]
    queue_sms(app, ctx)
    work(app)
    with app.app_context():
        notifications.sweep(db.session, now=utcnow() + dt.timedelta(hours=1))
    work(app)
    (message,) = messages(ctx)
    assert (
        message.status == MessageStatus.FAILED
        and "400" in message.last_error
        and "number is not mobile" in message.last_error
    )
    assert len(gateway.requests) == 1


def test_failed_message_can_be_resent_from_the_list(app, ctx, redis, gateway, login_as):
    gateway.answers = [400, 200]
    message_id, _ = queue_sms(app, ctx)
    work(app)
    client = login_as("manager")
    client.post("/messageview/action_post", data={"action": "resend", "rowid": [str(message_id)]})
    work(app)
    assert messages(ctx)[0].status == MessageStatus.SENT


def test_same_job_enqueued_twice_sends_once(app, ctx, redis, gateway):
    message_id, _ = queue_sms(app, ctx)
    with app.app_context():
        assert worker.enqueue([message_id]) == []  # the after-commit enqueue already holds this job id
    assert Queue(app.config["RQ_QUEUE"], connection=redis).count == 1
    work(app)
    with app.app_context():
        assert notifications.deliver(db.session, message_id) == "sent"  # a repeat run finds it sent
    assert len(gateway.requests) == 1 and messages(ctx)[0].status == MessageStatus.SENT


def test_consent_withdrawn_after_enqueue_cancels(app, ctx, redis, gateway):
    message_id, customer = queue_sms(app, ctx)
    with app.app_context():
        notifications.set_consent(
            db.session,
            db.session.get(Customer, customer.id),
            MessageType.MANUAL,
            notifications.Channel.SMS,
            False,
        )
        db.session.commit()
    work(app)
    (message,) = messages(ctx)
    assert message.status == MessageStatus.CANCELLED and gateway.requests == []


def test_marketing_only_with_consent(app, ctx, redis, gateway):
    with app.test_request_context():
        customer = customer_with_sms(ctx)
        notifications.queue_notification(
            ctx, customer, MessageType.MARKETING, (notifications.Channel.SMS,), text="Скидка 10%"
        )
        ctx.commit()
    work(app)
    assert messages(ctx)[0].status == MessageStatus.CANCELLED and gateway.requests == []


def test_a_marketing_message_without_a_consent_says_so_not_that_the_customer_refused(
    app, ctx, redis, gateway
):
    """Week: a mailing to customers who never agreed to marketing read «Клиент отказался
    от таких сообщений» on each cancelled message: nobody had refused anything."""
    with app.test_request_context():
        never_asked, refused = customer_with_sms(ctx), factories.customer(ctx, phone="+79165550142")
        notifications.set_consent(ctx, refused, MessageType.MARKETING, notifications.Channel.SMS, False)
        for customer in (never_asked, refused):
            notifications.queue_notification(
                ctx, customer, MessageType.MARKETING, (notifications.Channel.SMS,), text="Скидка 10%"
            )
        ctx.commit()
    work(app)
    first, second = messages(ctx)
    assert first.status == second.status == MessageStatus.CANCELLED and gateway.requests == []
    assert first.last_error == "Клиент не давал согласия на такие сообщения"
    assert second.last_error == "Клиент отказался от таких сообщений"


def test_redis_unreachable_at_enqueue_then_back(app, ctx, redis, redis_server, login_as):
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = login_as("reception")
    data = {
        "last_name": "Офлайн",
        "first_name": "Олег",
        "customer_type": "individual",
        "phone": PHONE,
        "discount": "0",
    }
    assert client.post("/customerview/add", data=data).status_code == 302  # the save succeeds
    (message,) = messages(ctx)
    assert message.status == MessageStatus.QUEUED and message.enqueued_at is None
    app.config["REDIS_URL"] = redis_server.url  # Redis is back
    with app.app_context():
        assert notifications.sweep(db.session) == [message.id]
    work(app)
    assert messages(ctx)[0].status == MessageStatus.SENT


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_worker_killed_mid_send(app, ctx, redis, gateway, database_url, worker_class):
    """SIGKILL while the gateway holds the request: the lease expires, a new worker finishes,
    the gateway's idempotency key keeps the customer from getting it twice, and the message
    says it was sent again after a failure, with both attempts in its history."""
    gateway.hang.set()
    message_id, _ = queue_sms(app, ctx)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": app.config["REDIS_URL"],
        "NOTIFY_SMS": "gateway",
        "NOTIFY_EMAIL": "off",
        "NOTIFY_PUSH": "off",
        "SMS_GATEWAY_URL": gateway.url,
        "KARTOTEKA_INSTANCE": app.config["INSTANCE_DIR"],
        "SECRET_KEY": "test",
    }
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "app:create_app",
        "worker",
        "--burst",
        f"--{worker_class}",
    ]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1200):  # a worker's start (the app's import) takes seconds on a busy machine
        if gateway.requests:
            break
        time.sleep(0.05)
    assert gateway.requests, "the worker reached the gateway"
    # With --fork the send runs in RQ's work horse, which calls setpgrp(): neither killing the
    # worker nor its process group reaches it. Kill the horse (the process that is sending)
    # and the worker, as the OOM killer or a cgroup kill would; a horse left alive would go
    # on and write to Redis and this database after the test has ended.
    horses = children(first.pid)
    assert bool(horses) == (worker_class == "fork"), "a work horse per job with --fork only"
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    (message,) = messages(ctx)
    assert message.status == MessageStatus.SENDING  # left mid-send
    with app.app_context():
        later = utcnow() + dt.timedelta(seconds=app.config["SENDING_LEASE_SECONDS"] + 1)
        assert notifications.sweep(db.session) == []  # not before its lease is over
        assert notifications.sweep(db.session, now=later) == [message_id]
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    (message,) = messages(ctx)
    assert message.status == MessageStatus.SENT and message.attempts == 2
    assert message.delivery == "Отправлено повторно после сбоя"
    assert [a.outcome for a in message.attempt_log] == [AttemptOutcome.INTERRUPTED, AttemptOutcome.SENT]
    assert len(gateway.requests) == 2 and len(gateway.delivered) == 1


def test_nothing_personal_is_left_in_redis(app, ctx, redis, gateway, login_as):
    """Jobs carry ids; failed jobs keep no personal data; a scan of Redis finds none."""
    gateway.answers = [500, 400]
    first_id, _ = queue_sms(app, ctx)
    client = login_as("reception")
    client.post(
        "/customerview/add",
        data={
            "last_name": "Секретова",
            "first_name": "Ева",
            "customer_type": "individual",
            "phone": "+79035557788",
            "email": "eva.secret@example.ru",
            "discount": "0",
        },
    )
    work(app)
    time_passes(ctx, first_id)
    with app.app_context():
        notifications.sweep(db.session)
    work(app)
    secrets = [
        PHONE,
        "79161234567",
        EMAIL,
        "Ваш анализ готов",
        "+79035557788",
        "eva.secret@example.ru",
        "Секретова",
        "Ева",
    ]
    dump = []
    for key in redis.scan_iter("*"):
        kind = redis.type(key).decode()
        dump.append(key.decode(errors="replace"))
        if kind == "string":
            dump.append(redis.get(key).decode(errors="replace"))
        elif kind == "hash":
            dump += [v.decode(errors="replace") for v in redis.hgetall(key).values()]
        elif kind == "list":
            dump += [v.decode(errors="replace") for v in redis.lrange(key, 0, -1)]
        elif kind == "zset":
            dump += [v.decode(errors="replace") for v in redis.zrange(key, 0, -1)]
        elif kind == "set":
            dump += [v.decode(errors="replace") for v in redis.smembers(key)]
    text = "\n".join(dump)
    assert dump, "the scan saw the jobs"
    for secret in secrets:
        assert secret not in text, secret


def test_embedded_worker_delivers_without_a_redis_server(app, ctx):
    """run.py's default: an in-process store and a worker thread running the same RQ code.
    It leaves run.py's process its name and its log: RQ renamed the server's process
    «rq:worker:…: Listening on kartoteka» (``ps`` and ``pkill -f run.py`` no longer found
    it, and a second run.py met «Port 5000 is in use» from an unnamed process), and wrote
    two INFO lines a second into the log."""
    import logging

    from setproctitle import getproctitle
    from sqlalchemy import select

    assert not app.config["REDIS_URL"]
    title = getproctitle()
    said: list[str] = []
    heard = logging.Handler()
    heard.emit = lambda record: said.append(record.getMessage())
    logging.getLogger("rq.worker").addHandler(heard)
    stop = worker.start_embedded_worker(app, interval=0.1)
    try:
        with app.test_request_context():
            customer = customer_with_sms(ctx)
            notifications.queue_notification(
                ctx, customer, MessageType.MANUAL, (notifications.Channel.SMS,), text="Встроенный"
            )
            ctx.commit()
            ctx.close()  # SQLite: hold no read lock while the worker thread writes

        def status():
            with db.engine.connect() as conn:
                return conn.execute(select(Message.status)).scalar_one()

        with app.app_context():
            for _ in range(100):
                if status() == MessageStatus.SENT:
                    break
                time.sleep(0.1)
            assert status() == MessageStatus.SENT
        assert getproctitle() == title
        assert not [line for line in said if "Listening on" in line or "started with PID" in line], said
    finally:
        stop.set()
        time.sleep(0.3)
        logging.getLogger("rq.worker").removeHandler(heard)


def test_refused_message_keeps_what_was_typed(app, ctx, redis, login_as):
    customer = factories.customer(ctx, last_name="Безпочтова", phone="+79035551122")  # no e-mail
    client = login_as("reception")
    text = "Напоминаем: анализы нужно сдать натощак, с 8 до 10 утра"
    response = client.post(
        f"/customerview/{customer.id}/message",
        data={"channel": "email", "message_type": "manual", "text": text},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "нет контакта или канал выключен" in page
    assert f">{text}</textarea>" in page
    assert '<option selected value="email">' in page
    assert ctx.query(Message).count() == 0
