"""A clinic's first week, defect by defect (issue «A clinic's first week»): each test
plays what staff did and reads what was stored and what the customer was sent."""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo

import pytest

from app.models import Channel, Customer, Message, MessageType, Order
from tests import factories


def customers(ctx, **filters):
    ctx.expire_all()
    return ctx.query(Customer).filter_by(**filters).order_by(Customer.id).all()


REGISTRATION = {
    "last_name": "Петрова",
    "first_name": "Мария",
    "middle_name": "",
    "customer_type": "individual",
    "phone": "8 916 555-12-34",
    "email": "",
    "city": "",
    "card_number": "",
    "source": "",
    "service_comment": "",
    "discount": "",
}


# -- 1. blank optional fields are NULL; a taken value names its field and holder -----------


def test_customers_registered_with_optional_fields_blank_are_all_saved(ctx, login_as):
    client = login_as("reception")
    first = client.post("/customerview/add", data=REGISTRATION)
    second = client.post(
        "/customerview/add", data={**REGISTRATION, "last_name": "Сидорова", "phone": "8 903 111-22-33"}
    )
    assert (first.status_code, second.status_code) == (302, 302), second.get_data(as_text=True)[-3000:]
    stored = customers(ctx)
    assert [c.last_name for c in stored] == ["Петрова", "Сидорова"]
    for customer in stored:
        assert (customer.card_number, customer.email, customer.middle_name, customer.city) == (
            None,
            None,
            None,
            None,
        )
    edited = client.post(f"/customerview/edit/{stored[0].id}", data={**REGISTRATION, "city": "  "})
    assert edited.status_code == 302
    assert customers(ctx)[0].city is None


