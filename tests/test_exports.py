"""CSV and XLSX exports a spreadsheet opens safely and reads correctly (app/spreadsheet.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import flask
import pytest
from openpyxl import load_workbook

from app.models import Note
from tests import factories, matrix, sheets


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


# -- the same lists as Excel workbooks (app/spreadsheet.py Workbook) ------------------


def workbook_rows(response):
    """(the sheet, its rows of cells): the workbook an export gave, of exactly one sheet."""
    (sheet,) = sheets.workbook(response).worksheets
    return sheet, [list(row) for row in sheet.iter_rows()]


def test_every_list_with_a_csv_has_a_workbook_beside_it_with_the_same_rows(ctx, login_as):
    """A manager opening the CSV in Excel got amounts and dates as Excel guessed them in
    its own language. Each list with «Выгрузить CSV» has «Выгрузить в Excel» beside it,
    with the same address arguments, the same columns and the same rows."""
    customer = factories.customer(ctx)
    factories.order(ctx, customer, items=(("Консультация", "12345.60", 1),), paid="100.5")
    client = login_as("manager")
    listing = client.get("/customerview/list/?q=Иван").get_data(as_text=True)
    (csv_link,) = re.findall(r'href="(/customerview/export\.csv[^"]*)"', listing)
    (xlsx_link,) = re.findall(r'href="(/customerview/export\.xlsx[^"]*)"', listing)
    assert csv_link.split("?")[1] == xlsx_link.split("?")[1] == "q=Иван"  # the list as it is filtered
    assert "Выгрузить в Excel" in listing
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert f"/ordertab/export.xlsx?_rel_customer={customer.id}" in card
    for url in ("/orderview/export", "/customerview/export", "/noteview/export"):
        csv_table = rows(client.get(url + ".csv"))
        xlsx_table = sheets.table(client.get(url + ".xlsx"))
        assert xlsx_table[0] == csv_table[0], url  # the same headers, in Russian
        assert len(xlsx_table) == len(csv_table), url


def test_the_workbook_holds_dates_as_dates_and_money_as_rubles(app, ctx, login_as):
    """Dates, times and amounts are values of their type, not text: Excel sorts, sums and
    filters them. Money carries the ruble's number format; the sheet is named after the
    list and the file after the list and the clinic's day."""
    customer = factories.customer(ctx, birth_date=dt.date(1980, 2, 3))
    order = factories.order(ctx, customer, items=(("Консультация", "12345.60", 1),), paid="100.5")
    client = login_as("manager")
    clinic = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    before = dt.datetime.now(clinic).date()
    response = client.get("/orderview/export.xlsx")
    days = {before, dt.datetime.now(clinic).date()}  # the clinic's day (a midnight may pass)
    assert response.headers["Content-Disposition"] in {
        f"attachment; filename=orderview-{day.isoformat()}.xlsx" for day in days
    }
    sheet, (header, row) = workbook_rows(response)
    assert sheet.title == "Заказы"
    cells = {h.value: c for h, c in zip(header, row, strict=True)}
    assert header[0].font.b  # the column names stand out
    assert cells["ID"].value == order.id and cells["ID"].data_type == "n"
    for name, amount in (("Итого", "12345.60"), ("Оплачено", "100.50"), ("Долг", "12245.10")):
        assert Decimal(str(cells[name].value)) == Decimal(amount), name
        assert cells[name].data_type == "n" and "₽" in cells[name].number_format, name
    created = cells["Создано"]
    assert created.is_date and isinstance(created.value, dt.datetime)
    assert created.number_format == "DD.MM.YYYY hh:mm"
    csv_created = column(rows(client.get("/orderview/export.csv")), "Создано")[0]
    assert created.value.strftime("%Y-%m-%d %H:%M") == csv_created  # the clinic's time, as the CSV

    customer_sheet, (header, row) = workbook_rows(client.get("/customerview/export.xlsx"))
    cells = {h.value: c for h, c in zip(header, row, strict=True)}
    assert customer_sheet.title == "Клиенты"
    assert cells["Телефон"].value == "8 (916) 123-45-67" and cells["Телефон"].data_type == "s"
    assert cells["ФИО"].value == "Иванова Анна Сергеевна"
    name_column = customer_sheet.column_dimensions[cells["ФИО"].column_letter]
    assert name_column.width >= len("Иванова Анна Сергеевна")  # the name is read whole
    registered = cells["Дата регистрации"]
    assert registered.is_date and registered.number_format.startswith("DD.MM.YYYY")


