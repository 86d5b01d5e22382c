"""The customer's money: payments as records, the deposit and bonus accounts as ledgers.

- A payment is a row, never edited or deleted; an order's «Оплачено» is the sum of its
  payments (kept on the order in the same transaction, so lists read it as a column),
  its payment status and debt follow from it.
- A mistake is corrected by a reversing payment (the opposite amount, a reason).
- A return reaching «Деньги возвращены» writes the refund: a negative payment linked
  to the return, back where the order was paid from (a full return in parts, one a way).
- An account's balance is the sum of its operations, kept on the customer by a
  conditional UPDATE that never lets it go below zero, whoever pays at the same time.

Amounts are rounded to kopecks by one rule (models.kopecks, half up).
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal, InvalidOperation

from babel.numbers import NumberFormatError, parse_decimal
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from .errors import ValidationFailed
from .labels import N_, STORED_LOCALE, stored_text_label, system_comment
from .models import (
    ZERO,
    Account,
    AccountOperation,
    CertificateType,
    Customer,
    OperationKind,
    Order,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Return,
    ReturnStatus,
    column_limit,
    kopecks,
    payment_method_label,
    utcnow,
)

MAX_AMOUNT = column_limit(Payment.__table__.c.amount)
BALANCE_COLUMNS = {Account.DEPOSIT: Customer.deposit_balance, Account.BONUS: Customer.bonus_balance}
FUTURE_GRACE = dt.timedelta(minutes=5)  # clocks differ a little; a payment is not taken in advance


# The comments the system writes on an account's operations (a bonus accrual's «5 % от
# оплаты», a certificate's refund, bonuses expired, a certificate bought) are stored in
# one language, the msgids' own (labels.STORED_LOCALE), and shown in the reader's
# (comment_label). They were written in the writer's: a Russian colleague read a
# manager's «5 % of the payment». Each names the parameters to show again in the
# reader's language; an older row written in another language stays as written.
ACCRUAL_COMMENT = N_("%(percent)s от оплаты")
CANCELLED_COMMENT = N_("%(certificate)s аннулирован: %(reason)s")
EXPIRED_COMMENT = N_("Срок бонусов истёк")
OPENING_COMMENT = N_("Остаток из прежней программы учёта")
SYSTEM_COMMENTS = {
    OPENING_COMMENT: (),
    ACCRUAL_COMMENT: ("percent",),
    CANCELLED_COMMENT: ("certificate",),
    EXPIRED_COMMENT: (),
    # a certificate's name (app/certificates.py name(), Certificate.__str__)
    N_("Абонемент №%(code)s «%(kind)s»"): (),
    N_("Сертификат №%(code)s «%(kind)s»"): (),
    N_("Абонемент №%(code)s"): (),
    N_("Сертификат №%(code)s"): (),
}


def _percent_again(text: str) -> str:
    """«12,5 %» as stored, in the reader's language (NumberFormatError: not a percent)."""
    from .formatting import percent

    if not text.endswith("%"):
        raise NumberFormatError(text)
    return percent(parse_decimal(text[:-1].strip(" \u00a0"), locale=STORED_LOCALE))


def comment_label(text):
    """An operation's comment in the reader's language: a system comment (SYSTEM_COMMENTS)
    stored in the stored language is translated, with its parameters; staff's own text,
    or an older comment written in another language, as it is."""
    if not text:
        return text
    found = stored_text_label(text, SYSTEM_COMMENTS, _comment_again)
    return text if found is None else found


def _comment_again(name: str, value: str) -> str:
    # NumberFormatError (a ValueError): «Скидка от оплаты» is staff's text, not a percent
    return _percent_again(value) if name == "percent" else comment_label(value)


def _money(value):
    from .formatting import money

    return money(value)


def amount_of(value, field: str = "amount") -> Decimal:
    """A typed amount as money: positive, within what the column holds, in kopecks."""
    try:
        amount = kopecks(value) if value is not None else None
    except (InvalidOperation, TypeError, ValueError):
        amount = None
    if amount is None or amount <= 0:
        raise ValidationFailed({field: _("Сумма должна быть больше нуля.")})
    if amount > MAX_AMOUNT:
        raise ValidationFailed({field: _("Сумма слишком велика: не больше %(max)s.", max=_money(MAX_AMOUNT))})
    return amount


def payment_status(total, paid, refunded=None) -> PaymentStatus:
    """Paid in full when nothing is owed: the total less the refunded returns is paid.
    An order nothing is owed for whose returns gave money back says so: «Деньги
    возвращены» when all of it went back, «Оплачен, часть возвращена» when some did
    (both read «Оплачен»: a fully refunded order looked paid)."""
    paid, refunded = Decimal(paid or 0), Decimal(refunded or 0)
    if paid <= 0 and refunded <= 0:
        return PaymentStatus.UNPAID
    if paid < Decimal(total or 0) - refunded:
        return PaymentStatus.PARTIAL if paid > 0 else PaymentStatus.UNPAID
    if refunded > 0:
        return PaymentStatus.PARTLY_REFUNDED if paid > 0 else PaymentStatus.REFUNDED
    return PaymentStatus.PAID


def paid_of(session: Session, order_id: int) -> Decimal:
    """What the payments of an order add up to (the truth the order's «Оплачено» keeps)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.order_id == order_id)
    )
    return kopecks(total)


def pending_returns(session: Session, order_id: int, exclude_id: int | None = None) -> Decimal:
    """Returns asked for or approved and not yet paid out: money promised back."""
    stmt = select(func.coalesce(func.sum(Return.amount), 0)).where(
        Return.order_id == order_id,
        Return.status.in_((ReturnStatus.REQUESTED, ReturnStatus.APPROVED)),
    )
    if exclude_id is not None:
        stmt = stmt.where(Return.id != exclude_id)
    return Decimal(session.scalar(stmt))


def _settle(session: Session, order: Order, change: Decimal) -> None:
    """Move the order's «Оплачено» by ``change`` (the payment being written)."""
    order.paid = kopecks(Decimal(order.paid or 0) + change)
    order.payment_status = payment_status(order.total, order.paid, order.refunded)


def _lock_order(session: Session, order: Order) -> Order:
    """The order's row, locked until the commit (PostgreSQL; SQLite writes one at a time):
    two payments of one order at once must both see the other's amount."""
    if order.id is not None:
        session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
        session.refresh(order, ["paid", "refunded", "total", "status", "payment_status"])
    return order


