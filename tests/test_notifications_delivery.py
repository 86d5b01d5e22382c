"""Delivery that keeps going, on both databases: deadlines instead of a retry count, the
attempt history, reasons in Russian beside the provider's own words, resends that change
a row once, channels paused by an administrator, the queue screen and the health report,
and the services' refusals and logs. Real Redis (the suite's), a real HTTP gateway and a
real SMTP server on loopback; the fault suite (test_notifications_faults.py) adds worker
processes, outages and kills on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq import SimpleWorker

from app import notifications, worker
from app.errors import ValidationFailed
from app.extensions import db
from app.models import AttemptOutcome, Channel, ChannelPause, Message, MessageStatus, MessageType, utcnow
from tests import factories
from tests.test_notifications import Gateway, free_port

ROOT = Path(__file__).resolve().parent.parent
PHONE, EMAIL = "+79161234567", "delivery.check@example.ru"


def work(app):
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)


def sweep(app, now=None):
    with app.app_context():
        try:
            return notifications.sweep(db.session, now=now)
        finally:
            db.session.remove()


def message(ctx, message_id) -> Message:
    ctx.expire_all()
    return ctx.get(Message, message_id)


def queue(app, ctx, message_type=MessageType.MANUAL, channel=Channel.SMS, customer=None, **context):
    with app.test_request_context():
        customer = customer or factories.customer(ctx, phone=PHONE, email=EMAIL)
        (created,) = notifications.queue_notification(
            ctx, customer, message_type, (channel,), **({"text": "Анализы готовы"} | context)
        )
        ctx.commit()
        return created.id


def due_now(ctx, message_id):
    """The retry's wait is over (its stored schedule is read before: the test moves the clock)."""
    ctx.query(Message).filter_by(id=message_id).update({"send_after": utcnow() - dt.timedelta(seconds=1)})
    ctx.commit()


@pytest.fixture
def gateway(app):
    gw = Gateway()
    saved = dict(app.config["NOTIFY_CHANNELS"]), app.config["SMS_GATEWAY_URL"]
    app.config["NOTIFY_CHANNELS"] = {"sms": "gateway", "email": "off", "push": "off"}
    app.config["SMS_GATEWAY_URL"] = gw.url
    yield gw
    gw.close()
    app.config["NOTIFY_CHANNELS"], app.config["SMS_GATEWAY_URL"] = saved


@pytest.fixture
def settings(app):
    """Change app settings for one test."""
    saved = {}

    def change(**values):
        for key, value in values.items():
            saved.setdefault(key, app.config[key])
            app.config[key] = value

    yield change
    app.config.update(saved)


# -- deadlines ------------------------------------------------------------------------


def test_each_message_type_is_worth_sending_until_its_horizon(app, ctx):
    """A reminder until its visit, a confirmation for a day, a marketing message for a week."""
    customer = factories.customer(ctx, phone=PHONE, email=EMAIL)
    visit = (utcnow() + dt.timedelta(hours=30)).replace(microsecond=0)
    order = factories.order(ctx, customer=customer)
    order.visit_at = visit
    ctx.commit()
    with app.test_request_context():
        (reminder,) = notifications.schedule_reminder(ctx, order)[:1]
        (confirmation,) = notifications.queue_notification(
            ctx, customer, MessageType.ORDER_CREATED, (Channel.SMS,), order=order
        )
        (marketing,) = notifications.queue_notification(
            ctx, customer, MessageType.MARKETING, (Channel.SMS,), text="Скидка"
        )
        ctx.commit()
    assert reminder.expires_at == visit  # due 24 h before, worth sending until the visit
    assert confirmation.expires_at - confirmation.send_after == dt.timedelta(days=1)
    assert marketing.expires_at - marketing.send_after == dt.timedelta(days=7)


def test_a_long_gateway_outage_is_retried_with_growing_waits_until_the_deadline(
    app, ctx, redis, gateway, settings
):
    """Four refusals used to fail a message for good; now it waits longer each time (the
    last wait repeats) and is sent when the gateway is back, within its horizon."""
    settings(RETRY_BACKOFF_SECONDS=[10, 30, 60])
    gateway.answers = [503] * 6 + [200]
    message_id = queue(app, ctx)
    waits = []
    for _ in range(6):
        work(app)
        row = message(ctx, message_id)
        assert row.status == MessageStatus.QUEUED
        waits.append(round((row.send_after - row.attempt_log[-1].finished_at).total_seconds()))
        due_now(ctx, message_id)
        sweep(app)
    work(app)
    row = message(ctx, message_id)
    assert waits == [10, 30, 60, 60, 60, 60]
    assert row.status == MessageStatus.SENT and row.attempts == 7
    assert [a.outcome for a in row.attempt_log] == [AttemptOutcome.RETRY] * 6 + [AttemptOutcome.SENT]
    assert row.attempt_log[0].reason == "Шлюз временно не принял сообщение (503)"
    assert row.attempt_log[0].provider_answer == '{"error": "number is not mobile"}'
    assert len(gateway.delivered) == 1


