"""The choices of relation selects and filters, loaded in one UNION per request."""

from __future__ import annotations

import inspect
from decimal import Decimal
from functools import lru_cache

from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import String, cast, literal, null, select, union_all
from wtforms.fields.core import UnboundField

from .. import (
    formatting,
)
from ..extensions import db
from .datamodel import (
    BY_POSITION,
    values_connection,
)

# The empty choice of an optional select. WTForms shows an option's value when
# its label is empty, and FAB's blank option has the value «__None».
BLANK = "—"


@lru_cache(maxsize=64)
def validators_position(field_class) -> int | None:
    """Where ``validators`` comes among a field class's positional arguments (after
    ``self``): 1 for WTForms' (label, validators), 2 for an enum select's
    (enum_class, label, validators)."""
    names = list(inspect.signature(field_class.__init__).parameters)[1:]
    return names.index("validators") if "validators" in names else None


def relation_fields(form_class):
    """(name, unbound field) of the relation selects of a generated form class."""
    for name, value in vars(form_class).items():
        if isinstance(value, UnboundField) and value.field_class in (
            QuerySelectField,
            QuerySelectMultipleField,
        ):
            yield name, value


def option_label(model):
    if model is User:
        return User.first_name + " " + User.last_name
    if hasattr(model, "name"):
        return model.name
    if hasattr(model, "label"):
        return model.label
    if hasattr(model, "full_name") and hasattr(model, "last_name"):
        return model.last_name + " " + model.first_name
    return cast(model.id, String)


def related_query(model):
    """A relation select's options: one ordered query (FAB: a count and a query)."""
    return db.session.query(model).order_by(option_label(model))


class Option:
    """A light option of a filter select: only the id and the label are needed."""

    __slots__ = ("id", "label", "price")

    def __init__(self, id, label, price=None):
        # a service or product says its price («Консультация — 1 500,00 ₽»): the
        # receptionist books by name and tells the customer what it costs
        self.id = id
        self.price = price
        self.label = label if price is None else f"{label} — {formatting.money(Decimal(price))}"

    @property
    def name(self):
        return self.label

    def __str__(self):
        return self.label or ""


@lru_cache(maxsize=128)
def options_statement(specs: tuple):
    """The UNION of ``specs`` ((name, model or (model, condition)), …), composed
    once: building it took longer than PostgreSQL takes to run it. Callers keep
    their specs (and conditions) in long-lived objects so the cache hits."""
    parts = []
    for name, spec in specs:
        model, condition = spec if isinstance(spec, tuple) else (spec, None)
        price = cast(model.price, String) if hasattr(model, "price") else cast(null(), String)
        part = select(
            literal(name).label("field"),
            model.id.label("id"),
            option_label(model).label("label"),
            price.label("price"),
        )
        parts.append(part.where(condition) if condition is not None else part)
    return union_all(*parts).order_by("field", "label")


def load_options(session, models: dict) -> dict[str, list[Option]]:
    if not models:
        return {}
    return options_of(models, option_rows(session, models))


def option_rows(session, models: dict) -> tuple[tuple, ...]:
    """The rows (field, id, label, price) of the options of ``models``, as plain tuples."""
    if not models:
        return ()
    rows = (
        values_connection(session)
        .execute(options_statement(tuple(models.items())), execution_options=BY_POSITION)
        .all()
    )
    return tuple(map(tuple, rows))


def options_of(models: dict, rows) -> dict[str, list[Option]]:
    """The options of ``models`` made of their ``rows`` (see option_rows)."""
    options: dict[str, list[Option]] = {name: [] for name in models}
    for field, pk, label, price in rows:
        options[field].append(Option(pk, label, price))
    return options
