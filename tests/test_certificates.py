"""Certificates and subscriptions (issue 18, item 4): kinds, the sale, paying with them,
overdraw and expiry refused, a subscription's visit written off and restored on the
reversal, the roles on every route and in the API, bad input refused in Russian
changing nothing, and two payments from one certificate at once on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import inspect as sa_inspect

from app import access, certificates, payments
from app.errors import ValidationFailed
from app.models import (
    Account,
    AccountOperation,
    CatalogItem,
    Certificate,
    CertificateKind,
    CertificateOperation,
    CertificateOperationKind,
    CertificateType,
    OperationKind,
    Order,
    Payment,
    PaymentMethod,
    Return,
    utcnow,
)
from tests import factories
from tests.conftest import user_id


def plain(response) -> str:
    return response.get_data(as_text=True).replace("\xa0", " ").replace("\u202f", " ")


def kind(ctx, name="Подарочный 3 000", *, price="3000", amount=None, visits=None, services=(), days=180):
    k = CertificateKind(
        name=name,
        type=CertificateType.VISITS if visits else CertificateType.SUM,
        price=Decimal(price),
        amount=Decimal(amount) if amount else None,
        visits=visits,
        valid_days=days,
        active=True,
        services=list(services),
    )
    certificates.check_kind(k)
    ctx.add(k)
    ctx.commit()
    return k


def sold(ctx, customer, k, method=PaymentMethod.CASH, now=None) -> Certificate:
    c = certificates.sell(ctx, Certificate(customer=customer, kind=k, method=method), may_sell=True, now=now)
    ctx.commit()
    return c


def stored(ctx, certificate_id):
    """The certificate's row as stored, and the sums of its operations."""
    ctx.expire_all()
    c = ctx.get(Certificate, certificate_id)
    return c, certificates.left_of(ctx, certificate_id)


def test_the_administrator_defines_kinds_and_bad_ones_are_refused_in_russian(ctx, login_as):
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    admin = login_as("sysadmin")
    form = admin.get("/certificatekindview/add")
    assert form.status_code == 200
    for bad, field_message in (
        (
            {"name": "Абонемент", "type": "visits", "price": "9000", "visits": "5", "valid_days": "90"},
            "Выберите услуги, визиты на которые входят в абонемент.",
        ),
        (
            {
                "name": "Абонемент",
                "type": "visits",
                "price": "9000",
                "valid_days": "90",
                "services": str(massage.id),
            },
            "Число визитов — от 1 до 1000.",
        ),
        (
            {"name": "Сертификат", "type": "sum", "price": "3000", "visits": "3", "valid_days": "90"},
            "У сертификата на сумму нет визитов",
        ),
        (
            {"name": "Сертификат", "type": "sum", "price": "3000", "valid_days": "0"},
            "Срок действия — от 1 до 3650 дней.",
        ),
        ({"name": "Сертификат", "type": "sum", "price": "0", "valid_days": "30"}, "Укажите номинал"),
    ):
        response = admin.post("/certificatekindview/add", data=bad)
        assert response.status_code == 422, bad
        assert field_message in plain(response), bad
    assert ctx.query(CertificateKind).count() == 0
    ok = admin.post(
        "/certificatekindview/add",
        data={
            "name": "Абонемент: 5 массажей",
            "type": "visits",
            "price": "11 000",
            "visits": "5",
            "valid_days": "90",
            "services": str(massage.id),
            "active": "y",
        },
    )
    assert ok.status_code == 302, plain(ok)[:2000]
    subscription = ctx.query(CertificateKind).one()
    assert (subscription.type, subscription.visits, [s.name for s in subscription.services]) == (
        CertificateType.VISITS,
        5,
        ["Массаж спины"],
    )
    listing = plain(admin.get("/certificatekindview/list/"))
    assert "Абонемент: 5 массажей" in listing and "Абонемент на визиты" in listing
    # the front desk reads the kinds, and does not define them
    reception = login_as("reception")
    assert reception.get("/certificatekindview/list/").status_code == 200
    assert reception.post("/certificatekindview/add", data={"name": "Свой"}).status_code in (302, 403)
    assert ctx.query(CertificateKind).count() == 1


def test_the_front_desk_sells_for_cash_or_from_the_deposit_and_the_card_shows_it(app, ctx, login_as):
    customer = factories.customer(ctx)
    gift = kind(ctx, "Подарочный 5 000", price="4500", amount="5000", days=365)
    reception = login_as("reception")
    add = f"/certificateview/add?_flt_0_customer={customer.id}"
    assert reception.get(add).status_code == 200
    for bad, message in (
        ({"kind": str(gift.id), "method": "bonus"}, "Неверный вариант."),  # not offered
        ({"kind": str(gift.id), "method": "certificate"}, "Неверный вариант."),
        ({"kind": str(gift.id), "method": "deposit"}, "недостаточно средств: доступно 0,00"),
        ({"method": "cash"}, "Обязательное поле."),
    ):
        response = reception.post(add, data=bad)
        assert response.status_code == 422, bad
        assert message in plain(response), bad
    assert ctx.query(Certificate).count() == 0 and ctx.query(CertificateOperation).count() == 0
    before = utcnow()
    assert (
        reception.post(
            add, data={"kind": str(gift.id), "method": "card", "comment": "Подарок маме"}
        ).status_code
        == 302
    )
    certificate = ctx.query(Certificate).one()
    assert re.fullmatch(r"\d{4}-\d{4}", certificate.code)
    assert (certificate.price, certificate.balance, certificate.visits_left, certificate.method) == (
        Decimal("4500.00"),
        Decimal("5000.00"),
        None,
        PaymentMethod.CARD,
    )
    assert certificate.created_by_fk == user_id(app, "reception")  # who sold it
    assert before <= certificate.sold_at <= utcnow()
    assert certificate.valid_until - certificate.sold_at == dt.timedelta(days=365)
    assert certificates.left_of(ctx, certificate.id) == (Decimal("5000.00"), 0)
    # sold from the deposit: the deposit's ledger pays for it in the same transaction
    payments.add_operation(
        ctx, customer, Account.DEPOSIT, OperationKind.TOP_UP, "5000", None, may_adjust=False
    )
    ctx.commit()
    assert reception.post(add, data={"kind": str(gift.id), "method": "deposit"}).status_code == 302
    ctx.expire_all()
    assert ctx.get(type(customer), customer.id).deposit_balance == Decimal("500.00")
    purchase = ctx.query(AccountOperation).filter_by(kind=OperationKind.PURCHASE).one()
    assert purchase.amount == Decimal("-4500.00") and "Подарочный 5 000" in purchase.comment
    assert payments.balance_of(ctx, customer.id, Account.DEPOSIT) == Decimal("500.00")
    # the card: a tab of their own with the balance and the validity, the KPI counts them
    card = plain(reception.get(f"/customerview/show/{customer.id}"))
    assert 'href="#certificates"' in card
    assert certificate.code in card and "5 000,00" in card and "Действует" in card
    assert re.search(r'class="kpi-certificates">2<', card)


