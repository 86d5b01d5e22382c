"""The role policy: every screen, API and action as every role, expected from the
rights pinned by hand in tests/matrix.py (not read from app/access.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app import access
from app.models import (
    AccessAction,
    AccessLog,
    Branch,
    ChangeLog,
    Customer,
    CustomerDocument,
    CustomerStatus,
    MedicalRecord,
    Message,
    Note,
    Order,
    Return,
    Review,
)
from tests import factories, matrix, sheets
from tests.conftest import user_id
from tests.html_forms import form_fields

PHONE, PHONE_SHOWN, EMAIL = "+79161234567", "8 (916) 123-45-67", "secret.patient@example.ru"
PASSPORT_NUMBER, ALLERGY = "987654", "Аллергия на пенициллин-X"


def seed(ctx):
    """One customer (nobody's patient) with a row in every tab."""
    c = factories.customer(ctx, phone=PHONE, email=EMAIL, birth_date=dt.date(1980, 2, 3))
    order = factories.order(ctx, c, paid="1500")
    ctx.add_all(
        [
            CustomerDocument(
                customer=c,
                kind="passport_rf",
                series="4510",
                number=PASSPORT_NUMBER,
                issued_by="ОВД",
                issue_date=dt.date(2010, 1, 1),
                division_code="770-001",
            ),
            Note(customer=c, text="Примечание-секрет"),
            MedicalRecord(customer=c, allergies=ALLERGY),
            Review(customer=c, rating=5, text="Отзыв"),
            Return(customer=c, order=order, amount=100, reason="Причина"),
        ]
    )
    ctx.add(AccessLog(customer_id=c.id, action="reveal", field="customer.phone", ip="10.0.0.1"))
    factories.branch(ctx, "Центральный")
    ctx.commit()
    return c


# view base url, resource, model, the POST data that adds a row (given the seeded
# customer and their order), and the column a write is read back by: the add posts
# ``NEW`` in it, the edit posts ``EDITED`` over the role's own edit form
NEW, EDITED = "Маркер-добавлено", "Маркер-изменено"
VIEWS = [
    (
        "customerview",
        "Customers",
        Customer,
        lambda c, o: {
            "last_name": "Новая",
            "first_name": "Ирина",
            "customer_type": "individual",
            "status": "active",
            "phone": "+79035550000",
            "discount": "0",
            "city": NEW,
        },
        "city",
    ),
    (
        "customerdocumentview",
        "Documents",
        CustomerDocument,
        lambda c, o: {"customer": str(c.id), "kind": "other", "number": "1", "issued_by": NEW},
        "issued_by",
    ),
    (
        "orderview",
        "Orders",
        Order,
        lambda c, o: {"customer": str(c.id), "kind": "visit", "paid": "0", "comment": NEW},
        "comment",
    ),
    (
        "returnview",
        "Returns",
        Return,
        lambda c, o: {"order": str(o.id), "amount": "1", "reason": NEW},
        "reason",
    ),
    (
        "reviewview",
        "Reviews",
        Review,
        lambda c, o: {"customer": str(c.id), "rating": "4", "moderation_status": "pending", "text": NEW},
        "text",
    ),
    ("noteview", "Notes", Note, lambda c, o: {"customer": str(c.id), "text": NEW}, "text"),
    (
        "medicalrecordview",
        "Anamnesis",
        MedicalRecord,
        lambda c, o: {"customer": str(c.id), "allergies": NEW},
        "allergies",
    ),
    ("branchview", "Reference", Branch, lambda c, o: {"name": NEW}, "name"),
    (
        "changelogview",
        "ChangeHistory",
        ChangeLog,
        lambda c, o: {"entity": "Customer", "action": NEW},
        "action",
    ),
    ("accesslogview", "AccessJournal", AccessLog, lambda c, o: {"action": NEW}, "action"),
]


def level(role_key, resource):
    """The pinned level (tests/matrix.py), not app/access.py's."""
    return matrix.level(role_key, resource)


def leaked_values(role_key):
    """Stored values this role must never receive (hidden or masked fields)."""
    values = []
    for key, strings in (
        ("customer.phone", [PHONE, PHONE_SHOWN]),
        ("customer.email", [EMAIL]),
        ("document.number", [PASSPORT_NUMBER]),
    ):
        if matrix.field_level(role_key, key) in (matrix.HIDE, matrix.MASK):
            values += strings
    if level(role_key, "Anamnesis") == matrix.N:
        values.append(ALLERGY)
    return values


def assert_no_leak(role_key, body, where):
    for value in leaked_values(role_key):
        assert value not in body, f"{role_key} received {value!r} at {where}"


def refused(response) -> bool:
    # 404: a route the resource does not have (the access journal has no write routes at all)
    return response.status_code in (403, 404) or "/login" in response.headers.get("Location", "")


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
@pytest.mark.parametrize("base, resource, model, add_data, column", VIEWS, ids=[v[0] for v in VIEWS])
def test_matrix(app, ctx, login_as, role_key, base, resource, model, add_data, column):
    """Every page of a screen as every role, expected from the pinned table: a read
    answers 200, a refusal 403; an allowed add or edit answers 302 *and* the row is
    read back with what was posted (a 422 or a 500 is not «allowed»); a refused one
    leaves the database as it was."""
    customer = seed(ctx)
    seeded_order = ctx.query(Order).one()
    row = ctx.query(model).first()
    row_id = row.id
    client = login_as(role_key)
    lvl = level(role_key, resource)
    # nobody's patient: out of a specialist's scope (reference data has no scope)
    card_scoped = role_key not in matrix.ALL_ROWS
    scoped = card_scoped and model is not Branch
    before = ctx.query(model).count()
    read = lvl in (matrix.R, matrix.W)
    write = lvl == matrix.W
    delete = write and matrix.may(role_key, "delete")
    export = matrix.exports(role_key, resource)

    def get(url, allowed):
        """allowed: True (200), False (403 / login), 404 (outside the role's rows)."""
        response = client.get(url)
        assert_no_leak(role_key, sheets.readable(response), f"GET {url}")
        if allowed == 404:
            assert response.status_code == 404, (url, response.status_code)
        elif allowed:
            assert response.status_code == 200, (url, response.status_code)
        else:
            assert refused(response), (url, response.status_code)
        return response

    def post(url, data):
        response = client.post(url, data=data)
        assert_no_leak(role_key, response.get_data(as_text=True), f"POST {url}")
        assert response.status_code < 500, (url, response.status_code)
        return response

    def scope(allowed):
        """Allowed by permission but outside the specialist's rows: 404, not 403."""
        return 404 if (allowed and scoped) else allowed

    def stored():
        ctx.expire_all()
        return ctx.get(model, row_id)

    get(f"/{base}/list/", read)
    # the card itself: tabs follow the matrix, no leaked values anywhere
    card = get(f"/customerview/show/{customer.id}", 404 if card_scoped else True)
    if not card_scoped:
        body = card.get_data(as_text=True)
        for tab in access_tabs():
            shown = f'href="#{tab.key}"' in body
            assert shown == (level(role_key, tab.view.class_permission_name) != matrix.N), (tab.key, role_key)
    get(f"/{base}/show/{row_id}", scope(read))
    get(f"/{base}/add", write)
    edit_form = get(f"/{base}/edit/{row_id}", scope(write))
    old_value = getattr(row, column)

    if model is AccessLog:  # reading the card above wrote its own rows: count from here
        ctx.expire_all()
        before = ctx.query(model).count()
    # add: the role's own customer where it is limited to its rows
    target = customer
    if write and scoped:
        target = factories.customer(ctx, last_name="Своя", phone="+79035550001")
        factories.order(ctx, target, specialist_id=user_id(app, role_key))
        before = ctx.query(model).count()
    added = post(f"/{base}/add", add_data(target, seeded_order))
    ctx.expire_all()
    if write:
        assert added.status_code == 302 and not refused(added), (base, added.status_code)
        assert ctx.query(model).count() == before + 1, "an allowed add stored no row"
        assert ctx.query(model).filter(getattr(model, column) == NEW).count() == 1
    else:
        assert refused(added), (base, added.status_code)
        assert ctx.query(model).count() == before, "a refused add stored a row"

    # edit: what the role's own form posts, one field changed
    if write and not scoped:
        fields = form_fields(edit_form.get_data(as_text=True))
        assert column in fields, f"{base}: the edit form has no {column}"
        edited = post(f"/{base}/edit/{row_id}", {**fields, column: EDITED})
        assert edited.status_code == 302 and not refused(edited), (base, edited.status_code)
        assert getattr(stored(), column) == EDITED, "an allowed edit changed nothing"
    else:
        edited = post(f"/{base}/edit/{row_id}", {**add_data(customer, seeded_order), column: EDITED})
        if scoped and write:
            assert edited.status_code == 404, (base, edited.status_code)
        else:
            assert refused(edited), (base, edited.status_code)
        assert getattr(stored(), column) == old_value, "a refused edit changed the row"

    for kind in sheets.FORMATS:  # the CSV and the workbook: the same rows, the same policy
        get(f"/{base}/export.{kind}", export)
    if model is Order:  # an order whose money moved is cancelled, never deleted: delete an unpaid one
        row_id = factories.order(ctx, customer, paid="0").id
    deleted = post(f"/{base}/delete/{row_id}", {})
    ctx.expire_all()
    if delete and not scoped:
        assert deleted.status_code == 302 and not refused(deleted), (base, deleted.status_code)
        assert ctx.query(model).filter_by(id=row_id).count() == 0, "an allowed delete kept the row"
    else:
        assert deleted.status_code == 404 if (delete and scoped) else refused(deleted), deleted.status_code
        assert ctx.query(model).filter_by(id=row_id).count() == 1, "a refused delete removed the row"


def access_tabs():
    from app.views import CustomerView

    return CustomerView.tabs


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_each_card_tab_shows_its_own_records(app, ctx, login_as, role_key):
    """FAB lists a view's related views in the order the views were registered
    with the app, and the card paired the n-th tab with the n-th of them: the
    manager's «Сообщения» showed the change history, «Согласия» the messages and
    «История изменений» the consents."""
    import re

    customer = seed(ctx)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))  # the specialist's patient
    page = login_as(role_key).get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    panes = dict(re.findall(r'data-tab="(\w+)">(.*?)(?=<div role="tabpanel"|\Z)', page, re.S))
    expected = {tab.key: tab.view.__name__ for tab in access_tabs() if tab.key in panes}
    shown = {key: re.search(r"psize_(\w+)=", body)[1] for key, body in panes.items()}
    assert shown == expected
    assert len(shown) == sum(
        level(role_key, tab.view.class_permission_name) != matrix.N for tab in access_tabs()
    )


