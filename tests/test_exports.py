"""CSV exports a spreadsheet opens safely and reads correctly (app/spreadsheet.py)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from app.models import Note
from tests import factories


def rows(response, delimiter=";") -> list[list[str]]:
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(text[1:]), delimiter=delimiter))


def column(table, header) -> list[str]:
    index = table[0].index(header)
    return [row[index] for row in table[1:]]


FORMULAS = [
    '=HYPERLINK("http://evil.example","Открыть")',
    "+7(916)",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


def test_cells_that_would_be_formulas_are_text(ctx, login_as):
    """A last name or a note beginning with «=», «+», «-» or «@» went into the CSV as
    it was, and Excel ran it (OWASP «CSV Injection»: a tab or a carriage return
    starts one too). Such a cell starts with a quote, which the spreadsheet shows as text."""
    customer = factories.customer(ctx, last_name=FORMULAS[0], first_name="Анна")
    for text in FORMULAS:
        ctx.add(Note(customer=customer, text=text))
    ctx.commit()
    client = login_as("manager")
    customers = rows(client.get("/customerview/export.csv"))
    assert column(customers, "ФИО") == ["'" + FORMULAS[0] + " Анна Сергеевна"]
    notes = rows(client.get("/noteview/export.csv"))
    assert sorted(column(notes, "Текст")) == sorted("'" + text for text in FORMULAS)
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in notes for cell in row)


def test_amounts_and_dates_are_values_a_spreadsheet_reads(ctx, login_as):
    """Amounts went out as the screens show them («1 500,00 ₽»: text to a spreadsheet),
    dates as «20.11.2026 12:00» (read as a date in some languages only)."""
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Консультация", "12345.60", 1),), paid="100.5")
    client = login_as("manager")
    orders = rows(client.get("/orderview/export.csv"))
    assert column(orders, "Итого") == ["12345,60"]
    assert column(orders, "Оплачено") == ["100,50"]
    assert column(orders, "Долг") == ["12245,10"]
    assert column(orders, "ID") == [str(order.id)]
    (created,) = column(orders, "Создано")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", created)  # ISO order, the clinic's time
    client.get("/lang/en")
    english = rows(client.get("/orderview/export.csv"), delimiter=",")
    assert column(english, "Total") == ["12345.60"]
    assert column(english, "Debt") == ["12245.10"]


@pytest.mark.parametrize("value", ["-150", "=1", "+1"])
def test_a_number_in_a_text_column_is_neutralised_but_a_number_column_is_not(app, value):
    from app.spreadsheet import Writer

    with app.test_request_context():
        sheet = Writer()
        assert sheet.cell(value) == "'" + value
        assert sheet.cell(-150) == "-150"


def test_the_cards_orders_export_has_no_column_of_the_pay_button(ctx, login_as):
    """«Принять оплату» is a button of the card's «Заказы», not data: the tab's CSV had a
    column «Оплата» holding the order's number («3» in a column beside the amounts, read
    as a payment of 3 ₽)."""
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Консультация", "2500.00", 1),), paid="1000")
    client = login_as("manager")
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "kartoteka-pay" in card  # the button is on the card
    table = rows(client.get("/ordertab/export.csv", query_string={"_rel_customer": customer.id}))
    assert "Оплата" not in table[0]
    assert column(table, "ID") == [str(order.id)]
    assert (column(table, "Итого"), column(table, "Оплачено"), column(table, "Долг")) == (
        ["2500,00"],
        ["1000,00"],
        ["1500,00"],
    )


def test_the_certificates_export_writes_what_is_left_as_numbers_a_spreadsheet_sums(ctx, login_as):
    """«Остаток» mixed «1 500,00 ₽» and «3 визита из 4» in one text column: nothing to sum.
    The CSV writes it as two number columns, the money left and the visits left, each blank
    where the row is of the other kind; the list on the screen still reads «Остаток»."""
    from app import payments
    from app.models import PaymentMethod
    from tests.test_certificates import kind, sold

    massage = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    gift = sold(ctx, customer, kind(ctx, "Подарочный 3 000", price="3000"))
    course = sold(ctx, customer, kind(ctx, "Курс массажа", price="8000", visits=4, services=[massage]))
    visit = factories.order(ctx, customer, items=(("Массаж спины", "2500.00", 1),))
    payments.take_payment(ctx, visit, "2500", PaymentMethod.CERTIFICATE, certificate=course)
    spent = factories.order(ctx, customer, items=(("Консультация", "1499.50", 1),))
    payments.take_payment(ctx, spent, "1499.50", PaymentMethod.CERTIFICATE, certificate=gift)
    ctx.commit()
    client = login_as("manager")
    for url, query in (
        ("/certificateview/export.csv", {}),
        ("/certificatetab/export.csv", {"_rel_customer": customer.id}),
    ):
        table = rows(client.get(url, query_string=query))
        assert "Остаток" not in table[0], url
        money, visits = column(table, "Остаток суммы"), column(table, "Осталось визитов")
        left = dict(zip(column(table, "Номер"), zip(money, visits, strict=True), strict=True))
        assert left == {gift.code: ("1500,50", ""), course.code: ("", "3")}, url
    listing = client.get("/certificateview/list/").get_data(as_text=True).replace("\xa0", " ")
    assert "1 500,50 ₽" in listing and "3 визита из 4" in listing


def test_the_payments_export_says_what_a_cancelled_subscriptions_reversal_put_on_the_deposit(ctx, login_as):
    """The list and the payment's page read «На депозит 1 600,00 ₽ (по цене аннулированного
    сертификата)» for the reversal of a cancelled subscription's visit; the CSV said «С депозита»
    beside −2 000, as if the 2 000 had gone to the deposit. The export says what the page says."""
    from app import payments
    from app.models import Payment
    from tests.test_certificates import visit_of_a_cancelled_subscription

    customer, _order, paid = visit_of_a_cancelled_subscription(ctx)
    payments.reverse_payment(ctx, ctx.get(Payment, paid.id), "Ошибочно проведён")
    ctx.commit()
    client = login_as("manager")
    for url, query in (
        ("/paymentview/export.csv", {}),
        ("/paymenttab/export.csv", {"_rel_customer": customer.id}),
    ):
        table = rows(client.get(url, query_string=query))
        ways = dict(zip(column(table, "Сумма"), column(table, "Способ оплаты"), strict=True))
        assert ways == {
            "2000,00": "Сертификатом",
            "-2000,00": "На депозит 1\xa0600,00\xa0₽ (по цене аннулированного сертификата)",
        }, (url, ways)