def test_an_order_is_paid_by_a_certificate_and_an_overdraw_is_refused_changing_nothing(ctx, login_as):
    customer = factories.customer(ctx)
    other = factories.customer(ctx, last_name="Петрова", phone="+79035550011")
    certificate = sold(ctx, customer, kind(ctx, price="3000"))
    foreign = sold(ctx, other, kind(ctx, "Подарочный 1 000", price="1000"))
    first = factories.order(ctx, customer, items=(("УЗИ", "2000.00", 1),))
    second = factories.order(ctx, customer, items=(("Консультация", "1500.00", 1),))
    reception = login_as("reception")
    pay = f"/paymentview/add?_flt_0_order={first.id}"
    by_code = {
        "amount": "2 000",
        "method": "certificate",
        "certificate_code": certificate.code.replace("-", " "),
    }
    for bad, message in (
        ({"amount": "100", "method": "certificate"}, "Укажите номер сертификата или абонемента."),
        ({"amount": "100", "method": "certificate", "certificate_code": "0000-0000"}, "№0000-0000 не найден"),
        (
            {"amount": "100", "method": "certificate", "certificate_code": foreign.code},
            "принадлежит другому клиенту",
        ),
        (
            {"amount": "100", "method": "cash", "certificate_code": certificate.code},
            "при оплате способом «Сертификатом»",
        ),
        ({**by_code, "amount": "2000,01"}, "Сумма больше долга по заказу"),
    ):
        response = reception.post(pay, data=bad)
        assert response.status_code == 422, bad
        assert message in plain(response), bad
    assert ctx.query(Payment).count() == 0
    assert reception.post(pay, data=by_code).status_code == 302
    payment = ctx.query(Payment).one()
    assert (payment.method, payment.certificate_id, payment.amount) == (
        PaymentMethod.CERTIFICATE,
        certificate.id,
        Decimal("2000.00"),
    )
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("1000.00")
    assert ctx.get(Order, first.id).debt == Decimal("0.00")
    # 1 500 from a certificate with 1 000 left: refused, nothing written
    over = reception.post(
        f"/paymentview/add?_flt_0_order={second.id}",
        data={"amount": "1500", "method": "certificate", "certificate_code": certificate.code},
    )
    assert over.status_code == 422
    assert "недостаточно средств: доступно 1 000,00" in plain(over)
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("1000.00")
    assert ctx.query(Payment).count() == 1 and ctx.get(Order, second.id).paid == Decimal("0.00")
    # no bonuses are earned on a payment by a certificate
    assert ctx.query(AccountOperation).filter_by(kind=OperationKind.ACCRUAL).count() == 0
    # the reversal puts the money back on the certificate
    manager = login_as("manager")
    assert (
        manager.post(f"/paymentview/reverse/{payment.id}", data={"reason": "Не тот сертификат"}).status_code
        == 302
    )
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("3000.00")
    back = ctx.query(CertificateOperation).filter_by(kind=CertificateOperationKind.REFUND).one()
    assert back.payment.reverses_id == payment.id and back.amount == Decimal("3000.00") - Decimal("1000.00")


def test_an_expired_certificate_is_refused(ctx):
    customer = factories.customer(ctx)
    long_ago = utcnow() - dt.timedelta(days=200)
    expired = sold(ctx, customer, kind(ctx, price="3000", days=30), now=long_ago)
    order = factories.order(ctx, customer, items=(("УЗИ", "2000.00", 1),))
    with pytest.raises(
        ValidationFailed, match=r"Срок действия сертификата №\d{4}-\d{4} истёк \d\d\.\d\d\.\d{4}"
    ):
        payments.take_payment(ctx, order, "500", PaymentMethod.CERTIFICATE, certificate=expired)
    ctx.rollback()
    c, (money, _visits) = stored(ctx, expired.id)
    assert c.balance == money == Decimal("3000.00")
    assert ctx.query(Payment).count() == 0
    assert c.state == "Истёк"


def test_a_visit_paid_by_a_subscription_writes_one_off_and_its_reversal_restores_it(ctx, login_as):
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    course = kind(ctx, "Абонемент: 2 массажа", price="4500", visits=2, services=[massage])
    subscription = sold(ctx, customer, course)
    assert (subscription.visits_left, subscription.balance) == (2, None)
    visit = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1), ("Крем", "500.00", 1)))
    cream_only = factories.order(ctx, customer, items=(("Крем", "500.00", 1),))
    reception = login_as("reception")
    code = subscription.code
    too_much = reception.post(
        f"/paymentview/add?_flt_0_order={visit.id}",
        data={"amount": "3000", "method": "certificate", "certificate_code": code},
    )
    assert too_much.status_code == 422
    assert "оплачивает только свои услуги: не больше 2 500,00" in plain(too_much)
    not_covered = reception.post(
        f"/paymentview/add?_flt_0_order={cream_only.id}",
        data={"amount": "500", "method": "certificate", "certificate_code": code},
    )
    assert not_covered.status_code == 422 and "нет услуг абонемента" in plain(not_covered)
    assert stored(ctx, subscription.id)[0].visits_left == 2
    taken = reception.post(
        f"/paymentview/add?_flt_0_order={visit.id}",
        data={"amount": "2500", "method": "certificate", "certificate_code": code},
    )
    assert taken.status_code == 302
    c, (_money, visits) = stored(ctx, subscription.id)
    assert c.visits_left == visits == 1
    card = plain(reception.get(f"/customerview/show/{customer.id}"))
    assert "1 визит из 2" in card
    payment = ctx.query(Payment).one()
    manager = login_as("manager")
    assert (
        manager.post(f"/paymentview/reverse/{payment.id}", data={"reason": "Массаж перенесён"}).status_code
        == 302
    )
    c, (_money, visits) = stored(ctx, subscription.id)
    assert c.visits_left == visits == 2
    assert ctx.get(Order, visit.id).paid == Decimal("0.00")
    # both visits used, a third is refused
    for _ in range(2):
        again = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
        payments.take_payment(
            ctx, again, "2500", PaymentMethod.CERTIFICATE, certificate=ctx.get(Certificate, c.id)
        )
        ctx.commit()
    third = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    with pytest.raises(ValidationFailed, match="не осталось визитов"):
        payments.take_payment(
            ctx, third, "2500", PaymentMethod.CERTIFICATE, certificate=ctx.get(Certificate, c.id)
        )
    ctx.rollback()
    c, (_money, visits) = stored(ctx, subscription.id)
    assert c.visits_left == visits == 0 and c.state == "Израсходован"


