"""What a salon's and a clinic's ordinary week in a Russian browser found wrong, each
test one finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

import html
import re
from decimal import Decimal

from app.models import Order, Payment
from tests import factories


def page_text(response) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def test_a_paid_order_stays_with_the_customer_who_paid_it(ctx, login_as):
    """A receptionist who picked another customer in a paid order's «Клиент» moved the
    order (and its «Оплачено») to that card, while its payments, the deposit and the
    certificate it was paid from stayed with the first customer."""
    alena = factories.customer(ctx, last_name="Ёлкина", first_name="Алёна")
    romashka = factories.customer(ctx, last_name="Ромашкина", first_name="Ольга", phone="+79160000001")
    order = factories.order(ctx, alena, items=(("Пилинг", "4200.00", 1),), paid="4200")
    reception = login_as("reception")
    form = {"customer": str(romashka.id), "kind": "visit", "status": "new"}
    for url in (f"/orderview/edit/{order.id}", f"/ordertab/edit/{order.id}"):
        refused = reception.post(url, data=form)
        assert refused.status_code == 422, url
        assert f"По заказу №{order.id} уже есть оплаты или возвраты: клиента заказа изменить нельзя." in (
            page_text(refused)
        )
    api = login_as("manager").put(f"/api/v1/orders/{order.id}", json={"customer": romashka.id})
    assert api.status_code == 422 and "клиента заказа изменить нельзя" in str(api.get_json())
    ctx.expire_all()
    assert ctx.get(Order, order.id).customer_id == alena.id
    assert {p.customer_id for p in ctx.query(Payment)} == {alena.id}
    # an order with nothing paid may still be moved to the right card
    unpaid = factories.order(ctx, alena, items=(("Пилинг", "4200.00", 1),))
    assert reception.post(f"/orderview/edit/{unpaid.id}", data=form).status_code == 302
    ctx.expire_all()
    assert ctx.get(Order, unpaid.id).customer_id == romashka.id
    assert ctx.get(Order, unpaid.id).total == Decimal("4200.00")
