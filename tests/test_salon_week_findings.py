"""Defects a new beauty salon's first week found in a Russian Chromium (December 2026),
on an empty database: proven server-side where a request shows them."""

from __future__ import annotations

import html

from app.models import Note, Payment
from tests import factories
from tests.conftest import user_id

TOKEN = "0123456789abcdef0123456789abcdef"


def test_a_payment_form_sent_twice_is_taken_once(ctx, redis, login_as):
    """The front desk took 100 ₽ for a haircut and the form went twice (Enter pressed
    again on a slow answer; a double click): two payments of 100 ₽ were stored and the
    debt fell by 200 ₽. The second send of the same form now saves nothing, is told so,
    and is led to where the first one went."""
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Окрашивание", "4200.00", 1),))
    client = login_as("reception")
    address = f"/paymentview/add?tab=orders&_flt_0_order={order.id}"
    form = {"amount": "100", "method": "cash", "_submission": TOKEN}
    first = client.post(address, data=form)
    assert first.status_code == 302
    again = client.post(address, data=form)
    assert again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert [p.amount for p in ctx.query(Payment).all()] == [100]
    page = html.unescape(client.get(again.headers["Location"]).get_data(as_text=True))
    assert "Эта форма уже отправлена и сохранена: повторная отправка ничего не изменила." in page
    # another form (its own token) is another payment
    other = client.post(address, data={**form, "_submission": TOKEN[::-1]})
    assert other.status_code == 302
    assert ctx.query(Payment).count() == 2


def test_a_refused_form_may_be_sent_again_with_its_token(ctx, redis, login_as):
    """A form refused for its value saved nothing: the same token typed right saves."""
    customer = factories.customer(ctx)
    client = login_as("reception")
    address = f"/customerview/{customer.id}/notes"
    refused = client.post(address, data={"text": "   ", "_submission": TOKEN})
    assert refused.status_code == 422
    saved = client.post(address, data={"text": "Аллергия на аммиачные краски", "_submission": TOKEN})
    assert saved.status_code == 302
    twice = client.post(address, data={"text": "Аллергия на аммиачные краски", "_submission": TOKEN})
    assert twice.status_code == 302
    assert [n.text for n in ctx.query(Note).all()] == ["Аллергия на аммиачные краски"]


def test_a_token_is_the_users_own(ctx, redis, login_as):
    """Another member of staff's form with the same token is theirs: it is saved."""
    customer = factories.customer(ctx)
    address = f"/customerview/{customer.id}/notes"
    login_as("reception").post(address, data={"text": "Первая", "_submission": TOKEN})
    login_as("manager").post(address, data={"text": "Вторая", "_submission": TOKEN})
    assert sorted(n.text for n in ctx.query(Note).all()) == ["Вторая", "Первая"]


def test_a_form_sent_while_its_first_send_runs_is_told_to_wait(ctx, redis, login_as, monkeypatch, app):
    """The second send waits for the first; one still running answers 409 in Russian."""
    from app.admin import submissions

    customer = factories.customer(ctx)
    client = login_as("reception")
    monkeypatch.setattr(submissions, "WAIT_SECONDS", 0.3)
    redis.set(f"{submissions.PREFIX}{user_id(app, 'reception')}:{TOKEN}", submissions.PENDING)
    running = client.post(f"/customerview/{customer.id}/notes", data={"text": "Вторая", "_submission": TOKEN})
    assert running.status_code == 409
    assert "Эта форма уже отправлена и ещё сохраняется" in html.unescape(running.get_data(as_text=True))
    assert ctx.query(Note).count() == 0


def test_a_form_is_saved_where_redis_is_unreachable(ctx, login_as, monkeypatch):
    from redis.exceptions import ConnectionError as RedisDown

    from app.admin import submissions

    def down():
        raise RedisDown("unreachable")

    monkeypatch.setattr(submissions, "_connection", down)
    customer = factories.customer(ctx)
    saved = login_as("reception").post(
        f"/customerview/{customer.id}/notes", data={"text": "Сохранено", "_submission": TOKEN}
    )
    assert saved.status_code == 302 and ctx.query(Note).count() == 1
