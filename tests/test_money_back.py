"""Money that goes back where it came from, the visit dates and the card's figures:
each test one finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

from app.models import Customer, OrderStatus, utcnow
from tests import factories


def page_text(response) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def test_a_visit_completed_before_its_booked_time_is_not_a_last_visit_to_come(ctx, login_as):
    """A receptionist marked a visit booked for the day after tomorrow «Выполнен» today
    (the customer came early): the card's «Последний визит» read the booked date, still
    to come, and the «давно не были» filters counted from it."""
    customer = factories.customer(ctx)
    booked = (utcnow() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    order = factories.order(ctx, customer, visit_at=booked)
    shown = (booked + dt.timedelta(hours=3)).strftime("%d.%m.%Y %H:%M")  # the clinic's clock
    form = {"customer": str(customer.id), "kind": "visit", "status": "completed", "visit_at": shown}
    manager = login_as("manager")
    assert manager.post(f"/orderview/edit/{order.id}", data=form).status_code == 302
    ctx.expire_all()
    last = ctx.get(Customer, customer.id).last_visit_at
    assert last is not None and last <= utcnow()
    card = page_text(manager.get(f"/customerview/show/{customer.id}"))
    seen = re.search(r"Последний визит (\d\d\.\d\d\.\d{4} \d\d:\d\d)", card)
    assert seen is not None and seen[1] != shown, card[:3000]


def test_the_cards_order_count_leaves_out_the_cancelled_orders_as_its_sums_do(ctx, login_as):
    """A customer with two orders of 1 000 ₽ and one cancelled of 5 000 ₽: the card read
    «3 заказа» beside «Сумма заказов 2 000,00 ₽»."""
    customer = factories.customer(ctx)
    for _ in range(2):
        factories.order(ctx, customer, items=(("Консультация", "1000.00", 1),))
    cancelled = factories.order(ctx, customer, items=(("Пилинг", "5000.00", 1),))
    cancelled.status = OrderStatus.CANCELLED
    ctx.commit()
    card = login_as("manager").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    card = card.replace("\xa0", " ")
    assert re.search(r'class="kpi-orders">2 заказа<', card)
    assert re.search(r'class="kpi-total">2 000,00 ₽<', card)
    assert "Заказы без отменённых" in card


def test_a_full_return_gives_bonuses_back_to_the_bonuses_and_the_deposit_to_the_deposit(ctx, login_as):
    """An order paid 100 ₽ by bonuses and 3 225 ₽ from the deposit, returned in full:
    3 325 ₽ went onto the deposit, the bonuses turned into deposit money. Then such a
    return was refused in Russian, asking for one return per part. A full return now
    gives each part back where it came from, two refunds of one return, and the customer
    is told where each went; a part no single way holds is still refused, naming them."""
    from app import payments
    from app.models import Account, Message, MessageType, OperationKind, Payment, PaymentMethod, Return

    customer = factories.customer(ctx, last_name="Ёлкина", first_name="Алёна")
    for account, kind, amount in (
        (Account.BONUS, OperationKind.ACCRUAL, "100"),
        (Account.DEPOSIT, OperationKind.TOP_UP, "3225"),
    ):
        payments.add_operation(ctx, customer, account, kind, amount, "Акция", may_adjust=True)
    order = factories.order(ctx, customer, items=(("Пилинг", "3325.00", 1),))
    payments.take_payment(ctx, order, "100", PaymentMethod.BONUS)
    payments.take_payment(ctx, order, "3225", PaymentMethod.DEPOSIT)
    ctx.commit()
    manager = login_as("manager")

    def balances():
        ctx.expire_all()
        c = ctx.get(Customer, customer.id)
        return c.bonus_balance, c.deposit_balance

    asked = {"order": str(order.id), "amount": "3300", "reason": "Процедура не состоялась"}
    assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).one()
    assert manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"}).status_code == 302
    refused = manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "refunded"})
    assert refused.status_code == 422
    assert (
        f"Возврат 3 300,00 ₽ не вернуть одним способом: по заказу №{order.id} оплачено с депозита — "
        "3 225,00 ₽; бонусами — 100,00 ₽. Каждая часть возвращается туда, откуда оплачена: верните всё, "
        "что оплачено (3 325,00 ₽), и каждая часть вернётся своим способом, или столько, сколько держит "
        "один способ." in page_text(refused)
    )
    assert balances() == (0, 0)
    assert ctx.query(Payment).filter(Payment.amount < 0).count() == 0
    whole = {**asked, "amount": "3325"}
    assert manager.post(f"/returnview/edit/{ret.id}", data={**whole, "status": "approved"}).status_code == 302
    done = manager.post(
        f"/returnview/edit/{ret.id}", data={**whole, "status": "refunded"}, follow_redirects=True
    )
    assert done.status_code == 200
    assert (
        "Деньги по возврату возвращены по частям, каждая туда, откуда оплачена: 3 225,00 ₽ на депозит "
        f"клиента и 100,00 ₽ бонусами на бонусный счёт клиента; заказ №{order.id}. Долг: 0,00 ₽"
    ) in page_text(done)
    assert balances() == (100, 3225)
    refunds = {(p.method, p.amount, p.return_id) for p in ctx.query(Payment).filter(Payment.amount < 0)}
    assert refunds == {
        (PaymentMethod.DEPOSIT, Decimal("-3225.00"), ret.id),
        (PaymentMethod.BONUS, Decimal("-100.00"), ret.id),
    }
    ctx.expire_all()
    assert (ctx.get(type(order), order.id).refunded, ctx.get(type(order), order.id).paid) == (3325, 0)
    (told,) = [m.body for m in ctx.query(Message).filter_by(message_type=MessageType.RETURN_STATUS)]
    told = told.replace("\xa0", " ")
    assert "Вам вернули 3 225,00 ₽ на ваш депозит и 100,00 ₽ бонусами на ваш бонусный счёт" in told
    # both refunds of the return, wherever payments are read: the list, the API, the subject's ZIP
    listing = page_text(manager.get(f"/paymentview/list/?_flt_0_customer={customer.id}"))
    assert listing.count("Возврат денег") == 2
    api = manager.get("/api/v1/payments/?q=(page_size:100)").get_json()["result"]
    assert {Decimal(r["amount"]) for r in api if (r.get("refund_of") or {}).get("id") == ret.id} == {
        -3225,
        -100,
    }
    from app import subjects

    rows = subjects.collect(ctx, customer.id)["payment"]
    assert {Decimal(r["amount"]) for r in rows if r["return_id"] == ret.id} == {-3225, -100}


def test_a_cancelled_certificates_part_goes_back_once_and_the_deposits_part_still_can(ctx, login_as):
    """An order paid 1 000 ₽ from the deposit and 500 ₽ by a gift certificate cancelled
    since: the certificate's part went back to the deposit (at what it cost), but was
    counted as the deposit's own, so the deposit's 1 000 ₽ could no longer be returned."""
    from app import certificates, payments
    from app.models import (
        Account,
        Certificate,
        CertificateKind,
        CertificateType,
        OperationKind,
        Payment,
        PaymentMethod,
        Return,
    )

    customer = factories.customer(ctx)
    gift = CertificateKind(name="Подарочный 5 000", type=CertificateType.SUM, price=Decimal("5000"))
    gift.valid_days, gift.active = 180, True
    ctx.add(gift)
    ctx.commit()
    certificate = certificates.sell(
        ctx, Certificate(customer=customer, kind=gift, method=PaymentMethod.CASH), may_sell=True
    )
    payments.add_operation(ctx, customer, Account.DEPOSIT, OperationKind.TOP_UP, "1000", may_adjust=True)
    order = factories.order(ctx, customer, items=(("Консультация", "1500.00", 1),))
    payments.take_payment(ctx, order, "1000", PaymentMethod.DEPOSIT)
    payments.take_payment(ctx, order, "500", PaymentMethod.CERTIFICATE, certificate=certificate)
    ctx.commit()
    payments.cancel_certificate(
        ctx, ctx.get(Certificate, certificate.id), "Подарок не нужен", may_cancel=True
    )
    ctx.commit()
    ctx.expire_all()
    deposit_before = ctx.get(Customer, customer.id).deposit_balance
    manager = login_as("manager")

    def refund(amount):
        asked = {"order": str(order.id), "amount": amount, "reason": "Не пришла"}
        assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
        ret = ctx.query(Return).order_by(Return.id.desc()).first()
        assert (
            manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"}).status_code
            == 302
        )
        return manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "refunded"})

    assert refund("500").status_code == 302  # the certificate's part: to the deposit, at what it cost
    deposits = refund("1000")  # the deposit's own
    assert deposits.status_code == 302, page_text(deposits)[-600:]
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).deposit_balance == deposit_before + 500 + 1000
    assert ctx.query(Payment).filter(Payment.amount < 0).count() == 2


def test_a_visit_completed_early_keeps_its_last_visit_when_another_visit_is_saved_later(ctx, login_as):
    """A visit booked for the day after tomorrow and marked «Выполнен» today made
    «Последний визит» the time it was marked. Saving another of the customer's visits
    later recalculated it, capping the first visit's booked time at that later save: the
    answer moved with every recalculation. A visit's time is its own, whenever it is read."""
    customer = factories.customer(ctx)
    booked = (utcnow() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    early = factories.order(ctx, customer, visit_at=booked)
    older = factories.order(ctx, customer, visit_at=utcnow() - dt.timedelta(days=30))
    manager = login_as("manager")

    def complete(order, visit_at):
        shown = (visit_at + dt.timedelta(hours=3)).strftime("%d.%m.%Y %H:%M")  # the clinic's clock
        form = {"customer": str(customer.id), "kind": "visit", "status": "completed", "visit_at": shown}
        assert manager.post(f"/orderview/edit/{order.id}", data=form).status_code == 302
        ctx.expire_all()
        return ctx.get(Customer, customer.id).last_visit_at

    first = complete(early, booked)
    assert first is not None and first <= utcnow()
    import time

    time.sleep(0.05)  # a later save, by the clock
    assert complete(older, older.visit_at) == first


def _refund_through_the_screen(ctx, manager, customer, order, amount):
    from app.models import Return

    asked = {"order": str(order.id), "amount": amount, "reason": "Процедура не состоялась"}
    assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).order_by(Return.id.desc()).first()
    for status in ("approved", "refunded"):
        saved = manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": status})
        assert saved.status_code == 302, page_text(saved)[-600:]
    return ret