def test_past_its_deadline_a_message_is_overdue_with_the_reason(app, ctx, redis, gateway, settings, login_as):
    settings(RETRY_BACKOFF_SECONDS=[10])
    gateway.answers = [503, 503]
    first = queue(app, ctx)
    work(app)  # refused once, waiting to retry
    ctx.query(Message).filter_by(id=first).update({"expires_at": utcnow() - dt.timedelta(minutes=1)})
    ctx.commit()
    sweep(app)
    row = message(ctx, first)
    assert row.status == MessageStatus.EXPIRED
    assert row.last_error.startswith("Не отправлено до ")
    assert row.last_error.endswith(
        'Последняя ошибка: Шлюз временно не принял сообщение (503): {"error": "number is not mobile"}'
    )
    # the next try would come after the deadline: overdue at once, not after a useless wait
    second = queue(app, ctx, customer=row.customer)
    ctx.query(Message).filter_by(id=second).update({"expires_at": utcnow() + dt.timedelta(seconds=5)})
    ctx.commit()
    work(app)
    row = message(ctx, second)
    assert row.status == MessageStatus.EXPIRED and row.attempt_log[-1].outcome == AttemptOutcome.EXPIRED
    listing = login_as("manager").get("/messageview/list/").get_data(as_text=True)
    assert listing.count(">Просрочено<") == 2


# -- the provider's words beside ours ------------------------------------------------------


class Mailbox:
    """An SMTP server on loopback answering DATA with scripted replies."""

    def __init__(self, replies, quit_reply="221 Bye"):
        from aiosmtpd.controller import Controller

        self.replies, self.received = list(replies), []
        box = self

        class Handler:
            async def handle_QUIT(self, server, session, envelope):
                return quit_reply

            async def handle_DATA(self, server, session, envelope):
                reply = box.replies.pop(0) if box.replies else "250 OK"
                if reply == "hang":  # takes the letter and answers after the client gave up
                    box.received.append(envelope.content.decode())
                    await asyncio.sleep(3)
                    return "250 OK"
                if reply.startswith("250"):
                    box.received.append(envelope.content.decode())
                return reply

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


@pytest.fixture
def mailbox(app, settings):
    boxes = []

    def start(*replies, **options):
        box = Mailbox(replies, **options)
        boxes.append(box)
        settings(NOTIFY_CHANNELS={"sms": "off", "email": "smtp", "push": "off"}, SMTP_PORT=box.port)
        return box

    yield start
    for box in boxes:
        box.controller.stop()


def test_mail_servers_answers_are_kept_beside_a_russian_reason(app, ctx, redis, mailbox, login_as):
    box = mailbox("451 4.7.1 Greylisted, try again later", "550 5.7.1 Message rejected as spam")
    message_id = queue(app, ctx, channel=Channel.EMAIL)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.QUEUED  # 4xx: tried again
    assert (
        row.last_error == "Почтовый сервер временно не принял письмо (451): 4.7.1 Greylisted, try again later"
    )
    due_now(ctx, message_id)
    sweep(app)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.FAILED  # 5xx: refused for good
    assert row.last_error == "Почтовый сервер отклонил письмо (550): 5.7.1 Message rejected as spam"
    assert [(a.reason, a.provider_answer) for a in row.attempt_log] == [
        ("Почтовый сервер временно не принял письмо (451)", "4.7.1 Greylisted, try again later"),
        ("Почтовый сервер отклонил письмо (550)", "5.7.1 Message rejected as spam"),
    ]
    assert box.received == []
    page = login_as("manager").get(f"/messageview/show/{message_id}").get_data(as_text=True)
    assert "Попытки отправки" in page and "5.7.1 Message rejected as spam" in page


@pytest.mark.parametrize("quit_reply", ["421 4.3.2 Shutting down", "500 5.5.1 Bye anyway"])
def test_a_letter_the_mail_server_took_is_sent_whatever_it_answers_to_goodbye(
    app, ctx, redis, mailbox, quit_reply
):
    """The server took the letter (250) and answered QUIT with something other than
    221: smtplib raised it as a refusal, and the accepted letter was retried (a 4xx:
    the customer got it twice) or marked «Ошибка» (a 5xx). The letter is sent."""
    box = mailbox(quit_reply=quit_reply)
    message_id = queue(app, ctx, channel=Channel.EMAIL)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT, row.last_error
    assert len(box.received) == 1 and [a.outcome for a in row.attempt_log] == [AttemptOutcome.SENT]


