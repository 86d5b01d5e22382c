"""Order, return and review rules: statuses, totals from items, payments."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from . import formatting, payments
from .errors import Forbidden, ValidationFailed
from .models import (
    ZERO,
    CatalogItem,
    Customer,
    CustomerStatus,
    Order,
    OrderItem,
    OrderKind,
    OrderStatus,
    Payment,
    PaymentMethod,
    Return,
    ReturnStatus,
    Review,
    column_limit,
    kopecks,
    utcnow,
)

MAX_QUANTITY = 9_999  # of one service or product in one order
MAX_AMOUNT = column_limit(Order.__table__.c.total)  # what a money column holds


def check_quantity(quantity) -> None:
    if quantity is None or quantity < 1:
        raise ValidationFailed({"quantity": _("Количество должно быть не меньше 1.")})
    if quantity > MAX_QUANTITY:
        from .formatting import number

        raise ValidationFailed({"quantity": _("Количество — не больше %(max)s.", max=number(MAX_QUANTITY))})


def check_total(order: Order) -> None:
    if order.total > MAX_AMOUNT:
        from .formatting import money

        raise ValidationFailed(
            {None: _("Сумма заказа слишком велика: не больше %(max)s.", max=money(MAX_AMOUNT))}
        )


def recalculate(order: Order) -> Order:
    """Total from the items; payment status from paid vs. total."""
    total = ZERO
    for item in order.items:
        if item.price is None and item.catalog_item is not None:
            item.price = item.catalog_item.price
        if not item.name and item.catalog_item is not None:
            item.name = item.catalog_item.name
        gross = Decimal(item.price or 0) * (item.quantity or 0)
        item.amount = kopecks(gross * (100 - Decimal(item.discount or 0)) / 100)
        total += item.amount
    order.total = kopecks(total)
    order.payment_status = payments.payment_status(order.total, order.paid, order.refunded)
    return order


def check_cancellable(order: Order) -> None:
    """An order with money on it (paid, or a subscription's visit) is not cancelled
    with the money left on it: the payment is returned first (a return), then it is."""
    if order.status != OrderStatus.CANCELLED or not inspect(order).attrs.status.history.has_changes():
        return
    if Decimal(order.paid or 0) > 0:
        raise ValidationFailed(
            {
                "status": _(
                    "По заказу внесено %(paid)s: отменить его можно, только когда оплата возвращена. "
                    "Сначала оформите возврат денег по заказу.",
                    paid=payments._money(order.paid),
                )
            }
        )


def check_customer_kept(session: Session, order: Order) -> None:
    """An order with money or a return on it stays with its customer: its payments,
    the deposit, bonuses and certificate it was paid from and its returns are that
    customer's (a paid order moved to another card took its «Оплачено» there and
    left the payments on the first)."""
    state = inspect(order)
    if state.transient or state.pending:
        return
    loaded = state.attrs.customer_id.history
    old_id = (loaded.deleted or loaded.unchanged or [None])[0]
    new_id = order.customer.id if order.customer is not None else order.customer_id
    if old_id is None or new_id == old_id:
        return
    held = session.scalar(select(func.count()).select_from(Payment).where(Payment.order_id == order.id))
    held = held or session.scalar(select(func.count()).select_from(Return).where(Return.order_id == order.id))
    if held:
        raise ValidationFailed(
            {
                "customer": _(
                    "По заказу №%(id)s уже есть оплаты или возвраты: клиента заказа изменить нельзя.",
                    id=order.id,
                )
            }
        )


def prepare_order(session: Session, order: Order, *, is_new: bool) -> Order:
    """Apply the customer's status rules and the payment rules before saving."""
    customer = order.customer or (session.get(Customer, order.customer_id) if order.customer_id else None)
    if customer is None:
        raise ValidationFailed({"customer": _("Выберите клиента.")})
    if not is_new:
        check_customer_kept(session, order)
    if is_new:
        if customer.status == CustomerStatus.BLOCKED:
            raise ValidationFailed(
                {
                    None: _(
                        "Клиент %(name)s заблокирован: новый заказ оформить нельзя.",
                        name=customer.full_name,
                    )
                }
            )
        if customer.status == CustomerStatus.PROBLEM:
            order.status = OrderStatus.REVIEW
        elif order.status is None:
            order.status = OrderStatus.NEW
    # «Оплачено» is the sum of the order's payments (app/payments.py), never typed
    order.paid = order.paid if order.paid is not None else ZERO
    check_cancellable(order)
    recalculate(order)
    check_total(order)
    if order.paid > order.total:
        raise ValidationFailed({None: _("После изменения оплата превысит сумму заказа.")})
    # before the notice's flush: after it a new order (booked as completed) showed no change
    follow_last_visit(session, order)
    notify_order(session, order, is_new=is_new)
    return order


