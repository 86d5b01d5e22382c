"""Certificates and subscriptions («абонементы»), issue 18 item 4.

- A kind (reference data, the administrator's): a certificate for a sum, possibly
  limited to some services, or a subscription of N visits of given services; sold
  at a price, valid for a number of days from the sale.
- A sale is not a Payment: a payment belongs to an order and makes up its «Оплачено».
  Like a deposit's top-up it is money received, written in a ledger of its own: the
  certificate's row keeps the price, how it was paid, when and who sold it (its
  author), and its first operation issues the nominal or the visits. Sold for the
  deposit, the deposit's ledger is debited in the same transaction.
- Paying an order «сертификатом» is a Payment linked to the certificate; the
  certificate's balance (or visits left) is moved by one conditional UPDATE, as the
  deposit's is (app/payments.py ``_move``): two payments at once cannot overdraw it.
  A subscription's payment writes one visit off; reversing the payment (or a return
  refunded the way it was paid) puts the money or the visit back.
- app/payments.py calls this module (taking, reversing, refunding a payment; selling
  from the deposit, which it debits); this module never calls it back.

Every refusal is a typed error with a Russian message (422), or Forbidden (403).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .errors import Forbidden, ValidationFailed
from .models import (
    ZERO,
    Certificate,
    CertificateKind,
    CertificateOperation,
    CertificateOperationKind,
    CertificateType,
    Customer,
    CustomerStatus,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    column_limit,
    kopecks,
    utcnow,
)

SALE_METHODS = (PaymentMethod.CASH, PaymentMethod.CARD, PaymentMethod.TRANSFER, PaymentMethod.DEPOSIT)
MAX_AMOUNT = column_limit(Certificate.__table__.c.price)
MAX_DAYS = 3650
MAX_VISITS = 1000


def _money(value) -> str:
    from .formatting import money

    return money(value)


def _date(value) -> str:
    from .formatting import date_short, local_from_utc

    return date_short(local_from_utc(value).date())


def name(certificate: Certificate) -> str:
    """What the customer holds, by its number: «Абонемент №…» (visits) or «Сертификат №…»
    (money); every message about one names it so."""
    if certificate.type == CertificateType.VISITS:
        return _("Абонемент №%(code)s", code=certificate.code)
    return _("Сертификат №%(code)s", code=certificate.code)


def in_sentence(certificate: Certificate) -> str:
    """Its name inside a customer's message: «…передаёт вам сертификат №…», not «Сертификат»."""
    text = name(certificate)
    return text[:1].lower() + text[1:]


# ---------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------


def check_kind(kind: CertificateKind) -> CertificateKind:
    """A kind's fields agree with its type: a certificate has a nominal (the price where
    none is typed) and no visits; a subscription has visits and the services they are for."""
    errors = {}
    kind_type = CertificateType(kind.type) if kind.type is not None else CertificateType.SUM
    kind.type = kind_type
    if kind.price is None or Decimal(kind.price) < 0:
        errors["price"] = _("Цена не может быть отрицательной.")
    elif Decimal(kind.price) > MAX_AMOUNT:
        errors["price"] = _("Сумма слишком велика: не больше %(max)s.", max=_money(MAX_AMOUNT))
    if kind.valid_days is None or not (0 < int(kind.valid_days) <= MAX_DAYS):
        errors["valid_days"] = _("Срок действия — от 1 до %(max)d дней.", max=MAX_DAYS)
    if kind_type == CertificateType.SUM:
        if kind.visits is not None:
            errors["visits"] = _("У сертификата на сумму нет визитов: оставьте поле пустым.")
        if kind.amount is not None and Decimal(kind.amount) <= 0:
            errors["amount"] = _("Номинал должен быть больше нуля.")
        elif kind.amount is None and kind.price is not None and Decimal(kind.price) <= 0:
            errors["amount"] = _("Укажите номинал: сертификат за 0 ₽ ничего не оплатит.")
    else:
        if kind.visits is None or not (0 < int(kind.visits) <= MAX_VISITS):
            errors["visits"] = _("Число визитов — от 1 до %(max)d.", max=MAX_VISITS)
        if kind.amount is not None:
            errors["amount"] = _("У абонемента нет номинала: он оплачивает визиты. Оставьте поле пустым.")
        if not kind.services:
            errors["services"] = _("Выберите услуги, визиты на которые входят в абонемент.")
    if errors:
        raise ValidationFailed(errors)
    return kind


