"""Customers and orders are chosen by typing: forms and filters do not list every row."""

from __future__ import annotations

import re

from app.models import CustomerDocument, Note, Order
from tests import factories
from tests.conftest import count_queries, user_id


def many_customers(ctx, n):
    return [
        factories.customer(ctx, last_name=f"Пациентова{i:03d}", phone=f"+7903555{i:04d}") for i in range(n)
    ]


def customer_options(page: str, field="customer") -> list[str]:
    select = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no {field} select"
    return re.findall(r"<option[^>]*>", select.group(1))


def test_add_forms_do_not_list_every_customer(app, ctx, login_as):
    many_customers(ctx, 30)
    client = login_as("manager")
    for url in ("/noteview/add", "/customerdocumentview/add", "/reviewview/add"):
        client.get(url)  # the first visit writes the page into the session's history
        with count_queries(app) as small:
            page = client.get(url).get_data(as_text=True)
        assert len(customer_options(page)) == 1, url  # the empty choice only
        assert "Пациентова" not in page
        assert "data-lookup=" in page and "/customerview/lookup" in page
    many_customers_more = [
        factories.customer(ctx, last_name="Ещё", phone=f"+7904555{i:04d}") for i in range(20)
    ]
    assert many_customers_more
    with count_queries(app) as large:
        client.get("/reviewview/add")
    with count_queries(app) as again:
        client.get("/reviewview/add")
    assert len(large) == len(again) and len(small) == len(again)


def test_customer_lookup_finds_by_phone_and_name_through_the_policy(app, ctx, login_as):
    target = factories.customer(ctx, last_name="Найденова", phone="+79169998877")
    factories.customer(ctx, last_name="Другая", phone="+79031112233")
    client = login_as("reception")
    by_phone = client.get("/customerview/lookup?q=88-77").json["results"]
    assert [r["id"] for r in by_phone] == [target.id]
    assert by_phone[0]["text"] == "Найденова Анна Сергеевна · 8 (916) 999-88-77"
    assert [r["id"] for r in client.get("/customerview/lookup?q=Найден").json["results"]] == [target.id]
    assert client.get("/customerview/lookup?q=").json["results"] == []
    # the specialist: only their own customers, the phone masked as everywhere else
    doctor = login_as("doctor")
    assert doctor.get("/customerview/lookup?q=Найден").json["results"] == []
    factories.order(ctx, target, specialist_id=user_id(app, "doctor"))
    mine = doctor.get("/customerview/lookup?q=Найден").json["results"]
    assert [r["text"] for r in mine] == ["Найденова Анна Сергеевна · +7 *** ***-88-77"]
    assert "9998877" not in doctor.get("/customerview/lookup?q=Найден").get_data(as_text=True)


def test_order_lookup_by_number_or_customer(app, ctx, login_as):
    customer = factories.customer(ctx, last_name="Заказова")
    order = factories.order(ctx, customer)
    client = login_as("manager")
    by_number = client.get(f"/orderview/lookup?q={order.id}").json["results"]
    assert by_number == [
        {"id": order.id, "text": f"Заказ №{order.id}, визит 20.11.2026 12:00 — Заказова Анна Сергеевна"}
    ]
    assert [r["id"] for r in client.get("/orderview/lookup?q=Заказова").json["results"]] == [order.id]


def test_a_note_added_through_the_lookup_field(app, ctx, login_as):
    customer = factories.customer(ctx)
    client = login_as("reception")
    response = client.post(
        "/noteview/add", data={"customer": str(customer.id), "text": "Через выбор клиента"}
    )
    assert response.status_code == 302
    assert ctx.query(Note).one().customer_id == customer.id
    refused = client.post("/noteview/add", data={"customer": "999999", "text": "Несуществующий клиент"})
    assert refused.status_code in (200, 422)
    assert "Выберите клиента." in refused.get_data(as_text=True)  # not a customer this user may pick
    assert ctx.query(Note).count() == 1


def test_edit_form_shows_the_chosen_customer_only(app, ctx, login_as):
    many_customers(ctx, 5)
    customer = factories.customer(ctx, last_name="Выбранная", phone="+79160000001")
    note = Note(customer=customer, text="Примечание")
    ctx.add(note)
    ctx.commit()
    page = login_as("manager").get(f"/noteview/edit/{note.id}").get_data(as_text=True)
    options = customer_options(page)
    assert len(options) == 2 and f'value="{customer.id}" selected' in options[1]
    assert "Выбранная Анна Сергеевна · 8 (916) 000-00-01" in page
    assert "Пациентова" not in page


def test_documents_list_filters_by_customer_text(app, ctx, login_as):
    a = factories.customer(ctx, last_name="Первая", phone="+79161110001")
    b = factories.customer(ctx, last_name="Вторая", phone="+79161110002")
    for c, number in ((a, "111111"), (b, "222222")):
        ctx.add(CustomerDocument(customer=c, kind="other", number=number))
    ctx.commit()
    client = login_as("manager")
    page = client.get("/customerdocumentview/list/").get_data(as_text=True)
    assert "Первая" in page and "Вторая" in page
    assert "Первая Анна" not in re.sub(
        r'class="col-customer">[^<]*<a[^>]*>[^<]*', "", page
    )  # no select of customers
    filtered = client.get("/customerdocumentview/list/?_flt_1_customer=Втор").get_data(as_text=True)
    assert "222222" in filtered and "111111" not in filtered
    by_phone = client.get("/customerdocumentview/list/?_flt_1_customer=110001").get_data(as_text=True)
    assert "111111" in by_phone and "222222" not in by_phone
    by_number = client.get(f"/customerdocumentview/list/?_flt_0_customer={b.id}").get_data(as_text=True)
    assert "222222" in by_number and "111111" not in by_number