def test_a_taken_card_number_names_the_field_and_the_customer_who_holds_it(ctx, login_as):
    holder = factories.customer(ctx, last_name="Сидорова", phone="+79031112233", card_number="K-100")
    client = login_as("reception")
    response = client.post("/customerview/add", data={**REGISTRATION, "card_number": "K-100"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "«Номер карты»: такое значение уже есть у записи" in page
    assert f'href="/customerview/show/{holder.id}"' in page
    assert "данные противоречат" not in page
    assert len(customers(ctx)) == 1


# -- 2. a visit is stored in UTC and read on the clinic's clock everywhere --------------


@pytest.fixture(params=["Asia/Vladivostok", "America/Sao_Paulo"])
def clinic_zone(request, app):
    """The clinic far from the server's UTC, ahead of it and behind it."""
    babel = app.extensions["babel"]
    saved = babel.default_timezone, app.config["BABEL_DEFAULT_TIMEZONE"]
    babel.default_timezone = app.config["BABEL_DEFAULT_TIMEZONE"] = request.param
    yield zoneinfo.ZoneInfo(request.param)
    babel.default_timezone, app.config["BABEL_DEFAULT_TIMEZONE"] = saved


def test_a_visit_booked_for_10_30_is_10_30_in_the_card_the_order_the_messages_and_the_reminder(
    app, ctx, clinic_zone, login_as
):
    customer = factories.customer(ctx, phone="+79161234567", email="visit@example.ru")
    item = factories.catalog_item(ctx)
    tomorrow = (dt.datetime.now(clinic_zone) + dt.timedelta(days=3)).date()  # its reminder is not due yet
    typed = f"{tomorrow:%d.%m.%Y} 10:30"
    client = login_as("reception")
    booked = client.post(
        f"/customerview/{customer.id}/orders",
        data={"kind": "visit", "catalog_item": item.id, "quantity": "1", "visit_at": typed, "paid": ""},
    )
    assert booked.status_code == 302, booked.get_data(as_text=True)[-2000:]
    ctx.expire_all()
    order = ctx.query(Order).one()
    local = dt.datetime.combine(tomorrow, dt.time(10, 30), tzinfo=clinic_zone)
    assert order.visit_at == local.astimezone(dt.UTC).replace(tzinfo=None)  # stored as UTC
    assert typed in client.get(f"/orderview/show/{order.id}").get_data(as_text=True)
    assert typed in client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    edit = login_as("manager").get(f"/orderview/edit/{order.id}").get_data(as_text=True)
    assert re.search(rf'name="visit_at"[^>]*value="{re.escape(typed)}"', edit)
    sent = ctx.query(Message).filter_by(message_type=MessageType.ORDER_CREATED).all()
    assert {m.channel for m in sent} == {Channel.SMS, Channel.EMAIL}
    assert all(f"визит {typed}" in m.body for m in sent)
    (reminder,) = ctx.query(Message).filter_by(message_type=MessageType.VISIT_REMINDER, channel=Channel.SMS)
    assert typed in reminder.body
    assert reminder.send_after == order.visit_at - dt.timedelta(hours=app.config["REMINDER_HOURS_BEFORE"])


def test_a_visit_typed_after_midnight_stays_on_the_day_it_was_typed(app, ctx, clinic_zone, login_as):
    """A visit typed as 00:30 belongs to the day it was typed on, on the clinic's clock."""
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer)
    typed = "15.03.2026 00:30"
    manager = login_as("manager")
    form = {"customer": str(customer.id), "kind": "visit", "status": "new", "paid": "0", "visit_at": typed}
    assert manager.post(f"/orderview/edit/{order.id}", data=form).status_code == 302
    ctx.expire_all()
    stored = ctx.get(Order, order.id).visit_at
    assert stored.replace(tzinfo=dt.UTC).astimezone(clinic_zone).strftime("%d.%m.%Y %H:%M") == typed


# -- 3. a date is stored exactly as typed or refused with an example --------------------


@pytest.mark.parametrize(
    "typed, message",
    [
        ("12.07.1986 мусор", "Введите дату, например 12.07.1986."),
        ("15.03.90", "Введите дату, например 12.07.1986."),
        ("01.01.2100", "Дата рождения не может быть в будущем."),
        ("01.01.1850", "Дата рождения — не раньше чем 130 лет назад: проверьте год."),
    ],
)
def test_a_birth_date_is_refused_rather_than_guessed(ctx, login_as, typed, message):
    client = login_as("reception")
    response = client.post("/customerview/add", data={**REGISTRATION, "birth_date": typed})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert re.search(rf'name="birth_date"[^>]*value="{re.escape(typed)}"', page)  # kept as typed
    assert customers(ctx) == []


def test_a_birth_date_typed_the_russian_way_is_stored_as_typed(ctx, login_as):
    client = login_as("reception")
    assert (
        client.post("/customerview/add", data={**REGISTRATION, "birth_date": "15.03.1990"}).status_code == 302
    )
    (customer,) = customers(ctx)
    assert customer.birth_date == dt.date(1990, 3, 15)
    edit = client.get(f"/customerview/edit/{customer.id}").get_data(as_text=True)
    assert re.search(r'name="birth_date"[^>]*value="15.03.1990"', edit)


def test_every_generated_form_labels_its_fields_as_the_view_declares(app):
    """A field's label is the view's label for it (a change to how validators are
    passed once labelled «Пол» as «['П', 'о', 'л']»)."""
    from app.views import KartotekaModelView

    checked = 0
    with app.test_request_context():
        for view in app.appbuilder.baseviews:
            if not isinstance(view, KartotekaModelView):
                continue
            for form_class in {view.add_form, view.edit_form}:
                form = form_class()
                for name, field in form._fields.items():
                    if name in view.label_columns:
                        assert field.label.text == str(view.label_columns[name]), (type(view).__name__, name)
                        checked += 1
    assert checked > 100


# -- 4. a phone fragment typed from «8» finds the customer everywhere ------------------------


@pytest.mark.parametrize(
    "typed", ["8 916 555", "8(916)555", "89165551234", "+7 916 555", "7916555", "916 555", "555-12", "12-34"]
)
def test_a_phone_fragment_typed_any_way_finds_the_customer(ctx, login_as, typed):
    wanted = factories.customer(ctx, last_name="Петрова", phone="+79165551234")
    factories.customer(ctx, last_name="Другая", phone="+79031112233", phone_extra="+74957770011")
    client = login_as("reception")
    for args in ({"q": typed}, {"_flt_0_phone": typed}):
        page = client.get("/customerview/list/", query_string=args).get_data(as_text=True)
        assert "Петрова" in page and "Другая" not in page, args
    picked = client.get("/customerview/lookup", query_string={"q": typed}).get_json()["results"]
    assert [choice["id"] for choice in picked] == [wanted.id]


def test_a_branch_phone_typed_the_russian_way_is_kept_as_a_customers_is(ctx, login_as):
    """A branch's phone was stored as typed («8 495 123-45-67»); it is kept in E.164 and
    shown in the national form, and a number that is not one is refused in Russian."""
    from app.models import Branch

    client = login_as("manager")
    saved = client.post(
        "/branchview/add", data={"name": "Филиал на Арбате", "address": "", "phone": "8 495 123-45-67"}
    )
    assert saved.status_code == 302
    ctx.expire_all()
    assert ctx.query(Branch).filter_by(name="Филиал на Арбате").one().phone == "+74951234567"
    assert "8 (495) 123-45-67" in client.get("/branchview/list/").get_data(as_text=True)
    refused = client.post("/branchview/add", data={"name": "Филиал у моста", "address": "", "phone": "12"})
    assert refused.status_code == 422
    assert "Неверный номер телефона «12»" in refused.get_data(as_text=True)
    blank = client.post("/branchview/add", data={"name": "Филиал без телефона", "address": "", "phone": ""})
    assert blank.status_code == 302
    ctx.expire_all()
    assert ctx.query(Branch).filter_by(name="Филиал у моста").count() == 0
    assert ctx.query(Branch).filter_by(name="Филиал без телефона").one().phone is None


# -- 5. staff-only events never reach the customer; a return tells its outcome once ---------


@pytest.mark.parametrize("status, label", [("problem", "Проблемный"), ("blocked", "Заблокирован")])
def test_flagging_a_customer_problematic_or_blocked_sends_nothing(app, ctx, redis, login_as, status, label):
    """The card's form and the list's bulk action, each on its own: each changes the
    status it names (and nobody else's), says so to the staff member, and sends the
    customer nothing — no message row, no job. (The test sent both in a row and read
    only the end state, so a card form that did nothing passed behind the bulk action.)"""
    first = factories.customer(ctx, phone="+79161234567", email="first@example.ru")
    second = factories.customer(ctx, last_name="Вторая", phone="+79031112233", email="second@example.ru")
    third = factories.customer(ctx, last_name="Третья", phone="+79031112244", email="third@example.ru")
    manager = login_as("manager")

    def statuses():
        return [c.status.value for c in customers(ctx)]

    def nothing_sent():
        ctx.expire_all()
        assert ctx.query(Message).count() == 0
        assert redis.keys("rq:job:*") == []

    by_card = manager.post(f"/customerview/{first.id}/status", data={"status": status})
    assert by_card.status_code == 302
    assert statuses() == [status, "active", "active"]
    page = manager.get(by_card.headers["Location"]).get_data(as_text=True)
    assert f"Статус клиента изменён: {label}." in page
    nothing_sent()

    by_list = manager.post(
        "/customerview/action_post", data={"action": f"status_{status}", "rowid": [second.id, third.id]}
    )
    assert by_list.status_code == 302
    assert statuses() == [status, status, status]
    page = manager.get(by_list.headers["Location"]).get_data(as_text=True)
    assert "Статус изменён у 2 клиентов." in page
    nothing_sent()
    history = manager.get(f"/customerview/show/{second.id}").get_data(as_text=True)
    assert label in history  # the change is recorded on the card, not sent


def test_a_return_follows_its_flow_and_the_customer_hears_the_outcome_once(app, ctx, redis, login_as):
    from app.models import Return, ReturnStatus

    customer = factories.customer(ctx, phone="+79161234567", email="ret@example.ru")
    order = factories.order(ctx, customer, paid="1500")
    manager = login_as("manager")
    added = manager.post(
        f"/returnview/add?_flt_0_customer={customer.id}",
        data={"order": str(order.id), "amount": "500", "reason": "Не подошло"},
    )
    assert added.status_code == 302
    ret = ctx.query(Return).one()
    form = {"order": str(order.id), "amount": "500", "reason": "Не подошло"}

    def move(status):
        return manager.post(f"/returnview/edit/{ret.id}", data={**form, "status": status})

    jumped = move("refunded")  # from «Запрошен» straight to the money
    assert jumped.status_code == 422
    assert "Из статуса «Запрошен» возврат переходит только в «Одобрен» или «Отклонён»." in jumped.get_data(
        as_text=True
    )
    assert move("approved").status_code == 302
    assert ctx.query(Message).filter_by(message_type=MessageType.RETURN_STATUS).count() == 0  # a step between
    assert move("refunded").status_code == 302
    back = move("approved")
    assert back.status_code == 422 and "уже завершён" in back.get_data(as_text=True)
    ctx.expire_all()
    assert ctx.get(Return, ret.id).status == ReturnStatus.REFUNDED
    told = ctx.query(Message).filter_by(message_type=MessageType.RETURN_STATUS).all()
    assert {m.channel for m in told} == {Channel.SMS, Channel.EMAIL}  # one message per channel, once
    assert all(f"возврат по заказу №{order.id}: Вам вернули 500,00\xa0₽" in m.body for m in told), [
        m.body for m in told
    ]


def test_an_order_reaching_review_is_not_told_but_a_confirmation_is(app, ctx, redis, login_as):
    customer = factories.customer(ctx, phone="+79161234567")
    order = factories.order(ctx, customer)
    manager = login_as("manager")
    form = {"customer": str(customer.id), "kind": "visit", "paid": "0"}
    for status in ("review", "confirmed"):
        assert manager.post(f"/orderview/edit/{order.id}", data={**form, "status": status}).status_code == 302
    told = ctx.query(Message).filter_by(message_type=MessageType.ORDER_STATUS).all()
    assert [m.body for m in told] == [f"Анна, статус заказа №{order.id}: Подтверждён."]


def test_the_templates_screen_says_who_reads_each_text(app, ctx, login_as):
    from app.notifications import install_default_templates

    with app.app_context():
        from app.extensions import db

        with db.engine.begin() as connection:
            install_default_templates(connection)
    page = (
        login_as("sysadmin")
        .get("/messagetemplateview/list/?psize_MessageTemplateView=100")
        .get_data(as_text=True)
    )
    from app.models import Channel, MessageType

    staff_only = [t for t in MessageType if not t.customer_facing]
    customer_facing = [t for t in MessageType if t.customer_facing]
    assert staff_only and len(customer_facing) >= 8  # the status change; seven, bonuses, transfers…
    # each type on each channel, said once: a type added later is counted without editing this
    assert page.count("Никому: служебное событие, клиенту не отправляется") == len(staff_only) * len(Channel)
    assert page.count(">Клиенту<") == len(customer_facing) * len(Channel)


# -- 6. every action a view offers is one some role may run --------------------------------


def test_every_action_of_every_view_is_granted_to_some_role(app):
    """Derived from the views themselves: an action whose permission no role of the
    matrix holds is a button nobody can use («Отправить сообщение» on the list)."""
    from app import access

    with app.app_context():
        pvms = access._all_pvms(app.appbuilder.sm)
        menus = access._menu_resources(app.appbuilder)
        granted = set()
        for spec in access.ROLES.values():
            granted |= access.role_permissions(spec, pvms, menus)
        missing = [
            (type(view).__name__, name, view.get_action_permission_name(name))
            for view in app.appbuilder.baseviews
            for name in getattr(view, "actions", {}) or {}
            if (view.get_action_permission_name(name), view.class_permission_name) not in granted
        ]
    assert missing == []


def test_the_front_desk_sends_a_message_to_customers_ticked_on_the_list(app, ctx, redis, login_as):
    first = factories.customer(ctx, phone="+79161234567")
    second = factories.customer(ctx, last_name="Вторая", phone="+79031112233")
    client = login_as("reception")
    chosen = client.post(
        "/customerview/action_post", data={"action": "send_message", "rowid": [first.id, second.id]}
    )
    assert chosen.status_code == 302 and "/customerview/message" in chosen.headers["Location"]
    form = client.get(chosen.headers["Location"]).get_data(as_text=True)
    assert "Вторая" in form
    ids = re.search(r'name="ids"[^>]*value="([\d,]+)"', form)[1]
    sent = client.post(
        "/customerview/message",
        data={"ids": ids, "channel": "sms", "message_type": "manual", "text": "Ждём вас"},
    )
    assert sent.status_code == 302
    stored = ctx.query(Message).order_by(Message.customer_id).all()
    assert [(m.customer_id, m.body) for m in stored] == [(first.id, "Ждём вас"), (second.id, "Ждём вас")]


# -- 7. money and numbers typed as people type them ------------------------------------------


@pytest.mark.parametrize(
    "typed, message",
    [
        ("-1", "Скидка должна быть от 0 до 100 %."),
        ("101", "Скидка должна быть от 0 до 100 %."),
        ("NaN", "Введите число, например 1500,50."),
        ("Infinity", "Введите число, например 1500,50."),
    ],
)
def test_a_discount_out_of_range_is_refused_in_russian(ctx, login_as, typed, message):
    response = login_as("reception").post("/customerview/add", data={**REGISTRATION, "discount": typed})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert customers(ctx) == []


@pytest.mark.parametrize(
    "typed, stored", [("1000,50", "1000.50"), ("1 000,50", "1000.50"), ("1000.50", "1000.50")]
)
def test_a_payment_typed_with_a_comma_on_the_card_is_stored_exactly(ctx, login_as, typed, stored):
    from decimal import Decimal

    customer = factories.customer(ctx)
    item = factories.catalog_item(ctx, price="1500.00")
    client = login_as("reception")
    booked = client.post(
        f"/customerview/{customer.id}/orders",
        data={"kind": "visit", "catalog_item": item.id, "quantity": "1"},
    )
    assert booked.status_code == 302
    order = ctx.query(Order).one()
    # «Принять оплату» on the order's row of the card (a payment is a record of its own)
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    link = re.search(rf'href="(/paymentview/add\?[^"]*_flt_0_order={order.id})"', card)
    assert link, "«Принять оплату» on the order's row"
    pay = html.unescape(link.group(1))
    form = client.get(pay).get_data(as_text=True)
    assert re.search(
        r'<input[^>]*name="amount"[^>]*type="text"', form
    )  # not a number box that drops the comma
    paid = client.post(pay, data={"amount": typed, "method": "cash"})
    assert paid.status_code == 302
    ctx.expire_all()
    assert ctx.query(Order).one().paid == Decimal(stored)


# -- 10. «Последний визит» follows the last completed visit ----------------------------------


def test_last_visit_follows_the_customers_last_completed_visit(ctx, login_as):
    customer = factories.customer(ctx)
    early = factories.order(ctx, customer, visit_at=dt.datetime(2026, 3, 1, 7, 0))
    late = factories.order(ctx, customer, visit_at=dt.datetime(2026, 4, 1, 7, 0))
    manager = login_as("manager")

    def set_status(order, status):
        shown = {early.id: "01.03.2026 10:00", late.id: "01.04.2026 10:00"}[order.id]  # the form shows it
        form = {
            "customer": str(customer.id),
            "kind": "visit",
            "paid": "0",
            "status": status,
            "visit_at": shown,
        }
        assert manager.post(f"/orderview/edit/{order.id}", data=form).status_code == 302
        ctx.expire_all()
        return ctx.get(Customer, customer.id).last_visit_at

    assert ctx.get(Customer, customer.id).last_visit_at is None  # booked, not yet come
    assert set_status(early, "completed") == dt.datetime(2026, 3, 1, 7, 0)
    assert set_status(late, "completed") == dt.datetime(2026, 4, 1, 7, 0)
    assert set_status(late, "cancelled") == dt.datetime(2026, 3, 1, 7, 0)  # completed by mistake
    card = manager.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "01.03.2026 10:00" in card  # on the clinic's clock


# -- 8. forms that work with the user --------------------------------------------------------


def test_specialist_and_manager_list_only_staff_in_those_roles(app, ctx, login_as):
    import json

    from tests.conftest import user_id

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, specialist_id=user_id(app, "auditor"))  # from before the rule
    client = login_as("manager")
    doctor, manager = "Doctor Тестовый", "Manager Тестовый"
    outsiders = ("Auditor Тестовый", "Sysadmin Тестовый", "Reception Тестовый")

    def options(page, name):
        select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)[1]
        return set(re.findall(r">([^<]+)</option>", select)) - {"—"}

    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert options(card, "specialist") == {doctor}
    assert options(client.get("/orderview/add").get_data(as_text=True), "specialist") == {doctor}
    # an order whose specialist no longer is one keeps them (saving must not clear it)
    assert options(client.get(f"/orderview/edit/{order.id}").get_data(as_text=True), "specialist") == {
        doctor,
        "Auditor Тестовый",
    }
    assert options(client.get("/customerview/add").get_data(as_text=True), "manager") == {manager}
    listing = client.get("/orderview/list/").get_data(as_text=True)
    filters = json.loads(
        re.search(r"new AdminFilters\(\s*'#filter_form',\s*\{.*?\},\s*(\{.*?\}),\s*\{", listing, re.S)[1]
    )
    assert options(filters["specialist"], "specialist") == {doctor}
    for outsider in outsiders:
        assert outsider not in options(card, "specialist")


