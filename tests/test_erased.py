"""An erased customer's remainder (issue 19: the anamnesis, the name and the birth date
kept under law) is written to by nobody: every write route of the card (read from the
url map), the list's actions, the generic forms and the API refuse with the reason in
Russian (422), and nothing of the customer's changes."""

from __future__ import annotations

import datetime as dt
import html
import io
from pathlib import Path

import pytest
from flask_appbuilder import Model
from sqlalchemy import select

from app.extensions import db
from app.models import Customer, MedicalRecord, Order
from tests import factories
from tests.conftest import user_id
from tests.html_forms import form_fields

REASON = "Данные клиента уничтожены по его запросу"
# not writes of the customer's data: reading (a reveal, a preview), a subject's request
# (an export of what is kept, an erasure of the rest when its period is over: app/subjects.py)
NOT_WRITES = {
    "CustomerView.reveal",
    "CustomerView.preview_message",
    "CustomerView.subject_export",
    "CustomerView.subject_erase",
}
# about other customers than one: a new customer (typed or from a file), the list's actions
# (tried below by name)
NOT_OF_ONE = {
    "CustomerView.add",
    "CustomerView.import_file",
    "CustomerView.action_post",
    "CustomerView.bulk_message",
}
# a deletion and a list action answer as FAB does: back where the user was, the reason on top
REDIRECTED = {"CustomerView.delete", "CustomerView.action"}
SKIPPED = {"access_log", "change_log", "subject_request"}  # about the customer, written on


@pytest.fixture
def remainder(app, login_as):
    with app.app_context():
        customer = factories.customer(
            last_name="Остаткова", phone="+79165550999", birth_date=dt.date(1980, 1, 2)
        )
        order = factories.order(customer=customer)
        db.session.add(MedicalRecord(customer=customer, allergies="пыльца"))
        db.session.commit()
        ids = customer.id, order.id, factories.catalog_item().id
    erased = login_as("manager").post(
        f"/customerview/{ids[0]}/subject/erase", data={"basis": "Заявление № 3", "confirm": "yes"}
    )
    assert erased.status_code == 302
    return ids


def stored(app, customer_id) -> dict:
    """Every row of the customer in every table that names them (the journal, the
    history and the requests apart), their orders' items, and their own row."""
    with app.app_context():
        db.session.expire_all()
        found = {}
        orders = select(Order.id).where(Order.customer_id == customer_id)
        for table in Model.metadata.sorted_tables:
            if table.name in SKIPPED:
                continue
            if table.name == "customer":
                condition = table.c.id == customer_id
            elif "customer_id" in table.c:
                condition = table.c.customer_id == customer_id
            elif table.name == "order_item":
                condition = table.c.order_id.in_(orders)
            else:
                continue
            found[table.name] = [
                tuple(row)
                for row in db.session.execute(select(table).where(condition).order_by(*table.primary_key))
            ]
        return found


def refused(response) -> bool:
    text = html.unescape(response.get_data(as_text=True))
    return response.status_code in (403, 422) and REASON in text


def says_why(client, response) -> bool:
    """Refused with the reason: at once (422), or back where the user was with the reason on top."""
    if response.status_code == 302:
        response = client.get(response.headers["Location"])
        return REASON in html.unescape(response.get_data(as_text=True))
    return refused(response)


