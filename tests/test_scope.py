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