def test_a_new_customer_opens_on_their_card_and_a_deleted_one_returns_to_the_list(ctx, login_as):
    client = login_as("manager")
    added = client.post("/customerview/add", data=REGISTRATION)
    (customer,) = customers(ctx)
    assert added.status_code == 302 and added.headers["Location"].endswith(
        f"/customerview/show/{customer.id}"
    )
    assert client.get(added.headers["Location"]).status_code == 200
    deleted = client.post(f"/customerview/delete/{customer.id}")
    assert deleted.status_code == 302
    landing = client.get(deleted.headers["Location"])
    assert landing.status_code == 200 and deleted.headers["Location"].endswith("/customerview/list/")
    assert "Запись удалена" in landing.get_data(as_text=True)
    assert customers(ctx) == []


def test_the_front_desk_enters_a_passport_and_then_sees_it_masked(ctx, login_as):
    from app.models import CustomerDocument

    customer = factories.customer(ctx)
    client = login_as("reception")
    form = client.get(f"/customerdocumentview/add?_flt_0_customer={customer.id}").get_data(as_text=True)
    assert 'name="series"' in form and 'name="number"' in form
    passport = {
        "customer": str(customer.id),
        "kind": "passport_rf",
        "series": "4510",
        "number": "123456",
        "issued_by": "ОВД Тверского района",
        "issue_date": "15.03.2010",
        "division_code": "770-001",
    }
    assert client.post("/customerdocumentview/add", data=passport).status_code == 302
    document = ctx.query(CustomerDocument).one()
    assert (document.series, document.number) == ("4510", "123456")
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "123456" not in card and "****56" in card
    edit = client.get(f"/customerdocumentview/edit/{document.id}").get_data(as_text=True)
    assert 'name="number"' not in edit  # typed once, not read back nor retyped
    client.post(f"/customerdocumentview/edit/{document.id}", data={**passport, "number": "000000"})
    ctx.expire_all()
    assert ctx.get(CustomerDocument, document.id).number == "123456"