def test_a_text_that_looks_like_a_formula_stays_text_in_the_workbook(ctx, login_as):
    """In a workbook a cell is a formula only if it is written as one: a note «=HYPERLINK(…)»
    is a text cell holding what was typed (no quote added); a control character that XML
    cannot hold is left out instead of failing the export."""
    customer = factories.customer(ctx, last_name=FORMULAS[0], first_name="Анна")
    for text in FORMULAS:
        ctx.add(Note(customer=customer, text=text))
    ctx.add(Note(customer=customer, text="звонок\x01 в 10:00"))
    ctx.commit()
    client = login_as("manager")
    _sheet, (header, *body) = workbook_rows(client.get("/noteview/export.xlsx"))
    index = [h.value for h in header].index("Текст")
    texts = [row[index] for row in body]
    assert all(cell.data_type == "s" for cell in texts)
    typed = [*(text.replace("\r", "\n") for text in FORMULAS), "звонок в 10:00"]  # a line end as XML keeps it
    assert sorted(cell.value for cell in texts) == sorted(typed)


@pytest.fixture
def auditor_exports(app):
    """The clinic gave the auditor «Клиенты: выгрузка» on FAB's roles screen."""
    from app.access import CUSTOMERS, ROLES

    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_permission_role(
            sm.find_role(ROLES["auditor"].name), sm.find_permission_view_menu("can_export", CUSTOMERS)
        )
    yield
    with app.app_context():
        sm = app.appbuilder.sm
        sm.del_permission_role(
            sm.find_role(ROLES["auditor"].name), sm.find_permission_view_menu("can_export", CUSTOMERS)
        )


@pytest.mark.parametrize("kind", sheets.FORMATS)
def test_a_masked_field_is_masked_in_either_export(ctx, login_as, auditor_exports, kind):
    """The auditor reads phones and e-mails masked; given the right to export, the file
    holds them masked too, the workbook as the CSV (one code path, one policy)."""
    factories.customer(ctx, phone="+79161234567", email="secret.patient@example.ru")
    client = login_as("auditor")
    table = sheets.table(client.get(f"/customerview/export.{kind}"))
    text = "\n".join("\t".join(str(cell) for cell in row) for row in table)
    assert "Иванова Анна Сергеевна" in text
    # (not a bare «916»: a registration time's seconds in the workbook can hold it)
    for secret in ("+79161234567", "8 (916) 123-45-67", "123-45-67", "1234567", "secret.patient"):
        assert secret not in text, (kind, secret)


# -- every export, every role (generated from the views the app registers) -----------


def exports(app) -> list[tuple[str, str, bool]]:
    """(address, resource, declared) of every list export the app serves, in both formats:
    ``declared`` when the view lists the export among its permissions."""
    found = []
    for view in app.appbuilder.baseviews:
        name = type(view).__name__
        for endpoint in ("export", "export_xlsx"):
            if f"{name}.{endpoint}" not in app.view_functions:
                continue
            with app.test_request_context():
                url = flask.url_for(f"{name}.{endpoint}")
            found.append((url, view.class_permission_name, "can_export" in (view.base_permissions or ())))
    return sorted(found)


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_every_export_answers_each_role_as_the_matrix_says(app, ctx, login_as, role_key):
    """Each list's CSV and workbook: the rows for a role that may export what it writes
    (the manager), a refusal for every other, and never a server error; a view added later
    is covered without editing this test. The messages list is one of them."""
    customer = factories.customer(ctx)
    factories.order(ctx, customer, items=(("Консультация", "2500.00", 1),), paid="1000")
    addresses = exports(app)
    assert "/messageview/export.csv" in {url for url, *_ in addresses}
    assert "/messageview/export.xlsx" in {url for url, *_ in addresses}
    client = login_as(role_key)
    wrong = []
    for url, resource, declared in addresses:
        allowed = declared and matrix.exports(role_key, resource)
        response = client.get(url)
        if allowed:
            ok = response.status_code == 200 and sheets.table(response)[0]  # a header row at least
        else:
            ok = response.status_code in (403, 404) or "/login" in response.headers.get("Location", "")
        if not ok:
            wrong.append((url, response.status_code, allowed))
    assert wrong == []


