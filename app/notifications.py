"""Notifications: the outbox, templates, consent, delivery and the sweeper.

A message is a row first: :func:`queue_notification` writes it in the caller's
transaction; after that transaction commits, only the row's id goes to RQ
(:mod:`app.worker`). :func:`deliver` — the job — claims the row atomically,
checks consent at send time, sends through :mod:`app.channels` and writes the
outcome back. :func:`sweep` hands out again whatever was left behind (Redis
down at enqueue, a vanished job, a worker killed mid-send, a reminder now due).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from contextvars import ContextVar

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from . import channels
from .errors import ValidationFailed
from .formatting import datetime_short, money
from .models import (
    Channel,
    Customer,
    Message,
    MessageStatus,
    MessageTemplate,
    MessageType,
    NotificationConsent,
    Order,
    OrderStatus,
    utcnow,
)

log = logging.getLogger(__name__)

# Russian defaults, used until an administrator edits a template in the UI.
DEFAULT_TEMPLATES = {
    MessageType.WELCOME: (
        "Добро пожаловать",
        "{{ customer.first_name }}, добро пожаловать! Вас приветствует {{ clinic }}.",
    ),
    MessageType.STATUS_CHANGED: (
        "Ваш статус изменён",
        "{{ customer.first_name }}, ваш статус клиента изменён: {{ customer.status }}. {{ clinic }}",
    ),
    MessageType.ORDER_CREATED: (
        "Заказ оформлен",
        "{{ customer.first_name }}, заказ №{{ order.id }} оформлен{% if order.visit_at %}, визит {{ order.visit_at }}{% endif %}. Сумма: {{ order.total }}.",
    ),
    MessageType.ORDER_STATUS: (
        "Статус заказа",
        "{{ customer.first_name }}, статус заказа №{{ order.id }}: {{ order.status }}.",
    ),
    MessageType.VISIT_REMINDER: (
        "Напоминание о визите",
        "{{ customer.first_name }}, напоминаем о визите {{ order.visit_at }}{% if order.branch %} ({{ order.branch }}){% endif %}.",
    ),
    MessageType.RETURN_STATUS: (
        "Возврат",
        "{{ customer.first_name }}, возврат по заказу №{{ order.id }}: {{ status }}.",
    ),
    MessageType.MANUAL: ("Сообщение", "{{ text }}"),
    MessageType.MARKETING: ("Предложение для вас", "{{ text }}"),
}


def install_default_templates(connection) -> int:
    """Give every message type on every channel a template row holding its
    default text, where it has none: the «Шаблоны уведомлений» screen was empty,
    and an administrator could not see, let alone change, what customers receive.
    A row an administrator has (edited or not) is left alone. Returns the rows added."""
    table = MessageTemplate.__table__
    existing = set(connection.execute(select(table.c.message_type, table.c.channel)).all())
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        {
            "message_type": message_type,
            "channel": channel,
            "subject": DEFAULT_TEMPLATES[message_type][0],
            "body": DEFAULT_TEMPLATES[message_type][1],
            "active": True,
            "created_on": now,
            "changed_on": now,
        }
        for message_type in MessageType
        for channel in Channel
        if (message_type, channel) not in existing
    ]
    if rows:
        connection.execute(table.insert(), rows)
    return len(rows)


EVENT_CHANNELS = (Channel.SMS, Channel.EMAIL)  # automatic messages go where the customer can be reached
# A template renders in at most this long and this much text, and loops over at
# most MAX_RANGE numbers: a `range(100001)` loop answered 500, a 5 MB text was saved.
RENDER_SECONDS = 1.0
MAX_OUTPUT = 20_000  # characters: a long e-mail; an SMS is a few hundred
MAX_RANGE = 1_000
_DEADLINE: ContextVar[float] = ContextVar("template_deadline", default=math.inf)


class TemplateLimit(Exception):
    """A template went past a bound; ``str()`` says which, in the user's language."""


def _in_time() -> None:
    if time.monotonic() > _DEADLINE.get():
        raise TemplateLimit(_("Шаблон выполняется слишком долго (больше %(s)s с).", s=RENDER_SECONDS))


def _bounded_range(*args):
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(_("В шаблоне можно перебрать не больше %(n)s чисел.", n=MAX_RANGE))
    for number in numbers:
        _in_time()
        yield number


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, bounded: loops, repeated strings and powers cannot make a
    template run long or write a long text."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        _in_time()
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise TemplateLimit(_("Слишком большая степень в шаблоне."))
        if operator == "*":
            for text, times in ((left, right), (right, left)):
                if (
                    isinstance(text, (str, list, tuple))
                    and isinstance(times, int)
                    and len(text) * times > MAX_OUTPUT
                ):
                    raise TemplateLimit(_too_long())
        return super().call_binop(context, operator, left, right)

    def call(self, __context, __obj, *args, **kwargs):
        _in_time()
        return super().call(__context, __obj, *args, **kwargs)


