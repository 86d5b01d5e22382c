"""The customer's money, second part (issue 18): a deposit moved to another customer's,
a discount given by hand (its own right), the administrator's discount rule, the card's
«Заказы» at a glance and the customers list's «Сумма покупок» and «С задолженностью»."""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import access, orders, payments
from app.errors import ValidationFailed
from app.models import (
    Account,
    AccountOperation,
    Customer,
    CustomerCategory,
    CustomerStatus,
    DiscountRule,
    MoneyRules,
    OperationKind,
    Order,
    OrderItem,
    OrderStatus,
    PaymentMethod,
)
from tests import factories, matrix
from tests.conftest import user_id


def two_customers(ctx, deposit="1000"):
    """A parent with money on the deposit and their child with none."""
    parent = factories.customer(ctx, last_name="Петрова", first_name="Мария", phone="+79160000001")
    child = factories.customer(ctx, last_name="Петров", first_name="Миша", phone="+79160000002")
    if Decimal(deposit) > 0:
        payments.add_operation(
            ctx, parent, Account.DEPOSIT, OperationKind.TOP_UP, deposit, "Предоплата", may_adjust=False
        )
        ctx.commit()
    return parent, child


def deposit(ctx, customer_id):
    """The balance kept on the customer and the sum of the deposit's operations."""
    ctx.expire_all()
    return ctx.get(Customer, customer_id).deposit_balance, payments.balance_of(
        ctx, customer_id, Account.DEPOSIT
    )


# --- a deposit moved to a relative's -------------------------------------------------


def test_a_transfer_tells_both_customers_in_their_language_whatever_the_employees(ctx):
    """Moved by an employee working in English, the customers' messages said «RUB 400.50»."""
    from flask_babel import force_locale

    from app.models import Message

    parent, child = two_customers(ctx)
    with force_locale("en"):
        payments.transfer_deposit(ctx, parent, child, "400.50", "На лечение сына")
    ctx.commit()
    bodies = [m.body.replace("\xa0", " ") for m in ctx.query(Message)]
    assert len(bodies) >= 2 and all("400,50 ₽" in body for body in bodies), bodies


def test_a_transfer_is_two_linked_operations_and_never_takes_the_deposit_below_zero(ctx):
    parent, child = two_customers(ctx)
    out, into = payments.transfer_deposit(ctx, parent, child, "400.50", "На лечение сына")
    ctx.commit()
    assert deposit(ctx, parent.id) == (Decimal("599.50"), Decimal("599.50"))
    assert deposit(ctx, child.id) == (Decimal("400.50"), Decimal("400.50"))
    out, into = ctx.get(AccountOperation, out.id), ctx.get(AccountOperation, into.id)
    assert (out.kind, out.amount, out.customer_id, out.linked_id) == (
        OperationKind.TRANSFER_OUT,
        Decimal("-400.50"),
        parent.id,
        into.id,
    )
    assert (into.kind, into.amount, into.customer_id, into.linked_id) == (
        OperationKind.TRANSFER_IN,
        Decimal("400.50"),
        child.id,
        out.id,
    )
    assert out.comment == into.comment == "На лечение сына"
    # more than is left: refused, nothing written on either account
    with pytest.raises(ValidationFailed, match="недостаточно средств: доступно 599,50"):
        payments.transfer_deposit(ctx, ctx.get(Customer, parent.id), ctx.get(Customer, child.id), "599.51")
    ctx.rollback()
    with pytest.raises(ValidationFailed, match="другого клиента"):
        payments.transfer_deposit(ctx, ctx.get(Customer, parent.id), ctx.get(Customer, parent.id), "1")
    with pytest.raises(ValidationFailed, match="больше нуля"):
        payments.transfer_deposit(ctx, ctx.get(Customer, parent.id), ctx.get(Customer, child.id), "0")
    with pytest.raises(ValidationFailed, match="Выберите клиента"):
        payments.transfer_deposit(ctx, ctx.get(Customer, parent.id), None, "1")
    ctx.rollback()
    assert ctx.query(AccountOperation).count() == 3  # the top-up and the one transfer
    assert deposit(ctx, parent.id) == (Decimal("599.50"), Decimal("599.50"))
    # the child's money pays the child's visit
    visit = factories.order(ctx, ctx.get(Customer, child.id), items=(("Осмотр", "400.50", 1),))
    payments.take_payment(ctx, visit, "400.50", PaymentMethod.DEPOSIT)
    ctx.commit()
    assert deposit(ctx, child.id) == (Decimal("0.00"), Decimal("0.00"))


