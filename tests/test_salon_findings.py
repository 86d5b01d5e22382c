"""A beauty salon's week played in a Russian browser from an empty database: what the
manager and the receptionist saw that did not match what they typed."""

from __future__ import annotations

from decimal import Decimal

from app import payments
from app.models import AccountOperation, CustomerCategory, OperationKind, PaymentMethod
from tests import factories


def test_a_bonus_accrual_names_its_percentage_as_typed_not_in_exponent_notation(ctx, login_as):
    """The category «Постоянный клиент» earns «10» % bonuses; after a cash payment the card's
    «Счета» tab said «1E+1% от оплаты» beside the accrual instead of «10 % от оплаты»."""
    category = CustomerCategory(name="Постоянный клиент", discount=Decimal("5"), bonus_percent=Decimal("10"))
    ctx.add(category)
    ctx.commit()
    customer = factories.customer(ctx, category_id=category.id)
    order = factories.order(ctx, customer, items=(("Стрижка женская", "1500.50", 1),))
    payments.take_payment(ctx, order, "1000.00", PaymentMethod.CASH)
    ctx.commit()
    accrual = ctx.query(AccountOperation).filter_by(kind=OperationKind.ACCRUAL).one()
    assert accrual.comment == "10\u00a0% от оплаты"
    card = login_as("manager").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "10\u00a0% от оплаты" in card
    assert "1E+1" not in card
