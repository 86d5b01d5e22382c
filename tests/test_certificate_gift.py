"""A certificate bought as a present is passed to the friend it was bought for
(«Передать другому клиенту») and she pays her visit with it; the buyer no longer can."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app import access, certificates, payments
from app.errors import Forbidden, ValidationFailed
from app.models import (
    Certificate,
    CertificateOperation,
    CertificateOperationKind,
    ChangeLog,
    CustomerStatus,
    Payment,
    PaymentMethod,
    utcnow,
)
from tests import factories
from tests.conftest import user_id
from tests.test_certificates import kind, plain, sold, stored


def buyer_and_friend(ctx):
    buyer = factories.customer(ctx)
    friend = factories.customer(ctx, last_name="Петрова", first_name="Мария", phone="+79035550011")
    return buyer, friend


def test_the_friend_pays_her_visit_with_the_certificate_passed_to_her(app, ctx, login_as):
    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    reception = login_as("reception")
    # offered on the certificate's page and on the card's tab
    assert "Передать другому клиенту" in plain(reception.get(f"/certificateview/show/{gift.id}"))
    card = plain(reception.get(f"/customerview/show/{buyer.id}"))
    assert f"/certificatetab/give/{gift.id}" in card
    url = f"/certificateview/give/{gift.id}"
    form = reception.get(url)
    assert form.status_code == 200
    assert "Кому передать" in plain(form) and "3 000,00 ₽" in plain(form)
    blank = reception.post(url, data={"recipient": ""})
    assert blank.status_code == 422 and "Выберите клиента." in plain(blank)
    done = reception.post(url, data={"recipient": str(friend.id), "comment": "Подарок на день рождения"})
    assert done.status_code == 302
    assert "передан клиенту Петрова Мария" in plain(reception.get(done.headers["Location"]))
    c, (money, _visits) = stored(ctx, gift.id)
    assert (c.customer_id, c.balance, money, c.valid_until) == (
        friend.id,
        Decimal("3000.00"),
        Decimal("3000.00"),
        gift.valid_until,
    )
    given = ctx.query(CertificateOperation).filter_by(kind=CertificateOperationKind.GIFT).one()
    assert (given.amount, given.visits, given.comment, given.created_by_fk) == (
        None,
        None,
        "Подарок на день рождения",
        user_id(app, "reception"),
    )
    # the buyer's card tells the manager where it went (its change history)
    history = plain(login_as("manager").get(f"/customerview/show/{buyer.id}"))
    assert "Петрова Мария Сергеевна" in history
    reception = login_as("reception")
    operations = plain(reception.get(f"/certificateview/show/{gift.id}"))
    assert "Передан другому клиенту" in operations
    # the friend's visit is paid by it: a stored payment, the balance moved
    visit = factories.order(ctx, friend, items=(("Маникюр", "2000.00", 1),))
    paid = reception.post(
        f"/paymentview/add?_flt_0_order={visit.id}",
        data={"amount": "2000", "method": "certificate", "certificate_code": gift.code},
    )
    assert paid.status_code == 302
    payment = ctx.query(Payment).one()
    assert (payment.method, payment.certificate_id, payment.amount) == (
        PaymentMethod.CERTIFICATE,
        gift.id,
        Decimal("2000.00"),
    )
    c, (money, _visits) = stored(ctx, gift.id)
    assert c.balance == money == Decimal("1000.00")
    # the buyer no longer can
    own = factories.order(ctx, buyer, items=(("Стрижка", "500.00", 1),))
    refused = reception.post(
        f"/paymentview/add?_flt_0_order={own.id}",
        data={"amount": "500", "method": "certificate", "certificate_code": gift.code},
    )
    assert refused.status_code == 422 and "принадлежит другому клиенту" in plain(refused)
    assert ctx.query(Payment).count() == 1
    # both cards show it: the friend's tab holds it, each history names the pass
    assert gift.code in plain(reception.get(f"/customerview/show/{friend.id}"))
    for customer in (buyer, friend):
        rows = ctx.query(ChangeLog).filter_by(
            customer_id=customer.id, entity="Certificate", entity_id=gift.id, field="customer"
        )
        assert [(r.old_value, r.new_value, r.user_id) for r in rows] == [
            ("Иванова Анна Сергеевна", "Петрова Мария Сергеевна", user_id(app, "reception"))
        ], customer.id


def test_a_subscription_is_passed_too_with_its_visits(ctx, login_as):
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    buyer, friend = buyer_and_friend(ctx)
    course = sold(ctx, buyer, kind(ctx, "Абонемент: 4 массажа", price="8000", visits=4, services=[massage]))
    manager = login_as("manager")
    assert (
        manager.post(f"/certificateview/give/{course.id}", data={"recipient": friend.id}).status_code == 302
    )
    c, (_money, visits) = stored(ctx, course.id)
    assert (c.customer_id, c.visits_left, visits) == (friend.id, 4, 4)
    visit = factories.order(ctx, friend, items=(("Массаж спины", "2500.00", 1),))
    payments.take_payment(ctx, visit, "2500", PaymentMethod.CERTIFICATE, certificate=c)
    ctx.commit()
    assert stored(ctx, course.id)[0].visits_left == 3


def test_a_pass_is_refused_in_russian_changing_nothing(ctx, login_as):
    buyer, friend = buyer_and_friend(ctx)
    gift_kind = kind(ctx, price="1000")
    reception = login_as("reception")

    def refused(certificate, recipient, message):
        response = reception.post(f"/certificateview/give/{certificate.id}", data={"recipient": recipient.id})
        assert response.status_code == 422, message
        assert message in plain(response), plain(response)[-3000:]
        c, _left = stored(ctx, certificate.id)
        assert c.customer_id == buyer.id
        assert ctx.query(CertificateOperation).filter_by(kind=CertificateOperationKind.GIFT).count() == 0

    gift = sold(ctx, buyer, gift_kind)
    refused(gift, buyer, "уже у этого клиента")
    blocked = factories.customer(
        ctx, last_name="Сидорова", phone="+79035550022", status=CustomerStatus.BLOCKED
    )
    refused(gift, blocked, "Клиент Сидорова Анна Сергеевна заблокирован: передать ему ничего нельзя.")
    erased = factories.customer(ctx, last_name="Козлова", phone="+79035550033", status=CustomerStatus.ERASED)
    refused(gift, erased, "Данные этого клиента уничтожены: передать ему ничего нельзя.")
    expired = sold(ctx, buyer, gift_kind, now=utcnow() - dt.timedelta(days=200))
    refused(expired, friend, "не передают")
    spent = sold(ctx, buyer, gift_kind)
    order = factories.order(ctx, buyer, items=(("Стрижка", "1000.00", 1),))
    payments.take_payment(ctx, order, "1000", PaymentMethod.CERTIFICATE, certificate=spent)
    ctx.commit()
    refused(spent, friend, "израсходован: передавать нечего")
    cancelled = sold(ctx, buyer, gift_kind)
    payments.cancel_certificate(ctx, cancelled, "Отказ", may_cancel=True)
    ctx.commit()
    refused(cancelled, friend, "аннулирован")
    # the rule itself: typed errors
    with pytest.raises(Forbidden):
        certificates.give(ctx, gift, friend, may_sell=False)
    with pytest.raises(ValidationFailed) as error:
        certificates.give(ctx, gift, None, may_sell=True)
    assert error.value.errors == {"recipient": "Выберите клиента, которому передать."}
    ctx.rollback()


@pytest.mark.parametrize("role", list(access.ROLES))
def test_only_a_role_that_sells_certificates_passes_them(ctx, login_as, role):
    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    client = login_as(role)
    url = f"/certificateview/give/{gift.id}"
    sells = role in ("manager", "reception")
    page = client.get(url)
    response = client.post(url, data={"recipient": friend.id})
    if sells:
        assert page.status_code == 200 and response.status_code == 302
    else:
        for each in (page, response):
            assert each.status_code in (302, 403, 404), role
            assert each.status_code != 302 or "/login" in each.headers["Location"]
        assert "Передать другому клиенту" not in plain(client.get(f"/certificateview/show/{gift.id}"))
    assert (stored(ctx, gift.id)[0].customer_id == friend.id) == sells, role
    # a certificate nobody has: 404, not a form
    if sells:
        assert client.get("/certificateview/give/999999").status_code == 404


def test_the_right_to_sell_taken_away_refuses_the_pass(ctx, login_as, app):
    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    sm = app.appbuilder.sm
    role = sm.find_role(access.ROLES["reception"].name)
    role.permissions.remove(sm.find_permission_view_menu(*access.SELL))
    sm.session.commit()
    try:
        response = login_as("reception").post(
            f"/certificateview/give/{gift.id}", data={"recipient": friend.id}
        )
        assert response.status_code in (302, 403)
        assert ctx.get(Certificate, gift.id).customer_id == buyer.id
    finally:
        access.sync_roles(reset=True)


def test_a_payment_by_the_buyer_read_before_the_pass_takes_nothing_after_it(ctx):
    """The buyer's payment read the certificate as hers; the pass to the friend committed
    before its conditional UPDATE: refused, the friend's balance untouched."""
    from sqlalchemy import update

    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    order = factories.order(ctx, buyer, items=(("Стрижка", "500.00", 1),))
    stale = ctx.get(Certificate, gift.id)
    assert stale.customer_id == buyer.id
    # another desk's pass, as its committed row: this session's object still says the buyer's
    ctx.execute(
        update(Certificate)
        .where(Certificate.id == gift.id)
        .values(customer_id=friend.id)
        .execution_options(synchronize_session=False)
    )
    assert stale.customer_id == buyer.id
    with pytest.raises(ValidationFailed) as error:
        payments.take_payment(ctx, order, "500", PaymentMethod.CERTIFICATE, certificate=stale)
    assert "принадлежит другому клиенту" in error.value.errors["certificate_code"]
    ctx.rollback()
    ctx.execute(update(Certificate).where(Certificate.id == gift.id).values(customer_id=friend.id))
    ctx.commit()
    c, (money, _visits) = stored(ctx, gift.id)
    assert c.balance == money == Decimal("3000.00") and ctx.query(Payment).count() == 0


