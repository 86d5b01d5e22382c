"""One row scope for every relation: a customer or an order outside the user's rows
is offered nowhere and accepted nowhere, and answers as one that does not exist."""

from __future__ import annotations

from app.models import MedicalRecord
from tests import factories
from tests.conftest import user_id


def patients(app, ctx):
    """The specialist's patient and a customer of another specialist."""
    own = factories.customer(ctx, last_name="Своя", phone="+79035550001")
    factories.order(ctx, own, specialist_id=user_id(app, "doctor"))
    stranger = factories.customer(ctx, last_name="Чужая", phone="+79035550002")
    factories.order(ctx, stranger)
    return own, stranger


def test_a_form_opened_from_a_strangers_card_stores_nothing_for_them(app, ctx, login_as):
    """A tab's «+» opens the form with the card's customer in the address
    (``_flt_0_customer=42``); FAB read that customer unchecked, so the specialist
    added a medical record to another specialist's patient by editing the address.
    The form for a customer outside the rows answers 404, as the customer's card does."""
    own, stranger = patients(app, ctx)
    client = login_as("doctor")
    for base in ("medicalrecordview", "medicalrecordtab"):
        refused = client.post(f"/{base}/add?_flt_0_customer={stranger.id}", data={"allergies": "взлом"})
        assert refused.status_code == 404, base  # as the stranger's card answers
        missing = client.post(f"/{base}/add?_flt_0_customer=2147483000", data={"allergies": "нет такого"})
        assert missing.status_code == 404, base  # the same answer as a customer that does not exist
        saved = client.post(f"/{base}/add?_flt_0_customer={own.id}", data={"allergies": "пыльца"})
        assert saved.status_code == 302, base
    ctx.expire_all()
    assert {(r.customer_id, r.allergies) for r in ctx.query(MedicalRecord)} == {(own.id, "пыльца")}


def test_a_bulk_action_reaches_only_the_users_rows(app, ctx, login_as):
    """FAB's actions read the ticked records by their ids alone: a specialist given
    «смена статуса» on the roles screen marked another specialist's patient «Проблемный»
    by the id in the form. A record outside the rows answers 404 and stays as it was."""
    from app import access
    from app.models import Customer, CustomerStatus

    own, stranger = patients(app, ctx)
    sm = app.appbuilder.sm
    role = sm.find_role(access.ROLES["doctor"].name)
    role.permissions.append(sm.find_permission_view_menu("can_status", access.CUSTOMERS))
    sm.session.commit()
    try:
        client = login_as("doctor")
        for data in (
            {"action": "status_problem", "rowid": [str(stranger.id)]},
            {"action": "status_problem", "rowid": [str(own.id), str(stranger.id)]},
        ):
            assert client.post("/customerview/action_post", data=data).status_code == 404
        assert client.post(f"/customerview/action/status_problem/{stranger.id}").status_code == 404
        ctx.expire_all()
        assert {c.status for c in ctx.query(Customer)} == {CustomerStatus.ACTIVE}
        done = client.post(
            "/customerview/action_post", data={"action": "status_problem", "rowid": [str(own.id)]}
        )
        assert done.status_code == 302
        ctx.expire_all()
        assert ctx.get(Customer, own.id).status == CustomerStatus.PROBLEM
        assert ctx.get(Customer, stranger.id).status == CustomerStatus.ACTIVE
    finally:
        access.sync_roles(reset=True)


def test_a_specialists_list_says_it_holds_their_own_patients_only(ctx, login_as):
    """On a new clinic's first day nobody is booked to the doctor yet: the empty list read
    as if the clinic had no customers. A role that sees every customer is not told."""
    factories.customer(ctx)
    note = "Здесь только ваши пациенты: клиенты, записанные к вам как к специалисту."
    doctor = login_as("doctor").get("/customerview/list/").get_data(as_text=True)
    assert note in doctor and "Ничего не найдено" in doctor
    for role in ("reception", "manager", "auditor"):
        assert note not in login_as(role).get("/customerview/list/").get_data(as_text=True), role
