"""Registering the screens the app declares (app/views.py MENU, WITHOUT_MENU) with Flask-AppBuilder."""

from __future__ import annotations


def register_views(appbuilder, menu, without_menu) -> None:
    """Every screen and the menu, in the order declared."""
    for category, category_label, category_icon, items in menu:
        extra = (
            {}
            if category_label is None
            else {"category_label": category_label, "category_icon": category_icon}
        )
        for view, name, label, icon in items:
            appbuilder.add_view(view, name, label=label, icon=icon, category=category, **extra)
    for view in without_menu:
        appbuilder.add_view_no_menu(view)
