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
    # but «Отправляется»: a send's state for the seconds it runs (EXEMPT below)
    assert set(ctx.scalars(select(Message.status).distinct())) == set(MessageStatus) - {MessageStatus.SENDING}
    assert ctx.scalar(select(func.count(MessageAttempt.id))) > 0
    assert set(ctx.scalars(select(ProcessingConsent.given).distinct())) == {True, False}
    assert set(ctx.scalars(select(NotificationConsent.allowed).distinct())) == {True, False}
    assert ctx.scalar(select(func.count()).where(ProcessingConsent.file_id.is_not(None))) == 1
    assert {f.kind for f in ctx.scalars(select(CustomerFile))} == {"pdf", "txt", "webp"}  # and a photo
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


# ---------------------------------------------------------------------------
# «Demo data must contain blanks and every kind of record, or it hides bugs»: checked
# from the schema, not from hand-kept lists. Every domain table holds rows, every value
# of every Enum column is there, and every nullable column is both blank and filled.
# A new table, enum value or nullable column is checked without editing this file; what
# the demo cannot or should not hold is exempted below, each with its reason.
# ---------------------------------------------------------------------------

RUNTIME = "written by the running service (sign-ins, the sweeper, an administrator's pause), never by data"
EXEMPT: dict[str, str] = {
    # whole tables: «table»
    "user_session": RUNTIME,
    "login_throttle": RUNTIME,
    "service_beat": RUNTIME,
    "channel_pause": RUNTIME,
    "retention_review": "the daily retention job's notice; the demo's customers are younger than "
    "the retention period, so the job has nothing to say",
    # one enum value: «table.column=value»
    "message.message_type=status_changed": "no longer written (MessageType.customer_facing is False): "
    "only messages from before that change hold it",
    "notification_consent.message_type=status_changed": "a type never sent: there is nothing to consent to",
    "certificate.method=bonus": "not a way to pay for a certificate (certificates.SALE_METHODS)",
    "certificate.method=certificate": "not a way to pay for a certificate (certificates.SALE_METHODS)",
    "subject_request.status=running": "the export job's state while it runs (seconds)",
    "message.status=sending": "a send's state while it runs (seconds): one seeded in flight has no "
    "worker, and the first run.py handed it out again with a warning",
    # one side of a nullable column: «table.column is null» / «table.column is not null»
    "access_log.user_id is null": "every access is a signed-in user's request",
    "access_log.ip is null": "every access is a request, which has an address",
    "change_log.customer_id is null": "every tracked record (audit.TRACKED) belongs to a customer, "
    "and the history keeps the number after the customer is gone",
    "change_log.entity_id is null": "every row of the history names its record",
    "change_log.field is null": "written for a created or deleted record that holds no field at all",
    "message_attempt.worker is null": "every attempt is a worker's, and names it",
    "message_attempt.finished_at is null": "an attempt under way (seconds): see message.status=sending",
    "message_attempt.outcome is null": "an attempt under way (seconds): see message.status=sending",
    "order_item.catalog_item_id is null": "an item names its service or product (orders.prepare_order_item)",
    "processing_consent.employee_id is null": "a decision is always taken by a staff member",
    "subject_request.created_by_fk is null": "a request is always registered by a staff member",
    "subject_request.customer_number is null": "only requests older than the label (migration 0025)",
    "certificate.created_by_fk is null": "a certificate is always sold by a staff member",
    "certificate.buyer_id is null": "set at every sale (certificates.sell); blank only once the buyer's "
    "card is deleted, and the demo deletes no customer who bought one",
    "certificate_operation.created_by_fk is null": "a certificate moves only by a staff member's "
    "sale, payment, reversal or cancellation",
    "medical_record.created_by_fk is null": "the anamnesis is always written by a doctor",
    "note.created_by_fk is null": "a note is always a staff member's",
    "message_template.created_by_fk is not null": "the migrations write a row for every type and "
    "channel; an administrator rewords them, never adds one",
    "money_rules.created_by_fk": "one row (app/orders.py money_rules), one rule chosen by one administrator",
    "money_rules.changed_by_fk": "one row (app/orders.py money_rules), one rule chosen by one administrator",
    "money_rules.discount_rule": "one row (app/orders.py money_rules), one rule chosen by one administrator",
}


def _exempt(gap: str) -> bool:
    """Named by an exemption: itself, or (an exemption naming a column) any gap of that column."""
    return any(gap == key or gap.startswith((f"{key}=", f"{key} ")) for key in EXEMPT)


