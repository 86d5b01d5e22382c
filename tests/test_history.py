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
            references = audit.references(model)
            for key in audit._columns(model):  # the fields it records
                field = references.get(key, (key,))[0]  # written by its relation's name
                if str(field_label(name, field)).isascii():
                    unnamed.append((name, field))
    assert unnamed == [], unnamed


def test_deleting_a_customer_records_the_deletion_of_every_record_the_database_deletes_with_it(
    app, ctx, login_as
):
    """The database deletes the customer's records with the customer (ON DELETE CASCADE):
    each of them is a «удаление» row of the history, with its values, and a scan's
    content leaves the disk with its row."""
    from app import consents, files, notifications
    from app.models import (
        Channel,
        CustomerFile,
        MedicalRecord,
        Message,
        MessageType,
        NotificationConsent,
        Order,
        OrderItem,
        Payment,
        ProcessingConsent,
        Review,
    )

    vip = Tag(name="VIP", color="#ff0000")
    inn = CustomerAttribute(customer_type=CustomerType.INDIVIDUAL, label="ИНН", kind=AttributeKind.TEXT)
    ctx.add_all([vip, inn])
    customer = factories.customer(ctx, city="Тула", tags=[vip])
    order = factories.order(ctx, customer, items=(("Массаж", "2000.00", 2),), paid="1000")
    ctx.add_all(
        [
            CustomerDocument(customer=customer, kind="other", number=PASSPORT, issued_by="ОВД"),
            Note(customer=customer, text="Перезвонить"),
            MedicalRecord(customer=customer, allergies="пыльца"),
            NotificationConsent(
                customer=customer, message_type=MessageType.MARKETING, channel=Channel.SMS, allowed=False
            ),
            Review(customer=customer, order=order, rating=5, text="Спасибо"),
        ]
    )
    ctx.commit()
    from app import customers

    customers.set_attributes(ctx, customer, {inn.id: "7701234567"})
    with app.test_request_context():
        scan = files.add_file(ctx, customer, "скан.pdf", b"%PDF-1.4\nCASCADE-SCAN\n%%EOF\n")
        ctx.flush()
        consents.record(ctx, customer, "treatment", given=True, method="paper", file_id=scan.id)
        notifications.queue_notification(ctx, customer, MessageType.MANUAL, (Channel.EMAIL,), text="Ждём вас")
        ctx.commit()
    scan_path = files.stored_path(scan)
    assert scan_path.is_file()
    customer_id, inn_id = customer.id, inn.id
    expected = {
        "CustomerDocument": ("number", PASSPORT),
        "Note": ("text", "Перезвонить"),
        "MedicalRecord": ("allergies", None),  # valueless, as everywhere
        "NotificationConsent": ("allowed", "False"),
        "ProcessingConsent": ("given", "True"),
        "CustomerFile": ("name", "скан.pdf"),
        "Order": ("total", "4000.00"),
        "OrderItem": ("name", "Массаж"),
        "Payment": ("amount", "1000.00"),
        "Review": ("text", "Спасибо"),
        "Message": ("body", None),  # the text is the template's: present, whatever it says
    }
    counts = {
        model.__name__: ctx.query(model).count()
        for model in (CustomerFile, ProcessingConsent, Order, OrderItem, Payment, Message)
    }
    assert all(counts.values()), counts
    since = last_id(ctx)
    ctx.expunge_all()
    assert login_as("manager").post(f"/customerview/delete/{customer_id}").status_code == 302
    assert ctx.get(Customer, customer_id) is None
    written = rows(ctx, customer_id, since)
    deleted = {entity for entity, action, *_ in written if action == "delete"}
    assert set(expected) | {"Customer"} <= deleted, set(expected) - deleted
    for entity, (field, value) in expected.items():
        found = [w for w in written if w[:3] == (entity, "delete", field)]
        assert found, (entity, field)
        if value is not None:
            assert found[0][3] == value, (entity, found)
    assert ("Customer", "delete", f"attribute:{inn_id}", "7701234567", None) in written
    assert ("Customer", "delete", "tags", "VIP", None) in written
    deletions = [w for w in written if w[1] == "delete"]
    assert len(deletions) == len(set(deletions)), "a deletion recorded twice"
    assert not scan_path.exists(), "the scan's content stayed on the disk"


def test_deleting_an_order_records_its_items_and_the_records_that_lose_it(ctx, login_as):
    from app.models import Order, Review

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Массаж", "2000.00", 1), ("Крем", "500.00", 1)))
    review = Review(customer=customer, order=order, rating=4, text="Хорошо")
    ctx.add(review)
    ctx.commit()
    order_id, review_id, customer_id = order.id, review.id, customer.id
    since = last_id(ctx)
    ctx.expunge_all()
    assert login_as("manager").post(f"/orderview/delete/{order_id}").status_code == 302
    assert ctx.get(Order, order_id) is None
    written = rows(ctx, customer_id, since)
    items = sorted(w[3] for w in written if w[:3] == ("OrderItem", "delete", "name"))
    assert items == ["Крем", "Массаж"], written
    assert ("Review", "update", "order", f"Заказ №{order_id}", None) in written
    assert ctx.get(Review, review_id).order_id is None


