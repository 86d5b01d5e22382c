"""CRUD of every model through the real views, and each validation rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.models import (
    Branch,
    CatalogItem,
    CustomerCategory,
    CustomerDocument,
    MedicalRecord,
    Note,
    Order,
    OrderItem,
    OrderStatus,
    Return,
    Review,
    Tag,
)
from tests import factories


def fresh(ctx, model):
    ctx.expire_all()
    return ctx.query(model).all()


def crud(client, ctx, base, model, add, edit, check, delete=True):
    """Add, edit and delete one row through ``base`` and check what is stored."""
    response = client.post(f"/{base}/add", data=add)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    (row,) = fresh(ctx, model)
    pk = row.id
    assert client.get(f"/{base}/show/{pk}").status_code == 200
    assert client.get(f"/{base}/list/").status_code == 200
    response = client.post(f"/{base}/edit/{pk}", data={**add, **edit})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    (row,) = fresh(ctx, model)
    check(row)
    if delete:
        assert client.post(f"/{base}/delete/{pk}").status_code == 302
        assert fresh(ctx, model) == []


def test_reference_data_crud(ctx, login_as):
    client = login_as("manager")
    crud(
        client,
        ctx,
        "branchview",
        Branch,
        {"name": "Северный"},
        {"address": "ул. Ленина, 1"},
        lambda r: r.address == "ул. Ленина, 1",
    )
    crud(
        client,
        ctx,
        "categoryview",
        CustomerCategory,
        {"name": "VIP", "discount": "10"},
        {"discount": "15"},
        lambda r: r.discount == Decimal("15"),
    )
    crud(
        client,
        ctx,
        "tagview",
        Tag,
        {"name": "аллергик", "color": "#ff0000"},
        {"color": "#00ff00"},
        lambda r: r.color == "#00ff00",
    )
    crud(
        client,
        ctx,
        "catalogitemview",
        CatalogItem,
        {"name": "Массаж", "kind": "service", "price": "2500.00", "active": "y"},
        {"price": "2700.50"},
        lambda r: r.price == Decimal("2700.50"),
    )


def test_document_crud_and_rf_passport_rules(ctx, login_as):
    customer = factories.customer(ctx, birth_date=dt.date(1990, 5, 1))
    client = login_as("manager")
    good = {
        "customer": str(customer.id),
        "kind": "passport_rf",
        "series": "45 10",
        "number": "123456",
        "issued_by": "ОВД Тверского района",
        "issue_date": "2012-06-01",
        "division_code": "770-001",
        "citizenship": "РФ",
    }
    crud(
        client,
        ctx,
        "customerdocumentview",
        CustomerDocument,
        good,
        {"number": "654321"},
        lambda r: (r.series, r.number) == ("4510", "654321"),
    )
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    bad_cases = [
        ({"series": "451"}, "Неверная серия"),
        ({"number": "12345"}, "Неверный номер"),
        ({"division_code": "77-0001"}, "Код подразделения должен быть в виде 123-456"),
        ({"issue_date": future}, "Дата выдачи не может быть в будущем"),
        ({"issue_date": "1989-01-01"}, "Дата выдачи должна быть позже даты рождения"),
    ]
    for change, message in bad_cases:
        response = client.post("/customerdocumentview/add", data={**good, **change})
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
    assert fresh(ctx, CustomerDocument) == []


def test_order_crud_totals_from_items_and_paid_limit(ctx, login_as):
    customer = factories.customer(ctx)
    item = factories.catalog_item(ctx, "Консультация", "1500.00")
    client = login_as("manager")
    response = client.post(
        "/orderview/add", data={"customer": str(customer.id), "kind": "visit", "paid": "0"}
    )
    assert response.status_code == 302
    (order,) = fresh(ctx, Order)
    response = client.post(
        "/orderitemview/add", data={"order": str(order.id), "catalog_item": str(item.id), "quantity": "3"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    (order,) = fresh(ctx, Order)
    assert order.total == Decimal("4500.00")
    (line,) = fresh(ctx, OrderItem)
    assert (line.name, line.amount) == ("Консультация", Decimal("4500.00"))
    # «Оплачено» is not a field of the order any more: a typed one is ignored
    edited = client.post(
        f"/orderview/edit/{order.id}",
        data={"customer": str(customer.id), "kind": "visit", "status": "confirmed", "paid": "4500"},
    )
    assert edited.status_code == 302
    (order,) = fresh(ctx, Order)
    assert (order.paid, order.payment_status.value, order.status.value) == (
        Decimal("0.00"),
        "unpaid",
        "confirmed",
    )
    too_much = client.post(
        "/paymentview/add", data={"order": str(order.id), "amount": "5000", "method": "cash"}
    )
    assert too_much.status_code == 422
    assert "Сумма больше долга по заказу: осталось оплатить 4" in too_much.get_data(as_text=True)
    (unchanged,) = fresh(ctx, Order)
    assert unchanged.paid == Decimal("0.00")
    ok = client.post("/paymentview/add", data={"order": str(order.id), "amount": "4500", "method": "card"})
    assert ok.status_code == 302
    (order,) = fresh(ctx, Order)
    assert (order.paid, order.payment_status.value) == (Decimal("4500.00"), "paid")
    # an order with payments is cancelled, not deleted; one without them is deleted
    client.post(f"/orderview/delete/{order.id}")
    assert len(fresh(ctx, Order)) == 1
    unpaid = factories.order(ctx, customer)
    assert client.post(f"/orderview/delete/{unpaid.id}").status_code == 302
    assert [o.id for o in fresh(ctx, Order)] == [order.id] and len(fresh(ctx, OrderItem)) == 1


def test_orders_with_debt_filter(ctx, login_as):
    customer = factories.customer(ctx)
    factories.order(ctx, customer, items=(("Полная", "100.00", 1),), paid="100")
    debt = factories.order(ctx, customer, items=(("Долговая", "100.00", 1),), paid="40")
    page = (
        login_as("manager").get("/orderview/list/", query_string={"_flt_0_paid": "1"}).get_data(as_text=True)
    )
    assert f'href="/orderview/show/{debt.id}' in page
    assert page.count('href="/orderview/show/') == 1


def test_a_cancelled_order_owes_nothing(ctx, login_as):
    """A cancelled visit showed a debt of its whole price in the orders list and on
    its page, and «С задолженностью» listed it, while the card's «Долг» (which
    leaves cancelled orders out) said 0: the front desk would chase a customer
    for a visit that did not happen."""
    import re

    customer = factories.customer(ctx)
    cancelled = factories.order(
        ctx, customer, items=(("Отменённая", "5500.00", 1),), paid="0", status=OrderStatus.CANCELLED
    )
    owing = factories.order(ctx, customer, items=(("Долговая", "100.00", 1),), paid="40")
    client = login_as("manager")

    def debt_cell(page, order):
        row = re.search(rf'href="/orderview/show/{order.id}".*?</tr>', page, re.S)[0]
        return (
            re.search(r'<td class="col-debt">([^<]*)</td>', row)[1]
            .replace("\xa0", " ")
            .replace("\u202f", " ")
        )

    listing = client.get("/orderview/list/").get_data(as_text=True)
    assert debt_cell(listing, cancelled) == "0,00 ₽"
    assert debt_cell(listing, owing) == "60,00 ₽"
    shown = client.get(f"/orderview/show/{cancelled.id}").get_data(as_text=True)
    assert re.search(r"Долг</th>\s*<td>\s*<span[^>]*>0,00\s₽</span>", shown)
    debtors = client.get("/orderview/list/", query_string={"_flt_0_paid": "1"}).get_data(as_text=True)
    assert f'href="/orderview/show/{owing.id}"' in debtors
    assert f'href="/orderview/show/{cancelled.id}"' not in debtors
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert re.search(r'class="kpi-debt">60,00\s₽<', card)

    def shown_order(page):
        return [int(pk) for pk in dict.fromkeys(re.findall(r'href="/order(?:view|tab)/show/(\d+)"', page))]

    paid_up = factories.order(ctx, customer, items=(("Оплаченная", "10.00", 1),), paid="10")
    for url, name in ((f"/customerview/show/{customer.id}", "OrderTab"), ("/orderview/list/", "OrderView")):
        for direction, expected in (("desc", [owing.id]), ("asc", [])):
            page = client.get(url, query_string={f"_oc_{name}": "debt", f"_od_{name}": direction})
            assert page.status_code == 200, (url, direction)
            ids = shown_order(page.get_data(as_text=True))
            assert sorted(ids) == sorted([cancelled.id, owing.id, paid_up.id])
            # the one debt first (desc) or last (asc); the cancelled order sorts as 0, not 5,500
            assert ids[0] == owing.id if expected else ids[-1] == owing.id


def test_return_cannot_exceed_paid(ctx, login_as):
    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Консультация", "1500.00", 1),), paid="1000")
    client = login_as("manager")
    too_much = client.post(
        "/returnview/add", data={"order": str(order.id), "amount": "1000.01", "reason": "Отказ"}
    )
    assert too_much.status_code == 422
    assert "Сумма возврата больше оплаченной" in too_much.get_data(as_text=True)
    assert fresh(ctx, Return) == []
    crud(
        client,
        ctx,
        "returnview",
        Return,
        {"order": str(order.id), "amount": "600", "reason": "Отказ"},
        {"status": "approved"},
        lambda r: (r.customer_id, r.status.value) == (customer.id, "approved"),
    )


def test_review_rating_between_one_and_five(ctx, login_as):
    customer = factories.customer(ctx)
    client = login_as("manager")
    for rating in ("0", "6"):
        response = client.post(
            "/reviewview/add",
            data={"customer": str(customer.id), "rating": rating, "moderation_status": "pending"},
        )
        assert response.status_code == 422
        assert "Оценка должна быть от 1 до 5" in response.get_data(as_text=True)
    assert fresh(ctx, Review) == []
    crud(
        client,
        ctx,
        "reviewview",
        Review,
        {"customer": str(customer.id), "rating": "5", "text": "Спасибо", "moderation_status": "pending"},
        {"moderation_status": "published", "reply": "Ждём снова"},
        lambda r: r.reply == "Ждём снова",
    )


@pytest.mark.parametrize("role", ["manager"])
def test_note_crud(ctx, login_as, role):
    customer = factories.customer(ctx)
    crud(
        login_as(role),
        ctx,
        "noteview",
        Note,
        {"customer": str(customer.id), "text": "Позвонить"},
        {"pinned": "y"},
        lambda r: r.pinned is True,
    )


def test_medical_record_crud_by_doctor(app, ctx, login_as):
    from tests.conftest import user_id

    customer = factories.customer(ctx)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))  # the doctor's own patient
    crud(
        login_as("doctor"),
        ctx,
        "medicalrecordview",
        MedicalRecord,
        {"customer": str(customer.id), "allergies": "Пенициллин", "contraindications": "нет"},
        {"medications": "Эналаприл"},
        lambda r: (
            (r.allergies, r.medications, r.created_by.username) == ("Пенициллин", "Эналаприл", "doctor")
        ),
        delete=False,
    )
    # A medical history is not deleted by the doctor: the role has no delete permission.
    (record,) = fresh(ctx, MedicalRecord)
    assert login_as("doctor").post(f"/medicalrecordview/delete/{record.id}").status_code in (302, 403)
    assert len(fresh(ctx, MedicalRecord)) == 1


@pytest.mark.parametrize("typed", ["1500,50", "1 500,50", "1\u00a0500,50", "1500.50"])
def test_amounts_are_typed_as_the_language_writes_them(ctx, login_as, typed):
    """«1500,50» — what a Russian keyboard gives — was refused as «Не является
    допустимым десятичным значением»; only «1500.50» was taken, and forms showed
    «0.00»."""
    client = login_as("manager")
    data = {"name": "Чистка", "kind": "service", "price": typed, "duration_min": "30", "active": "y"}
    assert client.post("/catalogitemview/add", data=data).status_code == 302
    item = ctx.query(CatalogItem).filter_by(name="Чистка").one()
    assert item.price == Decimal("1500.50")
    form = client.get(f"/catalogitemview/edit/{item.id}").get_data(as_text=True)
    assert 'name="price" placeholder="Цена" required type="text" value="1500,50"' in form


def test_an_amount_that_is_not_a_number_is_refused_in_russian(ctx, login_as):
    client = login_as("manager")
    data = {"name": "Чистка", "kind": "service", "price": "1.500,50", "duration_min": "30", "active": "y"}
    page = client.post("/catalogitemview/add", data=data)
    assert page.status_code == 422
    assert "1.500,50" in page.get_data(as_text=True)  # what was typed stays in the form
    assert "Введите число, например 1500,50." in page.get_data(as_text=True)
    assert ctx.query(CatalogItem).count() == 0


def test_in_english_a_comma_is_not_read_as_a_thousands_separator(ctx, login_as):
    """Read loosely, «1500,50» in English is 150050: refused instead."""
    client = login_as("manager")
    client.get("/lang/en")
    try:
        data = {"name": "Чистка", "kind": "service", "price": "1500,50", "duration_min": "30", "active": "y"}
        page = client.post("/catalogitemview/add", data=data)
        assert page.status_code == 422
        assert "Enter a number, for example 1500.50." in page.get_data(as_text=True)
        assert ctx.query(CatalogItem).count() == 0
        data["price"] = "1,500.50"
        assert client.post("/catalogitemview/add", data=data).status_code == 302
        assert ctx.query(CatalogItem).one().price == Decimal("1500.50")
    finally:
        client.get("/lang/ru")


def test_a_return_or_review_on_a_card_names_that_customers_order(ctx, login_as):
    """From Иванова's card, a review kept Иванова as its customer and took Петрова's
    order; a return went to Петрова, off the card it was added on."""
    ivanova = factories.customer(ctx)
    petrova = factories.customer(ctx, last_name="Петрова", phone="+79035550000")
    hers = factories.order(ctx, ivanova, paid="1500")
    other = factories.order(ctx, petrova, paid="1500")
    client = login_as("manager")
    on_card = {"_flt_0_customer": str(ivanova.id)}
    wrong = [
        ("/returntab/add", {"order": str(other.id), "amount": "100", "reason": "Отказ"}),
        ("/reviewtab/add", {"order": str(other.id), "rating": "5", "moderation_status": "pending"}),
    ]
    for url, data in wrong:
        response = client.post(url, query_string=on_card, data=data)
        assert response.status_code == 422, url
        assert f"Заказ №{other.id} — другого клиента" in response.get_data(as_text=True)
    assert fresh(ctx, Return) == [] and fresh(ctx, Review) == []
    for url, data in wrong:
        assert client.post(url, query_string=on_card, data={**data, "order": str(hers.id)}).status_code == 302
    assert [(r.customer_id, r.order_id) for r in fresh(ctx, Return)] == [(ivanova.id, hers.id)]
    assert [(r.customer_id, r.order_id) for r in fresh(ctx, Review)] == [(ivanova.id, hers.id)]


def test_dates_are_typed_as_the_language_writes_them(ctx, login_as):
    """«12.07.1986» typed into «Дата рождения» was refused: the field took only
    «1986-07-12», the calendar widget's format."""
    import datetime as dt
    import re

    from app.models import Customer

    client = login_as("reception")
    base = {"first_name": "Анна", "customer_type": "individual", "status": "active", "discount": "0"}
    typed = {"Первая": "12.07.1986", "Вторая": "1986-07-12", "Третья": "12.7.1986"}
    for i, (name, birth) in enumerate(typed.items()):
        data = {**base, "last_name": name, "phone": f"+7916555000{i}", "birth_date": birth}
        assert client.post("/customerview/add", data=data).status_code == 302, birth
    for wrong in ("31.02.1986", "12.7.86", "12.07.1986 мусор"):  # no such day; which century?; trailing text
        refused = client.post(
            "/customerview/add",
            data={**base, "last_name": "Четвёртая", "phone": "+79165550009", "birth_date": wrong},
        )
        assert refused.status_code == 422
        assert "Введите дату, например 12.07.1986." in refused.get_data(as_text=True)
        assert re.search(rf'name="birth_date"[^>]*value="{wrong}"', refused.get_data(as_text=True))
    assert {c.last_name: c.birth_date for c in fresh(ctx, Customer)} == dict.fromkeys(
        typed, dt.date(1986, 7, 12)
    )

    customer = fresh(ctx, Customer)[0]
    order = factories.order(ctx, customer)
    manager = login_as("manager")
    form = {"customer": str(customer.id), "kind": "visit", "status": "new", "paid": "0"}
    for visit in ("12.07.2026 10:30", "2026-07-12 10:30:00"):
        assert (
            manager.post(f"/orderview/edit/{order.id}", data={**form, "visit_at": visit}).status_code == 302
        )
        ctx.expire_all()
        assert ctx.get(Order, order.id).visit_at == dt.datetime(2026, 7, 12, 7, 30)  # 10:30 in Moscow, as UTC
    refused = manager.post(f"/orderview/edit/{order.id}", data={**form, "visit_at": "завтра"})
    assert "Введите дату и время, например 12.07.1986 10:30." in refused.get_data(as_text=True)


