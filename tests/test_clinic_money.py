"""What a clinic's tester found wrong with the customer's money after issue 18: each
test is one finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest

from app import payments
from app.models import Order, Return
from tests import factories


def page_text(response) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def refund_through_the_screen(client, ret, order_id):
    form = {"order": str(order_id), "amount": str(ret.amount), "reason": ret.reason}
    for status in ("approved", "refunded"):
        response = client.post(f"/returnview/edit/{ret.id}", data={**form, "status": status})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def test_a_refunded_return_does_not_bring_the_debt_back(ctx, login_as):
    customer = factories.customer(ctx, last_name="Вернувшая", first_name="Анна")
    order = factories.order(ctx, customer, items=(("Пилинг", "2250.00", 1),), paid="2250")
    ret = Return(customer=customer, order=order, amount=Decimal("600"), reason="Процедура сокращена")
    ctx.add(ret)
    ctx.commit()
    manager = login_as("manager")
    refund_through_the_screen(manager, ret, order.id)
    ctx.expire_all()
    order = ctx.get(Order, order.id)
    assert (order.total, order.paid, order.refunded, order.debt, order.payment_status.value) == (
        Decimal("2250.00"),
        Decimal("1650.00"),
        Decimal("600.00"),
        Decimal("0.00"),
        "partly_refunded",
    )
    card = manager.get(f"/customerview/show/{customer.id}")
    shown = page_text(card)
    assert "Долг 0,00 ₽" in shown and "Сумма заказов 1 650,00 ₽" in shown
    assert "kpi-has-debt" not in card.get_data(as_text=True)
    card_html = card.get_data(as_text=True)
    assert "kartoteka-owes" not in card_html and "Принять оплату" not in shown
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", card_html, re.S) if "Пилинг" in r)
    assert "Оплачен частично" not in row and "Оплачен, часть возвращена" in row
    # not among those who owe; «Сумма покупок» is what they paid, the refund taken off
    owing = page_text(manager.get("/customerview/list/?owing=1"))
    assert "Вернувшая" not in owing
    # a further payment is refused: nothing is owed
    reception = login_as("reception")
    refused = reception.post(
        "/paymentview/add", data={"order": str(order.id), "amount": "100", "method": "cash"}
    )
    assert refused.status_code == 422 and "уже оплачен полностью" in page_text(refused)
    assert payments.paid_of(ctx, order.id) == Decimal("1650.00")


def test_a_refund_takes_back_the_bonuses_earned_on_the_money_refunded(ctx, login_as):
    from app.models import Account, AccountOperation, Customer, CustomerCategory, OperationKind

    vip = CustomerCategory(name="VIP", discount=Decimal("0"), bonus_percent=Decimal("5"))
    ctx.add(vip)
    ctx.commit()
    customer = factories.customer(ctx, category_id=vip.id)
    order = factories.order(ctx, customer, items=(("Пилинг", "2250.00", 1),), paid="2250")  # 112,50 bonuses
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).bonus_balance == Decimal("112.50")
    ret = Return(customer=customer, order=order, amount=Decimal("600"), reason="Процедура сокращена")
    ctx.add(ret)
    ctx.commit()
    refund_through_the_screen(login_as("manager"), ret, order.id)
    ctx.expire_all()
    # 600 of 2 250 refunded: 5 % of it, 30,00, written off with the refund
    written = ctx.query(AccountOperation).filter_by(kind=OperationKind.WRITE_OFF).one()
    assert (written.account, written.amount, written.payment.return_id) == (
        Account.BONUS,
        Decimal("-30.00"),
        ret.id,
    )
    assert ctx.get(Customer, customer.id).bonus_balance == Decimal("82.50")
    assert payments.balance_of(ctx, customer.id, Account.BONUS) == Decimal("82.50")
    # spent meanwhile: a second refund takes back no more than is left
    payments.take_payment(ctx, factories.order(ctx, customer, items=(("Крем", "80.00", 1),)), "80", "bonus")
    ctx.commit()
    second = Return(customer=customer, order=ctx.get(Order, order.id), amount=Decimal("1650"), reason="Всё")
    ctx.add(second)
    ctx.commit()
    refund_through_the_screen(login_as("manager"), second, order.id)
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).bonus_balance == Decimal("0.00")
    assert payments.balance_of(ctx, customer.id, Account.BONUS) == Decimal("0.00")


def test_a_paid_order_is_not_cancelled_before_its_payment_is_returned(ctx, login_as):
    from app.models import Message, OrderStatus

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Пилинг", "2250.00", 1),), paid="100")
    ctx.commit()
    messages = ctx.query(Message).count()
    manager = login_as("manager")
    form = {"customer": str(customer.id), "kind": "visit", "status": "cancelled"}
    for url in (f"/orderview/edit/{order.id}", f"/ordertab/edit/{order.id}"):
        refused = manager.post(url, data=form)
        assert refused.status_code == 422, url
        # 100 of 2 250: «Заказ оплачен (100,00 ₽)» read as paid in full
        assert "По заказу внесено 100,00 ₽: отменить его можно, только когда оплата возвращена" in page_text(
            refused
        )
    api = manager.put(f"/api/v1/orders/{order.id}", json={"status": "cancelled"})
    assert api.status_code == 422 and "оплата возвращена" in str(api.get_json())
    ctx.expire_all()
    assert ctx.get(Order, order.id).status == OrderStatus.NEW and ctx.query(Message).count() == messages
    # returned in full, it is cancelled
    ret = Return(
        customer=customer, order=ctx.get(Order, order.id), amount=Decimal("100"), reason="Передумала"
    )
    ctx.add(ret)
    ctx.commit()
    refund_through_the_screen(manager, ret, order.id)
    assert manager.post(f"/orderview/edit/{order.id}", data=form).status_code == 302
    ctx.expire_all()
    assert ctx.get(Order, order.id).status == OrderStatus.CANCELLED


def test_a_payment_is_not_dated_before_its_order_or_in_the_future(ctx, login_as):
    import datetime as dt

    from app.models import Payment

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Пилинг", "2250.00", 1),))
    order.created_on = dt.datetime(2026, 11, 20, 9, 0)
    ctx.commit()
    reception = login_as("reception")
    form = {"order": str(order.id), "amount": "100", "method": "cash"}
    for when, said in (
        ("19.11.2026 18:00", "«Когда»: оплата не может быть раньше дня оформления заказа (20.11.2026)."),
        ("01.01.2100 10:00", "«Когда»: оплата не может быть принята в будущем."),
    ):
        refused = reception.post("/paymentview/add", data={**form, "paid_at": when})
        assert refused.status_code == 422 and said in page_text(refused), when
    assert ctx.query(Payment).count() == 0
    done = reception.post("/paymentview/add", data={**form, "paid_at": "20.11.2026 08:00"})
    assert done.status_code == 302
    assert ctx.query(Payment).one().amount == Decimal("100.00")


def test_a_refused_reversal_names_the_returns_and_how_much_may_be_reversed(ctx, login_as):
    import pytest

    from app.errors import ValidationFailed
    from app.models import PaymentMethod

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Пилинг", "1000.00", 1),))
    cash = payments.take_payment(ctx, order, "450", PaymentMethod.CASH)
    payments.take_payment(ctx, order, "550", PaymentMethod.CARD)
    ctx.commit()
    ret = Return(customer=customer, order=order, amount=Decimal("600"), reason="Сокращено")
    ctx.add(ret)
    ctx.commit()
    refund_through_the_screen(login_as("manager"), ret, order.id)
    waiting = Return(customer=customer, order=ctx.get(Order, order.id), amount=Decimal("100"), reason="Ещё")
    ctx.add(waiting)
    ctx.commit()
    with pytest.raises(ValidationFailed) as refused:
        payments.reverse_payment(ctx, ctx.get(type(cash), cash.id), "Ошибка кассира")
    said = str(refused.value.errors[None]).replace("\xa0", " ")
    assert said == (
        f"Сторно невозможно: по заказу №{order.id} оплачено 400,00 ₽, уже возвращено 600,00 ₽ "
        f"по возврату №{ret.id}; ждёт возврата 100,00 ₽ по возврату №{waiting.id}; "
        "сторнировать можно не больше 300,00 ₽."
    )


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_refund_message_names_the_amount_and_where_it_went(ctx, login_as, language):
    """In the customer's language whatever the manager's: refunded by a manager working in
    English, a Russian customer's SMS read «Money refunded: RUB 600.00…»."""
    from app.models import Message

    customer = factories.customer(ctx, first_name="Анна")
    order = factories.order(ctx, customer, items=(("Пилинг", "2250.00", 1),), paid="2250")
    ret = Return(customer=customer, order=order, amount=Decimal("600"), reason="Сокращено")
    ctx.add(ret)
    ctx.commit()
    manager = login_as("manager")
    manager.get(f"/lang/{language}")
    try:
        refund_through_the_screen(manager, ret, order.id)
    finally:
        manager.get("/lang/ru")
    ctx.expire_all()
    bodies = [m.body.replace("\xa0", " ") for m in ctx.query(Message).filter_by(customer_id=customer.id)]
    said = f"Анна, возврат по заказу №{order.id}: Вам вернули 600,00 ₽ наличными."
    assert said in bodies, bodies


