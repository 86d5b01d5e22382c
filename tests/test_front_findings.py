"""What the front desk and the system administrator of a new clinic met in Chromium, in
Russian, on an empty database (registering customers, messaging them, searching the
list, the token API): each test is one finding, asserted on what the user sees or what
is stored."""

from __future__ import annotations

from app.models import Customer, Message, MessageType


def test_a_company_registered_without_a_contact_name_is_not_greeted_as_none(app, ctx, redis, login_as):
    """ООО «Ромашка», registered with its phone and e-mail but no contact person, got the
    SMS and the e-mail «None, добро пожаловать! Вас приветствует …»."""
    client = login_as("reception")
    data = {
        "customer_type": "legal",
        "company_name": "ООО «Ромашка»",
        "phone": "8 (423) 222-33-44",
        "email": "info@romashka.example",
        "discount": "",
    }
    assert client.post("/customerview/add", data=data).status_code == 302
    welcome = ctx.query(Message).filter_by(message_type=MessageType.WELCOME).order_by(Message.id).all()
    assert {m.channel.value for m in welcome} == {"sms", "email"}
    assert {m.body for m in welcome} == {"ООО «Ромашка», добро пожаловать! Вас приветствует Картотека."}


def test_a_company_is_found_by_its_name_without_the_quotes(app, ctx, login_as):
    """The receptionist typed «Ромашка» into the customers list's search box to find
    ООО «Ромашка» she had just registered: «Ничего не найдено» (only «Ромашка» typed
    with its guillemets found it)."""
    client = login_as("reception")
    data = {"customer_type": "legal", "company_name": "ООО «Ромашка»", "phone": "8 (423) 222-33-44"}
    assert client.post("/customerview/add", data=data).status_code == 302
    company = ctx.query(Customer).one()
    for typed in ("Ромашка", "ромашка", "ООО Ромашка", "«Ромашка»", 'ООО "Ромашка"'):
        page = client.get("/customerview/list/", query_string={"q": typed}).get_data(as_text=True)
        assert f'href="/customerview/show/{company.id}"' in page, typed
