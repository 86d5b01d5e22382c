"""«История изменений», complete (issue 19, item 4): every field of the customer and
of their records, tags and extra fields included, with creation and deletion; kept
after the customer is deleted; no-op saves not written; values shown by the field policy."""

from __future__ import annotations

import datetime as dt
import html

from app import audit
from app.models import (
    AttributeKind,
    ChangeLog,
    Customer,
    CustomerAttribute,
    CustomerDocument,
    CustomerType,
    Note,
    Tag,
)
from tests import factories
from tests.conftest import user_id
from tests.html_forms import form_fields

PASSPORT = "556677"


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.get_data(as_text=True))


def rows(ctx, customer_id, since=0) -> list[tuple]:
    ctx.expire_all()
    return [
        (c.entity, c.action, c.field, c.old_value, c.new_value)
        for c in ctx.query(ChangeLog)
        .filter(ChangeLog.customer_id == customer_id, ChangeLog.id > since)
        .order_by(ChangeLog.id)
    ]


def last_id(ctx) -> int:
    return max((c.id for c in ctx.query(ChangeLog)), default=0)


def edit_customer(client, customer_id, **changes):
    data = form_fields(client.get(f"/customerview/edit/{customer_id}").get_data(as_text=True))
    data.update(changes)
    saved = client.post(f"/customerview/edit/{customer_id}", data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:3000]


def test_a_tag_added_and_removed_on_the_form_is_recorded_and_named_in_russian(app, ctx, login_as):
    vip, debtor = Tag(name="VIP", color="#ff0000"), Tag(name="Должник", color="#000000")
    ctx.add_all([vip, debtor])
    customer = factories.customer(ctx)
    ctx.commit()
    client = login_as("manager")
    start = last_id(ctx)
    edit_customer(client, customer.id, tags=[str(vip.id), str(debtor.id)])
    edit_customer(client, customer.id, tags=[str(vip.id)])
    assert rows(ctx, customer.id, start) == [
        ("Customer", "update", "tags", None, "VIP, Должник"),
        ("Customer", "update", "tags", "VIP, Должник", "VIP"),
    ]
    written = {c.user_id for c in ctx.query(ChangeLog).filter(ChangeLog.id > start)}
    assert written == {user_id(app, "manager")}
    tab = page(client, f"/changelogtab/list/?_flt_0_customer={customer.id}")
    assert "Теги" in tab and "Клиент" in tab and "изменение" in tab and ">tags<" not in tab
    # the same tags saved again: nothing
    start = last_id(ctx)
    edit_customer(client, customer.id, tags=[str(vip.id)])
    edit_customer(client, customer.id)
    assert rows(ctx, customer.id, start) == []


def test_an_extra_field_is_recorded_by_its_label(ctx, login_as):
    inn = CustomerAttribute(customer_type=CustomerType.INDIVIDUAL, label="ИНН", kind=AttributeKind.TEXT)
    ctx.add(inn)
    customer = factories.customer(ctx)
    client = login_as("manager")
    start = last_id(ctx)
    field = f"attr_{inn.id}"
    edit_customer(client, customer.id, **{field: "770100000001"})
    edit_customer(client, customer.id, **{field: "770100000002"})
    edit_customer(client, customer.id, **{field: "770100000002"})  # unchanged: not written
    edit_customer(client, customer.id, **{field: ""})
    name = audit.attribute_field(inn.id)
    assert rows(ctx, customer.id, start) == [
        ("Customer", "update", name, None, "770100000001"),
        ("Customer", "update", name, "770100000001", "770100000002"),
        ("Customer", "update", name, "770100000002", None),
    ]
    listing = page(client, "/changelogview/list/")
    assert "Доп. поле «ИНН»" in listing and name not in listing