def _demo_gaps(session) -> set[str]:
    """What the seeded demo lacks, as the exemptions name it."""
    from sqlalchemy import Enum as SAEnum

    gaps = set()
    for table in Model.metadata.sorted_tables:
        if DOMAIN_TABLES_KEEP.match(table.name):
            continue
        rows = session.scalar(select(func.count()).select_from(table))
        if not rows:
            gaps.add(table.name)
            continue
        for column in table.columns:
            name = f"{table.name}.{column.name}"
            if isinstance(column.type, SAEnum) and column.type.enum_class is not None:
                seen = set(session.scalars(select(column).distinct()))
                gaps |= {f"{name}={value.value}" for value in column.type.enum_class if value not in seen}
            if column.nullable and not column.primary_key:
                blank = session.scalar(select(func.count()).select_from(table).where(column.is_(None)))
                if blank == 0:
                    gaps.add(f"{name} is null")
                elif blank == rows:
                    gaps.add(f"{name} is not null")
    return gaps


@pytest.fixture(scope="module")
def demo_gaps(app):
    """The demo seeded once for the module's generated checks."""
    with app.app_context():
        seeded(db.session)
        gaps = _demo_gaps(db.session)
        db.session.rollback()
    return gaps


def _domain_tables():
    import app.models  # noqa: F401  (every model registered)

    return [t for t in Model.metadata.sorted_tables if not DOMAIN_TABLES_KEEP.match(t.name)]


@pytest.mark.parametrize("table", _domain_tables(), ids=lambda t: t.name)
def test_the_demo_holds_every_kind_of_record_and_blanks(demo_gaps, table):
    """The demo's hand-kept lists missed payments by bonuses, spending from an account, an
    erased customer, the access journal, review replies, order comments and a visit's
    «Выполнен» time: every screen of those was empty or never blank."""
    mine = {g for g in demo_gaps if g == table.name or g.startswith(f"{table.name}.")}
    assert sorted(gap for gap in mine if not _exempt(gap)) == []


def test_every_exemption_is_still_needed(demo_gaps):
    """An exemption the demo has outgrown (or whose table or column is gone) hides the next gap."""
    stale = [
        key
        for key in EXEMPT
        if not any(gap == key or gap.startswith((f"{key}=", f"{key} ")) for gap in demo_gaps)
    ]
    assert stale == []


def test_the_demo_money_adds_up_and_its_erased_customer_is_erased(ctx):
    """The records the demo makes for every kind went through the domain functions: each
    balance is the sum of its ledger, each order's «Оплачено» the sum of its payments, and
    the erased customer holds nothing personal, as app/subjects.py erase leaves them."""
    from app.models import (
        AccountOperation,
        Certificate,
        CertificateOperation,
        CustomerFile,
        CustomerStatus,
        Payment,
        SubjectRequest,
        SubjectRequestKind,
    )

    seeded(ctx)
    # the variety set counts in the customers asked for, once (the benchmark seeds in chunks
    # and reuses a database holding the number it asked for)
    assert ctx.scalar(select(func.count(Customer.id))) == CUSTOMERS
    seed_demo(customers=20, seed=12, now=NOW)
    assert ctx.scalar(select(func.count(Customer.id))) == CUSTOMERS + 20
    for balance, account in ((Customer.deposit_balance, "deposit"), (Customer.bonus_balance, "bonus")):
        ledger = (
            select(func.coalesce(func.sum(AccountOperation.amount), 0))
            .where(AccountOperation.customer_id == Customer.id, AccountOperation.account == account)
            .scalar_subquery()
        )
        assert ctx.scalar(select(func.count()).where(func.round(balance - ledger, 2) != 0)) == 0, account
    payments = (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.order_id == Order.id)
        .scalar_subquery()
    )
    assert ctx.scalar(select(func.count()).where(func.round(Order.paid - payments, 2) != 0)) == 0
    for left, moved in (
        (Certificate.balance, CertificateOperation.amount),
        (Certificate.visits_left, CertificateOperation.visits),
    ):
        ledger = (
            select(func.coalesce(func.sum(moved), 0))
            .where(CertificateOperation.certificate_id == Certificate.id)
            .scalar_subquery()
        )
        assert (
            ctx.scalar(select(func.count()).where(left.is_not(None), func.round(left - ledger, 2) != 0)) == 0
        )
    erased = ctx.scalars(select(Customer).where(Customer.status == CustomerStatus.ERASED)).one()
    assert (erased.phone, erased.email, erased.first_name, erased.last_name) == (None, None, None, "Удалён")
    for model in (Note, CustomerFile):
        assert ctx.scalar(select(func.count()).where(model.customer_id == erased.id)) == 0
    act = ctx.scalars(
        select(SubjectRequest).where(
            SubjectRequest.customer_id == erased.id, SubjectRequest.kind == SubjectRequestKind.ERASURE
        )
    ).one()
    assert "Стиралов" not in (act.basis + act.act)