def test_a_refunded_return_goes_back_to_the_certificate_it_was_paid_from(ctx, login_as):
    customer = factories.customer(ctx)
    certificate = sold(ctx, customer, kind(ctx, price="3000"))
    order = factories.order(ctx, customer, items=(("УЗИ", "2000.00", 1),))
    payments.take_payment(ctx, order, "2000", PaymentMethod.CERTIFICATE, certificate=certificate)
    ctx.commit()
    manager = login_as("manager")
    asked = {"order": str(order.id), "amount": "800", "reason": "Процедура сокращена"}
    ret = factories.refunded_return(ctx, manager, customer, asked)
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("1800.00")
    refund = ctx.query(Payment).filter(Payment.return_id == ret.id).one()
    assert (refund.amount, refund.certificate_id) == (Decimal("-800.00"), certificate.id)


def test_a_refund_of_more_than_a_certificate_paid_goes_back_in_money_not_onto_it(ctx, login_as):
    """Week: an order paid 1 000,50 ₽ in cash and then 500 ₽ by a gift certificate of
    5 000 ₽, returned in full: the whole 1 500,50 ₽ went onto the certificate (its balance
    6 000,50 ₽, above its nominal), the customer's cash turned into gift money. Then it all
    went back in cash, the certificate's money turned into cash. Then a return of both
    was refused, asking for two returns. Now each part goes back where it came from,
    two refunds of the one return; a part no single way holds is refused."""
    customer = factories.customer(ctx)
    certificate = sold(ctx, customer, kind(ctx, price="5000"))
    order = factories.order(ctx, customer, items=(("Консультация", "1500.50", 1),))
    payments.take_payment(ctx, order, "1000.50", PaymentMethod.CASH)
    payments.take_payment(ctx, order, "500", PaymentMethod.CERTIFICATE, certificate=certificate)
    ctx.commit()
    manager = login_as("manager")
    asked = {"order": str(order.id), "amount": "1 200", "reason": "Не пришла"}
    # a part no one way holds: refused (422, nothing changed)
    assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).one()
    assert manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"}).status_code == 302
    refused = manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "refunded"})
    assert refused.status_code == 422
    assert "не вернуть одним способом" in refused.get_data(as_text=True)
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("4500.00")  # nothing came onto it
    whole = {**asked, "amount": "1 500,50"}
    for status in ("approved", "refunded"):
        assert manager.post(f"/returnview/edit/{ret.id}", data={**whole, "status": status}).status_code == 302
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("5000.00")  # its own 500 ₽ back, never above its nominal
    refunds = {
        (p.method, p.amount, p.certificate_id, p.return_id)
        for p in ctx.query(Payment).filter(Payment.amount < 0)
    }
    assert refunds == {
        (PaymentMethod.CASH, Decimal("-1000.50"), None, ret.id),
        (PaymentMethod.CERTIFICATE, Decimal("-500.00"), certificate.id, ret.id),
    }


CERTIFICATE_PAGES = (
    # (address, who may open it)
    ("/certificateview/list/", {"manager", "reception", "auditor"}),
    ("/certificateview/add", {"manager", "reception"}),
    ("/certificateview/show/{certificate}", {"manager", "reception", "auditor"}),
    ("/certificateview/cancel/{certificate}", {"manager"}),  # can_cancel
    ("/certificatekindview/list/", {"sysadmin", "manager", "reception", "doctor", "auditor"}),
    ("/certificatekindview/add", {"sysadmin", "manager"}),
    ("/api/v1/certificates/", {"manager", "reception", "auditor"}),
    ("/api/v1/certificates/{certificate}", {"manager", "reception", "auditor"}),
)


@pytest.mark.parametrize("role", list(access.ROLES))
def test_the_role_matrix_on_every_certificate_page_and_in_the_api(ctx, login_as, role):
    customer = factories.customer(ctx)
    gift = kind(ctx, price="3000")
    certificate = sold(ctx, customer, gift)
    client = login_as(role)
    for address, allowed in CERTIFICATE_PAGES:
        url = address.format(certificate=certificate.id)
        status = client.get(url).status_code
        if role in allowed:
            assert status == 200, (url, status)
        else:
            assert status in (302, 403, 404), (url, status)
    # a sold certificate is never edited or deleted, by anyone, on the screen or in the API
    for method, url in (
        ("get", f"/certificateview/edit/{certificate.id}"),
        ("post", f"/certificateview/edit/{certificate.id}"),
        ("post", f"/certificateview/delete/{certificate.id}"),
        ("put", f"/api/v1/certificates/{certificate.id}"),
        ("delete", f"/api/v1/certificates/{certificate.id}"),
    ):
        assert getattr(client, method)(url, json={} if method == "put" else None).status_code in (404, 405), (
            url
        )
    sells = role in ("manager", "reception")
    on_screen = client.post(
        f"/certificateview/add?_flt_0_customer={customer.id}", data={"kind": str(gift.id), "method": "cash"}
    )
    assert on_screen.status_code == (302 if sells else 403), role
    in_api = client.post(
        "/api/v1/certificates/", json={"customer": customer.id, "kind": gift.id, "method": "cash"}
    )
    if sells:
        assert in_api.status_code == 201, in_api.get_json()
    else:
        assert in_api.status_code in (401, 403), in_api.status_code
    ctx.expire_all()
    assert ctx.query(Certificate).count() == (3 if sells else 1)
    card = client.get(f"/customerview/show/{customer.id}")
    if card.status_code == 200:
        page = card.get_data(as_text=True)
        assert ('href="#certificates"' in page) == (role in ("manager", "reception", "auditor"))
        assert (certificate.code in page) == (role in ("manager", "reception", "auditor"))
    # cancelling one (its rest refunded to the deposit) is the manager's alone
    cancelled = client.post(f"/certificateview/cancel/{certificate.id}", data={"reason": "Проверка прав"})
    if role == "manager":
        assert cancelled.status_code == 302
    else:
        assert cancelled.status_code in (302, 403, 404)
        assert cancelled.status_code != 302 or "/login" in cancelled.headers["Location"]
    assert (stored(ctx, certificate.id)[0].cancelled_at is not None) == (role == "manager"), role


def test_the_right_to_sell_is_its_own_and_refused_without_it(ctx, login_as, app):
    """A role given write on the screen but not «продажа» is refused by the rule (403)."""
    customer = factories.customer(ctx)
    gift = kind(ctx, price="3000")
    sm = app.appbuilder.sm
    role = sm.find_role(access.ROLES["reception"].name)
    right = sm.find_permission_view_menu(*access.SELL)
    role.permissions.remove(right)
    sm.session.commit()
    try:
        refused = login_as("reception").post(
            f"/certificateview/add?_flt_0_customer={customer.id}",
            data={"kind": str(gift.id), "method": "cash"},
        )
        assert refused.status_code in (403, 422)
        assert "не дано право продавать сертификаты" in plain(refused)
        assert ctx.query(Certificate).count() == 0
    finally:
        access.sync_roles(reset=True)