def test_the_same_message_id_on_every_attempt(app, ctx, redis, mailbox):
    """A retry is recognisably the same letter: a mail client or the clinic's mail log sees one."""
    box = mailbox("451 4.3.2 Try later")
    message_id = queue(app, ctx, channel=Channel.EMAIL)
    work(app)
    due_now(ctx, message_id)
    sweep(app)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT
    assert f"Message-ID: <{row.delivery_key}@kartoteka.example>" in box.received[0]
    assert row.provider_id == f"<{row.delivery_key}@kartoteka.example>"


# -- a send whose answer never came ----------------------------------------------------------


def test_a_message_the_gateway_took_without_answering_is_marked_when_sent_again(
    app, ctx, redis, gateway, settings, login_as
):
    """The gateway took the SMS and its answer never came within GATEWAY_TIMEOUT (a slow
    gateway, a dropped connection): the worker tried again, the gateway (which ignores
    Idempotency-Key, as many do) sent it a second time, and the message read plain
    «Отправлено»: the customer got two SMS and staff were not told. It now reads
    «Отправлено повторно после сбоя», like a message whose worker was killed mid-send."""
    settings(GATEWAY_TIMEOUT=0.5, RETRY_BACKOFF_SECONDS=[10])
    gateway.hang.set()  # the first request is received and never answered
    message_id = queue(app, ctx)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.QUEUED and row.attempt_log[0].outcome == AttemptOutcome.RETRY
    assert row.attempt_log[0].reason == "Шлюз не ответил на сообщение (оно могло дойти)"
    due_now(ctx, message_id)
    sweep(app)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT and len(gateway.requests) == 2  # it may have gone twice
    assert row.delivery == "Отправлено повторно после сбоя"
    card = login_as("manager").get(f"/customerview/show/{row.customer_id}").get_data(as_text=True)
    assert "Отправлено повторно после сбоя" in card


def test_a_letter_the_mail_server_took_without_answering_is_marked_when_sent_again(
    app, ctx, redis, mailbox, settings
):
    settings(GATEWAY_TIMEOUT=0.5, RETRY_BACKOFF_SECONDS=[10])
    box = mailbox("hang")
    message_id = queue(app, ctx, channel=Channel.EMAIL)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.QUEUED
    assert row.attempt_log[0].reason == "Почтовый сервер не ответил на письмо (оно могло дойти)"
    due_now(ctx, message_id)
    sweep(app)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT and len(box.received) == 2
    assert row.delivery == "Отправлено повторно после сбоя"


def test_a_letter_that_may_have_arrived_says_so_when_it_fails_after_all(
    app, ctx, redis, mailbox, settings, login_as
):
    """The first attempt went unanswered (it may have reached the customer), the next
    was refused for good: the list read plain «Ошибка», and a receptionist who pressed
    «Отправить снова» sent it a second time. It says that it may have arrived."""
    settings(GATEWAY_TIMEOUT=0.5, RETRY_BACKOFF_SECONDS=[10])
    mailbox("hang", "550 5.7.1 Rejected")
    message_id = queue(app, ctx, channel=Channel.EMAIL)
    work(app)
    due_now(ctx, message_id)
    sweep(app)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.FAILED
    assert row.delivery == "Ошибка (одна из попыток могла дойти)"
    listing = login_as("manager").get("/messageview/list/").get_data(as_text=True)
    assert "Ошибка (одна из попыток могла дойти)" in listing


def test_a_refusal_or_an_unreachable_provider_is_retried_without_the_mark(app, ctx, redis, gateway, settings):
    """A 503, or a gateway that could not be reached at all, never had the message: its
    retry reaches the customer once and reads «Отправлено»."""
    settings(RETRY_BACKOFF_SECONDS=[10], SMS_GATEWAY_URL=f"http://127.0.0.1:{free_port()}/send")
    message_id = queue(app, ctx)
    work(app)  # nobody listens there
    assert message(ctx, message_id).attempt_log[0].reason == "Шлюз недоступен"
    settings(SMS_GATEWAY_URL=gateway.url)
    gateway.answers = [503]
    for _ in range(2):
        due_now(ctx, message_id)
        sweep(app)
        work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT and row.attempts == 3 and len(gateway.delivered) == 1
    assert row.delivery == "Отправлено"


# -- the attempt history and resends -------------------------------------------------------


