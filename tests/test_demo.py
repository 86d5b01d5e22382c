"""Demo data: the benchmark's density on request, the same data for the same seed."""

from __future__ import annotations

import datetime as dt

import pytest
from flask_appbuilder import Model
from sqlalchemy import func, select

from app.demo import seed_demo
from app.extensions import db
from app.models import Customer, Note, Order
from tests.conftest import DOMAIN_TABLES_KEEP

NOW = dt.datetime(2024, 5, 1, 12, 0)
CUSTOMERS = 1000


def seeded(session, **density) -> tuple[list, list]:
    """Every customer's phone with their orders and notes, from an emptied database."""
    session.commit()
    with db.engine.begin() as conn:
        for table in reversed(Model.metadata.sorted_tables):
            if not DOMAIN_TABLES_KEEP.match(table.name):
                conn.execute(table.delete())
    seed_demo(customers=CUSTOMERS, seed=11, now=NOW, **density)
    orders = session.execute(
        select(Customer.phone, Order.visit_at, Order.total)
        .join(Order, Order.customer_id == Customer.id)
        .order_by(Order.id)
    ).all()
    notes = session.execute(
        select(Customer.phone, func.count(Note.id))
        .outerjoin(Note, Note.customer_id == Customer.id)
        .group_by(Customer.phone)
        .order_by(Customer.phone)
    ).all()
    return orders, notes


@pytest.mark.parametrize(("orders", "notes"), [(None, None), (5.0, 1.0)])
def test_density_on_average_and_the_same_for_the_same_seed(ctx, orders, notes):
    density = {} if orders is None else {"orders_per_customer": orders, "notes_per_customer": notes}
    first = seeded(ctx, **density)
    assert seeded(ctx, **density) == first
    assert len(first[0]) / CUSTOMERS == pytest.approx(orders or 2.0, rel=0.1)
    assert sum(count for _, count in first[1]) / CUSTOMERS == pytest.approx(notes or 0.75, rel=0.1)


def test_negative_density_is_refused(ctx):
    with pytest.raises(ValueError):
        seed_demo(customers=1, orders_per_customer=-1)