def check_paid_after_order(order: Order, paid_at: dt.datetime | None) -> None:
    """A payment is not dated before the day its order was made (the clinic's day: an
    order booked and paid the same morning may be typed in either order)."""
    from .formatting import local_from_utc

    if paid_at is None or order.created_on is None:
        return
    made = local_from_utc(order.created_on).date()
    if local_from_utc(paid_at).date() < made:
        raise ValidationFailed(
            {
                "paid_at": _(
                    "«Когда»: оплата не может быть раньше дня оформления заказа (%(day)s).",
                    day=format_date(made, "short"),
                )
            }
        )


def take_payment(
    session: Session,
    order: Order | None,
    amount,
    method: PaymentMethod | None,
    *,
    paid_at: dt.datetime | None = None,
    comment: str | None = None,
    payment: Payment | None = None,
    certificate=None,
) -> Payment:
    """«Принять оплату»: a payment of part or all of what the order owes. Paid from an
    account (deposit, bonuses), the account's operation is written with it; paid by a
    certificate or a subscription, its money or one visit (app/certificates.py)."""
    if order is None:
        raise ValidationFailed({"order": _("Выберите заказ.")})
    if method is None:
        raise ValidationFailed({"method": _("Выберите способ оплаты.")})
    method = PaymentMethod(method)
    amount = amount_of(amount)
    if paid_at is not None and paid_at > utcnow() + FUTURE_GRACE:
        raise ValidationFailed({"paid_at": _("«Когда»: оплата не может быть принята в будущем.")})
    comment = (comment or "").strip() or None
    if method == PaymentMethod.CERTIFICATE and certificate is None:
        raise ValidationFailed({"certificate_code": _("Укажите номер сертификата или абонемента.")})
    if method != PaymentMethod.CERTIFICATE and certificate is not None:
        raise ValidationFailed(
            {"certificate_code": _("Номер сертификата указывают при оплате способом «Сертификатом».")}
        )
    _lock_order(session, order)
    check_paid_after_order(order, paid_at)
    if order.status == OrderStatus.CANCELLED:
        raise ValidationFailed(
            {"order": _("Заказ №%(id)s отменён: оплату по нему не принимают.", id=order.id)}
        )
    owed = Decimal(order.total or 0) - Decimal(order.refunded or 0) - Decimal(order.paid or 0)
    if amount > owed:
        raise ValidationFailed(
            {
                "amount": _(
                    "Сумма больше долга по заказу: осталось оплатить %(owed)s.", owed=_money(max(owed, ZERO))
                )
                if owed > 0
                else _("Заказ №%(id)s уже оплачен полностью.", id=order.id)
            }
        )
    payment = payment or Payment()
    payment.order = order
    payment.customer_id = order.customer_id
    payment.amount = amount
    payment.method = method
    payment.paid_at = paid_at or utcnow()
    payment.comment = comment
    session.add(payment)
    _settle(session, order, amount)
    if method == PaymentMethod.CERTIFICATE:
        from . import certificates

        certificates.spend(session, certificate, order, payment)
    if method.account is not None:
        session.flush()  # the operation names the payment
        _move(
            session,
            order.customer_id,
            Account(method.account),
            OperationKind.PAYMENT,
            amount,
            payment=payment,
        )
    accrue_bonuses(session, payment)
    return payment


BONUSES_NOT_ACCRUED = (PaymentMethod.BONUS, PaymentMethod.CERTIFICATE)


def accrue_bonuses(session: Session, payment: Payment) -> AccountOperation | None:
    """Bonuses on what was paid: the customer's category's percentage of the payment
    (none on a payment by bonuses or by a certificate), burning after BONUS_LIFETIME_DAYS."""
    from flask import current_app

    from .formatting import percent as percent_text
    from .models import CustomerCategory

    if payment.method in BONUSES_NOT_ACCRUED:
        return None
    percent = session.scalar(
        select(CustomerCategory.bonus_percent)
        .join(Customer, Customer.category_id == CustomerCategory.id)
        .where(Customer.id == payment.customer_id)
    )
    bonus = kopecks(Decimal(payment.amount) * Decimal(percent or 0) / 100)
    if bonus <= 0:
        return None
    days = int(current_app.config["BONUS_LIFETIME_DAYS"])
    session.flush()
    return _move(
        session,
        payment.customer_id,
        Account.BONUS,
        OperationKind.ACCRUAL,
        bonus,
        payment=payment,
        comment=system_comment(lambda: _(ACCRUAL_COMMENT, percent=percent_text(Decimal(percent)))),
        expires_at=(payment.paid_at or utcnow()) + dt.timedelta(days=days),
    )


def _lots():
    """Bonuses that burn on their own date: an accrual, or bonuses a return or a reversal
    gave back with the expiry of those they were (_give_bonuses_back)."""
    return (AccountOperation.account == Account.BONUS) & (
        (AccountOperation.kind == OperationKind.ACCRUAL)
        | ((AccountOperation.kind == OperationKind.REFUND) & AccountOperation.expires_at.is_not(None))
    )


def _lot_left():
    """What of a lot is still the customer's, as a column: its amount less what write-offs
    linked to it took back (a returned order's accrual, _withdraw_from_accruals)."""
    taken = aliased(AccountOperation)
    return AccountOperation.amount + (
        select(func.coalesce(func.sum(taken.amount), 0))
        .where(taken.linked_id == AccountOperation.id, taken.kind == OperationKind.WRITE_OFF)
        .correlate(AccountOperation)
        .scalar_subquery()
    )


def _withdraw_from_accruals(session: Session, accruals, amount: Decimal, by: Payment) -> None:
    """Take back ``amount`` of the bonuses ``accruals`` earned, each its share of what is
    left of it, no more than the balance holds (what was spent of them meanwhile is not
    taken twice). Each write-off names its accrual (linked), and an accrual taken back
    in full is settled (closed_at): the order returned, its bonuses are cancelled. Kept
    open, a year later the sweeper burnt it again from the customer's other bonuses."""
    left = {
        accrual: Decimal(accrual.amount)
        + Decimal(
            session.scalar(
                select(func.coalesce(func.sum(AccountOperation.amount), 0)).where(
                    AccountOperation.linked_id == accrual.id, AccountOperation.kind == OperationKind.WRITE_OFF
                )
            )
        )
        for accrual in accruals
    }
    total = sum(left.values(), ZERO)
    amount = min(kopecks(amount), total)
    if amount <= 0:
        return
    balance = Decimal(
        session.scalar(select(Customer.bonus_balance).where(Customer.id == by.customer_id)) or 0
    )
    owed = amount
    open_ones = [a for a, held in left.items() if held > 0]
    for number, accrual in enumerate(open_ones, 1):
        share = owed if number == len(open_ones) else min(kopecks(amount * left[accrual] / total), owed)
        owed -= share
        taken = min(share, balance)
        if taken > 0:
            operation = _move(
                session,
                by.customer_id,
                Account.BONUS,
                OperationKind.WRITE_OFF,
                taken,
                payment=by,
                comment=by.comment,
            )
            operation.linked = accrual
            balance -= taken
        if share >= left[accrual] and accrual.closed_at is None:
            accrual.closed_at = utcnow()  # cancelled with its order's money: never burns
    session.flush()