def test_reception_card_has_documents_masked_and_no_anamnesis(ctx, login_as):
    customer = seed(ctx)
    client = login_as("reception")
    body = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert 'href="#anamnesis"' not in body
    assert 'href="#documents"' in body and 'href="#notes"' in body and 'href="#orders"' in body
    assert PASSPORT_NUMBER not in body and "****54" in body  # the saved passport, masked
    assert client.get("/customerdocumentview/list/").status_code == 200
    assert client.get("/medicalrecordview/list/").status_code == 403


def test_specialist_sees_anamnesis_only_for_own_customers(app, ctx, login_as):
    stranger = seed(ctx)
    own = factories.customer(ctx, last_name="Своя", phone="+79035550001", email="own@example.ru")
    factories.order(ctx, own, specialist_id=user_id(app, "doctor"))
    ctx.add(MedicalRecord(customer=own, allergies="Латекс"))
    ctx.commit()
    client = login_as("doctor")
    own_card = client.get(f"/customerview/show/{own.id}").get_data(as_text=True)
    assert 'href="#anamnesis"' in own_card and "Латекс" in own_card
    assert client.get(f"/customerview/show/{stranger.id}").status_code == 404
    listing = client.get("/customerview/list/").get_data(as_text=True)
    assert "Своя" in listing and "Иванова" not in listing
    assert ALLERGY not in client.get("/medicalrecordview/list/").get_data(as_text=True)
    # the phone is masked for a specialist, revealed on an explicit click and journaled
    assert "+7 *** ***-00-01" in own_card
    revealed = client.post(f"/customerview/{own.id}/reveal/phone")
    assert revealed.get_json()["value"] == "8 (903) 555-00-01"
    (entry,) = (
        ctx.query(AccessLog)
        .filter(AccessLog.user_id.isnot(None), AccessLog.action == AccessAction.REVEAL)
        .all()
    )
    assert (entry.customer_id, entry.field, entry.user_id) == (
        own.id,
        "customer.phone",
        user_id(app, "doctor"),
    )
    assert client.post(f"/customerview/{own.id}/reveal/email").status_code == 403
    journal = login_as("auditor").get("/accesslogview/list/").get_data(as_text=True)
    assert "Показ скрытого поля" in journal and "Телефон" in journal and "127.0.0.1" in journal
    assert login_as("reception").get("/accesslogview/list/").status_code == 403