def test_every_write_route_of_the_card_refuses_an_erased_customer(app, login_as, remainder):
    customer_id, _order_id, item_id = remainder
    manager = login_as("manager")
    edit = form_fields(manager.get(f"/customerview/edit/{customer_id}").get_data(as_text=True))
    writes = {
        "CustomerView.add_note": {"text": "Новое примечание"},
        "CustomerView.upload": {"file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "скан.pdf")},
        "CustomerView.add_consent": {"purpose": "marketing", "decision": "give", "method": "screen"},
        "CustomerView.send_message": {"message_type": "manual", "channel": "sms", "text": "Ждём вас"},
        "CustomerView.add_order": {"kind": "visit", "catalog_item": str(item_id), "quantity": "1"},
        "CustomerView.change_status": {"status": "blocked"},
        "CustomerView.edit": {**edit, "status": "blocked", "city": "Тверь"},
        "CustomerView.delete": {},
        "CustomerView.action": {},
    }
    routes = {
        rule.endpoint: rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("CustomerView.") and rule.methods & {"POST", "PUT", "DELETE"}
    }
    assert set(routes) - NOT_WRITES - NOT_OF_ONE == set(writes), "a write route of the card is not tried"
    before = stored(app, customer_id)
    failures = []
    for endpoint, data in writes.items():
        url = str(routes[endpoint]).replace("<int:pk>", str(customer_id)).replace("<pk>", str(customer_id))
        if endpoint == "CustomerView.action":
            url = url.replace("<string:name>", "status_blocked")
        multipart = endpoint == "CustomerView.upload"
        response = manager.post(url, data=data, content_type="multipart/form-data" if multipart else None)
        if not (says_why(manager, response) if endpoint in REDIRECTED else refused(response)):
            failures.append((url, response.status_code))
        assert stored(app, customer_id) == before, endpoint
    # the list's actions, several customers at once
    for name in ("status_blocked", "status_problem", "status_verified"):
        response = manager.post(
            "/customerview/action_post", data={"action": name, "rowid": [str(customer_id)]}
        )
        assert says_why(manager, response), name
        assert stored(app, customer_id) == before, name
    response = manager.post(
        f"/customerview/message?ids={customer_id}",
        data={"message_type": "manual", "channel": "sms", "text": "Ждём вас"},
        follow_redirects=True,
    )
    assert "0 сообщений поставлено в очередь" in html.unescape(response.get_data(as_text=True))
    assert stored(app, customer_id) == before
    assert failures == [], failures
    assert not list((Path(app.config["INSTANCE_DIR"]) / "files").rglob("*.pdf")), (
        "a refused scan stayed on disk"
    )


def test_the_generic_forms_and_the_api_refuse_an_erased_customer(app, login_as, remainder):
    customer_id, order_id, _item_id = remainder
    before = stored(app, customer_id)
    manager = login_as("manager")
    attempts = {
        "note form": manager.post("/noteview/add", data={"customer": customer_id, "text": "Ещё"}),
        "order form": manager.post(
            f"/orderview/edit/{order_id}",
            data={
                **form_fields(manager.get(f"/orderview/edit/{order_id}").get_data(as_text=True)),
                "status": "cancelled",
            },
        ),
        "order deleted": manager.post(f"/orderview/delete/{order_id}"),
        "api note": manager.post("/api/v1/notes/", json={"customer": customer_id, "text": "Ещё"}),
        "api order": manager.post("/api/v1/orders/", json={"customer": customer_id, "kind": "visit"}),
        "api document": manager.post(
            "/api/v1/documents/", json={"customer": customer_id, "kind": "other", "number": "123456"}
        ),
        "api status": manager.put(f"/api/v1/customers/{customer_id}", json={"city": "Тверь"}),
        "api order changed": manager.put(f"/api/v1/orders/{order_id}", json={"comment": "Звонить"}),
        "api order deleted": manager.delete(f"/api/v1/orders/{order_id}"),
        "api customer deleted": manager.delete(f"/api/v1/customers/{customer_id}"),
    }
    failures = {}
    deleted = attempts.pop("order deleted")
    if not says_why(manager, deleted):
        failures["order deleted"] = deleted.status_code
    for name, response in attempts.items():
        body = response.get_json() if response.is_json else html.unescape(response.get_data(as_text=True))
        if response.status_code not in (403, 422) or ("Данные клиента уничтожены" not in str(body)):
            failures[name] = (response.status_code, str(body)[:300])
    assert failures == {}
    assert stored(app, customer_id) == before
    with app.app_context():
        assert db.session.get(Customer, customer_id).last_name == "Остаткова"  # kept under law


def test_the_erased_card_offers_no_form_its_routes_refuse(app, login_as, remainder):
    """The card showed the note, order, message, consent, file and status forms and
    «Редактировать» on a remainder, each refused only once filled in and sent."""
    import re

    customer_id = remainder[0]
    card = html.unescape(login_as("manager").get(f"/customerview/show/{customer_id}").get_data(as_text=True))
    assert "Данные клиента уничтожены по его запросу" in card
    write_paths = set()
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if (
                rule.endpoint.startswith("CustomerView.")
                and rule.methods & {"POST", "PUT", "DELETE"}
                and rule.endpoint not in NOT_WRITES | NOT_OF_ONE | REDIRECTED
            ):
                write_paths.add(
                    str(rule).replace("<int:pk>", str(customer_id)).replace("<pk>", str(customer_id))
                )
    actions = set(re.findall(r'<form[^>]*action="([^"?]+)', card))
    links = set(re.findall(r'href="([^"?]+)', card))
    assert not actions & write_paths, actions & write_paths
    assert f"/customerview/edit/{customer_id}" not in links
    # the card of a customer who was not erased offers them (the test sees forms)
    with app.app_context():
        other = factories.customer(last_name="Живая", phone="+79165550111").id
    live = login_as("manager").get(f"/customerview/show/{other}").get_data(as_text=True)
    live_write_paths = {p.replace(f"/{customer_id}", f"/{other}") for p in write_paths}
    assert len(set(re.findall(r'<form[^>]*action="([^"?]+)', live)) & live_write_paths) >= 4


def test_an_erased_card_is_erased_again_only_once_the_kept_records_term_is_over(app, login_as, remainder):
    """«Уничтожить данные» stayed on an erased card, and pressing it again wrote a second
    act over nothing. It is offered again, and done, only for what the law kept once
    that term is over."""
    from app.models import SubjectRequest, SubjectRequestKind
    from tests.test_subjects import age_anamnesis

    customer_id = remainder[0]
    erase = f"/customerview/{customer_id}/subject/erase"
    manager = login_as("manager")

    def acts() -> int:
        with app.app_context():
            query = select(SubjectRequest).where(SubjectRequest.kind == SubjectRequestKind.ERASURE)
            return len(db.session.scalars(query).all())

    assert erase not in manager.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    again = manager.post(erase, data={"basis": "Заявление № 4", "confirm": "yes"})
    assert again.status_code == 422
    page = again.get_data(as_text=True)
    assert "Данные клиента уже уничтожены (акт №" in page
    assert "Хранимое по закону уничтожается по окончании срока, после " in page
    assert acts() == 1
    with app.app_context():
        age_anamnesis(customer_id, 26)  # the medical records' 25 years are over
    assert erase in manager.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    assert manager.post(erase, data={"basis": "Истёк срок", "confirm": "yes"}).status_code == 302
    assert acts() == 2
    with app.app_context():
        assert db.session.query(MedicalRecord).filter(MedicalRecord.customer_id == customer_id).count() == 0
    final = manager.post(erase, data={"basis": "Заявление № 5", "confirm": "yes"})
    assert final.status_code == 422 and "Данные клиента уже уничтожены (акт №" in final.get_data(as_text=True)
    assert acts() == 2


def test_a_form_that_cannot_be_saved_does_not_open(app, login_as, remainder):
    """The erased card's edit form, and «Добавить» / «Изменить» of its anamnesis kept under
    law, opened as usual and refused only at «Сохранить», after staff had typed. They now
    go back to the card with the reason on top; a live customer's forms open."""
    customer_id = remainder[0]
    with app.app_context():
        record = db.session.scalars(
            select(MedicalRecord.id).where(MedicalRecord.customer_id == customer_id)
        ).one()
        live = factories.customer(last_name="Живая", phone="+79165550112").id
        doctor = user_id(app, "doctor")
        for customer in (customer_id, live):  # the doctor's patients: she served them
            db.session.add(Order(customer_id=customer, specialist_id=doctor))
        db.session.commit()
    card = f"/customerview/show/{customer_id}"
    for role, address, reason in (
        ("manager", f"/customerview/edit/{customer_id}", REASON),
        ("manager", f"/noteview/add?_flt_0_customer={customer_id}", REASON),
        ("doctor", f"/medicalrecordview/add?_flt_0_customer={customer_id}", REASON),
        ("doctor", f"/medicalrecordview/edit/{record}", "анамнез хранится в силу закона без изменений"),
    ):
        client = login_as(role)
        client.get(card)
        response = client.get(address)
        assert response.status_code == 302, (role, address, response.status_code)
        assert response.headers["Location"].split("#")[0].endswith(card), (
            address,
            response.headers["Location"],
        )
        assert reason in html.unescape(client.get(card).get_data(as_text=True)), address
        if "/add?" in address:  # the same form for a live customer opens
            assert client.get(address.replace(str(customer_id), str(live))).status_code == 200, address


def test_an_erased_customer_reads_data_erased_on_the_card_the_list_its_filter_and_the_api(
    app, login_as, remainder
):
    """The remainder's card, the customers list and the API said «Активен» of a
    customer whose data were destroyed; the status filter could not find them."""
    import re

    customer_id = remainder[0]
    with app.app_context():
        live = factories.customer(last_name="Живая", phone="+79165550111").id
    manager = login_as("manager")
    card = html.unescape(manager.get(f"/customerview/show/{customer_id}").get_data(as_text=True))
    (label,) = re.findall(r'class="label [^"]*kartoteka-status">([^<]*)<', card)
    assert label == "Данные уничтожены"

    def rows(**params):
        page = html.unescape(manager.get("/customerview/list/", query_string=params).get_data(as_text=True))
        return {cid for cid in (customer_id, live) if f"/customerview/show/{cid}" in page}, page

    shown, page = rows()
    assert shown == {customer_id, live} and "Данные уничтожены" in page
    assert rows(_flt_0_status="erased")[0] == {customer_id}
    assert rows(_flt_0_status="active")[0] == {live}
    filters = manager.get("/customerview/list/").get_data(as_text=True)
    assert r"value=\"erased\"" in filters  # the filter's select (in the page's script) offers it
    assert manager.get(f"/api/v1/customers/{customer_id}").get_json()["result"]["status"] == "erased"
    # nobody sets it by hand: the live card's status select and the status route leave it out
    live_card = manager.get(f"/customerview/show/{live}").get_data(as_text=True)
    assert re.search(r'<select name="status"', live_card) and 'value="erased"' not in live_card
    edit = manager.get(f"/customerview/edit/{live}").get_data(as_text=True)
    assert 'name="status"' in edit and 'value="erased"' not in edit
    refused = manager.post(f"/customerview/{live}/status", data={"status": "erased"})
    assert refused.status_code in (302, 422)
    with app.app_context():
        assert db.session.get(Customer, live).status.value == "active"
        db.session.delete(db.session.get(Customer, live))
        db.session.commit()


def test_another_customers_card_with_an_anamnesis_is_not_told_their_data_were_erased(
    app, login_as, remainder
):
    """Week: once one customer was erased, every other card with an anamnesis opened with
    «Данные клиента уничтожены по его запросу; часть хранится в силу закона» and «клиенту
    не отправляются ни уведомления, ни реклама»: the card asked whether any customer had
    an erasure done, not this one."""
    with app.app_context():
        live = factories.customer(last_name="Живая", phone="+79165550111")
        db.session.add(MedicalRecord(customer=live, allergies="пенициллин"))
        db.session.commit()
        live_id = live.id
    manager = login_as("manager")
    card = html.unescape(manager.get(f"/customerview/show/{live_id}").get_data(as_text=True))
    assert "Живая" in card and "kartoteka-legal-hold" not in card and REASON not in card
    kept = html.unescape(manager.get(f"/customerview/show/{remainder[0]}").get_data(as_text=True))
    assert "kartoteka-legal-hold" in kept
    with app.app_context():
        db.session.delete(db.session.get(Customer, live_id))
        db.session.commit()
