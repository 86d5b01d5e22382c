"""How the change history names what changed: records, fields and actions as the screens name them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import current_app, g
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, DateTime, Numeric, func, select
from sqlalchemy.orm import aliased

from .. import access, audit, formatting, labels, models, notifications, payments
from ..labels import N_
from .base import PERCENT_COLUMNS, KartotekaModelView

CHANGE_ACTIONS = {"create": _l("создание"), "update": _l("изменение"), "delete": _l("удаление")}


def _screen_of(entity: str | None):
    """The screen that shows records of the model named ``entity`` (not a card's tab)."""
    views = [
        v
        for v in current_app.appbuilder.baseviews
        if isinstance(v, KartotekaModelView) and v.datamodel.obj.__name__ == entity
    ]
    views.sort(key=lambda v: type(v).__name__.endswith("Tab"))
    return views[0] if views else None


def record_label(entity: str | None):
    view = _screen_of(entity)
    return (view.record_label or view.show_title) if view is not None else entity


def _attribute_label(field: str):
    """An extra field of the card by its label («ИНН»), or by its number once deleted."""
    from ..extensions import db
    from ..models import CustomerAttribute

    number = field[len(audit.ATTRIBUTE) :]
    labels = g.setdefault("_kartoteka_attribute_labels", {})
    if number not in labels:
        attribute = db.session.get(CustomerAttribute, int(number)) if number.isdigit() else None
        labels[number] = (
            _l("Доп. поле «%(label)s»", label=attribute.label)
            if attribute is not None
            else _l("Доп. поле №%(number)s", number=number)
        )
    return labels[number]


def field_label(entity: str | None, field: str):
    if not field:
        return ""
    if field.startswith(audit.ATTRIBUTE):
        return _attribute_label(field)
    if field == audit.TAGS:
        return _l("Теги")
    view = _screen_of(entity)
    return view.label_columns.get(field, field) if view is not None else field


def _column(entity: str | None, field: str):
    model = getattr(models, entity or "", None)
    return getattr(getattr(model, "__table__", None), "c", {}).get(field) if field else None


# Texts the system stores in one language (audit.STORED_LOCALE), shown in the reader's.
STORED_TEXTS = {
    ("AccountOperation", "comment"): payments.comment_label,
    ("Message", "last_error"): notifications.reason_label,
    ("MessageAttempt", "reason"): notifications.reason_label,
}


# A reference is stored as what it points at was named (audit._named, in STORED_LOCALE):
# the numbered records are named again in the reader's language («Order #3»).
RECORD_NAMES = {
    msgid: ("id",)
    for msgid in (
        N_("Заказ №%(id)s"),
        N_("Возврат №%(id)s"),
        N_("Отзыв №%(id)s"),
        N_("Запись анамнеза №%(id)s"),
        N_("Сообщение №%(id)s"),
        N_("Платёж №%(id)s"),
        N_("Операция №%(id)s"),
    )
}


def _record_number(_name, value):
    if not value.isdigit():
        raise ValueError(value)
    return value


def _reference_label(entity: str | None, field: str, value):
    model = getattr(models, entity or "", None)
    if model is None or field not in {key for key, _target in audit.references(model).values()}:
        return value
    return labels.stored_text_label(value, RECORD_NAMES, _record_number) or value


# Counts of bytes, shown as the lists show them («253,4 кБ»; the history said «259494»).
BYTE_COLUMNS = {("CustomerFile", "size")}


def value_label(entity: str | None, field: str, value):
    """A stored value as the screens say it: «True»/«False» of a yes/no field, and
    amounts, dates and moments, which were shown as stored («1673.95»,
    «2026-12-03 06:50:54.495547» in UTC beside a list in the clinic's time)."""
    column = _column(entity, field)
    if value is None or value == "":
        return value
    if column is None:
        return _reference_label(entity, field, value)
    stored_text = STORED_TEXTS.get((entity, field))
    if stored_text is not None:  # written by the system in one language, read in the reader's
        return stored_text(value)
    kind = column.type
    if (entity, field) in BYTE_COLUMNS and str(value).isdigit():
        return formatting.file_size(int(value))
    members = getattr(kind, "enum_class", None)
    if members is not None:
        # a status or a kind, stored as its label in one language (audit.enum_text),
        # in the reader's; an older row written in English stays as written
        return next((m.label for m in members if audit.enum_text(m) == value), value)
    try:
        if isinstance(kind, Boolean):
            return {"True": _l("да"), "False": _l("нет")}.get(value, value)
        if isinstance(kind, Numeric):
            amount = Decimal(value)
            return formatting.number(amount) if field in PERCENT_COLUMNS else formatting.money(amount)
        if isinstance(kind, DateTime):
            return formatting.datetime_short(dt.datetime.fromisoformat(value))
        if isinstance(kind, Date):
            return formatting.date_short(dt.date.fromisoformat(value))
    except (ValueError, ArithmeticError):  # a value the policy masked, or an older row's text
        return value
    return value


class HistoryView(KartotekaModelView):
    """A list of the change history: what changed named in the user's words."""

    def visible_values(self, values: list[dict]) -> list[dict]:
        # After the field policy (its copies need the stored names): records, fields
        # and actions are named as the screens name them («Customer», «update»,
        # «birth_date» were shown as stored).
        for row in values:
            entity, field = row.get("entity"), row.get("field") or ""
            if "entity" in row:
                row["entity"] = record_label(entity)
            for key in ("old_value", "new_value"):
                if key in row:
                    row[key] = value_label(entity, field, row[key])
            if "field" in row:
                row["field"] = field_label(entity, field)
            if "action" in row:
                row["action"] = CHANGE_ACTIONS.get(row["action"], row["action"])
        return values


class FilterAfterLastDeletion(BaseFilter):
    """A customer's rows since their customer's id was last given out: SQLite gives
    the id of a deleted last customer to the next one, whose card showed the
    deleted customer's history (kept after the deletion) as its own."""

    name = ""
    arg_name = "after_deletion"

    def apply(self, query, value):
        from ..models import ChangeLog

        earlier = aliased(ChangeLog)
        last_deletion = (
            select(func.max(earlier.id))
            .where(
                earlier.entity == "Customer",
                earlier.action == "delete",
                earlier.entity_id == ChangeLog.customer_id,
            )
            .correlate(ChangeLog)
            .scalar_subquery()
        )
        return query.filter(ChangeLog.id > func.coalesce(last_deletion, 0))


class ScreensNaming:
    """The subject's readable report (app/subjects.py) named as the screens name things:
    a table by its screen's title, a column by its label, a value as the history shows it."""

    # the tables the card shows inside the customer's own page, not on a screen of their own
    TABLES = {"customer_attribute_value": _l("Дополнительные сведения"), "customer_tag": _l("Теги")}
    # columns a screen names for its search, not the customer's data: the name's folded
    # key read «эрасова зинаида» under «ФИО» beside «Фамилия» and «Имя»
    BOOKKEEPING = frozenset({"name_search"})

    def table(self, entity: str, name: str):
        view = _screen_of(entity)
        if view is None:
            return self.TABLES.get(name, name)
        return view.list_title or record_label(entity)

    def field(self, entity: str, column: str):
        """A column by its screen's label; a key by its record's («customer_id» is «Клиент»);
        None for a column no screen names (the row's version, a stored file's random
        name, the queue's moments): data.json keeps those, the readable report skips them."""
        from ..labels import COMMON_LABELS

        if column in self.BOOKKEEPING:
            return None
        view = _screen_of(entity)
        declared = dict(COMMON_LABELS)
        if view is not None:
            declared.update(
                (k, v) for k, v in view.label_columns.items() if str(v) != k.replace("_", " ").title()
            )
        for name in (column, column.removesuffix("_fk").removesuffix("_id")):
            if name in declared:
                return declared[name]
        return None

    def value(self, entity: str, column: str, value):
        kind = getattr(_column(entity, column), "type", None)
        members = getattr(kind, "enum_class", None)
        if members is not None:
            member = next((m for m in members if str(m.value) == value), None)
            return getattr(member, "label", value) if member is not None else value
        return value_label(entity, column, value)

    # the journal's columns its screen words from the stored key («documents» is «Документы»)
    JOURNAL_WORDS = {"field": access.journal_field, "detail": access.journal_detail}

    def row(self, entity: str, row: dict) -> dict:
        """A row as its screen names it: the history's records, fields, actions and values
        (the report read «Customer · update · city», «False», moments in UTC as stored) and
        the journal's tabs (it read «Открытие вкладки · documents»)."""
        view = _screen_of(entity)
        if view is not None:
            view.visible_values([row])
        if entity == "AccessLog":
            for column, words in self.JOURNAL_WORDS.items():
                if row.get(column) is not None:
                    row[column] = words(row[column])
        return row