def test_hidden_field_in_post_changes_nothing(app, ctx, login_as):
    """The front desk, who may write the customer's form, with the e-mail hidden from
    their role (an administrator's change on the roles screen): a POST that carries
    an e-mail saves the rest of the form and leaves the stored e-mail as it was; the
    API refuses the field outright. (It posted as the auditor, who may write nothing,
    so a form that stored every posted field passed.)"""
    customer = seed(ctx)
    sm = app.appbuilder.sm
    role = sm.find_role(matrix.NAMES["reception"])
    view = access.FIELD_PREFIX + "customer.email"
    role.permissions = [pv for pv in role.permissions if pv.view_menu.name != view]
    sm.session.commit()
    try:
        client = login_as("reception")
        page = client.get(f"/customerview/edit/{customer.id}").get_data(as_text=True)
        fields = form_fields(page)
        assert "email" not in fields and EMAIL not in page  # hidden: not in the form at all
        posted = client.post(
            f"/customerview/edit/{customer.id}", data={**fields, "city": "Тула", "email": "thief@example.ru"}
        )
        assert posted.status_code == 302, posted.get_data(as_text=True)[-2000:]
        ctx.expire_all()
        stored = ctx.get(Customer, customer.id)
        assert stored.city == "Тула"  # the write went through…
        assert stored.email == EMAIL  # …without the hidden field
        api = client.put(f"/api/v1/customers/{customer.id}", json={"email": "thief@example.ru"})
        assert api.status_code == 403
        ctx.expire_all()
        assert ctx.get(Customer, customer.id).email == EMAIL
    finally:
        access.sync_roles(reset=True)