def test_the_api_sells_and_pays_and_refuses_bad_input_in_russian(ctx, login_as):
    customer = factories.customer(ctx)
    other = factories.customer(ctx, last_name="Петрова", phone="+79035550011")
    gift = kind(ctx, price="3000")
    client = login_as("reception")
    bad = client.post(
        "/api/v1/certificates/", json={"customer": customer.id, "kind": gift.id, "method": "bonus"}
    )
    assert bad.status_code == 422 and "Сертификат оплачивают так" in str(bad.get_json())
    assert ctx.query(Certificate).count() == 0
    made = client.post(
        "/api/v1/certificates/", json={"customer": customer.id, "kind": gift.id, "method": "cash"}
    )
    assert made.status_code == 201, made.get_json()
    certificate = ctx.query(Certificate).one()
    shown = client.get(f"/api/v1/certificates/{certificate.id}").get_json()["result"]
    assert (shown["code"], shown["balance"]) == (certificate.code, "3000.00")
    order = factories.order(ctx, other, items=(("УЗИ", "2000.00", 1),))
    foreign = client.post(
        "/api/v1/payments/",
        json={"order": order.id, "amount": "500.00", "method": "certificate", "certificate": certificate.id},
    )
    assert foreign.status_code == 422 and "принадлежит другому клиенту" in str(foreign.get_json())
    own = factories.order(ctx, customer, items=(("УЗИ", "2000.00", 1),))
    paid = client.post(
        "/api/v1/payments/",
        json={"order": own.id, "amount": "500.00", "method": "certificate", "certificate": certificate.id},
    )
    assert paid.status_code == 201, paid.get_json()
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("2500.00")


def test_two_payments_from_one_certificate_at_once_cannot_overdraw_it(app, ctx):
    """Two receptionists pay 700 each from a certificate of 1000 at the same moment, each
    in a transaction of its own: one is taken, the other refused; 300 is left."""
    from app.extensions import db

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: the race needs PostgreSQL's row locks")
    customer = factories.customer(ctx)
    certificate = sold(ctx, customer, kind(ctx, "Подарочный 1 000", price="1000"))
    first = factories.order(ctx, customer, items=(("Массаж", "700.00", 1),))
    second = factories.order(ctx, customer, items=(("Пилинг", "700.00", 1),))
    certificate_id, order_ids = certificate.id, (first.id, second.id)
    start = threading.Barrier(2, timeout=10)
    outcomes = {}

    def pay(order_id):
        with app.app_context():
            session = db.session
            try:
                start.wait()
                payments.take_payment(
                    session,
                    session.get(Order, order_id),
                    "700",
                    PaymentMethod.CERTIFICATE,
                    certificate=session.get(Certificate, certificate_id),
                )
                time.sleep(0.5)  # hold the certificate's row: the other payment is under way meanwhile
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
    c, (money, _visits) = stored(ctx, certificate_id)
    assert c.balance == money == Decimal("300.00")
    assert ctx.query(Payment).filter_by(method=PaymentMethod.CERTIFICATE).count() == 1


def test_catalog_items_keep_their_kinds(ctx):
    """Deleting a service a subscription was for leaves the kind (the link goes)."""
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    course = kind(ctx, "Абонемент", price="4500", visits=2, services=[massage])
    ctx.delete(ctx.get(CatalogItem, massage.id))
    ctx.commit()
    ctx.expire_all()
    assert ctx.get(CertificateKind, course.id).services == []


def test_the_demo_holds_kinds_a_partly_used_certificate_and_subscription_and_an_expired_one(ctx, login_as):
    from app.demo import seed_demo

    seed_demo(customers=5, seed=3)
    kinds = {k.type for k in ctx.query(CertificateKind)}
    assert kinds == set(CertificateType)
    sold_ = ctx.query(Certificate).all()
    states = {c.state for c in sold_}
    assert {"Действует", "Истёк"} <= states
    spent = [c for c in sold_ if c.balance is not None and c.balance < (c.kind.amount or c.kind.price)]
    used = [c for c in sold_ if c.visits_left is not None and 0 < c.visits_left < c.kind.visits]
    assert spent and used
    for c in sold_:  # each balance is the sum of its operations
        money, visits = certificates.left_of(ctx, c.id)
        assert (c.balance or Decimal("0.00"), c.visits_left or 0) == (money, visits)
    paid = ctx.query(Payment).filter(Payment.certificate_id.is_not(None)).all()
    assert paid and all(p.method == PaymentMethod.CERTIFICATE for p in paid)
    manager = login_as("manager")
    card = plain(manager.get(f"/customerview/show/{used[0].customer_id}"))
    assert used[0].code in card and "3 визита из 5" in card
    # the certificates list says it as the card does (it said «3 визита»)
    listed = plain(manager.get(f"/certificateview/list/?_flt_0_code={used[0].code}"))
    assert "3 визита из 5" in listed


def test_a_sale_is_in_the_change_history_with_who_sold_it(app, ctx, login_as):
    from app.models import ChangeLog

    customer = factories.customer(ctx)
    gift = kind(ctx, price="3000")
    reception = login_as("reception")
    sold_ = reception.post(
        f"/certificateview/add?_flt_0_customer={customer.id}", data={"kind": str(gift.id), "method": "cash"}
    )
    assert sold_.status_code == 302
    certificate = ctx.query(Certificate).one()
    rows = ctx.query(ChangeLog).filter_by(entity="Certificate", entity_id=certificate.id).all()
    assert {(row.action, row.customer_id, row.user_id) for row in rows} == {
        ("create", customer.id, user_id(app, "reception"))
    }
    assert {"code", "kind", "price"} <= {row.field for row in rows}  # a row per field, as every record


