"""The page shell: the navigation bar rendered once per user, permissions and language.

FAB renders the navbar on every page: a permission check, a url_for and a
gettext per menu item (a tenth of a list page's time). What it shows depends
only on the user's name, their permission set, the language and the language
in the session, so it is rendered once for each combination and reused until
one of them changes (a permission changed in the Roles screen changes the set,
so the next request renders it anew).
"""

from __future__ import annotations

from collections import ChainMap
from functools import lru_cache
from types import SimpleNamespace
from urllib.parse import urlencode

import flask_babel
import pytz
from babel import Locale
from babel.dates import get_day_names, get_month_names
from flask import g, url_for
from flask.globals import _cv_app, _cv_request
from flask.templating import Environment as FlaskEnvironment
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2 import pass_context, pass_eval_context
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape
from werkzeug.local import LocalProxy

CACHE_SIZE = 512

# What markupsafe.escape replaces, for str.translate: a text escaped in one C call.
HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


class Environment(FlaskEnvironment):
    """Flask's Jinja environment, whose templates read the environment's globals
    directly instead of through a ChainMap.

    Jinja 3 gives every template ``ChainMap({}, env.globals)``; each render and
    each ``{% import %}`` then walks that map key by key in Python (~150 calls
    an import, a thousand a page). A template loaded without globals of its
    own gets the environment's dict itself, so it sees later additions as
    before. A template asked for with globals of its own
    (``get_template(name, globals=…)``) gets its ChainMap back, so they never
    reach the environment's dict.
    """

    def make_globals(self, d):
        if not d:
            return self.globals
        return super().make_globals(d)

    def _load_template(self, name, globals):
        template = super()._load_template(name, None)
        if globals:
            if template.globals is self.globals:
                template.globals = ChainMap({}, self.globals)
            template.globals.update(globals)
        return template


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


def app_store(name: str) -> dict:
    """A cache kept on the current application: for what depends on its routes (two
    applications in one process, as the tests make, may register different views)."""
    return _cv_app.get().app.extensions.setdefault(f"kartoteka_{name}", {})


# What request.url is made of (werkzeug's get_current_url): the parts of the WSGI environ.
_URL_PARTS = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
)


def request_url(request_) -> str:
    """``request_.url``, looked up by the environ's parts it is made of: werkzeug
    quotes and unquotes it anew for every request (~85 Python calls), and a list
    page compares it with the last page of the back history on every load."""
    environ = request_.environ
    key = tuple(map(environ.get, _URL_PARTS))
    urls = app_store("request_urls")
    found = urls.get(key)
    if found is None:
        found = request_.url
        if len(urls) >= CACHE_SIZE:
            urls.clear()
        urls[key] = found
    return found


_NAVBARS: dict = {}