@pytest.mark.parametrize("kind", sheets.FORMATS)
def test_the_messages_list_exports_as_the_other_lists_do(ctx, login_as, kind):
    """«Сообщения» had no export: the manager checking what went out to customers had to
    copy the list by hand. It has «Выгрузить CSV» and «Выгрузить в Excel» under the same
    policy as the other lists (the manager's right; the front desk, which sends messages
    but exports nothing, is refused), and the card's tab exports that customer's only."""
    from app.models import Message, MessageStatus

    anna = factories.customer(ctx)
    olga = factories.customer(ctx, last_name="Смирнова", first_name="Ольга", phone="+79035550001")
    sent = dt.datetime(2026, 11, 20, 6, 0)
    ctx.add_all(
        [
            Message(
                customer=anna,
                channel="sms",
                message_type="manual",
                body="Ждём вас завтра",
                status=MessageStatus.SENT,
                sent_at=sent,
            ),
            Message(customer=olga, channel="email", message_type="manual", body="Счёт", subject="Счёт"),
        ]
    )
    ctx.commit()
    manager = login_as("manager")
    listing = manager.get("/messageview/list/").get_data(as_text=True)
    assert f'href="/messageview/export.{kind}"' in listing
    table = sheets.table(manager.get(f"/messageview/export.{kind}"))
    assert table[0][:3] == ["Создано", "Клиент", "Канал"] and "Статус" in table[0]
    assert sorted(column(table, "Клиент")) == ["Иванова Анна Сергеевна", "Смирнова Ольга Сергеевна"]
    assert "Отправлено" in column(table, "Статус")
    tab = sheets.table(manager.get(f"/messagetab/export.{kind}", query_string={"_rel_customer": anna.id}))
    assert column(tab, "Текст") == ["Ждём вас завтра"]
    reception = login_as("reception")
    assert reception.get(f"/messageview/export.{kind}").status_code == 403
    assert f"/messageview/export.{kind}" not in reception.get("/messageview/list/").get_data(as_text=True)


def test_a_long_workbook_keeps_every_row_and_the_widths_of_its_first(app):
    """Past the rows its widths are measured on, a workbook streams its rows: none is lost."""
    from app.spreadsheet import Workbook

    with app.test_request_context():
        book = Workbook("Клиенты: [все]")
        book.row([book.cell("№"), book.cell("ФИО")])
        for n in range(Workbook.WIDTH_ROWS + 50):
            book.row([book.cell(n), book.cell("Константинопольская Анастасия" if n == 3 else "Ли")])
        data = book.data()
    (sheet,) = load_workbook(io.BytesIO(data)).worksheets
    assert sheet.title == "Клиенты   все"  # what Excel refuses in a sheet's name is left out
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == Workbook.WIDTH_ROWS + 51 and values[-1] == (Workbook.WIDTH_ROWS + 49, "Ли")
    assert sheet.column_dimensions["B"].width >= len("Константинопольская Анастасия")


@pytest.mark.parametrize("kind", sheets.FORMATS)
def test_the_auditor_exports_the_journals_it_reads(ctx, login_as, kind):
    """The auditor (internal control under 152-FZ) read the access journal and the change
    history but could only copy them by hand for an inspection. It exports both, as the
    other lists export: the list's rows under the same field policy (a phone changed is
    masked in «Было»/«Стало» as on the screen), the export a row of the journal itself;
    the system administrator, who reads the journal, exports nothing, as before."""
    from app.models import AccessLog, Customer

    customer = factories.customer(ctx, phone="+79161234567")
    login_as("manager").get(f"/customerview/show/{customer.id}")  # a card opened: a journal row
    ctx.get(Customer, customer.id).phone = "+79035550001"
    ctx.commit()
    auditor = login_as("auditor")
    listing = auditor.get("/accesslogview/list/").get_data(as_text=True)
    assert 'href="/accesslogview/export.csv' in listing and "Выгрузить в Excel" in listing
    journal = sheets.table(auditor.get(f"/accesslogview/export.{kind}"))
    assert journal[0][:3] == ["Когда", "Сотрудник", "Клиент"]
    assert any("Manager Тестовый" in row and "Открытие карточки" in row for row in journal[1:]), journal
    history = sheets.table(auditor.get(f"/changelogview/export.{kind}"))
    text = "\n".join("\t".join(str(cell) for cell in row) for row in history)
    assert "Телефон" in text and "***" in text
    for secret in ("+79161234567", "+79035550001", "916 123", "903 555"):
        assert secret not in text, secret
    ctx.expire_all()
    assert {e.detail.split(":")[0] for e in ctx.query(AccessLog).filter_by(action="export")} == {
        "AccessJournal",
        "ChangeHistory",
    }
    sysadmin = login_as("sysadmin")
    assert sysadmin.get(f"/accesslogview/export.{kind}").status_code == 403
    assert "export.csv" not in sysadmin.get("/accesslogview/list/").get_data(as_text=True)
