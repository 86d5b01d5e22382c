"""A clinic's first week, defect by defect (issue «A clinic's first week»): each test
plays what staff did and reads what was stored and what the customer was sent."""

from __future__ import annotations

from app.models import Customer
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
