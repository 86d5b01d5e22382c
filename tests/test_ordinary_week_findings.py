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


def test_a_marketing_message_refused_for_want_of_consent_reads_in_the_readers_language(app, ctx, login_as):
    """A manager working in English read «Клиент не давал согласия на такие сообщения»
    in the messages list beside «The customer opted out of such messages»: the reason a
    marketing message without consent was cancelled was stored but not shown translated."""
    from flask_babel import force_locale

    from app import notifications
    from app.models import Message, MessageStatus

    customer = factories.customer(ctx, last_name="Ёлкина", first_name="Алёна")
    manager = login_as("manager")
    manager.get("/lang/en")
    try:
        sent = manager.post(
            f"/customerview/{customer.id}/message",
            data={"channel": "sms", "message_type": "marketing", "text": "Скидка 20% на пилинг"},
        )
        assert sent.status_code == 302
        stored = ctx.query(Message).filter_by(customer_id=customer.id, message_type="marketing").one()
        with app.test_request_context(), force_locale("en"):  # an English user's request sends it
            notifications.deliver(ctx, stored.id)
        ctx.expire_all()
        stored = ctx.get(Message, stored.id)
        assert stored.status == MessageStatus.CANCELLED
        assert stored.last_error == "Клиент не давал согласия на такие сообщения"
        for url in (
            "/messageview/list/",
            f"/messageview/show/{stored.id}",
            f"/customerview/show/{customer.id}",
        ):
            english = page_text(manager.get(url))
            assert "The customer has not consented to such messages" in english, url
            assert "Клиент не давал согласия" not in english, url
    finally:
        manager.get("/lang/ru")
    assert "Клиент не давал согласия на такие сообщения" in page_text(manager.get("/messageview/list/"))