def test_a_returned_orders_bonuses_are_cancelled_and_never_burn_the_customers_others(ctx, login_as):
    """A customer with 200 bonuses of a promotion (no expiry) paid 1 000 ₽ by card and
    earned 100 bonuses (10 %); the order was returned in full and the 100 written off.
    A year later the sweeper found the order's accrual still open and burnt 100 of the
    promotion's bonuses: the customer lost what the return had already taken. A returned
    order's accrual is cancelled (settled) with its write-off; a partly returned one keeps
    only the part not taken back."""
    from app import payments
    from app.models import Account, AccountOperation, CustomerCategory, OperationKind, Payment, PaymentMethod

    regular = CustomerCategory(name="Постоянные", bonus_percent=Decimal("10"))
    ctx.add(regular)
    customer = factories.customer(ctx, category=regular)
    payments.add_operation(
        ctx, customer, Account.BONUS, OperationKind.ACCRUAL, "200", "Акция", may_adjust=True
    )
    returned = factories.order(ctx, customer, items=(("Пилинг", "1000.00", 1),))
    payments.take_payment(ctx, returned, "1000", PaymentMethod.CARD)
    halved = factories.order(ctx, customer, items=(("Массаж", "2000.00", 1),))
    payments.take_payment(ctx, halved, "2000", PaymentMethod.CARD)
    ctx.commit()
    manager = login_as("manager")
    _refund_through_the_screen(ctx, manager, customer, returned, "1000")
    _refund_through_the_screen(ctx, manager, customer, halved, "1000")  # half of it: 100 of its 200 kept
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).bonus_balance == 300
    accrual = (
        ctx.query(AccountOperation)
        .join(Payment, Payment.id == AccountOperation.payment_id)
        .filter(AccountOperation.kind == OperationKind.ACCRUAL, Payment.order_id == returned.id)
        .one()
    )
    assert accrual.closed_at is not None  # the returned order's accrual is settled
    burnt = payments.expire_bonuses(ctx, now=utcnow() + dt.timedelta(days=400))
    ctx.commit()
    ctx.expire_all()
    # the half order's 100 left burn; the promotion's 200 do not
    assert burnt == {customer.id: Decimal("100.00")}
    assert ctx.get(Customer, customer.id).bonus_balance == 200


