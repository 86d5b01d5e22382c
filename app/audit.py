"""Change history: every ORM change of a customer's records, field by field.

A ``before_flush`` listener writes ChangeLog rows in the same transaction as
the change. Medical history is recorded without its values (only that a field
changed), so the history never becomes a side door to the anamnesis.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from types import SimpleNamespace

from flask import g, has_request_context
from flask_babel import force_locale
from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from .labels import STORED_LOCALE
from .models import (
    AccessLog,
    AccountOperation,
    Certificate,
    CertificateOperation,
    ChangeLog,
    Customer,
    CustomerAttributeValue,
    CustomerDocument,
    CustomerFile,
    MedicalRecord,
    Message,
    Note,
    NotificationConsent,
    Order,
    OrderItem,
    Payment,
    ProcessingConsent,
    Return,
    Review,
    Tag,
    customer_tag,
    utcnow,
)

# a payment and an account's operation are only ever created: their history is who wrote them and when
TRACKED = (
    Customer,
    CustomerDocument,
    Order,
    Return,
    Review,
    Note,
    MedicalRecord,
    Payment,
    AccountOperation,
    CustomerFile,
    Certificate,  # sold: who sold it and when, its cancellation
    CertificateOperation,  # its ledger: the sale's issue, payments, what came back, the cancellation
    ProcessingConsent,
    NotificationConsent,
    OrderItem,  # an order's lines: what was booked, how many, at what price
    Message,  # the outbox: what was written to the customer, and what became of it
)
VALUELESS = (MedicalRecord,)
# not the user's: bookkeeping, and a file's random name on the disk
SKIP = {
    "id",
    "changed_on",
    "changed_by_fk",
    "created_on",
    "created_by_fk",
    "version",
    "name_search",
    "stored_name",
}
# a model's own bookkeeping: a message's delivery machinery (its attempts are the
# delivery's log, «Попытки доставки»; the worker moves these by statements of its own)
SKIP_OF = {
    Message: {"delivery_key", "attempts", "enqueued_at", "started_at", "provider_id", "after_crash"},
}
# the card's own collections, recorded as fields of the customer
TAGS = "tags"
ATTRIBUTE = "attribute:"  # + the extra field's id: «attribute:3»


def attribute_field(attribute_id) -> str:
    return f"{ATTRIBUTE}{attribute_id}"


# The language a status or a kind is written to the history in (labels.STORED_LOCALE):
# the labels' own (their msgids are Russian). It was the writer's, and a colleague
# reading in the other language read «Активен → Problematic»; the history shows each
# reader the label in theirs (app/admin/history.py value_label).


def enum_text(value: enum.Enum) -> str:
    """A status or a kind as the history stores it: its label in STORED_LOCALE."""
    with force_locale(STORED_LOCALE):
        return str(getattr(value, "label", value.value))


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return enum_text(value)
    return str(value)


def _comparable(value):
    """A value as the history compares it: a blank text is no value (a form sends
    "" for a field stored as NULL), an amount by its number (0 is 0.00), a status
    by its stored value (whether the enum or its value was assigned)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _user_id():
    if has_request_context():
        user = g.get("user")
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id
    return None


def _customer_id(obj, model=None):
    model = model or type(obj)
    if model is Customer:
        return obj.id
    if model is OrderItem and getattr(obj, "customer_id", None) is None:
        order = obj.__dict__.get("order")  # an item's customer is its order's
        session = inspect(obj).session
        if order is None and session is not None and obj.order_id is not None:
            with session.no_autoflush:
                order = session.get(Order, obj.order_id)
        return order.customer_id if order is not None else None
    return getattr(obj, "customer_id", None)


def _columns(model):
    """The table columns the history records of ``model`` (its customer's id is the
    row's own; a computed column_property is no field of it)."""
    found = model.__dict__.get("_kartoteka_history_columns")
    if found is None:
        skip = SKIP | SKIP_OF.get(model, set())
        found = []
        for attr in inspect(model).column_attrs:
            column = attr.columns[0]
            if attr.key in skip or getattr(column, "table", None) is not model.__table__:
                continue
            if attr.key == "customer_id" and model is not Customer:
                continue
            found.append(attr.key)
        model._kartoteka_history_columns = found
    return found


