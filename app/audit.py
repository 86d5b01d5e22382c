"""Change history: every ORM change of a customer's records, field by field.

A ``before_flush`` listener writes ChangeLog rows in the same transaction as
the change. Medical history is recorded without its values (only that a field
changed), so the history never becomes a side door to the anamnesis.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from flask import g, has_request_context
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

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
    Note,
    NotificationConsent,
    Order,
    Payment,
    ProcessingConsent,
    Return,
    Review,
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
# the card's own collections, recorded as fields of the customer
TAGS = "tags"
ATTRIBUTE = "attribute:"  # + the extra field's id: «attribute:3»


def attribute_field(attribute_id) -> str:
    return f"{ATTRIBUTE}{attribute_id}"


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(getattr(value, "label", value.value))
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


def _customer_id(obj):
    return obj.id if isinstance(obj, Customer) else getattr(obj, "customer_id", None)


def _columns(obj):
    """The columns the history records of ``obj``'s model (its customer's id is the row's own)."""
    for attr in inspect(type(obj)).column_attrs:
        if attr.key in SKIP or (attr.key == "customer_id" and not isinstance(obj, Customer)):
            continue
        yield attr.key


def _changes(obj):
    state = inspect(obj)
    for key in _columns(obj):
        history = state.attrs[key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if _comparable(old) != _comparable(new):
                yield key, old, new


def _values(obj, load: bool):
    """The fields of a created or deleted row that hold something (a row deleted after
    a commit has them expired: ``load`` reads them back before they go)."""
    for key in _columns(obj):
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


def _references(model) -> dict[str, tuple[str, type]]:
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
        self, obj, action, field=None, old=None, new=None, *, customer_id=None, entity=None, entity_id=None
    ):
        hide = isinstance(obj, VALUELESS) or self.erasure
        reference = _references(type(obj)).get(field) if entity is None else None
        if reference is not None:
            field, target = reference
            old, new = (self._named(target, v) for v in (old, new))
        self.rows.append(
            {
                "at": utcnow(),
                "user_id": self.user_id,
                "customer_id": customer_id if customer_id is not None else _customer_id(obj),
                "entity": entity or type(obj).__name__,
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
        return str(found) if found is not None else pk

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

    def whole(self, obj, action):
        """A created or deleted row: each field that holds something, or the row alone."""
        new = action == "create"
        found = False
        for key, value in _values(obj, load=not new):
            self.add(obj, action, key, None if new else value, value if new else None)
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
            self.add(obj, action)


def record_changes(session: Session, flush_context, instances) -> None:
    rows = _Rows(session)
    for obj in list(session.dirty):
        if isinstance(obj, TRACKED) and session.is_modified(obj, include_collections=False):
            for field, old, new in _changes(obj):
                rows.add(obj, "update", field, old, new)
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
    rows.write()


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
                if attr.key not in SKIP:
                    event.listen(
                        getattr(model, attr.key), "set", _keep_old_value, active_history=True, retval=True
                    )