def test_bonuses_given_back_by_a_return_expire_as_the_bonuses_they_were(ctx, login_as):
    """Bonuses paid for an order and given back by its return came back for ever: the
    refund had no expiry, while the bonuses spent were to burn in ten days. They come
    back as what they were: the same expiry (those spent from a lot that burnt meanwhile
    burn at the next round), the rest of the account untouched."""
    from app import payments
    from app.models import Account, AccountOperation, OperationKind, PaymentMethod

    customer = factories.customer(ctx)
    soon = utcnow() + dt.timedelta(days=10)
    later = utcnow() + dt.timedelta(days=200)
    payments.add_operation(
        ctx, customer, Account.BONUS, OperationKind.ACCRUAL, "100", "Акция", may_adjust=True, expires_at=soon
    )
    payments.add_operation(
        ctx, customer, Account.BONUS, OperationKind.ACCRUAL, "50", "Акция", may_adjust=True, expires_at=later
    )
    order = factories.order(ctx, customer, items=(("Пилинг", "120.00", 1),))
    payments.take_payment(ctx, order, "120", PaymentMethod.BONUS)  # the 100 burning soon, then 20 of the 50
    ctx.commit()
    # the soon lot's day comes before the return: nothing left of it to burn
    assert payments.expire_bonuses(ctx, now=soon + dt.timedelta(hours=1)) == {}
    ctx.commit()
    manager = login_as("manager")
    _refund_through_the_screen(ctx, manager, customer, order, "120")
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).bonus_balance == 150
    back = {
        (op.amount, op.expires_at)
        for op in ctx.query(AccountOperation).filter_by(kind=OperationKind.REFUND, account=Account.BONUS)
    }
    assert back == {(Decimal("100.00"), soon), (Decimal("20.00"), later)}
    burnt = payments.expire_bonuses(ctx, now=soon + dt.timedelta(hours=2))
    ctx.commit()
    assert burnt == {customer.id: Decimal("100.00")}
    assert payments.expire_bonuses(ctx, now=later + dt.timedelta(hours=1)) == {customer.id: Decimal("50.00")}
    ctx.commit()
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).bonus_balance == 0