def messages_of(ctx, customer, message_type):
    from app.models import Message

    ctx.expire_all()
    return [
        " ".join(m.body.replace("\xa0", " ").replace("\u202f", " ").split())
        for m in ctx.query(Message).filter_by(customer_id=customer.id, message_type=message_type)
    ]


def test_both_customers_are_told_of_the_pass(ctx, login_as):
    """Neither the friend nor the buyer heard of it: the friend did not know she held
    a certificate, nor its number to name at the desk."""
    from app.formatting import date_short, local_from_utc
    from app.models import MessageType

    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    done = login_as("reception").post(f"/certificateview/give/{gift.id}", data={"recipient": str(friend.id)})
    assert done.status_code == 302
    until = date_short(local_from_utc(gift.valid_until).date())
    assert messages_of(ctx, friend, MessageType.CERTIFICATE_RECEIVED) == [
        f"Мария, Иванова Анна Сергеевна передаёт вам сертификат №{gift.code}: 3 000,00 ₽, "
        f"действует до {until}. Назовите его номер при оплате. Картотека"
    ]
    assert messages_of(ctx, buyer, MessageType.CERTIFICATE_GIVEN) == [
        f"Анна, ваш сертификат №{gift.code} передан клиенту Петрова Мария Сергеевна. Картотека"
    ]