def nominal(kind: CertificateKind) -> Decimal:
    return kopecks(kind.amount if kind.amount is not None else kind.price)


# ---------------------------------------------------------------------------
# The sale
# ---------------------------------------------------------------------------


def new_code(session: Session) -> str:
    """A number nobody can guess from another («4821-9930»), unique among the sold."""
    while True:
        digits = f"{secrets.randbelow(10**8):08d}"
        code = f"{digits[:4]}-{digits[4:]}"
        if session.scalar(select(Certificate.id).where(Certificate.code == code)) is None:
            return code


def sell(
    session: Session,
    certificate: Certificate,
    *,
    may_sell: bool,
    now: dt.datetime | None = None,
) -> Certificate:
    """Sell a certificate or a subscription of ``certificate.kind`` to
    ``certificate.customer`` for the kind's price, paid by ``certificate.method`` (one
    sold from the deposit: app/payments.py ``sell_certificate`` debits it)."""
    if not may_sell:
        raise Forbidden({None: _("Вашей роли не дано право продавать сертификаты и абонементы.")})
    customer = certificate.customer or (
        session.get(Customer, certificate.customer_id) if certificate.customer_id else None
    )
    if customer is None:
        raise ValidationFailed({"customer": _("Выберите клиента.")})
    kind = certificate.kind or (
        session.get(CertificateKind, certificate.kind_id) if certificate.kind_id else None
    )
    if kind is None:
        raise ValidationFailed({"kind": _("Выберите вид сертификата или абонемента.")})
    if not kind.active:
        raise ValidationFailed({"kind": _("Вид «%(name)s» больше не продаётся.", name=kind.name)})
    if certificate.method is None:
        raise ValidationFailed({"method": _("Выберите способ оплаты.")})
    method = PaymentMethod(certificate.method)
    if method not in SALE_METHODS:
        allowed = ", ".join(f"«{m.label}»" for m in SALE_METHODS)
        raise ValidationFailed({"method": _("Сертификат оплачивают так: %(allowed)s.", allowed=allowed)})
    if customer.status == CustomerStatus.BLOCKED:
        raise ValidationFailed(
            {
                "customer": _(
                    "Клиент %(name)s заблокирован: продать ему ничего нельзя.", name=customer.full_name
                )
            }
        )
    now = now or utcnow()
    certificate.customer = certificate.buyer = customer
    certificate.kind = kind
    certificate.method = method
    certificate.type = kind.type
    certificate.price = kopecks(kind.price)
    certificate.sold_at = now
    certificate.valid_until = now + dt.timedelta(days=int(kind.valid_days))
    certificate.comment = (certificate.comment or "").strip() or None
    certificate.code = new_code(session)
    operation = CertificateOperation(certificate=certificate, kind=CertificateOperationKind.ISSUE)
    # the kind's terms as they are today: editing the kind later changes no sold one
    certificate.services = list(kind.services)
    if kind.type == CertificateType.SUM:
        certificate.amount = certificate.balance = nominal(kind)
        certificate.visits_total = certificate.visits_left = None
        operation.amount = certificate.balance
    else:
        certificate.amount = certificate.balance = None
        certificate.visits_total = certificate.visits_left = int(kind.visits)
        operation.visits = certificate.visits_left
    session.add(certificate)
    session.add(operation)
    return certificate


# ---------------------------------------------------------------------------
# Paying with it
# ---------------------------------------------------------------------------


def find(session: Session, code: str | None) -> Certificate | None:
    """A certificate by the number the customer shows («4821 9930», «48219930» too)."""
    digits = "".join(ch for ch in (code or "") if ch.isalnum())
    if not digits:
        return None
    typed = f"{digits[:4]}-{digits[4:]}" if len(digits) == 8 and digits.isdigit() else (code or "").strip()
    found = session.scalar(select(Certificate).where(Certificate.code == typed))
    if found is None:
        raise ValidationFailed(
            {"certificate_code": _("Сертификат или абонемент №%(code)s не найден.", code=typed)}
        )
    return found


def _covered(session: Session, certificate: Certificate, order: Order) -> Decimal | None:
    """What of the order the certificate may pay for: the items of the services it was
    sold for (None: any item, a certificate for a sum with no services named)."""
    services = [s.id for s in certificate.services]
    if not services:
        return None
    total = session.scalar(
        select(func.coalesce(func.sum(OrderItem.amount), 0)).where(
            OrderItem.order_id == order.id, OrderItem.catalog_item_id.in_(services)
        )
    )
    return kopecks(total)


