"""What a save does besides storing: the page it lands on and the history it writes."""

from __future__ import annotations

import pytest

from app import access, audit
from app.files import add_file
from app.models import ChangeLog, Note, NotificationConsent, Tag
from tests import factories
from tests.conftest import user_id
from tests.html_forms import form_fields
from tests.test_access import seed


def editable_tracked_views(app):
    """Every registered view whose records the change history tracks and that has an edit form."""
    from app.views import KartotekaModelView

    for view in app.appbuilder.baseviews:
        if (
            isinstance(view, KartotekaModelView)
            and view.datamodel.obj in audit.TRACKED
            and "edit" not in view.exclude_route_methods
            and "can_write" in view.base_permissions
        ):
            yield view


def writer(resource):
    return next(key for key, spec in access.ROLES.items() if spec.resources.get(resource) == access.WRITE)


def test_an_edit_that_changes_nothing_writes_no_history(app, ctx, login_as):
    """Saving a form as it was opened wrote «Город: — → (пусто)» and the like for
    every blank field (None became "")."""
    customer = seed(ctx)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))  # in every role's scope
    ctx.add(
        NotificationConsent(customer=customer, message_type="visit_reminder", channel="sms", allowed=False)
    )
    # a file (its edit form says what it is): «Прочее», which every role that writes files opens
    add_file(ctx, customer, "скан.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    ctx.commit()
    checked = []
    for view in editable_tracked_views(app):
        row = ctx.query(view.datamodel.obj).order_by(view.datamodel.obj.id).first()
        client = login_as(writer(view.class_permission_name))
        page = client.get(f"{view.route_base}/edit/{row.id}")
        assert page.status_code == 200, view.route_base
        before = ctx.query(ChangeLog).filter_by(action="update").count()
        saved = client.post(f"{view.route_base}/edit/{row.id}", data=form_fields(page.get_data(as_text=True)))
        assert saved.status_code == 302, (view.route_base, saved.get_data(as_text=True)[:3000])
        ctx.expire_all()
        written = [
            (c.entity, c.field, c.old_value, c.new_value)
            for c in ctx.query(ChangeLog).filter_by(action="update")
        ]
        assert len(written) == before, (view.route_base, written)
        checked.append(view.route_base)
    assert len(checked) >= 7, checked


def test_a_real_change_is_still_written_once(ctx, login_as):
    customer = seed(ctx)
    # the seed's payment moved its order's «Оплачено» (written to the history): what came before
    before = {c.id for c in ctx.query(ChangeLog)}
    client = login_as("manager")
    data = form_fields(client.get(f"/customerview/edit/{customer.id}").get_data(as_text=True))
    data["city"] = "Тула"
    assert client.post(f"/customerview/edit/{customer.id}", data=data).status_code == 302
    ctx.expire_all()
    changes = [
        (c.field, c.old_value, c.new_value)
        for c in ctx.query(ChangeLog).filter_by(action="update")
        if c.id not in before
    ]
    assert changes == [("city", None, "Тула")]


@pytest.mark.parametrize("opened", ["add", "edit"])
def test_saving_lands_on_the_list_of_what_was_saved(ctx, login_as, opened):
    """Saving a tag landed on the branches list: the page before the form in the
    session's history, whatever it was (a form opened from another list, a bookmark
    or another browser tab)."""
    tag = Tag(name="VIP", color="#ff0000")
    ctx.add(tag)
    ctx.commit()
    client = login_as("manager")
    assert client.get("/branchview/list/").status_code == 200
    url = "/tagview/add" if opened == "add" else f"/tagview/edit/{tag.id}"
    client.get(url)
    saved = client.post(url, data={"name": "Постоянный", "color": "#00ff00"})
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith("/tagview/list/")


def test_saving_returns_to_the_page_the_form_was_opened_from(ctx, login_as):
    """The card a note was added from, and a filtered list an edit was opened from, stay where they were."""
    customer = seed(ctx)
    note = ctx.query(Note).first()
    client = login_as("manager")
    card = f"/customerview/show/{customer.id}"
    client.get(card)
    client.get(f"/noteview/add?_flt_0_customer={customer.id}")
    saved = client.post(f"/noteview/add?_flt_0_customer={customer.id}", data={"text": "Новое"})
    # the card, on the tab that shows the new note
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"{card}#notes")
    client.get("/noteview/list/?psize_NoteView=40")
    client.get(f"/noteview/edit/{note.id}")
    # «Назад» too: the guard against foreign redirects kept only the path of FAB's absolute address
    assert client.get("/back").headers["Location"].endswith("/noteview/list/?psize_NoteView=40")
    client.get("/noteview/list/?psize_NoteView=40")
    client.get(f"/noteview/edit/{note.id}")
    saved = client.post(f"/noteview/edit/{note.id}", data={"customer": str(customer.id), "text": "Изменено"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(
        "/noteview/list/?psize_NoteView=40"
    )
    client.get(card)
    client.get(f"/notetab/edit/{note.id}")
    saved = client.post(f"/notetab/edit/{note.id}", data={"customer": str(customer.id), "text": "С карточки"})
    # opened from the card's «Примечания» tab: the card, on that tab
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"{card}#notes")


def test_a_save_landing_on_a_filtered_list_links_to_the_record(ctx, login_as):
    """A note unpinned from the list filtered by «Закреплено» lands on that list, where it
    is no longer shown: «Изменения сохранены» carries a link to it (Django's admin does
    the same). A list without search or filters needs none."""
    customer = seed(ctx)
    note = ctx.query(Note).filter(Note.customer_id == customer.id).first()
    note.pinned = True
    ctx.commit()
    client = login_as("manager")
    filtered = "/noteview/list/?_flt_0_pinned=y"
    assert note.text in client.get(filtered).get_data(as_text=True)
    client.get(f"/noteview/edit/{note.id}")
    saved = client.post(
        f"/noteview/edit/{note.id}", data={"customer": str(customer.id), "text": "Откреплено"}
    )
    assert saved.status_code == 302 and saved.headers["Location"].endswith(filtered)
    page = client.get(filtered).get_data(as_text=True)
    assert "Откреплено" not in page  # the list no longer shows it…
    assert (
        f'<a class="alert-link" href="/noteview/show/{note.id}">Открыть запись</a>' in page
    )  # …the message does
    assert "Откреплено" in client.get(f"/noteview/show/{note.id}").get_data(as_text=True)
    client.get("/noteview/list/")
    client.get(f"/noteview/edit/{note.id}")
    client.post(f"/noteview/edit/{note.id}", data={"customer": str(customer.id), "text": "Ещё раз"})
    page = client.get("/noteview/list/").get_data(as_text=True)
    assert "Ещё раз" in page and "alert-link" not in page


def test_deleting_from_the_records_page_lands_on_the_list(ctx, login_as):
    tag = Tag(name="VIP", color="#ff0000")
    ctx.add(tag)
    ctx.commit()
    client = login_as("manager")
    client.get(f"/tagview/show/{tag.id}")
    client.get("/tagview/list/")
    client.get(f"/tagview/show/{tag.id}")
    deleted = client.post(f"/tagview/delete/{tag.id}")
    assert deleted.status_code == 302 and deleted.headers["Location"].endswith("/tagview/list/")


def test_the_history_keeps_the_old_value_of_a_row_changed_after_a_commit(ctx):
    """A value set on a customer whose attributes had expired (after a commit: a
    domain function, the API) was written to the history as «— → new»."""
    customer = factories.customer(ctx, phone="+79035550010", city="Тула")
    customer.phone, customer.city = "+79035550011", "Орёл"
    ctx.commit()
    changes = {(c.field, c.old_value, c.new_value) for c in ctx.query(ChangeLog).filter_by(action="update")}
    assert changes == {("phone", "+79035550010", "+79035550011"), ("city", "Тула", "Орёл")}


@pytest.mark.parametrize("role", ["manager", "reception"])
def test_a_form_opened_by_its_address_saves_and_goes_back_to_its_records_home(ctx, login_as, role):
    """A form typed into the address bar or opened from a bookmark, with nothing or
    another customer's card before it in the session's history: its save and its
    «Назад» went to that other card, to the home page or to an unrelated list.
    They land on the record's card (on the tab of the record), else on the list."""
    customer = seed(ctx)
    other = factories.customer(ctx, last_name="Другая", phone="+79035550099")
    note = ctx.query(Note).first()
    assert note.customer_id == customer.id
    card = f"/customerview/show/{customer.id}"
    client = login_as(role)

    edit = f"/customerview/edit/{customer.id}"
    data = form_fields(client.get(edit).get_data(as_text=True))  # nothing visited before
    assert client.get("/back").headers["Location"].endswith(card)
    client.get(f"/customerview/show/{other.id}")  # another customer's card, in another browser tab
    client.get(edit)
    saved = client.post(edit, data=data)
    assert saved.status_code == 302 and saved.headers["Location"].endswith(card)

    client.get(f"/customerview/show/{other.id}")
    client.get(f"/noteview/edit/{note.id}")
    assert client.get("/back").headers["Location"].endswith(f"{card}#notes")
    client.get(f"/noteview/edit/{note.id}")
    saved = client.post(f"/noteview/edit/{note.id}", data={"customer": str(customer.id), "text": "Изменено"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"{card}#notes")

    client.get(card)  # the card, its «Заметки» tab, a note's «Изменить»
    client.get(f"/noteview/edit/{note.id}")
    assert client.get("/back").headers["Location"].endswith(f"{card}#notes")

    add = f"/noteview/add?_flt_0_customer={customer.id}"  # a bookmark of the card's «+»
    client.get(add)
    saved = client.post(add, data={"text": "Новое"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"{card}#notes")

    client.get("/branchview/list/")  # an unrelated page
    client.get("/orderview/add")
    assert client.get("/back").headers["Location"].endswith("/orderview/list/")
    ctx.expire_all()
    assert sorted(n.text for n in ctx.query(Note)) == ["Изменено", "Новое"]


def test_fabs_own_screens_save_back_to_their_list(app, login_as):
    """A role added by the form's address after the users list went back to the users
    list (FAB's previous page of the history); it lands on the roles list, and an edit
    opened from a role's page goes back to that page."""
    from sqlalchemy import text

    from app.extensions import db

    client = login_as("sysadmin")
    try:
        client.get("/users/list/")
        client.get("/roles/add")
        saved = client.post("/roles/add", data={"name": "Практикант"})
        assert saved.status_code == 302 and saved.headers["Location"].endswith("/roles/list/")
        assert "Практикант" in client.get("/roles/list/").get_data(as_text=True)
        with app.app_context():
            role = db.session.execute(text("SELECT id FROM ab_role WHERE name = 'Практикант'")).scalar_one()
        client.get(f"/roles/show/{role}")
        client.get(f"/roles/edit/{role}")
        saved = client.post(f"/roles/edit/{role}", data={"name": "Стажёр"})
        assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/roles/show/{role}")
    finally:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM ab_role WHERE name IN ('Практикант', 'Стажёр')"))


def test_the_cards_back_after_a_save_on_its_tab_goes_where_the_card_was_opened_from(ctx, login_as):
    """Week: a searched list, a customer's card, «Принять оплату» on an order, saved: the
    card came back on «Заказы», and its «Назад» opened that same card again (its page
    with the #tab and without it were two pages of the history) instead of the list."""
    customer = seed(ctx)
    order = factories.order(ctx, customer, items=(("Осмотр", "1000.00", 1),))
    ctx.commit()
    card = f"/customerview/show/{customer.id}"
    client = login_as("reception")
    searched = "/customerview/list/?q=8+903"
    client.get(searched)
    client.get(card)
    pay = f"/paymentview/add?tab=orders&_flt_0_order={order.id}"
    client.get(pay)
    saved = client.post(pay, data={"order": str(order.id), "amount": "100", "method": "cash"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"{card}#orders")
    client.get(card)  # the browser does not send the #tab
    assert client.get("/back").headers["Location"].endswith(searched)