def test_order_items_are_recorded_when_added_changed_and_removed_without_no_op_saves(ctx, login_as):
    from app.models import OrderItem

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Массаж", "2000.00", 1),))
    (item,) = order.items
    item_id = item.id
    written = rows(ctx, customer.id)
    assert ("OrderItem", "create", "name", None, "Массаж") in written
    assert ("OrderItem", "create", "price", None, "2000.00") in written
    client = login_as("manager")
    since = last_id(ctx)
    data = form_fields(client.get(f"/orderitemview/edit/{item.id}").get_data(as_text=True))
    assert client.post(f"/orderitemview/edit/{item.id}", data=data).status_code == 302
    assert [w for w in rows(ctx, customer.id, since) if w[0] == "OrderItem"] == []  # a no-op save
    data["quantity"] = "3"
    assert client.post(f"/orderitemview/edit/{item.id}", data=data).status_code == 302
    changed = rows(ctx, customer.id, since)
    assert ("OrderItem", "update", "quantity", "1", "3") in changed
    assert ("OrderItem", "update", "amount", "2000.00", "6000.00") in changed
    since = last_id(ctx)
    assert client.post(f"/orderitemview/delete/{item.id}").status_code == 302
    ctx.expire_all()
    assert ctx.query(OrderItem).filter_by(id=item_id).count() == 0
    assert ("OrderItem", "delete", "quantity", "3", None) in rows(ctx, customer.id, since)
    tab = page(client, f"/changelogtab/list/?_flt_0_customer={customer.id}")
    assert "Позиция заказа" in tab and "Количество" in tab


def test_messages_are_recorded_and_their_texts_follow_the_field_policy(app, ctx, login_as):
    from app import notifications
    from app.models import Channel, Message, MessageStatus, MessageType

    customer = factories.customer(ctx)
    with app.test_request_context():
        (message,) = notifications.queue_notification(
            ctx, customer, MessageType.MANUAL, (Channel.SMS,), text="Звоните на +7 916 111-22-33"
        )
        ctx.commit()
    written = rows(ctx, customer.id)
    created = {w[2]: w[4] for w in written if w[:2] == ("Message", "create")}
    assert "Звоните на +7 916 111-22-33" in created["body"]
    assert "delivery_key" not in created and "attempts" not in created  # the worker's bookkeeping
    since = last_id(ctx)
    message.status = MessageStatus.CANCELLED
    ctx.commit()
    assert [w[:3] for w in rows(ctx, customer.id, since)] == [("Message", "update", "status")]
    since = last_id(ctx)
    message.status = MessageStatus.CANCELLED  # the same again: nothing
    ctx.commit()
    assert rows(ctx, customer.id, since) == []
    # the phone in the text is masked for whom the policy masks it, as in «Сообщения»
    assert "916 111-22-33" in page(login_as("manager"), "/changelogview/list/")
    auditor = page(login_as("auditor"), "/changelogview/list/")
    assert "Звоните на" in auditor and "916 111-22-33" not in auditor
    ctx.delete(ctx.get(Message, message.id))
    ctx.commit()
    assert ("Message", "delete", "status") in [w[:3] for w in rows(ctx, customer.id)]


def test_a_deleted_tag_and_extra_field_leave_their_customers_changed_in_the_history(ctx):
    vip, debtor = Tag(name="VIP", color="#ff0000"), Tag(name="Должник", color="#000000")
    inn = CustomerAttribute(customer_type=CustomerType.INDIVIDUAL, label="ИНН", kind=AttributeKind.TEXT)
    ctx.add_all([vip, debtor, inn])
    customer = factories.customer(ctx, tags=[vip, debtor])
    from app import customers

    customers.set_attributes(ctx, customer, {inn.id: "7701234567"})
    ctx.commit()
    customer_id, inn_id = customer.id, inn.id
    since = last_id(ctx)
    ctx.delete(debtor)
    ctx.delete(inn)
    ctx.commit()
    written = rows(ctx, customer_id, since)
    assert ("Customer", "update", "tags", "VIP, Должник", "VIP") in written
    assert ("Customer", "update", f"attribute:{inn_id}", "7701234567", None) in written


def test_a_status_changed_in_english_reads_in_each_readers_language(app, ctx, login_as):
    """A status changed by a manager working in English was stored as «Problem» and a
    Russian colleague read «Активен → Problem» in «История изменений» (and an English
    reader «Активен» for the creation): the value is stored in one language and each
    reader sees it in theirs."""
    customer = factories.customer(ctx)
    ctx.commit()
    since = last_id(ctx)
    manager = login_as("manager")
    manager.get("/lang/en")
    try:
        manager.post(f"/customerview/{customer.id}/status", data={"status": "problem"})
        assert rows(ctx, customer.id, since) == [("Customer", "update", "status", "Активен", "Проблемный")]
        english = page(manager, "/changelogview/list/?_flt_0_entity=Customer")
        assert "Problematic" in english and "Проблемный" not in english
    finally:
        manager.get("/lang/ru")
    russian = page(login_as("auditor"), "/changelogview/list/")
    assert "Проблемный" in russian and "Problematic" not in russian
