"""The list table of every view (the main lists and the card's tabs), written in Python.

FAB renders it from a Jinja template with its ``lib.html`` macros: pagination,
page sizes, the add button, the actions menu, the sortable headers and the
action form. That template was the largest single cost of a list page after
the SQL (a tenth of its time, ~1,500 Python calls). The markup below is the
same; the parts that depend only on the view, the language and the actions
(texts, icons, the actions menu and its script) are made once per key.
"""

from __future__ import annotations

import math

from flask import current_app, request
from flask.globals import _cv_app, _cv_request
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape

from .. import formatting
from . import rendering
from .security import csrf_token

STYLE = (
    "<style>.kartoteka-list .col-phone, .kartoteka-list .col-registered_at, "
    ".kartoteka-list .col-last_visit_at, .kartoteka-list .col-created_on "
    "{ white-space: nowrap; }</style>"
)
PAGE_SIZES = (20, 40, 100)


def _text(value) -> str:
    """markupsafe.escape's text of ``value``: of a str (an address) in one C call,
    not ~7 Python calls."""
    return value.translate(rendering.HTML_ESCAPES) if type(value) is str else str(escape(value))


def safe_url_for(endpoint: str) -> str | None:
    """FAB's safe_url_for template filter: the address, or None where there is none
    (looked up once per endpoint and script root)."""
    addresses = rendering.app_store("addresses")
    key = (endpoint, _cv_request.get().request.script_root)  # the proxy's ~4 calls spared
    if key not in addresses:
        if len(addresses) >= rendering.CACHE_SIZE:
            addresses.clear()
        addresses[key] = current_app.jinja_env.filters["safe_url_for"](endpoint)
    return addresses[key]


def list_url(endpoint: str, args: dict | None = None) -> str:
    """url_for(endpoint, **args) of a list without route variables: its path
    looked up once, the arguments encoded as werkzeug encodes them."""
    path = safe_url_for(endpoint)
    pairs = [rendering.url_pair(key, value) for key, value in (args or {}).items() if value is not None]
    return f"{path}?{'&'.join(pairs)}" if pairs else path


def nonce() -> str:
    make = _cv_app.get().app.jinja_env.globals.get("csp_nonce")
    return escape(make()) if make else ""


def csrf_input() -> str:
    """The form's CSRF field, its token signed once per request: Flask-WTF signs it anew
    on every call, and a card draws a form per tab (5 ms a card); and across requests,
    a session's signed token reused for a minute (security.csrf_token)."""
    app_ctx = _cv_app.get()  # g and the application without their proxies
    known = app_ctx.g.__dict__
    cached = known.get("_kartoteka_csrf_input")
    if cached is None:
        if app_ctx.app.jinja_env.globals.get("csrf_token") is None:  # no CSRFProtect
            cached = ""
        else:
            cached = f'<input type="hidden" name="csrf_token" value="{_text(csrf_token())}"/>'
        known["_kartoteka_csrf_input"] = cached
    return cached


def pagination(page: int, page_size: int, count: int, view: str, link_page) -> str:
    """FAB's render_pagination: «« < 1 2 3 4 5 6 7 > »» around the current page."""
    pages = math.ceil(count / page_size)
    if pages <= 1:
        return ""
    low, high = page - 3, page + 3 + 1
    if low < 0:
        high -= low
    if high >= pages:
        low = low - high + pages
    low, high = max(low, 0), min(high, pages)

    key = f"page_{view}"
    parts = rendering.link_parts(key)  # what link_page puts around ``page_<view>=n``
    if parts is not None:
        before, after = parts[0].translate(rendering.HTML_ESCAPES), parts[1].translate(rendering.HTML_ESCAPES)
        url_pair = rendering.url_pair

    def item(label, target, enabled=True, active=False):
        if active:
            return f'<li class="active"><a href="#">{label}</a></li>'
        if not enabled:
            return f'<li class="disabled"><a href="#">{label}</a></li>'
        if parts is not None:  # link_page's address, its fixed parts escaped once
            return f'<li><a href="{before}{url_pair(key, target).translate(rendering.HTML_ESCAPES)}{after}">{label}</a></li>'
        return f'<li><a href="{_text(link_page(target, view))}">{label}</a></li>'

    parts = ['<ul class="pagination pagination-sm" style="display:inherit;">']
    parts.append(item("&laquo;", 0, low > 0))
    parts.append(item("&lt;", page - 1, page > 0))
    parts.extend(item(p + 1, p, active=p == page) for p in range(low, high))
    parts.append(item("&gt;", page + 1, page + 1 < pages))
    parts.append(item("&raquo;", pages - 1, high < pages))
    parts.append("</ul>")
    return "".join(parts)