def test_a_record_number_no_column_holds_is_refused_not_a_500(ctx, login_as):
    """The customer or order typed into a form, or asked for by the lookup, with a
    number beyond PostgreSQL's integer: it reached the database and answered 500."""
    client = login_as("manager")
    page = client.post("/noteview/add", data={"customer": "99999999999999999999", "text": "Тест"})
    assert page.status_code == 422
    assert "Выберите клиента." in page.get_data(as_text=True)
    assert ctx.query(Note).count() == 0
    found = client.get("/orderview/lookup", query_string={"q": "99999999999999999999"})
    assert found.status_code == 200 and found.get_json() == {"results": []}


def test_an_order_field_on_a_customers_card_offers_that_customers_orders(app, ctx, login_as):
    """From a card's «Возвраты» tab the order had to be found again by the
    customer's name, among everyone's orders."""
    import json

    ivanova = factories.customer(ctx)
    petrova = factories.customer(ctx, last_name="Петрова", phone="+79035550000")
    hers = [factories.order(ctx, ivanova, paid="100") for _ in range(2)]
    other = factories.order(ctx, petrova, paid="100")
    client = login_as("manager")
    for url in ("/returntab/add", "/reviewtab/add"):
        page = client.get(url, query_string={"_flt_0_customer": ivanova.id}).get_data(as_text=True)
        options = json.loads(re.search(r"data-lookup='([^']*)'", page)[1])
        assert options["url"] == f"/orderview/lookup?customer={ivanova.id}" and options["minimum"] == 0
    plain = json.loads(
        re.search(r"data-lookup='([^']*)'", client.get("/returnview/add").get_data(as_text=True))[1]
    )
    assert plain["url"] == "/orderview/lookup" and "minimum" not in plain

    def found(**args):
        return [r["id"] for r in client.get("/orderview/lookup", query_string=args).get_json()["results"]]

    assert found(customer=ivanova.id) == [hers[1].id, hers[0].id]  # the latest first, before typing
    assert found(customer=ivanova.id, q=str(hers[0].id)) == [hers[0].id]
    assert found(customer=ivanova.id, q=str(other.id)) == []
    assert found(customer="99999999999999") == []
    assert found(q="Петрова") == [other.id]  # elsewhere, as before


def test_the_orders_list_filters_by_a_customers_number_or_by_what_is_typed(ctx, login_as):
    """The orders list had no «Клиент» filter: ``?_flt_0_customer=<number>``, the address
    FAB and the card write for one customer's records, listed everyone's orders, and a
    list whose filter read what was typed took a number for a phone's end (customer № 7
    found whoever's phone held a 7). The number and the typed text are two conditions,
    each named for what it reads: the number (first, as links carry it) finds that
    customer only, the text finds as the search box does (digits: a phone's fragment)."""
    first = factories.customer(ctx, last_name="Первая", phone="+79161110005")
    # the second's phone ends with the first's number: a number read as a phone finds both
    second = factories.customer(ctx, last_name="Вторая", phone=f"+7903{first.id:07d}")
    theirs = {c.id: factories.order(ctx, c).id for c in (first, second)}
    ctx.commit()
    client = login_as("reception")

    def listed(**args):
        page = client.get("/orderview/list/", query_string=args)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        return {int(n) for n in re.findall(r'col-customer"><a href="/customerview/show/(\d+)"', html)}, html

    assert listed()[0] == {first.id, second.id}
    assert listed(_flt_0_customer=first.id)[0] == {first.id}  # a link's number: that customer
    assert listed(_flt_0_customer=f"№{second.id}")[0] == {second.id}
    assert listed(_flt_1_customer=f"{first.id:07d}")[0] == {second.id}  # typed digits: a phone
    assert listed(_flt_1_customer="8 916 111-00-05")[0] == {first.id}
    assert listed(_flt_1_customer="Вторая")[0] == {second.id}
    found, html = listed(_flt_0_customer="Первая")  # a name given as a number: nobody, said why
    assert found == set()
    assert "«Первая» — не номер клиента" in html and "«Найти (ФИО, телефон, эл. почта)»" in html
    assert 'name="customer" class="filter"' in html  # the filter is offered
    # the card's «+» on its orders tab still opens the booking form bound to its customer
    booked = client.post(f"/ordertab/add?_flt_0_customer={first.id}", data={"kind": "visit"})
    assert booked.status_code == 302, booked.get_data(as_text=True)[-3000:]
    ctx.expire_all()
    newest = ctx.query(Order).order_by(Order.id.desc()).first()
    assert newest.id not in theirs.values() and newest.customer_id == first.id
    # a specialist's number of another's patient finds nothing (the row scope)
    doctor = login_as("doctor")
    page = doctor.get("/orderview/list/", query_string={"_flt_0_customer": first.id}).get_data(as_text=True)
    assert f"/orderview/show/{theirs[first.id]}" not in page