@pytest.mark.parametrize("role", matrix.ROLE_KEYS)
def test_the_transfer_screen_follows_the_matrix_reads_russian_money_and_refuses_bad_input(
    ctx, login_as, role
):
    parent, child = two_customers(ctx)
    client = login_as(role)
    url = f"/accountoperationview/transfer/{parent.id}"
    allowed = matrix.writes(role, "Accounts")
    page = client.get(url)
    card = client.get(f"/customerview/show/{parent.id}").get_data(as_text=True)
    assert ("kartoteka-transfer" in card) == allowed
    if not allowed:
        assert page.status_code in (302, 403, 404)
        posted = client.post(url, data={"target": str(child.id), "amount": "100"})
        assert posted.status_code in (302, 403, 404)
        assert posted.status_code != 302 or "/login" in posted.headers["Location"]
        assert deposit(ctx, child.id) == (Decimal("0.00"), Decimal("0.00"))
        return
    assert page.status_code == 200
    text = page.get_data(as_text=True).replace("\xa0", " ")
    assert "Перевод с депозита клиента Петрова Мария Сергеевна" in text
    assert re.search(r'class="transfer-available">1 000,00', text)
    # bad input: a clear Russian message, 422, nothing changed
    for data, message in (
        ({"target": str(child.id), "amount": "сто"}, "Введите число"),
        ({"target": str(child.id), "amount": "1 000,01"}, "недостаточно средств: доступно 1 000,00"),
        ({"target": str(parent.id), "amount": "10"}, "только на депозит другого клиента"),
        ({"target": "", "amount": "10"}, "Выберите клиента."),
        ({"target": "999999", "amount": "10"}, "Выберите клиента."),  # none such, or not theirs to see
        ({"target": str(child.id), "amount": "-5"}, "больше нуля"),
    ):
        refused = client.post(url, data=data)
        assert refused.status_code == 422, data
        assert message in refused.get_data(as_text=True).replace("\xa0", " "), data
    assert deposit(ctx, parent.id) == (Decimal("1000.00"), Decimal("1000.00"))
    done = client.post(url, data={"target": str(child.id), "amount": "500,50", "comment": "Сыну"})
    assert done.status_code == 302 and done.headers["Location"].endswith(
        f"/customerview/show/{parent.id}#accounts"
    )
    assert deposit(ctx, parent.id) == (Decimal("499.50"), Decimal("499.50"))
    assert deposit(ctx, child.id) == (Decimal("500.50"), Decimal("500.50"))
    # both cards show the operation in «Счета», who made it and why
    for customer, kind in (
        (parent, "Перевод на счёт другого клиента"),
        (child, "Перевод со счёта другого клиента"),
    ):
        page = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
        assert kind in page and "Сыну" in page
    assert client.get("/accountoperationview/transfer/999999").status_code == 404


