"""Money that goes back where it came from, the visit dates and the card's figures:
each test one finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

import datetime as dt
import html
import re

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