def _too_long() -> str:
    return _("Текст по шаблону слишком длинный: не больше %(n)s символов.", n=MAX_OUTPUT)


SANDBOX = BoundedSandbox(undefined=StrictUndefined, autoescape=False)
SANDBOX.globals["range"] = _bounded_range


def render_template_text(source: str, context: dict) -> str:
    """``source`` rendered in the sandbox within RENDER_SECONDS and MAX_OUTPUT
    (raises TemplateLimit past them, TemplateError on a broken template)."""
    token = _DEADLINE.set(time.monotonic() + RENDER_SECONDS)
    try:
        chunks, size = [], 0
        for chunk in SANDBOX.from_string(source).generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimit(_too_long())
            _in_time()
            chunks.append(chunk)
        return "".join(chunks)
    except (OverflowError, MemoryError, RecursionError) as e:
        raise TemplateLimit(_too_long()) from e
    finally:
        _DEADLINE.reset(token)


class TemplateFailed(ValidationFailed):
    """A template that cannot render: shown to the administrator, never sent."""


# ---------------------------------------------------------------------------
# Templates and rendering
# ---------------------------------------------------------------------------


def template_context(customer: Customer, order: Order | None = None, **extra) -> dict:
    """What a template may use: plain values, never ORM objects (the sandbox sees only these)."""
    context = {
        "clinic": current_app.config["APP_NAME"],
        "customer": {
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "middle_name": customer.middle_name or "",
            "full_name": customer.full_name,
            "status": str(customer.status.label) if customer.status else "",
        },
        "order": None,
    }
    if order is not None:
        context["order"] = {
            "id": order.id,
            "total": money(order.total),
            "paid": money(order.paid),
            "status": str(order.status.label) if order.status else "",
            "visit_at": datetime_short(order.visit_at) if order.visit_at else "",
            "branch": str(order.branch) if order.branch else "",
        }
    context.update(extra)
    return context


def render(session: Session, message_type: MessageType, channel: Channel, context: dict) -> tuple[str, str]:
    template = session.scalars(
        select(MessageTemplate).where(
            MessageTemplate.message_type == message_type,
            MessageTemplate.channel == channel,
            MessageTemplate.active.is_(True),
        )
    ).first()
    subject, body = (template.subject, template.body) if template else DEFAULT_TEMPLATES[message_type]
    try:
        return render_template_text(subject or "", context), render_template_text(body, context)
    except TemplateLimit as e:
        raise TemplateFailed({"body": str(e)}) from e
    except TemplateError as e:
        raise TemplateFailed({"body": _("Ошибка в шаблоне: %(error)s", error=str(e))}) from e


def check_template(template: MessageTemplate) -> None:
    """Render a template against a sample customer and order before it is saved."""
    sample = {
        "clinic": "Клиника",
        "customer": {
            "first_name": "Анна",
            "last_name": "Иванова",
            "middle_name": "",
            "full_name": "Иванова Анна",
            "status": "Активен",
        },
        "order": {
            "id": 1,
            "total": "1 500,00 ₽",
            "paid": "0,00 ₽",
            "status": "Новый",
            "visit_at": "24.11.2026 10:00",
            "branch": "",
        },
        "status": "Одобрен",
        "text": "Текст",
    }
    for field, source in (("subject", template.subject or ""), ("body", template.body or "")):
        try:
            render_template_text(source, sample)
        except TemplateLimit as e:
            raise TemplateFailed({field: str(e)}) from e
        except TemplateError as e:
            raise TemplateFailed({field: _("Ошибка в шаблоне: %(error)s", error=str(e))}) from e


# ---------------------------------------------------------------------------
# Consent
# ---------------------------------------------------------------------------


def consent_allows(session: Session, customer_id: int, message_type: MessageType, channel: Channel) -> bool:
    """Service messages go unless the customer opted out; marketing only with a consent."""
    row = session.scalars(
        select(NotificationConsent).where(
            NotificationConsent.customer_id == customer_id,
            NotificationConsent.message_type == message_type,
            NotificationConsent.channel == channel,
        )
    ).first()
    if row is not None:
        return row.allowed
    return message_type != MessageType.MARKETING