def test_two_transfers_from_one_deposit_at_once_cannot_take_it_below_zero(app, ctx):
    """Two receptionists move 700 each from a deposit of 1000 at the same moment (one of
    them the other way round as well): one is taken, the other refused, no deadlock."""
    from app.extensions import db

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: the race needs PostgreSQL's row locks")
    parent, child = two_customers(ctx)
    payments.add_operation(ctx, child, Account.DEPOSIT, OperationKind.TOP_UP, "50", None, may_adjust=False)
    ctx.commit()
    ids = (parent.id, child.id)
    start = threading.Barrier(3, timeout=10)
    outcomes = {}

    def move(key, source_id, target_id, amount):
        with app.app_context():
            session = db.session
            try:
                start.wait()
                payments.transfer_deposit(
                    session, session.get(Customer, source_id), session.get(Customer, target_id), amount
                )
                time.sleep(0.3)
                session.commit()
                outcomes[key] = "taken"
            except ValidationFailed as e:
                session.rollback()
                outcomes[key] = str(e)

    threads = [
        threading.Thread(target=move, args=("a", ids[0], ids[1], "700")),
        threading.Thread(target=move, args=("b", ids[0], ids[1], "700")),
        threading.Thread(target=move, args=("back", ids[1], ids[0], "50")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes["back"] == "taken", outcomes
    assert sorted(v == "taken" for k, v in outcomes.items() if k != "back") == [False, True], outcomes
    assert "недостаточно средств" in next(v for v in outcomes.values() if v != "taken")
    assert deposit(ctx, parent.id) == (Decimal("350.00"), Decimal("350.00"))
    assert deposit(ctx, child.id) == (Decimal("700.00"), Decimal("700.00"))


# --- a discount given by hand ------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "reception"])
def test_a_manual_discount_on_the_booking_form_is_the_managers_right(ctx, login_as, role):
    customer = factories.customer(ctx, discount=Decimal("5"))
    item = factories.catalog_item(ctx, "Массаж", "2000.00")
    client = login_as(role)
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    may = role in matrix.OWN_RIGHTS[("can_discount", "Orders")]
    assert ('id="order-discount"' in card) == may
    booking = {"kind": "visit", "catalog_item": item.id, "quantity": "1", "discount": "12,5"}
    answer = client.post(f"/customerview/{customer.id}/orders", data=booking)
    if not may:
        assert answer.status_code == 403
        assert ctx.query(Order).count() == 0
        # without a typed discount the booking is at the customer's 5 %
        answer = client.post(f"/customerview/{customer.id}/orders", data={**booking, "discount": ""})
        assert answer.status_code == 302
        assert ctx.query(OrderItem.discount, Order.total).join(Order).one() == (
            Decimal("5.00"),
            Decimal("1900.00"),
        )
        return
    assert answer.status_code == 302
    assert ctx.query(OrderItem.discount, Order.total).join(Order).one() == (
        Decimal("12.50"),
        Decimal("1750.00"),
    )
    for typed, message in (("150", "от 0 до 100"), ("пять", "Введите число")):
        refused = client.post(f"/customerview/{customer.id}/orders", data={**booking, "discount": typed})
        assert refused.status_code == 422
        assert message in refused.get_data(as_text=True)
    assert ctx.query(Order).count() == 1


# --- the administrator's discount rule ----------------------------------------------


@pytest.mark.parametrize(
    ("rule", "applied", "total"),
    [
        ("larger", "10", "1800.00"),
        ("sum", "15", "1700.00"),
        ("category", "10", "1800.00"),
        ("customer", "5", "1900.00"),
    ],
)
def test_the_discount_rule_the_administrator_chose_applies_on_the_booking_form(
    ctx, login_as, rule, applied, total
):
    group = CustomerCategory(name="Постоянные", discount=Decimal("10"))
    ctx.add(group)
    ctx.commit()
    customer = factories.customer(ctx, category_id=group.id, discount=Decimal("5"))
    item = factories.catalog_item(ctx, "Массаж", "2000.00")
    orders.money_rules(ctx)
    ctx.commit()
    admin = login_as("sysadmin")
    assert admin.post("/moneyrulesview/edit/1", data={"discount_rule": rule}).status_code == 302
    assert ctx.scalar(select(MoneyRules.discount_rule)) == DiscountRule(rule)
    reception = login_as("reception")
    card = reception.get(f"/customerview/show/{customer.id}").get_data(as_text=True).replace("\xa0", " ")
    assert re.search(r'class="order-discount">([^<]*)<', card)[1] == f"Скидка клиента: {applied} %"
    assert str(DiscountRule(rule).label) in card
    booked = reception.post(
        f"/customerview/{customer.id}/orders",
        data={"kind": "visit", "catalog_item": item.id, "quantity": "1"},
    )
    assert booked.status_code == 302
    ctx.expire_all()
    assert ctx.query(OrderItem.discount, Order.total).join(Order).one() == (Decimal(applied), Decimal(total))


def test_the_sum_of_two_discounts_stops_at_100_and_only_the_reference_writers_change_the_rule(ctx, login_as):
    assert orders.apply_discount_rule(DiscountRule.SUM, "60", "70") == Decimal("100")
    assert orders.apply_discount_rule(None, "60", None) == Decimal("60")
    orders.money_rules(ctx)
    ctx.commit()
    for role in matrix.ROLE_KEYS:
        client = login_as(role)
        changed = client.post("/moneyrulesview/edit/1", data={"discount_rule": "sum"})
        ctx.expire_all()
        stored = ctx.scalar(select(MoneyRules.discount_rule))
        if matrix.writes(role, "Reference"):
            assert changed.status_code == 302 and stored == DiscountRule.SUM, role
            orders.set_discount_rule(ctx, "larger")
            ctx.commit()
        else:
            assert changed.status_code in (302, 403, 404) and stored == DiscountRule.LARGER, role
        assert client.post("/moneyrulesview/edit/1", data={"discount_rule": "nonsense"}).status_code in (
            302,
            403,
            404,
            422,
        )
        ctx.expire_all()
        assert ctx.scalar(select(MoneyRules.discount_rule)) == DiscountRule.LARGER


# --- the card's «Заказы» and the customers list --------------------------------------


def test_the_cards_orders_show_service_discount_paid_and_debt_and_filter_by_payment(ctx, login_as):
    customer = factories.customer(ctx, discount=Decimal("10"))
    owing = factories.order(ctx, customer, items=(("Чистка лица", "3000.00", 1),), paid="1000")
    settled = factories.order(ctx, customer, items=(("Консультация", "1500.00", 1),), paid="1350")
    client = login_as("reception")
    page = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True).replace("\xa0", " ")
    tab = page[page.index('id="orders"') : page.index('id="payments"')]
    rows = {
        int(m[1]): m[0]
        for m in re.finditer(
            r'<tr[^>]*>\s*<td><div class="btn-group[^"]*"[^>]*><a href="/ordertab/show/(\d+)".*?</tr>',
            tab,
            re.S,
        )
    }
    assert set(rows) == {owing.id, settled.id}
    assert rows[owing.id].startswith('<tr class="danger kartoteka-owes">')
    assert rows[settled.id].startswith("<tr>")
    assert "Чистка лица" in rows[owing.id] and re.search(
        r"col-visit_at\">20.11.2026 \d\d:00<", rows[owing.id]
    )
    assert "10 %" in rows[owing.id]
    assert re.search(r'col-paid">1 000,00 ₽.*col-debt">1 700,00 ₽', rows[owing.id], re.S)
    assert re.search(r'col-debt">0,00 ₽', rows[settled.id])
    for value, shown in (
        ("debt", {owing.id}),
        ("partial", {owing.id}),
        ("paid", {settled.id}),
        ("unpaid", set()),
    ):
        page = client.get(f"/customerview/show/{customer.id}?payment={value}").get_data(as_text=True)
        tab = page[page.index('id="orders"') : page.index('id="payments"')]
        assert {int(n) for n in re.findall(r'<a href="/ordertab/show/(\d+)"', tab)} == shown, value


def test_the_customers_list_shows_purchases_and_filters_those_who_owe(app, ctx, login_as):
    owes = factories.customer(ctx, last_name="Должникова", phone="+79160000011")
    paid_up = factories.customer(ctx, last_name="Исправная", phone="+79160000012")
    factories.customer(ctx, last_name="Новенькая", phone="+79160000013")
    factories.order(ctx, owes, items=(("Массаж", "2000.00", 1),), paid="500.50")
    factories.order(
        ctx, paid_up, items=(("Массаж", "2000.00", 1),), paid="2000", specialist_id=user_id(app, "doctor")
    )
    cancelled = factories.order(ctx, paid_up, items=(("Пилинг", "900.00", 1),))
    cancelled.status = OrderStatus.CANCELLED
    ctx.commit()
    manager = login_as("manager")
    listing = manager.get("/customerview/list/").get_data(as_text=True).replace("\xa0", " ")
    assert "Сумма покупок" in listing
    rows = {
        int(re.search(r'/customerview/show/(\d+)"', row)[1]): re.search(r'col-purchases">([^<]*)<', row)[1]
        for row in re.findall(r"<tr[^>]*>.*?</tr>", listing.split("<tbody>")[-1], re.S)
    }
    assert rows[owes.id] == "500,50 ₽"
    assert rows[paid_up.id] == "2 000,00 ₽"  # the cancelled order is not a purchase
    assert sorted(rows.values()).count("0,00 ₽") == 1
    owing = manager.get("/customerview/list/?owing=1").get_data(as_text=True)
    assert "Должникова" in owing and "Исправная" not in owing and "Новенькая" not in owing
    # a specialist sees no one's money
    doctor = login_as("doctor")
    listing = doctor.get("/customerview/list/").get_data(as_text=True)
    assert "Исправная" in listing and "Сумма покупок" not in listing and "col-purchases" not in listing
    assert access.FIELDS["customer.balances"].defaults.get("doctor") is None


def test_migration_0020_keeps_the_discount_as_it_was_and_its_downgrade_keeps_balances(tmp_path):
    """After 0020 the rule is «the larger of the two», as before it; going back turns a
    transfer into what the older version knows, so each balance stays its ledger's sum."""
    from flask_migrate import downgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.test_schema import database_at, insert_customer

    with database_at(tmp_path, "0019") as upgrade:
        upgrade()
        assert db.session.execute(text("SELECT id, discount_rule FROM money_rules")).all() == [(1, "larger")]
        now = "2026-11-20 09:00:00"
        insert_customer(1, "Петрова", deposit=600, now=now)
        insert_customer(2, "Петров", deposit=400, now=now)
        for statement in (
            "INSERT INTO account_operation (id, customer_id, account, kind, amount, linked_id, created_on, "
            f"changed_on) VALUES (1, 1, 'deposit', 'top_up', 1000, NULL, '{now}', '{now}'), "
            f"(2, 1, 'deposit', 'transfer_out', -400, 3, '{now}', '{now}'), "
            f"(3, 2, 'deposit', 'transfer_in', 400, 2, '{now}', '{now}')",
        ):
            db.session.execute(text(statement))
        db.session.commit()
        downgrade(revision="0019")
        kinds = db.session.execute(text("SELECT id, kind, amount FROM account_operation ORDER BY id")).all()
        assert [(i, k, Decimal(str(a))) for i, k, a in kinds] == [
            (1, "top_up", Decimal("1000")),
            (2, "write_off", Decimal("-400")),
            (3, "top_up", Decimal("400")),
        ]
        upgrade()  # and forward again
        assert db.session.execute(text("SELECT discount_rule FROM money_rules")).scalar() == "larger"


def test_owing_is_a_filter_of_the_customers_list_combined_with_the_others(app, ctx, login_as):
    """«С задолженностью» is in the filters' drop-down (its own FAB filter), narrows the
    list together with any other filter, and the button beside the search box adds or
    removes it keeping the others (the old ?owing=1 still works)."""
    owes = factories.customer(ctx, last_name="Должникова", phone="+79160000021")
    owes_blocked = factories.customer(ctx, last_name="Заблокированная", phone="+79160000022")
    factories.customer(ctx, last_name="Исправная", phone="+79160000023")
    for customer in (owes, owes_blocked):
        factories.order(ctx, customer, items=(("Массаж", "2000.00", 1),), paid="500")
    owes_blocked.status = CustomerStatus.BLOCKED
    ctx.commit()
    manager = login_as("manager")

    def names(query):
        page = manager.get("/customerview/list/", query_string=query)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        return {n for n in ("Должникова", "Заблокированная", "Исправная") if n in html}, html

    found, html = names({})
    assert found == {"Должникова", "Заблокированная", "Исправная"}
    assert re.search(r'<a href="#" name="debt" class="filter">\s*Задолженность</a>', html)
    assert "С задолженностью" in html and 'href="/customerview/list/?_flt_0_debt=1"' in html
    assert names({"_flt_0_debt": "1"})[0] == {"Должникова", "Заблокированная"}
    found, html = names({"_flt_0_debt": "1", "_flt_0_status": "active"})
    assert found == {"Должникова"}
    # the button takes the owing filter off and keeps the status one; the search box keeps both
    assert 'href="/customerview/list/?_flt_0_status=active"' in html
    assert '<input type="hidden" name="_flt_0_debt" value="1">' in html
    assert '<input type="hidden" name="_flt_0_status" value="active">' in html
    assert names({"owing": "1"})[0] == {"Должникова", "Заблокированная"}
    assert names({"_flt_0_debt": "1", "q": "Заблокированная"})[0] == {"Заблокированная"}


def test_a_transfer_tells_both_customers_through_the_outbox_and_respects_an_opt_out(ctx, login_as):
    """The transfer writes a message to each customer in its transaction: the parent is told
    what left their deposit, the child what came; a customer who opted out of the type
    is written to but not sent to (the consent is checked at send time)."""
    from app import notifications
    from app.models import Channel, Message, MessageStatus, MessageType

    parent, child = two_customers(ctx)
    notifications.set_consent(ctx, child, MessageType.DEPOSIT_RECEIVED, Channel.SMS, False)
    ctx.commit()
    client = login_as("reception")
    done = client.post(
        f"/accountoperationview/transfer/{parent.id}", data={"target": str(child.id), "amount": "250,50"}
    )
    assert done.status_code == 302
    ctx.expire_all()
    told = {m.customer_id: m for m in ctx.query(Message).filter(Message.channel == Channel.SMS)}
    assert set(told) == {parent.id, child.id}
    sent, received = told[parent.id], told[child.id]
    assert (sent.message_type, received.message_type) == (
        MessageType.DEPOSIT_SENT,
        MessageType.DEPOSIT_RECEIVED,
    )
    assert (
        "Мария, с вашего депозита переведено 250,50 ₽ на депозит клиента Петров Миша Сергеевна. Остаток: 749,50 ₽."
        in (sent.body.replace("\xa0", " "))
    ), sent.body
    assert (
        "Миша, на ваш депозит переведено 250,50 ₽ от клиента Петрова Мария Сергеевна. Остаток: 250,50 ₽."
        in (received.body.replace("\xa0", " "))
    )
    ids = sent.id, received.id
    for message_id in ids:
        notifications.deliver(ctx, message_id)
    ctx.expire_all()
    assert ctx.get(Message, ids[0]).status == MessageStatus.SENT
    assert ctx.get(Message, ids[1]).status != MessageStatus.SENT  # the child opted out
    # a refused transfer tells nobody
    before = ctx.query(Message).count()
    refused = client.post(
        f"/accountoperationview/transfer/{parent.id}", data={"target": str(child.id), "amount": "5000"}
    )
    assert refused.status_code == 422
    assert ctx.query(Message).count() == before


def test_an_order_whose_money_went_back_says_so_not_paid(ctx, login_as):
    """An order paid in full and returned in full read «Оплачен» on the orders list, the
    card's «Заказы» and the order's page: it says «Деньги возвращены»; one returned in part
    «Оплачен, часть возвращена»; each found by its own filter, the paid one no longer among
    the paid."""
    from app.models import PaymentStatus, Return

    returned = factories.customer(ctx, last_name="Вернувшая", phone="+79160000021")
    partly = factories.customer(ctx, last_name="Частичная", phone="+79160000022")
    whole = factories.order(ctx, returned, items=(("Пилинг", "2000.00", 1),), paid="2000")
    part = factories.order(ctx, partly, items=(("Массаж", "3000.00", 1),), paid="3000")
    paid = factories.order(ctx, partly, items=(("Консультация", "1500.00", 1),), paid="1500")
    manager = login_as("manager")
    factories.refunded_return(
        ctx, manager, returned, {"order": str(whole.id), "amount": "2000", "reason": "Аллергия"}
    )
    ret = {"order": str(part.id), "amount": "1000", "reason": "Сократили сеанс"}
    assert manager.post(f"/returnview/add?_flt_0_customer={partly.id}", data=ret).status_code == 302
    part_return = ctx.query(Return).filter_by(order_id=part.id).one()
    for status in ("approved", "refunded"):
        assert (
            manager.post(f"/returnview/edit/{part_return.id}", data={**ret, "status": status}).status_code
            == 302
        )
    ctx.expire_all()
    assert [ctx.get(Order, o.id).payment_status for o in (whole, part, paid)] == [
        PaymentStatus.REFUNDED,
        PaymentStatus.PARTLY_REFUNDED,
        PaymentStatus.PAID,
    ]

    def status_in(page, order_id, prefix):
        row = re.search(rf'<a href="/{prefix}/show/{order_id}".*?</tr>', page, re.S)
        return re.search(r'col-payment_status">\s*([^<]*?)\s*<', row[0])[1]

    listing = manager.get("/orderview/list/").get_data(as_text=True)
    assert status_in(listing, whole.id, "orderview") == "Деньги возвращены"
    assert status_in(listing, part.id, "orderview") == "Оплачен, часть возвращена"
    assert status_in(listing, paid.id, "orderview") == "Оплачен"
    card = manager.get(f"/customerview/show/{returned.id}").get_data(as_text=True)
    tab = card[card.index('id="orders"') : card.index('id="payments"')]
    assert status_in(tab, whole.id, "ordertab") == "Деньги возвращены"
    show = manager.get(f"/orderview/show/{whole.id}").get_data(as_text=True)
    assert "Деньги возвращены" in show and ">Оплачен<" not in show
    for value, shown in (("refunded", {whole.id}), ("partly_refunded", {part.id}), ("paid", {paid.id})):
        listed = manager.get(f"/orderview/list/?_flt_0_payment_status={value}").get_data(as_text=True)
        assert {int(n) for n in re.findall(r'<a href="/orderview/show/(\d+)"', listed)} == shown, value
    for customer, value, shown in (
        (returned, "refunded", {whole.id}),
        (returned, "paid", set()),
        (partly, "partly_refunded", {part.id}),
        (partly, "paid", {paid.id}),
    ):
        page = manager.get(f"/customerview/show/{customer.id}?payment={value}").get_data(as_text=True)
        tab = page[page.index('id="orders"') : page.index('id="payments"')]
        assert {int(n) for n in re.findall(r'<a href="/ordertab/show/(\d+)"', tab)} == shown, value


def test_migration_0029_says_the_refunded_orders_are_refunded(tmp_path):
    """Orders refunded before 0029 were stored «Оплачен»: it gives them their status, leaves
    the others as they were, and going back makes them «Оплачен» again."""
    from flask_migrate import downgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.test_schema import database_at, insert_customer

    now = "2026-11-20 09:00:00"
    with database_at(tmp_path, "0028") as upgrade:
        insert_customer(now=now)
        # (total, paid, refunded, status): refunded in full, in part, paid, part-paid and part-refunded
        rows = (
            ("2000", "0", "2000", "paid"),
            ("3000", "2000", "1000", "paid"),
            ("1500", "1500", "0", "paid"),
            ("3000", "500", "500", "partial"),
        )
        for pk, (total, paid, refunded, status) in enumerate(rows, 1):
            db.session.execute(
                text(
                    "INSERT INTO customer_order (id, customer_id, kind, status, payment_status, total, paid, "
                    "refunded, created_on, changed_on) VALUES (:id, 1, 'visit', 'completed', :status, :total, "
                    ":paid, :refunded, :now, :now)"
                ),
                {"id": pk, "status": status, "total": total, "paid": paid, "refunded": refunded, "now": now},
            )
        db.session.commit()
        upgrade()
        query = text("SELECT payment_status FROM customer_order ORDER BY id")
        assert db.session.execute(query).scalars().all() == ["refunded", "partly_refunded", "paid", "partial"]
        db.session.commit()
        downgrade(revision="0028")
        assert db.session.execute(query).scalars().all() == ["paid", "paid", "paid", "partial"]