def test_a_returns_page_lists_each_of_its_refunds(ctx, login_as, app):
    """A return refunded in parts (100 ₽ to the bonuses, 3 225 ₽ to the deposit): its
    page said its status and sum only; where each part went, when and by whom was read
    on the payments list. Its page now lists each refund, to the roles that read
    payments; a role given the returns without the payments reads no money there."""
    from app import payments
    from app.access import PAYMENTS, ROLES
    from app.models import Account, OperationKind, PaymentMethod, Return

    customer = factories.customer(ctx)
    for account, kind, amount in (
        (Account.BONUS, OperationKind.ACCRUAL, "100"),
        (Account.DEPOSIT, OperationKind.TOP_UP, "3225"),
    ):
        payments.add_operation(ctx, customer, account, kind, amount, "Акция", may_adjust=True)
    order = factories.order(ctx, customer, items=(("Пилинг", "3325.00", 1),))
    payments.take_payment(ctx, order, "100", PaymentMethod.BONUS)
    payments.take_payment(ctx, order, "3225", PaymentMethod.DEPOSIT)
    ctx.commit()
    manager = login_as("manager")
    asked = {"order": str(order.id), "amount": "3325", "reason": "Процедура не состоялась"}
    assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).one()
    for status in ("approved", "refunded"):
        assert manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": status}).status_code == 302

    for role in ("manager", "reception", "auditor"):
        page = page_text(login_as(role).get(f"/returnview/show/{ret.id}"))
        assert "Способ возврата" in page and "Кто провёл" in page, role
        refunds = re.findall(
            r"(\d\d\.\d\d\.\d{4} \d\d:\d\d) (Бонусами|С депозита) (-[\d ]+,\d\d ₽) Manager Тестовый", page
        )
        assert sorted((way, amount) for _when, way, amount in refunds) == [
            ("Бонусами", "-100,00 ₽"),
            ("С депозита", "-3 225,00 ₽"),
        ], (role, page[page.rfind("Возвраты денег") :][:1500])

    with app.app_context():  # the clinic gave the front desk the returns, not the payments
        sm = app.appbuilder.sm
        pvm = sm.find_permission_view_menu("can_read", PAYMENTS)
        sm.del_permission_role(sm.find_role(ROLES["reception"].name), pvm)
    try:
        page = page_text(login_as("reception").get(f"/returnview/show/{ret.id}"))
        assert "Процедура не состоялась" in page and "Способ возврата" not in page
        assert "3 225,00" not in page.replace("3 325,00", "")
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            sm.add_permission_role(sm.find_role(ROLES["reception"].name), pvm)


