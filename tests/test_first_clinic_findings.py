"""What a new clinic met in its first hours with the money, the consents, the history
and a subject's requests (found in Chromium, in Russian, on an empty database): each
test is one of those findings, asserted on what the user sees or what is stored."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import zipfile
from decimal import Decimal

from rq import SimpleWorker
from sqlalchemy import select

from app import certificates, payments, worker
from app.extensions import db
from app.models import (
    Account,
    Certificate,
    CertificateKind,
    CertificateType,
    CustomerCategory,
    OperationKind,
    Order,
    PaymentMethod,
    SubjectRequest,
)
from tests import factories


def page_text(response) -> str:
    """The page's text as a reader sees it: tags gone, spaces as spaces."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def test_a_category_bonus_share_is_shown_in_per_cent_not_in_roubles(app, login_as):
    with app.app_context():
        db.session.add(
            CustomerCategory(name="Постоянные", discount=Decimal("10"), bonus_percent=Decimal("5"))
        )
        db.session.commit()
        pk = db.session.scalars(select(CustomerCategory.id)).one()
    client = login_as("manager")
    for url in ("/categoryview/list/", f"/categoryview/show/{pk}"):
        shown = page_text(client.get(url))
        assert "5,00 ₽" not in shown  # «Бонусы с оплаты, %» read as money
        assert re.search(r"Постоянные 10 5\b", shown) or "Бонусы с оплаты, % 5" in shown


def test_take_payment_says_which_order_whose_and_what_is_owed_and_offers_the_debt(app, login_as):
    with app.app_context():
        customer = factories.customer(last_name="Смирнова", first_name="Ольга", middle_name="Петровна")
        order = factories.order(customer=customer, items=(("Массаж спины", "2500.00", 1),), paid="1000.50")
        order_id = order.id
    client = login_as("reception")
    response = client.get(f"/paymentview/add?_flt_0_order={order_id}")
    assert response.status_code == 200
    shown = page_text(response)
    assert f"Принять оплату: заказ №{order_id}, Смирнова Ольга Петровна. Долг: 1 499,50 ₽" in shown
    assert re.search(
        r'id="amount"[^>]*value="1 ?499,50"', response.get_data(as_text=True).replace("\xa0", " ")
    )
    # the amount offered is what the customer owes; a part is typed over it as before
    response = client.post(
        f"/paymentview/add?_flt_0_order={order_id}", data={"amount": "500", "method": "cash"}
    )
    assert response.status_code == 302
    with app.app_context():
        stored = db.session.get(Order, order_id)
        assert (stored.paid, stored.debt) == (Decimal("1500.50"), Decimal("999.50"))
    # without a bound order the form is the plain one
    assert "Принять оплату" in page_text(client.get("/paymentview/add"))


def test_the_change_history_shows_amounts_dates_and_moments_as_the_screens_do(app, login_as):
    client = login_as("reception")
    response = client.post(
        "/customerview/add",
        data={
            "last_name": "Смирнова",
            "first_name": "Ольга",
            "phone": "8 916 123-45-67",
            "birth_date": "15.03.1990",
            "customer_type": "individual",
            "status": "active",
            "discount": "",
        },
    )
    assert response.status_code == 302, page_text(response)[:500]
    with app.app_context():
        customer = factories.customer(phone="+79160000001")
        order = factories.order(customer=customer, items=(("Массаж спины", "1500.50", 1),))
        order.created_on = dt.datetime(2026, 11, 30, 9, 0)  # a payment is not dated before its order
        db.session.commit()
        order_id = order.id
    response = client.post(
        f"/paymentview/add?_flt_0_order={order_id}",
        data={"amount": "1 500,50", "method": "cash", "paid_at": "01.12.2026 10:30"},
    )
    assert response.status_code == 302
    shown = page_text(login_as("manager").get("/changelogview/list/?psize_ChangeLogView=100"))
    assert "Дата рождения 15.03.1990" in shown
    assert "Сумма 1 500,50 ₽" in shown and "Оплачено 0,00 ₽ 1 500,50 ₽" in shown
    assert "Когда 01.12.2026 10:30" in shown  # typed on the clinic's clock, shown on it
    assert "1500.50" not in shown and "1990-03-15" not in shown
    assert "2026-12-01 07:30:00" not in shown  # the stored UTC moment


def work(app):
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)


def test_a_subjects_export_holds_their_payments_accounts_and_certificates(app, redis, login_as):
    with app.app_context():
        customer = factories.customer()
        order = factories.order(customer=customer, items=(("Массаж спины", "2500.00", 1),), paid="1000.50")
        payments.add_operation(
            db.session, customer, Account.DEPOSIT, OperationKind.TOP_UP, "3000", may_adjust=False
        )
        kind = CertificateKind(
            name="Подарочный 5000",
            type=CertificateType.SUM,
            price=Decimal("5000"),
            valid_days=365,
            active=True,
        )
        db.session.add(kind)
        sold = Certificate(customer=customer, kind=kind, method=PaymentMethod.CARD)
        certificates.sell(db.session, sold, may_sell=True)
        db.session.commit()
        customer_id, order_id, code = customer.id, order.id, sold.code
    client = login_as("manager")
    client.post(f"/customerview/{customer_id}/subject/export", data={"basis": "Заявление № 15"})
    work(app)
    with app.app_context():
        request_id = db.session.scalars(select(SubjectRequest.id)).one()
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/customerview/subject/{request_id}/download").data))
    tables = json.loads(archive.read("data.json"))["tables"]
    assert [(p["order_id"], Decimal(p["amount"])) for p in tables["payment"]] == [
        (order_id, Decimal("1000.50"))
    ]
    assert [(op["kind"], Decimal(op["amount"])) for op in tables["account_operation"]] == [
        ("top_up", Decimal("3000"))
    ]
    assert [c["code"] for c in tables["certificate"]] == [code]
    assert [op["kind"] for op in tables["certificate_operation"]] == ["issue"]
    assert code in archive.read("report.html").decode()


