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


def test_a_moved_visit_is_told_to_its_customer(app, ctx, redis, login_as):
    """Анна moved her colouring from 08.12 15:00 to 10.12 16:30 by phone; the front desk
    changed the time: the old reminder was cancelled and a new one queued for a day
    before, and Анна was told nothing until then (a move within the day, never). She is
    now told the new time at once; an edit that keeps the time, a cancellation (told as
    a status) and a visit moved into the past tell nothing of a move."""
    import datetime as dt

    from app.models import Channel, Message, MessageStatus, MessageType, Order
    from tests.test_notifications_policy import visit_order

    customer = factories.customer(ctx, first_name="Анна", phone="+79161234567")
    booked = (dt.datetime.now() + dt.timedelta(days=4)).replace(hour=12, minute=0, second=0, microsecond=0)
    order = visit_order(ctx, customer, booked)
    manager = login_as("reception")

    def edit(visit_at, status="new"):
        data = {"customer": str(customer.id), "kind": "visit", "status": status, "visit_at": visit_at}
        response = manager.post(f"/orderview/edit/{order.id}", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)[:1000]

    def moved():
        ctx.expire_all()
        return ctx.query(Message).filter_by(message_type=MessageType.VISIT_MOVED).order_by(Message.id).all()

    later = booked + dt.timedelta(days=2, hours=4, minutes=30)
    typed = later.strftime("%d.%m.%Y %H:%M")
    edit(typed)
    (told,) = moved()
    assert told.channel == Channel.SMS and told.status == MessageStatus.QUEUED
    assert told.body.startswith(f"Анна, ваш визит перенесён на {typed}.")
    assert told.send_after <= dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=5)
    assert told.expires_at <= ctx.get(Order, order.id).visit_at

    edit(typed)  # saved again at the same time
    past = (dt.datetime.now() - dt.timedelta(days=1)).strftime("%d.%m.%Y %H:%M")
    edit(past)  # written down afterwards: the customer came the day before
    edit(typed)
    edit(later.strftime("%d.%m.%Y 18:00"), status="cancelled")  # told as the order's status
    assert [m.body.split(" на ")[1][:16] for m in moved()] == [typed, typed]


def test_migration_0034_gives_the_moved_visit_its_template_on_every_channel(tmp_path):
    """The administrator sees (and may change) the text of «Перенос визита» on every
    channel, as every other message's; an administrator's own rows are kept."""
    from sqlalchemy import text

    from app.extensions import db
    from app.models import Channel, MessageTemplate, MessageType
    from tests.test_schema import database_at

    with database_at(tmp_path, "0032") as upgrade:
        # a database migrated before this change has no such rows (the earlier migrations
        # install the templates of the types there were)
        db.session.execute(text("DELETE FROM message_template WHERE message_type = 'visit_moved'"))
        db.session.add(
            MessageTemplate(
                message_type=MessageType.VISIT_MOVED,
                channel=Channel.SMS,
                body="Перенесли: {{ order.visit_at }}",
            )
        )
        db.session.commit()
        upgrade()
        db.session.expire_all()
        templates = db.session.query(MessageTemplate).filter_by(message_type=MessageType.VISIT_MOVED).all()
        assert sorted(t.channel.value for t in templates) == sorted(c.value for c in Channel)
        bodies = {t.channel: t.body for t in templates}
        assert bodies.pop(Channel.SMS) == "Перенесли: {{ order.visit_at }}"
        assert all("перенесён на" in body for body in bodies.values())


def test_a_payment_refused_for_its_order_says_why(ctx, login_as):
    """«Принять оплату» on a visit cancelled meanwhile: the form came back with «100» in
    its box and not a word. The rule refuses the order (a field the bound form does not
    draw), and its message went to that undrawn field; it is now said on top."""
    from app.models import OrderStatus

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Маникюр", "1200.00", 1),))
    order.status = OrderStatus.CANCELLED
    ctx.commit()
    client = login_as("reception")
    refused = client.post(
        f"/paymentview/add?tab=orders&_flt_0_order={order.id}", data={"amount": "100", "method": "cash"}
    )
    assert refused.status_code == 422
    assert f"Заказ №{order.id} отменён: оплату по нему не принимают." in html.unescape(
        refused.get_data(as_text=True)
    )
    assert ctx.query(Payment).count() == 0


def test_a_whole_number_box_says_what_it_wants(ctx, login_as):
    """«4,5» typed as a review's rating, «1,5» as a service's minutes and «30 дней» as a
    kind's validity were refused with WTForms' «Неверное целое число.» («invalid integer»),
    said as a machine says it. They now ask for a whole number; «1 000» typed with a space,
    as staff write thousands, is read."""
    from app.models import CatalogItem

    customer = factories.customer(ctx)
    client = login_as("manager")
    rating = client.post(
        f"/reviewtab/add?_flt_0_customer={customer.id}",
        data={"rating": "4,5", "text": "Хорошо", "moderation_status": "published"},
    )
    assert rating.status_code == 422
    page = html.unescape(rating.get_data(as_text=True))
    assert "Введите целое число, без дробной части." in page and "Неверное целое число" not in page
    minutes = client.post(
        "/catalogitemview/add",
        data={"name": "Укладка", "kind": "service", "price": "1 000", "duration_min": "1,5"},
    )
    assert minutes.status_code == 422
    assert "Введите целое число, без дробной части." in html.unescape(minutes.get_data(as_text=True))
    saved = client.post(
        "/catalogitemview/add",
        data={"name": "Укладка", "kind": "service", "price": "1 000", "duration_min": "1 000"},
    )
    assert saved.status_code == 302
    assert ctx.query(CatalogItem).filter_by(name="Укладка").one().duration_min == 1000