def test_a_resend_adds_attempts_and_the_message_shows_them(app, ctx, redis, gateway, login_as):
    gateway.answers = [400, 200]
    message_id = queue(app, ctx)
    work(app)
    client = login_as("manager")
    client.post("/messageview/action_post", data={"action": "resend", "rowid": [str(message_id)]})
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT and row.attempts == 2
    history = [(a.number, a.outcome, a.reason, a.provider_answer) for a in row.attempt_log]
    assert history == [
        (1, AttemptOutcome.FAILED, "Шлюз отклонил сообщение (400)", '{"error": "number is not mobile"}'),
        (2, AttemptOutcome.SENT, None, None),
    ]
    assert all(a.worker for a in row.attempt_log) and row.attempt_log[1].finished_at
    page = client.get(f"/messageview/show/{message_id}").get_data(as_text=True)
    assert "Попытки отправки" in page
    assert "Шлюз отклонил сообщение (400)" in page and "number is not mobile" in page


def test_the_card_says_a_message_was_sent_again_after_a_failure(app, ctx, login_as):
    customer = factories.customer(ctx, phone=PHONE)
    message_id = queue(app, ctx, customer=customer)
    ctx.query(Message).filter_by(id=message_id).update(
        {"status": MessageStatus.SENT, "after_crash": True, "sent_at": utcnow()}
    )
    ctx.commit()
    client = login_as("manager")
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "Отправлено повторно после сбоя" in card
    assert "Отправлено повторно после сбоя" in client.get("/messageview/list/").get_data(as_text=True)


def test_two_resends_change_the_row_once(app, ctx, redis, gateway):
    """Two staff members press «Повторить отправку» on the same failed message (each page
    loaded it as failed): the first queues it and a worker sends it; the second is refused,
    saying what the message is now, and changes nothing."""
    gateway.answers = [400, 200]
    message_id = queue(app, ctx)
    work(app)
    stale = message(ctx, message_id)  # the second page's copy
    assert stale.status == MessageStatus.FAILED
    with app.app_context():  # the first staff member
        notifications.resend(db.session, db.session.get(Message, message_id))
        db.session.commit()
        db.session.remove()
    work(app)
    with pytest.raises(ValidationFailed) as refused:
        notifications.resend(ctx, stale)
    ctx.rollback()
    assert refused.value.errors[None].startswith(f"Сообщение №{message_id} сейчас «Отправлено»")
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT and row.attempts == 2
    assert len(gateway.requests) == 2


def test_two_resends_posted_at_once_queue_it_once(app, ctx, redis, gateway, login_as):
    gateway.answers = [400]
    message_id = queue(app, ctx)
    work(app)
    client = login_as("manager")
    form = {"action": "resend", "rowid": [str(message_id)]}
    client.post("/messageview/action_post", data=form)
    again = client.post("/messageview/action_post", data=form, follow_redirects=True)
    assert f"Сообщение №{message_id} сейчас «В очереди»" in again.get_data(as_text=True)
    from rq import Queue

    assert Queue(app.config["RQ_QUEUE"], connection=redis).count == 1


# -- pause, the queue screen, health -----------------------------------------------------


def test_a_paused_channel_keeps_its_messages_until_resumed(app, ctx, redis, gateway, login_as):
    admin = login_as("sysadmin")
    assert admin.post("/notificationqueue/sms/pause").status_code == 302
    message_id = queue(app, ctx)
    work(app)
    sweep(app)
    work(app)
    assert message(ctx, message_id).status == MessageStatus.QUEUED and gateway.requests == []
    screen = admin.get("/notificationqueue/").get_data(as_text=True)
    sms_row = screen.split('class="kartoteka-queue-sms"')[1].split("</tr>")[0]
    assert "Приостановлен" in sms_row and "Возобновить" in sms_row
    assert admin.post("/notificationqueue/sms/resume").status_code == 302
    assert ctx.query(ChannelPause).count() == 0
    work(app)  # on the queue at once: no sweeper round in between
    assert message(ctx, message_id).status == MessageStatus.SENT
    assert sweep(app) == []


def test_resuming_a_channel_puts_its_due_messages_on_the_queue_at_once(app, ctx, redis, gateway, login_as):
    """After «Возобновить» the held messages waited for the sweeper's next round (up to
    30 s) before a worker took them; now the resume enqueues them (RQ) once it commits.
    A message whose retry is not due yet stays the sweeper's."""
    from rq import Queue

    admin = login_as("sysadmin")
    admin.post("/notificationqueue/sms/pause")
    first = queue(app, ctx)
    customer = message(ctx, first).customer
    held = [first, queue(app, ctx, customer=customer)]
    later = queue(app, ctx, customer=customer)
    ctx.query(Message).filter_by(id=later).update({"send_after": utcnow() + dt.timedelta(minutes=5)})
    ctx.commit()
    work(app)  # their jobs find the channel paused and end without them
    rq = Queue(app.config["RQ_QUEUE"], connection=redis)
    assert rq.count == 0 and gateway.requests == []
    assert admin.post("/notificationqueue/sms/resume").status_code == 302
    assert sorted(rq.job_ids) == [f"message-{i}-0" for i in held]
    work(app)
    assert [message(ctx, i).status for i in held] == [MessageStatus.SENT] * len(held)
    assert message(ctx, later).status == MessageStatus.QUEUED and len(gateway.requests) == len(held)