def test_the_erasure_act_names_who_opened_the_card_and_what_they_did(app, login_as):
    with app.app_context():
        customer_id = factories.customer().id
    assert login_as("reception").get(f"/customerview/show/{customer_id}").status_code == 200
    client = login_as("manager")
    response = client.post(
        f"/customerview/{customer_id}/subject/erase", data={"basis": "Заявление № 16", "confirm": "yes"}
    )
    assert response.status_code == 302
    with app.app_context():
        act = db.session.scalars(select(SubjectRequest.act).where(SubjectRequest.act.isnot(None))).one()
        reception = app.appbuilder.sm.find_user(username="reception")
    excerpt = act.split("Выписка из журнала доступа", 1)[1]
    name = f"{reception.first_name} {reception.last_name} (reception)"
    assert f"· {name} · Открытие карточки ·" in excerpt
    assert f"· {name} · Открытие вкладки · Документы ·" in excerpt
    assert " · card · " not in excerpt and f" · {reception.id} · " not in excerpt


def test_the_forms_offer_only_what_they_accept(app, login_as):
    with app.app_context():
        customer_id = factories.customer().id
    client = login_as("reception")
    consent = client.get(f"/consenttab/add?_flt_0_customer={customer_id}").get_data(as_text=True)
    assert ">Напоминание о визите<" in consent and ">Рекламная рассылка<" in consent
    assert "Изменение статуса клиента" not in consent  # the staff's own, never sent
    operation = client.get(f"/accountoperationtab/add?_flt_0_customer={customer_id}").get_data(as_text=True)
    kinds = re.findall(
        r'<option[^>]*value="(\w+)"', operation.split('id="kind"', 1)[1].split("</select>", 1)[0]
    )
    assert kinds == ["top_up"]  # the adjustments are the manager's: the front desk is not offered them
    # and what they offer is stored: a top-up of the deposit typed as staff type it
    response = client.post(
        f"/accountoperationtab/add?_flt_0_customer={customer_id}",
        data={"account": "deposit", "kind": "top_up", "amount": "1 500,50"},
    )
    assert response.status_code == 302
    with app.app_context():
        from app.models import Customer

        assert db.session.get(Customer, customer_id).deposit_balance == Decimal("1500.50")


def test_the_front_desk_is_told_the_payment_taken_and_the_certificate_number_sold(app, login_as):
    with app.app_context():
        customer = factories.customer()
        order_id = factories.order(customer=customer, items=(("Массаж спины", "2500.00", 1),)).id
        kind = CertificateKind(
            name="Абонемент 5 массажей",
            type=CertificateType.VISITS,
            price=Decimal("10000"),
            visits=5,
            valid_days=90,
            active=True,
        )
        db.session.add(kind)
        db.session.commit()
        customer_id, kind_id = customer.id, kind.id
    client = login_as("reception")
    response = client.post(
        f"/paymentview/add?_flt_0_order={order_id}", data={"amount": "1 000,50", "method": "card"}
    )
    assert response.status_code == 302
    shown = page_text(client.get(response.headers["Location"]))
    assert f"Оплата 1 000,50 ₽ по заказу №{order_id} принята. Долг: 1 499,50 ₽" in shown
    response = client.post(
        f"/certificatetab/add?_flt_0_customer={customer_id}", data={"kind": kind_id, "method": "cash"}
    )
    assert response.status_code == 302
    with app.app_context():
        sold = db.session.scalars(select(Certificate)).one()
        code, until = sold.code, sold.valid_until
    from app import formatting

    with app.test_request_context():
        day = formatting.local_from_utc(until).strftime("%d.%m.%Y")
    shown = page_text(client.get(response.headers["Location"]))
    assert f"Продан «Абонемент 5 массажей» №{code}, действует до {day}." in shown


def test_the_certificate_number_and_the_treatment_consent_are_styled_as_their_forms(app, login_as):
    with app.app_context():
        order_id = factories.order(customer=factories.customer()).id
    client = login_as("reception")
    pay = client.get(f"/paymentview/add?_flt_0_order={order_id}").get_data(as_text=True)
    assert re.search(r'<input[^>]*class="form-control"[^>]*id="certificate_code"', pay)
    add = client.get("/customerview/add").get_data(as_text=True)
    assert re.search(r'<select[^>]*class="form-control"[^>]*id="consent_treatment"', add)