def test_the_transfer_picker_does_not_offer_the_customer_themself(ctx, login_as):
    source = factories.customer(ctx, last_name="Перевозова", first_name="Анна", phone="+79165550101")
    relative = factories.customer(ctx, last_name="Перевозова", first_name="Дочь", phone="+79165550102")
    manager = login_as("manager")
    form = manager.get(f"/accountoperationview/transfer/{source.id}").get_data(as_text=True)
    url = html.unescape(re.search(r"data-lookup='([^']*)'", form)[1])
    lookup = re.search(r'"url": "([^"]+)"', url)[1].replace("\\u0026", "&")
    found = manager.get(lookup + ("&" if "?" in lookup else "?") + "q=Перевозова").get_json()["results"]
    assert [r["id"] for r in found] == [relative.id]


def test_the_card_reopens_on_the_tab_the_money_form_was_opened_from(ctx, login_as):
    customer = factories.customer(ctx)
    factories.order(ctx, customer, items=(("Пилинг", "2250.00", 1),))
    reception = login_as("reception")
    card = f"/customerview/show/{customer.id}"
    shown = reception.get(card).get_data(as_text=True)
    pay = html.unescape(re.search(r'class="btn btn-xs btn-success kartoteka-pay" href="([^"]+)"', shown)[1])
    reception.get(pay)
    paid = reception.post(pay, data={"amount": "100", "method": "cash"})
    assert paid.status_code == 302 and paid.headers["Location"].endswith(f"{card}#orders")
    reception.get(card)
    top_up = f"/accountoperationview/add?_flt_0_customer={customer.id}"
    reception.get(top_up)
    done = reception.post(
        top_up, data={"customer": str(customer.id), "account": "deposit", "kind": "top_up", "amount": "500"}
    )
    assert done.status_code == 302 and done.headers["Location"].endswith(f"{card}#accounts")


