"""The rules of order items, returns, reviews and the catalogue, refusal by refusal:
each names its field with its own Russian words (422) and stores nothing.

Mutation testing (``make mutation MUTATE=app/orders.py``) showed the property tests
accept any Russian message on any field: a rule's text in capitals, or its error moved
to a field the form does not have (so that the page showed it nowhere), survived."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from app.models import CatalogItem, Customer, OrderItem, Return, Review
from tests import factories
from tests.html_forms import form_fields


def field_errors(html: str) -> dict[str, str]:
    """Each form row's field (its ``name``) and the error shown under it."""
    found = {}
    for row in html.split("<tr>")[1:]:
        name = re.search(r'\bname="([^"]+)"', row)
        alert = re.search(r'<div class="alert alert-danger"[^>]*>\s*(.*?)\s*</div>', row, re.S)
        if name and alert:
            found[name.group(1)] = alert.group(1).strip()
    return found


def snapshot(ctx):
    ctx.expire_all()
    return {m.__name__: ctx.query(m).count() for m in (OrderItem, Return, Review, CatalogItem)}


@pytest.fixture
def world(ctx):
    customer = factories.customer(ctx, discount=Decimal("10"))
    order = factories.order(ctx, customer=customer, paid="1000")
    return {"customer": customer.id, "order": order.id, "item": factories.catalog_item(ctx).id}


CASES = [
    # view, what is typed over the form's own values, field, message
    ("orderitemview", {"catalog_item": "__None"}, "catalog_item", "Выберите услугу или товар."),
    ("orderitemview", {"price": "-1"}, "price", "Цена не может быть отрицательной."),
    ("catalogitemview", {"name": "Массаж", "price": "-0,01"}, "price", "Цена не может быть отрицательной."),
    ("returnview", {"order": ""}, "order", "Выберите заказ."),  # the form's own check answers first
    ("returnview", {"amount": "0"}, "amount", "Сумма возврата должна быть больше нуля."),
    (
        "returnview",
        {"amount": "1000,01"},
        "amount",
        "Сумма возврата больше оплаченной по заказу: доступно к возврату 1\xa0000,00\xa0₽.",
    ),
    ("orderitemview", {"quantity": "10000"}, "quantity", "Количество — не больше 9\xa0999."),
    ("returnview", {"reason": "   "}, "reason", "Заполните это поле."),
    ("reviewview", {"rating": "6"}, "rating", "Оценка должна быть от 1 до 5."),
]


@pytest.mark.parametrize("view, typed, field, message", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_each_refusal_names_its_field_in_russian_and_stores_nothing(
    ctx, login_as, world, view, typed, field, message
):
    client = login_as("manager")
    data = form_fields(client.get(f"/{view}/add").get_data(as_text=True))
    data.update(
        {
            "order": str(world["order"]),
            "customer": str(world["customer"]),
            "catalog_item": str(world["item"]),
            "quantity": "1",
            "amount": "100",
            "reason": "Не подошло",
            "rating": "5",
        }
    )
    data = {
        k: v for k, v in data.items() if k in form_fields(client.get(f"/{view}/add").get_data(as_text=True))
    }
    before = snapshot(ctx)
    data.update(typed)
    refused = client.post(f"/{view}/add", data=data)
    assert refused.status_code == 422
    assert field_errors(refused.get_data(as_text=True)) == {field: message}
    assert snapshot(ctx) == before


def test_an_item_edited_keeps_the_discount_it_was_sold_at(ctx, login_as, world):
    """A new item takes the customer's discount; editing it later (the quantity) keeps
    the discount it was sold at, even after the customer's own discount changed."""
    client = login_as("manager")
    added = client.post(
        "/orderitemview/add",
        data={
            "order": str(world["order"]),
            "catalog_item": str(world["item"]),
            "quantity": "1",
            "price": "1000",
        },
    )
    assert added.status_code == 302
    ctx.expire_all()
    item = ctx.query(OrderItem).filter_by(price=Decimal("1000")).one()
    assert item.discount == Decimal("10")
    ctx.get(Customer, world["customer"]).discount = Decimal("5")
    ctx.commit()
    edited = client.post(
        f"/orderitemview/edit/{item.id}",
        data={
            "order": str(world["order"]),
            "catalog_item": str(world["item"]),
            "quantity": "2",
            "price": "1000",
        },
    )
    assert edited.status_code == 302
    ctx.expire_all()
    item = ctx.get(OrderItem, item.id)
    assert (item.quantity, item.discount, item.amount) == (2, Decimal("10"), Decimal("1800.00"))


def test_a_paid_order_given_one_more_item_owes_again(ctx, login_as):
    """The order's payment status follows its total: a paid order with an item added
    is paid in part (what it owes is the new item)."""
    from app.models import Order

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer=customer, paid="1500")
    assert order.payment_status.value == "paid"
    client = login_as("manager")
    added = client.post(
        "/orderitemview/add",
        data={"order": str(order.id), "catalog_item": str(factories.catalog_item(ctx).id), "quantity": "1"},
    )
    assert added.status_code == 302
    ctx.expire_all()
    order = ctx.get(Order, order.id)
    assert (order.total, order.paid, order.payment_status.value) == (
        Decimal("3000.00"),
        Decimal("1500.00"),
        "partial",
    )


