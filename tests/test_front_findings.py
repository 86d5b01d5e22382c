"""What the front desk and the system administrator of a new clinic met in Chromium, in
Russian, on an empty database (registering customers, messaging them, searching the
list, the token API): each test is one finding, asserted on what the user sees or what
is stored."""

from __future__ import annotations

from app.models import Message, MessageType


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
