"""The REST API complete for what it offers: its writes, its scope, its words and
its OpenAPI document (tests/test_api_fuzz.py checks every answer against it)."""

from __future__ import annotations

import datetime as dt

import pytest

from app import access
from app.models import (
    ConsentMethod,
    ConsentPurpose,
    Customer,
    CustomerDocument,
    CustomerStatus,
    MedicalRecord,
    Order,
    OrderStatus,
    ProcessingConsent,
)
from tests import factories
from tests.test_scope import patients

CONSENT = {"consent_treatment": "screen"}  # a new customer comes with the treatment consent

PASSPORT = {
    "kind": "passport_rf",
    "series": "4510",
    "number": "123456",
    "issued_by": "ОВД Тверского района",
    "issue_date": "2010-01-01",
    "division_code": "770001",
}


def test_orders_and_documents_are_created_with_their_customer(ctx, login_as):
    """POST /api/v1/orders/ and /api/v1/documents/ always answered 500 «Fatal error»:
    their create fields left out the required customer."""
    customer = factories.customer(ctx)
    client = login_as("manager")
    order = client.post(
        "/api/v1/orders/",
        json={"customer": customer.id, "kind": "visit", "visit_at": "2026-11-20T12:00:00+03:00"},
    )
    assert order.status_code == 201, order.get_json()
    assert order.get_json()["result"]["visit_at"] == "2026-11-20T09:00:00+00:00"  # UTC, with its offset
    document = client.post("/api/v1/documents/", json={"customer": customer.id, **PASSPORT})
    assert document.status_code == 201, document.get_json()
    ctx.expire_all()
    (stored,) = ctx.query(CustomerDocument).all()
    assert (stored.customer_id, stored.division_code) == (customer.id, "770-001")  # the domain's rules ran
    (stored_order,) = ctx.query(Order).all()
    assert stored_order.visit_at == dt.datetime(2026, 11, 20, 9, 0) and stored_order.status == OrderStatus.NEW
    moved = client.put(f"/api/v1/orders/{stored_order.id}", json={"visit_at": "2026-11-21T12:00:00"})
    assert (
        moved.get_json()["result"]["visit_at"] == "2026-11-21T09:00:00+00:00"
    )  # no offset: the clinic's time
    listed = client.get("/api/v1/orders/").get_json()["result"][0]
    assert (listed["total"], listed["paid"]) == ("0.00", "0.00")  # amounts: decimal strings


def test_the_domain_rules_answer_422_in_the_users_language(ctx, login_as):
    blocked = factories.customer(ctx, status=CustomerStatus.BLOCKED)
    problem = factories.customer(ctx, last_name="Проблемная", phone="+79035550009")
    problem.status = CustomerStatus.PROBLEM
    ctx.commit()
    client = login_as("manager")
    refused = client.post("/api/v1/orders/", json={"customer": blocked.id, "kind": "visit"})
    assert refused.status_code == 422
    assert refused.get_json()["message"] == {
        "_schema": ["Клиент Иванова Анна Сергеевна заблокирован: новый заказ оформить нельзя."]
    }
    checked = client.post("/api/v1/orders/", json={"customer": problem.id, "kind": "visit"})
    assert checked.status_code == 201
    ctx.expire_all()
    assert ctx.get(Order, checked.get_json()["id"]).status == OrderStatus.REVIEW
    document = client.post("/api/v1/documents/", json={"customer": problem.id, **PASSPORT, "series": "45"})
    assert document.status_code == 422
    assert document.get_json()["message"]["series"] == [
        "Неверная серия для документа «Паспорт РФ»: например, 4510."
    ]
    phone = client.post(
        "/api/v1/customers/", json={"last_name": "А", "first_name": "Б", "phone": "123", **CONSENT}
    )
    assert phone.status_code == 422 and "Неверный номер телефона" in phone.get_json()["message"]["phone"][0]
    taken = client.post(
        "/api/v1/customers/", json={"last_name": "А", "first_name": "Б", "phone": "+79035550009", **CONSENT}
    )
    assert taken.get_json()["message"]["phone"] == [
        "Клиент с этим телефоном уже есть: Проблемная Анна Сергеевна"
    ]
    saved = client.post(
        "/api/v1/customers/",
        json={"last_name": "А", "first_name": "Б", "phone": "8 903 555-00-08", **CONSENT},
    )
    assert saved.status_code == 201
    ctx.expire_all()
    assert ctx.get(Customer, saved.get_json()["id"]).phone == "+79035550008"  # normalised as on the screens


