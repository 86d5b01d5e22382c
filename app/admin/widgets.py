"""FAB's list and filter widgets, rendered by Kartoteka (the list table in Python, the filter fields once per key)."""

from __future__ import annotations

from flask_appbuilder._compat import as_unicode
from flask_appbuilder.widgets import ListWidget, RenderTemplateWidget, SearchWidget
from jinja2.utils import htmlsafe_json_dumps

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

    def __call__(self, **kwargs):
        key = self.template_args.pop("cache_key", None)
        kwargs.update(
            self._fields() if key is None else rendering.remembered(self._rendered, key, self._fields)
        )
        kwargs["active_filters"] = self.filters.get_filters_values_tojson()
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


# What markupsafe.escape replaces, for str.translate.
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})
