"""The page shell: the navigation bar rendered once per user, permissions and language.

FAB renders the navbar on every page: a permission check, a url_for and a
gettext per menu item (a tenth of a list page's time). What it shows depends
only on the user's name, their permission set, the language and the language
in the session, so it is rendered once for each combination and reused until
one of them changes (a permission changed in the Roles screen changes the set,
so the next request renders it anew).
"""

from __future__ import annotations

from flask import g, request, session
from flask_babel import get_locale
from jinja2 import pass_context
from markupsafe import Markup

_CACHE: dict = {}
CACHE_SIZE = 512


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
    html = _CACHE.get(key)
    if html is None:
        html = Markup(
            context.environment.get_template("kartoteka/navbar_full.html").render(context.get_all())
        )
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = html
    return html
