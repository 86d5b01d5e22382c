"""What a salon's and a clinic's ordinary week in a Russian browser found wrong, each
test one finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest

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


def test_one_visit_of_a_subscription_pays_for_one_service_not_for_all_booked(ctx, login_as):
    """Two back massages booked in one order (quantity 2, 4 750,00 ₽) were paid in full by
    «Сертификатом» with the subscription «5 массажей спины»: one visit was written off for
    two massages. Now a visit pays for one (2 375,00 ₽), the second is another visit."""
    from app import certificates
    from app.models import Certificate, CertificateKind, CertificateType, PaymentMethod

    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx, last_name="Ёлкина-Соколова", first_name="Алёна", discount=Decimal("5"))
    course = CertificateKind(
        name="Абонемент: 5 массажей спины",
        type=CertificateType.VISITS,
        price=Decimal("11000"),
        visits=5,
        valid_days=90,
        active=True,
        services=[massage],
    )
    ctx.add(course)
    ctx.commit()
    subscription = certificates.sell(
        ctx, Certificate(customer=customer, kind=course, method=PaymentMethod.CARD), may_sell=True
    )
    ctx.commit()
    two = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 2), ("Крем", "500.00", 1)))
    assert two.total == Decimal("5225.00")  # 2 × 2 375,00 + 475,00
    reception = login_as("reception")

    def pay(amount):
        return reception.post(
            f"/paymentview/add?_flt_0_order={two.id}",
            data={"amount": amount, "method": "certificate", "certificate_code": subscription.code},
        )

    refused = pay("4 750,00")
    assert refused.status_code == 422
    assert f"Абонемент №{subscription.code} оплачивает один визит за раз: не больше 2 375,00 ₽." in page_text(
        refused
    )
    ctx.expire_all()
    assert ctx.get(Certificate, subscription.id).visits_left == 5
    assert ctx.query(Payment).count() == 0
    for _ in range(2):
        assert pay("2 375,00").status_code == 302
    # both massages paid: the cream is not a visit of the subscription
    third = pay("475,00")
    assert third.status_code == 422
    assert "Услуги абонемента «Абонемент: 5 массажей спины» в этом заказе уже оплачены." in page_text(third)
    ctx.expire_all()
    assert ctx.get(Certificate, subscription.id).visits_left == 3
    order = ctx.get(Order, two.id)
    assert (order.paid, order.debt) == (Decimal("4750.00"), Decimal("475.00"))


def test_a_return_larger_than_the_subscriptions_visit_does_not_swallow_the_cash(ctx, login_as):
    """A visit paid by a subscription (2 375,00 ₽) and a cream paid in cash (1 225,98 ₽):
    the full return (3 600,98 ₽) was written as one refund «Сертификатом», the visit went
    back to the subscription and the cash never came back to the customer. Then such a
    return was refused, asking for two returns. Now the full return gives the visit back
    to the subscription and the cash in cash, two refunds of one return; a part larger
    than the visit's is refused in Russian."""
    from app import certificates
    from app.models import (
        Certificate,
        CertificateKind,
        CertificateType,
        PaymentMethod,
        Return,
        ReturnStatus,
    )

    massage = factories.catalog_item(ctx, "Массаж спины", "2375.00")
    customer = factories.customer(ctx, last_name="Ёлкина-Соколова", first_name="Алёна")
    course = CertificateKind(
        name="Абонемент: 5 массажей спины",
        type=CertificateType.VISITS,
        price=Decimal("11000"),
        visits=5,
        valid_days=90,
        active=True,
        services=[massage],
    )
    ctx.add(course)
    ctx.commit()
    subscription = certificates.sell(
        ctx, Certificate(customer=customer, kind=course, method=PaymentMethod.CARD), may_sell=True
    )
    ctx.commit()
    order = factories.order(ctx, customer, items=(("Массаж спины", "2375.00", 1), ("Крем", "1225.98", 1)))
    from app import payments

    payments.take_payment(ctx, order, "2375", PaymentMethod.CERTIFICATE, certificate=subscription)
    payments.take_payment(ctx, order, "1225.98", PaymentMethod.CASH)
    ctx.commit()
    ctx.expire_all()
    assert ctx.get(Certificate, subscription.id).visits_left == 4
    manager = login_as("manager")

    def refund(amount, reason):
        asked = {"order": str(order.id), "amount": amount, "reason": reason}
        assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
        ret = ctx.query(Return).order_by(Return.id.desc()).first()
        assert (
            manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"}).status_code
            == 302
        )
        return ret, manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "refunded"})

    whole, refused = refund("3000", "Визит не состоялся, крем вернули")
    assert refused.status_code == 422
    assert (
        f"Абонементом №{subscription.code} по заказу оплачено 2 375,00 ₽: возврат визита на абонемент — "
        "не больше этой суммы. Верните всё, что оплачено по заказу (3 600,98 ₽), и каждая часть вернётся "
        "своим способом, или визит и остальное — двумя возвратами." in page_text(refused)
    )
    ctx.expire_all()
    assert ctx.get(Return, whole.id).status == ReturnStatus.APPROVED
    assert ctx.query(Payment).filter(Payment.amount < 0).count() == 0
    assert ctx.get(Certificate, subscription.id).visits_left == 4
    # the manager returns all that was paid: the visit to the subscription, the cream in cash
    everything = {"order": str(order.id), "amount": "3600,98", "reason": "Визит не состоялся, крем вернули"}
    for status in ("approved", "refunded"):
        assert (
            manager.post(f"/returnview/edit/{whole.id}", data={**everything, "status": status}).status_code
            == 302
        )
    from app.models import Message, MessageType

    (told,) = [m.body for m in ctx.query(Message).filter_by(message_type=MessageType.RETURN_STATUS)]
    assert f"Вам вернули 1 225,98 ₽ наличными и визит на ваш абонемент №{subscription.code}" in told.replace(
        "\xa0", " "
    )
    ctx.expire_all()
    refunds = {(p.method, p.amount) for p in ctx.query(Payment).filter(Payment.amount < 0)}
    assert refunds == {
        (PaymentMethod.CERTIFICATE, Decimal("-2375.00")),
        (PaymentMethod.CASH, Decimal("-1225.98")),
    }
    assert ctx.get(Certificate, subscription.id).visits_left == 5
    order = ctx.get(Order, order.id)
    assert (order.paid, order.refunded, order.debt) == (Decimal("0.00"), Decimal("3600.98"), Decimal("0.00"))


