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


def test_the_demo_holds_blanks_and_every_kind_of_customer(ctx):
    """A demo where every field is filled hid the first week's defects (the second
    customer without a card number could not be registered)."""
    from app.models import CustomerAttributeValue, CustomerType, OrderKind, OrderStatus

    seeded(ctx)
    by_type = dict(
        ctx.execute(select(Customer.customer_type, func.count()).group_by(Customer.customer_type)).all()
    )
    assert set(by_type) == set(CustomerType)
    for column in (Customer.email, Customer.card_number, Customer.middle_name, Customer.city):
        assert ctx.scalar(select(func.count()).where(column.is_(None))) > 10, column
    assert ctx.scalar(select(func.count()).where(Customer.email == "")) == 0  # blank is NULL, not ''
    legal = ctx.scalars(select(Customer).where(Customer.customer_type == CustomerType.LEGAL)).all()
    assert all(c.full_name == c.company_name for c in legal)
    assert any(c.last_name is None for c in legal)
    assert ctx.scalar(select(func.count(CustomerAttributeValue.id))) > 0
    # «Последний визит» is the last completed visit
    completed = (
        select(func.max(Order.visit_at))
        .where(
            Order.customer_id == Customer.id,
            Order.kind == OrderKind.VISIT,
            Order.status == OrderStatus.COMPLETED,
        )
        .scalar_subquery()
    )
    mismatched = ctx.scalar(
        select(func.count()).where(
            func.coalesce(Customer.last_visit_at, NOW) != func.coalesce(completed, NOW)
        )
    )
    assert mismatched == 0


def test_demo_visits_book_services_and_sales_sell_products_at_the_desk(ctx):
    """The demo mixed the kinds: «Продажа» orders carried services, a specialist and
    a visit time, «Визит» orders a bottle of shampoo — a first look at it was wrong."""
    from app.models import CatalogItem, CatalogKind, OrderItem, OrderKind

    seeded(ctx)
    kinds = dict(
        ctx.execute(
            select(Order.kind, func.count(func.distinct(Order.id)))
            .join(OrderItem, OrderItem.order_id == Order.id)
            .group_by(Order.kind)
        ).all()
    )
    assert kinds[OrderKind.VISIT] > 0 and kinds[OrderKind.SALE] > 0
    mixed = ctx.execute(
        select(Order.kind, CatalogItem.kind, func.count())
        .join(OrderItem, OrderItem.order_id == Order.id)
        .join(CatalogItem, CatalogItem.id == OrderItem.catalog_item_id)
        .where(
            ((Order.kind == OrderKind.VISIT) & (CatalogItem.kind != CatalogKind.SERVICE))
            | ((Order.kind == OrderKind.SALE) & (CatalogItem.kind != CatalogKind.PRODUCT))
        )
        .group_by(Order.kind, CatalogItem.kind)
    ).all()
    assert mixed == []
    sales_with_visit = ctx.scalar(
        select(func.count()).where(
            Order.kind == OrderKind.SALE, Order.visit_at.isnot(None) | Order.specialist_id.isnot(None)
        )
    )
    assert sales_with_visit == 0


def test_a_bulk_seed_leaves_the_planner_its_statistics(ctx):
    """A freshly seeded database had none (SQLite never analyses on its own; PostgreSQL's
    autovacuum comes later): the phone search and the card ran five times slower."""
    from sqlalchemy import text

    seeded(ctx)
    if ctx.get_bind().dialect.name == "sqlite":
        analysed = ctx.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1")).scalars().all()
    else:
        analysed = (
            ctx.execute(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"))
            .scalars()
            .all()
        )
    assert {"customer", "customer_order", "note"} <= set(analysed)


def test_the_demo_holds_every_kind_of_record_the_screens_show(ctx):
    """The demo's «Сообщения», «Согласия» and «Файлы» were empty: no message in any
    status, no consent, no file. Every screen of those showed «Нет записей», and a
    walk of the demo could not see how a failed or expired message, a withdrawn
    consent or a scan reads. The demo holds each of them, and a return in every status; its
    documents were all «Паспорт РФ» with every field filled: it holds every kind, with blanks."""
    from app.models import (
        CustomerFile,
        Message,
        MessageAttempt,
        MessageStatus,
        NotificationConsent,
        ProcessingConsent,
        Return,
        ReturnStatus,
    )

    seeded(ctx)
    assert set(ctx.scalars(select(Message.status).distinct())) == set(MessageStatus)
    assert ctx.scalar(select(func.count(MessageAttempt.id))) > 0
    assert set(ctx.scalars(select(ProcessingConsent.given).distinct())) == {True, False}
    assert set(ctx.scalars(select(NotificationConsent.allowed).distinct())) == {True, False}
    assert ctx.scalar(select(func.count()).where(ProcessingConsent.file_id.is_not(None))) == 1
    assert {f.kind for f in ctx.scalars(select(CustomerFile))} == {"pdf", "txt"}
    assert set(ctx.scalars(select(Return.status).distinct())) == set(ReturnStatus)
    # every kind of document, not RF passports only, each valid by its kind's rules, and the
    # blanks staff leave in the optional fields
    from app.documents import prepare_document
    from app.models import CustomerDocument, DocumentKind

    documents = ctx.scalars(select(CustomerDocument)).all()
    assert {d.kind for d in documents} == set(DocumentKind)
    for d in documents:
        prepare_document(d, today=NOW.date())
    for field in ("series", "issued_by", "issue_date", "division_code", "address", "citizenship"):
        column = getattr(CustomerDocument, field)
        assert ctx.scalar(select(func.count()).where(column.is_(None))) > 0, field
        assert ctx.scalar(select(func.count()).where(column.is_not(None))) > 0, field
    ctx.rollback()


def test_a_weak_demo_password_is_refused_with_its_reason(app):
    """``KARTOTEKA_DEMO_PASSWORD=demo``: the security manager refuses users with a
    password its policy refuses, and ``flask kartoteka demo-users`` printed five
    logins that did not exist. It says why and makes none."""
    from app.cli import demo_users_command

    result = app.test_cli_runner().invoke(demo_users_command, ["--password", "demo"])
    assert result.exit_code == 1
    assert "Пароль слишком короткий: нужно не меньше 12 символов." in result.output
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="admin") is None