def set_consent(
    session: Session, customer: Customer, message_type: MessageType, channel: Channel, allowed: bool
) -> None:
    row = session.scalars(
        select(NotificationConsent).where(
            NotificationConsent.customer_id == customer.id,
            NotificationConsent.message_type == message_type,
            NotificationConsent.channel == channel,
        )
    ).first()
    if row is None:
        session.add(
            NotificationConsent(
                customer=customer, message_type=message_type, channel=channel, allowed=allowed
            )
        )
    else:
        row.allowed = allowed


def reachable(customer: Customer, channel: Channel) -> bool:
    return {Channel.SMS: bool(customer.phone), Channel.EMAIL: bool(customer.email), Channel.PUSH: True}[
        channel
    ]


# ---------------------------------------------------------------------------
# The outbox
# ---------------------------------------------------------------------------


def queue_notification(
    session: Session,
    customer: Customer,
    message_type: MessageType,
    channels_: tuple[Channel, ...] | None = None,
    order: Order | None = None,
    send_after: dt.datetime | None = None,
    **context,
) -> list[Message]:
    """Write the messages of one event in the caller's transaction; enqueued after commit.

    Only a type meant for customers is ever written (MessageType.customer_facing)."""
    created = []
    if not MessageType(message_type).customer_facing:
        return created
    active = current_app.config["NOTIFY_CHANNELS"]
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):  # customers read the clinic's language
        for channel in channels_ or EVENT_CHANNELS:
            if active.get(channel.value, "off") == "off" or not reachable(customer, channel):
                continue
            subject, body = render(
                session, message_type, channel, template_context(customer, order, **context)
            )
            message = Message(
                customer=customer,
                order_id=order.id if order is not None else None,
                channel=channel,
                message_type=message_type,
                subject=subject,
                body=body,
                status=MessageStatus.QUEUED,
                send_after=send_after or utcnow(),
            )
            session.add(message)
            created.append(message)
    return created


def schedule_reminder(session: Session, order: Order) -> list[Message]:
    """A visit reminder, due REMINDER_HOURS_BEFORE the visit; the sweeper hands it out then."""
    if order.visit_at is None or order.customer is None:
        return []
    due = order.visit_at - dt.timedelta(hours=current_app.config["REMINDER_HOURS_BEFORE"])
    if order.visit_at <= utcnow():
        return []
    return queue_notification(
        session, order.customer, MessageType.VISIT_REMINDER, order=order, send_after=max(due, utcnow())
    )


VISIT_OVER = (OrderStatus.CANCELLED, OrderStatus.COMPLETED)


def reschedule_reminder(session: Session, order: Order) -> list[Message]:
    """The visit moved, was cancelled or done: its waiting reminders are cancelled, a new one
    is written for the new time (in the caller's transaction, like every outbox row)."""
    session.execute(
        update(Message)
        .where(
            Message.order_id == order.id,
            Message.message_type == MessageType.VISIT_REMINDER,
            Message.status == MessageStatus.QUEUED,
        )
        .values(status=MessageStatus.CANCELLED, last_error=_("Визит перенесён или отменён"))
        .execution_options(synchronize_session=False)
    )
    if order.status in VISIT_OVER:
        return []
    return schedule_reminder(session, order)


def reminder_obsolete(session: Session, message: Message) -> bool:
    """Checked at send time: a reminder of a visit that is cancelled, done, gone or over."""
    if message.message_type != MessageType.VISIT_REMINDER:
        return False
    order = session.get(Order, message.order_id) if message.order_id else None
    return order is None or order.status in VISIT_OVER or order.visit_at is None or order.visit_at <= utcnow()


def _after_commit(session: Session) -> None:
    ids = session.info.pop("kartoteka_new_messages", None)
    if not ids:
        return
    from .worker import enqueue

    enqueue(ids)


def _collect_new_messages(session: Session, flush_context) -> None:
    for obj in session.new:
        if isinstance(obj, Message):
            session.info.setdefault("kartoteka_pending_messages", []).append(obj)


def _after_flush(session: Session, flush_context) -> None:
    pending = session.info.pop("kartoteka_pending_messages", [])
    due = [m.id for m in pending if m.status == MessageStatus.QUEUED and m.send_after <= utcnow()]
    if due:
        session.info.setdefault("kartoteka_new_messages", []).extend(due)


def _after_rollback(session: Session) -> None:
    session.info.pop("kartoteka_new_messages", None)
    session.info.pop("kartoteka_pending_messages", None)


