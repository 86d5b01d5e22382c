"""Defects the system administrator's, the auditor's and the salon's week in the browser
found (a new clinic played by hand, December 2026), proven server-side."""

from __future__ import annotations

import contextlib
import html
import re

from tests.conftest import user_id


def password_boxes(page: str) -> list[str]:
    return [m[1] for m in re.finditer(r'<input[^>]*\bid="([^"]+)"[^>]*type="password"', page)]


def test_resetting_a_users_password_asks_for_it_before_its_confirmation(login_as):
    """The administrator's «Сброс пароля» drew «Подтвердите пароль» above «Пароль»: the
    policy's password was redeclared after FAB's confirmation, and Tab from the top went
    to the confirmation first."""
    page = login_as("sysadmin").get("/resetpassword/form?pk=1").get_data(as_text=True)
    assert password_boxes(page) == ["password", "conf_password"]


def test_changing_ones_own_password_keeps_its_order(login_as):
    page = login_as("reception").get("/resetmypassword/form").get_data(as_text=True)
    assert password_boxes(page) == ["current_password", "password", "conf_password"]


@contextlib.contextmanager
def deactivated(app, username):
    """The administrator unticks «Активен?» (users outlive a test: ticked back after)."""
    sm = app.appbuilder.sm
    with app.app_context():
        user = sm.find_user(username=username)
        user.active = False
        sm.update_user(user)
    try:
        yield
    finally:
        with app.app_context():
            user = sm.find_user(username=username)
            user.active = True
            sm.update_user(user)


def staff_name(app, username) -> str:
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        return f"{user.first_name} {user.last_name}"


def options(page: str, name: str) -> list[str]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)[1]
    return [html.unescape(o).strip() for o in re.findall(r"<option[^>]*>([^<]*)</option>", select)]


def test_a_deactivated_specialist_is_not_offered_for_a_new_review_or_order(app, ctx, login_as):
    """The administrator deactivated a nurse who left; the manager's «Отзывы» → «Добавить»
    and the order's edit form still offered her as «Специалист» (the card's booking form
    did not). An order she served keeps her."""
    from tests import factories

    customer = factories.customer(ctx)
    doctor = user_id(app, "doctor")
    served = factories.order(ctx, customer, specialist_id=doctor)
    other = factories.order(ctx, customer)
    ctx.commit()
    name = staff_name(app, "doctor")
    client = login_as("manager")
    assert name in options(client.get("/reviewview/add").get_data(as_text=True), "specialist")
    with deactivated(app, "doctor"):
        for path in (
            "/reviewview/add",
            f"/reviewtab/add?_flt_0_customer={customer.id}",
            f"/orderview/edit/{other.id}",
        ):
            assert name not in options(client.get(path).get_data(as_text=True), "specialist"), path
        assert name in options(
            client.get(f"/orderview/edit/{served.id}").get_data(as_text=True), "specialist"
        )
        # the list's filter still finds the orders he served
        assert name in client.get("/orderview/list/").get_data(as_text=True)


def test_a_deactivated_manager_is_not_offered_for_a_customer(app, login_as):
    name = staff_name(app, "manager")
    client = login_as("reception")
    assert name in options(client.get("/customerview/add").get_data(as_text=True), "manager")
    with deactivated(app, "manager"):
        assert name not in options(client.get("/customerview/add").get_data(as_text=True), "manager")


def test_the_roles_screen_shows_each_fields_own_mask(login_as):
    """The auditor's role on «Список ролей» read «Поле «Эл. почта»: видит скрытым
    (+7 *** ***-45-67)»: every field's masked level showed a phone's mask, so the
    administrator could not tell what the auditor would see of an e-mail or a birthday."""
    page = html.unescape(login_as("sysadmin").get("/roles/list/").get_data(as_text=True))
    page = re.sub(r"</?strong>", "", page)  # «<strong>Поле «…»:</strong> видит…»
    assert "Поле «Эл. почта»: видит скрытым (a***@example.ru)" in page
    assert "Поле «Дата рождения»: видит скрытым (15.**.****)" in page
    assert "Поле «Телефон»: видит скрытым (+7 *** ***-45-67)" in page
    assert "Поле «Эл. почта»: видит скрытым (+7" not in page