def completed_visit(order: Order) -> bool:
    return order.kind == OrderKind.VISIT and order.status == OrderStatus.COMPLETED


def visit_moment(order: Order):
    """When a completed visit took place: its booked time, or the moment it was marked
    «Выполнен» where that came first (the customer came early). Its own, whenever it is
    read: «Последний визит» capped a visit still to come at the recalculation's clock, and
    every later save of another order moved it."""
    moment = order.visit_at or order.created_on or utcnow()
    return min(moment, order.completed_at) if order.completed_at is not None else moment


def visit_moment_sql():
    """visit_moment() as a column expression (the customer's other completed visits)."""
    from sqlalchemy import case

    booked = func.coalesce(Order.visit_at, Order.created_on)
    return case((Order.completed_at < booked, Order.completed_at), else_=booked)


def follow_last_visit(session: Session, order: Order) -> None:
    """«Последний визит» is the customer's latest completed visit (only the demo seeder
    ever filled it): recomputed when a visit is completed, moved or no longer completed.
    A visit marked «Выполнен» keeps when (``completed_at``): one marked before its booked
    time took place then, not at the booked time still to come (visit_moment)."""
    from sqlalchemy import inspect

    state = inspect(order)
    if state.persistent and not any(
        state.attrs[key].history.has_changes() for key in ("status", "visit_at", "kind")
    ):
        return
    if not completed_visit(order):
        order.completed_at = None
    elif order.completed_at is None or state.attrs.status.history.has_changes():
        order.completed_at = utcnow()
    customer = order.customer
    if customer is None:
        return
    with session.no_autoflush:
        others = select(func.max(visit_moment_sql())).where(
            Order.customer_id == customer.id,
            Order.kind == OrderKind.VISIT,
            Order.status == OrderStatus.COMPLETED,
        )
        if order.id is not None:
            others = others.where(Order.id != order.id)
        latest = session.scalar(others) if customer.id is not None else None
    candidates = [
        m for m in (latest, visit_moment(order) if completed_visit(order) else None) if m is not None
    ]
    customer.last_visit_at = max(candidates) if candidates else None


def notify_order(session: Session, order: Order, *, is_new: bool) -> None:
    """Order created (and its visit reminder) or its status changed: tell the customer."""
    from sqlalchemy import inspect

    from .models import MessageType
    from .notifications import VISIT_OVER, queue_notification, reschedule_reminder, schedule_reminder

    if order.customer is None:
        return
    if is_new:
        session.add(order)
        session.flush()  # the message names the order's number
        queue_notification(session, order.customer, MessageType.ORDER_CREATED, order=order)
        schedule_reminder(session, order)
        return
    changed = inspect(order).attrs
    if changed.status.history.has_changes() and order.status.tells_customer:
        queue_notification(session, order.customer, MessageType.ORDER_STATUS, order=order)
    moved_from = changed.visit_at.history.deleted
    if (
        moved_from
        and moved_from[0] is not None
        and order.visit_at is not None
        and order.visit_at != moved_from[0]
        and order.status not in VISIT_OVER
        and order.visit_at > utcnow()
    ):
        # the customer booked for the old time learns the new one now, not from the
        # reminder a day before it (a salon's visits are moved every day)
        queue_notification(session, order.customer, MessageType.VISIT_MOVED, order=order)
    if changed.visit_at.history.has_changes() or (
        changed.status.history.has_changes() and order.status in VISIT_OVER
    ):
        reschedule_reminder(session, order)  # moved, cancelled or done: not at the old time