def test_the_manager_cancels_a_subscription_and_the_unused_visits_go_to_the_deposit(app, ctx, login_as):
    """«Аннулировать»: the manager's right (not the front desk's); a reason is required; the
    unused visits are written off by an operation with the reason and their part of the
    price goes to the deposit («Возврат за сертификат»); it pays for nothing more; the
    card shows it cancelled and the refund; nothing is deleted or rewritten."""
    from app.models import ChangeLog, Customer

    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    course = kind(ctx, "Абонемент: 4 массажа", price="8000", visits=4, services=[massage])
    subscription = sold(ctx, customer, course)
    visit = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    payments.take_payment(ctx, visit, "2500", PaymentMethod.CERTIFICATE, certificate=subscription)
    ctx.commit()
    url = f"/certificateview/cancel/{subscription.id}"
    reception = login_as("reception")
    assert reception.get(url).status_code in (302, 403)
    assert reception.post(url, data={"reason": "Переезд"}).status_code in (302, 403)
    show = plain(reception.get(f"/certificateview/show/{subscription.id}"))
    assert "Аннулировать" not in show
    manager = login_as("manager")
    assert "Аннулировать" in plain(manager.get(f"/certificateview/show/{subscription.id}"))
    page = manager.get(url)
    assert page.status_code == 200 and "3 визита из 4" in plain(page)
    blank = manager.post(url, data={"reason": "  "})
    assert blank.status_code == 422 and "Укажите причину аннулирования." in plain(blank)
    c, (_money, visits) = stored(ctx, subscription.id)
    assert (c.cancelled_at, c.visits_left, visits) == (None, 3, 3)
    done = manager.post(url, data={"reason": "Клиент переехал"})
    assert done.status_code == 302
    c, (_money, visits) = stored(ctx, subscription.id)
    assert c.cancelled_at is not None and c.visits_left == visits == 0 and c.state == "Аннулирован"
    cancel = ctx.query(CertificateOperation).filter_by(kind=CertificateOperationKind.CANCEL).one()
    assert (cancel.visits, cancel.comment, cancel.created_by_fk) == (
        -3,
        "Клиент переехал",
        user_id(app, "manager"),
    )
    refund = ctx.query(AccountOperation).filter_by(kind=OperationKind.CERTIFICATE_REFUND).one()
    assert (refund.customer_id, refund.account, refund.amount) == (
        customer.id,
        Account.DEPOSIT,
        Decimal("6000.00"),
    )
    assert "Клиент переехал" in refund.comment and subscription.code in refund.comment
    assert (
        ctx.get(Customer, customer.id).deposit_balance
        == payments.balance_of(ctx, customer.id, Account.DEPOSIT)
        == Decimal("6000.00")
    )
    # the history of payments and operations is as it was: the issue, the payment, the cancellation
    kinds = [op.kind for op in ctx.query(CertificateOperation).order_by(CertificateOperation.id)]
    assert kinds == [
        CertificateOperationKind.ISSUE,
        CertificateOperationKind.PAYMENT,
        CertificateOperationKind.CANCEL,
    ]
    # it pays for nothing more, and is not cancelled twice
    again = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    refused = manager.post(
        f"/paymentview/add?_flt_0_order={again.id}",
        data={"amount": "2500", "method": "certificate", "certificate_code": subscription.code},
    )
    assert refused.status_code == 422 and "аннулирован" in plain(refused)
    twice = manager.post(url, data={"reason": "Ещё раз"})
    assert twice.status_code == 422 and "уже аннулирован" in plain(twice)
    assert ctx.query(AccountOperation).filter_by(kind=OperationKind.CERTIFICATE_REFUND).count() == 1
    # the card: the subscription cancelled, the refund on the accounts' tab and the deposit
    card = plain(manager.get(f"/customerview/show/{customer.id}"))
    assert "Аннулирован" in card and "Возврат за сертификат" in card and "6 000,00 ₽" in card
    # the change history names who cancelled it and the operations
    rows = ctx.query(ChangeLog).filter(ChangeLog.customer_id == customer.id)
    assert ("Certificate", "update", "cancelled_at") in {(r.entity, r.action, r.field) for r in rows}
    assert {r.user_id for r in rows.filter_by(entity="CertificateOperation", entity_id=cancel.id)} == {
        user_id(app, "manager")
    }


def test_a_cancelled_certificate_refunds_what_was_paid_for_its_unspent_nominal(ctx, login_as):
    """A certificate for 5 000 bought for 4 500, 1 000 of it spent: 4 000 unspent, refunded at
    what the customer paid for it (3 600); one spent whole refunds nothing and is still
    cancelled. The domain refuses a role without the right."""
    from app.errors import Forbidden

    customer = factories.customer(ctx)
    gift = kind(ctx, "Подарочный 5 000", price="4500", amount="5000")
    certificate = sold(ctx, customer, gift)
    order = factories.order(ctx, customer, items=(("УЗИ", "1000.00", 1),))
    payments.take_payment(ctx, order, "1000", PaymentMethod.CERTIFICATE, certificate=certificate)
    ctx.commit()
    with pytest.raises(Forbidden, match="только управляющий"):
        payments.cancel_certificate(ctx, certificate, "Просьба клиента", may_cancel=False)
    ctx.rollback()
    operation = payments.cancel_certificate(ctx, certificate, "Просьба клиента", may_cancel=True)
    ctx.commit()
    assert operation.amount == Decimal("3600.00")
    c, (money, _visits) = stored(ctx, certificate.id)
    assert c.balance == money == Decimal("0.00") and c.state == "Аннулирован"
    spent = sold(ctx, customer, kind(ctx, "Подарочный 1 000", price="1000"))
    whole = factories.order(ctx, customer, items=(("Осмотр", "1000.00", 1),))
    payments.take_payment(ctx, whole, "1000", PaymentMethod.CERTIFICATE, certificate=spent)
    ctx.commit()
    assert payments.cancel_certificate(ctx, spent, "Закрыт", may_cancel=True) is None
    ctx.commit()
    assert stored(ctx, spent.id)[0].state == "Аннулирован"
    assert payments.balance_of(ctx, customer.id, Account.DEPOSIT) == Decimal("3600.00")


def visit_of_a_cancelled_subscription(ctx):
    """A 2 000 massage paid by a subscription of 5 visits for 8 000, then cancelled (6 400
    for the 4 visits left went to the deposit): (customer, order, the visit's payment)."""
    customer = factories.customer(ctx)
    massage = factories.catalog_item(ctx, "Массаж спины", "2000.00")
    subscription = sold(ctx, customer, kind(ctx, "Массаж 5", price="8000", visits=5, services=[massage]))
    order = factories.order(ctx, customer, items=(("Массаж спины", "2000.00", 1),))
    order.items[0].catalog_item = massage
    paid = payments.take_payment(ctx, order, "2000", PaymentMethod.CERTIFICATE, certificate=subscription)
    ctx.commit()
    payments.cancel_certificate(ctx, subscription, "Переезд", may_cancel=True)
    ctx.commit()
    return customer, order, paid


