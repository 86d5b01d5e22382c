"""Migrations create exactly the schema the models declare; roles sync idempotently."""

from __future__ import annotations

import contextlib

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model

from app import access
from app.extensions import db


def test_migrations_match_the_models(app):
    with app.app_context():
        with db.engine.connect() as conn:
            # trigram indexes exist on PostgreSQL only (migration 0008), not in the models
            def include(obj, name, type_, reflected, compare_to):
                return not (type_ == "index" and name and name.endswith("_trgm"))

            context = MigrationContext.configure(
                conn, opts={"compare_type": False, "include_object": include}
            )
            diff = compare_metadata(context, Model.metadata)
    assert diff == [], "models and migrations differ: write a migration"


def test_restart_keeps_an_administrators_change_and_reset_restores_it(app):
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role(access.ROLES["reception"].name)
        pv = sm.find_permission_view_menu("can_write", access.NOTES)
        role.permissions.remove(pv)
        sm.session.commit()
        try:
            assert access.sync_roles() == []  # what a restart runs
            role = sm.find_role(access.ROLES["reception"].name)
            assert pv not in role.permissions
            assert access.ROLES["reception"].name in access.sync_roles(reset=True)
            role = sm.find_role(access.ROLES["reception"].name)
            assert pv in role.permissions
        finally:
            access.sync_roles(reset=True)


OLD_CUSTOMER = (
    "INSERT INTO customer (id, last_name, customer_type, status, name_search, discount, bonus_balance, "
    "deposit_balance, registered_at, version, created_on, changed_on) VALUES "
    "(:id, :last_name, 'individual', :status, :name_search, 0, 0, :deposit, :now, 1, :now, :now)"
)


def insert_customer(id=1, last_name="Петрова", status="active", deposit=0, now="2026-11-20 09:00:00"):
    """A customer's row as the migrations since 0019 left the table: a migration test's data."""
    from sqlalchemy import text

    values = {"id": id, "last_name": last_name, "status": status, "deposit": deposit, "now": now}
    db.session.execute(text(OLD_CUSTOMER), {**values, "name_search": " " + last_name.lower()})


@contextlib.contextmanager
def database_at(tmp_path, revision):
    """A fresh SQLite database migrated to ``revision``, inside its app context;
    ``upgrade()`` takes it on to the head."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/old.db", INSTANCE_DIR=str(tmp_path))
    with app.app_context():
        upgrade(revision=revision)
        try:
            yield lambda: upgrade(revision="heads")
        finally:
            db.session.remove()


def test_migration_0011_folds_yo_in_stored_name_keys(tmp_path):
    """Keys written before 0011 kept «ё»: «Елкина» would not find them."""
    from sqlalchemy import text

    with database_at(tmp_path, "0010") as upgrade:
        db.session.execute(
            text(
                "INSERT INTO customer (id, last_name, first_name, customer_type, status, name_search, discount, "
                "bonus_balance, deposit_balance, registered_at, version, created_on, changed_on) VALUES "
                "(1, 'Ёлкина', 'Вера', 'INDIVIDUAL', 'ACTIVE', ' ёлкина вера', 0, 0, 0, "
                "CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        db.session.commit()
        upgrade()
        assert db.session.execute(text("SELECT name_search FROM customer")).scalar() == " елкина вера"


def test_migration_0012_writes_the_default_message_texts_and_keeps_an_administrators(tmp_path):
    """«Шаблоны уведомлений» was empty: the texts customers receive lived in the code."""
    from app.models import Channel, MessageTemplate, MessageType

    with database_at(tmp_path, "0011") as upgrade:
        welcome = MessageTemplate(message_type=MessageType.WELCOME, channel=Channel.SMS, body="Здравствуйте!")
        db.session.add(welcome)
        db.session.commit()
        upgrade()
        db.session.expire_all()
        templates = {(t.message_type, t.channel): t.body for t in db.session.query(MessageTemplate)}
        assert len(templates) == len(MessageType) * len(Channel)
        assert templates[MessageType.WELCOME, Channel.SMS] == "Здравствуйте!"
        assert "напоминаем о визите" in templates[MessageType.VISIT_REMINDER, Channel.EMAIL]


def test_the_system_administrator_opens_the_roles_screen_and_keeps_it(app, login_as):
    """The roles screen is Kartoteka's subclass of FAB's: it was not counted as a
    security screen and the system administrator got 403 on it. A restart gives
    the security screens back to the system administrator's role."""
    client = login_as("sysadmin")
    for url in ("/roles/list/", "/roles/add", "/users/list/"):
        assert client.get(url).status_code == 200, url
    assert login_as("manager").get("/roles/list/").status_code == 403
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role(access.ROLES["sysadmin"].name)
        role.permissions = [pv for pv in role.permissions if pv.view_menu.name != "KartotekaRoleModelView"]
        sm.session.commit()
        try:
            access.sync_roles()  # what a restart runs
            names = {pv.view_menu.name for pv in sm.find_role(access.ROLES["sysadmin"].name).permissions}
            assert "KartotekaRoleModelView" in names
        finally:
            access.sync_roles(reset=True)