def discount_rule(session: Session | None = None):
    """The rule the administrator chose for discounts (the «Правила расчётов» screen),
    read once per request."""
    from flask import g, has_request_context

    from .extensions import db
    from .models import DiscountRule, MoneyRules

    if has_request_context() and "kartoteka_discount_rule" in g:
        return g.kartoteka_discount_rule
    rule = (session or db.session).scalar(select(MoneyRules.discount_rule).order_by(MoneyRules.id).limit(1))
    rule = rule or DiscountRule.LARGER
    if has_request_context():
        g.kartoteka_discount_rule = rule
    return rule


def apply_discount_rule(rule, own, category) -> Decimal:
    """The customer's own and their category's «Скидка, %» by the rule: the larger of
    the two, their sum (at most 100), the category's only, the customer's only."""
    from .models import DiscountRule

    own, category = Decimal(own or 0), Decimal(category or 0)
    rule = DiscountRule(rule) if rule is not None else DiscountRule.LARGER
    if rule == DiscountRule.SUM:
        return min(own + category, Decimal(100))
    if rule == DiscountRule.CATEGORY:
        return category
    if rule == DiscountRule.CUSTOMER:
        return own
    return max(own, category)


def discount_for(customer: Customer | None, rule=None) -> Decimal:
    """The discount an order's items get: the customer's own and their category's,
    made one by the administrator's rule (the larger of the two unless chosen otherwise)."""
    if customer is None:
        return ZERO
    category = customer.category.discount if customer.category is not None else None
    return apply_discount_rule(rule or discount_rule(), customer.discount, category)


def check_discount(discount) -> Decimal:
    """A discount typed by hand: a percentage from 0 to 100."""
    if discount is None or not (0 <= Decimal(discount) <= 100):
        raise ValidationFailed({"discount": _("Скидка — от 0 до 100 процентов.")})
    return Decimal(discount)


def add_item(order: Order, catalog_item: CatalogItem, quantity: int = 1, discount=None) -> OrderItem:
    """An item of the order at the customer's discount, or at ``discount`` given by hand
    (the caller checked the right to give it, access.may_discount)."""
    check_quantity(quantity)
    item = OrderItem(
        catalog_item=catalog_item,
        name=catalog_item.name,
        price=catalog_item.price,
        quantity=quantity,
        discount=discount_for(order.customer) if discount is None else check_discount(discount),
    )
    order.items.append(item)
    recalculate(order)
    return item


def prepare_catalog_item(item) -> None:
    """A price in the catalogue is not negative (the database refused it with a
    message that named no field)."""
    if item.price is not None and item.price < 0:
        raise ValidationFailed({"price": _("Цена не может быть отрицательной.")})