def test_who_sees_the_queue_and_who_may_pause_it(app, ctx, login_as):
    assert login_as("sysadmin").get("/notificationqueue/").status_code == 200
    manager = login_as("manager")
    assert manager.get("/notificationqueue/").status_code == 200
    assert "Приостановить" not in manager.get("/notificationqueue/").get_data(as_text=True)
    assert manager.post("/notificationqueue/sms/pause").status_code in (302, 403)
    assert ctx.query(ChannelPause).count() == 0
    for role in ("reception", "doctor", "auditor"):
        assert login_as(role).get("/notificationqueue/").status_code == 403, role
    assert login_as("sysadmin").post("/notificationqueue/fax/pause").status_code == 404


def test_the_queue_screen_counts_waiting_failing_and_overdue(app, ctx, redis, gateway, login_as):
    gateway.answers = [503, 400]
    retrying = queue(app, ctx)
    customer = message(ctx, retrying).customer
    refused = queue(app, ctx, customer=customer)
    work(app)  # one waits to retry, one is refused
    waiting = queue(app, ctx, customer=customer)  # not yet worked
    overdue = queue(app, ctx, customer=customer)
    ctx.query(Message).filter_by(id=overdue).update({"expires_at": utcnow() - dt.timedelta(seconds=1)})
    ctx.query(Message).filter_by(id=waiting).update({"send_after": utcnow() - dt.timedelta(minutes=3)})
    ctx.commit()
    sweep(app)
    page = login_as("sysadmin").get("/notificationqueue/").get_data(as_text=True)
    cells = [c.split("</td>")[0] for c in page.split('class="kartoteka-queue-sms"')[1].split("<td>")[2:9]]
    waiting_due, failing, scheduled, sending, expired, failed, oldest = cells
    assert (waiting_due, failing, scheduled, sending, expired, failed) == ("1", "1", "1", "0", "1", "1")
    assert oldest == "3 минуты"
    assert message(ctx, refused).status == MessageStatus.FAILED


def test_health_says_what_is_wrong_and_exits_1(app, ctx, redis, redis_server, settings):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kartoteka", "health", "--json"])
    report = json.loads(result.output)
    assert result.exit_code == 1
    assert {p["code"] for p in report["problems"]} == {"no_workers", "sweeper"}
    assert report["redis"]["ok"] and report["waiting"] == 0
    sweep(app)
    result = runner.invoke(args=["kartoteka", "health"])
    assert "last sweep: " in result.output and "sweeper" not in result.output.split("\n")[0]
    settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    result = runner.invoke(args=["kartoteka", "health"])
    assert result.exit_code == 1 and result.output.startswith("status: PROBLEM: Redis unavailable")


# -- the services refuse the SQLite fallback; the web keeps its logs --------------------------


@pytest.mark.parametrize("command", [["worker", "--burst"], ["kartoteka", "sweeper"]])
def test_a_worker_without_database_url_refuses_to_start(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        KARTOTEKA_INSTANCE=str(tmp_path), REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", SECRET_KEY="x"
    )
    run = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "Error: DATABASE_URL is not set" in run.stderr
    assert not (tmp_path / "kartoteka.db").exists()  # no stray SQLite file
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/other.db")
    env.pop("REDIS_URL")
    run = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and "Error: REDIS_URL is not set" in run.stderr


