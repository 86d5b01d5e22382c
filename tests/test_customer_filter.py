"""Every list of a customer's records narrows to one customer the same way.

Generated: the lists come from ``appbuilder.baseviews`` (every model view whose model
has a relation to a customer), the roles from the rights pinned in tests/matrix.py,
the rows from the demo (its variety set included). A view added later is checked
without editing this file: ``?_flt_0_customer=<id>`` — what a link to one customer's
records writes — lists that customer's rows and nobody else's, within the role's rows.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.admin.base import KartotekaModelView
from app.extensions import db
from app.models import Customer
from tests import matrix

PAGE = 100  # every row of the small demo on one page


def customer_relation(model) -> str | None:
    """The name of the model's relation to one customer, if it has one."""
    mapper = getattr(model, "__mapper__", None)
    for relation in mapper.relationships if mapper is not None else ():
        if relation.mapper.class_ is Customer and not relation.uselist:
            return relation.key
    return None


def customer_lists(app) -> list:
    with app.app_context():
        return [
            view
            for view in app.appbuilder.baseviews
            if isinstance(view, KartotekaModelView)
            and view.datamodel.obj is not Customer
            and customer_relation(view.datamodel.obj)
            and "list" not in (view.exclude_route_methods or set())
        ]


def listed(client, view, query: str = "") -> set[int]:
    url = f"{view.route_base}/list/?psize_{view.__class__.__name__}={PAGE}&{query}"
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    page = response.get_data(as_text=True)
    found = set(re.findall(rf'href="{re.escape(view.route_base)}/show/(\d+)"', page))
    found |= set(re.findall(r'name="rowid" value="(\d+)"', page))
    return {int(n) for n in found}


@pytest.fixture
def demo(app):
    from app.demo import seed_demo

    with app.app_context():
        seed_demo(customers=24, seed=5)


def test_every_list_of_a_customers_records_has_the_customer_filter(app):
    """Declared, not inferred: the view names ``customer`` among its filters."""
    missing = [
        type(view).__name__
        for view in customer_lists(app)
        if customer_relation(view.datamodel.obj) not in (view.search_columns or [])
    ]
    assert not missing, f"no «Клиент» filter on {missing}"


def test_a_link_to_one_customers_records_lists_that_customers_only(app, login_as, demo):
    unseen = []
    for view in customer_lists(app):
        model = view.datamodel.obj
        relation = customer_relation(model)
        column = getattr(model, f"{relation}_id")
        with app.app_context():
            busiest = db.session.scalars(
                select(column)
                .where(column.is_not(None))
                .group_by(column)
                .order_by(func.count().desc(), column)
                .limit(2)
            ).all()
            owner = dict(db.session.execute(select(model.id, column)).all())
        assert len(busiest) == 2, f"the demo gives {model.__name__} rows of two customers"
        narrowed = set()  # the customers whose rows a filtered list showed
        for role_key in matrix.ROLE_KEYS:
            if not matrix.reads(role_key, view.class_permission_name):
                continue
            client = login_as(role_key)
            everything = listed(client, view)
            # the customers of the rows the role sees first, and the demo's busiest
            seen = [c for c, _ in Counter(owner.get(row) for row in everything).most_common() if c]
            for customer_id in dict.fromkeys([*seen[:2], *busiest]):
                shown = listed(client, view, f"_flt_0_{relation}={customer_id}")
                where = (type(view).__name__, role_key, customer_id)
                assert {owner.get(row) for row in shown} <= {customer_id}, where
                expected = {row for row in everything if owner.get(row) == customer_id}
                if len(everything) < PAGE:  # the whole list on one page: each of theirs
                    assert shown == expected, where
                else:
                    assert shown or not expected, where
                if shown:
                    narrowed.add(customer_id)
        if len(narrowed) < 2:
            unseen.append(type(view).__name__)
    assert not unseen, f"no role saw these lists narrowed to two customers in turn: {unseen}"
