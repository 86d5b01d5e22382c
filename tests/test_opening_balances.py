"""A clinic moving from its old program brings what its customers had on their deposits
and bonus accounts: «Остаток на начало учёта», typed on the new customer's form, read
from the customers' file, or written on the accounts screen before any other operation."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Account, AccountOperation, Customer, OperationKind
from tests import factories
from tests.test_import import check, token_of

NEW = {
    "customer_type": "individual",
    "last_name": "Смирнова",
    "first_name": "Анна",
    "phone": "8 916 123-45-67",
}


def ledger(app, phone="+79161234567"):
    with app.app_context():
        customer = db.session.scalars(select(Customer).where(Customer.phone == phone)).one_or_none()
        if customer is None:
            return None
        operations = db.session.scalars(
            select(AccountOperation)
            .where(AccountOperation.customer_id == customer.id)
            .order_by(AccountOperation.id)
        ).all()
        found = (
            customer.deposit_balance,
            customer.bonus_balance,
            [(o.account, o.kind, o.amount, o.expires_at, o.comment) for o in operations],
        )
        db.session.expunge_all()
        return found


def text(response) -> str:
    return response.get_data(as_text=True).replace("\xa0", " ").replace("\u202f", " ")


def test_the_manager_types_the_old_programs_balances_on_the_new_customers_form(app, login_as):
    client = login_as("manager")
    form = text(client.get("/customerview/add"))
    assert "Депозит на начало учёта" in form and "Бонусы на начало учёта" in form

    saved = client.post("/customerview/add", data={**NEW, "opening_deposit": "1 500,50", "opening_bonus": ""})
    assert saved.status_code == 302, text(saved)[:2000]
    deposit, bonus, operations = ledger(app)
    assert (deposit, bonus) == (Decimal("1500.50"), Decimal("0"))
    ((account, kind, amount, expires_at, comment),) = operations
    assert (account, kind, amount, expires_at) == (
        Account.DEPOSIT,
        OperationKind.OPENING,
        Decimal("1500.50"),
        None,
    )
    assert comment == "Остаток из прежней программы учёта"
    card = text(client.get(f"/customerview/show/{ledger_id(app)}"))
    assert "Клиент Смирнова Анна добавлен в картотеку." in card
    assert "Остаток на начало учёта" in card and "1 500,50" in card


def ledger_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Customer.id).where(Customer.phone == "+79161234567"))


def test_a_bad_opening_balance_is_told_at_its_box_and_nothing_is_saved(app, login_as):
    client = login_as("manager")
    for typed, message in (
        ("-100", "Сумма должна быть больше нуля."),
        ("сто", "Введите число, например 1500,50."),
        ("10,555", "Не больше 2 знаков после запятой."),
    ):
        refused = client.post("/customerview/add", data={**NEW, "opening_bonus": typed})
        assert refused.status_code == 422, typed
        assert re.search(r'id="opening_bonus-error"[^>]*>\s*' + re.escape(message), text(refused)), typed
        assert ledger(app) is None, typed


def test_the_front_desk_is_not_offered_the_balances_and_cannot_post_them(app, login_as):
    client = login_as("reception")
    assert "opening_deposit" not in client.get("/customerview/add").get_data(as_text=True)
    saved = client.post("/customerview/add", data={**NEW, "opening_deposit": "5000"})
    assert saved.status_code == 302
    assert ledger(app) == (Decimal("0"), Decimal("0"), [])


BALANCES_CSV = (
    "Фамилия;Имя;Телефон;Депозит на начало учёта;Бонусы на начало учёта\r\n"
    "Смирнова;Анна;8 916 123-45-67;1 500,50;300\r\n"
    "Петров;Иван;+7 (903) 555-12-34;;\r\n"
)


def test_the_customers_file_brings_their_balances(app, login_as):
    client = login_as("manager")
    checked = check(client, "клиенты.csv", BALANCES_CSV.encode("cp1251"))
    assert checked.status_code == 200, text(checked)[:3000]
    assert "не загружаются" not in text(checked)
    loaded = client.post("/customerview/import/", data={"token": token_of(checked.data)})
    assert loaded.status_code == 302
    deposit, bonus, operations = ledger(app)
    assert (deposit, bonus) == (Decimal("1500.50"), Decimal("300.00"))
    assert [(a, k, m) for a, k, m, _e, _c in operations] == [
        (Account.DEPOSIT, OperationKind.OPENING, Decimal("1500.50")),
        (Account.BONUS, OperationKind.OPENING, Decimal("300.00")),
    ]
    assert ledger(app, "+79035551234") == (Decimal("0"), Decimal("0"), [])


def test_a_file_with_a_bad_balance_is_refused_at_its_line(app, login_as):
    client = login_as("manager")
    bad = BALANCES_CSV.replace("1 500,50", "полторы тысячи")
    refused = check(client, "клиенты.csv", bad.encode("utf-8"))
    assert refused.status_code == 422
    row = re.search(r"<tr><td>2</td><td>([^<]*)</td><td>([^<]*)</td></tr>", text(refused))
    assert row and row.groups() == ("Депозит на начало учёта", "Введите число, например 1500,50."), text(
        refused
    )
    assert ledger(app) is None


def test_the_accounts_screen_writes_an_opening_balance_once_before_any_operation(ctx, app, login_as):
    customer = factories.customer(ctx)
    opening = {"customer": str(customer.id), "account": "bonus", "kind": "opening", "amount": "250"}
    reception = login_as("reception")
    assert reception.post("/accountoperationview/add", data=opening).status_code in (403, 422)
    manager = login_as("manager")
    assert 'value="opening"' in manager.get("/accountoperationview/add").get_data(as_text=True)
    assert manager.post("/accountoperationview/add", data=opening).status_code == 302
    deposit, bonus, operations = ledger(app)
    assert bonus == Decimal("250.00") and operations[0][1] == OperationKind.OPENING
    again = manager.post("/accountoperationview/add", data=opening)
    assert again.status_code == 422
    assert (
        "Остаток на начало учёта вносится один раз, до первой операции по счёту «Бонусы»; "
        "исправьте остаток операцией «Начисление» или «Списание» с причиной."
    ) in text(again)
    assert ledger(app)[1] == Decimal("250.00")
    # the deposit has no operation yet: its opening balance is still accepted
    deposit_opening = {**opening, "account": "deposit", "amount": "1000"}
    assert manager.post("/accountoperationview/add", data=deposit_opening).status_code == 302
    assert ledger(app)[0] == Decimal("1000.00")


def test_opening_bonuses_never_burn(ctx, app, login_as):
    import datetime as dt

    from app import payments

    login_as("manager").post("/customerview/add", data={**NEW, "opening_bonus": "300"})
    with app.app_context():
        burnt = payments.expire_bonuses(db.session, now=dt.datetime(2100, 1, 1))
        db.session.commit()
    assert burnt == {}
    assert ledger(app)[1] == Decimal("300.00")


def test_the_sample_file_has_the_balance_columns(login_as):
    from openpyxl import load_workbook

    sample = login_as("manager").get("/customerview/import/sample.xlsx")
    header = [c.value for c in next(load_workbook(io.BytesIO(sample.data)).active.iter_rows())]
    assert {"Депозит на начало учёта", "Бонусы на начало учёта"} <= set(header), header