def test_the_apps_loggers_survive_migrations_run_in_process(tmp_path):
    """run.py migrates in-process; Alembic's fileConfig used to disable every logger that
    existed, so a Redis outage left no line in the web's log."""
    script = (
        "from flask_migrate import upgrade\n"
        "from app import create_app, worker\n"
        f"app = create_app(SQLALCHEMY_DATABASE_URI='sqlite:///{tmp_path}/run.db', INSTANCE_DIR='{tmp_path}',"
        f" REDIS_URL='redis://127.0.0.1:{free_port()}/0', SECRET_KEY='x')\n"
        "with app.app_context():\n"
        "    upgrade(revision='heads')\n"
        "    worker.enqueue([41, 42])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Redis unavailable" in run.stderr
    assert "message(s) 41, 42 stay queued for the sweeper" in run.stderr


def test_the_queue_screen_reaches_roles_that_existed_before_it(app, login_as):
    """An upgrade: the roles were made before «Очередь уведомлений» existed. A restart gives
    it to them at their default levels (the system administrator pauses, the manager reads)
    and leaves an administrator's changes elsewhere alone."""
    from app import access

    with app.app_context():
        sm = app.appbuilder.sm
        for spec in access.ROLES.values():
            role = sm.find_role(spec.name)
            role.permissions = [pv for pv in role.permissions if pv.view_menu.name != access.QUEUE]
        for pv in sm.session.query(sm.permissionview_model).all():
            if pv.view_menu.name == access.QUEUE:
                sm.session.delete(pv)
        reception = sm.find_role(access.ROLES["reception"].name)
        notes = sm.find_permission_view_menu("can_write", access.NOTES)
        reception.permissions.remove(notes)  # an administrator's change
        sm.session.commit()
        try:
            assert access.sync_roles() == []  # what a restart runs
            granted = {
                key: {
                    pv.permission.name
                    for pv in sm.find_role(spec.name).permissions
                    if pv.view_menu.name == access.QUEUE
                }
                for key, spec in access.ROLES.items()
            }
            assert granted == {
                "sysadmin": {"can_read", "can_write", "menu_access"},
                "manager": {"can_read", "menu_access"},
                "reception": set(),
                "doctor": set(),
                "auditor": set(),
            }
            assert notes not in sm.find_role(access.ROLES["reception"].name).permissions
        finally:
            access.sync_roles(reset=True)
    assert login_as("sysadmin").get("/notificationqueue/").status_code == 200


def test_a_worker_stops_on_sigterm(app, redis, database_url, tmp_path):
    """systemd stops a worker with SIGTERM: it leaves its wait-for-Redis loop and exits 0
    (the loop that outlives Redis outages must not outlive its supervisor)."""
    import signal
    import time

    from rq import Worker

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": app.config["REDIS_URL"],
        "KARTOTEKA_INSTANCE": str(tmp_path),
        "SECRET_KEY": "x",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # RQ registers the worker before it installs its signal handlers (and starts its
        # scheduler in between): a SIGTERM in that window is the default one. Wait until
        # it waits for work («idle»), as a supervisor's stop normally finds it.
        for _ in range(600):
            workers = Worker.all(connection=redis)
            if workers and workers[0].get_state() == "idle":
                break
            time.sleep(0.1)
        assert Worker.count(connection=redis) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert Worker.count(connection=redis) == 0  # it said goodbye to Redis
    finally:
        if process.poll() is None:
            process.kill()


def test_delivery_errors_are_stored_in_russian_and_read_in_each_readers_language(
    app, ctx, redis, gateway, settings, login_as
):
    """A manager working in English read the messages' «Ошибка» and the attempts'
    «Причина» in Russian («Клиент отказался от таких сообщений», «Шлюз… (503)»), on the
    screens and in the export. Stored in Russian whoever's request wrote them; each
    reader reads the known reasons in their language, the provider's words as written."""
    from flask_babel import force_locale

    from app.admin.history import value_label

    settings(RETRY_BACKOFF_SECONDS=[10])
    gateway.answers = [503]
    late = queue(app, ctx)
    work(app)  # refused once, waiting to retry
    ctx.query(Message).filter_by(id=late).update({"expires_at": utcnow() - dt.timedelta(minutes=1)})
    ctx.commit()
    refused = factories.customer(ctx, phone="+79160000002")
    with app.test_request_context():
        notifications.set_consent(ctx, refused, MessageType.MANUAL, Channel.SMS, False)
        ctx.commit()
    opted_out = queue(app, ctx, customer=refused)
    with app.test_request_context(), force_locale("en"):  # an English user's request sweeps and sends
        notifications.sweep(ctx)
        notifications.deliver(ctx, opted_out)
    answer = '{"error": "number is not mobile"}'
    assert message(ctx, late).last_error.endswith(
        f"Последняя ошибка: Шлюз временно не принял сообщение (503): {answer}"
    )
    assert message(ctx, opted_out).last_error == "Клиент отказался от таких сообщений"
    manager = login_as("manager")
    manager.get("/lang/en")
    try:
        english = manager.get("/messageview/list/").get_data(as_text=True)
        assert "The customer opted out of such messages" in english
        assert "Last error: The gateway temporarily did not accept the message (503): {&#34;error" in english
        attempts = manager.get(f"/messageview/show/{late}").get_data(as_text=True)
        assert "The gateway temporarily did not accept the message (503)" in attempts
        for page in (english, attempts):
            assert "Клиент отказался" not in page and "Шлюз" not in page and "Последняя ошибка" not in page
    finally:
        manager.get("/lang/ru")
    russian = login_as("auditor").get("/messageview/list/").get_data(as_text=True)
    assert "Клиент отказался от таких сообщений" in russian and "Шлюз временно не принял" in russian
    # the customer's data export and the change history name values as the screens do
    with app.test_request_context(), force_locale("en"):
        assert value_label("Message", "last_error", message(ctx, late).last_error).endswith(
            f". Last error: The gateway temporarily did not accept the message (503): {answer}"
        )
        assert value_label("MessageAttempt", "reason", "Шлюз недоступен") == "The gateway is unreachable"
        assert value_label("Message", "last_error", "Своя причина: 42") == "Своя причина: 42"  # as written


def test_an_overdue_messages_deadline_is_written_as_each_reader_writes_a_date(app, ctx, login_as):
    """«Not sent by 24.11.2026 10:00»: an English reader read the deadline in the Russian
    date order (the day first) inside an English sentence."""
    message_id = queue(app, ctx)
    deadline = dt.datetime(2026, 11, 24, 7, 0)  # UTC: 10:00 at the clinic (Moscow)
    ctx.query(Message).filter_by(id=message_id).update({"expires_at": deadline})
    ctx.commit()
    with app.test_request_context():
        notifications.expire_overdue(ctx, deadline + dt.timedelta(minutes=1))
        ctx.commit()
    assert message(ctx, message_id).last_error == (
        "Не отправлено до 24.11.2026 10:00: очередь не дошла до сообщения"
    )
    manager = login_as("manager")
    manager.get("/lang/en")
    try:
        english = manager.get("/messageview/list/").get_data(as_text=True)
    finally:
        manager.get("/lang/ru")
    assert "Not sent by 11/24/2026, 10:00" in english and "24.11.2026" not in english
    russian = manager.get("/messageview/list/").get_data(as_text=True)
    assert "Не отправлено до 24.11.2026 10:00: очередь не дошла до сообщения" in russian


class BusyPubsub:
    """A worker on a busy machine: its pubsub thread always reads Redis's answer to the
    unsubscribe before RQ's stop lands (what made a round wait out 2 s and left the
    thread waiting 60 s for a subscription)."""

    def subscribe(self):
        import threading
        import time

        super().subscribe()
        pubsub, thread = self.pubsub, self.pubsub_thread
        sent = threading.Event()
        unsubscribe, stop = pubsub.unsubscribe, thread.stop

        def answered_first(*args, **kwargs):
            result = unsubscribe(*args, **kwargs)
            sent.set()
            return result

        def late_stop():
            if sent.is_set():  # the thread reads the answer, then the stop lands
                deadline = time.monotonic() + 5
                while pubsub.subscribed and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.05)
            stop()

        pubsub.unsubscribe, thread.stop = answered_first, late_stop