@pass_context
def navbar(context) -> Markup:
    app_ctx, req_ctx = _cv_app.get(), _cv_request.get()  # g, the session, the request without proxies
    user = app_ctx.g.__dict__.get("user")
    if isinstance(user, LocalProxy):  # FAB's g.user is Flask-Login's current_user: resolved once
        user = user._get_current_object()
    authenticated = bool(getattr(user, "is_authenticated", False))
    sm = context["appbuilder"].sm
    key = (
        str(get_locale()),
        req_ctx.session.get("locale"),
        req_ctx.request.script_root,
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
            # FAB's ab_actions.js alerts in English when an action has no rows ticked
            "fab": {"No row selected": _("Отметьте хотя бы одну строку")},
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


def session_watch() -> Markup:
    """What kartoteka.js's session watch needs on a signed-in page: the idle timeout,
    the address that keeps the session while a form is filled in, and its texts."""
    from flask import current_app, url_for

    from .errorpages import idle_text
    from .security import SEEN_STEP

    idle = current_app.permanent_session_lifetime.total_seconds()
    return Markup(
        htmlsafe_json_dumps(
            {
                "idle": idle,
                "step": min(SEEN_STEP, idle / 4),
                "alive": url_for("KartotekaUserDBModelView.keep_alive"),
                "login": current_app.appbuilder.get_url_for_login,
                "warning": _("Сеанс скоро завершится: в Картотеке давно ничего не делали."),
                "stay": _("Продолжить работу"),
                "ended": _(
                    "Сеанс завершён: в Картотеке ничего не делали дольше, чем %(idle)s. Введённое на этой "
                    "странице не потеряно: войдите снова в новой вкладке, вернитесь сюда и сохраните.",
                    idle=idle_text(),
                ),
                "sign_in": _("Войти в новой вкладке"),
            }
        )
    )


def widget_locale() -> Markup:
    """The texts of FAB's JavaScript widgets (Select2, the datepicker) in the page's
    language: FAB ships them in English only and loads no locale files."""
    return Markup(_widget_texts(str(get_locale())))


# -- Flask-Babel's per-request context, without the proxies -------------------
#
# Every gettext, format_* and get_locale() call of Flask-Babel 4 finds its
# per-request namespace through three LocalProxy lookups on ``g`` and then
# looks the translations up by the locale's string form: about 45 Python calls
# for one translated word, and a list page translates and formats a few
# hundred. The two functions below give the same answers from the application
# context directly and remember the request's translations in that namespace.


def _babel_context():
    """flask_babel._get_current_context: the namespace Flask-Babel keeps on ``g``."""
    ctx = _cv_app.get(None)
    if ctx is None:
        return None
    try:
        return ctx.g._flask_babel
    except AttributeError:
        namespace = ctx.g._flask_babel = SimpleNamespace()
        return namespace


_domain_translations = flask_babel.Domain.get_translations


def _translations(domain):
    """Domain.get_translations, remembered for the request's domain and locale
    (flask_babel.refresh() drops the locale, so the next call looks them up anew)."""
    ctx = _babel_context()
    if ctx is None:
        return _domain_translations(domain)
    remembered_ = getattr(ctx, "kartoteka_translations", None)
    locale = getattr(ctx, "babel_locale", None)
    if (
        remembered_ is not None
        and locale is not None
        and remembered_[0] is domain
        and remembered_[1] is locale
    ):
        return remembered_[2]
    translations = _domain_translations(domain)
    ctx.kartoteka_translations = (domain, getattr(ctx, "babel_locale", None), translations)
    return translations


def _texts():
    """(the request's translations, their remembered texts), or None before the
    request has looked its translations up."""
    ctx = _babel_context()
    remembered_ = getattr(ctx, "kartoteka_translations", None)
    if remembered_ is None or remembered_[1] is not getattr(ctx, "babel_locale", None):
        return None
    translations = remembered_[2]
    texts = _TEXTS.get(translations)
    if texts is None:
        if len(_TEXTS) >= 8:
            _TEXTS.clear()
        texts = _TEXTS[translations] = {}
    return translations, texts


_TEXTS: dict = {}  # translations -> {lazy_gettext's arguments or (template string,): text}
_lazy_text = flask_babel.speaklater.LazyString.__str__


def _lazy_str(lazy):
    """LazyString.__str__ of a plain lazy_gettext (a label, an enum member's
    name): translated once per language, not on every use (a card prints
    ~170 of them, ~12 Python calls each)."""
    if lazy._kwargs or lazy._func is not flask_babel.gettext:
        return _lazy_text(lazy)
    remembered_ = _texts()
    if remembered_ is None:
        return _lazy_text(lazy)
    texts = remembered_[1]
    key = lazy._args
    text = texts.get(key)
    if text is None:
        text = texts[key] = _lazy_text(lazy)
    return text


def install_babel_context() -> None:
    flask_babel._get_current_context = _babel_context
    flask_babel.Domain.get_translations = _translations
    flask_babel.speaklater.LazyString.__str__ = _lazy_str
    flask_babel.speaklater.LazyString.__html__ = _lazy_str


@lru_cache(maxsize=32)
def _parsed_locale(identifier: str) -> Locale:
    return Locale.parse(identifier)


@lru_cache(maxsize=32)
def _zone(name: str):
    return pytz.timezone(name)


# The language chosen («/lang/en»), kept in a cookie of its own as well as in the
# session: logout clears the session, and the login page after it was Russian for a
# user who works in English. The session's choice comes first; the cookie answers
# where the session has none (signed out, or a new session after the login).
LANGUAGE_COOKIE = "kartoteka_lang"
LANGUAGE_COOKIE_DAYS = 365


def remembered_language() -> str | None:
    """The cookie's language, where the session has none and the request names none
    (FAB's «_l_» argument of the API)."""
    from flask import current_app, request, session

    if _cv_request.get(None) is None or session.get("locale") or "_l_" in request.args:
        return None
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    return remembered if remembered in current_app.config["LANGUAGES"] else None


def remember_language(response):
    """The language just chosen, written to its cookie (FAB's LocaleView keeps it in
    the session only)."""
    import datetime as dt

    from flask import current_app, request, session

    chosen = session.get("locale")
    if request.endpoint == "LocaleView.index" and chosen and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        config = current_app.config
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=dt.timedelta(days=LANGUAGE_COOKIE_DAYS),
            secure=config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite=config["SESSION_COOKIE_SAMESITE"],
        )
    return response


