"""One field policy for every rendering of a stored value (app/disclosure.py).

Each test names a page that showed what its list hid; tests/test_walk.py walks
every page of every role with the same secrets planted.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from app.models import ChangeLog, CustomerDocument, Message, Note
from tests import factories, matrix
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


def texts_of(body: str, model) -> list[str]:
    """The planted free texts of ``model`` a page or an answer shows, as shown."""
    from tests.test_walk import MARKER

    return sorted(re.findall(rf"{MARKER}-{model.__name__} [^<\"]*", body))


def pane(card: str, key: str) -> str:
    """A card's tab as the card draws it (its pane, up to the next one)."""
    start = card.index(f'id="{key}" data-tab="{key}"')
    end = card.find('role="tabpanel"', start)
    return card[start : end if end > 0 else None]


@pytest.fixture
def walked(app):
    """The walk's planting: a row in every table that points at a customer, each free
    text holding every secret (tests/test_walk.py)."""
    from app import customers
    from app.extensions import db
    from app.models import Customer
    from tests.test_walk import plant

    with app.app_context():
        rows = plant(app)
        # the planting writes its text into every long column, the name's search key too:
        # a list's «Клиент» filter finds the patient by name as staff type it
        for customer in db.session.query(Customer):
            customer.name_search = customers.name_search_key(customer)
        db.session.commit()
        return rows


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_a_tab_at_its_own_address_shows_its_texts_as_the_card_and_the_api_do(app, login_as, walked, role_key):
    """A tab opened at its own address (/notetab/list/?_flt_0_customer=…) hid the whole
    text of a note holding a masked passport number («***»), where the card and the
    API mask only the number («паспорт ****57»): the tab's rows were read without
    their customer, whose values the text is searched for."""
    from app.admin.api import PolicyApi
    from app.models import Customer
    from app.views import CustomerView
    from tests.test_walk import free_text_columns, readable

    client = login_as(role_key)
    patient = walked[Customer]["patient"]
    card = page(client, f"/customerview/show/{patient}")
    with app.app_context():
        # the API resources that list a free text of their model
        apis = {
            api.datamodel.obj: api.route_base
            for api in app.appbuilder.baseviews
            if isinstance(api, PolicyApi)
            and matrix.reads(role_key, api.class_permission_name)
            and set(api.list_columns) & set(free_text_columns(api.datamodel.obj))
        }
        views = {type(view): view for view in app.appbuilder.baseviews}
    compared = 0
    for tab in CustomerView.tabs:
        view = views[tab.view]
        model = view.datamodel.obj
        if not matrix.reads(role_key, view.class_permission_name):
            continue
        shown = texts_of(pane(card, tab.key), model)
        if not shown:
            continue
        # the tab's list at its own address, its «Клиент» filter naming the patient by number
        own = client.get(f"{view.route_base}/list/?_flt_0_customer={patient}&psize_{type(view).__name__}=100")
        assert own.status_code == 200, tab.key
        # the card's rows are among the tab's (whose address may list more of the role's rows)
        assert set(shown) <= set(texts_of(readable(own), model)), tab.key
        if model in apis:
            query = f"?q=(filters:!((col:customer,opr:rel_o_m,value:{patient})),page_size:100)"
            answer = client.get(f"{apis[model]}/{query}")
            assert answer.status_code == 200, apis[model]
            assert set(shown) <= set(texts_of(readable(answer), model)), apis[model]
        compared += 1
    assert compared or role_key == "sysadmin"
