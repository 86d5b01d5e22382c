"""Rules every stored record follows, whichever form, API or command wrote it.

- A blank optional value is NULL: a customer saved with «Номер карты» left empty
  stored ``''`` in a unique column, and every later customer without a card
  number was refused.
- A unique value names the record that already holds it (the field and a link),
  checked before the database refuses the row with an error that names nothing.
"""

from __future__ import annotations

from sqlalchemy import Column, String, Text, UniqueConstraint, event, select
from sqlalchemy.orm import Session

from .errors import ValidationFailed


def _models_module() -> str:
    from . import models

    return models.__name__


def _text_columns(model) -> list[tuple[str, bool, object]]:
    """(attribute, nullable, default) of the model's text columns, found once per model."""
    found = model.__dict__.get("_kartoteka_text_columns")
    if found is None:
        found = []
        for prop in model.__mapper__.column_attrs:
            (column, *_rest) = prop.columns
            if not isinstance(column, Column):  # a computed attribute (column_property)
                continue
            if isinstance(column.type, String | Text) and not column.primary_key:
                found.append((prop.key, bool(column.nullable), scalar_default(column)))
        model._kartoteka_text_columns = found
    return found


def blank_to_null(obj) -> None:
    """Blank text (empty or only spaces) in an optional column becomes NULL; in a
    required one, the column's default where it has one (a tag saved with «Цвет»
    left empty stored ``''``, not its grey), else the empty string, so that the
    required-field rule sees it as missing."""
    for key, nullable, default in _text_columns(type(obj)):
        value = obj.__dict__.get(key)
        if isinstance(value, str) and not value.strip():
            if nullable:
                setattr(obj, key, None)
            elif default is not None:
                setattr(obj, key, default)
            elif value:
                setattr(obj, key, "")


# Characters no typed text holds: the C0 controls but tab and line breaks, DEL and
# the C1 controls. A NUL broke PostgreSQL (500); the others were stored and shown.
_CONTROL = frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))) - set("\t\n\r")


def control_character(text) -> str | None:
    """The first control character of ``text`` («\\x07»), or None."""
    if not isinstance(text, str):
        return None
    return next((ch for ch in text if ch in _CONTROL), None)


def require_any(obj, fields, message) -> None:
    """Refuse a record whose ``fields`` are all blank: a doctor's «Сохранить» on an
    empty anamnesis form stored a record with nothing in it, which the doctor (who
    may not delete) could not take back."""
    if not any(
        bool(v.strip()) if isinstance(v, str) else v is not None for v in map(obj.__dict__.get, fields)
    ):
        raise ValidationFailed({None: message})


def scalar_default(column):
    """The column's plain default value (0 for a discount), or None."""
    default = column.default
    return default.arg if default is not None and default.is_scalar else None


def fill_defaults(obj) -> None:
    """A required column left blank takes its default («Скидка» empty is 0 %)."""
    for prop in type(obj).__mapper__.column_attrs:
        column = prop.columns[0]
        if not isinstance(column, Column):  # a computed attribute (column_property)
            continue
        if column.nullable or column.primary_key or obj.__dict__.get(prop.key, 0) is not None:
            continue
        default = scalar_default(column)
        if default is not None:
            setattr(obj, prop.key, default)


def _ours(obj) -> bool:
    return type(obj).__module__ == _models_module()


def _before_flush(session: Session, flush_context, instances) -> None:
    for obj in (*session.new, *session.dirty):
        if _ours(obj):
            blank_to_null(obj)


def install() -> None:
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


def unique_keys(model) -> list[tuple[str, ...]]:
    """The model's unique keys as attribute names (a single unique column, or a
    unique constraint over several), primary key excluded."""
    table = model.__table__
    by_column = {prop.columns[0].name: prop.key for prop in model.__mapper__.column_attrs}
    keys = [(by_column[c.name],) for c in table.columns if c.unique and not c.primary_key]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.columns:
            keys.append(tuple(by_column[c.name] for c in constraint.columns))
    return keys


def _key_value(obj, attr):
    """A key column's value, read through its relation where only that is set: a
    new consent chosen for a customer has ``customer`` but no ``customer_id`` before
    the flush, and its uniqueness went unchecked until the database refused it with
    a message that named nothing."""
    value = getattr(obj, attr)
    if value is not None:
        return value
    for rel in type(obj).__mapper__.relationships:
        columns = [c.key for c in rel.local_columns]
        if columns == [attr] and not rel.uselist:
            related = getattr(obj, rel.key)
            if related is not None:
                (remote,) = [pair[1] for pair in rel.local_remote_pairs]
                return getattr(related, remote.key)
    return None


def unique_conflicts(session: Session, obj) -> list[tuple[tuple[str, ...], object]]:
    """Each unique key whose values another row already holds, with that row."""
    model = type(obj)
    found = []
    with session.no_autoflush:
        for key in unique_keys(model):
            values = [_key_value(obj, attr) for attr in key]
            if any(v is None for v in values):
                continue  # NULLs never collide
            statement = select(model).where(
                *(getattr(model, a) == v for a, v in zip(key, values, strict=True))
            )
            if obj.id is not None:
                statement = statement.where(model.id != obj.id)
            other = session.scalars(statement.limit(1)).first()
            if other is not None:
                found.append((key, other))
    return found
