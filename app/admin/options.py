"""The choices of relation selects and filters, loaded in one UNION per request."""

from __future__ import annotations

import inspect
import time
import weakref
from decimal import Decimal
from functools import lru_cache

from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import String, cast, event, literal, null, select, union_all
from sqlalchemy.orm import Session
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


# The choices of the lists' relation filters («Менеджер», «Специалист», «Вид»),
# kept per process and database for FILTER_CHOICES_SECONDS: they were a statement
# of every list page (a fifth of its statements) for a staff list that changes a
# few times a year. A change made through this process's sessions is seen at
# once (the flush or the ORM statement that makes it forgets them); one made by
# another worker shows in that worker's filter within the interval. Forms and
# the card's order form still read their choices on every request: a price or a
# staff member there must be the current one.
FILTER_CHOICES_SECONDS = 30.0
clock = time.monotonic
_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> {specs: (until, options)}
# the tables whose writes make the kept choices stale: the choices' own, and the
# users' roles and the roles' permissions that pick the staff a filter offers
_watched = {"ab_user", "ab_role", "ab_user_role", "ab_permission_view_role", "ab_user_group", "ab_group_role"}


def kept_options(session, models: dict) -> dict[str, list[Option]]:
    """load_options(session, models), kept for FILTER_CHOICES_SECONDS (see above)."""
    if not models:
        return {}
    engine = session.get_bind()
    kept = _kept.get(engine)
    if kept is None:
        kept = _kept[engine] = {}
    key = tuple(models.items())
    now = clock()
    found = kept.get(key)
    if found is not None and found[0] > now:
        return found[1]
    options = load_options(session, models)
    _watched.update((spec[0] if isinstance(spec, tuple) else spec).__table__.name for spec in models.values())
    kept[key] = (now + FILTER_CHOICES_SECONDS, options)
    return options


def forget() -> None:
    """Drop every kept filter choice (a write through the ORM, or a test's clean-up)."""
    _kept.clear()


@event.listens_for(Session, "after_flush")
def _forget_after_write(session, _flush_context):
    if _kept and any(
        obj.__table__.name in _watched
        for changed in (session.new, session.deleted, session.dirty)
        for obj in changed
        if hasattr(obj, "__table__")
    ):
        forget()


@event.listens_for(Session, "do_orm_execute")
def _forget_after_statement(state):
    if _kept and (state.is_update or state.is_delete or state.is_insert):
        table = getattr(state.statement, "table", None)
        if table is None or getattr(table, "name", None) in _watched:
            forget()