def migration(number: str):
    """A migration's module, to run its data step on the test's database (either kind)."""
    import importlib.util
    from pathlib import Path

    (path,) = (Path(__file__).parent.parent / "migrations" / "versions").glob(f"{number}_*.py")
    spec = importlib.util.spec_from_file_location(f"migration_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bonus_write_offs_written_before_they_named_their_accrual_are_linked(ctx, login_as):
    """Write-offs of bonuses taken back by a return before the write-off named its accrual
    (the version of migration 0032) left the accrual reading whole: a year later the
    sweeper burnt the returned orders' bonuses again from the customer's promotion (all
    190 of them), and a later return of the half-returned order took back its share of
    the whole and left its accrual open. Migration 0033 links each to the oldest accrual
    of its order that holds it whole (a manager's own write-off stays as it was); the
    rest of the half-returned order then settles its accrual, and nothing burns."""
    from sqlalchemy import update

    from app import payments
    from app.models import Account, AccountOperation, CustomerCategory, OperationKind, Payment, PaymentMethod

    regular = CustomerCategory(name="Постоянные", bonus_percent=Decimal("10"))
    ctx.add(regular)
    customer = factories.customer(ctx, category=regular)
    payments.add_operation(
        ctx, customer, Account.BONUS, OperationKind.ACCRUAL, "200", "Акция", may_adjust=True
    )
    returned = factories.order(ctx, customer, items=(("Пилинг", "1000.00", 1),))
    payments.take_payment(ctx, returned, "1000", PaymentMethod.CARD)
    halved = factories.order(ctx, customer, items=(("Массаж", "2000.00", 1),))
    payments.take_payment(ctx, halved, "2000", PaymentMethod.CARD)
    payments.add_operation(
        ctx, customer, Account.BONUS, OperationKind.WRITE_OFF, "10", "Ошибка", may_adjust=True
    )
    ctx.commit()
    manager = login_as("manager")
    _refund_through_the_screen(ctx, manager, customer, returned, "1000")
    _refund_through_the_screen(ctx, manager, customer, halved, "1000")

    def accrual_of(order):
        return (
            ctx.query(AccountOperation)
            .join(Payment, Payment.id == AccountOperation.payment_id)
            .filter(AccountOperation.kind == OperationKind.ACCRUAL, Payment.order_id == order.id)
            .one()
        )

    def write_offs():
        ctx.expire_all()
        rows = (
            ctx.query(AccountOperation).filter_by(kind=OperationKind.WRITE_OFF).order_by(AccountOperation.id)
        )
        return [(Decimal(w.amount), w.linked_id) for w in rows]

    linked = write_offs()
    assert linked == [
        (Decimal("-10.00"), None),  # the manager's own
        (Decimal("-100.00"), accrual_of(returned).id),
        (Decimal("-100.00"), accrual_of(halved).id),
    ]
    # as the version before 0033 left them: unlinked, the returned order's accrual open
    ctx.execute(
        update(AccountOperation)
        .where(AccountOperation.kind == OperationKind.WRITE_OFF)
        .values(linked_id=None)
    )
    ctx.execute(
        update(AccountOperation).where(AccountOperation.id == accrual_of(returned).id).values(closed_at=None)
    )
    ctx.commit()

    assert migration("0033").link_write_offs(ctx.connection()) == 2
    ctx.commit()
    assert write_offs() == linked
    assert accrual_of(returned).closed_at is not None and accrual_of(halved).closed_at is None
    assert migration("0033").link_write_offs(ctx.connection()) == 0  # run again: nothing more
    # the rest of the half-returned order settles its accrual; a year on, nothing burns
    _refund_through_the_screen(ctx, manager, customer, halved, "1000")
    ctx.expire_all()
    assert accrual_of(halved).closed_at is not None
    assert ctx.get(Customer, customer.id).bonus_balance == 190
    assert payments.expire_bonuses(ctx, now=utcnow() + dt.timedelta(days=400)) == {}
    ctx.commit()
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).bonus_balance == 190