def prepare_order_item(
    session: Session, item: OrderItem, *, manual_discount=None, may_discount: bool = False
) -> OrderItem:
    """An item edited on its own: the catalogue's name and price where none was
    typed, validated, then its order's total recomputed. A discount typed by hand
    (``manual_discount``) needs the right to give it (access.DISCOUNT), as on the
    booking form; without one a new item gets the customer's, an edited one keeps its own."""
    if manual_discount is not None and not may_discount:
        raise Forbidden({None: _("Скидку вручную может дать только управляющий.")})
    if item.catalog_item is None:
        # an item names what was sold: without a service the database refused it (name
        # is required) with a message that named no field
        raise ValidationFailed({"catalog_item": _("Выберите услугу или товар.")})
    item.name = item.name or item.catalog_item.name
    if item.price is None:
        item.price = item.catalog_item.price
    if manual_discount is not None:
        try:
            item.discount = check_discount(manual_discount)
        except ValidationFailed as e:
            raise ValidationFailed({"manual_discount": e.errors["discount"]}) from e
    elif item.id is None and item.order is not None:
        item.discount = discount_for(item.order.customer)  # the customer's, as on the card's form
    if item.order is not None and item not in item.order.items:
        item.order.items.append(item)
    check_quantity(item.quantity)
    if item.price is not None and item.price < 0:
        raise ValidationFailed({"price": _("Цена не может быть отрицательной.")})
    order = item.order
    if order is None:
        raise ValidationFailed({"order": _("Выберите заказ.")})
    recalculate(order)
    check_total(order)
    if order.paid > order.total:
        raise ValidationFailed({None: _("После изменения позиции оплата превысит сумму заказа.")})
    return item


def prepare_return(session: Session, ret: Return, card_customer_id: int | None = None) -> Return:
    """A return cannot exceed what was paid for its order (minus earlier returns);
    added on a customer's card (``card_customer_id``), its order is that customer's."""
    order = ret.order or (session.get(Order, ret.order_id) if ret.order_id else None)
    if order is None:
        raise ValidationFailed({"order": _("Выберите заказ, по которому оформляется возврат.")})
    check_order_of_customer(order, card_customer_id)
    ret.customer_id = order.customer_id
    ret.customer = order.customer
    if ret.amount is None or ret.amount <= 0:
        raise ValidationFailed({"amount": _("Сумма возврата должна быть больше нуля.")})
    if not (ret.reason or "").strip():
        raise ValidationFailed({"reason": _("Укажите причину возврата.")})
    from sqlalchemy import inspect

    state = inspect(ret)
    if state.persistent and ret.status == ReturnStatus.REFUNDED and state.attrs.amount.history.has_changes():
        raise ValidationFailed({"amount": _("Деньги по возврату уже возвращены: сумму не изменить.")})
    with session.no_autoflush:
        # what was paid (refunds already taken off) less the returns still promised
        available = Decimal(order.paid) - payments.pending_returns(session, order.id, ret.id)
    status = state.attrs.status.history
    # a return whose money already went back is not checked against what is left to
    # return: its reason corrected was refused with «доступно к возврату 0,00 ₽»
    given_back = state.persistent and ReturnStatus.REFUNDED in (status.deleted or status.unchanged)
    check_return_step(session, ret)
    if ret.status != ReturnStatus.REJECTED and not given_back and ret.amount > available:
        from .formatting import money

        raise ValidationFailed(
            {
                "amount": _(
                    "Сумма возврата больше оплаченной по заказу: доступно к возврату %(available)s.",
                    available=money(max(available, ZERO)),
                )
            }
        )
    return ret


# what the customer is told of their money given back, in the customers' language (a
# visit given back to a subscription says so itself); it read «Деньги возвращены: 500,00 ₽,
# возвращены на ваш сертификат», saying «возвращены» twice
REFUNDED_TO = {
    PaymentMethod.CASH: payments.N_("Вам вернули %(amount)s наличными"),
    PaymentMethod.CARD: payments.N_("Вам вернули %(amount)s на карту"),
    PaymentMethod.TRANSFER: payments.N_("Вам вернули %(amount)s переводом"),
    PaymentMethod.DEPOSIT: payments.N_("Вам вернули %(amount)s на ваш депозит"),
    PaymentMethod.BONUS: payments.N_("Вам вернули %(amount)s бонусами на ваш бонусный счёт"),
    PaymentMethod.CERTIFICATE: payments.N_("Вам вернули %(amount)s на ваш сертификат"),
}