def test_a_finished_return_says_so_when_its_status_is_changed(ctx, login_as, world):
    """A refused return cannot move on; the message names the status it is in."""
    client = login_as("manager")
    asked = {"order": str(world["order"]), "amount": "100", "reason": "Не подошло"}
    assert client.post("/returnview/add", data=asked).status_code == 302
    ret = ctx.query(Return).one()
    assert client.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "rejected"}).status_code == 302
    refused = client.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"})
    assert refused.status_code == 422
    assert field_errors(refused.get_data(as_text=True)) == {
        "status": "Возврат в статусе «Отклонён» уже завершён."
    }
    ctx.expire_all()
    assert ctx.get(Return, ret.id).status.value == "rejected"


def test_a_manual_discount_on_the_item_screen_is_the_managers_right(ctx, login_as, world):
    """The item screen's «Скидка вручную, %» is shown to the manager (access.DISCOUNT) and
    applied; the receptionist does not see the field, and a value posted for it anyway is
    refused in Russian, storing nothing; a bad percentage is refused on its field."""
    base = {
        "order": str(world["order"]),
        "catalog_item": str(world["item"]),
        "quantity": "1",
        "price": "1000",
    }
    before = snapshot(ctx)
    client = login_as("reception")
    assert 'name="manual_discount"' not in client.get("/orderitemview/add").get_data(as_text=True)
    refused = client.post("/orderitemview/add", data={**base, "manual_discount": "50"})
    assert refused.status_code in (403, 422)
    assert "Скидку вручную может дать только управляющий." in refused.get_data(as_text=True)
    assert snapshot(ctx) == before
    # without a discount typed the receptionist's item takes the customer's 10 %
    assert client.post("/orderitemview/add", data=base).status_code == 302
    client = login_as("manager")
    assert 'name="manual_discount"' in client.get("/orderitemview/add").get_data(as_text=True)
    bad = client.post("/orderitemview/add", data={**base, "price": "2000", "manual_discount": "150"})
    assert bad.status_code == 422
    assert field_errors(bad.get_data(as_text=True)) == {"manual_discount": "Скидка — от 0 до 100 процентов."}
    added = client.post("/orderitemview/add", data={**base, "price": "2000", "manual_discount": "25"})
    assert added.status_code == 302
    ctx.expire_all()
    by_price = {i.price: (i.discount, i.amount) for i in ctx.query(OrderItem).filter(OrderItem.price >= 1000)}
    assert by_price[Decimal("1000.00")] == (Decimal("10.00"), Decimal("900.00"))
    assert by_price[Decimal("2000.00")] == (Decimal("25.00"), Decimal("1500.00"))
    # editing: the receptionist may not change the discount by hand, the manager may
    item = ctx.query(OrderItem).filter_by(price=Decimal("1000")).one()
    edit = f"/orderitemview/edit/{item.id}"
    assert login_as("reception").post(edit, data={**base, "manual_discount": "0"}).status_code in (403, 422)
    ctx.expire_all()
    assert ctx.get(OrderItem, item.id).discount == Decimal("10.00")
    assert login_as("manager").post(edit, data={**base, "manual_discount": "0"}).status_code == 302
    ctx.expire_all()
    assert ctx.get(OrderItem, item.id).discount == Decimal("0.00")