def add_link(path: str, filters) -> str:
    """FAB's lnk_add, the related view's filter carried over (FAB's set_link_filters)."""
    path = current_app.jinja_env.filters["set_link_filters"](path, filters)
    t = texts()
    return (
        f'<a href="{escape(path)}" class="btn btn-sm btn-primary" data-toggle="tooltip" rel="tooltip" '
        f'title="{t["add_title"]}"><span class="sr-only">{t["add"]}</span><i class="fa fa-plus"></i></a>'
    )


RELATED_ARG = "_rel_"


def related_args(filters) -> str:
    """A card tab's record as export arguments (``_rel_customer=42``); "" on a main list,
    whose export takes the page's own filters and search."""
    return "&".join(
        f"{RELATED_ARG}{flt.column_name}={value.id if hasattr(value, 'id') else value}"
        for flt, value in filters.get_filters_values()
        if flt.is_related_view
    )


_TEXTS: dict = {}


def texts() -> dict:
    """The list's fixed texts in the request's language, translated and escaped once.

    (Translated here, not inside the f-strings that use them: message
    extraction does not look into f-strings.)"""

    def make():
        confirm_delete = _("Are you sure you want to delete this item?")
        return {
            "add_title": escape(_("Add a new record")),
            "add": escape(_("Add")),
            "actions": escape(_("Actions")),
            "page_size": escape(_("Записей на странице")),
            "export": escape(_("Выгрузить CSV")),
            "export_xlsx": escape(_("Выгрузить в Excel")),
            "import": escape(_("Загрузить из файла")),
            "total": escape(_("Всего записей")),
            "nothing": escape(_("Ничего не найдено")),
            "check_all": escape(_("Выбрать все")),
            "buttons": escape(_("Действия")),
            "confirm_delete": htmlsafe_json_dumps(confirm_delete, dumps=current_app.json.dumps),
        }

    return rendering.remembered(_TEXTS, str(get_locale()), make)


_SEARCH_TEXTS: dict = {}
_OWING_KEYS = ("_flt_0_debt", "owing")


def customer_search(search: dict) -> Markup:
    """The customers list's search box and its «С задолженностью» button, the markup
    kartoteka/customer_list.html drew in Jinja (~300 Python calls a list page).
    ``search``: the box's placeholder and notice for this user (lookups.customer_search).

    «С задолженностью» is the list's filter (views.FilterOwing, in the filters'
    panel too): the button adds or removes it and keeps every other filter; the
    search box keeps them as well."""

    def make():  # the template's words are not escaped (its _() gave Markup)
        return (
            _("Поиск клиента"),
            _("Найти"),
            _("С задолженностью"),
            _("Сбросить"),
        )

    label, find, owing_text, reset_text = rendering.remembered(_SEARCH_TEXTS, str(get_locale()), make)
    args = request.args.to_dict()
    owing = args.get("_flt_0_debt") == "1" or args.get("owing") == "1"
    toggled = {k: v for k, v in args.items() if k not in _OWING_KEYS and not k.startswith("page_")}
    if not owing:
        toggled["_flt_0_debt"] = "1"
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in args.items()
        if k.startswith("_flt_") or k == "owing"
    )
    reset = (
        f'<a class="btn btn-default" href="{escape(list_url("CustomerView.list"))}">{reset_text}</a>'
        if args.get("q")
        else ""
    )
    blank = "  \n" * 6
    notice = (
        '\n<p class="text-warning kartoteka-search-notice"><i class="fa fa-eye-slash" aria-hidden="true"></i> '
        f"{escape(search['notice'])}</p>"
        if search.get("notice")
        else ""
    )
    if search.get("scope"):
        notice += (
            '\n<p class="text-muted kartoteka-scope-note"><i class="fa fa-user-md" aria-hidden="true"></i> '
            f"{escape(search['scope'])}</p>"
        )
    return Markup(
        '<form class="form-inline kartoteka-search" method="get" action="" role="search">\n'
        '  <div class="form-group">\n'
        f'    <label for="q" class="sr-only">{label}</label>\n'
        f'    <input type="search" class="form-control" id="q" name="q" size="40" value="{escape(args.get("q", ""))}"\n'
        f'           placeholder="{escape(search["placeholder"])}">\n'
        "  </div>\n"
        '  <button type="submit" class="btn btn-primary"><i class="fa fa-search" aria-hidden="true"></i> '
        f"{find}</button>\n"
        f"{blank}"
        f'  <a class="btn btn-default kartoteka-owing{" active" if owing else ""}" '
        f'aria-pressed="{"true" if owing else "false"}"\n'
        f'     href="{escape(list_url("CustomerView.list", toggled))}"><i class="fa fa-exclamation-circle" '
        f'aria-hidden="true"></i> {owing_text}</a>\n'
        f"  {hidden}\n"
        f"  {reset}\n"
        "</form>"
        f"{notice}"
    )