# how the staff member who saved «Деньги возвращены» is told where the money went
REFUNDED_HOW = {
    PaymentMethod.CASH: _l("наличными"),
    PaymentMethod.CARD: _l("на карту"),
    PaymentMethod.TRANSFER: _l("переводом"),
    PaymentMethod.DEPOSIT: _l("на депозит клиента"),
    PaymentMethod.BONUS: _l("бонусами на бонусный счёт клиента"),
    PaymentMethod.CERTIFICATE: _l("на сертификат клиента"),
}


def refunded_how(refund) -> str:
    """Where the staff member is told the money went: the certificate by its number (a
    customer may hold several, and «на сертификат клиента» named none)."""
    if refund.method == PaymentMethod.CERTIFICATE and refund.certificate is not None:
        return _("на сертификат №%(code)s клиента", code=refund.certificate.code)
    return str(REFUNDED_HOW[refund.method])


def visit_given_back(refund):
    """The subscription a refund gave its visit back to (it pays visits, not money: the
    customer got a visit, whatever the amount returned), or None."""
    from .models import CertificateType

    certificate = refund.certificate
    if refund.method != PaymentMethod.CERTIFICATE or certificate is None:
        return None
    return certificate if certificate.type == CertificateType.VISITS else None


def visits_back(refund) -> int:
    """How many visits a refund or a reversal put back on its subscription."""
    from .models import CertificateOperation

    return inspect(refund).session.scalar(
        select(func.coalesce(func.sum(CertificateOperation.visits), 0)).where(
            CertificateOperation.payment_id == refund.id, CertificateOperation.visits > 0
        )
    )


# a full return given back in parts: each part of «Вам вернули …», in the customers' language
REFUNDED_PART = {
    PaymentMethod.CASH: payments.N_("%(amount)s наличными"),
    PaymentMethod.CARD: payments.N_("%(amount)s на карту"),
    PaymentMethod.TRANSFER: payments.N_("%(amount)s переводом"),
    PaymentMethod.DEPOSIT: payments.N_("%(amount)s на ваш депозит"),
    PaymentMethod.BONUS: payments.N_("%(amount)s бонусами на ваш бонусный счёт"),
    PaymentMethod.CERTIFICATE: payments.N_("%(amount)s на ваш сертификат"),
}


def _refund_facts(refund) -> tuple:
    """What a refund gave back: (the refund, the money given, the subscription it gave
    visits back to or None, how many)."""
    subscription = visit_given_back(refund)
    count = visits_back(refund) if subscription is not None else 0
    return refund, payments.given_back(refund), subscription, count


def refunds_told(refunds):
    """What the customer is told of a return's money given back, made later in the
    customers' language (queue_notification calls it): one part as before («Вам вернули
    500,00 ₽ на карту», «Визит возвращён на ваш абонемент №…»), several in one sentence
    («Вам вернули 3 225,00 ₽ на ваш депозит и 100,00 ₽ бонусами на ваш бонусный счёт»)."""
    facts = [_refund_facts(r) for r in refunds]

    def told() -> str:
        if len(facts) == 1:
            refund, given, subscription, count = facts[0]
            if count > 1:
                return _(
                    "На ваш абонемент №%(code)s возвращено визитов: %(count)s",
                    code=subscription.code,
                    count=count,
                )
            if subscription is not None:
                return _("Визит возвращён на ваш абонемент №%(code)s", code=subscription.code)
            if refund.method == PaymentMethod.CERTIFICATE and refund.certificate is not None:
                return _(
                    "Вам вернули %(amount)s на ваш сертификат №%(code)s",
                    amount=formatting.money(given),
                    code=refund.certificate.code,
                )
            return _(REFUNDED_TO[refund.method], amount=formatting.money(given))
        parts = []
        for refund, given, subscription, count in facts:
            if subscription is not None:
                parts.append(
                    _("визит на ваш абонемент №%(code)s", code=subscription.code)
                    if count <= 1
                    else _(
                        "визиты (%(count)s) на ваш абонемент №%(code)s", code=subscription.code, count=count
                    )
                )
            else:
                parts.append(_(REFUNDED_PART[refund.method], amount=formatting.money(given)))
        return _("Вам вернули %(parts)s", parts=formatting.all_of(parts))

    return told