def test_a_burst_worker_ends_its_pubsub_thread_when_its_work_is_done(app, redis):
    """``flask worker --burst`` could end 2 s after its work: RQ unsubscribed before
    stopping its pubsub thread, and on a busy machine the thread read Redis's answer
    first and went back to wait (60 s) for a subscription; RQ's join and then _quiet's
    each waited out their 1 s. Here the thread always reads the answer before RQ's stop
    lands (as on the busy machine); stopped first, it is over when the worker returns."""
    from rq import Queue

    class BusyMachine(BusyPubsub, worker.SimpleDeliveryWorker):
        pass

    with app.app_context():
        delivery = BusyMachine([Queue(app.config["RQ_QUEUE"], connection=redis)], connection=redis)
        delivery.work(burst=True, with_scheduler=False)
    assert delivery.pubsub_thread is not None and not delivery.pubsub_thread.is_alive()


def test_the_embedded_worker_ends_its_pubsub_thread_as_flask_worker_does(app, ctx, monkeypatch):
    """run.py's worker thread ran a SimpleWorker of its own, without the fix above: on a
    busy machine each round (one a second) waited out 2 s and left its pubsub thread
    waiting 60 s, a new one every round. It now runs ``flask worker``'s worker."""
    import time

    assert not app.config["REDIS_URL"]
    rounds = []

    class BusyMachine(BusyPubsub, worker.EmbeddedWorker):
        def work(self, *args, **kwargs):
            try:
                return super().work(*args, **kwargs)
            finally:
                rounds.append(self)

    monkeypatch.setattr(worker, "EmbeddedWorker", BusyMachine)
    stop = worker.start_embedded_worker(app, interval=0.05)
    try:
        for _ in range(300):
            if len(rounds) >= 2:
                break
            time.sleep(0.05)
    finally:
        stop.set()
    assert len(rounds) >= 2, "the embedded worker ran no round"
    assert rounds[0].pubsub_thread is not None and not rounds[0].pubsub_thread.is_alive()