def test_a_payment_the_buyer_made_before_the_pass_goes_back_to_the_buyer(ctx, login_as):
    """The buyer paid a visit of her own from it, then gave the rest away; the payment
    reversed later put its 1 000 ₽ on the certificate, now the friend's: the friend got
    money the buyer had spent. It goes to the buyer's deposit."""
    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    visit = factories.order(ctx, buyer, items=(("Маникюр", "1000.00", 1),))
    reception = login_as("reception")
    paid = reception.post(
        f"/paymentview/add?_flt_0_order={visit.id}",
        data={"amount": "1000", "method": "certificate", "certificate_code": gift.code},
    )
    assert paid.status_code == 302
    assert (
        reception.post(f"/certificateview/give/{gift.id}", data={"recipient": str(friend.id)}).status_code
        == 302
    )
    payment = ctx.query(Payment).one()
    reversed_ = login_as("manager").post(f"/paymentview/reverse/{payment.id}", data={"reason": "Ошиблись"})
    assert reversed_.status_code == 302
    c, (money, _visits) = stored(ctx, gift.id)
    assert (c.customer_id, c.balance, money) == (friend.id, Decimal("2000.00"), Decimal("2000.00"))
    ctx.expire_all()
    assert payments.balance_of(ctx, buyer.id, payments.Account.DEPOSIT) == Decimal("1000.00")
    assert payments.balance_of(ctx, friend.id, payments.Account.DEPOSIT) == Decimal("0")


