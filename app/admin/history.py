"""How the change history names what changed: records, fields and actions as the screens name them."""

from __future__ import annotations

from flask import current_app, g
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, func, select
from sqlalchemy.orm import aliased

from .. import audit, models
from .base import KartotekaModelView

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


def _is_flag(entity: str | None, field: str) -> bool:
    model = getattr(models, entity or "", None)
    column = getattr(getattr(model, "__table__", None), "c", {}).get(field) if field else None
    return column is not None and isinstance(column.type, Boolean)


def value_label(entity: str | None, field: str, value):
    """A stored «True»/«False» of a yes/no field as the screens say it."""
    if value in ("True", "False") and _is_flag(entity, field):
        return _l("да") if value == "True" else _l("нет")
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