_ACTION_MENUS: dict = {}


def actions_menu(actions: dict, view: str) -> str:
    """FAB's render_actions: the «Actions» dropdown and its click handlers."""
    if not actions:
        return ""

    def make():
        items, handlers = [], []
        for action in actions.values():
            name, icon, text = escape(action.name), escape(action.icon), escape(_(action.text))
            items.append(
                f'<li><a href="#" class="{name}_menu_item"><i class="fa {icon}"></i> {text}</a></li>'
            )
            confirmation = f"'{escape(action.confirmation)}'" if action.confirmation else "false"
            handlers.append(
                f"$('.{name}_menu_item').on('click', function(){{ "
                f"return modelActions.execute_multiple('{name}', {confirmation}); }})"
            )
        # the nonce changes per request: a placeholder, so {} elsewhere are doubled
        script = "\n".join(handlers).replace("{", "{{").replace("}", "}}")
        return (
            '<div class="btn-group"><button type="button" class="btn btn-default btn-sm dropdown-toggle" '
            f'data-toggle="dropdown">{texts()["actions"]}<span class="caret"></span></button>'
            f'<ul class="dropdown-menu" role="menu">{"".join(items)}</ul>'
            '<script nonce="{nonce}">$(document).ready(function() {{ ' + script + " }});</script></div>"
        )

    key = (view, str(get_locale()), tuple(actions))
    return rendering.remembered(_ACTION_MENUS, key, make).format(nonce=nonce())


def action_form(actions: dict, view: str) -> str:
    """FAB's action_form: the hidden form the actions menu (or a delete) posts."""
    if actions:
        path = safe_url_for(f"{view}.action_post")
        if not path:
            return ""
        return (
            f'<form id="action_form" action="{escape(path)}" method="POST" style="display: none">'
            f'{csrf_input()}<input type="hidden" id="action" name="action" /></form>'
        )
    return (
        '<form id="delete_form" action="" method="POST" style="display: none">'
        f'{csrf_input()}<input type="hidden" id="delete" name="delete" /></form>'
    )


def header_cells(columns, headers, order_columns, aliases, view, link_order) -> str:
    """The column headers; a sortable one links to its order and shows its direction."""
    args = _cv_request.get().request.args
    order_key, direction_key = f"_oc_{view}", f"_od_{view}"
    current = args.get(order_key)
    ascending = args.get(direction_key) == "asc"
    # link_order's address made here from the page's own (rendering.link_state), without
    # its three calls a header: the page's arguments with the order and direction set
    state = rendering.link_state()
    if state:
        path, page_args, encoded, _parts = state
        direction = (
            ("desc" if page_args.get(direction_key) == "asc" else "asc") if order_key in page_args else "asc"
        )
        url_pair = rendering.url_pair
        direction_pair = url_pair(direction_key, direction)
    cells = ""
    for column in columns:
        order = aliases.get(column, column)
        if order not in order_columns:
            cells += f"<th>{headers[column]}</th>"
            continue
        icon = ("fa-chevron-up" if ascending else "fa-chevron-down") if order == current else "fa-arrows-v"
        if state:
            pairs = {**encoded, order_key: url_pair(order_key, order), direction_key: direction_pair}
            href = f"{path}?{'&'.join(pairs.values())}".translate(rendering.HTML_ESCAPES)
        else:
            href = _text(link_order(order, view))
        cells += (
            f'<th><a href="{href}">{headers[column]} '
            f'<i class="fa {icon} pull-right" aria-hidden="true"></i></a></th>'
        )
    return cells


