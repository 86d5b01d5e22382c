"""Defects that the week in the browser (tests/test_week.py) found, proven server-side."""

from __future__ import annotations

import re

import pytest


def checkbox(page: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', page)[0]


@pytest.mark.parametrize("path", ["/catalogitemview/add", "/messagetemplateview/add"])
def test_a_new_record_starts_as_its_column_default_says(login_as, path):
    """A service the administrator added was saved inactive, so the booking form never
    offered it: the add form's «Активна» box came unticked while the column's default
    is true (and a message template likewise)."""
    page = login_as("sysadmin").get(path).get_data(as_text=True)
    assert "checked" in checkbox(page, "active")


def test_a_box_whose_default_is_false_starts_unticked(login_as):
    page = login_as("manager").get("/noteview/add").get_data(as_text=True)
    assert "checked" not in checkbox(page, "pinned")


def test_the_card_and_the_orders_list_say_when_each_visit_is(app, ctx, login_as):
    """A receptionist who booked a visit for tomorrow at 10:30 could not see it on the
    card: the «Заказы» tab and the orders list showed when an order was created, its
    status and its sums, but not the visit's date and time (only the SMS text in the
    «Сообщения» tab had it)."""
    import datetime as dt
    import zoneinfo

    from tests import factories

    customer = factories.customer(ctx)
    factories.order(ctx, customer, visit_at=dt.datetime(2026, 11, 20, 7, 30))  # UTC
    clinic = zoneinfo.ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    local = dt.datetime(2026, 11, 20, 7, 30, tzinfo=dt.UTC).astimezone(clinic)
    cell = f'<td class="col-visit_at">{local:%d.%m.%Y %H:%M}</td>'
    client = login_as("reception")
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    orders_tab = card[card.index('id="orders"') : card.index('id="returns"')]
    assert cell in orders_tab
    assert cell in client.get("/orderview/list/").get_data(as_text=True)


def test_a_new_users_form_is_russian(login_as):
    """The system administrator's form for a new member of staff showed the groups' help
    in English and «E-mail ользователя» under the e-mail (FAB's Russian catalog)."""
    page = login_as("sysadmin").get("/users/add").get_data(as_text=True)
    for leftover in ("The user group on the application", "E-mail ользователя"):
        assert leftover not in page
    assert "Группы сотрудника: он получает роли каждой своей группы." in page
    assert "Эл. почта сотрудника." in page
