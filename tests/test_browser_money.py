"""The customer's money in the real UI (issue 18): Debian's chromium in Russian (Playwright)
against the app served on 127.0.0.1, as tests/test_browser.py serves it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from app.models import Customer, Message, Order, Payment, Return
from tests import factories
from tests.conftest import ARTIFACTS, PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def login(page, server, username):
    page.context.clear_cookies()
    page.goto(f"{server}/login/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{server}/customerview/list/")


def choose(page, field, typed, option):
    """A select2 box: open it, type, pick the option."""
    page.click(f"{field} + .select2 .select2-selection")
    if typed:
        page.fill(".select2-container--open .select2-search__field", typed)
    page.locator(".select2-container--open .select2-results__option", has_text=option).first.click()


def kpi(page, name) -> str:
    return page.locator(f".kpi-{name}").inner_text().replace("\xa0", " ")


def test_a_visit_paid_in_part_and_refunded_in_part_shows_right_on_the_card(ctx, server, page):
    # the reference data a clinic starts with: a service and a category with its discount
    from app.models import CustomerCategory

    ctx.add(CustomerCategory(name="Постоянные", discount=Decimal("10")))
    ctx.commit()
    factories.catalog_item(ctx, "Массаж спины", "3000.00")
    assert ctx.query(Customer).count() == 0 and ctx.query(Order).count() == 0

    # the receptionist registers the customer and books a visit from the card
    login(page, server, "reception")
    page.goto(f"{server}/customerview/add")
    page.fill("#last_name", "Смирнова")
    page.fill("#first_name", "Ольга")
    page.fill("#phone", "8 916 555-12-34")
    page.select_option("#category", label="Постоянные")
    with page.expect_navigation():
        page.click("button[type=submit]")
    ctx.expire_all()
    customer = ctx.query(Customer).one()
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    expect(page.locator(".order-discount")).to_have_text("Скидка клиента: 10\xa0%")
    assert page.locator("#order-discount").count() == 0  # no discount by hand at the front desk
    choose(page, "#order-catalog_item", "масс", "Массаж спины")
    expect(page.locator(".kartoteka-order-preview .order-figures")).to_contain_text("Итого: 2\xa0700,00\xa0₽")
    page.fill("#order-visit_at", "15.12.2026 10:30")
    with page.expect_navigation():
        page.click(".kartoteka-inline-order button[type=submit]")
    ctx.expire_all()
    order = ctx.query(Order).one()
    assert (order.total, order.paid) == (Decimal("2700.00"), Decimal("0.00"))

    # a partial payment typed as a Russian receptionist types it
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    with page.expect_navigation():
        page.click("#orders .kartoteka-pay")
    page.fill("#amount", "1 500,50")
    page.select_option("#method", "cash")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith(f"/customerview/show/{customer.id}#orders")  # back on the tab it came from
    expect(page.locator("#orders")).to_be_visible()
    ctx.expire_all()
    assert [p.amount for p in ctx.query(Payment)] == [Decimal("1500.50")]
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    assert (kpi(page, "paid"), kpi(page, "debt")) == ("1 500,50 ₽", "1 199,50 ₽")
    owing = page.locator("#orders tr.kartoteka-owes")
    expect(owing).to_have_count(1)
    expect(owing).to_contain_text("Массаж спины")
    expect(owing).to_contain_text("15.12.2026 10:30")

    # the manager refunds part of it through a return: requested, approved, money returned
    login(page, server, "manager")
    page.goto(f"{server}/returnview/add?_flt_0_customer={customer.id}")
    choose(page, "#order", None, f"Заказ №{order.id}")
    page.fill("#amount", "500")
    page.fill("#reason", "Сеанс сокращён")
    with page.expect_navigation():
        page.click("button[type=submit]")
    ctx.expire_all()
    ret = ctx.query(Return).one()
    for status in ("Одобрен", "Деньги возвращены"):
        page.goto(f"{server}/returnview/edit/{ret.id}")
        page.select_option("#status", label=status)
        with page.expect_navigation():
            page.click("button[type=submit]")
    ctx.expire_all()
    order = ctx.get(Order, order.id)
    # 500 given back is no longer bought: owed is 2 700 − 500 − 1 000,50
    assert (order.paid, order.refunded, order.debt, order.payment_status.value) == (
        Decimal("1000.50"),
        Decimal("500.00"),
        Decimal("1199.50"),
        "partial",
    )

    # the card follows: paid and debt, the payments tab, the customer's messages
    page.goto(f"{server}/customerview/show/{customer.id}")
    assert (kpi(page, "total"), kpi(page, "paid"), kpi(page, "debt")) == (
        "2 200,00 ₽",
        "1 000,50 ₽",
        "1 199,50 ₽",
    )
    expect(page.locator(".kartoteka-kpi .kpi-has-debt")).to_have_count(1)
    page.click("a[href='#payments']")
    payments_tab = page.locator("#payments").inner_text().replace("\xa0", " ")
    assert "Возврат денег" in payments_tab and "-500,00 ₽" in payments_tab and "1 500,50 ₽" in payments_tab
    page.click("a[href='#orders']")
    row = page.locator("#orders tr.kartoteka-owes")
    expect(row).to_contain_text("1\xa0000,50\xa0₽")
    expect(row).to_contain_text("1\xa0199,50\xa0₽")
    page.click("a[href='#messages']")
    shown = page.locator("#messages").inner_text()
    assert f"Ольга, заказ №{order.id} оформлен" in shown
    # how much came back and where (the order was paid in cash)
    said = f"Ольга, возврат по заказу №{order.id}: Вам вернули 500,00 ₽ наличными."
    assert said in shown.replace("\xa0", " ")
    assert "Одобрен" not in shown  # a step between request and outcome is the staff's own
    ctx.expire_all()
    texts = sorted(m.body for m in ctx.query(Message).filter(Message.customer_id == customer.id))
    assert any("оформлен" in t for t in texts) and any("Вам вернули" in t for t in texts)
    assert not any(re.search(r"Одобрен\b", t) for t in texts)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "card-money-after-refund.png"), full_page=True)


def test_a_discount_typed_by_the_manager_shows_in_the_preview_and_is_booked(ctx, server, page):
    factories.catalog_item(ctx, "Массаж спины", "2000.00")
    customer = factories.customer(ctx, discount=Decimal("5"))
    login(page, server, "manager")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    expect(page.locator(".order-discount-rule")).to_contain_text("Большая из двух")
    choose(page, "#order-catalog_item", "масс", "Массаж спины")
    figures = page.locator(".kartoteka-order-preview .order-figures")
    expect(figures).to_contain_text("Итого: 1\xa0900,00\xa0₽")  # the customer's 5 %
    page.fill("#order-discount", "12,5")
    expect(figures).to_contain_text("Итого: 1\xa0750,00\xa0₽")
    with page.expect_navigation():
        page.click(".kartoteka-inline-order button[type=submit]")
    ctx.expire_all()
    assert ctx.query(Order).one().total == Decimal("1750.00")
    expect(page.locator("#orders tr").filter(has_text="Массаж спины")).to_contain_text("12,5\xa0%")


def test_a_subscription_sold_pays_a_visit_and_its_cancellation_is_refunded_on_the_card(ctx, server, page):
    """The front desk sells a subscription of 5 visits, books a visit and pays it by the
    subscription (its number typed): the card shows 4 visits of 5 left; the manager cancels
    it with a reason and the card shows it cancelled and the 4 visits' part of the price on
    the deposit."""
    from app.models import Certificate, CertificateKind, CertificateType

    massage = factories.catalog_item(ctx, "Массаж спины", "2000.00")
    ctx.add(
        CertificateKind(
            name="Абонемент: 5 массажей",
            type=CertificateType.VISITS,
            price=Decimal("9000"),
            visits=5,
            valid_days=180,
            active=True,
            services=[massage],
        )
    )
    ctx.commit()
    customer = factories.customer(ctx, last_name="Кузнецова", first_name="Анна", phone="+79165550001")

    login(page, server, "reception")
    page.goto(f"{server}/certificateview/add?_flt_0_customer={customer.id}")
    choose(page, "#kind", "абон", "Абонемент: 5 массажей")
    page.select_option("#method", "card")
    with page.expect_navigation():
        page.click("button[type=submit]")
    ctx.expire_all()
    subscription = ctx.query(Certificate).one()
    page.goto(f"{server}/customerview/show/{customer.id}")
    page.click("a[href='#certificates']")
    expect(page.locator("#certificates")).to_contain_text("5 визитов из 5")

    # a visit booked on the card, paid by the subscription: its number typed on the keyboard
    page.click("a[href='#orders']")
    choose(page, "#order-catalog_item", "масс", "Массаж спины")
    page.locator("#order-visit_at").press_sequentially("16.12.2026 11:00")
    with page.expect_navigation():
        page.click(".kartoteka-inline-order button[type=submit]")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    with page.expect_navigation():
        page.click("#orders .kartoteka-pay")
    page.locator("#amount").fill("")
    page.locator("#amount").press_sequentially("2 000")
    page.select_option("#method", "certificate")
    page.locator("#certificate_code").press_sequentially(subscription.code.replace("-", " "))
    with page.expect_navigation():
        page.click("button[type=submit]")
    ctx.expire_all()
    assert ctx.query(Order).one().debt == Decimal("0.00")
    page.goto(f"{server}/customerview/show/{customer.id}")
    assert kpi(page, "debt") == "0,00 ₽"
    page.click("a[href='#certificates']")
    expect(page.locator("#certificates")).to_contain_text("4 визита из 5")
    expect(page.locator("#certificates")).not_to_contain_text("Аннулирован")

    # the manager cancels it: the reason typed, the unused 4 visits' part of the price refunded
    login(page, server, "manager")
    page.goto(f"{server}/certificateview/show/{subscription.id}")
    with page.expect_navigation():
        page.click("text=Аннулировать")
    page.locator("#reason").press_sequentially("Клиентка переехала")
    with page.expect_navigation():
        page.click("button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text(
        f"на депозит клиента {customer.full_name} возвращено 7\xa0200,00\xa0₽"
    )
    page.goto(f"{server}/customerview/show/{customer.id}")
    assert kpi(page, "deposit") == "7 200,00 ₽"
    page.click("a[href='#certificates']")
    row = page.locator("#certificates tr").filter(has_text=subscription.code)
    expect(row).to_contain_text("Аннулирован")
    expect(row).to_contain_text("0 визитов из 5")
    page.click("a[href='#accounts']")
    accounts = page.locator("#accounts")
    expect(accounts).to_contain_text("Возврат за сертификат")
    expect(accounts).to_contain_text("7\xa0200,00\xa0₽")
    expect(accounts).to_contain_text("Клиентка переехала")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "card-subscription-cancelled.png"), full_page=True)


def test_part_in_cash_and_the_rest_from_the_deposit_leaves_no_debt_and_the_refund_follows(ctx, server, page):
    """The issue's scenario to the end: a category customer with money on the deposit; the
    front desk books at the discounted price, takes part in cash and the rest from the
    deposit (typed on the keyboard): the card shows the debt at 0 and the deposit reduced;
    the manager refunds a return and the order's debt and the deposit follow."""
    from app import payments
    from app.models import Account, CustomerCategory, OperationKind

    category = CustomerCategory(name="Постоянные", discount=Decimal("10"))
    ctx.add(category)
    ctx.commit()
    factories.catalog_item(ctx, "Массаж спины", "3000.00")
    customer = factories.customer(ctx, last_name="Орлова", first_name="Вера", phone="+79165550002")
    customer.category = category
    payments.add_operation(
        ctx, customer, Account.DEPOSIT, OperationKind.TOP_UP, "2000", "Предоплата", may_adjust=False
    )
    ctx.commit()

    login(page, server, "reception")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    assert kpi(page, "deposit") == "2 000,00 ₽"
    choose(page, "#order-catalog_item", "масс", "Массаж спины")
    expect(page.locator(".kartoteka-order-preview .order-figures")).to_contain_text("Итого: 2\xa0700,00\xa0₽")
    page.locator("#order-visit_at").press_sequentially("17.12.2026 09:30")
    with page.expect_navigation():
        page.click(".kartoteka-inline-order button[type=submit]")
    for amount, method in (("1 000", "cash"), ("1 700", "deposit")):
        page.goto(f"{server}/customerview/show/{customer.id}#orders")
        with page.expect_navigation():
            page.click("#orders .kartoteka-pay")
        page.locator("#amount").fill("")
        page.locator("#amount").press_sequentially(amount)
        page.select_option("#method", method)
        with page.expect_navigation():
            page.click("button[type=submit]")
    ctx.expire_all()
    order = ctx.query(Order).one()
    assert (order.total, order.paid, order.debt) == (Decimal("2700.00"), Decimal("2700.00"), Decimal("0.00"))
    page.goto(f"{server}/customerview/show/{customer.id}")
    assert (kpi(page, "debt"), kpi(page, "deposit")) == ("0,00 ₽", "300,00 ₽")
    expect(page.locator("#orders tr.kartoteka-owes")).to_have_count(0)

    # the manager refunds 500 through a return: back to the deposit it was last paid from
    login(page, server, "manager")
    page.goto(f"{server}/returnview/add?_flt_0_customer={customer.id}")
    choose(page, "#order", None, f"Заказ №{order.id}")
    page.locator("#amount").press_sequentially("500")
    page.locator("#reason").press_sequentially("Сеанс сокращён")
    with page.expect_navigation():
        page.click("button[type=submit]")
    ctx.expire_all()
    ret = ctx.query(Return).one()
    for status in ("Одобрен", "Деньги возвращены"):
        page.goto(f"{server}/returnview/edit/{ret.id}")
        page.select_option("#status", label=status)
        with page.expect_navigation():
            page.click("button[type=submit]")
    page.goto(f"{server}/customerview/show/{customer.id}")
    # what was refunded is no longer owed: the order is paid, part of it returned, nothing to take
    assert (kpi(page, "paid"), kpi(page, "debt"), kpi(page, "deposit")) == (
        "2 200,00 ₽",
        "0,00 ₽",
        "800,00 ₽",
    )
    expect(page.locator(".kartoteka-kpi .kpi-has-debt")).to_have_count(0)
    page.click("a[href='#orders']")
    expect(page.locator("#orders tr.kartoteka-owes")).to_have_count(0)
    expect(page.locator("#orders")).to_contain_text("Оплачен")
    expect(page.locator("#orders")).not_to_contain_text("Принять оплату")
    page.click("a[href='#accounts']")
    expect(page.locator("#accounts")).to_contain_text("Возврат на счёт")


def test_the_booking_preview_rounds_the_total_as_the_order_is_booked(ctx, server, page):
    # 2 × 990,50 ₽ less 15,5 %: 1 673,945 ₽. The order is booked at 1 673,95 ₽; the
    # preview rounded the discount first and told the customer 1 673,94 ₽.
    factories.catalog_item(ctx, "Крем увлажняющий", "990.50")
    customer = factories.customer(ctx, discount=Decimal("15.5"))
    login(page, server, "reception")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    choose(page, "#order-catalog_item", "крем", "Крем увлажняющий")
    page.click("#order-quantity")
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    figures = page.locator(".kartoteka-order-preview .order-figures")
    expect(figures).to_contain_text("Скидка: 307,05\xa0₽ · Итого: 1\xa0673,95\xa0₽")
    with page.expect_navigation():
        page.click(".kartoteka-inline-order button[type=submit]")
    ctx.expire_all()
    assert ctx.query(Order).one().total == Decimal("1673.95")
    expect(page.locator("#orders tr").filter(has_text="Крем увлажняющий")).to_contain_text("1\xa0673,95\xa0₽")
