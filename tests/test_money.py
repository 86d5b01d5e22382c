"""The customer's money (issue 18): payments as records, reversals, refunds, the deposit
ledger, rounding, the role matrix on every money route and in the API, and a deposit
paid from twice at once on PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import access, payments
from app.errors import ValidationFailed
from app.models import (
    Account,
    AccountOperation,
    Customer,
    OperationKind,
    Order,
    Payment,
    PaymentMethod,
    Return,
    kopecks,
)
from tests import factories


def money_of(ctx, order_id):
    """The order as stored, and the sum of its payments."""
    ctx.expire_all()
    order = ctx.get(Order, order_id)
    total = ctx.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.order_id == order_id))
    return order, Decimal(total)


def balance(ctx, customer_id, account=Account.DEPOSIT):
    ctx.expire_all()
    stored = ctx.get(Customer, customer_id)
    column = stored.deposit_balance if account == Account.DEPOSIT else stored.bonus_balance
    return column, payments.balance_of(ctx, customer_id, account)


def test_kopecks_round_half_up_in_one_rule():
    assert kopecks("10.005") == Decimal("10.01")
    assert kopecks("10.015") == Decimal("10.02")  # not banker's rounding (10.02 either way here)
    assert kopecks("0.125") == Decimal("0.13")  # half-even would give 0.12
    assert kopecks("-0.125") == Decimal("-0.13")


def test_paid_status_and_debt_follow_any_sequence_of_payments_reversals_and_refunds(ctx):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Курс массажа", "3000.00", 1),))
    first = payments.take_payment(ctx, order, Decimal("1000"), PaymentMethod.CASH)
    payments.take_payment(ctx, order, "500.505", PaymentMethod.CARD)  # rounded half up: 500.51
    ctx.commit()
    order, summed = money_of(ctx, order.id)
    assert (order.paid, summed, order.payment_status.value, order.debt) == (
        Decimal("1500.51"),
        Decimal("1500.51"),
        "partial",
        Decimal("1499.49"),
    )
    with pytest.raises(ValidationFailed, match="осталось оплатить"):
        payments.take_payment(ctx, order, "1499.50", PaymentMethod.CASH)
    ctx.rollback()
    payments.take_payment(ctx, ctx.get(Order, order.id), "1499.49", PaymentMethod.TRANSFER)
    ctx.commit()
    order, summed = money_of(ctx, order.id)
    assert (order.paid, summed, order.payment_status.value, order.debt) == (
        Decimal("3000.00"),
        Decimal("3000.00"),
        "paid",
        Decimal("0.00"),
    )
    # a mistaken payment is reversed, never edited: the opposite amount with a reason
    with pytest.raises(ValidationFailed, match="причину"):
        payments.reverse_payment(ctx, ctx.get(Payment, first.id), "  ")
    reversal = payments.reverse_payment(ctx, ctx.get(Payment, first.id), "Пробили дважды")
    ctx.commit()
    assert (reversal.amount, reversal.reverses_id, reversal.method) == (
        Decimal("-1000.00"),
        first.id,
        PaymentMethod.CASH,
    )
    order, summed = money_of(ctx, order.id)
    assert (order.paid, summed, order.payment_status.value, order.debt) == (
        Decimal("2000.00"),
        Decimal("2000.00"),
        "partial",
        Decimal("1000.00"),
    )
    with pytest.raises(ValidationFailed, match="уже сторнирован"):
        payments.reverse_payment(ctx, ctx.get(Payment, first.id), "Ещё раз")
    ctx.rollback()
    with pytest.raises(ValidationFailed, match="только оплату"):
        payments.reverse_payment(ctx, ctx.get(Payment, reversal.id), "Сторно сторно")
    ctx.rollback()
    # nothing of the refused attempts was written
    assert ctx.query(Payment).filter_by(order_id=order.id).count() == 4


def test_a_return_refunded_through_the_screen_writes_a_negative_payment_and_the_order_follows(ctx, login_as):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("УЗИ", "2000.00", 1),), paid="2000")
    client = login_as("manager")
    response = client.post(
        f"/returnview/add?_flt_0_customer={customer.id}",
        data={"order": str(order.id), "amount": "1 500,50", "reason": "Процедура не проведена"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    ret = ctx.query(Return).one()
    form = {"order": str(order.id), "amount": "1500.50", "reason": "Процедура не проведена"}
    assert client.post(f"/returnview/edit/{ret.id}", data={**form, "status": "approved"}).status_code == 302
    ctx.expire_all()
    assert ctx.query(Payment).filter(Payment.amount < 0).count() == 0  # approved: no money moved yet
    assert client.post(f"/returnview/edit/{ret.id}", data={**form, "status": "refunded"}).status_code == 302
    refund = ctx.query(Payment).filter(Payment.amount < 0).one()
    assert (refund.amount, refund.return_id, refund.customer_id) == (Decimal("-1500.50"), ret.id, customer.id)
    order, summed = money_of(ctx, order.id)
    # what was given back is no longer bought: nothing is owed, the order paid and part refunded
    assert (order.paid, summed, order.refunded, order.payment_status.value, order.debt) == (
        Decimal("499.50"),
        Decimal("499.50"),
        Decimal("1500.50"),
        "partly_refunded",
        Decimal("0.00"),
    )
    # the card's KPI follows: paid and debt
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert re.search(r'class="kpi-debt">0,00', card)
    # a refunded return's amount cannot be changed afterwards (the refund is written)
    changed = client.post(f"/returnview/edit/{ret.id}", data={**form, "amount": "100", "status": "refunded"})
    assert changed.status_code == 422
    assert "уже возвращены" in changed.get_data(as_text=True)


def test_the_manager_is_told_how_much_a_refunded_return_gave_back_and_how(ctx, login_as):
    """«Деньги возвращены» writes the refund: the manager saw only «Изменения сохранены»,
    not how much went back nor whether to hand out cash or look at the deposit."""
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("УЗИ", "5000.00", 1),), paid="2000")
    client = login_as("manager")
    asked = {"order": str(order.id), "amount": "1 500,50", "reason": "Процедура не проведена"}
    assert client.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).one()
    form = {**asked, "amount": "1500,50"}
    approved = client.post(
        f"/returnview/edit/{ret.id}", data={**form, "status": "approved"}, follow_redirects=True
    )
    assert "Изменения сохранены" in approved.get_data(as_text=True)  # no money moved yet
    refunded = client.post(
        f"/returnview/edit/{ret.id}", data={**form, "status": "refunded"}, follow_redirects=True
    )
    page = refunded.get_data(as_text=True).replace("\xa0", " ")
    assert f"Деньги по возврату возвращены: 1 500,50 ₽ наличными, заказ №{order.id}. Долг: 3 000,00 ₽" in page
    assert "Изменения сохранены" not in page


def test_a_refunded_returns_reason_is_corrected_without_a_second_refund(ctx, login_as):
    """The manager adds the receipt's number to the reason of a return whose money went
    back: it was refused with «доступно к возврату 0,00 ₽», the money counted twice."""
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("УЗИ", "2000.00", 1),), paid="2000")
    client = login_as("manager")
    asked = {"order": str(order.id), "amount": "2 000", "reason": "Процедура не проведена"}
    ret = factories.refunded_return(ctx, client, customer, asked)
    corrected = {**asked, "reason": "Процедура не проведена (чек №12)", "status": "refunded"}
    response = client.post(f"/returnview/edit/{ret.id}", data=corrected)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    ctx.expire_all()
    assert ctx.get(Return, ret.id).reason == "Процедура не проведена (чек №12)"
    assert [p.amount for p in ctx.query(Payment).order_by(Payment.id)] == [
        Decimal("2000.00"),
        Decimal("-2000.00"),
    ]


def test_payment_screen_reads_russian_money_and_refuses_bad_input_changing_nothing(ctx, login_as):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Консультация", "3000.00", 1),))
    client = login_as("reception")
    form = client.get(f"/paymentview/add?_flt_0_order={order.id}")
    assert form.status_code == 200
    assert 'name="order"' not in form.get_data(as_text=True)  # bound to the order it was opened for
    for bad, message in (
        ({"amount": "abc", "method": "cash"}, "Введите число, например 1500,50"),
        ({"amount": "0", "method": "cash"}, "Сумма должна быть больше нуля."),
        ({"amount": "-5", "method": "cash"}, "Сумма должна быть больше нуля."),
        ({"amount": "3000,01", "method": "cash"}, "Сумма больше долга по заказу"),
        ({"amount": "100", "method": "certificate"}, "Укажите номер сертификата"),
        ({"amount": "100", "method": "deposit"}, "недостаточно средств: доступно 0,00"),
    ):
        response = client.post(f"/paymentview/add?_flt_0_order={order.id}", data=bad)
        assert response.status_code == 422, bad
        assert message in response.get_data(as_text=True).replace("\xa0", " ").replace("\u202f", " "), bad
    assert ctx.query(Payment).count() == 0
    assert ctx.query(AccountOperation).count() == 0
    ok = client.post(
        f"/paymentview/add?_flt_0_order={order.id}",
        data={"amount": "1 500,50", "method": "card", "comment": "Терминал 2"},
    )
    assert ok.status_code == 302
    payment = ctx.query(Payment).one()
    assert (payment.amount, payment.method, payment.created_by_fk, payment.order_id) == (
        Decimal("1500.50"),
        PaymentMethod.CARD,
        factories_user(ctx, "reception"),
        order.id,
    )
    assert payment.paid_at is not None
    # the order's row on the card offers «Принять оплату» while something is owed
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert f'href="/paymentview/add?tab=orders&amp;_flt_0_order={order.id}"' in card


def factories_user(ctx, username):
    from flask import current_app

    return current_app.appbuilder.sm.find_user(username=username).id


def test_deposit_is_a_ledger_and_a_payment_from_it_is_one_transaction(ctx, login_as):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Курс", "3000.00", 1),))
    reception = login_as("reception")
    top_up = {"customer": str(customer.id), "account": "deposit", "kind": "top_up", "amount": "2 000"}
    assert reception.post("/accountoperationview/add", data=top_up).status_code == 302
    # part in cash, the rest from the deposit
    assert (
        reception.post(
            f"/paymentview/add?_flt_0_order={order.id}", data={"amount": "1000", "method": "cash"}
        ).status_code
        == 302
    )
    from_deposit = reception.post(
        f"/paymentview/add?_flt_0_order={order.id}", data={"amount": "2000", "method": "deposit"}
    )
    assert from_deposit.status_code == 302
    order, summed = money_of(ctx, order.id)
    assert (order.paid, summed, order.debt) == (Decimal("3000.00"), Decimal("3000.00"), Decimal("0.00"))
    assert balance(ctx, customer.id) == (Decimal("0.00"), Decimal("0.00"))
    operation = ctx.query(AccountOperation).filter_by(kind=OperationKind.PAYMENT).one()
    assert (operation.amount, operation.payment.method) == (Decimal("-2000.00"), PaymentMethod.DEPOSIT)
    card = reception.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert re.search(r'class="kpi-debt">0,00', card)
    assert re.search(r'class="kpi-deposit">0,00', card)
    assert 'href="#accounts"' in card and "Пополнение" in card
    # the receptionist may not adjust a balance; the manager may, with a reason
    refund_to_deposit = {
        "customer": str(customer.id),
        "account": "deposit",
        "kind": "refund",
        "amount": "300",
        "comment": "Компенсация",
    }
    refused = reception.post("/accountoperationview/add", data=refund_to_deposit)
    assert refused.status_code == 422
    assert "только управляющий" in refused.get_data(as_text=True)
    assert balance(ctx, customer.id) == (Decimal("0.00"), Decimal("0.00"))
    manager = login_as("manager")
    no_reason = manager.post("/accountoperationview/add", data={**refund_to_deposit, "comment": ""})
    assert no_reason.status_code == 422 and "Укажите причину операции." in no_reason.get_data(as_text=True)
    assert manager.post("/accountoperationview/add", data=refund_to_deposit).status_code == 302
    # reversing the payment from the deposit puts the money back on it
    paid_from_deposit = ctx.query(Payment).filter_by(method=PaymentMethod.DEPOSIT).one()
    reversed_ = manager.post(
        f"/paymentview/reverse/{paid_from_deposit.id}", data={"reason": "Ошиблись счётом"}
    )
    assert reversed_.status_code == 302
    assert balance(ctx, customer.id) == (Decimal("2300.00"), Decimal("2300.00"))
    order, summed = money_of(ctx, order.id)
    assert (order.paid, summed, order.debt) == (Decimal("1000.00"), Decimal("1000.00"), Decimal("2000.00"))
    write_off = {**refund_to_deposit, "kind": "write_off", "amount": "2300,01", "comment": "Ошибка"}
    over = manager.post("/accountoperationview/add", data=write_off)
    assert over.status_code == 422 and "недостаточно средств" in over.get_data(as_text=True)
    assert balance(ctx, customer.id) == (Decimal("2300.00"), Decimal("2300.00"))


MONEY_PAGES = (
    # (address, who may open it)
    ("/paymentview/list/", {"manager", "reception", "auditor"}),
    ("/paymentview/add", {"manager", "reception"}),
    ("/paymentview/show/{payment}", {"manager", "reception", "auditor"}),
    ("/paymentview/reverse/{payment}", {"manager"}),
    ("/accountoperationview/list/", {"manager", "reception", "auditor"}),
    ("/accountoperationview/add", {"manager", "reception"}),
    ("/api/v1/payments/", {"manager", "reception", "auditor"}),
    ("/api/v1/payments/{payment}", {"manager", "reception", "auditor"}),
    ("/api/v1/account-operations/", {"manager", "reception", "auditor"}),
)


@pytest.mark.parametrize("role", list(access.ROLES))
def test_the_role_matrix_on_every_money_page_and_in_the_api(ctx, login_as, role):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Консультация", "1500.00", 1),), paid="1000")
    payment = ctx.query(Payment).one()
    client = login_as(role)
    for address, allowed in MONEY_PAGES:
        url = address.format(payment=payment.id)
        status = client.get(url).status_code
        if role in allowed:
            assert status == 200, (url, status)
        else:
            assert status in (302, 403, 404), (url, status)
    # a payment is never edited or deleted, by anyone, on the screen or in the API
    for method, url in (
        ("get", f"/paymentview/edit/{payment.id}"),
        ("post", f"/paymentview/edit/{payment.id}"),
        ("post", f"/paymentview/delete/{payment.id}"),
        ("get", f"/paymentview/delete/{payment.id}"),
        ("put", f"/api/v1/payments/{payment.id}"),
        ("delete", f"/api/v1/payments/{payment.id}"),
    ):
        assert getattr(client, method)(url, json={} if method == "put" else None).status_code in (404, 405), (
            url
        )
    # taking a payment in the API: the front desk and the manager
    taken = client.post("/api/v1/payments/", json={"order": order.id, "amount": "100.00", "method": "card"})
    if role in ("manager", "reception"):
        assert taken.status_code == 201, taken.get_json()
    else:
        assert taken.status_code in (401, 403), taken.status_code
    # reversing: the manager only
    reversed_ = client.post(f"/paymentview/reverse/{payment.id}", data={"reason": "Ошибка"})
    assert reversed_.status_code == (302 if role == "manager" else 403)
    ctx.expire_all()
    reversals = ctx.query(Payment).filter(Payment.reverses_id == payment.id).count()
    assert reversals == (1 if role == "manager" else 0)
    order, summed = money_of(ctx, order.id)
    assert order.paid == summed
    # the card: the money tabs and the pay button follow the matrix
    card = client.get(f"/customerview/show/{customer.id}")
    if card.status_code == 200:
        page = card.get_data(as_text=True)
        sees_money = role in ("manager", "reception", "auditor")
        assert ('href="#payments"' in page) == sees_money
        assert ('href="#accounts"' in page) == sees_money
        assert ("kartoteka-pay" in page) == (role in ("manager", "reception"))


def test_api_refuses_a_typed_paid_and_bad_payments_with_russian_messages(ctx, login_as):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Консультация", "1500.00", 1),))
    client = login_as("reception")
    typed = client.put(f"/api/v1/orders/{order.id}", json={"paid": "1500"})
    assert typed.status_code in (403, 422)
    too_much = client.post(
        "/api/v1/payments/", json={"order": order.id, "amount": "1500.01", "method": "cash"}
    )
    assert too_much.status_code == 422
    assert "Сумма больше долга" in str(too_much.get_json())
    assert ctx.query(Payment).count() == 0
    assert money_of(ctx, order.id)[0].paid == Decimal("0.00")


def test_two_payments_from_one_deposit_at_once_cannot_take_it_below_zero(app, ctx):
    """Two receptionists pay 700 each from a deposit of 1000 at the same moment, each
    in a transaction of its own: one is taken, the other refused; the balance is 300."""
    from app.extensions import db

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: the race needs PostgreSQL's row locks")
    customer = factories.customer(ctx)
    first = factories.order(ctx, customer, items=(("Массаж", "700.00", 1),))
    second = factories.order(ctx, customer, items=(("Пилинг", "700.00", 1),))
    payments.add_operation(
        ctx, customer, Account.DEPOSIT, OperationKind.TOP_UP, "1000", "Предоплата", may_adjust=False
    )
    ctx.commit()
    customer_id, order_ids = customer.id, (first.id, second.id)
    start = threading.Barrier(2, timeout=10)
    outcomes = {}

    def pay(order_id):
        # a transaction of its own (an application context: a session and a connection)
        with app.app_context():
            session = db.session
            try:
                start.wait()
                payments.take_payment(session, session.get(Order, order_id), "700", PaymentMethod.DEPOSIT)
                time.sleep(0.5)  # hold the customer's row: the other payment is under way meanwhile
                session.commit()
                outcomes[order_id] = "taken"
            except ValidationFailed as e:
                session.rollback()
                outcomes[order_id] = str(e)

    threads = [threading.Thread(target=pay, args=(order_id,)) for order_id in order_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    taken = [k for k, v in outcomes.items() if v == "taken"]
    refused = [v for v in outcomes.values() if v != "taken"]
    assert len(taken) == 1 and len(refused) == 1, outcomes
    assert "недостаточно средств" in refused[0]
    assert balance(ctx, customer_id) == (Decimal("300.00"), Decimal("300.00"))
    assert ctx.query(Payment).filter_by(method=PaymentMethod.DEPOSIT).count() == 1


def test_bonuses_accrue_on_what_was_paid_per_category_and_a_reversal_takes_them_back(ctx):
    from app.models import CustomerCategory

    vip = CustomerCategory(name="VIP", discount=Decimal("0"), bonus_percent=Decimal("5"))
    ctx.add(vip)
    ctx.commit()
    customer = factories.customer(ctx, category_id=vip.id)
    order = factories.order(ctx, customer, items=(("Курс", "3000.00", 1),))
    cash = payments.take_payment(ctx, order, "1000.10", PaymentMethod.CASH)  # 5 % = 50.005 → 50.01
    ctx.commit()
    assert balance(ctx, customer.id, Account.BONUS) == (Decimal("50.01"), Decimal("50.01"))
    accrual = ctx.query(AccountOperation).filter_by(kind=OperationKind.ACCRUAL).one()
    assert accrual.payment_id == cash.id and accrual.expires_at is not None
    # paying with bonuses spends them and earns none
    payments.take_payment(ctx, ctx.get(Order, order.id), "20", PaymentMethod.BONUS)
    ctx.commit()
    assert balance(ctx, customer.id, Account.BONUS) == (Decimal("30.01"), Decimal("30.01"))
    with pytest.raises(ValidationFailed, match="недостаточно средств"):
        payments.take_payment(ctx, ctx.get(Order, order.id), "30.02", PaymentMethod.BONUS)
    ctx.rollback()
    # the reversed cash payment takes back what is left of its bonuses (30.01 of 50.01)
    payments.reverse_payment(ctx, ctx.get(Payment, cash.id), "Ошибка кассира")
    ctx.commit()
    assert balance(ctx, customer.id, Account.BONUS) == (Decimal("0.00"), Decimal("0.00"))
    order, summed = money_of(ctx, order.id)
    assert (order.paid, summed) == (Decimal("20.00"), Decimal("20.00"))


def test_manual_bonus_accrual_and_write_off_need_the_manager_and_a_reason(ctx, login_as):
    customer = factories.customer(ctx)
    accrual = {"customer": str(customer.id), "account": "bonus", "kind": "accrual", "amount": "500"}
    reception = login_as("reception")
    refused = reception.post("/accountoperationview/add", data={**accrual, "comment": "Подарок"})
    assert refused.status_code == 422 and "только управляющий" in refused.get_data(as_text=True)
    manager = login_as("manager")
    assert (
        manager.post("/accountoperationview/add", data={**accrual, "comment": "Подарок"}).status_code == 302
    )
    write_off = {**accrual, "kind": "write_off", "amount": "120,50", "comment": "Ошибочное начисление"}
    assert manager.post("/accountoperationview/add", data=write_off).status_code == 302
    top_up_bonus = manager.post("/accountoperationview/add", data={**accrual, "kind": "top_up"})
    assert top_up_bonus.status_code == 422 and "На этом счёте можно" in top_up_bonus.get_data(as_text=True)
    assert balance(ctx, customer.id, Account.BONUS) == (Decimal("379.50"), Decimal("379.50"))
    card = manager.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert re.search(r'class="kpi-bonus">379,50', card)
    assert "Ошибочное начисление" in card  # the «Счета» tab: the operations and why


def test_the_rq_job_burns_expired_bonuses_and_tells_only_customers_who_agreed(app, ctx, redis):
    import datetime as dt

    from rq import SimpleWorker

    from app import notifications, worker
    from app.models import Channel, Message, MessageType, utcnow

    agreed = factories.customer(ctx)
    silent = factories.customer(ctx, last_name="Молчанова", phone="+79035550123", email="silent@example.ru")
    long_ago = utcnow() - dt.timedelta(days=400)
    for customer in (agreed, silent):
        payments.add_operation(
            ctx,
            customer,
            Account.BONUS,
            OperationKind.ACCRUAL,
            "300",
            "Старые бонусы",
            may_adjust=True,
            expires_at=long_ago,
        )
        payments.add_operation(
            ctx,
            customer,
            Account.BONUS,
            OperationKind.ACCRUAL,
            "100",
            "Свежие бонусы",
            may_adjust=True,
            expires_at=utcnow() + dt.timedelta(days=30),
        )
    # the agreed customer had spent 250: bonuses go oldest first, so 50 of the old 300 are left
    payments.add_operation(
        ctx, agreed, Account.BONUS, OperationKind.WRITE_OFF, "250", "Списание", may_adjust=True
    )
    for channel in Channel:
        notifications.set_consent(ctx, agreed, MessageType.BONUS_EXPIRED, channel, True)
    ctx.commit()
    ids = {agreed.id: agreed, silent.id: silent}
    with app.app_context():
        assert worker.queue_bonus_expiry()
        assert not worker.queue_bonus_expiry()  # once an hour
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)
    assert balance(ctx, agreed.id, Account.BONUS) == (Decimal("100.00"), Decimal("100.00"))
    assert balance(ctx, silent.id, Account.BONUS) == (Decimal("100.00"), Decimal("100.00"))
    burnt = {
        op.customer_id: op.amount for op in ctx.query(AccountOperation).filter_by(kind=OperationKind.EXPIRY)
    }
    assert burnt == {agreed.id: Decimal("-50.00"), silent.id: Decimal("-300.00")}
    # run again: nothing burns twice
    ctx.expire_all()
    assert payments.expire_bonuses(ctx) == {}
    ctx.rollback()
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)  # deliver
    ctx.expire_all()
    told = ctx.query(Message).filter_by(message_type=MessageType.BONUS_EXPIRED).all()
    sent = {m.customer_id for m in told if m.status.value == "sent"}
    assert sent == {agreed.id}, [(ids[m.customer_id].last_name, m.status, m.body) for m in told]
    assert any("списано 50,00" in m.body.replace("\xa0", " ") for m in told if m.customer_id == agreed.id)


@pytest.mark.parametrize(
    ("own", "category", "applied", "total"),
    [
        ("5", "10", "10", "2700.00"),
        ("15", "10", "15", "2550.00"),
        ("0", "0", "0", "3000.00"),
        ("0", "12.5", "12.5", "2625.00"),
    ],
)
def test_the_larger_of_the_customers_and_the_categorys_discount_applies_to_a_booking(
    ctx, login_as, own, category, applied, total
):
    from app.models import CustomerCategory, OrderItem

    group = CustomerCategory(name="Постоянные", discount=Decimal(category))
    ctx.add(group)
    ctx.commit()
    customer = factories.customer(ctx, category_id=group.id, discount=Decimal(own))
    item = factories.catalog_item(ctx, "Массаж", "1500.00")
    client = login_as("reception")
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    # the booking form says the discount before anything is saved, and gives the script the prices
    shown = re.search(r'class="order-discount">([^<]*)<', card)[1].replace("\xa0", " ")
    assert shown == f"Скидка клиента: {applied.replace('.', ',')} %"
    assert f"""data-prices='{{"{item.id}": "1500.00"}}'""" in card
    booked = client.post(
        f"/customerview/{customer.id}/orders",
        data={"kind": "visit", "catalog_item": item.id, "quantity": "2"},
    )
    assert booked.status_code == 302
    ctx.expire_all()
    order = ctx.query(Order).one()
    line = ctx.query(OrderItem).one()
    assert (line.price, line.discount, line.amount, order.total) == (
        Decimal("1500.00"),
        Decimal(applied),
        Decimal(total),
        Decimal(total),
    )
    assert order.debt == Decimal(total)


def test_migration_0017_turns_typed_totals_refunds_and_balances_into_records(tmp_path):
    """«Оплачено» was a typed running total (a refund did not change it) and the balances
    were numbers only the demo filled: after 0017 each is the sum of its records."""
    from sqlalchemy import text

    from app.extensions import db
    from tests.test_schema import database_at

    now = "2026-11-20 09:00:00"
    with database_at(tmp_path, "0016") as upgrade:
        for statement in (
            "INSERT INTO customer (id, last_name, first_name, customer_type, status, name_search, discount, "
            "bonus_balance, deposit_balance, registered_at, version, created_on, changed_on) VALUES "
            f"(1, 'Ёлкина', 'Вера', 'individual', 'active', ' елкина вера', 0, 150, 5000, '{now}', 1, '{now}', '{now}')",
            "INSERT INTO customer_order (id, customer_id, kind, status, payment_status, total, paid, "
            f"created_on, changed_on) VALUES (1, 1, 'visit', 'completed', 'paid', 1500, 1500, '{now}', '{now}'), "
            f"(2, 1, 'visit', 'new', 'unpaid', 900, 0, '{now}', '{now}')",
            "INSERT INTO customer_return (id, customer_id, order_id, amount, reason, status, created_on, changed_on) "
            f"VALUES (1, 1, 1, 500, 'Не понравилось', 'refunded', '{now}', '{now}'), "
            f"(2, 1, 1, 100, 'Ждёт решения', 'requested', '{now}', '{now}')",
        ):
            db.session.execute(text(statement))
        db.session.commit()
        upgrade()
        rows = db.session.execute(
            text("SELECT order_id, amount, method, return_id FROM payment ORDER BY amount DESC")
        ).all()
        assert [(o, Decimal(str(a)), m, r) for o, a, m, r in rows] == [
            (1, Decimal("1500"), "cash", None),
            (1, Decimal("-500"), "cash", 1),
        ]
        paid, refunded, status = db.session.execute(
            text("SELECT paid, refunded, payment_status FROM customer_order WHERE id = 1")
        ).one()
        # 0024: the 500 refunded is no longer owed, so the order is paid in full; 0029: part refunded
        assert (Decimal(str(paid)), Decimal(str(refunded)), status) == (
            Decimal("1000"),
            Decimal("500"),
            "partly_refunded",
        )
        opening = db.session.execute(
            text("SELECT account, kind, amount FROM account_operation ORDER BY account")
        ).all()
        assert [(a, k, Decimal(str(x))) for a, k, x in opening] == [
            ("bonus", "opening", Decimal("150")),
            ("deposit", "opening", Decimal("5000")),
        ]


def test_the_front_desk_and_the_manager_scenario_through_the_screens(ctx, login_as):
    """The issue's scenario over HTTP: a receptionist books a visit for a category
    customer at the discounted price, takes part in cash and the rest from the deposit
    (the card: debt 0, the deposit reduced); a manager refunds a return, and the order's
    debt and the card follow."""
    from app.models import CustomerCategory

    regulars = CustomerCategory(name="Постоянные", discount=Decimal("10"))
    ctx.add(regulars)
    ctx.commit()
    customer = factories.customer(ctx, category_id=regulars.id)
    item = factories.catalog_item(ctx, "Массаж", "2000.00")
    reception = login_as("reception")
    top_up = {"customer": str(customer.id), "account": "deposit", "kind": "top_up", "amount": "5 000"}
    assert reception.post("/accountoperationview/add", data=top_up).status_code == 302
    card = reception.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "Скидка клиента: 10 %" in card.replace("\xa0", " ")
    booked = reception.post(
        f"/customerview/{customer.id}/orders",
        data={"kind": "visit", "catalog_item": item.id, "quantity": "1"},
    )
    assert booked.status_code == 302
    order = ctx.query(Order).one()
    assert order.total == Decimal("1800.00")
    pay = f"/paymentview/add?_flt_0_order={order.id}"
    assert reception.post(pay, data={"amount": "500", "method": "cash"}).status_code == 302
    assert reception.post(pay, data={"amount": "1 300", "method": "deposit"}).status_code == 302
    card = reception.get(f"/customerview/show/{customer.id}").get_data(as_text=True).replace("\xa0", " ")
    assert re.search(r'class="kpi-debt">0,00', card)
    assert re.search(r'class="kpi-deposit">3 700,00', card)
    assert (
        "kartoteka-pay" not in card
    )  # nothing owed: no «Принять оплату» (a paid row showed one, to no order)
    manager = login_as("manager")
    asked = {"order": str(order.id), "amount": "800", "reason": "Сеанс сокращён"}
    factories.refunded_return(ctx, manager, customer, asked)
    order, summed = money_of(ctx, order.id)
    assert (order.paid, summed, order.debt, order.payment_status.value) == (
        Decimal("1000.00"),
        Decimal("1000.00"),
        Decimal("0.00"),  # what was given back is no longer owed
        "partly_refunded",
    )
    # the order was last paid from the deposit: the refund goes back to it
    assert balance(ctx, customer.id) == (Decimal("4500.00"), Decimal("4500.00"))
    card = manager.get(f"/customerview/show/{customer.id}").get_data(as_text=True).replace("\xa0", " ")
    assert re.search(r'class="kpi-debt">0,00', card)
    assert re.search(r'class="kpi-deposit">4 500,00', card)
    assert "Возврат денег" in card  # the «Платежи» tab


def test_an_order_or_a_return_whose_money_moved_is_not_deleted_but_the_customer_is(ctx, login_as):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("УЗИ", "2000.00", 1),), paid="2000")
    manager = login_as("manager")
    asked = {"order": str(order.id), "amount": "500", "reason": "Не пришёл врач"}
    ret = factories.refunded_return(ctx, manager, customer, asked)
    refused = manager.post(f"/orderview/delete/{order.id}", follow_redirects=True).get_data(as_text=True)
    assert "есть платежи: его не удаляют" in refused
    refused = manager.post(f"/returnview/delete/{ret.id}", follow_redirects=True).get_data(as_text=True)
    assert "удалить его нельзя" in refused
    api = manager.delete(f"/api/v1/orders/{order.id}")
    assert api.status_code == 422
    ctx.expire_all()
    assert (ctx.query(Order).count(), ctx.query(Return).count(), ctx.query(Payment).count()) == (1, 1, 2)
    order, summed = money_of(ctx, order.id)
    assert order.paid == summed == Decimal("1500.00")
    # the customer's deletion (152-FZ) takes their money records with them
    assert manager.post(f"/customerview/delete/{customer.id}").status_code == 302
    ctx.expire_all()
    assert (ctx.query(Order).count(), ctx.query(Payment).count(), ctx.query(AccountOperation).count()) == (
        0,
        0,
        0,
    )


def test_the_api_gives_a_system_comment_in_the_readers_language(ctx, login_as):
    """«Срок бонусов истёк» is stored in Russian whoever's request wrote it; the screen
    reads it in the reader's language, and the API gave it to an English reader as
    stored. Staff's own comment goes as written."""
    customer = factories.customer(ctx)
    system = AccountOperation(
        customer=customer,
        account=Account.BONUS,
        kind=OperationKind.EXPIRY,
        amount=Decimal("-50.00"),
        comment=payments.EXPIRED_COMMENT,
    )
    own = AccountOperation(
        customer=customer,
        account=Account.BONUS,
        kind=OperationKind.ACCRUAL,
        amount=Decimal("10.00"),
        comment="Подарок ко дню рождения",
    )
    ctx.add_all([system, own])
    ctx.commit()
    manager = login_as("manager")
    manager.get("/lang/en")
    try:
        listed = {
            r["id"]: r["comment"] for r in manager.get("/api/v1/account-operations/").get_json()["result"]
        }
        shown = manager.get(f"/api/v1/account-operations/{system.id}").get_json()["result"]["comment"]
    finally:
        manager.get("/lang/ru")
    assert listed == {system.id: "The bonuses have expired", own.id: "Подарок ко дню рождения"}
    assert shown == "The bonuses have expired"
    russian = manager.get("/api/v1/account-operations/").get_json()["result"]
    assert {r["comment"] for r in russian} == {"Срок бонусов истёк", "Подарок ко дню рождения"}


@pytest.mark.parametrize(
    ("role", "accounts", "kinds"),
    [
        ("reception", ["Депозит"], ["Пополнение"]),
        (
            "manager",
            ["Депозит", "Бонусы"],
            ["Пополнение", "Возврат на счёт", "Списание", "Начисление", "Остаток на начало учёта"],
        ),
    ],
)
def test_the_accounts_form_offers_what_the_role_may_do(ctx, login_as, role, accounts, kinds):
    """The front desk was offered «Списание» and the bonus account's «Начисление», each
    refused only at «Сохранить» («Изменять остаток счёта может только управляющий»)."""
    customer = factories.customer(ctx)
    page = (
        login_as(role).get(f"/accountoperationview/add?_flt_0_customer={customer.id}").get_data(as_text=True)
    )
    for name, expected in (("account", accounts), ("kind", kinds)):
        select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)[1]
        assert re.findall(r">([^<]+)</option>", select) == expected, name
