"""What of a stored value the signed-in user is shown: the one hook every rendering
goes through (lists, records, card tabs and header, forms, CSV, the REST API,
lookups), reading the field levels of app.access.

Three kinds of values carry a protected field:

- a column under a field rule (``Customer.phone``): hidden, masked or shown as
  the user's level on that field says;
- a copy of another record's value (the change history's «Было» and «Стало»,
  declared with ``info={"copy_of": (entity column, field column)}``): as the
  copied field, and hidden where the user may not read the copied record at all;
- free text (notes, message bodies, delivery errors, comments, the journal's
  details: every ``Text`` column and every long ``String``): whatever a person or
  a template wrote into it. Phone numbers and e-mail addresses are found by their
  form (any number, not only the customer's: ``phonenumbers``' matcher), the
  customer's birth date and document numbers by their values; each is masked or
  hidden as the user's level on its field says.

A masked value comes out as :class:`Masked`: formatters leave it as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import phonenumbers
from flask import current_app, g
from sqlalchemy import String, Text, cast, func, literal, select, union_all

from . import access

HIDDEN = "***"
LONG_TEXT = 200  # a String column this long is free text


class Masked(str):
    """A value as the policy shows it to a role that sees it masked."""


def mask(value) -> Masked:
    return Masked(access.mask_value(value))


# -- what a column is -------------------------------------------------------


@lru_cache(maxsize=256)
def free_text_columns(model) -> frozenset[str]:
    """Columns of ``model`` that hold text anybody may have written anything into."""
    table = getattr(model, "__table__", None)
    if table is None:
        return frozenset()
    found = set()
    for column in table.columns:
        if access.column_field(model, column.name) is not None or column.info.get("copy_of"):
            continue
        kind = column.type
        if isinstance(kind, Text) or (isinstance(kind, String) and (kind.length or 0) >= LONG_TEXT):
            found.add(column.name)
    return frozenset(found)


@lru_cache(maxsize=256)
def ruled_columns(model) -> tuple[tuple[str, str], ...]:
    """(column, field key) of ``model``'s columns under a field rule."""
    name = getattr(model, "__name__", model)
    return tuple((column, key) for (owner, column), key in access.COLUMN_FIELDS.items() if owner == name)


@lru_cache(maxsize=256)
def copy_columns(model) -> dict[str, tuple[str, str]]:
    """Columns of ``model`` holding a copy of another record's field: column -> (entity, field) columns."""
    table = getattr(model, "__table__", None)
    if table is None:
        return {}
    return {c.name: tuple(c.info["copy_of"]) for c in table.columns if c.info.get("copy_of")}


def model_resources() -> dict[str, str]:
    """Model class name -> the resource (permission) its screens are read under."""
    cache = current_app.extensions.setdefault("kartoteka_model_resources", {})
    if not cache:
        for view in current_app.appbuilder.baseviews:
            model = getattr(getattr(view, "datamodel", None), "obj", None)
            name = getattr(view, "class_permission_name", None)
            if model is not None and name in access.RESOURCE_LABELS:
                cache.setdefault(model.__name__, name)
    return cache


# -- the user's levels, once per request ---------------------------------------

# How a field's values are found in free text: by their form or by the customer's values.
BY_FORM = {"customer.phone": "phone", "customer.email": "email"}
BY_VALUE = ("customer.birth_date", "document.number")


class Levels:
    """The current user's level on every field, and what free text must be searched for."""

    def __init__(self):
        self.of = {key: access.field_level(key) for key in access.FIELDS}
        unreadable = {key for key, level in self.of.items() if level in (access.HIDE, access.MASK)}
        self.by_form = [(BY_FORM[key], self.of[key]) for key in BY_FORM if key in unreadable]
        self.by_value = [key for key in BY_VALUE if key in unreadable]
        self.scrubs = bool(self.by_form or self.by_value)

    @classmethod
    def current(cls) -> Levels:
        perms = access._perms()
        cached = g.get("_kartoteka_levels")
        if cached is None or cached[0] is not perms:
            cached = g._kartoteka_levels = (perms, cls())
        return cached[1]


def shown(level: str, value):
    """``value`` of a field at ``level``: itself, masked, or None (hidden)."""
    if level in (access.READ, access.WRITE) or value is None or value == "":
        return value
    return mask(value) if level == access.MASK else None


# -- free text -------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS = re.compile(r"\d")


def _replacement(level: str, found: str) -> str:
    return access.mask_value(found) if level == access.MASK else HIDDEN