def test_a_specialist_is_offered_and_accepted_only_their_own_patients(app, ctx, login_as):
    """As the specialist, /api/v1/anamnesis/_info and /api/v1/notes/_info listed every
    customer's name and id, and POST /api/v1/anamnesis/ with another specialist's
    patient answered 201."""
    own, stranger = patients(app, ctx)
    client = login_as("doctor")
    for resource in ("anamnesis", "notes"):
        info = client.get(f"/api/v1/{resource}/_info").get_json()
        (field,) = [f for f in info["add_columns"] if f["name"] == "customer"]
        assert [v["id"] for v in field["values"]] == [own.id] and field["count"] == 1
        assert field["values"][0]["value"] == "Своя Анна Сергеевна · +7 *** ***-00-01"  # as the forms show it
    refused = client.post("/api/v1/anamnesis/", json={"customer": stranger.id, "allergies": "взлом"})
    missing = client.post("/api/v1/anamnesis/", json={"customer": 2147483000, "allergies": "нет такого"})
    assert refused.status_code == missing.status_code == 422
    assert refused.get_json()["message"]["customer"] == [f"Запись №{stranger.id} не найдена."]
    saved = client.post("/api/v1/anamnesis/", json={"customer": own.id, "allergies": "пыльца"})
    assert saved.status_code == 201
    ctx.expire_all()
    assert [(r.customer_id, r.allergies) for r in ctx.query(MedicalRecord)] == [(own.id, "пыльца")]


def test_a_manager_cannot_create_a_customer_by_naming_one_that_does_not_exist(ctx, login_as):
    """FAB's related field made a new customer of an unknown id (marshmallow-sqlalchemy's
    Related deserialises a missing row as a new one)."""
    client = login_as("manager")
    answer = client.post("/api/v1/notes/", json={"customer": 777, "text": "кому?"})
    assert answer.status_code == 422 and answer.get_json()["message"]["customer"] == [
        "Запись №777 не найдена."
    ]
    ctx.expire_all()
    assert ctx.query(Customer).count() == 0


@pytest.mark.parametrize(
    "method, url, body, status, message",
    [
        (
            "get",
            "/api/v1/customers/?q=(filters:!((col:email,opr:ct,value:x)))",
            None,
            400,
            "По полю email не фильтруют.",
        ),
        ("get", "/api/v1/customers/?q=(order_column:nope)", None, 400, "По полю nope не сортируют."),
        ("post", "/api/v1/customers/", "не JSON", 400, "Нужно тело запроса: объект JSON."),
        ("get", "/api/v1/customers/2147483000", None, 404, "Запись не найдена."),
    ],
)
def test_api_errors_are_in_the_users_language(login_as, method, url, body, status, message):
    """«Filter column: email not allowed to filter», «Invalid order by column»,
    «Request is not JSON» reached the user in English."""
    client = login_as("manager")
    answer = getattr(client, method)(url, data=body, content_type="text/plain" if body else None)
    assert (answer.status_code, answer.get_json()["message"]) == (status, message)


def test_a_request_that_is_not_signed_in_is_told_so_in_russian(client):
    answer = client.get("/api/v1/customers/")
    assert (answer.status_code, answer.get_json()) == (401, {"message": "Войдите в систему."})


@pytest.mark.parametrize("role_key", list(access.ROLES))
def test_the_openapi_document_is_served_to_signed_in_users(login_as, role_key):
    """FAB generates an OpenAPI document; it was off (FAB_API_SWAGGER_UI)."""
    document = login_as(role_key).get("/api/v1/_openapi")
    assert document.status_code == 200
    spec = document.get_json()
    assert spec["openapi"].startswith("3.") and "/api/v1/customers/{pk}" in spec["paths"]


