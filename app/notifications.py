"""Notifications: the outbox, templates, consent, delivery and the sweeper.

A message is a row first: :func:`queue_notification` writes it in the caller's
transaction, with its deadline; after that transaction commits, only the row's id
goes to RQ (:mod:`app.worker`). :func:`deliver` — the job — claims the row with a
conditional UPDATE and writes an attempt row, checks consent at send time, sends
through :mod:`app.channels` and writes the outcome back: sent, refused, or queued
again after a growing wait until the deadline, then «просрочено». :func:`sweep`
(its own process, ``flask kartoteka sweeper``) hands out again whatever was left
behind (Redis down or restarted empty, a vanished job, a worker killed mid-send, a
reminder or a retry now due) and expires what is past its deadline.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
import time
from contextvars import ContextVar

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from rq.timeouts import JobTimeoutException
from sqlalchemy import case, delete, event, func, or_, select, update
from sqlalchemy.orm import Session

from . import channels, subjects
from .audit import STORED_LOCALE, enum_text
from .errors import ValidationFailed
from .formatting import LIST_DATETIME, datetime_short, money
from .labels import N_, stored_text_label, system_comment
from .models import (
    MESSAGE_RESENDABLE,
    AttemptOutcome,
    Channel,
    ChannelPause,
    Customer,
    Message,
    MessageAttempt,
    MessageStatus,
    MessageTemplate,
    MessageType,
    NotificationConsent,
    Order,
    OrderStatus,
    ServiceBeat,
    utcnow,
)
from .queue import ids_text as _ids

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
    MessageType.VISIT_MOVED: (
        "Визит перенесён",
        "{{ customer.first_name }}, ваш визит перенесён на {{ order.visit_at }}{% if order.branch %} ({{ order.branch }}){% endif %}. {{ clinic }}",
    ),
    MessageType.RETURN_STATUS: (
        "Возврат",
        "{{ customer.first_name }}, возврат по заказу №{{ order.id }}: {{ status }}.",
    ),
    MessageType.MANUAL: ("Сообщение", "{{ text }}"),
    MessageType.MARKETING: ("Предложение для вас", "{{ text }}"),
    MessageType.BONUS_EXPIRED: (
        "Бонусы сгорели",
        "{{ customer.first_name }}, срок ваших бонусов истёк: списано {{ amount }}. Остаток: {{ balance }}. {{ clinic }}",
    ),
    MessageType.DEPOSIT_SENT: (
        "Перевод с депозита",
        "{{ customer.first_name }}, с вашего депозита переведено {{ amount }} на депозит клиента {{ other }}. Остаток: {{ balance }}. {{ clinic }}",
    ),
    MessageType.DEPOSIT_RECEIVED: (
        "Пополнение депозита",
        "{{ customer.first_name }}, на ваш депозит переведено {{ amount }} от клиента {{ other }}. Остаток: {{ balance }}. {{ clinic }}",
    ),
    MessageType.CERTIFICATE_RECEIVED: (
        "Вам подарили сертификат",
        "{{ customer.first_name }}, {{ other }} передаёт вам {{ certificate }}: {{ left }}, действует до {{ valid_until }}. Назовите его номер при оплате. {{ clinic }}",
    ),
    MessageType.CERTIFICATE_GIVEN: (
        "Сертификат передан",
        "{{ customer.first_name }}, ваш {{ certificate }} передан клиенту {{ other }}. {{ clinic }}",
    ),
    MessageType.CERTIFICATE_CANCELLED: (
        "Сертификат аннулирован",
        "{{ customer.first_name }}, {{ certificate }} аннулирован.{% if refund %} На ваш депозит возвращено {{ refund }}.{% endif %} {{ clinic }}",
    ),
    MessageType.REVIEW_REPLY: (
        "Ответ на ваш отзыв",
        "{{ customer.first_name }}, спасибо за отзыв! Ответ клиники: {{ reply }} {{ clinic }}",
    ),
}
# Types a customer receives only after agreeing to them (a consent row that allows it).
OPT_IN = frozenset({MessageType.MARKETING, MessageType.BONUS_EXPIRED})


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
            # how a message addresses the customer: a company registered without a contact
            # person has no first name, and its messages began «None, добро пожаловать!»
            "first_name": customer.first_name or customer.full_name,
            "last_name": customer.last_name or "",
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


def _template_text(session: Session, message_type: MessageType, channel: Channel) -> tuple[str, str]:
    template = session.scalars(
        select(MessageTemplate).where(
            MessageTemplate.message_type == message_type,
            MessageTemplate.channel == channel,
            MessageTemplate.active.is_(True),
        )
    ).first()
    return (template.subject, template.body) if template else DEFAULT_TEMPLATES[message_type]


def uses_typed_text(session: Session, message_type: MessageType, channel: Channel) -> bool:
    """Whether a message of this type on this channel carries what the staff member typed
    («{{ text }}» in its template): a text typed for «Приветствие» was dropped unsaid."""
    from jinja2 import meta

    try:
        return any(
            "text" in meta.find_undeclared_variables(SANDBOX.parse(source or ""))
            for source in _template_text(session, message_type, channel)
        )
    except TemplateError:
        return True  # a broken template is refused where it renders, with its reason


def render(session: Session, message_type: MessageType, channel: Channel, context: dict) -> tuple[str, str]:
    subject, body = _template_text(session, message_type, channel)
    try:
        return render_template_text(subject or "", context), render_template_text(body, context)
    except TemplateLimit as e:
        raise TemplateFailed({"body": str(e)}) from e
    except TemplateError as e:
        raise TemplateFailed({"body": template_error(e)}) from e


_UNDEFINED = re.compile(r"has no attribute '([^']+)'|^'([^']+)' is undefined")


def template_error(error: TemplateError) -> str:
    """What is wrong with a template, in the administrator's language: Jinja says it
    in English («expected token 'end of print statement', got 'пожаловать'»)."""
    if isinstance(error, UndefinedError):
        found = _UNDEFINED.search(str(error))
        name = next((g for g in found.groups() if g), "") if found else ""
        return _(
            "Ошибка в шаблоне: неизвестная подстановка «%(name)s». Доступные подстановки перечислены под полем.",
            name=name,
        )
    if isinstance(error, SecurityError):
        return _(
            "Ошибка в шаблоне: такая подстановка запрещена. Используйте подстановки, перечисленные под полем."
        )
    if isinstance(error, TemplateSyntaxError):
        return _(
            "Ошибка в шаблоне, строка %(line)s: проверьте, что каждая подстановка {{ … }} и каждый блок "
            "{%% … %%} закрыты, а имена подстановок написаны как под полем.",
            line=error.lineno,
        )
    return _("Ошибка в шаблоне: проверьте подстановки по списку под полем.")


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
        "amount": "300,00 ₽",
        "balance": "1 200,00 ₽",
        "other": "Иванов Пётр",
        "certificate": "сертификат №2791-7840",
        "left": "5 000,00 ₽",
        "valid_until": "24.11.2027",
        "refund": "3 000,00 ₽",
        "reply": "Спасибо, что выбрали нас!",
    }
    for field, source in (("subject", template.subject or ""), ("body", template.body or "")):
        try:
            render_template_text(source, sample)
        except TemplateLimit as e:
            raise TemplateFailed({field: str(e)}) from e
        except TemplateError as e:
            raise TemplateFailed({field: template_error(e)}) from e


# ---------------------------------------------------------------------------
# Consent
# ---------------------------------------------------------------------------


def consent_allows(session: Session, customer_id: int, message_type: MessageType, channel: Channel) -> bool:
    """Service messages go unless the customer opted out; marketing only with a consent."""
    return consent_refusal(session, customer_id, message_type, channel) is None


def consent_refusal(
    session: Session, customer_id: int, message_type: MessageType, channel: Channel
) -> str | None:
    """Why the message may not go (None: it may): the customer refused it, or it is of
    an opt-in type they never agreed to («отказался» said of a customer never asked
    misled the staff reading the cancelled mailing).

    The ledger of consents to processing (app/consents.py) is asked first: a
    withdrawn «Уведомления» stops every message, a withdrawn «Реклама» the marketing
    ones, and a given «Реклама» is a marketing consent; the per-type opt-outs stay."""
    from .consents import state
    from .models import ConsentPurpose

    refused = _("Клиент отказался от таких сообщений")
    marketing = message_type == MessageType.MARKETING
    ledger = state(
        session, customer_id, ConsentPurpose.MARKETING if marketing else ConsentPurpose.NOTIFICATIONS
    )
    if ledger is False:
        return refused
    row = session.scalars(
        select(NotificationConsent).where(
            NotificationConsent.customer_id == customer_id,
            NotificationConsent.message_type == message_type,
            NotificationConsent.channel == channel,
        )
    ).first()
    if row is not None:
        return None if row.allowed else refused
    # an opt-in type (marketing, bonus expiry) needs a consent; marketing's may be the ledger's
    if message_type not in OPT_IN or (marketing and ledger is True):
        return None
    return _("Клиент не давал согласия на такие сообщения")


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

    Only a type meant for customers is ever written (MessageType.customer_facing). A
    value of ``context`` given as a function (a sum of money, a text) is made here, in the
    customers' language: made by the caller, it took the language of the employee who
    worked in English, and a Russian customer read «RUB 500.00» or «Money refunded»."""
    created = []
    if not MessageType(message_type).customer_facing:
        return created
    if customer.id is not None and subjects.erased(session, customer.id):
        return created  # an erased customer's remainder (kept under law) is written to by nobody
    active = current_app.config["NOTIFY_CHANNELS"]
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):  # customers read the clinic's language
        context = {key: value() if callable(value) else value for key, value in context.items()}
        for channel in channels_ or EVENT_CHANNELS:
            if active.get(channel.value, "off") == "off" or not reachable(customer, channel):
                continue
            subject, body = render(
                session, message_type, channel, template_context(customer, order, **context)
            )
            due = send_after or utcnow()
            message = Message(
                customer=customer,
                order_id=order.id if order is not None else None,
                channel=channel,
                message_type=message_type,
                subject=subject,
                body=body,
                status=MessageStatus.QUEUED,
                send_after=due,
                expires_at=deadline(message_type, due, order.visit_at if order is not None else None),
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
    # a visit marked done read «Визит перенесён или отменён» on its cancelled reminder
    done = order.status == OrderStatus.COMPLETED
    session.execute(
        update(Message)
        .where(
            Message.order_id == order.id,
            Message.message_type == MessageType.VISIT_REMINDER,
            Message.status == MessageStatus.QUEUED,
        )
        .values(
            status=MessageStatus.CANCELLED,
            last_error=system_comment(
                lambda: _("Визит уже состоялся") if done else _("Визит перенесён или отменён")
            ),
        )
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
    from .queue import enqueue

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
# Deadlines and back-off
# ---------------------------------------------------------------------------


def deadline(message_type, due: dt.datetime, visit_at: dt.datetime | None = None) -> dt.datetime:
    """Until when a message is worth sending: its type's horizon (MESSAGE_HORIZONS, hours)
    from when it is due; a visit reminder never after its visit."""
    key = message_type.value if isinstance(message_type, MessageType) else str(message_type)
    at = due + dt.timedelta(hours=current_app.config["MESSAGE_HORIZONS"].get(key, 24))
    if key in (MessageType.VISIT_REMINDER.value, MessageType.VISIT_MOVED.value) and visit_at is not None:
        at = min(at, visit_at)
    return at


def backoff(attempt: int) -> dt.timedelta:
    """The wait after the ``attempt``-th try failed (RETRY_BACKOFF_SECONDS; the last repeats)."""
    delays = current_app.config["RETRY_BACKOFF_SECONDS"]
    return dt.timedelta(seconds=delays[min(attempt, len(delays)) - 1])


# Why a message was not delivered (its «Ошибка», an attempt's «Причина») is stored in
# one language, the msgids' own (audit.STORED_LOCALE: deliver, sweep and the cancelling
# write under it), and shown in the reader's (reason_label): a manager working in English
# read «Клиент отказался от таких сообщений». Each names the parameters shown again.
DELIVERY_REASONS = {
    N_("Клиент отказался от таких сообщений"): (),
    N_("Клиент не давал согласия на такие сообщения"): (),
    N_("Визит перенесён или отменён"): (),
    N_("Визит уже состоялся"): (),
    N_("Данные клиента уничтожены: сообщения ему не отправляются"): (),
    N_("Внутренняя ошибка при отправке: %(error)s"): (),
    N_("Не отправлено до %(deadline)s. Последняя ошибка: %(error)s"): ("deadline", "error"),
    N_("Не отправлено до %(deadline)s: канал был приостановлен"): ("deadline",),
    N_("Не отправлено до %(deadline)s: очередь не дошла до сообщения"): ("deadline",),
    N_("Обработчик не ответил за %(seconds)s с; сообщение будет отправлено повторно"): (),
    # app/channels.py
    N_("Канал «%(channel)s» выключен в настройках"): ("channel",),
    N_("Адрес шлюза «%(channel)s» не настроен"): ("channel",),
    N_("Почтовый сервер отклонил письмо (%(code)s)"): (),
    N_("Почтовый сервер временно не принял письмо (%(code)s)"): (),
    N_("Почтовый сервер недоступен"): (),
    N_("Почтовый сервер временно не принял адрес получателя (%(code)s)"): (),
    N_("Почтовый сервер отклонил адрес получателя (%(code)s)"): (),
    N_("Шлюз временно не принял сообщение (%(code)s)"): (),
    N_("Шлюз отклонил сообщение (%(code)s)"): (),
    N_("Шлюз недоступен"): (),
    N_("Шлюз не ответил на сообщение (оно могло дойти)"): (),
    N_("Почтовый сервер не ответил на письмо (оно могло дойти)"): (),
    N_("Шлюз не ответил вовремя: отправку прервали через %(seconds)s с (оно могло дойти)"): (),
    N_("Почтовый сервер не ответил вовремя: отправку прервали через %(seconds)s с (оно могло дойти)"): (),
}


def reason_label(text):
    """A stored delivery error in the reader's language; the provider's answer after
    a known reason («…(503): Service Unavailable»), and any other text, as written."""
    if not text:
        return text
    found = stored_text_label(text, DELIVERY_REASONS, _reason_again)
    if found is not None:
        return found
    text = str(text)
    at = text.find(": ")
    while at != -1:  # a channel's reason and the provider's answer (DeliveryError.__str__)
        found = stored_text_label(text[:at], DELIVERY_REASONS, _reason_again)
        if found is not None:
            return found + text[at:]
        at = text.find(": ", at + 2)
    return text


def _reason_again(name: str, value: str) -> str:
    if name == "deadline":  # written as the stored language writes a moment (clinic time)
        return _moment_again(value)
    if name == "channel":
        return next((str(c.label) for c in Channel if enum_text(c) == value), value)
    return reason_label(value)


def _moment_again(value: str) -> str:
    """A moment written by ``datetime_short`` in the stored language («24.11.2026 10:00»,
    the clinic's time), as the reader writes one: an English reader read the Russian
    date order inside an English sentence. ValueError when it is no such moment."""
    from flask_babel import get_timezone

    local = dt.datetime.strptime(value, LIST_DATETIME[STORED_LOCALE])
    zone = get_timezone()
    if hasattr(zone, "localize"):  # pytz (Flask-Babel's)
        aware = zone.localize(local)
    else:
        aware = local.replace(tzinfo=zone)
    return datetime_short(aware.astimezone(dt.UTC).replace(tzinfo=None))


def in_stored_language(write):
    """``write`` run so that what it stores is in the stored language (DELIVERY_REASONS)."""

    @functools.wraps(write)
    def run(*args, **kwargs):
        with force_locale(STORED_LOCALE):
            return write(*args, **kwargs)

    return run


def overdue_reason(expires_at: dt.datetime, last_error: str | None, paused: bool = False) -> str:
    when = datetime_short(expires_at)
    if last_error:
        return _(
            "Не отправлено до %(deadline)s. Последняя ошибка: %(error)s", deadline=when, error=last_error
        )
    if paused:
        return _("Не отправлено до %(deadline)s: канал был приостановлен", deadline=when)
    return _("Не отправлено до %(deadline)s: очередь не дошла до сообщения", deadline=when)


# ---------------------------------------------------------------------------
# Channels paused by an administrator
# ---------------------------------------------------------------------------


def paused_channels(session: Session) -> set[Channel]:
    return set(session.scalars(select(ChannelPause.channel)))


def pause_channel(session: Session, channel: Channel) -> bool:
    """Messages of ``channel`` wait (their deadlines still run) until it is resumed."""
    if session.get(ChannelPause, channel) is not None:
        return False
    session.add(ChannelPause(channel=channel, paused_at=utcnow()))
    log.warning("channel %s paused", channel.value)
    return True


def resume_channel(session: Session, channel: Channel) -> bool:
    """The channel's waiting messages that are due go on the queue once the caller
    commits (their jobs found the channel paused and ended without them; left to the
    sweeper, they waited up to its interval after «Возобновить»); those still waiting
    for a retry stay the sweeper's."""
    done = session.execute(delete(ChannelPause).where(ChannelPause.channel == channel)).rowcount
    if done:
        waiting = session.execute(
            update(Message)
            .where(Message.channel == channel, Message.status == MessageStatus.QUEUED)
            .values(enqueued_at=None)
            .returning(Message.id, Message.send_after)
            .execution_options(synchronize_session=False)
        ).all()
        now = utcnow()
        due = sorted(message_id for message_id, send_after in waiting if send_after <= now)
        session.info.setdefault("kartoteka_new_messages", []).extend(due)  # see _after_commit
        log.warning("channel %s resumed", channel.value)
    return bool(done)


# ---------------------------------------------------------------------------
# Delivery (the job) and the sweeper
# ---------------------------------------------------------------------------


@in_stored_language
def deliver(session: Session, message_id: int, worker: str | None = None) -> str:
    """Deliver one message or record why not; returns the row's status (or what happened).

    The claim is a conditional UPDATE (queued and due -> sending) that also writes the
    attempt's row; every outcome is written only while the row is still ours (status
    «отправляется», our attempt number and claim time). A worker that outlived its
    lease — its parent was killed and the work horse went on, or a send slower than
    SENDING_LEASE_SECONDS — finds its claim taken over: its attempt is recorded with the
    late answer, the message is left as the other worker made it.

    A transient failure puts the message back in the queue after a growing wait
    (RETRY_BACKOFF_SECONDS) until its deadline; past it the message is «просрочено».
    Nothing is raised to RQ: the row is the schedule, the sweeper hands it out when due.
    """
    now = utcnow()
    row = session.execute(
        select(Message.status, Message.channel, Message.send_after, Message.expires_at).where(
            Message.id == message_id
        )
    ).first()
    if row is None:
        session.commit()
        return "missing"
    if row.status != MessageStatus.QUEUED or row.send_after > now:
        session.commit()
        return row.status.value  # sent, cancelled, sending elsewhere or not yet due: nothing to do
    if row.channel in paused_channels(session):
        session.commit()
        return "paused"  # stays «в очереди»; the sweeper hands it out once the channel resumes
    if row.expires_at is not None and row.expires_at <= now:
        expire_overdue(session, now, ids=[message_id])
        session.commit()
        return MessageStatus.EXPIRED.value
    attempt = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.QUEUED, Message.send_after <= now)
        .values(status=MessageStatus.SENDING, started_at=now, attempts=Message.attempts + 1)
        .returning(Message.attempts)
        .execution_options(synchronize_session=False)
    ).scalar()
    if attempt is None:  # another worker claimed it between the read and the claim
        session.commit()
        return "taken"
    session.add(MessageAttempt(message_id=message_id, number=attempt, started_at=now, worker=worker))
    session.commit()
    message = session.get(Message, message_id)

    def finish(
        status: MessageStatus,
        outcome: AttemptOutcome,
        error: channels.DeliveryError | str | None = None,
        **values,
    ) -> str:
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
        reason = error.reason if isinstance(error, channels.DeliveryError) else error
        answer = error.answer if isinstance(error, channels.DeliveryError) else None
        session.execute(
            update(MessageAttempt)
            .where(MessageAttempt.message_id == message_id, MessageAttempt.number == attempt)
            .values(
                finished_at=utcnow(),
                outcome=outcome if still_ours else AttemptOutcome.SUPERSEDED,
                reason=reason[:500] if reason else None,
                provider_answer=answer[:1000] if answer else None,
                provider_id=values.get("provider_id"),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if not still_ours:
            log.warning(
                "message %s: attempt %s was taken over after its lease; outcome dropped", message_id, attempt
            )
            return "superseded"
        return status.value

    if subjects.erased(session, message.customer_id):
        reason = _("Данные клиента уничтожены: сообщения ему не отправляются")
        return finish(MessageStatus.CANCELLED, AttemptOutcome.CANCELLED, reason, last_error=reason)
    reason = consent_refusal(session, message.customer_id, message.message_type, message.channel)
    if reason is not None:
        return finish(MessageStatus.CANCELLED, AttemptOutcome.CANCELLED, reason, last_error=reason)
    if reminder_obsolete(session, message):
        reason = _("Визит перенесён или отменён")
        return finish(MessageStatus.CANCELLED, AttemptOutcome.CANCELLED, reason, last_error=reason)
    channel = message.channel.value
    try:
        try:
            provider_id = channels.send(message)
        except JobTimeoutException as e:  # RQ's time limit ended the send (channels.out_of_time)
            raise channels.out_of_time(message, e) from e
    except channels.TransientError as e:
        retry_at = utcnow() + backoff(attempt)
        if message.expires_at is not None and retry_at >= message.expires_at:
            log.warning(
                "message %s: attempt %s on %s failed: %s; its deadline comes before the next try: expired",
                message_id,
                attempt,
                channel,
                e.reason,
            )
            return finish(
                MessageStatus.EXPIRED,
                AttemptOutcome.EXPIRED,
                e,
                last_error=overdue_reason(message.expires_at, str(e))[:500],
            )
        log.warning(
            "message %s: attempt %s on %s failed: %s; next try at %s UTC",
            message_id,
            attempt,
            channel,
            e.reason,
            retry_at.isoformat(timespec="seconds"),
        )
        # The provider took it and its answer never came: it may have reached the customer,
        # so the retry may reach them twice, and the message says so once sent (like a
        # worker killed mid-send): it read plain «Отправлено» and staff were not told.
        doubt = {"after_crash": True} if e.uncertain else {}
        return finish(
            MessageStatus.QUEUED,
            AttemptOutcome.RETRY,
            e,
            last_error=str(e)[:500],
            enqueued_at=None,
            send_after=retry_at,
            **doubt,
        )
    except channels.PermanentError as e:
        log.warning("message %s: attempt %s on %s refused: %s", message_id, attempt, channel, e.reason)
        return finish(MessageStatus.FAILED, AttemptOutcome.FAILED, e, last_error=str(e)[:500])
    except Exception as e:  # noqa: BLE001 - a bug or an unforeseen library error
        # Not raised to RQ: its traceback (which may quote an address or the text) would be
        # kept in Redis, and the row would loop «отправляется» -> lease -> again for ever.
        # Shown on the message as «ошибка» with the kind of error; staff can resend.
        log.exception("message %s: unexpected error in the %s channel", message_id, channel)
        reason = _("Внутренняя ошибка при отправке: %(error)s", error=type(e).__name__)
        return finish(MessageStatus.FAILED, AttemptOutcome.FAILED, reason, last_error=reason)
    return finish(
        MessageStatus.SENT, AttemptOutcome.SENT, provider_id=provider_id, sent_at=utcnow(), last_error=None
    )


@in_stored_language
def expire_overdue(session: Session, now: dt.datetime, ids: list[int] | None = None) -> list[int]:
    """Queued messages past their deadline become «просрочено», with why. Returns their ids."""
    query = select(Message.id, Message.expires_at, Message.last_error, Message.channel).where(
        Message.status == MessageStatus.QUEUED, Message.expires_at <= now
    )
    if ids is not None:
        query = query.where(Message.id.in_(ids))
    overdue = session.execute(query.order_by(Message.id).limit(1000)).all()
    if not overdue:
        return []
    paused = paused_channels(session)
    expired = []
    for message_id, expires_at, last_error, channel in overdue:
        reason = overdue_reason(expires_at, last_error, paused=channel in paused)
        done = session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.EXPIRED, last_error=reason[:500])
            .execution_options(synchronize_session=False)
        ).rowcount
        if done:
            expired.append(message_id)
    if expired:
        log.warning("message(s) %s: not sent before their deadline, expired", _ids(expired))
    return expired