def refund_message(ret: Return) -> str | None:
    """What the save that wrote a return's refund tells the staff member: how much went
    back, how, and what the order still owes («Изменения сохранены» said none of it);
    None for a save that moved no money. A full return given back in parts names each."""
    refunds = getattr(ret, "_kartoteka_refunds", None)
    if not refunds:
        return None
    if len(refunds) > 1:
        parts = []
        for refund, given, subscription, count in map(_refund_facts, refunds):
            if subscription is not None:
                parts.append(
                    _(
                        "визитов на абонемент №%(code)s клиента: %(count)s",
                        code=subscription.code,
                        count=count,
                    )
                )
            else:
                parts.append(f"{formatting.money(given)} {refunded_how(refund)}")
        return _(
            "Деньги по возврату возвращены по частям, каждая туда, откуда оплачена: %(parts)s; "
            "заказ №%(id)s. Долг: %(debt)s",
            parts=formatting.all_of(parts),
            id=ret.order.id,
            debt=formatting.money(ret.order.debt),
        )
    refund = refunds[0]
    subscription = visit_given_back(refund)
    if subscription is not None and visits_back(refund) > 1:
        return _(
            "По возврату на абонемент №%(code)s клиента возвращено визитов: %(count)s, заказ №%(id)s. "
            "Долг: %(debt)s",
            code=subscription.code,
            count=visits_back(refund),
            id=ret.order.id,
            debt=formatting.money(ret.order.debt),
        )
    if subscription is not None:
        return _(
            "По возврату визит возвращён на абонемент №%(code)s клиента, заказ №%(id)s. Долг: %(debt)s",
            code=subscription.code,
            id=ret.order.id,
            debt=formatting.money(ret.order.debt),
        )
    return _(
        "Деньги по возврату возвращены: %(amount)s %(how)s, заказ №%(id)s. Долг: %(debt)s",
        amount=formatting.money(payments.given_back(refund)),
        how=refunded_how(refund),
        id=ret.order.id,
        debt=formatting.money(ret.order.debt),
    )


def reversal_message(reversal) -> str:
    """What the staff member who reversed a payment is told: how much went back and
    where (the deposit, the certificate, in cash…), or the visit given back to the
    subscription; «Платёж №N сторнирован.» said none of it."""
    from .models import CertificateOperation

    paid_id = reversal.reverses_id
    subscription = visit_given_back(reversal)
    if subscription is not None:
        session = inspect(reversal).session
        restored = session.scalar(
            select(func.count(CertificateOperation.id)).where(CertificateOperation.payment_id == reversal.id)
        )
        if restored:
            return _(
                "Платёж №%(id)s сторнирован: визит возвращён на абонемент №%(code)s клиента.",
                id=paid_id,
                code=subscription.code,
            )
        return _(
            "Платёж №%(id)s сторнирован: визит на абонемент №%(code)s уже вернули по возврату.",
            id=paid_id,
            code=subscription.code,
        )
    return _(
        "Платёж №%(id)s сторнирован: возвращено %(amount)s %(how)s.",
        id=paid_id,
        amount=formatting.money(payments.given_back(reversal)),
        how=refunded_how(reversal),
    )