def scrub(text, customer_id=None, levels: Levels | None = None):
    """``text`` with every protected value in it masked or hidden for the current user."""
    if not isinstance(text, str) or not text:
        return text
    levels = levels or Levels.current()
    if not levels.scrubs:
        return text
    result = text
    for kind, level in levels.by_form:
        if kind == "email" and "@" in result:
            result = _EMAIL.sub(lambda m, lv=level: _replacement(lv, m[0]), result)
        elif kind == "phone" and len(_DIGITS.findall(result)) >= 7:
            region = current_app.config["KARTOTEKA_PHONE_REGION"]
            found = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(result, region)]
            for start, end in reversed(found):
                result = result[:start] + _replacement(level, result[start:end]) + result[end:]
    if levels.by_value and customer_id is not None:
        if customer_id is UNKNOWN:
            # whose values to look for is unknown: a text that may hold them is not shown
            return HIDDEN if _DIGITS.search(result) else result
        values = secrets([customer_id]).get(customer_id, {})
        for key in levels.by_value:
            found = sorted((v for v in values.get(key, ()) if v in result), key=len, reverse=True)
            if found:
                pattern = re.compile(r"(?<![\w])(?:" + "|".join(map(re.escape, found)) + r")(?![\w])")
                result = pattern.sub(lambda m, lv=levels.of[key]: _replacement(lv, m[0]), result)
    return Masked(result) if result != text else text


def _value_sources(keys) -> list[tuple[str, object, object]]:
    """(field key, customer id column, value column) of every stored value of the
    fields ``keys``, present (their columns) and past (the change history's copies)."""
    from . import models

    sources = []
    for key in keys:
        for model_name, column in access.FIELDS[key].columns:
            model = getattr(models, model_name)
            value = getattr(model, column)
            if not hasattr(value, "property") or not hasattr(value.property, "columns"):
                continue  # a computed field (the age): its stored source is listed too
            owner = model.id if model is models.Customer else model.customer_id
            sources.append((key, owner, cast(value, String), None))
            history = models.ChangeLog
            condition = (history.entity == model_name) & (history.field == column)
            sources.append((key, history.customer_id, history.old_value, condition))
            sources.append((key, history.customer_id, history.new_value, condition))
    return sources


def secrets(customer_ids) -> dict[int, dict[str, set[str]]]:
    """The values of the customers that free text is searched for (their birth dates
    and document numbers, present and past), in the forms a text may hold them;
    loaded once per request for the customers not yet known, in one statement."""
    cache = g.setdefault("_kartoteka_secrets", {})
    missing = {i for i in customer_ids if i is not None and i is not UNKNOWN and i not in cache}
    if missing:
        from .extensions import db

        parts = []
        for key, owner, value, condition in _value_sources(BY_VALUE):
            part = select(owner, literal(key), value).where(owner.in_(missing), value.isnot(None))
            parts.append(part.where(condition) if condition is not None else part)
        for pk in missing:
            cache[pk] = {}
        for pk, key, value in db.session.execute(union_all(*parts)):
            remember(cache[pk], key, value)
    return cache


SHORTEST = 4  # a value shorter than this is not searched for in text (it would match anything)


def remember(values: dict, key: str, value) -> None:
    """Add one stored value of field ``key`` to a customer's values, in the forms a
    text may hold it (a date as ISO, as «13.04.1979», «13.04.79», «4/13/1979»)."""
    if value is None:
        return
    found = values.setdefault(key, set())
    text = value.isoformat() if isinstance(value, dt.date) else str(value).strip()
    try:
        day = dt.date.fromisoformat(text[:10]) if len(text) >= 10 and text[4] == "-" else None
    except ValueError:
        day = None
    if day is not None:
        found.update(
            {
                day.isoformat(),
                day.strftime("%d.%m.%Y"),
                day.strftime("%d.%m.%y"),
                f"{day.month}/{day.day}/{day.year}",
            }
        )
    elif len(text) >= SHORTEST:
        found.add(text)


def secret_columns() -> list:
    """Columns, for a statement that selects a customer, of that customer's values
    that free text is searched for («key\x1evalue» joined by \x1f), one per source
    table; none where the user's texts need no search."""
    keys = tuple(Levels.current().by_value)
    if not keys:
        return []
    columns = _SECRET_COLUMNS.get(keys)
    if columns is None:
        columns = _SECRET_COLUMNS[keys] = _secret_columns(keys)
    return columns


# The statements depend only on the fields searched for: composed once per set of fields
# (they were a twentieth of a card's Python calls).
_SECRET_COLUMNS: dict[tuple, list] = {}


def _secret_columns(keys) -> list:
    from .models import Customer

    columns = []
    for key, owner, value, condition in _value_sources(keys):
        if owner is Customer.id:
            continue  # on the customer's row itself: read from the loaded customer
        item = literal(key) + "\x1e" + value
        statement = select(func.aggregate_strings(item, "\x1f")).where(
            owner == Customer.id, value.isnot(None)
        )
        if condition is not None:
            statement = statement.where(condition)
        columns.append(statement.correlate(Customer).scalar_subquery())
    return columns