def test_an_erasure_shows_the_money_and_waits_for_the_deposit_to_be_returned(ctx, login_as):
    from app.models import Account, Customer, OperationKind, SubjectRequest

    customer = factories.customer(ctx, last_name="Стираемая", first_name="Анна")
    factories.order(ctx, customer, items=(("Пилинг", "2250.00", 1),), paid="1250")
    manager = login_as("manager")
    top_up = {"customer": str(customer.id), "account": "deposit", "kind": "top_up", "amount": "500"}
    assert manager.post("/accountoperationview/add", data=top_up).status_code == 302
    card = page_text(manager.get(f"/customerview/show/{customer.id}"))
    assert "Деньги клиента: депозит 500,00 ₽, бонусы 0,00 ₽, долг по заказам 1 000,00 ₽." in card
    erase = f"/customerview/{customer.id}/subject/erase"
    refused = manager.post(erase, data={"basis": "Заявление от 01.12.2026", "confirm": "yes"})
    assert refused.status_code == 422
    assert "На депозите клиента 500,00 ₽: прежде чем уничтожать данные, верните" in page_text(refused)
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).last_name == "Стираемая" and ctx.query(SubjectRequest).count() == 0
    # the manager gives the deposit back through the ledger; a debt alone does not stop it
    payments._move(
        ctx, customer.id, Account.DEPOSIT, OperationKind.WRITE_OFF, Decimal("500"), comment="Выдано"
    )
    ctx.commit()
    done = manager.post(erase, data={"basis": "Заявление от 01.12.2026", "confirm": "yes"})
    assert done.status_code in (200, 302), page_text(done)[:500]
    ctx.expire_all()
    act = ctx.query(SubjectRequest).one().act.replace("\xa0", " ")
    assert "депозит 0,00 ₽, бонусы 0,00 ₽, долг по заказам 1 000,00 ₽ (заказы сохранены для учёта)" in act
    # the anonymous card offers no «Принять оплату» for the debt the accounts keep
    card = manager.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "kartoteka-pay" not in card and "Принять оплату" not in card


def test_a_deposit_top_up_says_how_much_was_put_on_and_the_balance(ctx, login_as):
    """The front desk put 5 000 ₽ on a deposit and read only «Запись добавлена»: the save says
    how much went on and what the deposit holds now; a write-off or bonuses say theirs."""
    customer = factories.customer(ctx, last_name="Вкладчица", first_name="Анна")
    reception = login_as("reception")
    add = f"/accountoperationview/add?_flt_0_customer={customer.id}"
    top_up = {"customer": str(customer.id), "account": "deposit", "kind": "top_up", "amount": "1 500,50"}
    assert reception.post(add, data=top_up).status_code == 302
    again = page_text(reception.post(add, data={**top_up, "amount": "3500"}, follow_redirects=True))
    assert (
        "Депозит клиента Вкладчица Анна Сергеевна пополнен на 3 500,00 ₽. Баланс депозита: 5 000,50 ₽."
        in again
    )
    assert "Запись добавлена" not in again
    manager = login_as("manager")
    off = {**top_up, "kind": "write_off", "amount": "1000", "comment": "Выдано наличными"}
    written = page_text(manager.post(add, data=off, follow_redirects=True))
    assert (
        "«Списание» на 1 000,00 ₽ записано на счёт «Депозит» клиента Вкладчица Анна Сергеевна. "
        "Остаток: 4 000,50 ₽." in written
    )
    bonus = {**top_up, "account": "bonus", "kind": "accrual", "amount": "300", "comment": "Акция"}
    accrued = page_text(manager.post(add, data=bonus, follow_redirects=True))
    assert (
        "«Начисление» на 300,00 ₽ записано на счёт «Бонусы» клиента Вкладчица Анна Сергеевна. Остаток: 300,00 ₽."
        in accrued
    )