def test_a_full_return_of_two_visits_gives_both_back_to_the_subscription(ctx, login_as):
    """Two back massages paid by two visits of «5 массажей спины» and returned in full
    (4 750,00 ₽) gave one visit back: the subscription read «4 визита из 5» and the
    customer was told «Визит возвращён». Now both come back and the message says so."""
    from app import certificates, payments
    from app.models import Certificate, CertificateKind, CertificateType, Message, PaymentMethod, Return

    massage = factories.catalog_item(ctx, "Массаж спины", "2375.00")
    customer = factories.customer(ctx, last_name="Ёлкина-Соколова", first_name="Алёна")
    course = CertificateKind(
        name="Абонемент: 5 массажей спины",
        type=CertificateType.VISITS,
        price=Decimal("11000"),
        visits=5,
        valid_days=90,
        active=True,
        services=[massage],
    )
    ctx.add(course)
    ctx.commit()
    subscription = certificates.sell(
        ctx, Certificate(customer=customer, kind=course, method=PaymentMethod.CARD), may_sell=True
    )
    ctx.commit()
    two = factories.order(ctx, customer, items=(("Массаж спины", "2375.00", 2),))
    for _ in range(2):
        payments.take_payment(ctx, two, "2375", PaymentMethod.CERTIFICATE, certificate=subscription)
        ctx.commit()
    ctx.expire_all()
    assert ctx.get(Certificate, subscription.id).visits_left == 3
    manager = login_as("manager")
    asked = {"order": str(two.id), "amount": "4 750,00", "reason": "Массажист заболел"}
    assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).one()
    manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"})
    done = manager.post(
        f"/returnview/edit/{ret.id}", data={**asked, "status": "refunded"}, follow_redirects=True
    )
    assert (
        f"По возврату на абонемент №{subscription.code} клиента возвращено визитов: 2, заказ №{two.id}."
        in page_text(done)
    )
    ctx.expire_all()
    assert ctx.get(Certificate, subscription.id).visits_left == 5
    assert certificates.left_of(ctx, subscription.id)[1] == 5
    told = ctx.query(Message).filter_by(message_type="return_status").first()
    assert f"На ваш абонемент №{subscription.code} возвращено визитов: 2" in told.body


def test_a_reminder_cancelled_because_the_visit_took_place_says_so(ctx, login_as):
    """A visit marked «Выполнен» cancelled its reminder with «Визит перенесён или отменён»:
    the receptionist reading the messages tab took it for a moved visit."""
    import datetime as dt

    from app.models import Message, MessageStatus, MessageType, OrderStatus

    customer = factories.customer(ctx, last_name="Ёлкина-Соколова", first_name="Алёна")
    visit_at = (dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=3)).replace(microsecond=0)
    order = factories.order(ctx, customer, items=(("Пилинг", "4200.00", 1),), visit_at=visit_at)
    reminders = ctx.query(Message).filter_by(order_id=order.id, message_type=MessageType.VISIT_REMINDER)
    assert {m.status for m in reminders} == {MessageStatus.QUEUED}
    reception = login_as("reception")
    form = {"customer": str(customer.id), "kind": "visit", "status": OrderStatus.COMPLETED.value}
    form["visit_at"] = visit_at.strftime("%Y-%m-%d %H:%M:%S")
    assert reception.post(f"/orderview/edit/{order.id}", data=form).status_code == 302
    ctx.expire_all()
    assert {(m.status, m.last_error) for m in reminders} == {(MessageStatus.CANCELLED, "Визит уже состоялся")}
    card = page_text(reception.get(f"/customerview/show/{customer.id}"))
    assert "Визит уже состоялся" in card and "Визит перенесён или отменён" not in card
    manager = login_as("manager")
    manager.get("/lang/en")
    try:
        assert "The visit has already taken place" in page_text(manager.get("/messageview/list/"))
    finally:
        manager.get("/lang/ru")


