"""Small builders for test data, written through the domain rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app import orders as order_rules
from app.customers import prepare_customer
from app.extensions import db
from app.models import Branch, CatalogItem, Customer, CustomerStatus, Order, OrderKind


def customer(session=None, **fields) -> Customer:
    session = session or db.session
    values = {
        "last_name": "Иванова",
        "first_name": "Анна",
        "middle_name": "Сергеевна",
        "phone": "+79161234567",
    }
    values.update(fields)
    values.setdefault("status", CustomerStatus.ACTIVE)
    c = Customer(**values)
    prepare_customer(session, c)
    session.add(c)
    session.commit()
    return c


def catalog_item(session=None, name="Консультация", price="1500.00") -> CatalogItem:
    session = session or db.session
    item = session.query(CatalogItem).filter_by(name=name).one_or_none()
    if item is None:
        item = CatalogItem(name=name, price=Decimal(price))
        session.add(item)
        session.commit()
    return item


def branch(session=None, name="Центральный") -> Branch:
    session = session or db.session
    b = session.query(Branch).filter_by(name=name).one_or_none()
    if b is None:
        b = Branch(name=name)
        session.add(b)
        session.commit()
    return b


def order(
    session=None,
    customer=None,
    items=(("Консультация", "1500.00", 1),),
    paid="0",
    specialist_id=None,
    **fields,
) -> Order:
    session = session or db.session
    fields.setdefault("visit_at", dt.datetime(2026, 11, 20, 9, 0))
    o = Order(customer=customer, kind=OrderKind.VISIT, specialist_id=specialist_id, **fields)
    for name, price, qty in items:
        order_rules.add_item(o, catalog_item(session, name, price), qty)
    order_rules.prepare_order(session, o, is_new=True)
    session.add(o)
    session.commit()
    if Decimal(paid) > 0:  # «Оплачено» is the sum of the order's payments
        from app import payments
        from app.models import PaymentMethod

        payments.take_payment(session, o, Decimal(paid), PaymentMethod.CASH)
        session.commit()
    return o


def refunded_return(session, client, customer: Customer, asked: dict):
    """The customer's only return, asked for on the screen (the card's «Добавить») and
    taken through «Одобрен» to «Деньги возвращены», as the manager does."""
    from app.models import Return

    assert client.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = session.query(Return).one()
    for status in ("approved", "refunded"):
        response = client.post(f"/returnview/edit/{ret.id}", data={**asked, "status": status})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return ret