def test_the_english_users_and_roles_screens_name_the_roles_in_english(app, login_as):
    """In English the users list read «Role: Управляющий», the roles list and the new
    user's roles box likewise: a role's name is stored in Russian. The matrix's roles are
    shown in the reader's language; in Russian they read as stored."""
    client = login_as("sysadmin")
    russian = html.unescape(client.get("/users/list/").get_data(as_text=True))
    assert "Управляющий" in russian
    roles = html.unescape(client.get("/roles/list/").get_data(as_text=True))
    assert "Без входа" in roles and ">Public<" not in roles  # the visitor's role, in English
    client.get("/lang/en")
    doctor = user_id(app, "doctor")
    every = (("Управляющий", "Manager"), ("Аудитор", "Auditor"), ("Специалист", "Specialist"))
    for path, names in (
        ("/users/list/", every),
        ("/users/add", every),
        ("/groups/add", every),
        ("/roles/list/", every),
        (f"/users/show/{doctor}", every[2:]),
    ):
        page = html.unescape(client.get(path).get_data(as_text=True))
        for name, english in names:
            assert name not in page, (path, name)
            assert english in page, (path, english)
    roles = options(client.get("/users/add").get_data(as_text=True), "roles")
    assert "System administrator" in roles and "Public" not in roles


def test_the_change_history_names_an_order_in_the_readers_language(ctx, login_as):
    """The auditor's English change history read «Order Заказ №3» on a payment's row, and
    a payment taken by someone working in English was stored as «Order #3», which the
    Russian history then showed: a reference is stored in one language and named again
    in the reader's."""
    from app.models import ChangeLog, Payment
    from tests import factories

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Консультация", "3000.00", 1),))
    client = login_as("reception")
    client.get("/lang/en")
    taken = client.post(
        f"/paymentview/add?_flt_0_order={order.id}", data={"amount": "1500.50", "method": "card"}
    )
    assert taken.status_code == 302
    payment = ctx.query(Payment).one()
    stored = (
        ctx.query(ChangeLog.new_value)
        .filter_by(entity="Payment", entity_id=payment.id, field="order")
        .scalar()
    )
    assert stored == f"Заказ №{order.id}"  # stored in one language, whoever typed it

    auditor = login_as("auditor")
    auditor.get("/lang/en")
    english = html.unescape(
        auditor.get("/changelogview/list/?psize_ChangeLogView=100").get_data(as_text=True)
    )
    assert f"Order #{order.id}" in english and f"Заказ №{order.id}" not in english
    auditor.get("/lang/ru")
    russian = html.unescape(
        auditor.get("/changelogview/list/?psize_ChangeLogView=100").get_data(as_text=True)
    )
    assert f"Заказ №{order.id}" in russian and f"Order #{order.id}" not in russian


def tag_of(page: str, box_id: str) -> str:
    return re.search(rf'<(?:input|select|textarea)[^>]*\bid="{box_id}"[^>]*>', page)[0]