def _withdraw_accrual(session: Session, payment: Payment, reversal: Payment) -> None:
    """A reversed payment takes back the bonuses it earned (what of them is left)."""
    accruals = session.scalars(
        select(AccountOperation)
        .where(AccountOperation.payment_id == payment.id, AccountOperation.kind == OperationKind.ACCRUAL)
        .order_by(AccountOperation.id)
    ).all()
    _withdraw_from_accruals(session, accruals, sum((Decimal(a.amount) for a in accruals), ZERO), reversal)


def _withdraw_refunded_accrual(session: Session, order: Order, paid: Decimal, refund: Payment) -> None:
    """A return's refund takes back the bonuses earned on the money refunded: the
    bonuses the order's payments still hold, in the share the refund is of what was paid
    (all of them when the whole order is returned: its accruals are cancelled)."""
    if paid <= 0:
        return
    held = session.scalar(  # accrued on the order's payments less what was taken back (signed)
        select(func.coalesce(func.sum(AccountOperation.amount), 0))
        .join(Payment, Payment.id == AccountOperation.payment_id)
        .where(
            Payment.order_id == order.id,
            AccountOperation.account == Account.BONUS,
            AccountOperation.kind.in_((OperationKind.ACCRUAL, OperationKind.WRITE_OFF)),
        )
    )
    held = Decimal(held)
    if held > 0:
        accruals = session.scalars(
            select(AccountOperation)
            .join(Payment, Payment.id == AccountOperation.payment_id)
            .where(Payment.order_id == order.id, AccountOperation.kind == OperationKind.ACCRUAL)
            .order_by(AccountOperation.id)
        ).all()
        _withdraw_from_accruals(session, accruals, held * -refund.amount / paid, refund)


def _lots_spent(session: Session, debit: AccountOperation) -> list[tuple[Decimal, dt.datetime | None]]:
    """Which bonuses a payment by bonuses spent, as the sweeper counts them (expire_bonuses):
    bonuses that never burn first, then the lots open at the payment, oldest first. Returns
    (amount, expiry) in the order they were spent (expiry None: bonuses that never burn)."""
    rows = session.scalars(
        select(AccountOperation)
        .where(
            AccountOperation.customer_id == debit.customer_id,
            AccountOperation.account == Account.BONUS,
            AccountOperation.id < debit.id,
        )
        .order_by(AccountOperation.id)
    ).all()
    balance = sum((Decimal(op.amount) for op in rows), ZERO)
    taken_back: dict[int, Decimal] = {}
    for op in rows:
        if op.kind == OperationKind.WRITE_OFF and op.linked_id is not None:
            taken_back[op.linked_id] = taken_back.get(op.linked_id, ZERO) + Decimal(op.amount)
    at = debit.created_on or utcnow()
    lots = [
        (op, Decimal(op.amount) + taken_back.get(op.id, ZERO))
        for op in rows
        if (
            op.kind == OperationKind.ACCRUAL
            or (op.kind == OperationKind.REFUND and op.expires_at is not None)
        )
        and (op.closed_at is None or op.closed_at > at)
    ]
    spent = -Decimal(debit.amount)
    newer = sum((left for _op, left in lots), ZERO)
    parts = []
    for op, left in lots:
        newer -= left
        before = max(min(left, balance - newer), ZERO)
        after = max(min(left, balance - spent - newer), ZERO)
        if before > after:
            parts.append((before - after, op.expires_at))
    from_lots = sum((amount for amount, _e in parts), ZERO)
    return [(spent - from_lots, None), *parts] if spent > from_lots else parts


def _give_bonuses_back(
    session: Session, paid_by: list[Payment], amount: Decimal, by: Payment, already: Decimal = ZERO
) -> None:
    """Put ``amount`` of bonuses back on the account as what they were when ``paid_by``
    spent them: each part with the expiry of its lot, the latest spent first (``already``:
    what earlier refunds of these payments put back). They came back for ever, while
    the bonuses spent were to burn; bonuses of a lot burnt meanwhile burn at the next
    round of the sweeper."""
    debits = session.scalars(
        select(AccountOperation)
        .where(
            AccountOperation.payment_id.in_([p.id for p in paid_by]),
            AccountOperation.kind == OperationKind.PAYMENT,
            AccountOperation.account == Account.BONUS,
        )
        .order_by(AccountOperation.id)
    ).all()
    spent = [part for debit in debits for part in _lots_spent(session, debit)]
    back: dict = {}
    owed = kopecks(amount)
    for part, expires_at in reversed(spent):
        skipped = min(part, already)
        already -= skipped
        part = min(part - skipped, owed)
        if part > 0:
            back[expires_at] = back.get(expires_at, ZERO) + part
            owed -= part
    if owed > 0:
        back[None] = back.get(None, ZERO) + owed
    for expires_at, part in back.items():
        _move(
            session,
            by.customer_id,
            Account.BONUS,
            OperationKind.REFUND,
            part,
            payment=by,
            comment=by.comment,
            expires_at=expires_at,
        )


def _returns_named(session: Session, order_id: int, statuses) -> tuple[Decimal, str]:
    """The sum of an order's returns in ``statuses`` and their numbers («№3, №5»)."""
    rows = session.execute(
        select(Return.id, Return.amount)
        .where(Return.order_id == order_id, Return.status.in_(statuses))
        .order_by(Return.id)
    ).all()
    return sum((Decimal(a) for _i, a in rows), ZERO), ", ".join(f"№{i}" for i, _a in rows)