def test_a_legal_entity_is_named_by_its_organisation_and_asked_only_its_fields(ctx, login_as):
    from app.models import AttributeKind, CustomerAttribute, CustomerType

    inn = CustomerAttribute(
        customer_type=CustomerType.LEGAL, label="ИНН", kind=AttributeKind.TEXT, required=True
    )
    signed = CustomerAttribute(
        customer_type=CustomerType.LEGAL, label="Дата договора", kind=AttributeKind.DATE
    )
    ctx.add_all([inn, signed])
    ctx.commit()
    client = login_as("reception")
    form = client.get("/customerview/add").get_data(as_text=True)
    assert re.search(rf'data-customer-types="legal"[^>]*name="attr_{inn.id}"', form)
    assert 'data-customer-types="legal sole"' in form  # the organisation's name, for those types
    legal = {
        **REGISTRATION,
        "customer_type": "legal",
        "last_name": "",
        "first_name": "",
        "company_name": "ООО «Ромашка»",
        "phone": "8 495 777-00-11",
        f"attr_{inn.id}": "7701234567",
        f"attr_{signed.id}": "15.03.2026",
    }
    response = client.post("/customerview/add", data=legal)
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    # a private person is not asked for the legal entity's required ИНН
    assert client.post("/customerview/add", data=REGISTRATION).status_code == 302
    company, person = customers(ctx)
    assert (company.last_name, company.first_name, company.company_name) == (None, None, "ООО «Ромашка»")
    assert {v.attribute.label: v.value for v in company.attribute_values} == {
        "ИНН": "7701234567",
        "Дата договора": "2026-03-15",
    }
    assert person.attribute_values == [] and person.company_name is None
    card = client.get(f"/customerview/show/{company.id}").get_data(as_text=True)
    assert "<title>ООО «Ромашка» — Картотека</title>" in card
    assert "15.03.2026" in card and "2026-03-15" not in card
    listing = client.get("/customerview/list/").get_data(as_text=True)
    assert "ООО «Ромашка»" in listing
    refused = client.post("/customerview/add", data={**legal, "company_name": "", "phone": "8 495 777-00-12"})
    assert refused.status_code == 422 and "Укажите наименование организации." in refused.get_data(
        as_text=True
    )
    wrong_date = client.post(
        "/customerview/add", data={**legal, "phone": "8 495 777-00-13", f"attr_{signed.id}": "2026/03/15"}
    )
    assert "В поле «Дата договора» должна быть дата, например 12.07.1986." in wrong_date.get_data(
        as_text=True
    )


# -- 9. Russian wherever a user reads ------------------------------------------------------


def test_the_change_history_names_records_fields_and_actions_in_russian(ctx, login_as):
    customer = factories.customer(ctx, birth_date=dt.date(1990, 3, 15))
    order = factories.order(ctx, customer)
    manager = login_as("manager")
    form = {
        "customer": str(customer.id),
        "kind": "visit",
        "status": "confirmed",
        "paid": "0",
        "comment": "Первичный",
    }
    assert manager.post(f"/orderview/edit/{order.id}", data=form).status_code == 302
    ctx.get(Customer, customer.id).birth_date = dt.date(1990, 3, 16)
    ctx.commit()
    for url in ("/changelogview/list/", f"/customerview/show/{customer.id}"):
        page = login_as("auditor").get(url).get_data(as_text=True)
        cells = set(re.findall(r'<td class="col-(?:entity|action|field)">([^<]*)</td>', page))
        assert {
            "Заказ",
            "Клиент",
            "изменение",
            "создание",
            "Дата рождения",
            "Статус",
            "Комментарий",
        } <= cells, url
        assert not cells & {"Customer", "Order", "update", "create", "birth_date", "status", "comment"}, url
