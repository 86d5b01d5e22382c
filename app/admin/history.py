"""How the change history names what changed: records, fields and actions as the screens name them."""

from __future__ import annotations

from flask import (
    current_app,
)
from flask_babel import lazy_gettext as _l

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


def field_label(entity: str | None, field: str):
    view = _screen_of(entity)
    if not field:
        return ""
    return view.label_columns.get(field, field) if view is not None else field


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
            if "field" in row:
                row["field"] = field_label(entity, field)
            if "action" in row:
                row["action"] = CHANGE_ACTIONS.get(row["action"], row["action"])
        return values