def _reversal_refused(session: Session, order: Order, promised: Decimal) -> str:
    """Why a reversal is refused, in figures the manager can find: what the order's
    returns gave back or promise (by their numbers), what is paid, how much may go."""
    most = _money(max(Decimal(order.paid) - promised, ZERO))
    parts = []
    given, given_ids = _returns_named(session, order.id, (ReturnStatus.REFUNDED,))
    if given > 0:
        parts.append(_("уже возвращено %(amount)s по возврату %(ids)s", amount=_money(given), ids=given_ids))
    if promised > 0:
        _sum, waiting_ids = _returns_named(session, order.id, (ReturnStatus.REQUESTED, ReturnStatus.APPROVED))
        parts.append(
            _("ждёт возврата %(amount)s по возврату %(ids)s", amount=_money(promised), ids=waiting_ids)
        )
    return _(
        "Сторно невозможно: по заказу №%(id)s оплачено %(paid)s, %(returns)s; "
        "сторнировать можно не больше %(most)s.",
        id=order.id,
        paid=_money(order.paid),
        returns="; ".join(parts) or _("возвратов нет"),
        most=most,
    )


def reverse_payment(session: Session, payment: Payment, reason: str | None) -> Payment:
    """Correct a mistaken payment with a reversing record: the opposite amount, the
    same method and a reason; money taken from an account goes back to it."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": _("Укажите причину сторнирования.")})
    if payment.amount <= 0 or payment.reverses_id is not None or payment.return_id is not None:
        raise ValidationFailed({None: _("Сторнировать можно только оплату, а не возврат или сторно.")})
    if session.scalar(select(Payment.id).where(Payment.reverses_id == payment.id)) is not None:
        raise ValidationFailed({None: _("Платёж №%(id)s уже сторнирован.", id=payment.id)})
    order = _lock_order(session, payment.order)
    left = Decimal(order.paid) - payment.amount
    promised = pending_returns(session, order.id)
    if left < promised or left < 0:
        raise ValidationFailed({None: _reversal_refused(session, order, promised)})
    reversal = Payment(
        order=order,
        customer_id=payment.customer_id,
        amount=-payment.amount,
        method=payment.method,
        paid_at=utcnow(),
        comment=reason,
        reverses_id=payment.id,
    )
    session.add(reversal)
    _settle(session, order, -payment.amount)
    back = Decimal(payment.amount)
    if payment.certificate_id is not None:  # the money or the visit goes back on the certificate
        from . import certificates

        if not certificates.restore(session, payment, reversal, payment.amount):
            reversal.method = (
                PaymentMethod.DEPOSIT
            )  # cancelled or passed on since: what it cost, to the deposit
            reversal.certificate_id = payment.certificate_id  # the certificate's part, not the deposit's
            back = certificates.price_share(payment, back)
    if reversal.method == PaymentMethod.BONUS and reversal.certificate_id is None:
        session.flush()
        _give_bonuses_back(session, [payment], back, reversal)
    elif reversal.method.account is not None:
        session.flush()
        _move(
            session,
            payment.customer_id,
            Account(reversal.method.account),
            OperationKind.REFUND,
            back,
            payment=reversal,
            comment=reason,
        )
    session.flush()
    _withdraw_accrual(session, payment, reversal)
    return reversal


_MONEY = (PaymentMethod.CASH, PaymentMethod.CARD, PaymentMethod.TRANSFER)


def _way_back(payment: Payment):
    """Where ``payment``'s money goes back to, as a key and the condition on an order's
    payments of that way: its certificate, the bonus account, the deposit, or money
    (cash, card, transfer: given back across the counter either way)."""
    if payment.certificate_id is not None:
        return ("certificate", payment.certificate_id), Payment.certificate_id == payment.certificate_id
    if payment.method in _MONEY:
        return ("money",), Payment.method.in_(_MONEY) & Payment.certificate_id.is_(None)
    return (payment.method.value,), (Payment.method == payment.method) & Payment.certificate_id.is_(None)


def _way_label(payment: Payment, amount: Decimal) -> str:
    amount = _money(amount)
    if payment.certificate_id is not None:
        return _("сертификатом №%(code)s — %(amount)s", code=payment.certificate.code, amount=amount)
    if payment.method == PaymentMethod.BONUS:
        return _("бонусами — %(amount)s", amount=amount)
    if payment.method == PaymentMethod.DEPOSIT:
        return _("с депозита — %(amount)s", amount=amount)
    return _("деньгами (наличные, карта, перевод) — %(amount)s", amount=amount)


def _ways_held(session: Session, order: Order, paid_by) -> dict:
    """What each way the order was paid still holds, net of what went back by it: its
    latest payment and the sum, by way (_way_back), the latest way first."""
    held: dict = {}
    for payment in session.scalars(paid_by):
        key, same = _way_back(payment)
        if key not in held:
            total = session.scalar(
                select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.order_id == order.id, same)
            )
            held[key] = (payment, Decimal(total))
    return held


def _source_holding(session: Session, order: Order, amount: Decimal, paid_by) -> Payment:
    """The latest payment of the order whose way back still holds ``amount`` (what the
    order's payments of that way add up to, net of what went back by it). A part of
    what was paid goes back one way: returned from an order paid 100 ₽ by bonuses and
    3 225 ₽ from the deposit, 1 000 ₽ goes back to the deposit. A sum no single way
    holds is refused, naming what each way holds (the whole goes back in parts)."""
    held = {
        key: (payment, total)
        for key, (payment, total) in _ways_held(session, order, paid_by).items()
        # a subscription's visit comes back by its own rule (refund_return)
        if not (payment.certificate_id is not None and payment.certificate.type == CertificateType.VISITS)
    }
    for payment, total in held.values():
        if amount <= total:
            return payment
    parts = "; ".join(_way_label(p, t) for p, t in held.values() if t > 0)
    raise ValidationFailed(
        {
            "amount": _(
                "Возврат %(amount)s не вернуть одним способом: по заказу №%(id)s оплачено %(parts)s. "
                "Каждая часть возвращается туда, откуда оплачена: верните всё, что оплачено "
                "(%(paid)s), и каждая часть вернётся своим способом, или столько, сколько держит "
                "один способ.",
                amount=_money(amount),
                id=order.id,
                parts=parts or _("возвращать нечего"),
                paid=_money(order.paid),
            )
        }
    )


def _held_by_certificate(session: Session, payment: Payment) -> Decimal:
    """What the order holds from ``payment``'s certificate, net of what went back to it."""
    return Decimal(
        session.scalar(
            select(func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.order_id == payment.order_id, Payment.certificate_id == payment.certificate_id
            )
        )
    )


def _paid_by(order: Order):
    """The order's payments (not reversals nor refunds), the latest first."""
    return (
        select(Payment)
        .where(Payment.order_id == order.id, Payment.amount > 0, Payment.reverses_id.is_(None))
        .order_by(Payment.paid_at.desc(), Payment.id.desc())
    )


def refund_return(session: Session, ret: Return) -> list[Payment]:
    """A return's «Деньги возвращены»: negative payments linked to it, each part back the
    way it was paid. A return of all the order still holds goes back in parts, one
    refund a way (bonuses to the bonus account, the deposit to the deposit, a
    certificate to itself, a subscription's visit to the subscription, money in money):
    a full return of an order paid 100 ₽ by bonuses and 3 225 ₽ from the deposit was
    refused, asking for a return per part. A return of a part goes back one way that
    holds it (_single_refund). Returns the refunds, the latest way first."""
    order = _lock_order(session, ret.order)
    amount = amount_of(ret.amount)
    if amount > Decimal(order.paid):
        raise ValidationFailed(
            {
                "amount": _(
                    "Сумма возврата больше оплаченной по заказу: оплачено %(paid)s.", paid=_money(order.paid)
                )
            }
        )
    parts = [
        (payment, total)
        for payment, total in _ways_held(session, order, _paid_by(order)).values()
        if total > 0
    ]
    if amount < Decimal(order.paid) or len(parts) < 2 or sum(t for _p, t in parts) != Decimal(order.paid):
        # a part, one way, or ways whose sums do not make up what was paid (a refund
        # written before the parts went back by a way that had not paid it): one way
        return [_single_refund(session, ret, order, amount)]
    from . import certificates

    refunds = []
    for source, total in parts:
        part_of, method = source, source.method
        if (
            source.certificate_id is not None
            and source.certificate.type == CertificateType.VISITS
            and certificates.visits_out(session, source.certificate_id, order.id) < 1
        ):
            part_of, method = None, PaymentMethod.CASH  # its visit came back already: the money
        # a subscription's part gives back the visits its money spans (visits_spanned)
        refunds.append(_refund_part(session, ret, order, part_of, method, total))
    return refunds


def _single_refund(session: Session, ret: Return, order: Order, amount: Decimal) -> Payment:
    """A return of part of what was paid: back the way the order was last paid that still
    holds the sum (_source_holding). An order whose visit a subscription paid gets the
    visit back, whatever part of it is returned (a «Возврат на сертификат» operation: the
    subscription's visits left go up by one); the visit comes back once, a later return
    of the same order is paid in money."""
    from . import certificates

    paid_by = _paid_by(order)
    last = session.scalars(paid_by.limit(1)).first()
    source = next(
        (
            p
            for p in session.scalars(paid_by.where(Payment.certificate_id.is_not(None)))
            if p.certificate.type == CertificateType.VISITS
            and certificates.visits_out(session, p.certificate_id, order.id) >= 1
        ),
        last,
    )
    method = source.method if source is not None else PaymentMethod.CASH
    if (
        source is not None
        and source.certificate_id is not None
        and source.certificate.type == CertificateType.VISITS
        and certificates.visits_out(session, source.certificate_id, order.id) < 1
    ):
        source, method = None, PaymentMethod.CASH  # its visit came back already: the money
    if (
        source is not None
        and source.certificate_id is not None
        and source.certificate.type == CertificateType.VISITS
        and amount > (held := _held_by_certificate(session, source))
    ):
        # a part goes back one way: its visit to the subscription wrote the whole sum
        # there, and the cash paid beside the visit never came back to the customer
        raise ValidationFailed(
            {
                "amount": _(
                    "Абонементом №%(code)s по заказу оплачено %(held)s: возврат визита на абонемент — "
                    "не больше этой суммы. Верните всё, что оплачено по заказу (%(paid)s), и каждая "
                    "часть вернётся своим способом, или визит и остальное — двумя возвратами.",
                    code=source.certificate.code,
                    held=_money(held),
                    paid=_money(order.paid),
                )
            }
        )
    if source is not None and not (
        source.certificate_id is not None and source.certificate.type == CertificateType.VISITS
    ):
        # each part goes back where it came from: a certificate's money or bonuses take
        # back at most what they paid (cash refunded onto a gift certificate raised it
        # above its nominal), and money no more than was paid in money
        source = _source_holding(session, order, amount, paid_by)
        method = source.method
    return _refund_part(session, ret, order, source, method, amount)


def _refund_part(
    session: Session,
    ret: Return,
    order: Order,
    source: Payment | None,
    method: PaymentMethod,
    amount: Decimal,
) -> Payment:
    """One refund of ``ret``: ``amount`` back the way of ``source`` (the payment it was
    paid by; None: in cash), the order's «Оплачено» and «Возвращено» moved by it, the
    certificate or the account credited, the bonuses earned on it taken back."""
    from . import certificates

    refund = Payment(
        order=order,
        customer_id=order.customer_id,
        amount=-amount,
        method=method,
        paid_at=utcnow(),
        comment=ret.reason,
        refund_of=ret,
    )
    session.add(refund)
    order.refunded = kopecks(Decimal(order.refunded or 0) + amount)  # given back: no longer owed
    paid_before = Decimal(order.paid)
    _settle(session, order, -amount)
    back = amount
    if source is not None and source.certificate_id is not None:
        session.flush()  # the operation names the refund
        # two massages paid by two visits and returned in full gave one visit back
        visits = (
            certificates.visits_spanned(session, source, amount)
            if source.certificate.type == CertificateType.VISITS
            else 1
        )
        if not certificates.restore(session, source, refund, amount):
            refund.method = method = PaymentMethod.DEPOSIT  # cancelled or passed on since: to the deposit
            # still the certificate's part going back (_source_holding): not the deposit's own
            refund.certificate_id = source.certificate_id
            back = certificates.price_share(source, amount)
        else:
            for _more in range(visits - 1):
                certificates.restore(session, source, refund, amount)
    if method == PaymentMethod.BONUS and refund.certificate_id is None:
        session.flush()
        reversed_ids = select(Payment.reverses_id).where(Payment.reverses_id.is_not(None))
        paid_by = session.scalars(
            select(Payment).where(
                Payment.order_id == order.id,
                Payment.amount > 0,
                Payment.method == PaymentMethod.BONUS,
                Payment.id.not_in(reversed_ids),
            )
        ).all()
        already = session.scalar(  # what the order's earlier refunds put back on the bonuses
            select(func.coalesce(func.sum(AccountOperation.amount), 0))
            .join(Payment, Payment.id == AccountOperation.payment_id)
            .where(
                Payment.order_id == order.id,
                Payment.return_id.is_not(None),
                Payment.id != refund.id,
                AccountOperation.account == Account.BONUS,
                AccountOperation.kind == OperationKind.REFUND,
            )
        )
        _give_bonuses_back(session, paid_by, back, refund, already=Decimal(already))
    elif method.account is not None:
        session.flush()
        _move(session, order.customer_id, Account(method.account), OperationKind.REFUND, back, payment=refund)
    session.flush()
    _withdraw_refunded_accrual(session, order, paid_before, refund)
    return refund


def given_back(refund: Payment) -> Decimal:
    """How much a refund gave the customer: what it put on an account (a cancelled
    certificate's payment goes to the deposit at what it cost, see
    certificates.price_share), else its amount."""
    moved = refund.put_on_account()
    return moved if moved is not None else -Decimal(refund.amount)


def put_on_account():
    """What a payment's refund put on an account (the REFUND operation naming it), as a
    correlated subquery a list reads beside the payment (see method_label)."""
    return (
        select(func.sum(AccountOperation.amount))
        .where(AccountOperation.payment_id == Payment.id, AccountOperation.kind == OperationKind.REFUND)
        .correlate(Payment)
        .scalar_subquery()
    )


method_label = payment_method_label  # the lists read it beside put_on_account()


# ---------------------------------------------------------------------------
# Accounts: a ledger per customer and account; the balance is kept beside it
# ---------------------------------------------------------------------------


def _move(
    session: Session,
    customer_id: int,
    account: Account,
    kind: OperationKind,
    amount: Decimal,
    *,
    payment: Payment | None = None,
    comment: str | None = None,
    expires_at: dt.datetime | None = None,
    operation: AccountOperation | None = None,
) -> AccountOperation:
    """Write one operation and move the balance by it, in one conditional UPDATE: a debit
    that would take the balance below zero changes nothing and is refused (two staff
    paying from one deposit at once: the second waits for the first's row and then
    finds what is left)."""
    signed = kopecks(amount) * kind.flag
    column = BALANCE_COLUMNS[account]
    # rounded in SQL as well: SQLite keeps NUMERIC as binary floating point, where
    # 50.01 - 20 is 30.009999…, and spending the 30.01 shown would be refused
    moved = func.round(column + signed, 2)
    stmt = update(Customer).where(Customer.id == customer_id).values({column: moved})
    if signed < 0:
        stmt = stmt.where(moved >= 0)
    done = session.execute(stmt.execution_options(synchronize_session=False)).rowcount
    if not done:
        available = session.scalar(select(column).where(Customer.id == customer_id)) or ZERO
        raise ValidationFailed(
            {
                "amount": _(
                    "На счёте «%(account)s» недостаточно средств: доступно %(available)s.",
                    account=account.label,
                    available=_money(available),
                )
            }
        )
    customer = session.get(Customer, customer_id)
    if customer is not None:
        session.expire(customer, [column.key])  # the balance is the database's now
    operation = operation or AccountOperation()
    operation.customer_id = customer_id
    operation.account = account
    operation.kind = kind
    operation.amount = signed
    operation.payment = payment
    operation.comment = comment
    operation.expires_at = expires_at
    session.add(operation)
    return operation


MANUAL_KINDS = {
    Account.DEPOSIT: (
        OperationKind.TOP_UP,
        OperationKind.REFUND,
        OperationKind.WRITE_OFF,
        OperationKind.OPENING,
    ),
    Account.BONUS: (OperationKind.ACCRUAL, OperationKind.WRITE_OFF, OperationKind.OPENING),
}
ADJUSTMENTS = {OperationKind.REFUND, OperationKind.WRITE_OFF, OperationKind.ACCRUAL, OperationKind.OPENING}
# the new customer's form's and the customers' file's fields (app/admin/card.py)
OPENING_FIELDS = {"opening_deposit": Account.DEPOSIT, "opening_bonus": Account.BONUS}


def manual_kinds() -> list[OperationKind]:
    """Every kind staff may type, once each, in the form's order: the opening balance,
    written once per account, last."""
    kinds = dict.fromkeys(k for account_kinds in MANUAL_KINDS.values() for k in account_kinds)
    return sorted(kinds, key=lambda kind: kind == OperationKind.OPENING)


def manual_operations(*, may_adjust: bool) -> dict[Account, tuple[OperationKind, ...]]:
    """What a staff member may type on each account (add_operation's rule): without the
    right to adjust, a deposit's top-up only, and no bonus operation at all."""
    offered = {
        account: tuple(k for k in kinds if may_adjust or k not in ADJUSTMENTS)
        for account, kinds in MANUAL_KINDS.items()
    }
    return {account: kinds for account, kinds in offered.items() if kinds}


def add_operation(
    session: Session,
    customer: Customer | None,
    account: Account | None,
    kind: OperationKind | None,
    amount,
    comment: str | None = None,
    *,
    may_adjust: bool,
    expires_at: dt.datetime | None = None,
    operation: AccountOperation | None = None,
) -> AccountOperation:
    """An operation typed by staff: a deposit's top-up (money received), a refund to it
    or a write-off, bonuses accrued or written off. Anything but a top-up is an
    adjustment of the balance: it needs the right to adjust and a reason."""
    from .errors import Forbidden

    if customer is None:
        raise ValidationFailed({"customer": _("Выберите клиента.")})
    if account is None:
        raise ValidationFailed({"account": _("Выберите счёт.")})
    account = Account(account)
    if kind is None or OperationKind(kind) not in MANUAL_KINDS[account]:
        allowed = ", ".join(f"«{k.label}»" for k in MANUAL_KINDS[account])
        raise ValidationFailed({"kind": _("На этом счёте можно: %(allowed)s.", allowed=allowed)})
    kind = OperationKind(kind)
    amount = amount_of(amount)
    comment = (comment or "").strip() or None
    if kind in ADJUSTMENTS:
        if not may_adjust:
            raise Forbidden({"kind": _("Изменять остаток счёта может только управляющий.")})
        if kind == OperationKind.OPENING:
            _check_first(session, customer.id, account, "kind")
            comment = comment or _opening_comment()
        if not comment:
            raise ValidationFailed({"comment": _("Укажите причину операции.")})
    return _move(
        session,
        customer.id,
        account,
        kind,
        amount,
        comment=comment,
        expires_at=expires_at,
        operation=operation,
    )


def _check_first(session: Session, customer_id: int | None, account: Account, field: str) -> None:
    """An opening balance is what the account held before Kartoteka: written once, before
    anything else moved it (after that, a correction is an adjustment with its reason)."""
    from .formatting import one_of

    if customer_id is None:
        return
    moved = session.scalar(
        select(AccountOperation.id)
        .where(AccountOperation.customer_id == customer_id, AccountOperation.account == account)
        .limit(1)
    )
    if moved is not None:
        raise ValidationFailed(
            {
                field: _(
                    "Остаток на начало учёта вносится один раз, до первой операции по счёту "
                    "«%(account)s»; исправьте остаток операцией %(kinds)s с причиной.",
                    account=account.label,
                    kinds=one_of(
                        f"«{kind.label}»"
                        for kind in MANUAL_KINDS[account]
                        if kind in ADJUSTMENTS and kind != OperationKind.OPENING
                    ),
                )
            }
        )


def open_balances(session: Session, customer: Customer, amounts: dict, *, may_adjust: bool) -> None:
    """What a new customer (from the clinic's old program, typed on the form or read
    from its file) had on the deposit and the bonus account: an «Остаток на начало учёта»
    each, keyed by OPENING_FIELDS; a blank is nothing. The customer is not saved yet, so
    the balance is set with it, and the operation names it (no flush: a row of a file
    that is refused leaves nothing). Opening bonuses have no expiry date (the old
    program's dates are not known): they are spent first and never burn."""
    from .errors import Forbidden

    typed = {name: value for name, value in amounts.items() if value not in (None, "")}
    if not typed:
        return
    if not may_adjust:
        raise Forbidden({name: _("Изменять остаток счёта может только управляющий.") for name in typed})
    errors, opened = {}, []
    for name, value in typed.items():
        try:
            opened.append((name, OPENING_FIELDS[name], amount_of(value, name)))
        except ValidationFailed as e:
            errors.update(e.errors)
    if errors:
        raise ValidationFailed(errors)
    for name, account, amount in opened:
        _check_first(session, customer.id, account, name)
        if customer.id is not None:
            _move(session, customer.id, account, OperationKind.OPENING, amount, comment=_opening_comment())
            continue
        column = BALANCE_COLUMNS[account].key
        setattr(customer, column, kopecks(Decimal(getattr(customer, column) or 0) + amount))
        session.add(
            AccountOperation(
                customer=customer,
                account=account,
                kind=OperationKind.OPENING,
                amount=amount,
                comment=_opening_comment(),
            )
        )


def _opening_comment() -> str:
    return system_comment(lambda: _(OPENING_COMMENT))


def prepare_payment(session: Session, payment: Payment, is_new: bool) -> Payment:
    """The payment screen's and the API's save: a new payment only (a payment is never
    changed; a mistake is reversed)."""
    if not is_new:
        raise ValidationFailed({None: _("Платёж не изменяют: ошибку исправляют сторно.")})
    order = payment.order or (session.get(Order, payment.order_id) if payment.order_id else None)
    certificate = payment.certificate
    if certificate is None:
        from . import certificates

        certificate = certificates.find(session, getattr(payment, "certificate_code", None))
    return take_payment(
        session,
        order,
        payment.amount,
        payment.method,
        paid_at=payment.paid_at,
        comment=payment.comment,
        payment=payment,
        certificate=certificate,
    )


def sell_certificate(session: Session, certificate, *, may_sell: bool):
    """A certificate or a subscription sold (app/certificates.py); one sold from the
    deposit debits it in the same transaction («Покупка сертификата»)."""
    from . import certificates

    certificates.sell(session, certificate, may_sell=may_sell)
    if certificate.method == PaymentMethod.DEPOSIT and certificate.price > 0:
        _move(
            session,
            certificate.customer.id,
            Account.DEPOSIT,
            OperationKind.PURCHASE,
            certificate.price,
            comment=system_comment(lambda: certificate),
        )
    return certificate


def prepare_sale(session: Session, certificate, is_new: bool, *, may_sell: bool):
    """The sale screen's and the API's save: a sale only; a sold certificate is not changed."""
    if not is_new:
        raise ValidationFailed({None: _("Проданный сертификат не изменяют.")})
    return sell_certificate(session, certificate, may_sell=may_sell)


def cancel_certificate(session: Session, certificate, reason: str | None, *, may_cancel: bool):
    """«Аннулировать» a certificate or a subscription (app/certificates.py ``cancel``): it
    pays for nothing more, and the part of its price for what was left of it goes to the
    deposit of whoever paid for it (its buyer, also when it was passed to a friend:
    certificates.refunded_to), an operation of its ledger with the reason («Возврат за
    сертификат»); the holder and the buyer are told. The deposit rather than a negative
    payment: a payment belongs to an order and makes up its «Оплачено», and a sale is no
    order; on the deposit the money
    is the customer's at once, seen on the card, spent on the next visit or paid out by
    the manager (a «Списание» saying so). Returns the deposit's operation (None where
    nothing was left)."""
    from . import certificates

    refund = certificates.cancel(session, certificate, reason, may_cancel=may_cancel)
    to = certificates.refunded_to(session, certificate)
    certificates.tell_cancelled(session, certificate, to, refund)
    if refund <= 0:
        return None
    session.flush()
    return _move(
        session,
        to.id,
        Account.DEPOSIT,
        OperationKind.CERTIFICATE_REFUND,
        refund,
        comment=system_comment(
            lambda: _(
                CANCELLED_COMMENT, certificate=certificates.name(certificate), reason=(reason or "").strip()
            )
        ),
    )


def prepare_operation(session: Session, operation: AccountOperation, is_new: bool, *, may_adjust: bool):
    """The accounts screen's and the API's save: a new operation only."""
    if not is_new:
        raise ValidationFailed({None: _("Операцию по счёту не изменяют: исправляют новой операцией.")})
    customer = operation.customer or (
        session.get(Customer, operation.customer_id) if operation.customer_id else None
    )
    return add_operation(
        session,
        customer,
        operation.account,
        operation.kind,
        operation.amount,
        operation.comment,
        may_adjust=may_adjust,
        expires_at=operation.expires_at,
        operation=operation,
    )


def balance_of(session: Session, customer_id: int, account: Account) -> Decimal:
    """The sum of an account's operations (the balance on the customer must equal it)."""
    total = session.scalar(
        select(func.coalesce(func.sum(AccountOperation.amount), 0)).where(
            AccountOperation.customer_id == customer_id, AccountOperation.account == account
        )
    )
    return kopecks(total)


def check_percent(category) -> None:
    """A category's discount and bonus percentage are percentages: 0 to 100."""
    for name in ("discount", "bonus_percent"):
        value = getattr(category, name, None)
        if value is not None and not (0 <= Decimal(value) <= 100):
            raise ValidationFailed({name: _("Процент — от 0 до 100.")})


def expire_bonuses(session: Session, now: dt.datetime | None = None) -> dict[int, Decimal]:
    """Burn what is left of every accrual past its expiry date; returns what burnt per
    customer, whom a message tells (if they agreed to such messages).

    Bonuses are spent oldest first: what is left of a lot (an accrual, or bonuses given
    back with the expiry they had, _lots) is the balance less the live lots newer than
    it, at most the lot itself less what write-offs took back of it (a returned order's
    accrual, _lot_left). Settled lots are
    marked (closed_at) and never burn twice, whoever runs the job at the same time:
    the mark is a conditional UPDATE."""
    from .formatting import money
    from .models import MessageType
    from .notifications import queue_notification

    now = now or utcnow()
    due = session.execute(
        select(AccountOperation, _lot_left())
        .where(_lots(), AccountOperation.expires_at <= now, AccountOperation.closed_at.is_(None))
        .order_by(AccountOperation.customer_id, AccountOperation.id)
    ).all()
    burnt: dict[int, Decimal] = {}
    for accrual, lot_left in due:
        claimed = session.execute(
            update(AccountOperation)
            .where(AccountOperation.id == accrual.id, AccountOperation.closed_at.is_(None))
            .values(closed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            continue
        session.execute(select(Customer.id).where(Customer.id == accrual.customer_id).with_for_update())
        balance = (
            session.scalar(select(Customer.bonus_balance).where(Customer.id == accrual.customer_id)) or ZERO
        )
        newer = session.scalar(
            select(func.coalesce(func.sum(_lot_left()), 0)).where(
                AccountOperation.customer_id == accrual.customer_id,
                _lots(),
                AccountOperation.id > accrual.id,
                AccountOperation.closed_at.is_(None),
            )
        )
        left = min(Decimal(lot_left), Decimal(balance) - Decimal(newer))
        if left > 0:
            _move(
                session,
                accrual.customer_id,
                Account.BONUS,
                OperationKind.EXPIRY,
                left,
                comment=system_comment(lambda: _(EXPIRED_COMMENT)),
            )
            session.flush()
            burnt[accrual.customer_id] = burnt.get(accrual.customer_id, ZERO) + left
    for customer_id, amount in burnt.items():
        customer = session.get(Customer, customer_id)
        queue_notification(
            session,
            customer,
            MessageType.BONUS_EXPIRED,
            amount=functools.partial(money, amount),  # in the customers' language
            balance=functools.partial(money, balance_of(session, customer_id, Account.BONUS)),
        )
    return burnt


def check_deletable(session: Session, record) -> None:
    """An order or a return whose money moved is kept: the order is cancelled and its
    money given back by a return; the database refuses the delete as well."""
    if isinstance(record, Order) and record.id is not None:
        if session.scalar(select(Payment.id).where(Payment.order_id == record.id).limit(1)) is not None:
            raise ValidationFailed(
                {
                    None: _(
                        "У заказа №%(id)s есть платежи: его не удаляют, а отменяют, деньги возвращают возвратом.",
                        id=record.id,
                    )
                }
            )
    if isinstance(record, Return) and record.id is not None:
        if session.scalar(select(Payment.id).where(Payment.return_id == record.id).limit(1)) is not None:
            raise ValidationFailed({None: _("Деньги по возврату уже возвращены: удалить его нельзя.")})


def transfer_deposit(
    session: Session, source: Customer | None, target: Customer | None, amount, comment: str | None = None
) -> tuple[AccountOperation, AccountOperation]:
    """Move money from one customer's deposit to another's (a relative's: a parent paying
    for a child): two operations, each naming the other. The debit is the same
    conditional UPDATE as a payment from the deposit, so the source never goes below
    zero, whoever spends from it at the same time."""
    if source is None:
        raise ValidationFailed({"customer": _("Выберите клиента.")})
    if target is None:
        raise ValidationFailed({"target": _("Выберите клиента, на чей депозит перевести.")})
    if target.id == source.id:
        raise ValidationFailed({"target": _("Перевести можно только на депозит другого клиента.")})
    amount = amount_of(amount)
    comment = (comment or "").strip() or None
    # both rows locked in one order (the smaller id first): two transfers between the same
    # customers in opposite directions wait for each other instead of deadlocking
    session.execute(
        select(Customer.id)
        .where(Customer.id.in_((source.id, target.id)))
        .order_by(Customer.id)
        .with_for_update()
    )
    out = _move(session, source.id, Account.DEPOSIT, OperationKind.TRANSFER_OUT, amount, comment=comment)
    into = _move(session, target.id, Account.DEPOSIT, OperationKind.TRANSFER_IN, amount, comment=comment)
    session.flush()
    out.linked_id, into.linked_id = into.id, out.id
    session.flush()
    _tell_transfer(session, source, target, amount)
    return out, into


def _tell_transfer(session: Session, source: Customer, target: Customer, amount: Decimal) -> None:
    """Both customers are told through the outbox, in the transfer's transaction: the money
    left one's deposit and came to the other's. Service messages about their own money:
    sent unless the customer opted out of the type or withdrew the consent to notifications
    (checked again at send time, app/notifications.py ``consent_allows``)."""
    from .formatting import money
    from .models import MessageType
    from .notifications import queue_notification

    for customer, other, message_type in (
        (source, target, MessageType.DEPOSIT_SENT),
        (target, source, MessageType.DEPOSIT_RECEIVED),
    ):
        queue_notification(
            session,
            customer,
            message_type,
            amount=functools.partial(money, amount),  # in the customers' language
            balance=functools.partial(money, balance_of(session, customer.id, Account.DEPOSIT)),
            other=other.full_name,
        )