def check_return_step(session: Session, ret: Return) -> None:
    """A return moves Запрошен → Одобрен | Отклонён, Одобрен → Деньги возвращены; its
    statuses jumped in any order. The customer hears of the outcome — refused, or
    the money returned — once (the steps between are the staff's own)."""
    from sqlalchemy import inspect

    from .models import MessageType
    from .notifications import queue_notification

    history = inspect(ret).attrs.status.history
    before = history.deleted[0] if history.deleted else None
    if ret.id is None:  # a new return is a request
        if ret.status not in (None, ReturnStatus.REQUESTED):
            raise ValidationFailed({"status": _("Новый возврат начинается со статуса «Запрошен».")})
        ret.status = ReturnStatus.REQUESTED
        return
    if before is None or before == ret.status:
        return
    before = ReturnStatus(before)
    if ret.status not in before.next:
        allowed = formatting.one_of(f"«{s.label}»" for s in before.next)
        raise ValidationFailed(
            {
                "status": _(
                    "Из статуса «%(current)s» возврат переходит только в %(allowed)s.",
                    current=before.label,
                    allowed=allowed,
                )
                if allowed
                else _("Возврат в статусе «%(current)s» уже завершён.", current=before.label)
            }
        )
    status = str(ret.status)
    if ret.status == ReturnStatus.REFUNDED:
        refunds = payments.refund_return(session, ret)
        ret._kartoteka_refunds = refunds  # the save's message says it (refund_message)
        # the customer is told how much came back and where to look for it, each part
        status = refunds_told(refunds)
    if ret.status.final and ret.customer is not None:
        queue_notification(session, ret.customer, MessageType.RETURN_STATUS, order=ret.order, status=status)


def check_order_of_customer(order: Order, customer_id: int | None) -> None:
    """A return or a review added on a customer's card names an order of that
    customer (a review kept the card's customer and another customer's order;
    a return moved to the order's customer, off the card it was added on)."""
    if customer_id is not None and order.customer_id != customer_id:
        raise ValidationFailed(
            {"order": _("Заказ №%(id)s — другого клиента: выберите заказ этого клиента.", id=order.id)}
        )


def prepare_review(session: Session, review: Review, is_new: bool = True) -> Review:
    if review.rating is None or not (1 <= int(review.rating) <= 5):
        raise ValidationFailed({"rating": _("Оценка должна быть от 1 до 5.")})
    if review.order is not None:
        check_order_of_customer(
            review.order, review.customer.id if review.customer is not None else review.customer_id
        )
        review.customer = review.order.customer
        if is_new and review.specialist is None and review.specialist_id is None:
            # a review of a visit is about whoever served it (it was stored with no one)
            review.specialist = review.order.specialist
    _tell_reply(session, review)
    return review


def _tell_reply(session: Session, review: Review) -> None:
    """The clinic's reply to a review is sent to its author once written or reworded:
    answered on the screen, it reached nobody but the site's readers."""
    from sqlalchemy import inspect as sa_inspect

    from .models import Customer, MessageType
    from .notifications import queue_notification

    reply = (review.reply or "").strip()
    if not reply:
        return
    history = sa_inspect(review).attrs.reply.history
    before = [(value or "").strip() for value in history.deleted]
    if not history.added or reply in before:
        return  # unchanged (a review saved for its rating or moderation)
    customer = review.customer or session.get(Customer, review.customer_id)
    if customer is not None:
        queue_notification(session, customer, MessageType.REVIEW_REPLY, reply=reply)


PAYMENT_FILTERS = ("debt", "unpaid", "partial", "paid", "partly_refunded", "refunded")


def payment_condition(value):
    """The card's «Заказы» filtered by payment: «debt» (owing, not cancelled) or a
    payment status; anything else is no filter."""
    from .models import PaymentStatus

    if value == "debt":
        return Order.debt > 0
    if value in PAYMENT_FILTERS:
        return Order.payment_status == PaymentStatus(value)
    return None


def money_rules(session: Session):
    """The one row of the money rules (written by migration 0020); made with the
    defaults if it went missing, so that the administrator always has it to edit."""
    from .models import DiscountRule, MoneyRules

    row = session.scalars(select(MoneyRules).order_by(MoneyRules.id).limit(1)).first()
    if row is None:
        row = MoneyRules(id=1, discount_rule=DiscountRule.LARGER)
        session.add(row)
        session.flush()
    return row


def set_discount_rule(session: Session, rule) -> None:
    """The administrator's choice (the screen, a test, the CLI)."""
    from .models import DiscountRule

    money_rules(session).discount_rule = DiscountRule(rule)