def install_babel_selectors(app) -> None:
    """Flask-Babel's locale and time zone selectors answer objects, not names: it
    parsed the language's tag into a Locale (~20 Python calls) and looked the
    default time zone up in pytz (~25) on every request. Same answers: FAB's
    selector still chooses the language; the zone is Flask-Babel's default
    (BABEL_DEFAULT_TIMEZONE), read from its configuration at every request."""
    state = app.extensions["babel"]
    choose = state.locale_selector
    if choose is not None:

        def locale_selector():
            chosen = remembered_language() or choose()
            return _parsed_locale(chosen) if type(chosen) is str else chosen

        state.locale_selector = locale_selector
        app.after_request(remember_language)
    if state.timezone_selector is None:
        state.timezone_selector = lambda: _zone(state.default_timezone)


# -- list links ---------------------------------------------------------------
#
# FAB's link_order, link_page and link_page_size template filters copy the
# request's arguments and call url_for for every link: a list page has a
# header link per sortable column, a dozen pagination links and three page
# sizes (a seventh of the page's Python calls). The filters below return the
# same addresses (FAB's parameters, in the same order) from the page's path,
# built once per request.

_SAFE = "!$'()*,/:;?@"  # what werkzeug's url_for leaves unquoted in a query


def _link_base():
    """(the page's path, its arguments) once per request; None where an
    argument shares a name with the route's variables (FAB's filters then)."""
    req = _cv_request.get().request  # the request without its proxy (~4 calls a link)
    state = req.environ.get("kartoteka.link_base")
    if state is None:
        view_args = req.view_args or {}
        args = req.args.to_dict()
        if any(key in view_args for key in args):
            state = False
        else:  # each argument encoded once, as «key=value»
            state = (
                url_for(req.endpoint, **view_args),
                args,
                {k: url_pair(k, v) for k, v in args.items()},
                {},
            )
        req.environ["kartoteka.link_base"] = state
    return state


link_state = _link_base


@lru_cache(maxsize=4096)
def url_pair(key, value) -> str:
    return urlencode(((key, value),), safe=_SAFE)


def _link(fallback, changes):
    state = _link_base()
    if not state:
        return fallback()
    path, _args, encoded, _parts = state
    pairs = {**encoded, **{key: url_pair(key, value) for key, value in changes.items()}}
    return f"{path}?{'&'.join(pairs.values())}"


def link_parts(key):
    """(what comes before, what comes after) ``key=value`` in a link that changes
    only ``key`` (as _link makes it), once per request and key; None where FAB's
    filters make the links."""
    state = _link_base()
    if not state:
        return None
    parts = state[3].get(key)
    if parts is None:
        path, _args, encoded, _parts = state
        keys = list(encoded)
        if key in encoded:
            at = keys.index(key)
            before, after = keys[:at], keys[at + 1 :]
        else:
            before, after = keys, []
        parts = state[3][key] = (
            f"{path}?" + "".join(f"{encoded[k]}&" for k in before),
            "".join(f"&{encoded[k]}" for k in after),
        )
    return parts


