"""One field policy for every rendering of a stored value (app/disclosure.py).

Each test names a page that showed what its list hid; tests/test_walk.py walks
every page of every role with the same secrets planted.
"""

from __future__ import annotations

import datetime as dt
import html

import pytest

from app.models import ChangeLog, CustomerDocument, Message, Note
from tests import factories
from tests.conftest import user_id
from tests.html_forms import form_fields

PHONE, NEW_PHONE = "+79161234567", "+79035550002"
EMAIL, NEW_EMAIL = "secret.patient@example.ru", "new.secret@example.ru"
NUMBER, NEW_NUMBER = "987654", "123987"


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def changed(app, ctx):
    """A customer whose phone, e-mail and passport number were changed (the history copies them)."""
    customer = factories.customer(ctx, phone=PHONE, email=EMAIL)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))  # in every role's rows
    document = CustomerDocument(
        customer=customer,
        kind="passport_rf",
        series="4510",
        number=NUMBER,
        issued_by="ОВД",
        issue_date=dt.date(2010, 1, 1),
        division_code="770-001",
    )
    ctx.add(document)
    ctx.commit()
    customer.phone, customer.email, document.number = NEW_PHONE, NEW_EMAIL, NEW_NUMBER
    ctx.commit()
    return customer


def history_rows(ctx) -> dict:
    return {c.field: c.id for c in ctx.query(ChangeLog).filter_by(action="update")}


@pytest.mark.parametrize("base", ["changelogview", "changelogtab"])
def test_the_history_shows_a_change_as_its_list_does(ctx, login_as, changed, base):
    """/changelogview/show/<id> and /changelogtab/show/<id> showed the old and new
    phone, e-mail and passport number in clear to the auditor (masked for that
    role) and to the system administrator (document numbers hidden for that role)."""
    rows = history_rows(ctx)
    auditor = login_as("auditor")
    phone = page(auditor, f"/{base}/show/{rows['phone']}")
    assert PHONE not in phone and NEW_PHONE not in phone
    assert "+7 *** ***-45-67" in phone and "+7 *** ***-00-02" in phone
    email = page(auditor, f"/{base}/show/{rows['email']}")
    assert EMAIL not in email and NEW_EMAIL not in email and "s***@example.ru" in email
    number = page(auditor, f"/{base}/show/{rows['number']}")
    assert NUMBER not in number and NEW_NUMBER not in number and "****54" in number
    sysadmin = login_as("sysadmin")
    phone = page(sysadmin, f"/{base}/show/{rows['phone']}")
    assert PHONE not in phone and "+7 *** ***-45-67" in phone
    number = page(sysadmin, f"/{base}/show/{rows['number']}")  # documents: not the sysadmin's to read
    assert NUMBER not in number and NEW_NUMBER not in number and "****54" not in number
    manager = page(login_as("manager"), f"/{base}/show/{rows['phone']}")
    assert PHONE in manager and NEW_PHONE in manager


def test_values_typed_into_a_text_follow_the_field_they_belong_to(ctx, login_as, changed):
    """A phone, an e-mail or a passport number written into a note or a message's
    text reached every reader of the text in clear."""
    text = f"Перезвонить 8 916 123-45-67 или {EMAIL}; паспорт 4510 {NEW_NUMBER}"
    ctx.add_all(
        [
            Note(customer=changed, text=text),
            Message(customer=changed, channel="sms", message_type="manual", body=text, last_error=text),
        ]
    )
    ctx.commit()
    note = ctx.query(Note).one()
    message = ctx.query(Message).filter_by(message_type="manual").one()
    auditor = login_as("auditor")  # phone, e-mail, passport: masked
    for url in ("/noteview/list/", f"/noteview/show/{note.id}", f"/messageview/show/{message.id}"):
        shown = page(auditor, url)
        assert "916 123-45-67" not in shown and EMAIL not in shown and NEW_NUMBER not in shown, url
        assert "s***@example.ru" in shown and "****87" in shown, url
    reception = page(login_as("reception"), f"/noteview/show/{note.id}")  # contacts: yes; passport: masked
    assert "8 916 123-45-67" in reception and EMAIL in reception
    assert NEW_NUMBER not in reception and "****87" in reception
    doctor = page(login_as("doctor"), f"/noteview/show/{note.id}")  # phone masked; e-mail, passport hidden
    assert "916 123-45-67" not in doctor and "-**-67" in doctor
    assert EMAIL not in doctor and "s***@example.ru" not in doctor
    assert NEW_NUMBER not in doctor and "****87" not in doctor
    manager = page(login_as("manager"), f"/noteview/show/{note.id}")
    assert text in manager


def test_a_text_with_hidden_values_is_read_only_in_its_form_and_kept(ctx, login_as, changed):
    """The note's edit form showed the receptionist the passport number the note's
    page hides; saving the form must not write the hidden form back either."""
    text = f"Паспорт 4510 {NEW_NUMBER}"
    note = Note(customer=changed, text=text)
    ctx.add(note)
    ctx.commit()
    client = login_as("reception")
    form = page(client, f"/noteview/edit/{note.id}")
    assert NEW_NUMBER not in form and "readonly" in form
    data = form_fields(form)
    data["pinned"] = "y"
    assert client.post(f"/noteview/edit/{note.id}", data=data).status_code == 302
    ctx.expire_all()
    saved = ctx.get(Note, note.id)
    assert (saved.text, saved.pinned) == (text, True)


def test_the_card_header_and_a_forms_choices_follow_the_policy(ctx, login_as, app):
    customer = factories.customer(ctx, phone=PHONE, email=EMAIL)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))
    doctor = login_as("doctor")
    card = page(doctor, f"/customerview/show/{customer.id}")
    assert PHONE not in card and "8 (916) 123-45-67" not in card and "+7 *** ***-45-67" in card
    assert EMAIL not in card  # hidden for a specialist
    choices = doctor.get("/customerview/lookup", query_string={"q": "Иванова"}).get_json()["results"]
    assert [c["text"] for c in choices] == ["Иванова Анна Сергеевна · +7 *** ***-45-67"]