@pytest.mark.parametrize("typed", ["1e5", "1E3", "2,5e2"])
def test_an_amount_in_exponent_notation_is_refused_not_multiplied(ctx, login_as, typed):
    """«1e5» typed as a deposit's top-up was read as 100 000,00 ₽ and saved with
    «Депозит … пополнен на 100 000,00 ₽»; now it is refused as any other non-number."""
    from app.models import AccountOperation, Customer

    customer = factories.customer(ctx, last_name="Ёлкина", first_name="Алёна")
    refused = login_as("reception").post(
        f"/accountoperationtab/add?_flt_0_customer={customer.id}",
        data={"account": "deposit", "kind": "top_up", "amount": typed},
    )
    assert refused.status_code == 422
    assert "Введите число, например 1500,50." in page_text(refused)
    ctx.expire_all()
    assert ctx.query(AccountOperation).count() == 0
    assert ctx.get(Customer, customer.id).deposit_balance == Decimal("0.00")


def test_a_message_to_a_selection_says_whom_it_will_not_reach(ctx, login_as):
    """«Отправить сообщение» to two customers of the list said «2 сообщения поставлены в
    очередь», while one of them had withdrawn the consent to notifications and was never
    sent it (the card's own form said so, the list's did not)."""
    from app.models import Message, MessageStatus

    alena = factories.customer(ctx, last_name="Ёлкина-Соколова", first_name="Алёна")
    romashka = factories.customer(ctx, last_name="Ромашкина", first_name="Ольга", phone="+79160000001")
    manager = login_as("manager")
    withdrawn = manager.post(
        f"/customerview/{romashka.id}/consents", data={"purpose": "notifications", "decision": "withdraw"}
    )
    assert withdrawn.status_code == 302
    sent = manager.post(
        f"/customerview/message?ids={alena.id},{romashka.id}",
        data={"channel": "sms", "message_type": "manual", "text": "Клиника закрыта 31.12.2026"},
        follow_redirects=True,
    )
    shown = page_text(sent)
    assert "2 сообщения поставлены в очередь." in shown
    assert (
        "Клиенту Ромашкина Ольга Сергеевна сообщение не будет отправлено: Клиент отказался от таких сообщений."
        in shown
    )
    assert "Клиенту Ёлкина-Соколова" not in shown
    assert ctx.query(Message).filter_by(message_type="manual", status=MessageStatus.QUEUED).count() == 2


def test_a_text_typed_for_a_template_that_ignores_it_is_refused_not_dropped(ctx, login_as):
    """The receptionist chose «Приветствие», typed «Здравствуйте! Ваш договор готов.» and
    read «Сообщение поставлено в очередь»: the customer got the welcome template and
    the typed text went nowhere. Now the form says so (422) and queues nothing."""
    from app.models import Message

    customer = factories.customer(ctx, last_name="Ромашкина", first_name="Ольга")
    before = ctx.query(Message).count()
    reception = login_as("reception")
    typed = {"channel": "sms", "message_type": "welcome", "text": "Здравствуйте! Ваш договор готов."}
    for url in (f"/customerview/{customer.id}/message", f"/customerview/message?ids={customer.id}"):
        refused = reception.post(url, data=typed)
        assert refused.status_code == 422, url
        assert (
            "Шаблон «Приветствие» не вставляет в сообщение введённый текст: очистите поле "
            "или выберите шаблон «Сообщение сотрудника»." in page_text(refused)
        ), url
    assert ctx.query(Message).count() == before
    # left blank, the welcome goes; a staff message carries the text
    assert (
        reception.post(f"/customerview/{customer.id}/message", data={**typed, "text": ""}).status_code == 302
    )
    assert (
        reception.post(
            f"/customerview/{customer.id}/message", data={**typed, "message_type": "manual"}
        ).status_code
        == 302
    )
    bodies = [m.body for m in ctx.query(Message).filter(Message.id > before)]
    assert "Здравствуйте! Ваш договор готов." in bodies and len(bodies) == 2