def _one_visit(
    session: Session, certificate: Certificate, order: Order, payment: Payment, covered: Decimal
) -> Decimal:
    """What one visit of a subscription pays on the order: one of its services (the
    dearest, discount included), and never more than its services' part of the order
    that this subscription has not paid yet (two massages booked in one order took one
    visit for both)."""
    unit = max(
        (
            kopecks(Decimal(item.amount or 0) / item.quantity)
            for item in session.scalars(
                select(OrderItem).where(
                    OrderItem.order_id == order.id,
                    OrderItem.catalog_item_id.in_([s.id for s in certificate.services]),
                )
            )
            if item.quantity
        ),
        default=ZERO,
    )
    paid = select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.order_id == order.id, Payment.certificate_id == certificate.id
    )
    if payment.id is not None:
        paid = paid.where(Payment.id != payment.id)
    return max(min(unit, covered - kopecks(session.scalar(paid))), ZERO)


def spend(session: Session, certificate: Certificate | None, order: Order, payment: Payment) -> None:
    """Pay ``payment`` (already checked against the order's debt) from ``certificate``:
    its money, or one of its visits; refused when foreign, expired, or not enough left."""
    if certificate is None:
        raise ValidationFailed({"certificate_code": _("Укажите номер сертификата или абонемента.")})
    field = "certificate_code"
    if certificate.customer_id != order.customer_id:
        raise ValidationFailed(
            {field: _("%(certificate)s принадлежит другому клиенту.", certificate=name(certificate))}
        )
    if certificate.cancelled_at is not None:
        raise ValidationFailed(
            {
                field: _(
                    "%(certificate)s аннулирован %(date)s: им больше не оплачивают.",
                    certificate=name(certificate),
                    date=_date(certificate.cancelled_at),
                )
            }
        )
    now = utcnow()
    if certificate.valid_until < now:
        code, date = certificate.code, _date(certificate.valid_until)
        if certificate.type == CertificateType.VISITS:
            message = _("Срок действия абонемента №%(code)s истёк %(date)s.", code=code, date=date)
        else:
            message = _("Срок действия сертификата №%(code)s истёк %(date)s.", code=code, date=date)
        raise ValidationFailed({field: message})
    covered = _covered(session, certificate, order)
    if certificate.type == CertificateType.VISITS and not covered:
        raise ValidationFailed(
            {field: _("В заказе нет услуг абонемента «%(kind)s».", kind=certificate.kind.name)}
        )
    if covered is not None and payment.amount > covered:
        raise ValidationFailed(
            {
                "amount": _(
                    "%(certificate)s оплачивает только свои услуги: не больше %(covered)s.",
                    certificate=name(certificate),
                    covered=_money(covered),
                )
            }
        )
    if certificate.type == CertificateType.VISITS:
        visit = _one_visit(session, certificate, order, payment, covered)
        if visit <= 0:
            raise ValidationFailed(
                {
                    field: _(
                        "Услуги абонемента «%(kind)s» в этом заказе уже оплачены.",
                        kind=certificate.kind.name,
                    )
                }
            )
        if payment.amount > visit:
            raise ValidationFailed(
                {
                    "amount": _(
                        "%(certificate)s оплачивает один визит за раз: не больше %(visit)s. "
                        "Остаток оплатите следующим визитом абонемента или другим способом.",
                        certificate=name(certificate),
                        visit=_money(visit),
                    )
                }
            )
    operation = CertificateOperation(
        certificate_id=certificate.id, kind=CertificateOperationKind.PAYMENT, payment=payment
    )
    # still this customer's: a pass to another customer (``give``) committed since it was
    # read leaves the payment nothing to take
    alive = (
        (Certificate.valid_until >= now)
        & Certificate.cancelled_at.is_(None)
        & (Certificate.customer_id == order.customer_id)
    )
    if certificate.type == CertificateType.SUM:
        moved = func.round(Certificate.balance - payment.amount, 2)
        stmt = (
            update(Certificate)
            .where(Certificate.id == certificate.id, alive, moved >= 0)
            .values(balance=moved)
        )
        operation.amount = -payment.amount
    else:
        stmt = (
            update(Certificate)
            .where(Certificate.id == certificate.id, alive, Certificate.visits_left >= 1)
            .values(visits_left=Certificate.visits_left - 1)
        )
        operation.visits = -1
    done = session.execute(stmt.execution_options(synchronize_session=False)).rowcount
    if not done:
        session.expire(certificate)
        if certificate.customer_id != order.customer_id:
            raise ValidationFailed(
                {field: _("%(certificate)s принадлежит другому клиенту.", certificate=name(certificate))}
            )
        if certificate.type == CertificateType.SUM:
            message = _(
                "На сертификате №%(code)s недостаточно средств: доступно %(available)s.",
                code=certificate.code,
                available=_money(certificate.balance or ZERO),
            )
        else:
            message = _("По абонементу №%(code)s не осталось визитов.", code=certificate.code)
        raise ValidationFailed({field: message})
    session.expire(certificate, ["balance", "visits_left"])
    payment.certificate_id = certificate.id
    session.add(operation)


