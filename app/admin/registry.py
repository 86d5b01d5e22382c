"""Registering the screens the app declares (app/views.py MENU, WITHOUT_MENU) with Flask-AppBuilder."""

from __future__ import annotations


def register_views(appbuilder, menu, without_menu) -> None:
    """Every screen and the menu, in the order declared; a related view (a card's tab)
    declared on a screen is registered with it."""
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
    # a screen's related views (a card's tabs) it declared but nobody registered
    registered = {type(v) for v in appbuilder.baseviews}
    for view in list(appbuilder.baseviews):
        for related in getattr(view, "related_views", None) or ():
            if related not in registered:
                appbuilder.add_view_no_menu(related)
                registered.add(related)