def test_a_sigterm_while_rq_starts_the_worker_leaves_no_dead_worker_registered(
    app, redis, database_url, tmp_path
):
    """RQ registers a worker in Redis before it installs its signal handlers. systemd's
    SIGTERM in that window (a restart just after a start) killed the process and left
    the worker registered: ``flask kartoteka health`` counted a dead worker for 8 minutes.
    The signal now stops the worker as RQ would: it says goodbye and exits 0. Here the
    signal is sent by the worker itself, right after RQ registered it."""
    from rq import Worker

    script = (
        "import os, signal\n"
        "from app import create_app, worker\n"
        "class Early(worker.SimpleDeliveryWorker):\n"
        "    def register_birth(self, *args, **kwargs):\n"
        "        super().register_birth(*args, **kwargs)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "worker.WORKER_CLASSES['simple'] = Early\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    worker.run_worker(worker_class='simple')\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": app.config["REDIS_URL"],
        "KARTOTEKA_INSTANCE": str(tmp_path),
        "SECRET_KEY": "x",
    }
    process = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert process.returncode == 0, process.stderr.decode(errors="replace")[-3000:]
    assert Worker.count(connection=redis) == 0  # it said goodbye to Redis


def test_a_stop_sent_to_a_forking_workers_whole_group_lets_its_horse_finish_the_send(
    app, ctx, redis, database_url, tmp_path
):
    """systemd stops a unit by sending SIGTERM to every process in it (KillMode's default):
    with WORKER_CLASS=fork the work horse got it too and died in the middle of the send
    (RQ's horse takes SIGTERM's default), so each restart left the message it was sending
    «отправляется» until the lease and then sent it again. The horse now leaves SIGTERM to
    its worker, which lets it finish: the message is sent once and the worker exits 0."""
    import signal
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.fault_harness import children

    received, answer = threading.Event(), threading.Event()
    keys = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            keys.append(body["reference"])
            received.set()
            answer.wait(60)  # the answer comes once the stop has been sent
            payload = b'{"id": "gw-1"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/send"
    saved = dict(app.config["NOTIFY_CHANNELS"]), app.config["SMS_GATEWAY_URL"]
    app.config["NOTIFY_CHANNELS"] = {"sms": "gateway", "email": "off", "push": "off"}
    app.config["SMS_GATEWAY_URL"] = url
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": app.config["REDIS_URL"],
        "KARTOTEKA_INSTANCE": str(tmp_path),
        "SECRET_KEY": "x",
        "NOTIFY_SMS": "gateway",
        "SMS_GATEWAY_URL": url,
        "GATEWAY_TIMEOUT": "60",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--fork"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        message_id = queue(app, ctx)
        assert received.wait(120), "the worker never reached the gateway"
        # every process of the unit, as systemd's control group (the horse has a session of
        # its own: a process group's signal would miss it)
        for pid in (process.pid, *children(process.pid)):
            os.kill(pid, signal.SIGTERM)
        answer.set()
        assert process.wait(60) == 0
        row = message(ctx, message_id)
        assert row.status == MessageStatus.SENT and row.delivery == "Отправлено"
        assert keys == [row.delivery_key]
    finally:
        answer.set()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        server.shutdown()
        app.config["NOTIFY_CHANNELS"], app.config["SMS_GATEWAY_URL"] = saved


def test_a_send_that_outlives_the_jobs_time_limit_is_a_timeout_retried_and_marked(
    app, ctx, redis, gateway, settings, login_as, monkeypatch
):
    """The gateway took the SMS and held the line past RQ's job timeout (180 s; here 1 s):
    RQ ended the job inside the send, and the message read «Ошибка» with «Внутренняя
    ошибка при отправке: JobTimeoutException», never tried again though the gateway may
    have had it. It is a gateway that did not answer in time: retried like one, and the
    retry that reaches the customer says it may be a second copy."""
    from rq import Queue

    monkeypatch.setattr(Queue, "DEFAULT_TIMEOUT", 1)
    settings(GATEWAY_TIMEOUT=10, RETRY_BACKOFF_SECONDS=[10])
    gateway.hang.set()  # the first request is received and never answered
    message_id = queue(app, ctx)
    with app.app_context():
        worker.SimpleDeliveryWorker([worker.queue()], connection=worker.connection()).work(burst=True)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.QUEUED, row.last_error
    assert row.attempt_log[0].outcome == AttemptOutcome.RETRY
    assert row.attempt_log[0].reason == (
        "Шлюз не ответил вовремя: отправку прервали через 1 с (оно могло дойти)"
    )
    due_now(ctx, message_id)
    sweep(app)
    work(app)
    row = message(ctx, message_id)
    assert row.status == MessageStatus.SENT and len(gateway.requests) == 2
    assert row.delivery == "Отправлено повторно после сбоя"
    manager = login_as("manager")
    manager.get("/lang/en")
    page = manager.get(f"/messageview/show/{message_id}").get_data(as_text=True)
    manager.get("/lang/ru")
    assert (
        "The gateway did not answer in time: the send was stopped after 1 s (it may have been delivered)"
        in page
    )
