"""FAB's list and filter widgets, rendered by Kartoteka (the list table in Python, the filter fields once per key)."""

from __future__ import annotations

from flask import request
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.widgets import ListWidget, RenderTemplateWidget, SearchWidget, ShowWidget
from flask_babel import get_locale
from flask_babel.speaklater import LazyString
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape

from ..disclosure import Masked
from . import listing, rendering


class KartotekaListWidget(ListWidget):
    """FAB's list widget, its markup written in Python (app/listing.py)."""

    def __call__(self, **kwargs):
        return listing.render(**{**self.template_args, **kwargs})


class KartotekaSearchWidget(SearchWidget):
    """FAB's filter widget, whose fields are rendered (and JSON-encoded) once per
    view, language, readable columns and select options, not on every list
    request (that was a quarter of a list page's time). The active filters are
    per request.
    """

    template = "kartoteka/widgets/search.html"

    _rendered: dict = {}
    _html: dict = {}  # the whole widget per key and active filters (its script's nonce is a placeholder)

    def __call__(self, **kwargs):
        key = self.template_args.pop("cache_key", None)
        active = self.filters.get_filters_values_tojson()
        if key is None or kwargs:
            return self._render(key, active, kwargs)
        return rendering.remembered(
            self._html, (key, htmlsafe_json_dumps(active)), lambda: self._render(key, active, kwargs)
        )

    def _render(self, key, active, kwargs):
        kwargs.update(
            self._fields() if key is None else rendering.remembered(self._rendered, key, self._fields)
        )
        kwargs["active_filters"] = active
        return RenderTemplateWidget.__call__(self, **kwargs)

    def _fields(self) -> dict:
        form = self.template_args["form"]
        if form is None:  # built only when the fields are rendered (a cache miss)
            form = self.template_args["form_factory"]()
        dict_filters = self.filters.get_search_filters()
        columns = self.template_args["include_cols"]
        parts = {
            "label_columns": {c: as_unicode(form[c].label.text) for c in columns},
            "form_fields": {c: form[c]() for c in columns},
            "search_filters": {c: [as_unicode(f.name) for f in dict_filters[c]] for c in columns},
        }
        return {**parts, **{f"{name}_json": htmlsafe_json_dumps(value) for name, value in parts.items()}}


class KartotekaShowWidget(ShowWidget):
    """FAB's record page, its table of fields written in Python (the same HTML as
    FAB's show.html, whose macro call per field made a third of the card's
    template work); the action buttons stay FAB's. Where the user is shown no
    action (``kartoteka_no_actions``), the rest of the widget (the confirm and
    alert dialogs, «Назад») is the same HTML for every record of a language and
    script root: rendered once per these and kept around the fields."""

    template = "kartoteka/widgets/show.html"

    _around: dict = {}  # (template, language, script root) -> the HTML before and after the fields

    def __call__(self, **kwargs):
        args = {**self.template_args, **kwargs}
        columns = show_columns(
            args["include_columns"],
            args["value_columns"],
            args["label_columns"],
            args["formatters_columns"],
            args.get("fieldsets"),
        )
        if args.get("kartoteka_no_actions") and not kwargs:
            key = (self.template, str(get_locale()), request.script_root)
            before, after = rendering.remembered(self._around, key, self._render_around)
            return before + columns + after
        kwargs["kartoteka_columns"] = columns
        return super().__call__(**kwargs)

    def _render_around(self) -> tuple[str, str]:
        html = RenderTemplateWidget.__call__(self, kartoteka_columns=Markup(_COLUMNS_MARK), actions={})
        before, after = html.split(_COLUMNS_MARK)
        return Markup(before), Markup(after)


_COLUMNS_MARK = "\x00kartoteka-show-columns\x00"
_LABEL_CELL = '<th class="col-lg-2 col-md-2 col-sm-2">'


def _html(value) -> str:
    """``escape(value)``: a str in one C call, a lazy label by its own ``__html__``
    (markupsafe's escape is ~7 Python calls)."""
    kind = type(value)
    if kind is str:
        return value.translate(_HTML_ESCAPES)
    if kind is Markup:
        return value
    if kind is LazyString:
        return value.__html__()
    return escape(value)


def show_columns(include_columns, value_columns, label_columns, formatters, fieldsets) -> Markup:
    """FAB's show.html «columns» block: a table of label and value per field, in
    collapsible panels per fieldset. ``formatters``: the view's; a value the
    policy masked (app/disclosure.py) is shown as it is."""

    def rows(items):
        for item in items:
            formatter = formatters.get(item)
            value = value_columns[include_columns.index(item)]
            if formatter and not isinstance(value, Masked):
                value = formatter(value)
            yield (
                f"<tr>{_LABEL_CELL}{_html(label_columns.get(item))}</th>"
                f'<td><span style="white-space: pre-line">{_html(value)}</span></td></tr>'
            )

    if not fieldsets:
        body = "".join(rows(include_columns))
        return Markup(
            f'<div class="table-responsive"><table class="table table-bordered kartoteka-fields">{body}</table></div>'
        )
    parts = []
    for index, (name, options) in enumerate(fieldsets, start=1):
        expanded = options.get("expanded")
        collapse = "panel-collapse collapse in" if expanded is None or expanded else "panel-collapse collapse"
        parts.append(
            f'<div class="panel-group" id="{index}"><div class="panel panel-default"><div class="panel-heading">'
            f'<h4 class="panel-title"><a class="accordion-toggle" data-toggle="collapse" data-parent="#{index}" '
            f'href="#{index}_href">{escape(name)}<span class="caret"></span></a></h4></div>'
            f'<div id="{index}_href" class="{collapse}"><div class="panel-body">'
            '<div class="table-responsive"><table class="table table-bordered kartoteka-fields">'
            f"{''.join(rows(options.get('fields')))}</table></div></div></div></div></div>"
        )
    return Markup("".join(parts))


# What markupsafe.escape replaces, for str.translate.
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})