def test_filter_on_hidden_field_is_not_an_oracle(app, ctx, login_as):
    customer = seed(ctx)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))
    client = login_as("doctor")
    hit = client.get("/customerview/list/", query_string={"_flt_0_phone": "4567"}).get_data(as_text=True)
    miss = client.get("/customerview/list/", query_string={"_flt_0_phone": "0000"}).get_data(as_text=True)
    assert ("Иванова" in hit) == ("Иванова" in miss)
    by_q = client.get("/customerview/list/", query_string={"q": "45-67"}).get_data(as_text=True)
    assert "Иванова" not in by_q


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_signed_in_user_gets_exactly_their_roles_permissions(app, ctx, role_key):
    """The permission set loaded with the user is their roles' and nobody else's."""
    sm = app.appbuilder.sm
    user = sm.load_user(user_id(app, role_key))
    expected = {
        (pv.permission.name, pv.view_menu.name)
        for role in sm.find_user(username=role_key).roles
        for pv in role.permissions
    }
    loaded = user._kartoteka_perms
    assert loaded == expected
    others = {
        (pv.permission.name, pv.view_menu.name)
        for other in access.ROLES
        if other != role_key
        for pv in sm.find_role(access.ROLES[other].name).permissions
    }
    assert others - expected, "another role has permissions this one lacks"
    assert not (others - expected) & loaded


def test_permission_removed_in_ui_takes_effect_on_next_request(app, ctx, login_as):
    customer = seed(ctx)
    client = login_as("reception")
    assert client.get("/noteview/list/").status_code == 200
    sm = app.appbuilder.sm
    role = sm.find_role(access.ROLES["reception"].name)
    pv = sm.find_permission_view_menu("can_read", access.NOTES)
    role.permissions.remove(pv)
    sm.session.commit()
    try:
        assert client.get("/noteview/list/").status_code == 403
        assert 'href="#notes"' not in client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    finally:
        access.sync_roles(reset=True)


def test_the_roles_screen_says_what_a_role_may_do_and_edits_it(app, ctx, login_as):
    """The roles screen listed «can mask on Field:customer.phone», «menu access on
    Journal»… as one Python list per role, in no order."""
    import re

    sm = app.appbuilder.sm
    manager = sm.find_role(access.ROLES["manager"].name)
    client = login_as("sysadmin")
    page = client.get("/roles/list/").get_data(as_text=True)
    assert "can read on" not in page and "Field:customer" not in page
    row = re.search(r"Управляющий</td>.*?</tr>", page, re.S)[0]
    assert (
        "<strong>Клиенты:</strong> просмотр, добавление и изменение, удаление, выгрузка, смена статуса, "
        "блокировка и снятие блокировки, загрузка из файла, ведёт клиентов (в списке «Менеджер»), "
        "все клиенты, а не только свои" in row
    )
    assert "<strong>Поле «Телефон»:</strong> видит и изменяет</li>" in row  # the strongest level only
    assert "<strong>Свой профиль, пароль и язык:</strong> да" in row
    assert "Анамнез" not in row.split("Пункты меню")[0]

    form = client.get(f"/roles/edit/{manager.id}").get_data(as_text=True)
    delete = sm.find_permission_view_menu("can_delete", access.CUSTOMERS)
    # grouped as the matrix is, not one select of a hundred options in FAB's names
    clients = re.search(r"<legend>Клиенты</legend>(.*?)</fieldset>", form, re.S)[1]
    assert f'value="{delete.id}" checked> удаление</label>' in clients
    assert "this form get" not in form and "UserInfoEditView" not in form
    assert (
        "<legend>Свой профиль, пароль и язык</legend>" in form
        and "Смена своего пароля: открыть форму" in form
    )
    kept = [pv.id for pv in manager.permissions if pv.id != delete.id]
    try:
        response = client.post(f"/roles/edit/{manager.id}", data={"name": manager.name, "permissions": kept})
        assert response.status_code == 302
        ctx.expire_all()
        assert delete not in sm.find_role(access.ROLES["manager"].name).permissions
        assert len(sm.find_role(access.ROLES["manager"].name).permissions) == len(kept)
    finally:
        access.sync_roles(reset=True)