def test_cancelling_a_passed_certificate_refunds_its_buyer_and_tells_both(ctx, login_as):
    """The unspent part went to the friend's deposit: the buyer's money, handed to the
    friend by the clinic. The page says whose deposit it goes to."""
    from app.models import MessageType

    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    assert (
        login_as("reception")
        .post(f"/certificateview/give/{gift.id}", data={"recipient": str(friend.id)})
        .status_code
        == 302
    )
    manager = login_as("manager")
    url = f"/certificateview/cancel/{gift.id}"
    page = plain(manager.get(url))
    assert "вернётся на депозит клиента Иванова Анна Сергеевна" in page
    assert "деньги возвращаются тому, кто его оплатил, — Иванова Анна Сергеевна" in page
    done = plain(manager.post(url, data={"reason": "Подруга отказалась"}, follow_redirects=True))
    assert "на депозит клиента Иванова Анна Сергеевна возвращено 3 000,00 ₽" in done
    ctx.expire_all()
    assert payments.balance_of(ctx, buyer.id, payments.Account.DEPOSIT) == Decimal("3000.00")
    assert payments.balance_of(ctx, friend.id, payments.Account.DEPOSIT) == Decimal("0")
    assert messages_of(ctx, friend, MessageType.CERTIFICATE_CANCELLED) == [
        f"Мария, сертификат №{gift.code} аннулирован. Картотека"
    ]
    assert messages_of(ctx, buyer, MessageType.CERTIFICATE_CANCELLED) == [
        f"Анна, сертификат №{gift.code} аннулирован. На ваш депозит возвращено 3 000,00 ₽. Картотека"
    ]


def test_a_certificate_never_passed_is_refunded_to_its_holder_told_once(ctx, login_as):
    from app.models import MessageType

    buyer, _friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    assert "деньги возвращаются тому" not in plain(
        login_as("manager").get(f"/certificateview/cancel/{gift.id}")
    )
    login_as("manager").post(f"/certificateview/cancel/{gift.id}", data={"reason": "Передумала"})
    assert messages_of(ctx, buyer, MessageType.CERTIFICATE_CANCELLED) == [
        f"Анна, сертификат №{gift.code} аннулирован. На ваш депозит возвращено 3 000,00 ₽. Картотека"
    ]