def test_a_visit_of_a_cancelled_subscription_reversed_gives_back_what_the_visit_cost(ctx, login_as):
    """Week: a subscription of 5 visits for 8 000 paid a 2 000 massage, then was cancelled
    (6 400 for the 4 visits left went to the deposit); the payment reversed as a mistake
    put the massage's 2 000 on the deposit, not the 1 600 the customer paid for that visit:
    8 400 back for 8 000 paid. A certificate bought below its nominal gives back its price's
    share too."""
    customer, order, paid = visit_of_a_cancelled_subscription(ctx)
    massage = order.items[0].catalog_item
    assert payments.balance_of(ctx, customer.id, Account.DEPOSIT) == Decimal("6400.00")
    payments.reverse_payment(ctx, ctx.get(Payment, paid.id), "Ошибочно проведён")
    ctx.commit()
    assert payments.balance_of(ctx, customer.id, Account.DEPOSIT) == Decimal("8000.00")

    gift = sold(ctx, customer, kind(ctx, "Подарочный 5 000", price="4500", amount="5000"))
    other = factories.order(ctx, customer, items=(("УЗИ", "1000.00", 1),))
    spent = payments.take_payment(ctx, other, "1000", PaymentMethod.CERTIFICATE, certificate=gift)
    ctx.commit()
    payments.cancel_certificate(ctx, gift, "Просьба клиента", may_cancel=True)  # 4 000 left: 3 600
    ctx.commit()
    payments.reverse_payment(ctx, ctx.get(Payment, spent.id), "Ошибочно проведён")
    ctx.commit()
    assert payments.balance_of(ctx, customer.id, Account.DEPOSIT) == Decimal("8000.00") + Decimal("4500.00")

    # a return of such a visit: the deposit, the manager and the customer get the visit's cost
    from app.models import Message

    returning = factories.customer(ctx, phone="+79165550177")
    subscription = sold(ctx, returning, kind(ctx, "Массаж 5 (2)", price="8000", visits=5, services=[massage]))
    visit = factories.order(ctx, returning, items=(("Массаж спины", "2000.00", 1),))
    visit.items[0].catalog_item = massage
    payments.take_payment(ctx, visit, "2000", PaymentMethod.CERTIFICATE, certificate=subscription)
    ctx.commit()
    payments.cancel_certificate(ctx, subscription, "Переезд", may_cancel=True)
    ctx.commit()
    manager = login_as("manager")
    asked = {"order": str(visit.id), "amount": "2000", "reason": "Не пришла"}
    ret = factories.refunded_return(ctx, manager, returning, asked)
    assert payments.balance_of(ctx, returning.id, Account.DEPOSIT) == Decimal("6400.00") + Decimal("1600.00")
    said = plain(manager.get(f"/customerview/show/{returning.id}"))
    told = [m.body.replace("\xa0", " ") for m in ctx.query(Message).filter_by(order_id=visit.id)]
    assert ret.id and any("Вам вернули 1 600,00 ₽ на ваш депозит" in m for m in told), told
    assert "Деньги по возврату возвращены: 1 600,00 ₽ на депозит клиента" in said
    # the card's payments tab: the refund's row says what went on the deposit
    assert "На депозит 1 600,00 ₽ (по цене аннулированного сертификата)" in said


def test_a_partial_return_gives_the_subscriptions_visit_back_once(ctx, login_as):
    """A return of part of a visit a subscription paid: the visit comes back (a «Возврат на
    сертификат» operation of +1 linked to the refund), the order's paid amount follows;
    a second return of the same order is paid in money, the visit is not given twice."""
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    subscription = sold(
        ctx, customer, kind(ctx, "Абонемент: 2 массажа", price="4500", visits=2, services=[massage])
    )
    visit = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1), ("Крем", "500.00", 1)))
    payments.take_payment(ctx, visit, "2500", PaymentMethod.CERTIFICATE, certificate=subscription)
    payments.take_payment(ctx, visit, "500", PaymentMethod.CASH)
    ctx.commit()
    assert stored(ctx, subscription.id)[0].visits_left == 1
    manager = login_as("manager")

    def refunded(amount, reason):
        asked = {"order": str(visit.id), "amount": amount, "reason": reason}
        assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
        ret = ctx.query(Return).order_by(Return.id.desc()).first()
        for status in ("approved", "refunded"):
            assert (
                manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": status}).status_code
                == 302
            )
        ctx.expire_all()
        return ctx.query(Payment).filter(Payment.return_id == ret.id).one()

    first = refunded("1000", "Массаж сокращён")
    c, (_money, visits) = stored(ctx, subscription.id)
    assert c.visits_left == visits == 2
    assert (first.amount, first.method, first.certificate_id) == (
        Decimal("-1000.00"),
        PaymentMethod.CERTIFICATE,
        subscription.id,
    )
    back = ctx.query(CertificateOperation).filter_by(kind=CertificateOperationKind.REFUND).one()
    assert (back.visits, back.payment_id) == (1, first.id)
    assert ctx.get(Order, visit.id).paid == Decimal("2000.00")
    second = refunded("300", "Крем не подошёл")
    assert (second.method, second.certificate_id) == (PaymentMethod.CASH, None)
    assert stored(ctx, subscription.id)[0].visits_left == 2
    assert ctx.query(CertificateOperation).filter_by(kind=CertificateOperationKind.REFUND).count() == 1
    assert ctx.get(Order, visit.id).paid == Decimal("1700.00")


def test_a_kind_edited_after_the_sale_does_not_change_the_sold_ones(ctx, login_as):
    """The sold subscription keeps the price, the visits, the validity and the services it
    was sold with; the kind edited on its screen changes only what is sold next."""
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    peeling = factories.catalog_item(ctx, "Пилинг", "3000.00")
    customer = factories.customer(ctx)
    course = kind(ctx, "Абонемент", price="4500", visits=2, services=[massage], days=90)
    before = sold(ctx, customer, course)
    valid_until = before.valid_until
    admin = login_as("sysadmin")
    edited = admin.post(
        f"/certificatekindview/edit/{course.id}",
        data={
            "name": "Абонемент",
            "type": "visits",
            "price": "9000",
            "visits": "10",
            "valid_days": "30",
            "services": str(peeling.id),
            "active": "y",
        },
    )
    assert edited.status_code == 302, plain(edited)[:500]
    ctx.expire_all()
    assert (
        ctx.get(CertificateKind, course.id).visits,
        [s.name for s in ctx.get(CertificateKind, course.id).services],
    ) == (
        10,
        ["Пилинг"],
    )
    c = ctx.get(Certificate, before.id)
    assert (c.price, c.visits_total, c.visits_left, c.valid_until) == (Decimal("4500.00"), 2, 2, valid_until)
    assert [s.name for s in c.services] == ["Массаж спины"]
    manager = login_as("manager")
    show = plain(manager.get(f"/certificateview/show/{c.id}"))
    assert "2 визита из 2" in show and "Массаж спины" in show and "Пилинг" not in show
    # it still pays for a massage, not for a peeling
    with pytest.raises(ValidationFailed, match="нет услуг абонемента"):
        payments.take_payment(
            ctx,
            factories.order(ctx, customer, items=(("Пилинг", "3000.00", 1),)),
            "3000",
            PaymentMethod.CERTIFICATE,
            certificate=c,
        )
    ctx.rollback()
    massage_visit = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    payments.take_payment(
        ctx, massage_visit, "2500", PaymentMethod.CERTIFICATE, certificate=ctx.get(Certificate, c.id)
    )
    ctx.commit()
    assert "1 визит из 2" in plain(manager.get(f"/certificateview/show/{c.id}"))
    # what is sold now has the new terms
    after = sold(ctx, customer, ctx.get(CertificateKind, course.id))
    assert (after.price, after.visits_total, [s.name for s in after.services]) == (
        Decimal("9000.00"),
        10,
        ["Пилинг"],
    )