def test_every_route_is_guarded(app, client):
    """Anonymous requests to any route get the login page or 403/404/405, never data."""
    public = {
        "static",
        "appbuilder.static",
        "AuthDBView.login",
        "LocaleView.index",
        "HomeView.index",
        "AuthDBView.logout",
        "UtilView.back",
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public or "GET" not in rule.methods:
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = (
                url.replace(f"<{arg}>", "1")
                .replace(f"<int:{arg}>", "1")
                .replace(f"<string:{arg}>", "x")
                .replace(f"<path:{arg}>", "x")
            )
        response = client.get(url)
        assert response.status_code in (302, 401, 403, 404, 405), (rule.endpoint, response.status_code)
        if response.status_code == 302 and not rule.endpoint.endswith(".action"):
            # FAB's action route refuses by redirecting back; every other one to the login page
            assert "/login" in response.headers["Location"], rule.endpoint


API = [
    # resource, pinned resource name, model, the column a write is read back by, a new row
    (
        "customers",
        "Customers",
        Customer,
        "city",
        lambda c: {
            "last_name": "А",
            "first_name": "Б",
            "phone": "+79035550008",
            "consent_treatment": "screen",
        },
    ),
    ("orders", "Orders", Order, "comment", lambda c: {"customer": c.id, "kind": "visit"}),
    ("notes", "Notes", Note, "text", lambda c: {"customer": c.id}),
    (
        "documents",
        "Documents",
        CustomerDocument,
        "issued_by",
        lambda c: {"customer": c.id, "kind": "other", "number": "1"},
    ),
    ("anamnesis", "Anamnesis", MedicalRecord, "allergies", lambda c: {"customer": c.id}),
]


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
@pytest.mark.parametrize("resource_name, resource, model, column, new", API, ids=[a[0] for a in API])
def test_api_matrix(app, ctx, login_as, role_key, resource_name, resource, model, column, new):
    """The REST API answers as the pages do: permissions, row scope, hidden and masked
    fields, expected from the pinned table. An allowed write answers exactly 201 or
    200 and is read back from the database (an update answering 500 or 422 passed
    before); a refused one changes nothing."""
    customer = seed(ctx)
    row = ctx.query(model).first()
    row_id, old_value = row.id, getattr(row, column)
    client = login_as(role_key)
    read = matrix.reads(role_key, resource)
    write = matrix.writes(role_key, resource)
    scoped = role_key not in matrix.ALL_ROWS
    listing = client.get(f"/api/v1/{resource_name}/")
    one = client.get(f"/api/v1/{resource_name}/{row_id}")
    for response in (listing, one):
        assert_no_leak(role_key, response.get_data(as_text=True), f"API {resource_name}")
    if not read:
        assert listing.status_code == 403 and one.status_code == 403
    else:
        assert listing.status_code == 200
        assert one.status_code == (404 if scoped else 200)
        if not scoped:
            assert listing.get_json()["count"] == 1

    def stored(pk):
        ctx.expire_all()
        return getattr(ctx.get(model, pk), column)

    changed = client.put(f"/api/v1/{resource_name}/{row_id}", json={column: EDITED})
    if write and not scoped:
        assert changed.status_code == 200, changed.get_data(as_text=True)
        assert changed.get_json()["result"][column] == EDITED
        assert stored(row_id) == EDITED, "an allowed update answered 200 and stored nothing"
    else:
        assert changed.status_code == (404 if write else 403), changed.get_data(as_text=True)
        assert stored(row_id) == old_value, "a refused update changed the row"

    target = customer
    if write and scoped:  # the role's own patient
        target = factories.customer(ctx, last_name="Своя", phone="+79035550001")
        factories.order(ctx, target, specialist_id=user_id(app, role_key))
    before = ctx.query(model).count()
    created = client.post(f"/api/v1/{resource_name}/", json={**new(target), column: NEW})
    ctx.expire_all()
    if write:
        assert created.status_code == 201, created.get_data(as_text=True)
        assert stored(created.get_json()["id"]) == NEW, "an allowed create answered 201 and stored nothing"
        assert ctx.query(model).count() == before + 1
    else:
        assert created.status_code == 403, created.get_data(as_text=True)
        assert ctx.query(model).count() == before, "a refused create stored a row"


def test_api_refuses_writes_to_masked_fields(ctx, login_as, app):
    customer = seed(ctx)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))
    manager = login_as("manager")
    ok = manager.put(f"/api/v1/customers/{customer.id}", json={"city": "Тула"})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    sysadmin = login_as("sysadmin")  # reads customers, may not write them
    refused = sysadmin.put(f"/api/v1/customers/{customer.id}", json={"phone": "+79990000000"})
    assert refused.status_code == 403
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).phone == PHONE
    assert ctx.get(Customer, customer.id).city == "Тула"