def visits_out(session: Session, certificate_id: int, order_id: int) -> int:
    """The visits of a subscription an order has taken and not given back (its payments'
    operations: -1 a visit written off, +1 one restored)."""
    taken = session.scalar(
        select(func.coalesce(func.sum(CertificateOperation.visits), 0))
        .join(Payment, Payment.id == CertificateOperation.payment_id)
        .where(CertificateOperation.certificate_id == certificate_id, Payment.order_id == order_id)
    )
    return -int(taken)


def visits_spanned(session: Session, payment: Payment, amount: Decimal) -> int:
    """How many of the visits an order still holds from ``payment``'s subscription a
    return of ``amount`` reaches: the latest visits' payments, one after another, until
    their sum covers it (any part of a visit gives it back; at least one)."""
    out = visits_out(session, payment.certificate_id, payment.order_id)
    paid = session.scalars(
        select(Payment.amount)
        .where(
            Payment.order_id == payment.order_id,
            Payment.certificate_id == payment.certificate_id,
            Payment.amount > 0,
            Payment.reverses_id.is_(None),
        )
        .order_by(Payment.id.desc())
        .limit(max(out, 0))
    )
    spanned, covered = 0, ZERO
    for each in paid:
        if covered >= amount:
            break
        spanned, covered = spanned + 1, covered + Decimal(each)
    return max(spanned, 1)


