"""Change history: every ORM change of a customer's records, field by field.

A ``before_flush`` listener writes ChangeLog rows in the same transaction as
the change. Medical history is recorded without its values (only that a field
changed), so the history never becomes a side door to the anamnesis.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from flask import g, has_request_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from .models import (
    AccessLog,
    AccountOperation,
    Certificate,
    ChangeLog,
    Customer,
    CustomerDocument,
    CustomerFile,
    MedicalRecord,
    Note,
    Order,
    Payment,
    Return,
    Review,
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
    Certificate,  # sold: who sold it and when (its balance moves by its operations)
)
VALUELESS = (MedicalRecord,)
SKIP = {"changed_on", "changed_by_fk", "created_on", "created_by_fk", "version", "name_search"}


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


def _changes(obj):
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        if attr.key in SKIP:
            continue
        history = state.attrs[attr.key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if _comparable(old) != _comparable(new):
                yield attr.key, old, new


def record_changes(session: Session, flush_context, instances) -> None:
    user_id = _user_id()
    rows = []
    for obj in list(session.dirty):
        if isinstance(obj, TRACKED) and session.is_modified(obj, include_collections=False):
            for field, old, new in _changes(obj):
                # an erasure (app/subjects.py) records which fields it destroyed, not their values
                hide = isinstance(obj, VALUELESS) or session.info.get("kartoteka_erasure", False)
                rows.append(
                    ChangeLog(
                        user_id=user_id,
                        customer_id=_customer_id(obj),
                        entity=type(obj).__name__,
                        entity_id=obj.id,
                        action="update",
                        field=field,
                        old_value=None if hide else _text(old),
                        new_value=None if hide else _text(new),
                    )
                )
    for obj in list(session.deleted):
        if isinstance(obj, TRACKED) and not isinstance(obj, Customer):
            rows.append(
                ChangeLog(
                    user_id=user_id,
                    customer_id=_customer_id(obj),
                    entity=type(obj).__name__,
                    entity_id=obj.id,
                    action="delete",
                )
            )
    session.add_all(rows)


def record_creations(session: Session, flush_context) -> None:
    """New rows get their ids in the flush: log them after it (committed with it)."""
    user_id = _user_id()
    rows = [
        ChangeLog(
            user_id=user_id,
            customer_id=_customer_id(obj),
            entity=type(obj).__name__,
            entity_id=obj.id,
            action="create",
        )
        for obj in session.new
        if isinstance(obj, TRACKED)
    ]
    if rows:
        session.add_all(rows)


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
        for model in TRACKED:
            for attr in inspect(model).column_attrs:
                if attr.key not in SKIP:
                    event.listen(
                        getattr(model, attr.key), "set", _keep_old_value, active_history=True, retval=True
                    )