@pytest.mark.parametrize("kind", sheets.FORMATS)
@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_export_follows_the_policy_and_is_journaled(ctx, login_as, role_key, kind):
    seed(ctx)
    client = login_as(role_key)
    response = client.get(f"/customerview/export.{kind}")
    allowed = matrix.exports(role_key, "Customers")
    body = sheets.readable(response)
    assert_no_leak(role_key, body, "export")
    ctx.expire_all()
    if allowed:
        assert response.status_code == 200 and "Иванова Анна Сергеевна" in body
        (entry,) = ctx.query(AccessLog).filter_by(action="export").all()
        assert entry.detail == "Customers: 1" and entry.user.username == role_key
    else:
        assert response.status_code == 403
        assert ctx.query(AccessLog).filter_by(action="export").count() == 0


def test_the_journal_says_what_was_exported_and_whose(ctx, login_as):
    """The auditor read «Customers: 300» (the resource's code name), and a card
    tab's export — one customer's orders — named no customer."""
    import re

    customer = seed(ctx)
    client = login_as("manager")
    assert client.get("/customerview/export.csv").status_code == 200
    assert client.get("/ordertab/export.csv", query_string={"_rel_customer": customer.id}).status_code == 200
    ctx.expire_all()
    tab_export = ctx.query(AccessLog).filter_by(action="export", detail="Orders: 1").one()
    assert tab_export.customer_id == customer.id
    auditor = login_as("auditor")
    journal = auditor.get("/accesslogview/list/").get_data(as_text=True)
    assert "Клиенты: 1 запись" in journal and "Заказы: 1 запись" in journal
    assert "Customers: 1" not in journal
    card = auditor.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    pane = re.search(r'data-tab="access">(.*?)(?=<div role="tabpanel"|\Z)', card, re.S)[1]
    assert "Выгрузка" in pane


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_status_action_follows_matrix(ctx, login_as, role_key):
    """Each way to change a status, each status, each role, read back from the
    database (pinned here, not read from app/access.py): the front desk flags a
    customer «Проблемный» and never blocks; only the manager blocks and unblocks."""
    may = STATUS_RIGHTS[role_key]
    customer = seed(ctx)
    sent_before = ctx.query(Message).count()  # the seeded order's confirmation
    client = login_as(role_key)

    def stored():
        ctx.expire_all()
        return ctx.get(Customer, customer.id).status.value

    def reset():
        ctx.get(Customer, customer.id).status = CustomerStatus.ACTIVE
        ctx.commit()

    for status in ("problem", "blocked"):
        for way in ("card", "bulk"):
            reset()
            if way == "card":
                response = client.post(f"/customerview/{customer.id}/status", data={"status": status})
            else:
                response = client.post(
                    "/customerview/action_post",
                    data={"action": f"status_{status}", "rowid": [str(customer.id)]},
                )
            assert stored() == (status if may[status] else "active"), (way, status)
            if may[status]:  # each way says what it did
                assert response.status_code == 302, (way, status, response.status_code)
                said = client.get(response.headers["Location"]).get_data(as_text=True)
                label = {"problem": "Проблемный", "blocked": "Заблокирован"}[status]
                done = f"Статус клиента изменён: {label}." if way == "card" else "Статус изменён у 1 клиента."
                assert done in said, (way, status)
            elif way == "card":  # the front desk asking to block is told who may
                assert response.status_code == 403, (way, status, response.status_code)
                if may["problem"]:
                    assert BLOCK_REFUSED in response.get_data(as_text=True)
            else:  # the action route refuses as every route does (it redirected to «/»)
                assert response.status_code == 403, (way, status, response.status_code)
                assert "Нет доступа: у вашей роли нет прав" in response.get_data(as_text=True), (way, status)
            ctx.expire_all()
            assert ctx.query(Message).count() == sent_before, "a staff-only flag was sent to the customer"
    if may["problem"] and not may["blocked"]:  # nor may they lift a block
        ctx.get(Customer, customer.id).status = CustomerStatus.BLOCKED
        ctx.commit()
        denied = client.post(f"/customerview/{customer.id}/status", data={"status": "active"})
        assert denied.status_code == 403
        assert BLOCK_REFUSED in denied.get_data(as_text=True)
        assert stored() == "blocked"