def test_migration_0015_keeps_a_customers_records_and_names_legal_entities(tmp_path):
    """SQLite alters a table by copying it: with foreign keys on, dropping the old
    customer table would have cascaded into every order (migrations turn them off)."""
    from sqlalchemy import text

    with database_at(tmp_path, "0014") as upgrade:
        columns = "customer_type, status, name_search, discount, bonus_balance, deposit_balance, registered_at, version, created_on, changed_on"
        values = "0, 0, 0, CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
        db.session.execute(
            text(
                f"INSERT INTO customer (id, last_name, first_name, company_name, {columns}) VALUES "
                f"(1, 'Иванова', 'Анна', 'ООО «Ромашка»', 'legal', 'active', ' иванова анна ооо «ромашка»', {values})"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO customer_order (id, customer_id, kind, status, payment_status, total, paid, "
                "created_on, changed_on) VALUES (1, 1, 'visit', 'new', 'unpaid', 0, 0, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            )
        )
        db.session.commit()
        upgrade()
        assert db.session.execute(text("SELECT count(*) FROM customer_order")).scalar() == 1
        assert (
            db.session.execute(text("SELECT name_search FROM customer")).scalar()
            == " ооо ромашка иванова анна"  # the organisation first (0015), without its quotes (0026)
        )
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1  # on again for the app


def test_deleting_a_customer_on_sqlite_leaves_nothing_of_theirs_behind(app, ctx):
    """SQLite ignored the foreign keys: a deleted customer's messages and documents stayed."""
    from app.models import Customer, CustomerDocument, Message, MessageStatus, Note
    from tests import factories

    customer = factories.customer(ctx)
    ctx.add_all(
        [
            Note(customer=customer, text="Заметка"),
            CustomerDocument(customer=customer, kind="other", number="1"),
            Message(
                customer=customer,
                channel="sms",
                message_type="manual",
                body="Текст",
                status=MessageStatus.SENT,
            ),
        ]
    )
    ctx.commit()
    ctx.execute(Customer.__table__.delete())  # as a bulk delete or an import would, past the ORM
    ctx.commit()
    for model in (Note, CustomerDocument, Message):
        assert ctx.query(model).count() == 0, model


def test_migration_0021_keeps_the_history_of_a_deleted_customer(tmp_path):
    """change_log.customer_id cascaded: deleting a customer deleted their history."""
    from flask_migrate import downgrade
    from sqlalchemy import text

    with database_at(tmp_path, "0020") as upgrade:
        db.session.execute(
            text(
                "INSERT INTO customer (id, last_name, customer_type, status, name_search, discount, "
                "bonus_balance, deposit_balance, registered_at, version, created_on, changed_on) VALUES "
                "(1, 'Давняя', 'INDIVIDUAL', 'ACTIVE', ' давняя', 0, 0, 0, "
                "CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO change_log (at, customer_id, entity, entity_id, action, field, old_value, new_value) "
                "VALUES (CURRENT_TIMESTAMP, 1, 'Customer', 1, 'update', 'city', 'Тула', 'Орёл')"
            )
        )
        db.session.commit()
        upgrade()
        db.session.execute(text("DELETE FROM customer WHERE id = 1"))
        db.session.commit()
        kept = db.session.execute(text("SELECT customer_id, old_value, new_value FROM change_log")).all()
        assert [tuple(r) for r in kept] == [(1, "Тула", "Орёл")]
        downgrade(revision="0020")  # the key comes back; a deleted customer's rows point at nobody
        kept = db.session.execute(text("SELECT customer_id, new_value FROM change_log")).all()
        assert [tuple(r) for r in kept] == [(None, "Орёл")]


def test_migration_0025_gives_the_subject_requests_whom_they_were_about(tmp_path):
    """A request keeps its customer's number, name and card; an erased customer's
    requests the number only; a request whose customer was deleted before has none."""
    from flask_migrate import downgrade
    from sqlalchemy import text

    customer = (
        "INSERT INTO customer (id, last_name, first_name, card_number, customer_type, status, name_search, "
        "discount, bonus_balance, deposit_balance, registered_at, version, created_on, changed_on) VALUES "
        "(:id, :last, :first, :card, 'individual', 'active', '', 0, 0, 0, "
        "CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    request = (
        "INSERT INTO subject_request (id, customer_id, kind, status, progress, basis, received_at, deadline) "
        "VALUES (:id, :customer, :kind, :status, 0, 'Заявление', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with database_at(tmp_path, "0024") as upgrade:
        db.session.execute(text(customer), {"id": 1, "last": "Живая", "first": "Ольга", "card": "К-1"})
        # erased, the name kept for the medical records
        db.session.execute(text(customer), {"id": 2, "last": "Хранимая", "first": "Анна", "card": None})
        for row in (
            {"id": 1, "customer": 1, "kind": "export", "status": "done"},
            {"id": 2, "customer": 2, "kind": "export", "status": "done"},
            {"id": 3, "customer": 2, "kind": "erasure", "status": "done"},
            {"id": 4, "customer": None, "kind": "export", "status": "done"},
        ):
            db.session.execute(text(request), row)
        db.session.commit()
        upgrade()
        kept = db.session.execute(
            text("SELECT id, customer_number, customer_name, customer_card FROM subject_request ORDER BY id")
        ).all()
        assert [tuple(r) for r in kept] == [
            (1, 1, "Живая Ольга", "К-1"),
            (2, 2, None, None),
            (3, 2, None, None),
            (4, None, None, None),
        ]
        downgrade(revision="0024")
        columns = db.session.execute(text("SELECT * FROM subject_request")).keys()
        assert "customer_name" not in columns


def test_migration_0028_gives_the_customers_erased_before_their_status(tmp_path):
    """A customer erased before the erasure wrote «Данные уничтожены» read «Активен»."""
    from sqlalchemy import text

    customer = (
        "INSERT INTO customer (id, last_name, customer_type, status, name_search, discount, bonus_balance, "
        "deposit_balance, registered_at, version, created_on, changed_on) VALUES "
        "(:id, :last, 'individual', :status, '', 0, 0, 0, CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    request = (
        "INSERT INTO subject_request (id, customer_id, kind, status, progress, basis, received_at, deadline) "
        "VALUES (:id, :customer, :kind, :status, 0, 'Заявление', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with database_at(tmp_path, "0027") as upgrade:
        for row in (
            {"id": 1, "last": "Удалён", "status": "active"},
            {"id": 2, "last": "Проблемная", "status": "problem"},
            {"id": 3, "last": "Ждущая", "status": "verified"},  # her erasure failed
        ):
            db.session.execute(text(customer), row)
        for row in (
            {"id": 1, "customer": 1, "kind": "erasure", "status": "done"},
            {"id": 2, "customer": 2, "kind": "export", "status": "done"},
            {"id": 3, "customer": 3, "kind": "erasure", "status": "failed"},
        ):
            db.session.execute(text(request), row)
        db.session.commit()
        upgrade()
        statuses = db.session.execute(text("SELECT id, status FROM customer ORDER BY id")).all()
        assert [tuple(r) for r in statuses] == [(1, "erased"), (2, "problem"), (3, "verified")]


def test_migration_0032_lets_a_return_hold_several_refunds_and_dates_the_completed_visits(tmp_path):
    """A return had one refund (payment.return_id unique): a full return paid by bonuses
    and from the deposit was refused. The completed visits there are get when they were
    completed (their last change): «Последний визит» reads the earlier of it and the visit."""
    from flask_migrate import downgrade
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    payment = (
        "INSERT INTO payment (order_id, customer_id, amount, method, paid_at, return_id, created_on, changed_on) "
        "VALUES (1, 1, :amount, :method, CURRENT_TIMESTAMP, :ret, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with database_at(tmp_path, "0031") as upgrade:
        insert_customer()
        db.session.execute(
            text(
                "INSERT INTO customer_order (id, customer_id, kind, status, payment_status, total, paid, refunded, "
                "visit_at, created_on, changed_on) VALUES (1, 1, 'visit', 'completed', 'refunded', 3325, 0, 3325, "
                "'2026-11-25 10:00:00', '2026-11-20 09:00:00', '2026-11-21 12:00:00')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO customer_return (id, customer_id, order_id, amount, reason, status, created_on, "
                "changed_on) VALUES (1, 1, 1, 3325, 'Не состоялась', 'refunded', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            )
        )
        db.session.execute(text(payment), {"amount": -100, "method": "bonus", "ret": 1})
        db.session.commit()
        try:
            with db.session.begin_nested():
                db.session.execute(text(payment), {"amount": -3225, "method": "deposit", "ret": 1})
            raise AssertionError("0031 let a return hold two refunds")
        except IntegrityError:
            pass
        db.session.commit()
        upgrade()
        db.session.execute(text(payment), {"amount": -3225, "method": "deposit", "ret": 1})
        db.session.commit()
        refunds = db.session.execute(text("SELECT method FROM payment WHERE return_id = 1 ORDER BY id")).all()
        assert [r[0] for r in refunds] == ["bonus", "deposit"]
        completed = db.session.execute(text("SELECT completed_at FROM customer_order")).scalar()
        assert str(completed).startswith("2026-11-21 12:00:00")
        db.session.execute(text("DELETE FROM payment WHERE method = 'deposit'"))
        db.session.commit()
        downgrade(revision="0031")
        columns = db.session.execute(text("SELECT * FROM customer_order")).keys()
        assert "completed_at" not in columns


def test_migration_0033_links_the_bonus_write_offs_a_return_made_before(tmp_path):
    """A return refunded before its write-off named the accrual it took back: the upgrade
    links it to that accrual and settles the accrual it emptied; a manager's own
    write-off, of no payment, stays as it was."""
    from sqlalchemy import text

    operation = (
        "INSERT INTO account_operation (id, customer_id, account, kind, amount, payment_id, expires_at, "
        "created_on, changed_on) VALUES (:id, 1, 'bonus', :kind, :amount, :payment, :expires, "
        "'2026-11-21 12:00:00', '2026-11-21 12:00:00')"
    )
    payment = (
        "INSERT INTO payment (id, order_id, customer_id, amount, method, paid_at, return_id, created_on, "
        "changed_on) VALUES (:id, 1, 1, :amount, 'card', CURRENT_TIMESTAMP, :ret, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP)"
    )
    with database_at(tmp_path, "0032") as upgrade:
        insert_customer()
        db.session.execute(
            text(
                "INSERT INTO customer_order (id, customer_id, kind, status, payment_status, total, paid, refunded, "
                "created_on, changed_on) VALUES (1, 1, 'visit', 'completed', 'refunded', 1000, 0, 1000, "
                "'2026-11-20 09:00:00', '2026-11-21 12:00:00')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO customer_return (id, customer_id, order_id, amount, reason, status, created_on, "
                "changed_on) VALUES (1, 1, 1, 1000, 'Не состоялась', 'refunded', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            )
        )
        db.session.execute(text(payment), {"id": 1, "amount": 1000, "ret": None})
        db.session.execute(text(payment), {"id": 2, "amount": -1000, "ret": 1})
        rows = (
            (1, "accrual", 100, 1, "2027-11-20 09:00:00"),
            (2, "write_off", -100, 2, None),  # the refund took the accrual back
            (3, "write_off", -5, None, None),  # the manager's own «Списание»
        )
        for id_, kind, amount, paid_by, expires in rows:
            db.session.execute(
                text(operation),
                {"id": id_, "kind": kind, "amount": amount, "payment": paid_by, "expires": expires},
            )
        db.session.commit()
        upgrade()
        stored = db.session.execute(
            text("SELECT id, linked_id, closed_at FROM account_operation ORDER BY id")
        ).all()
        assert [(r[0], r[1]) for r in stored] == [(1, None), (2, 1), (3, None)]
        assert str(stored[0][2]).startswith("2026-11-21 12:00:00")  # settled when taken back