def test_every_certificate_operation_is_in_the_change_history_on_the_card(app, ctx, login_as):
    """The sale, a payment (its visit written off), the refund back and the cancellation are
    rows of the customer's change history, each with who made it; the card's tab names them."""
    from app.models import ChangeLog

    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    course = kind(ctx, "Абонемент: 3 массажа", price="6000", visits=3, services=[massage])
    reception = login_as("reception")
    assert (
        reception.post(
            f"/certificateview/add?_flt_0_customer={customer.id}",
            data={"kind": str(course.id), "method": "card"},
        ).status_code
        == 302
    )
    subscription = ctx.query(Certificate).one()
    visit = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    paid = reception.post(
        f"/paymentview/add?_flt_0_order={visit.id}",
        data={"amount": "2500", "method": "certificate", "certificate_code": subscription.code},
    )
    assert paid.status_code == 302
    payment = ctx.query(Payment).one()
    manager = login_as("manager")
    assert manager.post(f"/paymentview/reverse/{payment.id}", data={"reason": "Ошибка"}).status_code == 302
    assert (
        manager.post(f"/certificateview/cancel/{subscription.id}", data={"reason": "Отказ"}).status_code
        == 302
    )
    ctx.expire_all()
    rows = (
        ctx.query(ChangeLog)
        .filter(
            ChangeLog.customer_id == customer.id,
            ChangeLog.entity == "CertificateOperation",
            ChangeLog.field == "kind",
        )
        .order_by(ChangeLog.id)
        .all()
    )
    who = {"reception": user_id(app, "reception"), "manager": user_id(app, "manager")}
    assert [(r.new_value, r.user_id) for r in rows] == [
        ("Продажа", who["reception"]),
        ("Оплата заказа", who["reception"]),
        ("Возврат на сертификат", who["manager"]),
        ("Аннулирование", who["manager"]),
    ]
    history = plain(manager.get(f"/customerview/show/{customer.id}"))
    assert "Операция по сертификату" in history and "Аннулирование" in history


def test_migration_0022_copies_the_kinds_terms_to_the_sold_ones_and_goes_back(tmp_path):
    """After 0022 each sold certificate holds the nominal, the visits and the services of
    its kind as they were (the best known: the kind today); its downgrade drops them."""
    from flask_migrate import downgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.test_schema import database_at, insert_customer

    now = "2026-11-20 09:00:00"
    with database_at(tmp_path, "0021") as upgrade:
        insert_customer(now=now)
        for statement in (
            "INSERT INTO catalog_item (id, name, kind, price, active, created_on, changed_on) VALUES "
            f"(1, 'Массаж', 'service', 2500, 1, '{now}', '{now}')",
            "INSERT INTO certificate_kind (id, name, type, price, amount, visits, valid_days, active, created_on, "
            f"changed_on) VALUES (1, 'Подарочный', 'sum', 4500, 5000, NULL, 365, 1, '{now}', '{now}'), "
            f"(2, 'Абонемент', 'visits', 9000, NULL, 5, 90, 1, '{now}', '{now}')",
            "INSERT INTO certificate_kind_service (kind_id, catalog_item_id) VALUES (2, 1)",
            "INSERT INTO certificate (id, code, kind_id, customer_id, type, price, method, sold_at, valid_until, "
            f"balance, visits_left, created_on, changed_on) VALUES "
            f"(1, '1111-1111', 1, 1, 'sum', 4500, 'cash', '{now}', '{now}', 3000, NULL, '{now}', '{now}'), "
            f"(2, '2222-2222', 2, 1, 'visits', 9000, 'card', '{now}', '{now}', NULL, 3, '{now}', '{now}')",
        ):
            db.session.execute(text(statement))
        db.session.commit()
        upgrade()
        rows = db.session.execute(
            text("SELECT id, amount, visits_total, cancelled_at FROM certificate ORDER BY id")
        ).all()
        assert [(i, Decimal(str(a)) if a is not None else None, v, c) for i, a, v, c in rows] == [
            (1, Decimal("5000"), None, None),
            (2, None, 5, None),
        ]
        assert db.session.execute(
            text("SELECT certificate_id, catalog_item_id FROM certificate_service")
        ).all() == [(2, 1)]
        assert db.session.execute(
            text(
                "SELECT COUNT(*) FROM message_template WHERE message_type IN ('deposit_sent', 'deposit_received')"
            )
        ).scalar()
        db.session.commit()
        downgrade(revision="0021")
        columns = {c["name"] for c in sa_inspect(db.engine).get_columns("certificate")}
        assert not {"amount", "visits_total", "cancelled_at"} & columns
        upgrade()


def test_every_message_about_a_subscription_calls_it_a_subscription(ctx, login_as):
    """A subscription («абонемент») sold from the deposit, paid with, refused and cancelled:
    the deposit's ledger, the payment screen's refusals, the cancel page and its message
    read «Сертификат №…» for a thing the customer holds as «Абонемент №…». Each names what
    it is; a money certificate stays «Сертификат №…»."""
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    stranger = factories.customer(ctx, last_name="Петрова", phone="+79167654321")
    payments.add_operation(ctx, customer, Account.DEPOSIT, OperationKind.TOP_UP, "20000", may_adjust=False)
    ctx.commit()
    course = kind(ctx, "Курс массажа", price="8000", visits=4, services=[massage])
    subscription = payments.sell_certificate(
        ctx, Certificate(customer=customer, kind=course, method=PaymentMethod.DEPOSIT), may_sell=True
    )
    ctx.commit()
    code = subscription.code
    gift = sold(ctx, customer, kind(ctx, "Подарочный 1 000", price="1000"))
    # the deposit's ledger: what was bought with it
    purchase = ctx.query(AccountOperation).filter_by(kind=OperationKind.PURCHASE).one()
    assert purchase.comment == f"Абонемент №{code} «Курс массажа»"
    assert str(subscription) == f"Абонемент №{code} «Курс массажа»"
    assert str(gift) == f"Сертификат №{gift.code} «Подарочный 1 000»"
    manager = login_as("manager")
    # refused at the payment: another customer's subscription
    foreign = factories.order(ctx, stranger, items=(("Массаж спины", "2500.00", 1),))
    refused = manager.post(
        f"/paymentview/add?_flt_0_order={foreign.id}",
        data={"amount": "2500", "method": "certificate", "certificate_code": code},
    )
    assert refused.status_code == 422
    assert f"Абонемент №{code} принадлежит другому клиенту." in plain(refused)
    assert "Сертификат №" not in plain(refused)
    # cancelled: the page, the message, the deposit's refund
    url = f"/certificateview/cancel/{subscription.id}"
    page = plain(manager.get(url))
    assert f"Аннулировать абонемент №{code}" in page and f"сертификат №{code}" not in page
    done = plain(manager.post(url, data={"reason": "Клиент переехал"}, follow_redirects=True))
    assert (
        f"Абонемент №{code} аннулирован, на депозит клиента Иванова Анна Сергеевна возвращено 8 000,00 ₽."
        in done
    )
    refund = ctx.query(AccountOperation).filter_by(kind=OperationKind.CERTIFICATE_REFUND).one()
    assert refund.comment == f"Абонемент №{code} аннулирован: Клиент переехал"
    twice = plain(manager.post(url, data={"reason": "Ещё раз"}))
    assert f"Абонемент №{code} уже аннулирован." in twice
    # paid with after its cancellation
    visit = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    late = plain(
        manager.post(
            f"/paymentview/add?_flt_0_order={visit.id}",
            data={"amount": "2500", "method": "certificate", "certificate_code": code},
        )
    )
    assert f"Абонемент №{code} аннулирован" in late and "Сертификат №" not in late
    # a money certificate is still a certificate
    gone = plain(
        manager.post(f"/certificateview/cancel/{gift.id}", data={"reason": "Просьба"}, follow_redirects=True)
    )
    assert (
        f"Сертификат №{gift.code} аннулирован, на депозит клиента Иванова Анна Сергеевна возвращено 1 000,00 ₽."
        in gone
    )