BLOCK_REFUSED = "Блокировать клиента и снимать блокировку может только управляющий."
STATUS_RIGHTS = {
    "sysadmin": {"problem": False, "blocked": False},
    "manager": {"problem": True, "blocked": True},
    "reception": {"problem": True, "blocked": False},
    "doctor": {"problem": False, "blocked": False},
    "auditor": {"problem": False, "blocked": False},
}


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_posts_without_csrf_token_change_nothing(app, ctx, login_as, role_key):
    customer = seed(ctx)
    note = ctx.query(Note).first()
    client = login_as(role_key)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        for url, data in (
            (f"/customerview/delete/{customer.id}", {}),
            (f"/noteview/edit/{note.id}", {"customer": str(customer.id), "text": "подмена"}),
            (f"/customerview/{customer.id}/notes", {"text": "подмена"}),
            (f"/customerview/{customer.id}/status", {"status": "blocked"}),
            ("/customerview/action_post", {"action": "status_blocked", "rowid": str(customer.id)}),
        ):
            assert client.post(url, data=data).status_code in (400, 403, 404), url
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    ctx.expire_all()
    assert ctx.get(Customer, customer.id).status.value == "active"
    assert [n.text for n in ctx.query(Note)] == ["Примечание-секрет"]


def test_change_history_records_fields_and_follows_the_policy(ctx, login_as):
    from app.models import ChangeLog

    customer = seed(ctx)
    manager = login_as("manager")
    form = {
        "last_name": "Иванова",
        "first_name": "Анна",
        "customer_type": "individual",
        "status": "active",
        "phone": "+7 903 555-00-02",
        "email": EMAIL,
        "discount": "0",
        "version": str(customer.version),
    }
    assert manager.post(f"/customerview/edit/{customer.id}", data=form).status_code == 302
    manager.post(f"/customerview/{customer.id}/status", data={"status": "problem"})
    record = ctx.query(MedicalRecord).one()
    record.allergies = "Новая-аллергия-Y"
    ctx.commit()
    ctx.expire_all()
    changes = {
        (c.entity, c.field): (c.old_value, c.new_value)
        for c in ctx.query(ChangeLog).filter_by(action="update")
    }
    assert changes[("Customer", "phone")] == (PHONE, "+79035550002")
    assert changes[("Customer", "status")] == ("Активен", "Проблемный")
    assert changes[("MedicalRecord", "allergies")] == (None, None)  # no medical values in the history
    auditor_view = login_as("auditor").get("/changelogview/list/").get_data(as_text=True)
    assert "Проблемный" in auditor_view
    assert "+79035550002" not in auditor_view and "+7 *** ***-00-02" in auditor_view
    manager_view = login_as("manager").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert 'href="#history"' in manager_view and "+79035550002" in manager_view
    assert login_as("reception").get("/changelogview/list/").status_code == 403


def test_posting_a_field_the_role_may_not_write_changes_nothing(app, ctx, login_as):
    """A role with write on customers but only a masked phone cannot overwrite the phone."""
    customer = seed(ctx)
    sm = app.appbuilder.sm
    role = sm.find_role(access.ROLES["reception"].name)
    role.permissions.remove(sm.find_permission_view_menu("can_write", access.FIELD_PREFIX + "customer.phone"))
    role.permissions.remove(sm.find_permission_view_menu("can_read", access.FIELD_PREFIX + "customer.phone"))
    sm.session.commit()
    try:
        client = login_as("reception")
        form = client.get(f"/customerview/edit/{customer.id}").get_data(as_text=True)
        assert 'name="phone"' not in form and PHONE_SHOWN not in form
        data = {
            "last_name": "Иванова",
            "first_name": "Анна",
            "customer_type": "individual",
            "phone": "+79990000000",
            "email": EMAIL,
            "discount": "0",
            "version": str(customer.version),
        }
        assert client.post(f"/customerview/edit/{customer.id}", data=data).status_code == 302
        ctx.expire_all()
        assert ctx.get(Customer, customer.id).phone == PHONE
    finally:
        access.sync_roles(reset=True)


