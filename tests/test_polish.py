"""Small things staff tripped over every day (the clinic play and the door scan): each
test is one finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

import re

from app.models import Customer, CustomerType, Gender


def test_a_legal_entitys_form_does_not_ask_for_a_sex_or_a_birthday(ctx, login_as):
    """The add form of «Юридическое лицо» still showed «Пол» and «Дата рождения», and what
    was typed there was stored on the organisation."""
    client = login_as("reception")
    form = client.get("/customerview/add").get_data(as_text=True)
    for name in ("gender", "birth_date"):
        tag = re.search(rf'<(?:input|select)[^>]*\bname="{name}"[^>]*>', form).group(0)
        assert 'data-customer-types="individual sole"' in tag, tag  # kartoteka.js hides it for a company
    data = {
        "customer_type": "legal",
        "company_name": "ООО «Ромашка»",
        "phone": "8 (423) 222-33-44",
        "gender": "female",
        "birth_date": "15.03.1990",
        "discount": "",
    }
    assert client.post("/customerview/add", data=data).status_code == 302
    company = ctx.query(Customer).one()
    assert (company.customer_type, company.gender, company.birth_date) == (CustomerType.LEGAL, None, None)
    card = client.get(f"/customerview/show/{company.id}").get_data(as_text=True)
    assert "Пол" not in re.findall(r"<th[^>]*>\s*([^<]*?)\s*<", card)
    # a sole proprietor is a person: still asked
    sole = {
        **data,
        "customer_type": "sole",
        "last_name": "Иванов",
        "first_name": "Иван",
        "phone": "8 423 222-33-45",
    }
    assert client.post("/customerview/add", data=sole).status_code == 302
    person = ctx.query(Customer).filter_by(customer_type=CustomerType.SOLE).one()
    assert person.gender == Gender.FEMALE and person.birth_date.isoformat() == "1990-03-15"


def test_a_new_customers_discount_opens_blank_and_blank_means_none(ctx, login_as):
    """«Скидка, %» opened as «0,00»: a click and «5» made «0,005», and the form refused it.
    It opens blank, as the price and the manual discount do, and blank stores 0."""
    client = login_as("manager")
    form = client.get("/customerview/add").get_data(as_text=True)
    tag = re.search(r'<input[^>]*\bname="discount"[^>]*>', form).group(0)
    assert 'value=""' in tag, tag
    data = {
        "customer_type": "individual",
        "last_name": "Петрова",
        "first_name": "Мария",
        "phone": "8 916 555-12-34",
    }
    assert client.post("/customerview/add", data={**data, "discount": ""}).status_code == 302
    assert ctx.query(Customer).one().discount == 0


def test_the_order_picker_says_a_visit_is_a_visit_and_dates_a_sale_by_its_making(ctx, login_as):
    """The order box read «Заказ №1 от 07.12.2026» with the visit's date: «от» says when
    the order was made, and staff looked for a visit booked last week under today's date."""
    import datetime as dt

    from app.models import OrderKind
    from tests import factories

    customer = factories.customer(ctx, last_name="Заказова")
    visit = factories.order(ctx, customer, visit_at=dt.datetime(2026, 12, 7, 7, 0))
    sale = factories.order(ctx, customer, visit_at=None)
    sale.kind, sale.created_on = OrderKind.SALE, dt.datetime(2026, 12, 1, 9, 30)
    ctx.commit()
    client = login_as("manager")
    found = {r["id"]: r["text"] for r in client.get("/orderview/lookup?q=Заказова").json["results"]}
    assert found == {
        visit.id: f"Заказ №{visit.id}, визит 07.12.2026 10:00 — Заказова Анна Сергеевна",
        sale.id: f"Заказ №{sale.id} от 01.12.2026 12:30 — Заказова Анна Сергеевна",
    }


def test_the_language_menu_names_the_other_language_without_a_dash(app, login_as):
    """The language menu read «- English»; on a Russian page with no choice made yet it
    also offered «Русский» under the British flag."""
    client = login_as("reception")

    def offered():
        page = client.get("/customerview/list/").get_data(as_text=True)
        found = re.findall(r'href="/lang/(\w+)"[^>]*>\s*<div class="f16">(.*?)</div>', page, re.S)
        return [(lang, re.sub(r"<[^>]*>|\s+", " ", text).strip()) for lang, text in found]

    assert offered() == [("en", "English")]
    client.get("/lang/en")
    assert offered() == [("ru", "Русский")]