def install() -> None:
    """Enqueue the ids of messages written in a transaction once it commits."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "before_flush", lambda s, c, i: _collect_new_messages(s, c))
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda s, t: _after_rollback(s))


# ---------------------------------------------------------------------------
# Delivery (the job) and the sweeper
# ---------------------------------------------------------------------------


class RetryLater(Exception):
    """Raised to RQ for a transient failure: carries no personal data (it is kept in Redis)."""


def deliver(session: Session, message_id: int) -> str:
    """Deliver one message exactly once or record why not. Returns the final status.

    The claim is fenced: every outcome is written only while the row is still ours
    (status «отправляется», our attempt number and claim time). A worker that outlived its lease —
    its parent was killed and the work horse went on, or a send slower than
    SENDING_LEASE_SECONDS — finds its claim taken over and writes nothing, so it can
    neither turn a message another worker sent back into «в очереди» nor fail it.
    """
    now = utcnow()
    claimed = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.QUEUED, Message.send_after <= now)
        .values(status=MessageStatus.SENDING, started_at=now, attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    message = session.get(Message, message_id)
    if message is None:
        return "missing"
    if not claimed:
        return message.status.value  # sent, cancelled, sending elsewhere or not yet due: nothing to do
    attempt = message.attempts

    def finish(status: MessageStatus, **values) -> str:
        still_ours = session.execute(
            update(Message)
            .where(
                Message.id == message_id,
                Message.status == MessageStatus.SENDING,
                Message.attempts == attempt,
                Message.started_at == now,
            )
            .values(status=status, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        if not still_ours:
            log.warning(
                "message %s: attempt %s was taken over after its lease; outcome dropped", message_id, attempt
            )
            return "superseded"
        return status.value

    if not consent_allows(session, message.customer_id, message.message_type, message.channel):
        return finish(MessageStatus.CANCELLED, last_error=_("Клиент отказался от таких сообщений"))
    if reminder_obsolete(session, message):
        return finish(MessageStatus.CANCELLED, last_error=_("Визит перенесён или отменён"))
    try:
        provider_id = channels.send(message)
    except channels.TransientError as e:
        retries = current_app.config["DELIVERY_RETRIES"]
        if attempt > len(retries):
            return finish(MessageStatus.FAILED, last_error=str(e)[:500])
        outcome = finish(
            MessageStatus.QUEUED,
            last_error=str(e)[:500],
            enqueued_at=None,
            send_after=utcnow() + dt.timedelta(seconds=retries[attempt - 1]),
        )
        if outcome == "superseded":
            return outcome
        raise RetryLater(f"message {message_id}: attempt {attempt} failed, retrying") from None
    except channels.PermanentError as e:
        return finish(MessageStatus.FAILED, last_error=str(e)[:500])
    except Exception as e:  # noqa: BLE001 - a bug or an unforeseen library error
        # Not raised to RQ: its traceback (which may quote an address or the text) would be
        # kept in Redis, and the row would loop «отправляется» -> lease -> again for ever.
        # Shown on the message as «ошибка» with the kind of error; staff can resend.
        log.exception("message %s: unexpected error in the %s channel", message_id, message.channel.value)
        return finish(
            MessageStatus.FAILED,
            last_error=_("Внутренняя ошибка при отправке: %(error)s", error=type(e).__name__),
        )
    return finish(MessageStatus.SENT, provider_id=provider_id, sent_at=utcnow(), last_error=None)


def sweep(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Hand out again what was left behind; returns the ids enqueued.

    Queued and due but not in Redis (Redis was down, the job vanished, a reminder
    is now due, a retry's wait is over); sending for longer than the lease (the
    worker died mid-send: the gateway's idempotency key keeps the second try
    from reaching the customer twice).
    """
    now = now or utcnow()
    lease = dt.timedelta(seconds=current_app.config["SENDING_LEASE_SECONDS"])
    session.execute(
        update(Message)
        .where(Message.status == MessageStatus.SENDING, Message.started_at < now - lease)
        .values(status=MessageStatus.QUEUED, enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    ids = session.scalars(
        select(Message.id)
        .where(Message.status == MessageStatus.QUEUED, Message.send_after <= now)
        .where(or_(Message.enqueued_at.is_(None), Message.enqueued_at < now - dt.timedelta(seconds=5)))
        .order_by(Message.id)
        .limit(5000)
    ).all()
    if ids:
        from .worker import enqueue

        enqueue(list(ids), force=True)
    return list(ids)


def resend(session: Session, message: Message) -> Message:
    """A failed or cancelled message, queued again by a staff member."""
    if message.status not in (MessageStatus.FAILED, MessageStatus.CANCELLED):
        raise ValidationFailed({None: _("Повторить можно только сообщение с ошибкой или отменённое.")})
    message.status, message.last_error, message.send_after, message.enqueued_at = (
        MessageStatus.QUEUED,
        None,
        utcnow(),
        None,
    )
    session.info.setdefault("kartoteka_new_messages", []).append(message.id)
    return message