def restore(session: Session, payment: Payment, back: Payment, amount: Decimal) -> bool:
    """Put back on the certificate what ``payment`` took from it: ``amount`` of money, or
    the visit; ``back`` is the reversal or the refund that does it. A visit comes back
    once (a partial return gave it back already: a reversal then restores nothing more).
    False where nothing goes back on it: it was cancelled (its rest refunded) or passed
    to another customer since, and the caller gives the money back instead."""
    certificate = session.get(Certificate, payment.certificate_id)
    if certificate.cancelled_at is not None:
        return False
    if certificate.customer_id != payment.customer_id:
        # passed to another customer since it paid: what it paid was the payer's, and
        # went back on the certificate now in the friend's hands (the caller puts it on
        # the payer's deposit instead)
        return False
    back.certificate_id = certificate.id
    if (
        certificate.type == CertificateType.VISITS
        and visits_out(session, certificate.id, payment.order_id) < 1
    ):
        return True
    operation = CertificateOperation(
        certificate_id=certificate.id,
        kind=CertificateOperationKind.REFUND,
        payment=back,
        comment=back.comment,
    )
    if certificate.type == CertificateType.SUM:
        values = {"balance": func.round(Certificate.balance + kopecks(amount), 2)}
        operation.amount = kopecks(amount)
    else:
        values = {"visits_left": Certificate.visits_left + 1}
        operation.visits = 1
    session.execute(
        update(Certificate)
        .where(Certificate.id == certificate.id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    session.expire(certificate, ["balance", "visits_left"])
    session.add(operation)
    return True


def cancel(session: Session, certificate: Certificate, reason: str | None, *, may_cancel: bool) -> Decimal:
    """«Аннулировать»: the certificate or subscription pays for nothing more; what is
    left of it (money or visits) is written off by a «Аннулирование» operation with
    the reason. Returns the money to refund for it: the part of the price paid for
    what is left (a subscription's unused visits at the price of one, a certificate's
    unspent money at what the customer paid for its nominal). The caller refunds it
    (app/payments.py ``cancel_certificate``)."""
    if not may_cancel:
        raise Forbidden({None: _("Аннулировать сертификаты и абонементы может только управляющий.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": _("Укажите причину аннулирования.")})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": _("Причина слишком длинная: не больше 1000 символов.")})
    # the row locked: a payment from it at the same time waits, then finds it cancelled
    session.execute(select(Certificate.id).where(Certificate.id == certificate.id).with_for_update())
    session.refresh(certificate, ["balance", "visits_left", "cancelled_at"])
    if certificate.cancelled_at is not None:
        raise ValidationFailed({None: _("%(certificate)s уже аннулирован.", certificate=name(certificate))})
    operation = CertificateOperation(
        certificate_id=certificate.id, kind=CertificateOperationKind.CANCEL, comment=reason
    )
    price = Decimal(certificate.price or 0)
    if certificate.type == CertificateType.SUM:
        left, issued = Decimal(certificate.balance or 0), Decimal(certificate.amount or 0)
        if left > 0:
            operation.amount = -left
        certificate.balance = ZERO
    else:
        left, issued = Decimal(certificate.visits_left or 0), Decimal(certificate.visits_total or 0)
        if left > 0:
            operation.visits = -int(left)
        certificate.visits_left = 0
    certificate.cancelled_at = utcnow()
    session.add(operation)
    if left <= 0 or issued <= 0:
        return ZERO
    return min(price, kopecks(price * left / issued))


def give(
    session: Session,
    certificate: Certificate,
    recipient: Customer | None,
    comment: str | None = None,
    *,
    may_sell: bool,
) -> CertificateOperation:
    """«Передать другому клиенту»: a certificate bought as a present is spent by the friend
    it was bought for. Its holder becomes ``recipient``; its money or visits, its expiry
    and its services stay as they are, and a «Передан другому клиенту» operation records
    who passed it and when. A subscription is passed too: nothing in it is personal (the
    kind has no holder's name, its visits are of services), and a course of massages is
    given as often as a sum. Passing is selling's right: a role that may not sell one
    may not give one away either."""
    if not may_sell:
        raise Forbidden({None: _("Вашей роли не дано право передавать сертификаты и абонементы.")})
    if recipient is None:
        raise ValidationFailed({"recipient": _("Выберите клиента, которому передать.")})
    # the row locked: a payment from it at the same time waits, then finds its new holder
    session.execute(select(Certificate.id).where(Certificate.id == certificate.id).with_for_update())
    session.refresh(certificate, ["customer_id", "balance", "visits_left", "cancelled_at", "valid_until"])
    if recipient.id == certificate.customer_id:
        raise ValidationFailed(
            {"recipient": _("%(certificate)s уже у этого клиента.", certificate=name(certificate))}
        )
    if recipient.status == CustomerStatus.ERASED:
        raise ValidationFailed(
            {"recipient": _("Данные этого клиента уничтожены: передать ему ничего нельзя.")}
        )
    if recipient.status == CustomerStatus.BLOCKED:
        raise ValidationFailed(
            {
                "recipient": _(
                    "Клиент %(name)s заблокирован: передать ему ничего нельзя.", name=recipient.full_name
                )
            }
        )
    if certificate.cancelled_at is not None:
        raise ValidationFailed(
            {
                None: _(
                    "%(certificate)s аннулирован %(date)s: его не передают.",
                    certificate=name(certificate),
                    date=_date(certificate.cancelled_at),
                )
            }
        )
    if certificate.valid_until < utcnow():
        raise ValidationFailed(
            {
                None: _(
                    "Срок действия истёк %(date)s: %(certificate)s не передают.",
                    certificate=name(certificate),
                    date=_date(certificate.valid_until),
                )
            }
        )
    if (certificate.balance or ZERO) <= 0 and (certificate.visits_left or 0) <= 0:
        raise ValidationFailed(
            {None: _("%(certificate)s израсходован: передавать нечего.", certificate=name(certificate))}
        )
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > 1000:
        raise ValidationFailed({"comment": _("Комментарий слишком длинный: не больше 1000 символов.")})
    giver = session.get(Customer, certificate.customer_id)
    certificate.customer, certificate.customer_id = recipient, recipient.id
    operation = CertificateOperation(
        certificate_id=certificate.id, kind=CertificateOperationKind.GIFT, comment=comment
    )
    session.add(operation)
    _tell_pass(session, certificate, giver, recipient)
    return operation


def passed_message(certificate: Certificate) -> str:
    """What the screen and the API answer to a pass: «Сертификат №… передан клиенту …»."""
    return _(
        "%(certificate)s передан клиенту %(name)s.",
        certificate=name(certificate),
        name=certificate.customer.full_name,
    )


def _tell_pass(session: Session, certificate: Certificate, giver: Customer, recipient: Customer) -> None:
    """Both customers are told, in the pass's transaction: the friend what they now hold
    (its number, what is left, until when), the giver that it left their hands. Service
    messages about their own money, as a deposit's transfer is."""
    from .models import MessageType
    from .notifications import queue_notification

    queue_notification(
        session,
        recipient,
        MessageType.CERTIFICATE_RECEIVED,
        other=giver.full_name,
        certificate=lambda: in_sentence(certificate),  # in the customers' language
        left=lambda: certificate.left,
        valid_until=lambda: _date(certificate.valid_until),
    )
    queue_notification(
        session,
        giver,
        MessageType.CERTIFICATE_GIVEN,
        other=recipient.full_name,
        certificate=lambda: in_sentence(certificate),
    )


def refunded_to(session: Session, certificate: Certificate) -> Customer:
    """Whose deposit a cancellation refunds: the buyer's, who paid for it (a present
    passed to a friend is still the buyer's money; the consumer's advance under Russian
    law), unless their card is gone or erased; else the holder's."""
    from . import subjects

    buyer = session.get(Customer, certificate.buyer_id) if certificate.buyer_id else None
    if buyer is None or subjects.erased(session, buyer.id):
        return session.get(Customer, certificate.customer_id)
    return buyer


def tell_cancelled(session: Session, certificate: Certificate, to: Customer, refund: Decimal) -> None:
    """The holder is told their certificate pays for nothing more; whoever the refund went
    to (``to``: the holder, or the buyer of one passed on) is told how much came back."""
    from .models import MessageType
    from .notifications import queue_notification

    holder = session.get(Customer, certificate.customer_id)
    for customer in dict.fromkeys((holder, to) if refund > 0 else (holder,)):
        queue_notification(
            session,
            customer,
            MessageType.CERTIFICATE_CANCELLED,
            certificate=lambda: in_sentence(certificate),
            refund=(lambda: _money(refund)) if refund > 0 and customer is to else "",
        )


def price_share(payment, amount: Decimal) -> Decimal:
    """What the customer paid for ``amount`` of ``payment`` by a certificate: the part of
    its price (a visit of a subscription at the price of one, a certificate's money at
    price ÷ nominal). A cancelled certificate's payment given back goes to the deposit
    at that, as the cancellation refunds what was left: the order's price of a visit
    paid by a subscription of 5 for 8 000 put 2 000 back for the 1 600 it cost."""
    certificate = payment.certificate
    price = Decimal(certificate.price or 0)
    issued = Decimal(
        (certificate.amount if certificate.type == CertificateType.SUM else certificate.visits_total) or 0
    )
    paid = Decimal(payment.amount)
    if issued <= 0 or paid <= 0:
        return amount
    cost = paid * price / issued if certificate.type == CertificateType.SUM else price / issued
    return min(amount, kopecks(min(cost, paid) * amount / paid))


def left_of(session: Session, certificate_id: int) -> tuple[Decimal, int]:
    """The sums of a certificate's operations: (money, visits) — what its row must keep."""
    money, visits = session.execute(
        select(
            func.coalesce(func.sum(CertificateOperation.amount), 0),
            func.coalesce(func.sum(CertificateOperation.visits), 0),
        ).where(CertificateOperation.certificate_id == certificate_id)
    ).one()
    return kopecks(money), int(visits)


def active_count(customer_id_column, now=None):
    """The card's KPI: the customer's certificates and subscriptions still valid and not used up
    (at ``now``: a time or a bound parameter; default: the current time)."""
    return (
        select(func.count(Certificate.id))
        .where(
            Certificate.customer_id == customer_id_column,
            Certificate.valid_until >= (utcnow() if now is None else now),
            Certificate.cancelled_at.is_(None),
            func.coalesce(Certificate.balance, 0) + func.coalesce(Certificate.visits_left, 0) > 0,
        )
        .correlate_except(Certificate)
        .scalar_subquery()
    )