@pytest.mark.parametrize("role", ["manager", "reception", "doctor", "auditor", "sysadmin"])
def test_the_api_passes_a_certificate_by_the_same_rule_and_rights(ctx, login_as, role):
    """There was no API for the pass. ``POST /api/v1/certificates/<id>/give`` takes the
    recipient's id and a comment: the selling roles pass it (both customers told, as on the
    screen), the others get 403 (404 for a role that does not see certificates) and nothing
    changes; what the rule refuses answers 422 in Russian by field."""
    from app.models import Message, MessageType

    buyer, friend = buyer_and_friend(ctx)
    gift = sold(ctx, buyer, kind(ctx, price="3000"))
    client = login_as(role)
    url = f"/api/v1/certificates/{gift.id}/give"
    if role not in ("manager", "reception"):
        answer = client.post(url, json={"recipient": friend.id})
        assert answer.status_code in (403, 404), answer.get_json()
        assert "message" in answer.get_json()
        assert stored(ctx, gift.id)[0].customer_id == buyer.id
        return
    for body, status, field, text in (
        ({}, 422, "recipient", "Выберите клиента, которому передать."),
        ({"recipient": "x"}, 422, "recipient", "Нужен номер записи (целое число)."),
        ({"recipient": 999999}, 422, "recipient", "Запись №999999 не найдена."),
        ({"recipient": buyer.id}, 422, "recipient", "уже у этого клиента"),
        ({"recipient": friend.id, "comment": 5}, 422, "comment", "Нужен текст."),
        ({"recipient": friend.id, "comment": "a\x00b"}, 422, "comment", "непечатаемый символ"),
    ):
        answer = client.post(url, json=body)
        assert answer.status_code == status, (body, answer.get_json())
        assert any(text in message for message in answer.get_json()["message"][field]), answer.get_json()
    assert client.post(url, data="x", content_type="text/plain").status_code == 400
    assert client.post("/api/v1/certificates/999999/give", json={"recipient": friend.id}).status_code == 404
    assert stored(ctx, gift.id)[0].customer_id == buyer.id and ctx.query(Message).count() == 0
    done = client.post(url, json={"recipient": friend.id, "comment": "Подарок"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["message"] == f"Сертификат №{gift.code} передан клиенту Петрова Мария Сергеевна."
    assert done.get_json()["id"] == gift.id
    assert stored(ctx, gift.id)[0].customer_id == friend.id
    given = ctx.query(CertificateOperation).filter_by(kind=CertificateOperationKind.GIFT).one()
    assert given.comment == "Подарок"
    assert {m.message_type for m in ctx.query(Message)} == {
        MessageType.CERTIFICATE_GIVEN,
        MessageType.CERTIFICATE_RECEIVED,
    }
    # the OpenAPI document describes it, with its refusals
    spec = client.get("/api/v1/_openapi").get_json()
    operation = spec["paths"]["/api/v1/certificates/{pk}/give"]["post"]
    assert {"200", "400", "403", "404", "422"} <= operation["responses"].keys()


def test_migration_0037_names_the_buyer_from_the_sale_and_goes_back(tmp_path):
    """A certificate sold before 0037 and passed since is the purchaser's by its sale's row
    of the history; one with no such row is its holder's."""
    from flask_migrate import downgrade
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import text

    from app.extensions import db
    from tests.test_schema import database_at, insert_customer

    now = "2026-11-20 09:00:00"
    with database_at(tmp_path, "0036") as upgrade:
        insert_customer(id=1, last_name="Иванова", now=now)
        insert_customer(id=2, last_name="Петрова", now=now)
        for statement in (
            "INSERT INTO certificate_kind (id, name, type, price, amount, visits, valid_days, active, created_on, "
            f"changed_on) VALUES (1, 'Подарочный', 'sum', 3000, NULL, NULL, 365, 1, '{now}', '{now}')",
            "INSERT INTO certificate (id, code, kind_id, customer_id, type, price, method, sold_at, valid_until, "
            f"balance, amount, created_on, changed_on) VALUES "
            f"(1, '1111-1111', 1, 2, 'sum', 3000, 'cash', '{now}', '{now}', 3000, 3000, '{now}', '{now}'), "
            f"(2, '2222-2222', 1, 2, 'sum', 3000, 'cash', '{now}', '{now}', 3000, 3000, '{now}', '{now}')",
            "INSERT INTO change_log (at, customer_id, entity, entity_id, action, field, new_value) VALUES "
            f"('{now}', 1, 'Certificate', 1, 'create', 'code', '1111-1111'), "
            f"('{now}', 1, 'Certificate', 1, 'update', 'customer', 'Петрова')",
        ):
            db.session.execute(text(statement))
        db.session.commit()
        upgrade()
        rows = db.session.execute(text("SELECT id, customer_id, buyer_id FROM certificate ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, 2, 1), (2, 2, 2)]
        assert db.session.execute(
            text("SELECT COUNT(*) FROM message_template WHERE message_type = 'certificate_received'")
        ).scalar()
        db.session.commit()
        downgrade(revision="0036")
        assert "buyer_id" not in {c["name"] for c in sa_inspect(db.engine).get_columns("certificate")}
        assert not db.session.execute(
            text("SELECT COUNT(*) FROM message_template WHERE message_type = 'review_reply'")
        ).scalar()
