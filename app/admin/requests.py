"""Request hygiene: addresses that name nothing answer 404 and malformed list parameters are dropped, never 500."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

import prison
from flask import (
    abort,
    current_app,
    jsonify,
    redirect,
    request,
)
from flask_babel import gettext as _
from sqlalchemy import Boolean
from sqlalchemy import Enum as SAEnum

from ..models import (
    column_limit,
    record_id,
)
from .datamodel import boolean_literal

_LIST_ARG = re.compile(r"^(page|psize|_oc|_od)_(\w+)$|^_flt_(\w+?)_(\w+)$")
MAX_PAGE_SIZE = 100
_DIGITS = re.compile(r"[0-9]+")


def readable_rison(text: str) -> bool:
    """Can FAB read the API's ``q`` (Rison, or JSON as its fallback)?"""
    try:
        prison.loads(text)
    except Exception:  # noqa: BLE001 - prison raises IndexError, ValueError… on bad input
        try:
            json.loads(text)
        except ValueError:
            return False
    return True


# Form routes whose text fields refuse control characters themselves (PlainText).
FORMS_CHECKING_TEXT = frozenset({"add", "edit", "add_note", "add_order", "send_message", "preview_message"})


def reject_malformed_urls():
    """404 for an address that names nothing: a record number that is not one (or
    beyond the column's range), an action the view does not have, a file that is
    not there, a chart that does not exist. These reached the database or FAB's
    code and answered 500. (A before_request hook after FAB's, so that the error
    page knows who is signed in.)

    A NUL character in an address's or a form's values is refused (400): no text
    holds one, and PostgreSQL refused it in a search box or a note (500). A form
    that checks its texts itself (an add or edit form, the card's own forms) says
    so on the field instead (422)."""
    request_ = request._get_current_object()  # the proxy once (~3 Python calls a use)
    args = request_.args
    if args and any("\x00" in value for value in args.values()):
        abort(400)
    if request_.method == "POST":
        own_check = (request_.endpoint or "").rsplit(".", 1)[-1] in FORMS_CHECKING_TEXT
        if not own_check and any("\x00" in value for value in request_.form.values()):
            abort(400)
    query = args.get("q")
    if query and request_.path.startswith("/api/") and not readable_rison(query):
        # FAB's parser raised on some malformed ones («((((») and the API answered 500
        return jsonify(message=_("Параметр q не разобран: ожидается запись в формате Rison.")), 400
    endpoint, values = request_.endpoint, request_.view_args
    if not values or endpoint is None:
        return
    if "pk" in values and record_id(values["pk"]) is None:
        abort(404)
    if any(type(value) is int and record_id(value) is None for value in values.values()):
        abort(404)  # any other record's number in the address («/subject/<int:rid>/download»)
    view = getattr(current_app.view_functions.get(endpoint), "__self__", None)
    if view is None:
        return
    if endpoint.endswith(".action") and values.get("name") not in (getattr(view, "actions", None) or {}):
        abort(404)
    if endpoint.endswith(".download") and "filename" in values:
        # FAB's download of a file column: a name in the upload folder, or nothing. Without
        # a folder it looked in the process's working folder (500 where a file was there).
        folder, name = current_app.config.get("UPLOAD_FOLDER"), str(values["filename"])
        if not folder or os.path.basename(name) != name or not os.path.isfile(os.path.join(folder, name)):
            abort(404)
    definitions = getattr(view, "definitions", None)
    if "group_by" in values and definitions is not None:
        group_by = str(values["group_by"])
        if not (_DIGITS.fullmatch(group_by) and int(group_by) < len(definitions)):
            abort(404)


def filter_value_fits(view, flt, value: str) -> bool:
    """Can FAB's filter ``flt`` compare ``value`` with its column? A value outside a
    status column's choices (the blank «—» among them) or a number the column
    cannot hold reached the database and answered 500. Kartoteka's own filters
    read their values themselves."""
    if type(flt).__module__ != "flask_appbuilder.models.sqla.filters" and not getattr(
        flt, "checked_against_column", False
    ):
        return True
    table = getattr(getattr(getattr(view, "datamodel", None), "obj", None), "__table__", None)
    column = table.columns.get(flt.column_name) if table is not None else None
    if column is None:
        return True
    if isinstance(column.type, SAEnum):
        return value in column.type.enums
    if isinstance(column.type, Boolean):
        return boolean_literal(value) is not None
    limit = column_limit(column)
    if limit is None:
        return True
    try:
        number = Decimal(value.replace(",", ".").strip())
    except InvalidOperation:
        return False
    return number.is_finite() and abs(number) <= limit


def _order_columns_of(view, name: str) -> list[str]:
    """The sort columns of the list ``name`` on ``view``'s page: its own, or a
    card tab's (``_oc_OrderTab`` on the card was checked against the card's own
    columns, so sorting a tab only reloaded the card unsorted)."""
    if type(view).__name__ == name:
        return getattr(view, "order_columns", [])
    tab = next((v for v in getattr(view, "_related_views", []) if type(v).__name__ == name), None)
    return getattr(tab, "order_columns", [])


def clean_list_args():
    """Drop malformed list parameters (FAB answers them with a 500) and redirect.

    A non-numeric page, a page size outside 1..100, an unknown sort column or
    direction, or a filter index that does not exist is removed; the user gets
    the list as it would be without it.
    """
    request_ = request._get_current_object()  # the proxy once (~3 Python calls a use)
    if request_.method != "GET" or not request_.args:
        return None
    view = None
    endpoint = request_.endpoint
    if endpoint and "." in endpoint:
        name = endpoint.split(".", 1)[0]
        view = next((v for v in current_app.appbuilder.baseviews if type(v).__name__ == name), None)
    bad = []
    for key, value in request_.args.items(multi=True):
        match = _LIST_ARG.match(key)
        if not match:
            continue
        kind = match.group(1)
        if kind == "page" and not (value.isdigit() and int(value) < 10**6):
            bad.append(key)
        elif kind == "psize" and not (value.isdigit() and 0 < int(value) <= MAX_PAGE_SIZE):
            bad.append(key)
        elif kind == "_od" and value not in ("asc", "desc"):
            bad.append(key)
        elif kind == "_oc" and view is not None and value not in _order_columns_of(view, match.group(2)):
            bad.append(key)
        elif kind is None:
            index, column = match.group(3), match.group(4)
            filters = getattr(getattr(view, "_filters", None), "_all_filters", None)
            if not index.isdigit() or (filters is not None and int(index) >= len(filters.get(column, []))):
                bad.append(key)
            elif filters is not None and not filter_value_fits(view, filters[column][int(index)], value):
                bad.append(key)
    if not bad:
        return None
    args = [(k, v) for k, v in request_.args.items(multi=True) if k not in bad]
    return redirect(request_.path + ("?" + urlencode(args) if args else ""))