def prime(customer, *loaded) -> None:
    """Tell :func:`secrets` the values of a customer loaded with it (the card loads
    them with the customer, :func:`secret_columns`: no statement of their own)."""
    cache = g.setdefault("_kartoteka_secrets", {})
    values = cache.setdefault(customer.id, {})
    for key in Levels.current().by_value:
        for model_name, column in access.FIELDS[key].columns:
            if model_name == "Customer" and column in customer.__table__.columns:
                remember(values, key, getattr(customer, column))
    for packed in loaded:
        for item in (packed or "").split("\x1f"):
            key, _, value = item.partition("\x1e")
            if value:
                remember(values, key, value)


# -- rows --------------------------------------------------------------------------


UNKNOWN = "unknown"  # a row whose customer cannot be told (not None: a row of no customer)


def customer_of(model, row: dict, item=None, pk=None):
    """The id of the customer a row belongs to, None for a row of no customer, or
    UNKNOWN where the row does not say."""
    if model.__name__ == "Customer":
        return getattr(item, "id", None) or pk or row.get("id") or UNKNOWN
    if item is not None:
        return getattr(item, "customer_id", None)
    if not hasattr(model, "customer_id"):
        return None
    if "customer_id" in row:
        return row["customer_id"]
    if "customer" not in row:
        return UNKNOWN
    ref = row["customer"]
    return ref.get("id") if isinstance(ref, dict) else getattr(ref, "id", None)


def row(model, values: dict, item=None, pk=None, levels: Levels | None = None) -> dict:
    """``values`` (column -> stored value) of one record of ``model`` as the current
    user may see them: hidden columns are removed, masked ones masked, copies
    follow the copied field, free text is scrubbed. Changes ``values`` in place."""
    levels = levels or Levels.current()
    for column, key in ruled_columns(model):
        if column in values:
            level = levels.of[key]
            if level == access.HIDE:
                del values[column]
            elif level == access.MASK and values[column] not in (None, ""):
                values[column] = mask(values[column])
    copies = [(c, source) for c, source in copy_columns(model).items() if c in values]
    texts = [c for c in free_text_columns(model) if c in values] if levels.scrubs else []
    if not copies and not texts:
        return values
    customer = customer_of(model, values, item, pk)
    for column, (entity_column, field_column) in copies:
        entity, field = _read(values, item, entity_column), _read(values, item, field_column)
        resource = model_resources().get(entity) if entity else None
        if resource is None or not access.may("can_read", resource):
            level = access.HIDE  # a copy from a record the user may not read, or from none known
        else:
            key = access.column_field(entity, field or "")
            level = levels.of[key] if key is not None else None
        if level is None:
            values[column] = scrub(values[column], customer, levels)
        elif level == access.HIDE:
            values[column] = None if values[column] is None else HIDDEN
        else:
            values[column] = shown(level, values[column])
    for column in texts:
        values[column] = scrub(values[column], customer, levels)
    return values


def _read(values: dict, item, column: str):
    if column in values:
        return values[column]
    return getattr(item, column, None) if item is not None else None


def row_sources(model, columns) -> tuple[str, ...]:
    """What :func:`row` reads of a record besides its shown ``columns`` when the record
    is read as values (no object to ask): its customer, the sources of its copies."""
    return _row_sources(model, tuple(columns))


@lru_cache(maxsize=256)
def _row_sources(model, columns: tuple) -> tuple[str, ...]:
    table = getattr(model, "__table__", None)
    if table is None:
        return ()
    wanted = []
    if "customer_id" in table.columns and "customer" not in columns:
        wanted.append("customer_id")
    for source in copy_columns(model).values():
        wanted.extend(source)
    return tuple(dict.fromkeys(c for c in wanted if c not in columns and c in table.columns))


def rows(model, values: list[dict], items=None, pks=None) -> list[dict]:
    """:func:`row` for each of a page's rows, the customers' values loaded at once.
    A row holding none of the columns :func:`row` would change for this user (a
    masked or hidden field, a copy, free text where texts are searched) is left
    as it is without a call (a card's tabs had ~750 Python calls of it)."""
    levels = Levels.current()
    if not values:
        return values
    of = levels.of
    touched = {column for column, key in ruled_columns(model) if of[key] in (access.HIDE, access.MASK)}
    touched.update(copy_columns(model))
    if levels.scrubs:
        touched.update(free_text_columns(model))
    if not touched:
        return values
    items = items or [None] * len(values)
    pks = pks or [None] * len(values)
    texts = free_text_columns(model) | copy_columns(model).keys()
    if levels.by_value and texts & values[0].keys():
        secrets([customer_of(model, v, i, p) for v, i, p in zip(values, items, pks, strict=True)])
    for value, item, pk in zip(values, items, pks, strict=True):
        if not touched.isdisjoint(value):
            row(model, value, item, pk, levels)
    return values