def test_api_speaks_the_screens_language(ctx, login_as):
    """The API's labels and titles are the screens' (FAB made «Registered At», «List
    Customer»), and a field without a description has none (FAB translated the
    empty string, which gives the translation catalog's header)."""
    seed(ctx)
    client = login_as("manager")
    listing = client.get("/api/v1/customers/?q=(page_size:1)").get_json()
    assert listing["list_title"] == "Клиенты"
    assert listing["label_columns"]["registered_at"] == "Дата регистрации"
    assert listing["label_columns"]["phone"] == "Телефон"
    orders = client.get("/api/v1/orders/?q=(page_size:1)").get_json()
    assert orders["label_columns"]["customer.id"] == "Клиент (ID)"
    info = client.get("/api/v1/customers/_info").get_json()
    assert {c["description"] for c in info["add_columns"]} == {""}
    assert {c["label"] for c in info["add_columns"]} >= {"Фамилия", "Телефон", "Город"}


def test_a_specialist_sees_no_balances_of_the_customer(app, ctx, login_as):
    """DESIGN: a specialist never sees «finances beyond their own orders»: the card
    keeps their orders' figures and leaves off the bonus and deposit balances."""
    customer = factories.customer(ctx, bonus_balance=Decimal("150.00"), deposit_balance=Decimal("2000.00"))
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))
    from app import formatting

    with app.test_request_context():
        deposit = formatting.money(Decimal("2000.00"))  # «2 000,00 ₽», with the locale's spaces
    doctor = login_as("doctor").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "kpi-orders" in doctor
    assert "kpi-deposit" not in doctor and deposit not in doctor and "Депозит" not in doctor
    manager = login_as("manager").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "kpi-deposit" in manager and deposit in manager


def test_a_new_field_rule_reaches_existing_roles_at_its_defaults(app):
    """A field rule added in a new version (customer.balances) starts at its default
    levels in roles that already exist; an administrator's change elsewhere stays."""
    with app.app_context():
        sm = app.appbuilder.sm
        view = access.FIELD_PREFIX + "customer.balances"
        for role_key in access.ROLES:
            role = sm.find_role(access.ROLES[role_key].name)
            role.permissions = [pv for pv in role.permissions if pv.view_menu.name != view]
        for pv in sm.session.query(sm.permissionview_model).all():
            if pv.view_menu.name == view:
                sm.session.delete(pv)
        reception = sm.find_role(access.ROLES["reception"].name)
        notes = sm.find_permission_view_menu("can_write", access.NOTES)
        reception.permissions.remove(notes)  # an administrator's change
        sm.session.commit()
        try:
            assert access.sync_roles() == []  # what a restart runs
            granted = {
                key: {
                    pv.permission.name
                    for pv in sm.find_role(spec.name).permissions
                    if pv.view_menu.name == view
                }
                for key, spec in access.ROLES.items()
            }
            assert granted["manager"] == {"can_mask", "can_read"}
            assert granted["doctor"] == set()
            assert notes not in sm.find_role(access.ROLES["reception"].name).permissions
        finally:
            access.sync_roles(reset=True)


def test_api_errors_speak_the_users_language(ctx, login_as):
    """Marshmallow's and FAB's messages («Longer than maximum length 100.», «Not found»)
    reached the user in English."""
    client = login_as("manager")
    refused = client.post(
        "/api/v1/customers/", json={"last_name": "Я" * 101, "phone": "+79161234567", "birth_date": "вчера"}
    )
    assert refused.status_code == 422
    message = refused.get_json()["message"]
    assert message["last_name"] == ["Не длиннее 100 символов."]
    assert message["birth_date"] == ["Нужна дата в виде ГГГГ-ММ-ДД."]
    missing = client.get("/api/v1/customers/2147483000")
    assert (missing.status_code, missing.get_json()["message"]) == (404, "Запись не найдена.")
    negative = client.get("/api/v1/customers/?q=(page:-1)")  # PostgreSQL refused OFFSET -20: 500
    assert (negative.status_code, negative.get_json()["message"]) == (
        400,
        "Номер страницы — целое число от 0.",
    )
    unknown = client.get("/api/v1/customers/?q=(filters:!((col:status,opr:eq,value:nope)))")
    assert unknown.status_code == 400 and "active, verified" in unknown.get_json()["message"]
    bad_query = client.get("/api/v1/customers/?q=((((")
    assert bad_query.status_code == 400  # FAB's parser raised and the API answered 500
    assert bad_query.get_json()["message"].startswith("Параметр q не разобран")