def render(
    *,
    headers,
    include_columns,
    rows,
    buttons,
    order_columns,
    page,
    page_size,
    count,
    actions,
    filters,
    modelview_name,
    order_aliases=None,
    count_cap=0,
    **_unused,
) -> Markup:
    """The list: toolbar (pagination, page sizes, add, actions, export, total), then the
    table with its rows (one Markup from the view), or «Ничего не найдено»."""
    view = modelview_name
    links = current_app.jinja_env.filters
    page = page or 0
    t = texts()
    html = STYLE + '<div class="well well-sm">'  # added to: a list append is a Python call
    html += pagination(page, page_size, count, view, links["link_page"])
    html += f'<div class="btn-group" role="group" aria-label="{t["page_size"]}">'
    size_key = f"psize_{view}"
    parts = rendering.link_parts(size_key)  # what link_page_size puts around ``psize_<view>=n``
    for size in PAGE_SIZES:
        active = " active" if size == page_size else ""
        if parts is not None:
            href = f"{parts[0]}{rendering.url_pair(size_key, size)}{parts[1]}".translate(
                rendering.HTML_ESCAPES
            )
        else:
            href = _text(links["link_page_size"](size, view))
        html += f'<a class="btn btn-default btn-sm{active}" href="{href}">{size}</a>'
    html += "</div>"
    if buttons.get("add"):
        path = safe_url_for(f"{view}.add")
        if path:
            html += add_link(path, filters)
    if buttons.get("import"):
        path = safe_url_for(f"{view}.import_file")
        if path:
            html += (
                f'<a class="btn btn-sm btn-default" href="{escape(path)}">'
                f'<i class="fa fa-upload" aria-hidden="true"></i> {t["import"]}</a>'
            )
    if rows:  # bulk actions need rows to tick
        html += actions_menu(actions, view)
    if buttons.get("export"):
        query = related_args(filters) or request.query_string.decode()
        for endpoint, icon in (("export", "fa-download"), ("export_xlsx", "fa-file-excel-o")):
            path = safe_url_for(f"{view}.{endpoint}")
            if path:
                href = escape(f"{path}?{query}" if query else path)
                html += (
                    f'<a class="btn btn-sm btn-default" href="{href}">'
                    f'<i class="fa {icon}" aria-hidden="true"></i> {t[endpoint]}</a>'
                )
    if count_cap and count > count_cap:
        total = escape(_("более %(n)s", n=formatting.number(count_cap)))
    else:
        total = escape(formatting.number(count))
    html += f'<div class="pull-right"><strong>{t["total"]}:</strong> {total}</div></div>'
    if not rows:
        html += f'<p class="text-muted kartoteka-empty"><b>{t["nothing"]}</b></p>'
        return Markup(html)
    html += '<div class="table-responsive"><table class="table table-bordered table-hover kartoteka-list">'
    html += "<thead><tr>"
    if actions:
        html += (
            '<th class="action_checkboxes"><input id="check_all" class="action_check_all" name="check_all" '
            f'type="checkbox" aria-label="{t["check_all"]}"></th>'
        )
    if buttons.get("show") or buttons.get("edit") or buttons.get("delete"):
        html += f'<th class="col-md-1 col-lg-1 col-sm-1"><span class="sr-only">{t["buttons"]}</span></th>'
    html += header_cells(
        include_columns, headers, order_columns, order_aliases or {}, view, links["link_order"]
    )
    html += f"</tr></thead><tbody>{rows}</tbody></table></div>"
    html += action_form(actions, view)
    html += (
        f'<script nonce="{nonce()}">$(document).ready(function() {{\n'
        "  window.modelActions = new AdminActions();\n"
        '  $(document).on("click", "a.kartoteka-delete", function (event) {\n'
        "    event.preventDefault();\n"
        f'    new AdminActions().execute_single_delete($(this).data("href"), {t["confirm_delete"]});\n'
        "  });\n});</script>"
    )
    return Markup(html)