def test_a_related_record_is_recorded_when_created_changed_and_deleted(ctx, login_as):
    customer = factories.customer(ctx)
    client = login_as("manager")
    start = last_id(ctx)
    card = f"/customerview/show/{customer.id}"
    client.get(card)
    added = client.post(f"/noteview/add?_flt_0_customer={customer.id}", data={"text": "Первое"})
    assert added.status_code == 302
    note = ctx.query(Note).filter_by(customer_id=customer.id).one()
    edited = client.post(f"/noteview/edit/{note.id}", data={"customer": str(customer.id), "text": "Второе"})
    assert edited.status_code == 302
    assert client.post(f"/noteview/delete/{note.id}").status_code == 302
    written = rows(ctx, customer.id, start)
    assert ("Note", "create", "text", None, "Первое") in written
    assert ("Note", "update", "text", "Первое", "Второе") in written
    assert ("Note", "delete", "text", "Второе", None) in written
    assert [w[1] for w in written if w[0] == "Note"][-1] == "delete"
    tab = page(client, f"/changelogtab/list/?_flt_0_customer={customer.id}")
    for word in ("Примечание", "создание", "изменение", "удаление", "Второе"):
        assert word in tab, word


def test_deleting_a_customer_is_recorded_and_the_history_is_kept(ctx, login_as):
    vip = Tag(name="VIP", color="#ff0000")
    ctx.add(vip)
    customer = factories.customer(ctx, city="Тула", tags=[vip])
    customer_id = customer.id
    customer.city = "Орёл"
    ctx.commit()
    ctx.expunge_all()
    client = login_as("manager")
    assert client.post(f"/customerview/delete/{customer_id}").status_code == 302
    assert ctx.get(Customer, customer_id) is None
    written = rows(ctx, customer_id)
    assert ("Customer", "create", "city", None, "Тула") in written
    assert ("Customer", "update", "city", "Тула", "Орёл") in written
    assert ("Customer", "delete", "city", "Орёл", None) in written
    assert ("Customer", "delete", "tags", "VIP", None) in written
    assert ("Customer", "delete", "phone", "+79161234567", None) in written
    # the auditor reads it in the history's list
    listing = page(login_as("auditor"), "/changelogview/list/")
    assert "удаление" in listing and "Орёл" in listing


def test_a_new_customer_given_a_deleted_ones_id_does_not_inherit_their_history(ctx, login_as):
    """SQLite gives the id of a deleted last row to the next one: the card of the new
    customer showed the deleted customer's kept history as its own."""
    gone = factories.customer(ctx, city="Прежний-город")
    gone_id = gone.id
    ctx.delete(gone)
    ctx.commit()
    fresh = factories.customer(ctx, phone="+79035550077", city="Новый-город")
    tab = page(login_as("manager"), f"/changelogtab/list/?_flt_0_customer={fresh.id}")
    assert "Новый-город" in tab and "Прежний-город" not in tab
    assert rows(ctx, gone_id)  # kept, whichever id the new one got


def test_the_values_of_created_and_deleted_records_follow_the_field_policy(ctx, login_as):
    customer = factories.customer(ctx)
    factories.order(ctx, customer)
    document = CustomerDocument(
        customer=customer,
        kind="passport_rf",
        series="4510",
        number=PASSPORT,
        issued_by="ОВД",
        issue_date=dt.date(2010, 1, 1),
        division_code="770-001",
    )
    ctx.add(document)
    ctx.commit()
    ctx.delete(document)
    ctx.commit()
    written = rows(ctx, customer.id)
    assert ("CustomerDocument", "create", "number", None, PASSPORT) in written
    assert ("CustomerDocument", "delete", "number", PASSPORT, None) in written
    for role in ("auditor", "sysadmin"):
        listing = page(login_as(role), "/changelogview/list/")
        assert PASSPORT not in listing, role
    assert "****77" in page(login_as("auditor"), "/changelogview/list/")
    assert PASSPORT in page(login_as("manager"), "/changelogview/list/")


def test_every_tracked_record_and_field_has_a_russian_name(app):
    from app.admin.history import field_label, record_label

    unnamed = []
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        for model in audit.TRACKED:
            name = model.__name__
            if str(record_label(name)).isascii():
                unnamed.append(name)
            references = audit._references(model)
            for attr in model.__mapper__.column_attrs:
                if attr.key in audit.SKIP or attr.key == "customer_id":
                    continue
                field = references.get(attr.key, (attr.key,))[0]  # written by its relation's name
                if str(field_label(name, field)).isascii():
                    unnamed.append((name, field))
    assert unnamed == [], unnamed