def test_a_review_of_an_order_names_the_orders_specialist_when_none_is_chosen(app, ctx, login_as):
    """A review added for an order without choosing «Специалист» was stored with no one:
    the doctor who served the visit never saw it under their name."""
    from app.models import Review
    from tests import factories
    from tests.conftest import user_id

    customer = factories.customer(ctx)
    doctor = user_id(app, "doctor")
    order = factories.order(ctx, customer, specialist_id=doctor)
    client = login_as("manager")
    data = {
        "customer": str(customer.id),
        "order": str(order.id),
        "rating": "5",
        "moderation_status": "pending",
    }
    assert client.post("/reviewview/add", data=data).status_code == 302
    other = factories.order(ctx, customer, specialist_id=user_id(app, "manager"))
    chosen = {**data, "order": str(other.id), "specialist": str(doctor)}  # one chosen by hand stays
    assert client.post("/reviewview/add", data=chosen).status_code == 302
    ctx.expire_all()
    assert [r.specialist_id for r in ctx.query(Review).order_by(Review.id)] == [doctor, doctor]


def test_a_head_request_on_a_download_is_not_journaled_as_a_download(app, login_as):
    """A HEAD on a file's download URL ran the download and wrote «Скачивание» to the
    access journal, though no file was sent."""
    from app.extensions import db
    from app.models import AccessAction, AccessLog, CustomerFile
    from tests import factories
    from tests.test_files import pdf, upload

    with app.app_context():
        customer_id = factories.customer().id
    client = login_as("manager")
    assert upload(client, customer_id, "паспорт.pdf", pdf()).status_code == 302

    def downloads():
        with app.app_context():
            return db.session.query(AccessLog).filter(AccessLog.action == AccessAction.DOWNLOAD).count()

    with app.app_context():
        file_id = db.session.query(CustomerFile.id).scalar()
    head = client.head(f"/customerfileview/fetch/{file_id}")
    assert head.status_code == 200 and head.data == b""
    assert downloads() == 0
    assert client.get(f"/customerfileview/fetch/{file_id}").data == pdf()
    assert downloads() == 1


def test_a_filter_through_a_relation_is_checked_at_the_column_it_reaches(app):
    """``policy_filters`` checked «customer.phone» as «customer»: a view searching its
    customer's phone would let the doctor, who reads the phone masked, bisect it."""
    from flask import g
    from flask_appbuilder.models.sqla.filters import FilterStartsWith

    from app.models import Order

    sm = app.appbuilder.sm
    (view,) = [v for v in app.appbuilder.baseviews if type(v).__name__ == "OrderView"]
    with app.test_request_context("/"):
        kept = {}
        for role in ("doctor", "manager"):
            g.user = sm.find_user(username=role)
            filters = view.datamodel.get_filters(["customer.phone", "customer"])
            filters.add_filter("customer.phone", FilterStartsWith, "+7916")
            kept[role] = [f.column_name for f in view.policy_filters(filters).filters]
        assert view.datamodel.obj is Order
    assert kept == {"doctor": [], "manager": ["customer.phone"]}


def test_a_masked_phone_in_the_csv_starts_as_the_page_shows_it(app):
    """A masked phone in the CSV read «'+7 *** ***-45-67»: the formula guard fired on the
    mask's «+». The app's own mask is written as it is; a masked value that could still be
    a formula (an e-mail whose name begins with «=») keeps its quote."""
    from app.disclosure import mask
    from app.spreadsheet import Writer

    with app.test_request_context():
        sheet = Writer()
        assert mask("+79161234567") == "+7 *** ***-45-67"  # what the page shows
        assert sheet.cell(mask("+79161234567")) == "+7 *** ***-45-67"
        assert sheet.cell(mask("=cmd@evil.example")) == "'=***@evil.example"
        assert sheet.cell("+7 916 123-45-67") == "'+7 916 123-45-67"  # a typed text: guarded as before