def _changes(obj):
    state = inspect(obj)
    for key in _columns(type(obj)):
        history = state.attrs[key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if _comparable(old) != _comparable(new):
                yield key, old, new


def _values(obj, load: bool, model=None):
    """The fields of a created or deleted row that hold something (a row deleted after
    a commit has them expired: ``load`` reads them back before they go)."""
    for key in _columns(model or type(obj)):
        value = getattr(obj, key) if load else obj.__dict__.get(key)
        if _comparable(value) is not None:
            yield key, value


def _tag_names(tags) -> str | None:
    return ", ".join(sorted(str(t) for t in tags)) or None


def _tag_change(customer):
    """The customer's tags before and after, when the set changed (a tag added or
    removed; a list set whole loads the one it replaces, so its history is exact)."""
    history = inspect(customer).attrs[TAGS].history
    if not (history.added or history.deleted):
        return None
    before = [*history.unchanged, *history.deleted]
    after = [*history.unchanged, *history.added]
    if {t.id for t in before} == {t.id for t in after}:
        return None
    return _tag_names(before), _tag_names(after)


def references(model) -> dict[str, tuple[str, type]]:
    """A model's reference columns, each with the relation that names what it points
    at (``category_id`` → «category», the category's name rather than its number)."""
    found = model.__dict__.get("_kartoteka_references")
    if found is None:
        found = {}
        for rel in inspect(model).relationships:
            columns = list(rel.local_columns)
            if rel.direction.name == "MANYTOONE" and len(columns) == 1 and not rel.viewonly:
                key = inspect(model).get_property_by_column(columns[0]).key
                found.setdefault(key, (rel.key, rel.mapper.class_))
        model._kartoteka_references = found
    return found


class _Rows:
    """The history rows of one flush, all written by one INSERT."""

    def __init__(self, session: Session):
        self.session = session
        self.user_id = _user_id()
        # an erasure (app/subjects.py) records which fields it destroyed, not their values
        self.erasure = session.info.get("kartoteka_erasure", False)
        self.rows: list[dict] = []

    def add(
        self,
        obj,
        action,
        field=None,
        old=None,
        new=None,
        *,
        customer_id=None,
        entity=None,
        entity_id=None,
        model=None,
    ):
        model = model or type(obj)
        hide = issubclass(model, VALUELESS) or self.erasure
        reference = references(model).get(field) if entity is None else None
        if reference is not None:
            field, target = reference
            old, new = (self._named(target, v) for v in (old, new))
        self.rows.append(
            {
                "at": utcnow(),
                "user_id": self.user_id,
                "customer_id": customer_id if customer_id is not None else _customer_id(obj, model),
                "entity": entity or model.__name__,
                "entity_id": entity_id if entity_id is not None else obj.id,
                "action": action,
                "field": field,
                "old_value": None if hide else _text(old),
                "new_value": None if hide else _text(new),
            }
        )

    def write(self) -> None:
        """The flush's rows as one statement on its connection, in its transaction (as ORM
        objects they were a second flush, and an INSERT each on SQLite)."""
        if self.rows:
            self.session.connection().execute(insert(ChangeLog.__table__), self.rows)

    def _named(self, model, pk):
        """What a reference points at, by its name (its number when it is gone)."""
        if pk is None:
            return None
        with self.session.no_autoflush:
            found = self.session.get(model, pk)
        if found is None:
            return pk
        with force_locale(STORED_LOCALE):  # «Заказ №3» whoever's language the change was made in
            return str(found)

    def attribute(self, value: CustomerAttributeValue, action, old, new):
        """An extra field's value is a field of its customer («attribute:3»)."""
        customer_id = value.customer_id
        self.add(
            value,
            action,
            attribute_field(value.attribute_id),
            old,
            new,
            customer_id=customer_id,
            entity=Customer.__name__,
            entity_id=customer_id,
        )

    def whole(self, obj, action, model=None):
        """A created or deleted row: each field that holds something, or the row alone."""
        new = action == "create"
        found = False
        for key, value in _values(obj, load=not new, model=model):
            self.add(obj, action, key, None if new else value, value if new else None, model=model)
            found = True
        if isinstance(obj, Customer) and not new:
            tags = obj.tags  # loaded for the deletion: the row of the tags it had
            if tags:
                self.add(obj, action, TAGS, _tag_names(tags), None)
                found = True
            for value in obj.attribute_values:
                self.attribute(value, action, value.value, None)
                found = True
        if not found:
            self.add(obj, action, model=model)


def _record_new_holder(obj, rows: _Rows) -> None:
    """A row passed from one customer to another (a certificate given as a present) is a
    change of both: each card's history names the one it left and the one it went to."""
    if isinstance(obj, Customer) or "customer_id" not in inspect(type(obj)).column_attrs:
        return
    history = inspect(obj).attrs.customer_id.history
    old = history.deleted[0] if history.deleted else None
    new = history.added[0] if history.added else None
    if old is None or new is None or old == new:
        return
    for customer_id in (old, new):
        rows.add(obj, "update", "customer_id", old, new, customer_id=customer_id)


def record_changes(session: Session, flush_context, instances) -> None:
    rows = _Rows(session)
    for obj in list(session.dirty):
        if isinstance(obj, TRACKED) and session.is_modified(obj, include_collections=False):
            for field, old, new in _changes(obj):
                rows.add(obj, "update", field, old, new)
            _record_new_holder(obj, rows)
        if isinstance(obj, Customer):
            change = _tag_change(obj)
            if change is not None:
                rows.add(obj, "update", TAGS, *change)
            removed = inspect(obj).attrs.attribute_values.history.deleted
            if removed:  # (the collection is loaded when it changed)
                kept = {v.attribute_id for v in obj.attribute_values}
                for value in removed:
                    if value.attribute_id not in kept:
                        rows.attribute(value, "update", value.value, None)
        elif isinstance(obj, CustomerAttributeValue) and session.is_modified(obj):
            for field, old, new in _changes(obj):
                if field == "value":
                    rows.attribute(obj, "update", old, new)
    for obj in list(session.deleted):
        if isinstance(obj, TRACKED):
            rows.whole(obj, "delete")
    if session.deleted:
        _record_cascades(session, rows)
    rows.write()


# -- what the database deletes or empties with a deleted row -------------------------

_DEPENDENTS: dict[str, list] = {}


def _dependents(table) -> list[tuple[type, str, str]]:
    """(model, reference column, «CASCADE» or «SET NULL») of the recorded models whose
    rows the database deletes or empties when a row of ``table`` is deleted."""
    found = _DEPENDENTS.get(table.name)
    if found is None:
        found = []
        for model in (*TRACKED, CustomerAttributeValue):
            for fk in model.__table__.foreign_keys:
                if fk.column.table is table and fk.ondelete in ("CASCADE", "SET NULL"):
                    key = inspect(model).get_property_by_column(fk.parent).key
                    found.append((model, key, fk.ondelete))
        _DEPENDENTS[table.name] = found
    return found


def _snapshots(session: Session, model, key: str, ids) -> list[SimpleNamespace]:
    """The rows of ``model`` whose ``key`` is among ``ids``, as plain values (not put in
    the session: the database deletes them without it)."""
    columns = [
        attr.columns[0].label(attr.key)
        for attr in inspect(model).column_attrs
        if getattr(attr.columns[0], "table", None) is model.__table__
    ]
    statement = select(*columns).where(getattr(model, key).in_(list(ids))).order_by(model.id)
    with session.no_autoflush:
        return [SimpleNamespace(**row._mapping) for row in session.execute(statement)]


def _record_cascades(session: Session, rows: _Rows) -> None:
    """The deletion of each record the database deletes with a deleted row (ON DELETE
    CASCADE: a customer's documents, orders, files, messages…; an order's items), and
    the change of each it empties (ON DELETE SET NULL: a review's order), which the
    session never sees. A deleted tag leaves the tags of its customers changed. The
    contents of files deleted so go from the disk after the commit."""
    gone: dict = {}  # table -> {id: the customer whose it is}
    for obj in session.deleted:
        table = getattr(type(obj), "__table__", None)
        identity = inspect(obj).identity
        if table is not None and identity is not None and len(identity) == 1:
            gone.setdefault(table, {})[identity[0]] = _customer_id(obj)
    frontier = {
        table: dict(ids) for table, ids in gone.items() if _dependents(table) or table is Tag.__table__
    }
    emptied = []
    while frontier:
        table, ids = frontier.popitem()
        for model, key, action in _dependents(table):
            for snap in _snapshots(session, model, key, ids):
                if snap.id in gone.get(model.__table__, {}):
                    continue
                if action == "SET NULL":
                    emptied.append((model, key, snap))
                    continue
                if getattr(snap, "customer_id", None) is None:
                    snap.customer_id = ids.get(getattr(snap, key))  # an order's item: the order's customer
                gone.setdefault(model.__table__, {})[snap.id] = snap.customer_id
                frontier.setdefault(model.__table__, {})[snap.id] = snap.customer_id
                if model is CustomerAttributeValue:
                    rows.attribute(snap, "update", snap.value, None)
                    continue
                rows.whole(snap, "delete", model=model)
                if model is CustomerFile:
                    from .files import stored_path

                    session.info.setdefault("kartoteka_discard", []).append(stored_path(snap))
    for model, key, snap in emptied:
        if snap.id not in gone.get(model.__table__, {}):
            rows.add(snap, "update", key, getattr(snap, key), None, model=model)
    _record_lost_tags(session, rows, gone)


def _record_lost_tags(session: Session, rows: _Rows, gone: dict) -> None:
    """A deleted tag is taken off its customers by the database: their tags changed."""
    tags = gone.get(Tag.__table__)
    if not tags:
        return
    customers = set(gone.get(Customer.__table__, {}))
    holders = select(customer_tag.c.customer_id).where(customer_tag.c.tag_id.in_(list(tags)))
    statement = (
        select(customer_tag.c.customer_id, Tag.id, Tag.name)
        .join(Tag, Tag.id == customer_tag.c.tag_id)
        .where(customer_tag.c.customer_id.in_(holders))
    )
    before: dict[int, list] = {}
    with session.no_autoflush:
        for customer_id, tag_id, name in session.execute(statement):
            before.setdefault(customer_id, []).append((tag_id, name))
    for customer_id, had in sorted(before.items()):
        if customer_id in customers:
            continue
        kept = [name for tag_id, name in had if tag_id not in tags]
        rows.add(
            None,
            "update",
            TAGS,
            ", ".join(sorted(name for _id, name in had)),
            ", ".join(sorted(kept)) or None,
            customer_id=customer_id,
            entity=Customer.__name__,
            entity_id=customer_id,
            model=Customer,
        )


def record_creations(session: Session, flush_context) -> None:
    """New rows get their ids in the flush: log them after it (committed with it)."""
    rows = _Rows(session)
    new_customers = {obj.id for obj in session.new if isinstance(obj, Customer)}
    for obj in session.new:
        if isinstance(obj, TRACKED):
            rows.whole(obj, "create")
            if isinstance(obj, Customer) and obj.__dict__.get(TAGS):
                rows.add(obj, "create", TAGS, None, _tag_names(obj.tags))
        elif isinstance(obj, CustomerAttributeValue):
            action = "create" if obj.customer_id in new_customers else "update"
            rows.attribute(obj, action, None, obj.value)
    rows.write()


def _journal_refusal():
    from flask_babel import gettext

    from .errors import Forbidden

    return Forbidden(
        {None: gettext("Журнал доступа только дополняется: его записи не изменяются и не удаляются.")}
    )


def keep_journal(session: Session, flush_context, instances) -> None:
    """The access journal is append-only in the ORM too: a changed or deleted row
    of it fails the flush (no screen, API or domain function may do either)."""
    for obj in session.deleted:
        if isinstance(obj, AccessLog):
            raise _journal_refusal()
    for obj in session.dirty:
        if isinstance(obj, AccessLog) and session.is_modified(obj):
            raise _journal_refusal()


def keep_journal_statements(state) -> None:
    """…and an ORM UPDATE or DELETE statement on it is refused before it runs."""
    if (state.is_update or state.is_delete) and any(
        mapper.class_ is AccessLog for mapper in state.all_mappers
    ):
        raise _journal_refusal()


def _keep_old_value(target, value, oldvalue, initiator):
    return value


def install() -> None:
    """Register the listener once per process (all sessions).

    Every tracked column keeps its old value when it is set (SQLAlchemy's
    ``active_history``): a value set on a row whose attributes had expired (after
    a commit, as a domain function or the API may) was written to the history as
    «— → new», its old value lost."""
    if not event.contains(Session, "before_flush", record_changes):
        event.listen(Session, "before_flush", keep_journal)
        event.listen(Session, "do_orm_execute", keep_journal_statements)
        event.listen(Session, "before_flush", record_changes)
        event.listen(Session, "after_flush", record_creations)
        for model in (*TRACKED, CustomerAttributeValue):
            for attr in inspect(model).column_attrs:
                if attr.key not in SKIP | SKIP_OF.get(model, set()):
                    event.listen(
                        getattr(model, attr.key), "set", _keep_old_value, active_history=True, retval=True
                    )