def test_a_refused_value_is_told_at_its_box_and_takes_the_focus(login_as):
    """Keyboard only: the administrator typed a short password and pressed Enter; the
    message stood beside the box, but nothing tied the two (a screen reader read the box
    as valid, without its message) and the focus went back to the top of the page."""
    client = login_as("sysadmin")
    refused = client.post(
        "/users/add",
        data={
            "first_name": "Мария",
            "last_name": "Сестрова",
            "username": "sestra",
            "email": "sestra@example.ru",
            "roles": [],
            "password": "12345",
            "conf_password": "123456",
        },
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    roles, password, confirmation = (tag_of(page, name) for name in ("roles", "password", "conf_password"))
    assert 'aria-invalid="true"' in password and 'aria-describedby="password-error password-help"' in password
    assert re.search(r'id="password-error"[^>]*>\s*Пароль слишком короткий', page)
    assert 'aria-invalid="true"' in confirmation
    assert "autofocus" in roles  # the first refused box, in the form's order
    assert "autofocus" not in password and "autofocus" not in confirmation
    first_name = tag_of(page, "first_name")
    assert "aria-invalid" not in first_name and 'aria-describedby="first_name-help"' in first_name


def test_a_refused_date_on_the_customers_form_is_told_at_its_box(login_as):
    client = login_as("reception")
    refused = client.post(
        "/customerview/add",
        data={
            "customer_type": "individual",
            "last_name": "Петров",
            "first_name": "Пётр",
            "phone": "8 916 123-45-67",
            "birth_date": "15.03.90",
        },
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    box = tag_of(page, "birth_date")
    assert 'aria-invalid="true"' in box and "autofocus" in box
    assert re.search(r'id="birth_date-error"[^>]*>\s*Введите дату, например', page)


def test_a_refused_booking_on_the_card_is_told_at_its_box(ctx, login_as):
    """The card's booking form put its refusal on top of the page only."""
    from tests import factories

    service = factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    refused = login_as("reception").post(
        f"/customerview/{customer.id}/orders",
        data={"kind": "visit", "catalog_item": service.id, "quantity": "1", "visit_at": "31.02.2026 10:00"},
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    box = tag_of(page, "order-visit_at")
    assert (
        'aria-invalid="true"' in box
        and 'aria-describedby="order-visit_at-error"' in box
        and "autofocus" in box
    )
    assert re.search(r'id="order-visit_at-error">Введите дату и время, например', page)
    assert "aria-invalid" not in tag_of(page, "order-quantity")


def test_money_refunded_to_a_certificate_names_the_certificate(ctx, login_as):
    """A salon's customer held two gift certificates; the manager refunded a peeling paid
    by one: the customer's SMS read «Вам вернули 1 500,50 ₽ на ваш сертификат» and the
    manager «… на сертификат клиента», naming neither (a visit back to a subscription
    names its number)."""
    from app import payments
    from app.models import Certificate, Message, MessageType, PaymentMethod, Return
    from tests import factories
    from tests.test_certificates import kind, sold

    customer = factories.customer(ctx)
    sold(ctx, customer, kind(ctx, "Подарочный сертификат 5 000 ₽", price="5000"))
    gift = sold(ctx, customer, kind(ctx, "Подарочный сертификат 3 000 ₽", price="2700", amount="3000"))
    peeling = factories.order(ctx, customer, items=(("Пилинг", "4200.00", 1),))
    payments.take_payment(ctx, peeling, "3000", PaymentMethod.CERTIFICATE, certificate=gift)
    payments.take_payment(ctx, peeling, "1200", PaymentMethod.CARD)
    ctx.commit()
    code = ctx.get(Certificate, gift.id).code
    manager = login_as("manager")
    asked = {"order": str(peeling.id), "amount": "1 500,50", "reason": "Раздражение после пилинга"}
    assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).one()
    manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"})
    saved = manager.post(
        f"/returnview/edit/{ret.id}", data={**asked, "status": "refunded"}, follow_redirects=True
    )
    page = saved.get_data(as_text=True).replace("\xa0", " ")
    assert f"1 500,50 ₽ на сертификат №{code} клиента, заказ №{peeling.id}" in page
    sent = [
        m.body
        for m in ctx.query(Message).filter_by(order_id=peeling.id, message_type=MessageType.RETURN_STATUS)
    ]
    assert sent and all(
        f"Вам вернули 1 500,50 ₽ на ваш сертификат №{code}." in b.replace("\xa0", " ") for b in sent
    )


def test_a_refused_note_on_the_card_is_told_at_its_box(ctx, login_as):
    """A note of spaces only was refused on top of the page, its box unmarked."""
    from tests import factories

    customer = factories.customer(ctx)
    refused = login_as("reception").post(f"/customerview/{customer.id}/notes", data={"text": "   "})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    box = re.search(r'<textarea[^>]*id="note-text"[^>]*>', page)[0]
    assert 'aria-invalid="true"' in box and 'aria-describedby="note-text-error"' in box and "autofocus" in box
    assert re.search(r'id="note-text-error">[^<]+', page)


def test_a_login_another_user_holds_is_refused_once(login_as):
    """The administrator typed a login a colleague had: «Уже существует. Уже существует.»
    (FAB's converter appended its Unique to the view's own validator list for the add
    form, then again for the edit form)."""
    client = login_as("sysadmin")
    password = "лунная-дорожка-над-морем"
    fields = {"first_name": "Мария", "last_name": "Сестрова", "email": "new.nurse@example.ru"}
    refused = client.post(
        "/users/add",
        data={
            **fields,
            "username": "manager",
            "roles": ["2"],
            "password": password,
            "conf_password": password,
        },
    )
    assert refused.status_code == 422
    said = re.search(r'id="username-error">(.*?)</div>', refused.get_data(as_text=True), re.S)[1]
    assert said.count("Уже существует.") == 1
    role = client.post("/roles/add", data={"name": "Аудитор"}).get_data(as_text=True)
    assert re.search(r'id="name-error">(.*?)</div>', role, re.S)[1].count("уже есть") == 1