def test_the_openapi_document_describes_what_the_api_answers(client, login_as):
    assert client.get("/api/v1/_openapi").status_code == 401
    spec = login_as("manager").get("/api/v1/_openapi").get_json()
    schemas = spec["components"]["schemas"]
    order = schemas["OrderApi.get"]["properties"]
    assert (order["total"]["type"], order["total"]["format"]) == ("string", "decimal")
    assert order["visit_at"]["format"] == "date-time" and "UTC" in order["visit_at"]["description"]
    customer = schemas["CustomerApi.get"]
    assert "required" not in customer  # a role may not receive a field, a request may choose columns
    assert (
        customer["properties"]["birth_date"]["type"] == "string"
        and "format" not in customer["properties"]["birth_date"]
    )
    assert schemas["OrderApi.post"]["properties"]["customer"]["type"] == "integer"
    # a new customer's body carries the treatment consent; the answer does not
    consent = schemas["CustomerApi.post"]["properties"]["consent_treatment"]
    assert (
        consent["enum"] == ["paper", "screen"]
        and "consent_treatment" in schemas["CustomerApi.post"]["required"]
    )
    assert "consent_treatment" not in schemas["CustomerApi.post.result"]["properties"]
    assert "consent_treatment" not in schemas["CustomerApi.put"]["properties"]
    listed = spec["paths"]["/api/v1/orders/"]["get"]["responses"]
    assert {"200", "400", "401", "403"} <= listed.keys()
    assert listed["200"]["content"]["application/json"]["schema"]["properties"]["ids"]["items"] == {
        "type": "integer"
    }
    one = spec["paths"]["/api/v1/orders/{pk}"]
    assert {"403", "404", "422"} <= one["put"]["responses"].keys() and "404" in one["get"]["responses"]
    refused = spec["components"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert {"type": "string"} in refused["properties"]["message"]["oneOf"]


def test_existing_roles_get_the_openapi_document_on_upgrade(app):
    """A role created by an earlier version gets the new self-service permission at
    the next start (sync_roles), and keeps an administrator's other changes."""
    with app.app_context():
        sm = app.appbuilder.sm
        for pv in sm.session.query(sm.permissionview_model).all():
            if pv.view_menu.name == "OpenApi":
                for role in sm.get_all_roles():
                    if pv in role.permissions:
                        role.permissions.remove(pv)
                sm.session.delete(pv)
        sm.session.commit()
        try:
            assert access.sync_roles() == []
            for spec in access.ROLES.values():
                granted = {
                    (pv.permission.name, pv.view_menu.name) for pv in sm.find_role(spec.name).permissions
                }
                assert ("can_get", "OpenApi") in granted, spec.name
        finally:
            access.sync_roles(reset=True)


@pytest.mark.parametrize("consent", [None, "", "yes", 1, ["screen"]])
def test_a_customer_is_not_registered_through_the_api_without_the_treatment_consent(ctx, login_as, consent):
    """The registration form takes the consent to processing for treatment; the API
    registered a customer without any."""
    client = login_as("reception")
    body = {"last_name": "Без", "first_name": "Согласия", "phone": "+79035550031"}
    if consent is not None:
        body["consent_treatment"] = consent
    refused = client.post("/api/v1/customers/", json=body)
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert refused.get_json()["message"]["consent_treatment"] == [
        "Укажите согласие на обработку персональных данных для лечения: "
        "«paper» (подписано на бумаге) или «screen» (подписано на экране)."
    ]
    ctx.expire_all()
    assert ctx.query(Customer).count() == 0 and ctx.query(ProcessingConsent).count() == 0
    # with another mistake, both are named at once
    both = client.post("/api/v1/customers/", json={**body, "birth_date": "вчера"})
    assert set(both.get_json()["message"]) == {"consent_treatment", "birth_date"}


@pytest.mark.parametrize("method", ["paper", "screen"])
def test_a_customer_registered_through_the_api_has_the_consent_in_the_ledger(app, ctx, login_as, method):
    client = login_as("reception")
    body = {"last_name": "С", "first_name": "Согласием", "phone": "+79035550032", "consent_treatment": method}
    created = client.post("/api/v1/customers/", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert "consent_treatment" not in created.get_json()["result"]
    ctx.expire_all()
    (consent,) = ctx.query(ProcessingConsent).all()
    assert consent.customer_id == created.get_json()["id"]
    assert (consent.purpose, consent.given, consent.method) == (
        ConsentPurpose.TREATMENT,
        True,
        ConsentMethod(method),
    )
    assert consent.employee.username == "reception" and consent.consent_text.version >= 1
    # an update does not take (nor need) it
    changed = client.put(f"/api/v1/customers/{consent.customer_id}", json={"city": "Тула"})
    assert changed.status_code == 200