@in_stored_language
def sweep(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Hand out again what was left behind; returns the ids enqueued.

    Sending for longer than the lease (the worker died mid-send): queued again, its
    attempt marked interrupted and the message marked «после сбоя» (the provider may
    have it already; the gateway's Idempotency-Key and the e-mail's Message-ID are the
    same on the retry). Queued past its deadline: «просрочено». Queued and due but not in
    Redis (Redis was down or restarted empty, a job vanished, a reminder is now due, a
    retry's wait is over): enqueued, unless its channel is paused.
    """
    now = now or utcnow()
    lease = dt.timedelta(seconds=current_app.config["SENDING_LEASE_SECONDS"])
    taken = session.execute(
        update(Message)
        .where(Message.status == MessageStatus.SENDING, Message.started_at < now - lease)
        .values(status=MessageStatus.QUEUED, enqueued_at=None, after_crash=True)
        .returning(Message.id, Message.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    if taken:
        seconds = format(lease.total_seconds(), "g")
        reason = _(
            "Обработчик не ответил за %(seconds)s с; сообщение будет отправлено повторно", seconds=seconds
        )
        for message_id, attempt in taken:
            session.execute(
                update(MessageAttempt)
                .where(
                    MessageAttempt.message_id == message_id,
                    MessageAttempt.number == attempt,
                    MessageAttempt.outcome.is_(None),
                )
                .values(outcome=AttemptOutcome.INTERRUPTED, finished_at=now, reason=reason)
                .execution_options(synchronize_session=False)
            )
        log.warning(
            "message(s) %s: the worker did not finish within the %s s lease; handed out again",
            _ids([t[0] for t in taken]),
            seconds,
        )
    expire_overdue(session, now)
    paused = paused_channels(session)
    # Just enqueued (by the web after its commit, or by the last round) is left alone a moment.
    grace = dt.timedelta(seconds=min(5.0, float(current_app.config["SWEEP_INTERVAL_SECONDS"])))
    query = (
        select(Message.id)
        .where(Message.status == MessageStatus.QUEUED, Message.send_after <= now)
        .where(or_(Message.enqueued_at.is_(None), Message.enqueued_at < now - grace))
    )
    if paused:
        query = query.where(Message.channel.not_in(paused))
    ids = list(session.scalars(query.order_by(Message.id).limit(5000)))
    beat(session, SWEEPER, now)
    session.commit()
    if ids:
        from .queue import enqueue

        enqueue(ids)
    return ids


SWEEPER = "sweeper"


def beat(session: Session, name: str, now: dt.datetime) -> None:
    """Record that a background service did its round (read by the health report)."""
    if not session.execute(update(ServiceBeat).where(ServiceBeat.name == name).values(beat_at=now)).rowcount:
        session.add(ServiceBeat(name=name, beat_at=now))


def resend(session: Session, message: Message) -> Message:
    """A failed, cancelled or overdue message, queued again by a staff member.

    Conditional: of two resends (or a resend racing a worker) only the first changes the
    row, whatever the pages showed. The attempts so far stay; the message gets a new
    deadline from now."""
    now = utcnow()
    order = session.get(Order, message.order_id) if message.order_id else None
    done = session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status.in_(MESSAGE_RESENDABLE))
        .values(
            status=MessageStatus.QUEUED,
            send_after=now,
            enqueued_at=None,
            expires_at=deadline(message.message_type, now, order.visit_at if order else None),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(message)
    if not done:
        raise ValidationFailed(
            {
                None: _(
                    "Сообщение №%(id)s сейчас «%(status)s»: повторить можно только сообщение "
                    "с ошибкой, отменённое или просроченное.",
                    id=message.id,
                    status=message.status.label,
                )
            }
        )
    session.info.setdefault("kartoteka_new_messages", []).append(message.id)
    return message


# ---------------------------------------------------------------------------
# The queue at a glance: the administrator's screen and the health command
# ---------------------------------------------------------------------------


def queue_report(session: Session, now: dt.datetime | None = None, days: int = 7) -> dict:
    """Per channel: waiting (due), scheduled (not yet due), failing (waiting after a failed
    attempt), sending, overdue and failed in the last ``days``; the oldest waiting
    message's age; paused channels; the sweeper's last round."""
    now = now or utcnow()
    since = now - dt.timedelta(days=days)
    waiting = Message.status == MessageStatus.QUEUED
    due = waiting & (Message.send_after <= now)
    rows = session.execute(
        select(
            Message.channel,
            func.count().filter(due),
            func.count().filter(waiting & (Message.send_after > now)),
            func.count().filter(waiting & (Message.attempts > 0)),
            func.count().filter(Message.status == MessageStatus.SENDING),
            func.count().filter((Message.status == MessageStatus.EXPIRED) & (Message.changed_on >= since)),
            func.count().filter((Message.status == MessageStatus.FAILED) & (Message.changed_on >= since)),
            func.min(case((due, Message.send_after))),
        )
        .where(
            or_(
                Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
                Message.changed_on >= since,
            )
        )
        .group_by(Message.channel)
    ).all()
    pauses = {p.channel: p for p in session.scalars(select(ChannelPause))}
    channels_ = {}
    for channel in Channel:
        row = next((r for r in rows if r[0] == channel), None)
        counts = row[1:7] if row else (0,) * 6
        oldest = row[7] if row else None
        pause = pauses.get(channel)
        channels_[channel.value] = {
            "waiting": counts[0],
            "scheduled": counts[1],
            "failing": counts[2],
            "sending": counts[3],
            "overdue": counts[4],
            "failed": counts[5],
            "oldest_waiting_seconds": (now - oldest).total_seconds() if oldest else None,
            "paused_at": pause.paused_at if pause else None,
            "paused_by": str(pause.paused_by) if pause and pause.paused_by else None,
        }
    last_sweep = session.scalar(select(ServiceBeat.beat_at).where(ServiceBeat.name == SWEEPER))
    ages = [
        c["oldest_waiting_seconds"] for c in channels_.values() if c["oldest_waiting_seconds"] is not None
    ]
    return {
        "channels": channels_,
        "waiting": sum(c["waiting"] for c in channels_.values()),
        "oldest_waiting_seconds": max(ages) if ages else None,
        "last_sweep": last_sweep,
        "last_sweep_seconds": (now - last_sweep).total_seconds() if last_sweep else None,
    }
