"""The page shell: the navigation bar rendered once per user, permissions and language.

FAB renders the navbar on every page: a permission check, a url_for and a
gettext per menu item (a tenth of a list page's time). What it shows depends
only on the user's name, their permission set, the language and the language
in the session, so it is rendered once for each combination and reused until
one of them changes (a permission changed in the Roles screen changes the set,
so the next request renders it anew).
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale
from babel.dates import get_day_names, get_month_names
from flask import g, request, session
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2 import pass_context
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

CACHE_SIZE = 512


def remembered(store: dict, key, make):
    """``store[key]``, made by ``make()`` the first time. A store that reaches
    CACHE_SIZE entries starts afresh (keys hold users, languages and options,
    so old ones are simply left behind)."""
    value = store.get(key)
    if value is None:
        value = make()
        if len(store) >= CACHE_SIZE:
            store.clear()
        store[key] = value
    return value


_NAVBARS: dict = {}


@pass_context
def navbar(context) -> Markup:
    user = g.get("user")
    authenticated = bool(getattr(user, "is_authenticated", False))
    sm = context["appbuilder"].sm
    key = (
        str(get_locale()),
        session.get("locale"),
        request.script_root,
        user.get_full_name() if authenticated else None,
        sm.user_permissions(user if authenticated else None),
    )
    template = context.environment.get_template("kartoteka/navbar_full.html")
    return remembered(_NAVBARS, key, lambda: Markup(template.render(context.get_all())))


_FRAGMENTS: dict = {}


def fragment(name: str, key, caller) -> Markup:
    """``{% call kartoteka_fragment("name", key) %}…{% endcall %}``: the block's HTML,
    rendered once per key. The key must hold everything the block shows (the
    language, the options of its selects); with ``None`` the block is rendered
    every time. For blank forms whose selects would otherwise be rendered option
    by option on every card."""
    if key is None:
        return Markup(caller())
    return remembered(_FRAGMENTS, (name, str(get_locale()), key), lambda: Markup(caller()))


@lru_cache(maxsize=8)
def _widget_texts(locale_id: str) -> str:
    locale = Locale.parse(locale_id)
    days = [get_day_names(width, context="stand-alone", locale=locale) for width in ("wide", "abbreviated")]
    months = [
        get_month_names(width, context="stand-alone", locale=locale) for width in ("wide", "abbreviated")
    ]
    order = (6, 0, 1, 2, 3, 4, 5)  # the datepicker's weeks start on Sunday in its arrays
    return htmlsafe_json_dumps(
        {
            "code": locale.language,
            "datepicker": {
                "days": [days[0][d].capitalize() for d in order],
                "daysShort": [days[1][d] for d in order],
                "daysMin": [days[1][d] for d in order],
                "months": [months[0][m].capitalize() for m in range(1, 13)],
                "monthsShort": [months[1][m] for m in range(1, 13)],
                "today": _("Сегодня"),
                "clear": _("Очистить"),
                "weekStart": locale.first_week_day + 1 if locale.first_week_day < 6 else 0,
            },
            "select2": {
                "inputTooShort": _("Введите ещё хотя бы 2 символа"),
                "noResults": _("Ничего не найдено"),
                "searching": _("Поиск…"),
                "errorLoading": _("Не удалось загрузить варианты"),
                "loadingMore": _("Загрузка…"),
                "removeAllItems": _("Очистить"),
            },
        }
    )


def widget_locale() -> Markup:
    """The texts of FAB's JavaScript widgets (Select2, the datepicker) in the page's
    language: FAB ships them in English only and loads no locale files."""
    return Markup(_widget_texts(str(get_locale())))