def test_returns_and_anamnesis_filter_by_day_like_the_other_lists(ctx, login_as):
    """Their «Создано» filter offered «Равно» a timestamp («2026-07-12» matched only
    midnight), where every other list offers «В день», «С даты», «По дату»."""
    import datetime as dt
    import json
    import re

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, paid="1500")
    early = Return(
        customer=customer, order=order, amount=100, reason="Раньше", created_on=dt.datetime(2026, 7, 1, 9)
    )
    late = Return(
        customer=customer, order=order, amount=100, reason="Позже", created_on=dt.datetime(2026, 7, 12, 9)
    )
    ctx.add_all([early, late])
    ctx.commit()
    client = login_as("manager")
    page = client.get("/returnview/list/").get_data(as_text=True)
    operations = json.loads(
        re.search(r"new AdminFilters\(\s*'#filter_form',\s*\{.*?\},\s*\{.*?\},\s*(\{.*?\})", page, re.S)[1]
    )
    assert operations["created_on"] == ["В день", "С даты", "По дату"]
    on_the_day = client.get("/returnview/list/", query_string={"_flt_0_created_on": "12.07.2026"}).get_data(
        as_text=True
    )
    assert (
        f'href="/returnview/show/{late.id}"' in on_the_day
        and f'href="/returnview/show/{early.id}"' not in on_the_day
    )
