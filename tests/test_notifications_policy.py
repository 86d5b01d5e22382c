"""Notifications and the role policy, the remaining events and channels.

Who may read the delivery log, resend, send from the card and edit templates follows the
matrix in app/access.py — including a matrix a clinic has edited in the UI. Also: a
return's status change notifies, push goes through its HTTP gateway with its credentials,
and the «Сообщения» list filters by status, channel, type and date. Real Redis (own DB)
and a real HTTP gateway on loopback, as in test_notifications.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import SimpleWorker

from app import notifications, worker
from app.extensions import db
from app.models import Channel, Message, MessageStatus, MessageType, Return, ReturnStatus
from tests import factories

PHONE, EMAIL = "+79161234567", "policy.check@example.ru"


def work(app):
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)


def messages(ctx, **filters):
    ctx.expire_all()
    return ctx.query(Message).filter_by(**filters).order_by(Message.id).all()


def queue(app, ctx, customer, message_type=MessageType.MANUAL, channel=Channel.SMS, **context):
    with app.test_request_context():
        channels = (channel,) if channel else None  # None: the event's channels
        created = notifications.queue_notification(ctx, customer, message_type, channels, **context)
        ctx.commit()
    return created


SEND = {"channel": "sms", "message_type": "manual", "text": "Ждём вас"}


def send_attempts(client, customer_id):
    """The three ways to send: preview, send from the card, send to a selection."""
    return [
        client.post(f"/customerview/{customer_id}/message/preview", data=SEND),
        client.post(f"/customerview/{customer_id}/message", data=SEND),
        client.post("/customerview/message", data={**SEND, "ids": str(customer_id)}),
    ]


# -- the default matrix ----------------------------------------------------------------


def test_doctor_sees_no_messages_and_cannot_send(app, ctx, redis, login_as):
    customer = factories.customer(ctx, phone=PHONE, email=EMAIL)
    queue(app, ctx, customer, text="Секрет-текст")
    client = login_as("doctor")
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert 'href="#messages"' not in card and "Секрет-текст" not in card
    assert client.get("/messageview/list/").status_code == 403
    assert client.get(f"/messageview/show/{messages(ctx)[0].id}").status_code == 403
    assert client.get("/messagetemplateview/list/").status_code == 403
    assert [r.status_code for r in send_attempts(client, customer.id)] == [403, 403, 403]
    assert len(messages(ctx)) == 1


def test_auditor_reads_the_log_but_cannot_resend_or_send(app, ctx, redis, login_as):
    customer = factories.customer(ctx, phone=PHONE)
    (message,) = queue(app, ctx, customer, text="Для аудитора")
    ctx.query(Message).filter_by(id=message.id).update(
        {"status": MessageStatus.FAILED, "last_error": "gateway answered 400"}
    )
    ctx.commit()
    client = login_as("auditor")
    listing = client.get("/messageview/list/").get_data(as_text=True)
    assert "Ошибка" in listing and "gateway answered 400" in listing
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert 'href="#messages"' in card and "Для аудитора" in card
    assert "kartoteka-inline-message" not in card  # no «Отправить сообщение» form
    refused = client.post("/messageview/action_post", data={"action": "resend", "rowid": [str(message.id)]})
    assert refused.status_code in (302, 403)  # FAB flashes «access denied» and goes back
    assert [r.status_code for r in send_attempts(client, customer.id)] == [403, 403, 403]
    assert [m.status for m in messages(ctx)] == [MessageStatus.FAILED]


def test_templates_are_the_administrators(app, ctx, login_as):
    template = {"message_type": "welcome", "channel": "sms", "body": "Привет, {{ customer.first_name }}"}
    for role in ("reception", "auditor", "doctor"):
        assert login_as(role).get("/messagetemplateview/list/").status_code == 403, role
    manager = login_as("manager")
    assert manager.get("/messagetemplateview/list/").status_code == 200  # reads the texts
    assert manager.post("/messagetemplateview/add", data=template).status_code == 403
    assert login_as("sysadmin").post("/messagetemplateview/add", data=template).status_code == 302


def test_the_templates_screen_shows_the_texts_customers_receive(app, ctx, login_as):
    """The screen was empty while messages went out with texts kept in the code."""
    import re

    from app.models import MessageTemplate

    assert ctx.query(MessageTemplate).count() == 0  # as every test starts
    assert notifications.install_default_templates(ctx.connection()) == len(MessageType) * len(Channel)
    ctx.commit()
    assert notifications.install_default_templates(ctx.connection()) == 0  # idempotent
    client = login_as("sysadmin")
    page = client.get("/messagetemplateview/list/", query_string={"psize_MessageTemplateView": 100})
    text = page.get_data(as_text=True)
    assert f"<strong>Всего записей:</strong> {len(MessageType) * len(Channel)}" in text
    assert "{{ customer.first_name }}, напоминаем о визите" in text  # the texts themselves, in the list
    reminder = (
        ctx.query(MessageTemplate)
        .filter_by(message_type=MessageType.VISIT_REMINDER, channel=Channel.SMS)
        .one()
    )
    form = client.get(f"/messagetemplateview/edit/{reminder.id}").get_data(as_text=True)
    assert re.search(r"<textarea[^>]*>\s*\{\{ customer.first_name \}\}, напоминаем о визите", form)


# -- a matrix edited in the UI: sending is the Messages permission, not Customers ---------


@pytest.fixture
def reception_without_messages(app):
    """The clinic took «Сообщения: запись» away from the receptionist (FAB's roles screen)."""
    from app.access import MESSAGES, ROLES

    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role(ROLES["reception"].name)
        pvm = sm.find_permission_view_menu("can_write", MESSAGES)
        sm.del_permission_role(role, pvm)
    yield
    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_permission_role(
            sm.find_role(ROLES["reception"].name), sm.find_permission_view_menu("can_write", MESSAGES)
        )


def test_sending_needs_write_on_messages(app, ctx, redis, login_as, reception_without_messages):
    customer = factories.customer(ctx, phone=PHONE)
    client = login_as("reception")
    assert client.get(f"/customerview/edit/{customer.id}").status_code == 200  # still edits customers
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "kartoteka-inline-message" not in card
    assert [r.status_code for r in send_attempts(client, customer.id)] == [403, 403, 403]
    assert messages(ctx) == []


# -- the remaining event and channel ------------------------------------------------------


def test_return_status_change_notifies_in_russian(app, ctx, redis, login_as):
    customer = factories.customer(ctx, phone=PHONE)
    order = factories.order(ctx, customer, paid="1500")
    ret = Return(customer=customer, order=order, amount=500, reason="Не подошло")
    ctx.add(ret)
    ctx.commit()
    manager = login_as("manager")
    edited = manager.post(
        f"/returnview/edit/{ret.id}",
        data={"order": str(order.id), "amount": "500", "reason": "Не подошло", "status": "approved"},
    )
    assert edited.status_code == 302, edited.get_data(as_text=True)[:2000]
    ctx.expire_all()
    assert ctx.get(Return, ret.id).status == ReturnStatus.APPROVED
    assert messages(ctx, message_type=MessageType.RETURN_STATUS) == []  # a step between
    refunded = manager.post(
        f"/returnview/edit/{ret.id}",
        data={"order": str(order.id), "amount": "500", "reason": "Не подошло", "status": "refunded"},
    )
    assert refunded.status_code == 302
    (message,) = messages(ctx, message_type=MessageType.RETURN_STATUS)
    # how much came back and where it went (it said «Деньги возвращены» and no more)
    assert message.body.replace("\xa0", " ") == (
        f"Анна, возврат по заказу №{order.id}: Вам вернули 500,00 ₽ наличными."
    )
    work(app)
    assert messages(ctx, message_type=MessageType.RETURN_STATUS)[0].status == MessageStatus.SENT


class PushGateway:
    def __init__(self):
        self.requests: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.requests.append(
                    {
                        "auth": self.headers.get("Authorization"),
                        "key": self.headers.get("Idempotency-Key"),
                        **body,
                    }
                )
                payload = json.dumps({"id": "push-42"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_push_goes_through_its_gateway_with_its_credentials(app, ctx, redis):
    gateway = PushGateway()
    saved = app.config["PUSH_GATEWAY_URL"], app.config["PUSH_GATEWAY_TOKEN"]
    app.config["NOTIFY_CHANNELS"] = {"sms": "off", "email": "off", "push": "gateway"}
    app.config["PUSH_GATEWAY_URL"], app.config["PUSH_GATEWAY_TOKEN"] = gateway.url, "push-token-1"
    try:
        customer = factories.customer(ctx, phone=PHONE)
        (message,) = queue(app, ctx, customer, channel=Channel.PUSH, text="Результаты готовы")
        work(app)
    finally:
        gateway.server.shutdown()
        app.config["PUSH_GATEWAY_URL"], app.config["PUSH_GATEWAY_TOKEN"] = saved
    assert gateway.requests == [
        {
            "auth": "Bearer push-token-1",
            "key": message.delivery_key,
            "to": f"customer:{customer.id}",
            "text": "Результаты готовы",
            "reference": message.delivery_key,
        }
    ]
    (sent,) = messages(ctx)
    assert sent.status == MessageStatus.SENT and sent.provider_id == "push-42"


def test_inactive_channel_writes_no_message(app, ctx):
    saved = dict(app.config["NOTIFY_CHANNELS"])
    app.config["NOTIFY_CHANNELS"] = {"sms": "file", "email": "off", "push": "off"}
    try:
        customer = factories.customer(ctx, phone=PHONE, email=EMAIL)
        created = queue(app, ctx, customer, message_type=MessageType.WELCOME, channel=None)
    finally:
        app.config["NOTIFY_CHANNELS"] = saved
    assert [m.channel for m in created] == [Channel.SMS]


# -- the «Сообщения» list ------------------------------------------------------------------


def test_messages_list_filters_by_status_channel_type_and_date(app, ctx, login_as):
    rows = [
        ("Смирнова", Channel.SMS, MessageType.MANUAL, MessageStatus.SENT, dt.datetime(2026, 3, 1, 9)),
        ("Почтова", Channel.EMAIL, MessageType.WELCOME, MessageStatus.FAILED, dt.datetime(2026, 3, 5, 9)),
        ("Третьякова", Channel.SMS, MessageType.WELCOME, MessageStatus.QUEUED, dt.datetime(2026, 3, 9, 9)),
    ]
    for i, (name, channel, kind, status, created) in enumerate(rows):
        customer = factories.customer(ctx, last_name=name, phone=f"+7916123456{i}")
        ctx.add(
            Message(
                customer=customer,
                channel=channel,
                message_type=kind,
                status=status,
                body="Текст",
                created_on=created,
            )
        )
    ctx.commit()
    client = login_as("manager")

    def shown(**query):
        page = client.get("/messageview/list/", query_string=query)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        return {name for name, *_ in rows if name in text}

    assert shown() == {"Смирнова", "Почтова", "Третьякова"}
    assert shown(_flt_0_status="failed") == {"Почтова"}
    assert shown(_flt_0_channel="sms") == {"Смирнова", "Третьякова"}
    assert shown(_flt_0_message_type="welcome") == {"Почтова", "Третьякова"}
    assert shown(_flt_0_created_on="2026-03-05") == {"Почтова"}
    assert shown(_flt_1_created_on="2026-03-04", _flt_2_created_on="2026-03-06") == {"Почтова"}


# -- a visit reminder follows its visit -----------------------------------------------------


def visit_order(ctx, customer, visit_at):
    """A visit booked through the domain rules (factories.order fixes its visit time)."""
    from decimal import Decimal

    from app import orders
    from app.models import Order, OrderKind

    order = Order(customer=customer, kind=OrderKind.VISIT, paid=Decimal(0), visit_at=visit_at)
    orders.add_item(order, factories.catalog_item(ctx), 1)
    orders.prepare_order(ctx, order, is_new=True)
    ctx.add(order)
    ctx.commit()
    return order


def test_reminder_follows_a_moved_then_cancelled_visit(app, ctx, redis, login_as):
    from app.models import Order

    customer = factories.customer(ctx, phone=PHONE)  # no e-mail: one reminder per visit time
    visit = (dt.datetime.now() + dt.timedelta(days=3)).replace(microsecond=0, second=0)
    order = visit_order(ctx, customer, visit)
    (first,) = messages(ctx, message_type=MessageType.VISIT_REMINDER)
    assert first.status == MessageStatus.QUEUED
    manager = login_as("manager")

    def edit(**fields):
        data = {"customer": str(customer.id), "kind": "visit", "status": "new", "paid": "0", **fields}
        response = manager.post(f"/orderview/edit/{order.id}", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)[:1000]

    moved = visit + dt.timedelta(days=2)
    edit(visit_at=moved.strftime("%Y-%m-%d %H:%M:%S"))
    old, new = messages(ctx, message_type=MessageType.VISIT_REMINDER)
    assert old.id == first.id and old.status == MessageStatus.CANCELLED
    assert old.last_error == "Визит перенесён или отменён"
    ctx.expire_all()
    stored = ctx.get(Order, order.id).visit_at
    assert stored != visit
    assert new.status == MessageStatus.QUEUED and new.body != old.body
    assert new.send_after == stored - dt.timedelta(hours=app.config["REMINDER_HOURS_BEFORE"])

    edit(visit_at=moved.strftime("%Y-%m-%d %H:%M:%S"), status="cancelled")
    reminders = messages(ctx, message_type=MessageType.VISIT_REMINDER)
    assert [m.status for m in reminders] == [MessageStatus.CANCELLED] * 2
    assert messages(ctx, message_type=MessageType.ORDER_STATUS)  # the cancellation itself is told


def test_reminder_of_a_visit_cancelled_behind_its_back_is_not_sent(app, ctx, redis):
    """Checked at send time too: the order was cancelled without the domain rules (SQL, import)."""
    from app.models import Order, OrderStatus

    customer = factories.customer(ctx, phone=PHONE)
    order = visit_order(ctx, customer, dt.datetime.now() + dt.timedelta(days=3))
    ctx.query(Order).filter_by(id=order.id).update({"status": OrderStatus.CANCELLED})
    ctx.query(Message).update({"send_after": dt.datetime(2026, 1, 1)})  # every message is due
    ctx.commit()
    with app.app_context():
        notifications.sweep(db.session)
    work(app)
    by_type = {m.message_type: m for m in messages(ctx)}
    assert by_type[MessageType.ORDER_CREATED].status == MessageStatus.SENT
    reminder = by_type[MessageType.VISIT_REMINDER]
    assert reminder.status == MessageStatus.CANCELLED and reminder.sent_at is None


# -- the worker command --------------------------------------------------------------------


def test_flask_worker_simple_delivers(app, ctx, redis, database_url):
    """`flask worker --simple`: RQ's SimpleWorker in the worker's own process, same outcome."""
    import subprocess
    import sys
    from pathlib import Path

    customer = factories.customer(ctx, phone=PHONE)
    (message,) = queue(app, ctx, customer, text="Через простой воркер")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": app.config["REDIS_URL"],
        "NOTIFY_SMS": "file",
        "NOTIFY_EMAIL": "off",
        "NOTIFY_PUSH": "off",
        "KARTOTEKA_INSTANCE": app.config["INSTANCE_DIR"],
        "SECRET_KEY": "test",
    }
    run = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--burst", "--simple"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    (sent,) = messages(ctx)
    assert sent.status == MessageStatus.SENT and sent.provider_id.startswith("file:")


@pytest.mark.parametrize(
    "body, says",
    [
        ("{% for i in range(100001) %}{% endfor %}", "не больше 1000 чисел"),
        ("{{ 'x' * 5000000 }}", "слишком длинный"),
        ("{% for i in range(1000) %}{% for j in range(1000) %}{{ i }}{% endfor %}{% endfor %}", "слишком"),
        ("{{ 9 ** 999999 }}", "степень"),
    ],
)
def test_a_template_is_bounded_in_time_and_size(ctx, login_as, body, says):
    """A `range(100001)` loop answered 500; a template writing 5 MB was saved."""
    from app.models import MessageTemplate

    client = login_as("sysadmin")
    before = ctx.query(MessageTemplate).count()
    response = client.post(
        "/messagetemplateview/add",
        data={"message_type": "marketing", "channel": "push", "subject": "", "body": body, "active": "y"},
    )
    assert response.status_code == 422  # the form again, with the reason
    assert says in response.get_data(as_text=True)
    assert ctx.query(MessageTemplate).count() == before


def test_every_default_text_and_every_documented_variable_is_accepted_by_the_templates_screen(ctx, login_as):
    """A template is rendered against a sample before it is saved, and an unknown name
    is refused (StrictUndefined). Mutation testing showed no test saved a text using the
    variables: a sample missing «clinic» or «order» would have refused the clinic's own
    default texts. Each default text is re-saved as it stands, then one using every
    variable the README names; a misspelt one is refused in Russian."""
    from app import notifications
    from app.models import MessageTemplate
    from tests.html_forms import form_fields

    assert notifications.install_default_templates(ctx.connection()) > 0
    ctx.commit()
    client = login_as("sysadmin")  # the texts are the system administrator's
    ids = [t.id for t in ctx.query(MessageTemplate).order_by(MessageTemplate.id)]
    for pk in ids:
        data = form_fields(client.get(f"/messagetemplateview/edit/{pk}").get_data(as_text=True))
        assert client.post(f"/messagetemplateview/edit/{pk}", data=data).status_code == 302, pk
    data = form_fields(client.get(f"/messagetemplateview/edit/{ids[0]}").get_data(as_text=True))
    every = (
        "{{ clinic }} {{ customer.first_name }} {{ customer.last_name }} {{ customer.middle_name }} "
        "{{ customer.full_name }} {{ customer.status }} {{ order.id }} {{ order.total }} {{ order.paid }} "
        "{{ order.status }} {{ order.visit_at }} {{ order.branch }} {{ status }} {{ text }} {{ amount }} "
        "{{ balance }}"
    )
    assert client.post(f"/messagetemplateview/edit/{ids[0]}", data={**data, "body": every}).status_code == 302
    ctx.expire_all()
    assert ctx.get(MessageTemplate, ids[0]).body == every
    refused = client.post(
        f"/messagetemplateview/edit/{ids[0]}", data={**data, "body": "{{ custmer.first_name }}"}
    )
    assert refused.status_code == 422
    assert "Ошибка в шаблоне" in refused.get_data(as_text=True)
    ctx.expire_all()
    assert ctx.get(MessageTemplate, ids[0]).body == every