def test_an_expired_subscription_is_refused_as_a_subscription(ctx):
    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    course = kind(ctx, "Курс массажа", price="8000", visits=4, services=[massage], days=30)
    expired = sold(ctx, customer, course, now=utcnow() - dt.timedelta(days=200))
    order = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    with pytest.raises(
        ValidationFailed, match=r"Срок действия абонемента №\d{4}-\d{4} истёк \d\d\.\d\d\.\d{4}"
    ):
        payments.take_payment(ctx, order, "2500", PaymentMethod.CERTIFICATE, certificate=expired)
    ctx.rollback()


def test_the_payments_list_says_what_a_cancelled_subscriptions_visit_reversed_put_on_the_deposit(
    ctx, login_as
):
    """Week: a subscription of 5 for 8 000 paid a 2 000 visit, was cancelled, and the payment
    was reversed: 1 600 went to the deposit. The reversal's row keeps −2 000 (the order's
    books: its payments sum to what is paid), but no longer reads «С депозита» as if the
    2 000 had gone there: «На депозит 1 600,00 ₽», on the list and the card's tab."""
    customer, order, paid = visit_of_a_cancelled_subscription(ctx)
    reversal = payments.reverse_payment(ctx, ctx.get(Payment, paid.id), "Ошибочно проведён")
    ctx.commit()
    ctx.expire_all()
    assert ctx.get(Payment, reversal.id).amount == Decimal("-2000.00")
    assert ctx.get(Order, order.id).paid == Decimal("0.00")
    manager = login_as("manager")
    for url in ("/paymentview/list/", f"/customerview/show/{customer.id}"):
        page = plain(manager.get(url))
        assert "На депозит 1 600,00 ₽ (по цене аннулированного сертификата)" in page, url
        assert "−2 000,00 ₽" in page or "-2 000,00 ₽" in page, url
    shown = plain(manager.get(f"/paymentview/show/{reversal.id}"))
    assert "На депозит 1 600,00 ₽ (по цене аннулированного сертификата)" in shown
    assert "С депозита" not in shown


def test_the_manager_is_told_how_much_a_reversal_gave_back_and_where(ctx, login_as):
    """«Платёж №N сторнирован.» said neither how much nor where the money went: a cash
    payment's reversal says the cash, a deposit's the deposit, a gift certificate's the
    certificate, a subscription's the visit, a cancelled subscription's what its visit
    cost put on the deposit."""
    customer = factories.customer(ctx)
    massage = factories.catalog_item(ctx, "Массаж спины", "2000.00")
    manager = login_as("manager")

    def reversed_(payment) -> str:
        done = manager.post(
            f"/paymentview/reverse/{payment.id}", data={"reason": "Ошибка"}, follow_redirects=True
        )
        assert done.status_code == 200
        return plain(done)

    def visit(method, amount="2000", certificate=None):
        order = factories.order(ctx, customer, items=(("Массаж спины", "2000.00", 1),))
        order.items[0].catalog_item = massage
        paid = payments.take_payment(ctx, order, amount, method, certificate=certificate)
        ctx.commit()
        return paid

    cash = visit(PaymentMethod.CASH, "500")
    assert f"Платёж №{cash.id} сторнирован: возвращено 500,00 ₽ наличными." in reversed_(cash)
    payments.add_operation(ctx, customer, Account.DEPOSIT, OperationKind.TOP_UP, "3000", may_adjust=True)
    ctx.commit()
    deposit = visit(PaymentMethod.DEPOSIT, "700")
    assert f"Платёж №{deposit.id} сторнирован: возвращено 700,00 ₽ на депозит клиента." in reversed_(deposit)
    gift = sold(ctx, customer, kind(ctx, "Подарочный 3 000", price="3000"))
    by_gift = visit(PaymentMethod.CERTIFICATE, "1200", certificate=gift)
    said = reversed_(by_gift)
    code = ctx.get(Certificate, gift.id).code
    assert f"Платёж №{by_gift.id} сторнирован: возвращено 1 200,00 ₽ на сертификат №{code} клиента." in said
    subscription = sold(ctx, customer, kind(ctx, "Массаж 5", price="8000", visits=5, services=[massage]))
    by_visit = visit(PaymentMethod.CERTIFICATE, certificate=subscription)
    said = reversed_(by_visit)
    assert (
        f"Платёж №{by_visit.id} сторнирован: визит возвращён на абонемент №{subscription.code} клиента."
        in said
    )
    by_visit = visit(PaymentMethod.CERTIFICATE, certificate=subscription)
    payments.cancel_certificate(ctx, subscription, "Переезд", may_cancel=True)
    ctx.commit()
    said = reversed_(by_visit)
    assert f"Платёж №{by_visit.id} сторнирован: возвращено 1 600,00 ₽ на депозит клиента." in said


def test_a_kind_with_a_blank_nominal_shows_its_price_as_the_nominal(ctx, login_as):
    """A certificate kind's «Номинал» left blank is its price (what a certificate of it is
    sold with): the kinds' list and page showed it blank; they show the price, said so.
    A typed nominal is shown as typed; a subscription has none."""
    massage = factories.catalog_item(ctx, "Массаж спины", "2000.00")
    blank = kind(ctx, "Подарочный 3 000", price="3000")
    kind(ctx, "Подарочный 5 000", price="4500", amount="5000")
    kind(ctx, "Массаж 5", price="8000", visits=5, services=[massage])
    customer = factories.customer(ctx)
    assert sold(ctx, customer, blank).amount == Decimal("3000.00")
    admin = login_as("sysadmin")
    listed = plain(admin.get("/certificatekindview/list/"))
    assert "3 000,00 ₽ (равен цене)" in listed and "5 000,00 ₽" in listed
    assert listed.count("(равен цене)") == 1
    shown = plain(admin.get(f"/certificatekindview/show/{blank.id}"))
    assert "Номинал" in shown and "3 000,00 ₽ (равен цене)" in shown
    form = plain(admin.get(f"/certificatekindview/edit/{blank.id}"))
    assert "пусто — равен цене" in form