def install_list_links(app, fab_filters) -> None:
    """Replace FAB's three link filters (``fab_filters``: appbuilder's TemplateFilters)."""

    def link_order(column, modelview_name):
        order, direction = f"_oc_{modelview_name}", f"_od_{modelview_name}"
        state = _link_base()
        if state and order in state[1]:
            changes = {order: column, direction: "desc" if state[1].get(direction) == "asc" else "asc"}
        else:
            changes = {order: column, direction: "asc"}
        return _link(lambda: fab_filters.link_order_filter(column, modelview_name), changes)

    def link_page(page, modelview_name):
        key = f"page_{modelview_name}"
        parts = link_parts(key)
        if parts is None:
            return fab_filters.link_page_filter(page, modelview_name)
        return f"{parts[0]}{url_pair(key, page)}{parts[1]}"

    def link_page_size(page_size, modelview_name):
        key = f"psize_{modelview_name}"
        parts = link_parts(key)
        if parts is None:
            return fab_filters.link_page_size_filter(page_size, modelview_name)
        return f"{parts[0]}{url_pair(key, page_size)}{parts[1]}"

    app.jinja_env.filters.update(link_order=link_order, link_page=link_page, link_page_size=link_page_size)


# -- gettext in templates ---------------------------------------------------------
#
# Jinja's "newstyle" gettext (which Flask-Babel installs) wraps every ``_()`` of a
# template in a context call, a Markup and a ``%`` formatting with escaping
# helpers: ~65 Python calls for one translated word, against 14 for the
# translation itself; a list page says ~25 of them. These do the same with less.


@pass_eval_context
def _template_gettext(eval_ctx, string, **variables):
    remembered_ = _texts() if eval_ctx.autoescape else None
    if remembered_ is None:
        text = flask_babel.get_translations().ugettext(string)
        if eval_ctx.autoescape:
            text = Markup(text)
    else:  # the template's words: translated (and marked safe) once per language
        translations, texts = remembered_
        key = ("template", string)
        text = texts.get(key)
        if text is None:
            text = texts[key] = Markup(translations.ugettext(string))
    # formatted only with variables: FAB's form template translates a field's error
    # again, and «Скидка должна быть от 0 до 100 %.» answered 500 («incomplete format»)
    return text % variables if variables else text


@pass_eval_context
def _template_ngettext(eval_ctx, singular, plural, num, **variables):
    variables.setdefault("num", num)
    text = flask_babel.get_translations().ungettext(singular, plural, num)
    if eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


def install_template_gettext(app) -> None:
    """Replace the ``_``, ``gettext`` and ``ngettext`` of templates (and of
    ``{% trans %}`` blocks): same translations, same escaping, same ``%(name)s``
    variables."""
    app.jinja_env.globals.update(_=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext)


class Refusal:
    """What a box of a refused form says about itself (``kartoteka_refusal`` in a
    template): marked invalid, described by its message, and the first refused box
    drawn on the page takes the focus. A box not refused says nothing.

    ``{{ field(id="x", **r.attributes) }}`` for a WTForms field, ``<input … {{ r }}>``
    for a box written in HTML, ``{{ r.message }}`` beside it and ``{{ r.css }}`` on its
    group."""

    __slots__ = ("messages", "error_id", "attributes")

    def __init__(self, box_id: str, messages):
        self.messages = [str(m) for m in messages or () if m]
        self.error_id = f"{box_id}-error"
        self.attributes = {}
        if self.messages:
            self.attributes = {"aria_invalid": "true", "aria_describedby": self.error_id}
            if not g.get("kartoteka_refused_focus"):  # the first refused box drawn
                g.kartoteka_refused_focus = box_id
                self.attributes["autofocus"] = True

    def __bool__(self) -> bool:
        return bool(self.messages)

    def __html__(self) -> str:
        return "".join(
            f" {name.replace('_', '-')}" if value is True else f' {name.replace("_", "-")}="{escape(value)}"'
            for name, value in self.attributes.items()
        )

    @property
    def css(self) -> str:
        return " has-error" if self.messages else ""

    @property
    def message(self) -> Markup:
        if not self.messages:
            return Markup("")
        return Markup('<span class="help-block kartoteka-field-error" id="{}">{}</span>').format(
            self.error_id, " ".join(self.messages)
        )


def refusal(form, name: str, box_id: str, messages=None) -> Refusal:
    """The refusal of the box ``box_id`` holding field ``name`` of the form ``form``: its
    messages given, or those the card's refused inline form left (CustomerView._refused
    names the form by its tab: a note's «text» is not the message's)."""
    if messages is None:
        refused_form, errors = g.get("kartoteka_refused") or (None, {})
        messages = errors.get(name) if refused_form == form else None
    return Refusal(box_id, messages)
