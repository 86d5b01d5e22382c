"""Flask-AppBuilder views: declarations of columns, labels, filters and tabs.

Logic lives in the domain modules (customers, orders, documents); the base
class below calls them through one ``prepare()`` hook and turns their typed
errors into form errors, keeping what the user typed.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

import prison
from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_appbuilder import BaseView, IndexView, ModelView, action, expose, has_access
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_appbuilder.security.sqla.models import User
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from flask_appbuilder.validators import Unique
from flask_appbuilder.widgets import ListWidget, RenderTemplateWidget, SearchWidget
from flask_babel import format_timedelta, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape
from sqlalchemy import Boolean, Date, DateTime, Numeric, String, cast, literal, null, or_, select, union_all
from sqlalchemy import Enum as SAEnum
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import MANYTOONE, aliased, contains_eager, joinedload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.routing import BuildError
from wtforms import BooleanField, HiddenField, StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, Optional
from wtforms.widgets import TextInput

from . import (
    access,
    customers,
    disclosure,
    documents,
    formatting,
    logins,
    models,
    notifications,
    orders,
    records,
    spreadsheet,
)
from .admin import headers, listing, lookups, rendering, sessions
from .admin.datamodel import (
    ConditionFilter,
    FilterDayEqual,
    FilterDayFrom,
    FilterDayTo,
    Interface,
    LightFilters,
    ListColumn,
    RowScopeMixin,
    WhereFilter,
    values_connection,
)
from .admin.fields import (
    LOCAL_FIELDS,
    FitsColumn,
    LabeledEnumField,
    LocalDecimalField,
    MessageForm,
    NoteInlineForm,
    OrderInlineForm,
    StatusForm,
    TypedDateWidget,
    start_filters_empty,
    typed_day_filters,
)
from .disclosure import Masked
from .errors import Forbidden, StaleEdit, ValidationFailed
from .extensions import db
from .models import (
    AccessAction,
    AccessLog,
    Branch,
    CatalogItem,
    ChangeLog,
    Customer,
    CustomerAttribute,
    CustomerAttributeValue,
    CustomerCategory,
    CustomerDocument,
    CustomerStatus,
    CustomerType,
    LoginThrottle,
    MedicalRecord,
    Message,
    MessageAttempt,
    MessageTemplate,
    Note,
    NotificationConsent,
    Order,
    OrderItem,
    Return,
    Review,
    Tag,
    ThrottleKind,
    UserSession,
    column_limit,
    customer_tag,
    record_id,
    utcnow,
)

_CARD_URLS: dict[str, str] = {}


def card_url(pk) -> str:
    """The card's address; url_for runs once per script root, not once per row."""
    root = request.script_root
    base = _CARD_URLS.get(root)
    if base is None:
        base = _CARD_URLS[root] = url_for("CustomerView.show", pk=0)[:-1]
    return f"{base}{int(pk)}"


def customer_link(customer) -> Markup | str:
    """A customer cell that opens the card."""
    if not customer:
        return ""
    return Markup(f'<a href="{card_url(customer.id)}">{escape(customer.full_name)}</a>')


class CustomerRef(NamedTuple):
    """A customer as a list shows one (a link to the card), read as plain values."""

    id: int
    full_name: str

    def __str__(self):
        return self.full_name


def customer_ref(pk, *name) -> CustomerRef | None:
    return None if pk is None else CustomerRef(pk, models.full_name(*name))


def user_label(pk, first_name, last_name) -> str | None:
    """FAB's User.__str__ («Имя Фамилия»), of plain values."""
    return None if pk is None else f"{first_name} {last_name}"


def related_customer(relationship) -> ListColumn:
    other = aliased(Customer)
    return ListColumn(
        other.id,
        other.last_name,
        other.first_name,
        other.middle_name,
        other.company_name,
        other.customer_type,
        read=customer_ref,
        join=relationship.of_type(other),
    )


def related_user(relationship) -> ListColumn:
    other = aliased(User)
    return ListColumn(
        other.id, other.first_name, other.last_name, read=user_label, join=relationship.of_type(other)
    )


# Related records a list shows by their label, read as plain values.
RELATED_LABELS = {Customer: related_customer, User: related_user}


def record_link(obj) -> Markup:
    """A link to ``obj``'s page (a customer's card, an order…), named as the record
    names itself; its text alone where no screen shows such records."""
    endpoint = _record_endpoint(type(obj))
    text = escape(str(obj))
    if endpoint is None:
        return Markup(text)
    return Markup(f'<a href="{url_for(endpoint, pk=obj.id)}">{text}</a>')


def _record_endpoint(model) -> str | None:
    """The show page of the screen with the model's menu entry (not a card's tab)."""
    views = [
        v
        for v in current_app.appbuilder.baseviews
        if getattr(getattr(v, "datamodel", None), "obj", None) is model and hasattr(v, "show")
    ]
    views.sort(key=lambda v: type(v).__name__.endswith("Tab"))
    return f"{type(views[0]).__name__}.show" if views else None


def skip_masked(formatter):
    """``formatter``, leaving a value the policy masked as it is."""
    if formatter is None:
        return None

    def format_unless_masked(value):
        return value if isinstance(value, Masked) else formatter(value)

    return format_unless_masked


def card_link(pk) -> Markup:
    return Markup(f'<a href="{card_url(pk)}">{int(pk)}</a>')


# The empty choice of an optional select. WTForms shows an option's value when
# its label is empty, and FAB's blank option has the value «__None».
BLANK = "—"


@lru_cache(maxsize=64)
def validators_position(field_class) -> int | None:
    """Where ``validators`` comes among a field class's positional arguments (after
    ``self``): 1 for WTForms' (label, validators), 2 for an enum select's
    (enum_class, label, validators)."""
    names = list(inspect.signature(field_class.__init__).parameters)[1:]
    return names.index("validators") if "validators" in names else None


def relation_fields(form_class):
    """(name, unbound field) of the relation selects of a generated form class."""
    for name, value in vars(form_class).items():
        if isinstance(value, UnboundField) and value.field_class in (
            QuerySelectField,
            QuerySelectMultipleField,
        ):
            yield name, value


def option_label(model):
    if model is User:
        return User.first_name + " " + User.last_name
    if hasattr(model, "name"):
        return model.name
    if hasattr(model, "label"):
        return model.label
    if hasattr(model, "full_name") and hasattr(model, "last_name"):
        return model.last_name + " " + model.first_name
    return cast(model.id, String)


def related_query(model):
    """A relation select's options: one ordered query (FAB: a count and a query)."""
    return db.session.query(model).order_by(option_label(model))


class Option:
    """A light option of a filter select: only the id and the label are needed."""

    __slots__ = ("id", "label")

    def __init__(self, id, label, price=None):
        # a service or product says its price («Консультация — 1 500,00 ₽»): the
        # receptionist books by name and tells the customer what it costs
        self.id = id
        self.label = label if price is None else f"{label} — {formatting.money(Decimal(price))}"

    @property
    def name(self):
        return self.label

    def __str__(self):
        return self.label or ""


@lru_cache(maxsize=128)
def options_statement(specs: tuple):
    """The UNION of ``specs`` ((name, model or (model, condition)), …), composed
    once: building it took longer than PostgreSQL takes to run it. Callers keep
    their specs (and conditions) in long-lived objects so the cache hits."""
    parts = []
    for name, spec in specs:
        model, condition = spec if isinstance(spec, tuple) else (spec, None)
        price = cast(model.price, String) if hasattr(model, "price") else cast(null(), String)
        part = select(
            literal(name).label("field"),
            model.id.label("id"),
            option_label(model).label("label"),
            price.label("price"),
        )
        parts.append(part.where(condition) if condition is not None else part)
    return union_all(*parts).order_by("field", "label")


def load_options(session, models: dict) -> dict[str, list[Option]]:
    if not models:
        return {}
    rows = values_connection(session).execute(options_statement(tuple(models.items()))).all()
    options: dict[str, list[Option]] = {name: [] for name in models}
    for field, pk, label, price in rows:
        options[field].append(Option(pk, label, price))
    return options


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

# Labels shared by many views: written once.
COMMON_LABELS = {
    "id": _l("ID"),
    "customer": _l("Клиент"),
    "created_on": _l("Создано"),
    "changed_on": _l("Изменено"),
    "created_by": _l("Автор"),
    "changed_by": _l("Изменил"),
    "order": _l("Заказ"),
    "specialist": _l("Специалист"),
    "branch": _l("Филиал"),
    "status": _l("Статус"),
    "name": _l("Название"),
    "text": _l("Текст"),
    "comment": _l("Комментарий"),
    "amount": _l("Сумма"),
    "price": _l("Цена"),
    "quantity": _l("Количество"),
}


class KartotekaModelView(RowScopeMixin, ModelView):
    """Base of every Kartoteka view: permissions, formatting, domain validation."""

    method_permission_name = access.METHOD_PERMISSIONS
    page_size = 20
    record_label = None  # how the change history names one record (default: show_title)
    list_widget = KartotekaListWidget
    search_widget = KartotekaSearchWidget
    # Columns whose display goes through a formatter picked from the column type.
    form_only_fields: tuple[str, ...] = ()
    eager: tuple = ()
    custom_filters: dict = {}
    order_aliases: dict = {}

    def __init__(self, **kwargs):
        self.label_columns = {**COMMON_LABELS, **(self.label_columns or {})}
        self._add_enum_fields()
        self._add_lookup_fields()
        super().__init__(**kwargs)
        self.formatters_columns = {
            **self._type_formatters(),
            **(self.formatters_columns or {}),
        }

    # -- declarations -------------------------------------------------------

    def _init_forms(self):
        super()._init_forms()
        table = getattr(self.datamodel.obj, "__table__", None)
        for form_class in {self.add_form, self.edit_form}:
            for name, unbound in vars(form_class).items():
                if not isinstance(unbound, UnboundField):
                    continue
                if unbound.field_class in LOCAL_FIELDS:
                    unbound.field_class = LOCAL_FIELDS[unbound.field_class]
                    unbound.kwargs.pop("widget", None)  # FAB's; the local field brings its own
                column = table.columns.get(name) if table is not None else None
                # FAB's Unique says «Уже существует.» without saying where (and counted
                # '' as a value): check_unique names the record that holds the value.
                position = validators_position(unbound.field_class)
                positional = position is not None and len(unbound.args) > position
                given = unbound.args[position] if positional else unbound.kwargs.get("validators")
                validators = [v for v in given or [] if not isinstance(v, Unique)]
                if column is not None and records.scalar_default(column) is not None:
                    # blank takes the column's default (FAB made «Скидка» required)
                    validators = [
                        Optional(),
                        *(v for v in validators if not isinstance(v, DataRequired | InputRequired)),
                    ]
                limit = column_limit(column) if column is not None else None
                if limit is not None:
                    validators.append(FitsColumn(limit))
                if positional:
                    unbound.args = (*unbound.args[:position], validators, *unbound.args[position + 1 :])
                else:
                    unbound.kwargs["validators"] = validators
        for form_class in (self.add_form, self.edit_form):
            for name, unbound in relation_fields(form_class):
                model = self.datamodel.get_related_model(name)
                unbound.kwargs["query_func"] = partial(related_query, model)
                unbound.kwargs["blank_text"] = BLANK
        for name, unbound in relation_fields(self.search_form):
            unbound.kwargs["query_func"] = partial(self.search_options, name)
            unbound.kwargs["blank_text"] = BLANK
        start_filters_empty(self.search_form)
        typed_day_filters(self.search_form)

    def search_options(self, name):
        """Options of every relation filter of this view, from one UNION query per request."""
        cache = g.setdefault("_kartoteka_search_options", {})
        key = type(self).__name__
        if key not in cache:
            cache[key] = load_options(self.datamodel.session, self.search_option_models())
        return cache[key].get(name, [])

    def search_option_models(self) -> dict:
        """The related model of each relation filter (search form select), found once.

        (Not a cached_property: FAB reads every attribute of a view while
        registering it, before the view has its forms.)"""
        models = self.__dict__.get("_search_option_models")
        if models is None:
            models = {n: self.datamodel.get_related_model(n) for n, _ in relation_fields(self.search_form)}
            for name, model in models.items():  # «Специалист» lists the specialists here too
                if name in self.choice_conditions:
                    models[name] = (model, self.choice_conditions[name](model))
            self._search_option_models = models
        return models

    def _init_properties(self):
        super()._init_properties()
        for column, filter_classes in self.custom_filters.items():
            instances = [cls(column, self.datamodel) for cls in filter_classes]
            self._filters._all_filters[column] = instances
            if column in self.search_columns:
                self._filters._search_filters = dict(self._filters._search_filters)
                self._filters._search_filters[column] = instances

    def _add_enum_fields(self) -> None:
        """Enum columns get a select of translated labels (FAB's EnumField shows raw
        values); boolean columns an optional checkbox."""
        table = getattr(self.datamodel.obj, "__table__", None)
        if table is None:
            return
        for attr in (
            "add_form_extra_fields",
            "edit_form_extra_fields",
            "search_form_extra_fields",
        ):
            fields = dict(getattr(self, attr) or {})
            for column in table.columns:
                enum_class = getattr(column.type, "enum_class", None)
                if isinstance(column.type, Boolean) and column.name not in fields:
                    # FAB marks non-null booleans required: an unticked box would fail. A new
                    # record's box starts as the column's default: «Активна» came unticked, and
                    # a service added by the administrator was never offered for booking.
                    default = None if attr == "search_form_extra_fields" else records.scalar_default(column)
                    fields[column.name] = BooleanField(
                        self.label_columns.get(column.name, column.name), default=default
                    )
                elif enum_class is not None and column.name not in fields:
                    label = self.label_columns.get(column.name, column.name)
                    optional = column.nullable or attr == "search_form_extra_fields"
                    validators = [Optional()] if optional else [InputRequired()]
                    fields[column.name] = LabeledEnumField(
                        enum_class, label, validators=validators, allow_blank=optional
                    )
            setattr(self, attr, fields)

    def _add_lookup_fields(self) -> None:
        """A relation to customers or orders is chosen by typing, not from a select of
        every row (app/lookups.py); a list filters by it with the search box's rules."""
        mapper = getattr(self.datamodel.obj, "__mapper__", None)
        if mapper is None:
            return
        factories = {Customer: lookups.customer_field, Order: lookups.order_field}
        for relation in mapper.relationships:
            factory = factories.get(relation.mapper.class_)
            if factory is None or relation.uselist:
                continue
            name = relation.key
            label = self.label_columns.get(name, name)
            required = not all(column.nullable for column in relation.local_columns)
            for attr, columns in (
                ("add_form_extra_fields", self.add_columns),
                ("edit_form_extra_fields", self.edit_columns),
            ):
                if columns is None or name in columns:  # FAB's default columns are all of them
                    setattr(self, attr, {**(getattr(self, attr) or {}), name: factory(label, required)})
            if relation.mapper.class_ is Customer and name in (self.search_columns or []):
                self.search_form_extra_fields = {
                    **(self.search_form_extra_fields or {}),
                    name: StringField(label),
                }
                self.custom_filters = {**self.custom_filters, name: [lookups.FilterCustomerText]}

    def _type_formatters(self) -> dict:
        formatters = {}
        if "customer" in self.datamodel.list_properties:
            formatters["customer"] = customer_link
        table = getattr(self.datamodel.obj, "__table__", None)
        if table is None:
            return formatters
        for column in table.columns:
            if isinstance(column.type, Numeric):
                formatters[column.name] = formatting.number if column.name == "discount" else formatting.money
            elif isinstance(column.type, DateTime):
                formatters[column.name] = formatting.datetime_short
            elif isinstance(column.type, Date):
                formatters[column.name] = formatting.date_short
        return formatters

    # -- the access policy, applied per request --------------------------------

    def column_level(self, column: str) -> str:
        return access.column_level(self.datamodel.obj, column)

    def policy_columns(self, columns) -> list[str]:
        return [c for c in columns if self.column_level(c) != access.HIDE]

    def policy_fieldsets(self, fieldsets):
        result = []
        for name, options in fieldsets or []:
            fields = self.policy_columns(options.get("fields", []))
            if fields:
                result.append((name, {**options, "fields": fields}))
        return result

    def policy_formatters(self) -> dict:
        """The formatters of a record's page or a file: a value the policy masked
        (app/disclosure.py) is shown as it is."""
        return {column: skip_masked(formatter) for column, formatter in self.formatters_columns.items()}

    def policy_filters(self, filters):
        """Drop filters on columns the user may not read: no filter works as an oracle."""
        kept = LightFilters._empty(filters.filter_converter, filters.datamodel)
        for flt, value in zip(filters.filters, filters.values, strict=False):
            if self.column_level(flt.column_name.split(".")[0]) in (access.READ, access.WRITE):
                kept._add_filter(flt, value)
        return kept

    # Relation fields whose choices are narrowed by who the related rows are: a
    # column -> a function giving the SQL condition («Специалист»: staff who see
    # patients). The record's current value stays a choice (or saving the form
    # would clear it).
    choice_conditions: dict = {}

    def restrict_form(self, form, new: bool = False, item=None) -> None:
        """Remove fields the user may not write: a POST that includes them changes nothing.
        On a new record a field the user may enter but then sees masked stays."""
        model = self.datamodel.obj
        for name in list(form._fields):
            if not access.column_writable(model, name, new):
                del form[name]
                continue
            field = form._fields[name]
            if hasattr(field, "query_func") and self.datamodel.is_relation(name):
                related = self.datamodel.get_related_model(name)
                conditions = [c for c in (access.row_scope(related),) if c is not None]
                if name in self.choice_conditions:
                    chosen = self.choice_conditions[name](related)
                    current = getattr(item, name, None) if item is not None else None
                    conditions.append(chosen if current is None else or_(chosen, related.id == current.id))
                if conditions:
                    session = self.datamodel.session
                    field.query_func = lambda m=related, c=conditions, s=session: (
                        s.query(m).filter(*c).order_by(option_label(m))
                    )
                    field._object_list = None

    def _list(self, **kwargs):
        """FAB's _list, but the search form is built only if its widget is not
        already rendered for this key (building it cost 2% of a list page)."""
        orders = get_order_args().get(type(self).__name__)
        order_column, order_direction = orders or ("", "")
        page = get_page_args().get(type(self).__name__)
        page_size = get_page_size_args().get(type(self).__name__)
        get_filter_args(self._filters)
        widgets = self._get_list_widget(
            filters=self._filters,
            order_column=order_column,
            order_direction=order_direction,
            page=page,
            page_size=page_size,
            **kwargs,
        )
        self.update_redirect()
        return self._get_search_widget(widgets=widgets)

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        widgets = widgets or {}
        include = [c for c in self.search_columns if self.column_level(c) in (access.READ, access.WRITE)]
        options = tuple(
            (name, tuple((o.id, o.label) for o in self.search_options(name)))
            for name, _ in relation_fields(self.search_form)
            if name in include
        )
        widgets["search"] = self.search_widget(
            route_base=self.route_base,
            form=form,
            form_factory=self.search_form.refresh,
            include_cols=include,
            exclude_cols=exclude_cols or [],
            filters=self._filters,
            cache_key=(type(self).__name__, str(get_locale()), tuple(include), options),
        )
        return widgets

    def not_applicable(self, item) -> set[str]:
        """Fields that say nothing about this record (left off its card when empty)."""
        return set()

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = widgets or {}
        skipped = {c for c in self.not_applicable(item) if getattr(item, c, None) in (None, "")}
        columns = [c for c in self.policy_columns(self.show_columns) if c not in skipped]
        values = dict(zip(columns, self.datamodel.get_values_item(item, columns), strict=True))
        disclosure.row(self.datamodel.obj, values, item=item)
        self.visible_values([values])
        columns = [c for c in columns if c in values]
        show_fieldsets = [
            (name, {**options, "fields": [f for f in options["fields"] if f not in skipped]})
            for name, options in show_fieldsets or self.show_fieldsets or []
        ]
        widgets["show"] = self.show_widget(
            pk=pk,
            label_columns=self.label_columns,
            include_columns=columns,
            value_columns=[values[c] for c in columns],
            formatters_columns=self.policy_formatters(),
            actions=actions or self.actions,
            fieldsets=self.policy_fieldsets(show_fieldsets or self.show_fieldsets),
            modelview_name=self.__class__.__name__,
        )
        return widgets

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        self.restrict_form(form, new=True)
        widgets = widgets or {}
        widgets["add"] = self.add_widget(
            form=form,
            include_cols=[c for c in self.add_columns if c in form._fields],
            exclude_cols=exclude_cols or [],
            fieldsets=[
                (n, {**o, "fields": [f for f in o["fields"] if f in form._fields]})
                for n, o in self.add_fieldsets or []
            ],
        )
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        widgets = widgets or {}
        widgets["edit"] = self.edit_widget(
            form=form,
            include_cols=[c for c in self.edit_columns if c in form._fields],
            exclude_cols=exclude_cols or [],
            fieldsets=[
                (n, {**o, "fields": [f for f in o["fields"] if f in form._fields]})
                for n, o in self.edit_fieldsets or []
            ],
        )
        return widgets

    def update_redirect(self):
        """FAB's back-navigation history, written to the session only when the page
        is not already its last entry (FAB's stack skips a repeat anyway, but
        assigning it re-signed and re-sent the session cookie on every reload)."""
        history = session.get("page_history") or []
        if not history or history[-1] != request.url:
            super().update_redirect()

    FORM_PAGES = ("/add", "/edit/", "/delete/")

    def get_redirect(self):
        """Where a save or a delete lands: the page the form was opened from if that
        page shows this view's records (its list as filtered, a record, the card or
        order whose tab it is), else this view's list.

        FAB went back to whatever page preceded the form in the session's history:
        a form opened from another list, a bookmark or another browser tab (one
        session, one history) landed a saved tag on the branches list."""
        history = list(session.get("page_history") or [])
        if history and urlsplit(history[-1]).path == request.path:
            history.pop()  # the form itself
            session["page_history"] = history
        previous = urlsplit(history[-1]) if history else None
        if previous is not None and self.shows_own_records(previous.path):
            return previous.path + (f"?{previous.query}" if previous.query else "")
        return url_for(f"{type(self).__name__}.list")

    def shows_own_records(self, path: str) -> bool:
        """Is ``path`` a page of this view that is not a form, or the page of a
        record whose tabs include this view's records?"""
        if path.startswith(self.route_base + "/"):
            return not any(part in path[len(self.route_base) :] for part in self.FORM_PAGES)
        model = self.datamodel.obj
        return any(
            path.startswith(parent.route_base + "/show/")
            for parent in self.appbuilder.baseviews
            if any(
                getattr(tab, "datamodel", None) and tab.datamodel.obj is model
                for tab in getattr(parent, "_related_views", None) or []
            )
        )

    # -- lists ---------------------------------------------------------------

    def list_conditions(self) -> list:
        """Extra SQL conditions for this request's list (search box, row scope)."""
        return []

    def _get_list_widget(
        self,
        filters,
        actions=None,
        order_column="",
        order_direction="",
        page=None,
        page_size=None,
        widgets=None,
        **kwargs,
    ):
        widgets = widgets or {}
        filters = self.policy_filters(filters)
        for condition in self.list_conditions():
            if condition is not None:
                filters._add_filter(WhereFilter("id", self.datamodel), condition)
        page_size = page_size or self.page_size
        columns = self.policy_columns(self.list_columns)
        order_columns = [c for c in self.order_columns if self.column_level(c) in (access.READ, access.WRITE)]
        if order_column not in order_columns:
            order_column, order_direction = self.base_order or ("", "")
        joined_filters = filters.get_joined_filters(self._base_filters)
        plan = self.values_plan(tuple(columns))
        if plan is not None and not any(f.is_related_view for f in joined_filters.filters):
            count, keys, values = self.datamodel.query_values(
                joined_filters, order_column, order_direction, page, page_size, plan
            )
            disclosure.rows(self.datamodel.obj, values, pks=keys)
            self.visible_values(values)
        else:  # a card's tab (one statement with its total), or columns only objects give
            count, rows = self.datamodel.query(
                joined_filters, order_column, order_direction, page=page, page_size=page_size
            )
            keys, values = self.datamodel.get_keys(rows), self.list_values(rows, columns)
            disclosure.rows(self.datamodel.obj, values, items=rows, pks=keys)
            self.visible_values(values)
        pks = [self._serialize_pk_if_composite(pk) for pk in keys]
        visible_actions = self.list_actions(actions or self.actions)
        buttons = {method: self.can(method) for method in ("add", "show", "edit", "delete", "export")}
        table_rows = self.list_rows(
            pks,
            self.list_cells(
                values,
                columns,
                pks,
                self.action_url_base("show") if buttons["show"] else None,
            ),
            visible_actions,
            buttons,
        )
        widgets["list"] = self.list_widget(
            headers=self.list_headers(columns),
            include_columns=columns,
            rows=Markup("".join(table_rows)),  # empty (falsy) when nothing is found
            buttons=buttons,
            order_columns=order_columns,
            page=page,
            page_size=page_size,
            count=count,
            pks=pks,
            actions=visible_actions,
            filters=filters,
            modelview_name=self.__class__.__name__,
            order_aliases=self.order_aliases,
            count_cap=current_app.config.get("KARTOTEKA_COUNT_CAP") or 0,
            **kwargs,
        )
        return widgets

    _HEADERS: dict = {}

    def list_headers(self, columns) -> dict[str, Markup]:
        """The table's column headers, escaped, translated once per view, language and columns."""
        return rendering.remembered(
            self._HEADERS,
            (type(self).__name__, str(get_locale()), tuple(columns)),
            lambda: {c: escape(self.label_columns.get(c, c)) for c in columns},
        )

    def can(self, method: str) -> bool:
        """May the user call this view's ``method``? (FAB's is_item_visible, without
        its scan of every registered view on each call.)"""
        permission = f"can_{self.get_method_permission(method)}"
        return permission in self.base_permissions and self.appbuilder.sm.has_access(
            permission, self.class_permission_name
        )

    def list_actions(self, actions) -> dict:
        """The bulk actions of the list the user may run (FAB's get_actions_on_list)."""
        sm = self.appbuilder.sm
        visible = {}
        for key, item in (actions or {}).items():
            permission = self.get_action_permission_name(item.name)
            if (
                item.multiple
                and permission in self.base_permissions
                and sm.has_access(permission, self.class_permission_name)
            ):
                visible[key] = item
        return visible

    def list_rows(self, pks, cells, actions, buttons) -> list[Markup]:
        """The table's rows: checkbox, show/edit/delete buttons and the cells.

        Built here in one pass: Jinja spent ~0.1 ms a row on the loop, the pk
        escapes and the translated titles."""

        def base(method):
            return self.action_url_base(method) if buttons[method] else None

        pick = escape(_("Выбрать"))
        links = []  # each button: its <a …> up to the row's key, and the rest after it
        for method, icon, css, address, title in (
            ("show", "fa-search", "", 'href="', _("Show record")),
            ("edit", "fa-edit", "", 'href="', _("Edit record")),
            ("delete", "fa-trash", " kartoteka-delete", 'href="#" data-href="', _("Delete record")),
        ):
            url = base(method)
            if url:
                title = escape(title)
                links.append(
                    (
                        f"<a {address}{url}",
                        f'" class="btn btn-sm btn-default{css}" title="{title}"><span class="sr-only">'
                        f'{title}</span><i class="fa {icon}" aria-hidden="true"></i></a>',
                    )
                )
        rows = []
        for pk, cells_html in zip(pks, cells, strict=True):
            key = escape(pk)
            parts = ["<tr>"]
            if actions:
                parts.append(
                    f'<td><input id="{key}" class="action_check" name="rowid" value="{key}" '
                    f'type="checkbox" aria-label="{pick}"></td>'
                )
            if links:
                parts.append('<td><div class="btn-group btn-group-xs" style="display: flex;">')
                parts.extend(f"{head}{key}{tail}" for head, tail in links)
                parts.append("</div></td>")
            parts.append(cells_html)
            parts.append("</tr>")
            rows.append(Markup("".join(parts)))
        return rows

    # Columns a list reads as plain values (app.admin.datamodel.ListColumn) besides its
    # mapped columns: computed ones and related records' labels.
    list_sql: dict = {}

    def values_plan(self, columns: tuple):
        plans = self.__dict__.setdefault("_values_plans", {})
        if columns not in plans:
            plans[columns] = self.datamodel.values_plan(columns, self.list_sql, RELATED_LABELS)
        return plans[columns]

    def visible_values(self, values: list[dict]) -> list[dict]:
        """What a view does to the values of its rows after the field policy
        (app/disclosure.py) has applied to them: name them, never show more."""
        return values

    def list_values(self, rows, columns) -> list[dict]:
        """The values of a list's rows loaded as objects."""
        return list(self.datamodel.get_values(rows, columns))

    # Columns whose cell opens the record, as the row's show button does (the
    # customer's name opens the card).
    opens_record: tuple[str, ...] = ()

    def action_url_base(self, method: str) -> str | None:
        """The address of ``method`` for a record, without the record's key."""
        try:
            return url_for(f"{type(self).__name__}.{method}", pk="0")[:-1]
        except BuildError:
            return None

    def list_cells(self, values, columns, pks, show_base=None) -> list[Markup]:
        """Each row's cells, formatted and escaped once here (a row of <td>s):
        a formatter, escape and loop step per cell in Jinja cost 5 ms a page.
        With ``show_base`` (the user may open records) the ``opens_record`` cells
        link to the row's record."""
        formatters = self.policy_formatters()
        plan = [
            (
                f'<td class="col-{column}">',
                column,
                formatting.for_many(formatters.get(column)),
                show_base is not None and column in self.opens_record,
            )
            for column in columns
        ]
        translated = {}  # enum labels and «Да»/«Нет» are lazy strings: translate each once
        rows = []
        for row, pk in zip(values, pks, strict=True):
            parts = []
            for opening, column, formatter, opens in plan:
                value = row[column]
                if formatter is not None and type(value) is not Masked:
                    value = formatter(value)
                kind = type(value)
                if kind is str:  # most cells: one C call (markupsafe's escape is ~7 calls)
                    html = value.translate(_HTML_ESCAPES)
                elif kind is Markup:  # a link (card_link, customer_link)
                    html = value
                elif value is None:
                    html = ""
                elif kind is LazyString:
                    key = id(value)
                    if key not in translated:
                        translated[key] = str(escape(value))
                    html = translated[key]
                else:
                    html = str(escape(value))
                if opens and html:
                    html = f'<a href="{show_base}{escape(pk)}">{html}</a>'
                parts.append(f"{opening}{html}</td>")
            rows.append(Markup("".join(parts)))
        return rows

    # -- export ------------------------------------------------------------------

    EXPORT_LIMIT = 50_000

    def related_conditions(self) -> list:
        """A card tab's export keeps the tab's record: ``_rel_customer=42`` limits it to
        the rows of customer 42 (listing.render writes it; any many-to-one relation).
        A value that is not a record's number gives 404, not the unfiltered list."""
        conditions = []
        relationships = self.datamodel.obj.__mapper__.relationships
        for key, value in request.args.items():
            if not key.startswith(listing.RELATED_ARG):
                continue
            prop = relationships.get(key[len(listing.RELATED_ARG) :])
            if prop is None or prop.direction is not MANYTOONE or len(prop.local_columns) != 1:
                abort(404)
            pk = record_id(value)
            if pk is None:
                abort(404)
            (column,) = prop.local_columns
            conditions.append(column == pk)
        return conditions

    @expose("/export.csv")
    @has_access
    def export(self):
        """The current list (filters, search, row scope) as CSV, through the field policy.

        Masked fields stay masked, hidden ones are left out; the export is journaled.
        Cells are safe and typed for a spreadsheet (app/spreadsheet.py).
        """
        get_filter_args(self._filters)
        filters = self.policy_filters(self._filters)
        for condition in [*self.list_conditions(), *self.related_conditions()]:
            if condition is not None:
                filters._add_filter(WhereFilter("id", self.datamodel), condition)
        order_column, order_direction = self.base_order or ("", "")
        joined = filters.get_joined_filters(self._base_filters)
        count, rows = self.datamodel.query(
            joined, order_column, order_direction, page=0, page_size=self.EXPORT_LIMIT
        )
        columns = self.policy_columns(self.list_columns)
        values = disclosure.rows(
            self.datamodel.obj, list(self.datamodel.get_values(rows, columns)), items=rows
        )
        self.visible_values(values)
        formatters = self.formatters_columns
        sheet = spreadsheet.Writer()
        sheet.row([sheet.cell(str(self.label_columns.get(c, c))) for c in columns])
        for row in values:
            sheet.row([sheet.cell(row.get(c), formatters.get(c)) for c in columns])
        written = min(count, self.EXPORT_LIMIT)
        # a card tab's export is one customer's records: the journal names the customer
        card = record_id(request.args.get(listing.RELATED_ARG + "customer", "")) if written else None
        access.record_access(card, AccessAction.EXPORT, detail=f"{self.class_permission_name}: {written}")
        db.session.commit()
        filename = f"{self.route_base.strip('/').replace('/', '-')}.csv"
        return Response(
            sheet.text(),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename={filename}"},
        )

    # -- tabs ----------------------------------------------------------------

    def visible_related_views(self):
        """Related views (tabs) the current user may read, checked per request, in
        the order ``related_views`` declares them."""
        sm = self.appbuilder.sm
        return [
            view
            for view in self.declared_related_views()
            if sm.has_access("can_read", view.class_permission_name)
        ]

    def declared_related_views(self):
        """FAB fills ``_related_views`` in the order the views were registered with
        the app, not as ``related_views`` lists them; the card paired its n-th tab
        with the n-th of them (the manager's «Сообщения» showed the change history)."""
        views = self.__dict__.get("_declared_related_views")
        if views is None or len(views) != len(self._related_views):
            rank = {cls: i for i, cls in enumerate(self.related_views)}
            views = self._declared_related_views = sorted(
                self._related_views, key=lambda view: rank.get(type(view), len(rank))
            )
        return views

    def _get_related_views_widgets(
        self, item, orders=None, pages=None, page_sizes=None, widgets=None, **args
    ):
        widgets = widgets or {}
        widgets["related_views"] = []
        for view in self.visible_related_views():
            name = view.__class__.__name__
            order_column, order_direction = (orders or {}).get(name, ("", ""))
            widgets["related_views"].append(
                self._get_related_view_widget(
                    item,
                    view,
                    order_column,
                    order_direction,
                    page=(pages or {}).get(name),
                    page_size=(page_sizes or {}).get(name),
                )
            )
        return widgets

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=self.visible_related_views(),
        )

    # -- add / edit through the domain ----------------------------------------

    def prepare(self, item, is_new: bool) -> None:
        """Normalize and validate ``item`` before commit; raise ValidationFailed."""

    def extra_fields(self, item) -> dict:
        """Fields added to the add/edit form at request time (name -> unbound field)."""
        return {}

    def with_extra_fields(self, form_class, item):
        extras = self.extra_fields(item)
        return type(form_class.__name__, (form_class,), extras) if extras else form_class

    def save_extra_fields(self, form, item) -> None:
        """Store what the extra fields hold (in the same transaction)."""

    def populate(self, form, item) -> None:
        extras = self.extra_fields(item)
        for name, field in form._fields.items():
            if name == "csrf_token" or name in self.form_only_fields or name in extras:
                continue
            field.populate_obj(item, name)
        records.blank_to_null(item)  # before the domain rules read it, not only at flush
        records.fill_defaults(item)

    def check_unique(self, item) -> None:
        """A value another record already holds is refused on its field, with a link to
        that record (the database's refusal named no field: «данные противоречат…»)."""
        errors = {}
        relation_of = {
            column.key: rel.key
            for rel in self.datamodel.obj.__mapper__.relationships
            for column in rel.local_columns
        }
        for key, other in records.unique_conflicts(self.datamodel.session, item):
            name = relation_of.get(key[-1], key[-1])  # the form field of the key's last column
            message = _(
                "«%(field)s»: такое значение уже есть у записи ", field=self.label_columns.get(name, name)
            )
            errors.setdefault(name, Markup(escape(message)) + record_link(other))
        if errors:
            raise ValidationFailed(errors)

    def _attach_errors(self, form, error: ValidationFailed) -> None:
        for name, message in error.errors.items():
            if name and name in form._fields and name not in self.form_only_fields:
                form[name].errors = [*form[name].errors, message]
            else:
                flash(message, "danger")

    def save(self, form, item, is_new: bool) -> bool:
        session = self.datamodel.session
        try:
            with session.no_autoflush:
                self.populate(form, item)
                self.check_lock(form, item)
                self.prepare(item, is_new)
                self.check_unique(item)
                self.save_extra_fields(form, item)
            if is_new:
                session.add(item)
            session.commit()
        except ValidationFailed as e:
            session.rollback()
            self._attach_errors(form, e)
            return False
        except StaleDataError:
            session.rollback()
            self._attach_errors(
                form,
                StaleEdit(
                    {
                        None: _(
                            "Запись изменил другой сотрудник. Ваши данные остались в форме: сверьте и сохраните ещё раз."
                        )
                    }
                ),
            )
            return False
        except IntegrityError:
            session.rollback()
            flash(
                _("Запись не сохранена: данные противоречат уже сохранённым. Проверьте поля формы."),
                "danger",
            )
            return False
        if is_new:
            self.post_add(item)
            flash(self.add_row_message, "success")
        else:
            self.post_update(item)
            flash(self.edit_row_message, "success")
        return True

    def check_lock(self, form, item) -> None:
        """Optimistic lock hook; see CustomerView."""

    # After a new record is saved, open it (a new customer's card) rather than go back.
    open_after_add = False

    def post_add(self, item):
        g.kartoteka_added = item.id

    def post_add_redirect(self):
        added = g.pop("kartoteka_added", None)
        if self.open_after_add and added is not None:
            return redirect(url_for(f"{type(self).__name__}.show", pk=added))
        return super().post_add_redirect()

    def post_delete(self, item):
        g.kartoteka_deleted = item.id

    def post_delete_redirect(self):
        """Back where the user came from, unless that was the deleted record's own
        page (deleting a customer from the card landed on a 404): then the list."""
        target = self.get_redirect()
        deleted = g.pop("kartoteka_deleted", None)
        if deleted is not None:
            own = {url_for(f"{type(self).__name__}.{m}", pk=deleted) for m in ("show", "edit")}
            if urlsplit(target).path in own:
                target = url_for(f"{type(self).__name__}.list")
        return redirect(target)

    def _fill_form_exclude_cols(self, exclude_cols, form):
        """The relation a form opened from a record's tab is bound to (``_flt_0_customer=42``),
        read within the user's rows: FAB loaded any customer by its number, so a
        specialist could add a medical record to another clinic's patient through the
        address. One outside the rows is as one that does not exist (no value)."""
        for name in exclude_cols:
            if name not in form._fields or not self.datamodel.is_relation(name):
                continue
            model = self.datamodel.get_related_model(name)
            value = self._filters.get_filter_value(name)
            if isinstance(value, list | tuple):  # FAB keeps a filter's values as a list
                value = value[0] if len(value) == 1 else None
            pk = record_id(value) if value is not None else None
            statement = select(model).where(model.id == pk) if pk is not None else None
            condition = access.row_scope(model)
            if statement is not None and condition is not None:
                statement = statement.where(condition)
            form[name].data = (
                self.datamodel.session.scalars(statement).first() if statement is not None else None
            )

    def _add(self):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.with_extra_fields(self.add_form, None).refresh()
        self.restrict_form(form, new=True)  # before validation: a field the user may not write is ignored
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                if self.save(form, self.datamodel.obj(), is_new=True):
                    return None
        else:
            self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        if request.method == "POST":
            form = self.with_extra_fields(self.edit_form, item).refresh(request.form)
            self.restrict_form(
                form, item=item
            )  # before validation: a field the user may not write is ignored
            self.guard_texts(form, item)
            self._fill_form_exclude_cols(exclude_cols, form)
            form._id = pk
            if form.validate():
                self.process_form(form, False)
                if self.save(form, item, is_new=False):
                    return None
        else:
            form = self.with_extra_fields(self.edit_form, item).refresh(obj=item)
            self.prefill_form(form, pk)
            self.guard_texts(form, item)
            self.update_redirect()
        self.restrict_form(form, item=item)
        return self._get_edit_widget(form=form, exclude_cols=exclude_cols)

    def guard_texts(self, form, item) -> None:
        """A free text holding a value the user may not see (a passport number typed
        into a note, for a role that sees none) is shown as the policy shows it,
        read-only, and kept as stored when the form is saved: the form must neither
        reveal it nor write the masked text back over it."""
        model = self.datamodel.obj
        customer = disclosure.customer_of(model, {}, item)
        for name in disclosure.free_text_columns(model) & form._fields.keys():
            stored = getattr(item, name, None)
            shown = disclosure.scrub(stored, customer)
            if shown == stored:
                continue
            if request.method == "POST":
                del form[name]
                continue
            field = form[name]
            field.data = str(shown)
            field.render_kw = {**(field.render_kw or {}), "readonly": True}
            field.description = _("Текст содержит данные, скрытые для вашей роли: изменить его нельзя.")

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        widget = self._add()
        if not widget:
            return self.post_add_redirect()
        status = 422 if request.method == "POST" else 200
        return self.render_template(self.add_template, title=self.add_title, widgets=widget), status

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._edit(pk)
        if not widgets:
            return self.post_edit_redirect()
        status = 422 if request.method == "POST" else 200
        return (
            self.render_template(
                self.edit_template,
                title=self.edit_title,
                widgets=widgets,
                related_views=[],
            ),
            status,
        )


class ReferenceView(KartotekaModelView):
    class_permission_name = access.REFERENCE


# ---------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------


class BranchView(ReferenceView):
    datamodel = Interface(Branch)
    list_title = _l("Филиалы")
    show_title = add_title = edit_title = _l("Филиал")
    label_columns = {"address": _l("Адрес"), "phone": _l("Телефон")}
    list_columns = ["name", "address", "phone"]
    add_columns = edit_columns = show_columns = ["name", "address", "phone"]
    search_columns = ["name", "address"]
    base_order = ("name", "asc")


class CategoryView(ReferenceView):
    datamodel = Interface(CustomerCategory)
    list_title = _l("Категории клиентов")
    show_title = add_title = edit_title = _l("Категория клиентов")
    label_columns = {"discount": _l("Скидка, %")}
    list_columns = add_columns = edit_columns = show_columns = ["name", "discount"]
    search_columns = ["name"]
    base_order = ("name", "asc")


class TagView(ReferenceView):
    datamodel = Interface(Tag)
    list_title = _l("Теги")
    show_title = add_title = edit_title = _l("Тег")
    label_columns = {"color": _l("Цвет")}
    list_columns = add_columns = edit_columns = show_columns = ["name", "color"]
    search_columns = ["name"]
    base_order = ("name", "asc")


class CatalogItemView(ReferenceView):
    datamodel = Interface(CatalogItem)
    list_title = _l("Услуги и товары")
    show_title = add_title = edit_title = _l("Услуга или товар")
    label_columns = {
        "kind": _l("Тип"),
        "duration_min": _l("Длительность, мин"),
        "active": _l("Активна"),
    }
    list_columns = ["name", "kind", "price", "duration_min", "active"]
    add_columns = edit_columns = show_columns = [
        "name",
        "kind",
        "price",
        "duration_min",
        "active",
    ]
    search_columns = ["name", "kind", "active"]
    base_order = ("name", "asc")


# ---------------------------------------------------------------------------
# Tabs of the customer card. Each model has a standalone view (with the
# customer column) and a tab view (without it); both share one permission.
# ---------------------------------------------------------------------------


class CustomerDocumentView(KartotekaModelView):
    class_permission_name = access.DOCUMENTS
    datamodel = Interface(CustomerDocument, eager=[joinedload(CustomerDocument.customer)])
    list_title = _l("Документы")
    show_title = add_title = edit_title = _l("Документ")
    label_columns = {
        "kind": _l("Вид документа"),
        "series": _l("Серия"),
        "number": _l("Номер"),
        "issued_by": _l("Кем выдан"),
        "issue_date": _l("Дата выдачи"),
        "division_code": _l("Код подразделения"),
        "address": _l("Адрес регистрации"),
        "citizenship": _l("Гражданство"),
    }
    fields = [
        "kind",
        "series",
        "number",
        "issued_by",
        "issue_date",
        "division_code",
        "address",
        "citizenship",
    ]
    list_columns = ["customer", "kind", "series", "number", "issue_date"]
    add_columns = edit_columns = ["customer", *fields]
    show_columns = ["customer", *fields, "created_by", "created_on"]
    search_columns = ["kind", "customer"]
    base_order = ("id", "desc")

    def prepare(self, item, is_new):
        documents.prepare_document(item)


class CustomerDocumentTab(CustomerDocumentView):
    list_columns = [
        "kind",
        "series",
        "number",
        "issued_by",
        "issue_date",
        "division_code",
    ]


ORDER_LABELS = {
    "kind": _l("Тип"),
    "visit_at": _l("Дата визита"),
    "payment_status": _l("Оплата"),
    "total": _l("Итого"),
    "paid": _l("Оплачено"),
    "debt": _l("Долг"),
    "items": _l("Позиции"),
}


class OrderItemView(KartotekaModelView):
    class_permission_name = access.ORDERS
    datamodel = Interface(OrderItem, eager=[joinedload(OrderItem.catalog_item)])
    list_title = _l("Позиции заказа")
    show_title = add_title = edit_title = _l("Позиция заказа")
    label_columns = {"catalog_item": _l("Услуга или товар"), "name": _l("Наименование")}
    list_columns = ["name", "quantity", "price", "amount"]
    add_columns = edit_columns = ["order", "catalog_item", "quantity", "price"]
    add_form_extra_fields = edit_form_extra_fields = {
        "price": LocalDecimalField(
            _l("Цена"), validators=[Optional()], description=_l("Пусто — цена из каталога")
        )
    }
    show_columns = ["order", "catalog_item", "name", "quantity", "price", "amount"]
    search_columns = ["name"]

    def prepare(self, item, is_new):
        if item.catalog_item is not None:
            item.name = item.name or item.catalog_item.name
            if item.price is None:
                item.price = item.catalog_item.price
        if item.order is not None and item not in item.order.items:
            item.order.items.append(item)
        orders.prepare_order_item(self.datamodel.session, item)


class FilterDebt(ConditionFilter):
    """«Визиты с задолженностью»: paid is less than the total, not cancelled."""

    name = _l("С задолженностью")
    arg_name = "debt"

    def apply(self, query, value):
        if str(value).lower() in ("", "0", "false", "n", "no"):
            return query
        return query.filter(Order.debt > 0)


class OrderView(KartotekaModelView):
    class_permission_name = access.ORDERS
    datamodel = Interface(
        Order,
        eager=[
            joinedload(Order.customer),
            joinedload(Order.specialist),
            joinedload(Order.branch),
        ],
    )
    list_title = _l("Заказы")
    show_title = add_title = edit_title = _l("Заказ")
    label_columns = ORDER_LABELS
    related_views = [OrderItemView]
    list_columns = [
        "id",
        "created_on",
        "customer",
        "kind",
        "visit_at",
        "specialist",
        "status",
        "payment_status",
        "total",
        "paid",
        "debt",
    ]
    list_sql = {"debt": ListColumn(Order.total, Order.paid, Order.status, read=models.debt)}
    add_columns = [
        "customer",
        "kind",
        "branch",
        "specialist",
        "visit_at",
        "paid",
        "comment",
    ]
    edit_columns = [
        "customer",
        "kind",
        "branch",
        "specialist",
        "visit_at",
        "status",
        "paid",
        "comment",
    ]
    show_columns = [
        "id",
        "customer",
        "kind",
        "branch",
        "specialist",
        "visit_at",
        "status",
        "payment_status",
        "total",
        "paid",
        "debt",
        "comment",
        "created_by",
        "created_on",
    ]
    search_columns = [
        "status",
        "payment_status",
        "kind",
        "specialist",
        "branch",
        "created_on",
        "paid",
    ]
    choice_conditions = {"specialist": partial(access.users_with, access.SPECIALIST)}
    custom_filters = {
        "paid": [FilterDebt],
        "created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo],
    }
    base_order = ("id", "desc")
    formatters_columns = {"debt": formatting.money}

    def prepare(self, item, is_new):
        orders.prepare_order(self.datamodel.session, item, is_new=is_new)

    @expose("/lookup")
    @has_access
    def lookup(self):
        """Choices for an order field as the user types: a number or the customer
        (or, on a customer's card, that customer's orders)."""
        customer = record_id(request.args.get("customer", "")) if "customer" in request.args else None
        if "customer" in request.args and customer is None:
            return jsonify(results=[])
        return jsonify(results=lookups.find_orders(request.args.get("q", ""), customer_id=customer))


class OrderTab(OrderView):
    list_columns = [
        "id",
        "created_on",
        "kind",
        "visit_at",
        "specialist",
        "branch",
        "status",
        "payment_status",
        "total",
        "paid",
        "debt",
    ]


class ReturnView(KartotekaModelView):
    class_permission_name = access.RETURNS
    datamodel = Interface(Return, eager=[joinedload(Return.customer), joinedload(Return.order)])
    list_title = _l("Возвраты")
    show_title = add_title = edit_title = _l("Возврат")
    label_columns = {"reason": _l("Причина")}
    list_columns = ["id", "created_on", "customer", "order", "amount", "status"]
    add_columns = ["order", "amount", "reason"]
    edit_columns = ["order", "amount", "reason", "status"]
    show_columns = [
        "id",
        "customer",
        "order",
        "amount",
        "reason",
        "status",
        "created_by",
        "created_on",
    ]
    search_columns = ["status", "created_on"]
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("id", "desc")

    def prepare(self, item, is_new):
        card = lookups.card_customer() if is_new else None
        orders.prepare_return(self.datamodel.session, item, card_customer_id=card)


class ReturnTab(ReturnView):
    list_columns = ["id", "created_on", "order", "amount", "reason", "status"]


class ReviewView(KartotekaModelView):
    class_permission_name = access.REVIEWS
    datamodel = Interface(Review, eager=[joinedload(Review.customer), joinedload(Review.specialist)])
    list_title = _l("Отзывы")
    show_title = add_title = edit_title = _l("Отзыв")
    label_columns = {
        "rating": _l("Оценка"),
        "moderation_status": _l("Модерация"),
        "reply": _l("Ответ"),
    }
    list_columns = [
        "id",
        "created_on",
        "customer",
        "rating",
        "specialist",
        "moderation_status",
    ]
    add_columns = edit_columns = [
        "customer",
        "order",
        "specialist",
        "rating",
        "text",
        "moderation_status",
        "reply",
    ]
    show_columns = [
        "id",
        "customer",
        "order",
        "specialist",
        "rating",
        "text",
        "moderation_status",
        "reply",
        "created_on",
    ]
    search_columns = ["rating", "moderation_status", "specialist"]
    choice_conditions = {"specialist": partial(access.users_with, access.SPECIALIST)}
    base_order = ("id", "desc")

    def prepare(self, item, is_new):
        orders.prepare_review(self.datamodel.session, item)


class ReviewTab(ReviewView):
    list_columns = [
        "id",
        "created_on",
        "rating",
        "text",
        "specialist",
        "moderation_status",
    ]


class NoteView(KartotekaModelView):
    class_permission_name = access.NOTES
    datamodel = Interface(Note, eager=[joinedload(Note.customer), joinedload(Note.created_by)])
    list_title = _l("Примечания")
    show_title = add_title = edit_title = _l("Примечание")
    label_columns = {"pinned": _l("Закреплено")}
    list_columns = ["created_on", "customer", "created_by", "text", "pinned"]
    add_columns = edit_columns = ["customer", "text", "pinned"]
    show_columns = ["customer", "text", "pinned", "created_by", "created_on"]
    search_columns = ["pinned"]
    base_order = ("created_on", "desc")


class NoteTab(NoteView):
    list_columns = ["created_on", "created_by", "text", "pinned"]


class MedicalRecordView(KartotekaModelView):
    class_permission_name = access.ANAMNESIS
    datamodel = Interface(
        MedicalRecord,
        eager=[
            joinedload(MedicalRecord.customer),
            joinedload(MedicalRecord.created_by),
        ],
    )
    list_title = _l("Анамнез")
    show_title = add_title = edit_title = _l("Запись анамнеза")
    label_columns = {
        "allergies": _l("Аллергии"),
        "conditions": _l("Хронические заболевания"),
        "medications": _l("Принимаемые препараты"),
        "contraindications": _l("Противопоказания"),
        "text": _l("Заметки врача"),
    }
    fields = ["allergies", "conditions", "medications", "contraindications", "text"]
    list_columns = [
        "created_on",
        "customer",
        "created_by",
        "allergies",
        "contraindications",
    ]
    add_columns = edit_columns = ["customer", *fields]
    show_columns = [
        "customer",
        *fields,
        "created_by",
        "created_on",
        "changed_by",
        "changed_on",
    ]
    search_columns = ["created_on"]
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("created_on", "desc")


class MedicalRecordTab(MedicalRecordView):
    list_columns = [
        "created_on",
        "created_by",
        "allergies",
        "conditions",
        "medications",
        "contraindications",
    ]


class CustomerAttributeView(ReferenceView):
    datamodel = Interface(CustomerAttribute)
    list_title = _l("Дополнительные поля клиентов")
    show_title = add_title = edit_title = _l("Дополнительное поле")
    label_columns = {
        "customer_type": _l("Тип клиента"),
        "label": _l("Название поля"),
        "kind": _l("Тип значения"),
        "required": _l("Обязательное"),
        "position": _l("Порядок"),
    }
    list_columns = add_columns = edit_columns = show_columns = [
        "customer_type",
        "label",
        "kind",
        "required",
        "position",
    ]
    search_columns = ["customer_type"]
    base_order = ("position", "asc")


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


class ChangeLogView(KartotekaModelView):
    """«История изменений»: read-only; values of protected fields follow the field policy."""

    class_permission_name = access.HISTORY
    datamodel = Interface(ChangeLog, eager=[joinedload(ChangeLog.user), joinedload(ChangeLog.customer)])
    base_permissions = ["can_read"]
    list_title = show_title = _l("История изменений")
    label_columns = {
        "at": _l("Когда"),
        "user": _l("Сотрудник"),
        "entity": _l("Запись"),
        "entity_id": _l("№"),
        "action": _l("Действие"),
        "field": _l("Поле"),
        "old_value": _l("Было"),
        "new_value": _l("Стало"),
    }
    list_columns = [
        "at",
        "user",
        "customer",
        "entity",
        "entity_id",
        "action",
        "field",
        "old_value",
        "new_value",
    ]
    show_columns = list_columns
    search_columns = ["user", "entity", "at"]
    custom_filters = {"at": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("at", "desc")

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


class ChangeLogTab(ChangeLogView):
    list_columns = ["at", "user", "entity", "entity_id", "action", "field", "old_value", "new_value"]


class AccessLogView(KartotekaModelView):
    """The personal-data access journal (152-FZ): read-only, for the auditor."""

    class_permission_name = access.JOURNAL
    datamodel = Interface(AccessLog, eager=[joinedload(AccessLog.user), joinedload(AccessLog.customer)])
    base_permissions = ["can_read"]
    list_title = show_title = _l("Журнал доступа")
    label_columns = {
        "at": _l("Когда"),
        "user": _l("Сотрудник"),
        "action": _l("Действие"),
        "field": _l("Поле"),
        "ip": _l("IP-адрес"),
        "detail": _l("Подробности"),
    }
    list_columns = ["at", "user", "customer", "action", "field", "ip", "detail"]
    show_columns = list_columns
    search_columns = ["user", "action", "at"]
    custom_filters = {"at": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    formatters_columns = {
        "field": lambda key: access.FIELDS[key].label if key in access.FIELDS else key,
        "detail": access.journal_detail,
    }
    base_order = ("at", "desc")


class AccessLogTab(AccessLogView):
    list_columns = ["at", "user", "action", "field", "ip"]


class MessageAttemptTab(KartotekaModelView):
    """A message's attempts: when, which worker, the outcome, the provider's own answer."""

    class_permission_name = access.MESSAGES
    datamodel = Interface(MessageAttempt)
    base_permissions = ["can_read"]
    exclude_route_methods = {"add", "edit", "delete", "show"}
    list_title = _l("Попытки отправки")
    label_columns = {
        "number": _l("№"),
        "started_at": _l("Начата"),
        "finished_at": _l("Завершена"),
        "worker": _l("Обработчик"),
        "outcome": _l("Итог"),
        "reason": _l("Причина"),
        "provider_answer": _l("Ответ провайдера"),
        "provider_id": _l("Номер у провайдера"),
    }
    list_columns = ["number", "started_at", "finished_at", "worker", "outcome", "reason", "provider_answer"]
    base_order = ("number", "asc")


class MessageView(KartotekaModelView):
    """«Сообщения»: every notification sent or queued, with its delivery log."""

    class_permission_name = access.MESSAGES
    datamodel = Interface(Message, eager=[joinedload(Message.customer)])
    base_permissions = ["can_read", "can_write"]
    # A message is written by an event or by «Отправить сообщение» (app/notifications.py),
    # never through a generic form that would bypass the outbox and the consent check.
    exclude_route_methods = {"add", "edit", "delete"}
    list_title = show_title = _l("Сообщения")
    label_columns = {
        "channel": _l("Канал"),
        "message_type": _l("Тип сообщения"),
        "subject": _l("Тема"),
        "body": _l("Текст"),
        "delivery": _l("Статус"),
        "attempts": _l("Попыток"),
        "last_error": _l("Ошибка"),
        "provider_id": _l("Номер у провайдера"),
        "send_after": _l("Отправить не раньше"),
        "expires_at": _l("Отправить до"),
        "sent_at": _l("Отправлено"),
        "after_crash": _l("Отправлено повторно после сбоя"),
        "delivery_key": _l("Ключ доставки"),
    }
    list_columns = ["created_on", "customer", "channel", "message_type", "delivery", "sent_at", "last_error"]
    # «Отправлено повторно после сбоя»: sent, but its first worker died mid-send.
    list_sql = {"delivery": ListColumn(Message.status, Message.after_crash, read=models.delivery_label)}
    order_aliases = {"delivery": "status"}
    show_columns = [
        "customer",
        "channel",
        "message_type",
        "delivery",
        "subject",
        "body",
        "attempts",
        "last_error",
        "provider_id",
        "send_after",
        "expires_at",
        "sent_at",
        "created_by",
        "created_on",
    ]
    related_views = [MessageAttemptTab]
    search_columns = ["status", "channel", "message_type", "created_on"]
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("id", "desc")

    @action("resend", _l("Повторить отправку"), "", "fa-repeat", multiple=True, single=True)
    def resend(self, items):
        items = items if isinstance(items, list) else [items]
        done = 0
        for message in items:
            try:
                notifications.resend(db.session, message)
                done += 1
            except ValidationFailed as e:
                for text in e.errors.values():
                    flash(text, "warning")
        db.session.commit()
        if done:
            flash(
                ngettext("%(num)d сообщение снова в очереди.", "%(num)d сообщений снова в очереди.", done),
                "success",
            )
        return redirect(request.referrer or url_for(".list"))


class MessageTab(MessageView):
    list_columns = ["created_on", "channel", "message_type", "delivery", "body", "sent_at", "last_error"]


class NotificationQueueView(BaseView):
    """«Очередь уведомлений»: per channel, what waits, fails and expired; pause and resume."""

    route_base = "/notificationqueue"
    class_permission_name = access.QUEUE
    method_permission_name = access.METHOD_PERMISSIONS
    default_view = "list"

    # Which messages list each count opens (filtered by channel and status).
    STATUS_OF = {
        "waiting": "queued",
        "failing": "queued",
        "scheduled": "queued",
        "sending": "sending",
        "overdue": "expired",
        "failed": "failed",
    }

    @expose("/")
    @has_access
    def list(self):
        from .worker import health

        report = health()
        rows = []
        for channel in models.Channel:
            state = report["channels"][channel.value]
            oldest = state["oldest_waiting_seconds"]
            rows.append(
                {
                    "channel": channel,
                    "state": state,
                    "paused_at": formatting.datetime_short(state["paused_at"]) if state["paused_at"] else "",
                    "oldest": format_timedelta(oldest) if oldest is not None else None,
                    "links": {
                        key: url_for("MessageView.list", _flt_0_channel=channel.value, _flt_0_status=status)
                        for key, status in self.STATUS_OF.items()
                    },
                }
            )
        return self.render_template(
            "kartoteka/notification_queue.html",
            title=_("Очередь уведомлений"),
            report=report,
            rows=rows,
            problems=[self.problem_text(p["code"], report) for p in report["problems"]],
            redis_line=self.redis_line(report["redis"]),
            sweep_line=(
                _(
                    "Диспетчер очереди последний раз обходил её %(when)s (%(ago)s назад).",
                    when=formatting.datetime_short(report["last_sweep"]),
                    ago=format_timedelta(report["last_sweep_seconds"]),
                )
                if report["last_sweep"]
                else _("Диспетчер очереди ещё не запускался.")
            ),
            may_pause=self.appbuilder.sm.has_access("can_write", access.QUEUE),
            may_read_messages=self.appbuilder.sm.has_access("can_read", access.MESSAGES),
        )

    @staticmethod
    def problem_text(code: str, report: dict) -> str:
        if code == "redis":
            return _("Redis недоступен: сообщения ждут в базе и уйдут, когда он вернётся.")
        if code == "no_workers":
            return _("Ни один обработчик не подключён к Redis: сообщения никто не отправляет.")
        if code == "sweeper":
            return _("Диспетчер очереди не обходил её дольше трёх своих интервалов: он остановлен?")
        return _(
            "Сообщение ждёт отправки уже %(age)s.", age=format_timedelta(report["oldest_waiting_seconds"])
        )

    @staticmethod
    def redis_line(redis: dict) -> str:
        if redis.get("embedded"):
            return _("Встроенная очередь без Redis: сообщения отправляет поток веб-приложения.")
        if not redis["ok"]:
            return _("Redis недоступен.")
        return _(
            "Redis доступен: заданий в очереди %(jobs)s, обработчиков подключено %(workers)s.",
            jobs=redis["jobs_queued"],
            workers=redis["workers"],
        )

    def _channel(self, value):
        try:
            return models.Channel(value)
        except ValueError:
            abort(404)

    @expose("/<channel>/pause", methods=["POST"])
    @has_access
    def pause(self, channel):
        channel = self._channel(channel)
        notifications.pause_channel(db.session, channel)
        db.session.commit()
        flash(
            _("Канал «%(channel)s» приостановлен: сообщения ждут в очереди.", channel=channel.label),
            "warning",
        )
        return redirect(url_for(".list"))

    @expose("/<channel>/resume", methods=["POST"])
    @has_access
    def resume(self, channel):
        channel = self._channel(channel)
        notifications.resume_channel(db.session, channel)
        db.session.commit()
        flash(_("Канал «%(channel)s» снова работает.", channel=channel.label), "success")
        return redirect(url_for(".list"))


class MessageTemplateView(KartotekaModelView):
    class_permission_name = access.TEMPLATES
    datamodel = Interface(MessageTemplate)
    list_title = _l("Шаблоны уведомлений")
    show_title = add_title = edit_title = _l("Шаблон уведомления")
    label_columns = {
        "message_type": _l("Тип сообщения"),
        "channel": _l("Канал"),
        "subject": _l("Тема"),
        "body": _l("Текст шаблона"),
        "active": _l("Используется"),
        "audience": _l("Кому"),
    }
    list_columns = ["message_type", "audience", "channel", "subject", "body", "active"]
    add_columns = edit_columns = ["message_type", "channel", "subject", "body", "active"]
    show_columns = ["message_type", "audience", "channel", "subject", "body", "active"]
    search_columns = ["message_type", "channel"]
    description_columns = {
        "body": _l(
            "Подстановки (Jinja): {{ customer.first_name }}, {{ customer.full_name }}, {{ order.id }}, {{ order.visit_at }}, {{ order.total }}, {{ clinic }}, {{ text }}"
        ),
    }

    def prepare(self, item, is_new):
        notifications.check_template(item)


class ConsentView(KartotekaModelView):
    """Per customer, per message type and channel: yes or no (seed 001: «Уведомления»)."""

    class_permission_name = access.MESSAGES
    datamodel = Interface(NotificationConsent, eager=[joinedload(NotificationConsent.customer)])
    list_title = _l("Согласия на уведомления")
    show_title = add_title = edit_title = _l("Согласие на уведомления")
    label_columns = {"message_type": _l("Тип сообщения"), "channel": _l("Канал"), "allowed": _l("Разрешено")}
    list_columns = ["customer", "message_type", "channel", "allowed", "changed_on", "changed_by"]
    add_columns = edit_columns = ["customer", "message_type", "channel", "allowed"]
    show_columns = ["customer", "message_type", "channel", "allowed", "changed_on", "changed_by"]
    search_columns = ["message_type", "channel", "allowed"]


class ConsentTab(ConsentView):
    list_columns = ["message_type", "channel", "allowed", "changed_on", "changed_by"]


# ---------------------------------------------------------------------------
# Customers and the card
# ---------------------------------------------------------------------------


# -- sign-ins: the administrator's lists of open sessions and login waits -----


class FilterOpen(ConditionFilter):
    """Sessions whose idle timeout has not passed."""

    name = _l("Открытые")
    arg_name = "open"

    def apply(self, query, value):
        return query.filter(UserSession.expiry > utcnow())


class FilterCounted(ConditionFilter):
    """Accounts and addresses with failures counted (not the «known» rows)."""

    name = _l("С неудачными попытками")
    arg_name = "counted"

    def apply(self, query, value):
        return query.filter(LoginThrottle.kind != ThrottleKind.KNOWN, LoginThrottle.failures > 0)


NEVER = {"add": "never", "edit": "never", "delete": "never"}  # lists only: rows come from sign-ins


class SessionView(KartotekaModelView):
    """«Сеансы»: who is signed in, since when, from where, in which browser or with
    an API token; the administrator ends a session (at once, on every worker)."""

    class_permission_name = access.SIGN_INS
    method_permission_name = {**access.METHOD_PERMISSIONS, **NEVER}
    datamodel = Interface(UserSession, eager=[joinedload(UserSession.user)])
    base_permissions = ["can_read", "can_write"]
    base_filters = [["expiry", FilterOpen, True]]
    list_title = show_title = _l("Сеансы")
    label_columns = {
        "user": _l("Сотрудник"),
        "kind": _l("Вход"),
        "created_at": _l("Начат"),
        "seen_at": _l("Последнее действие"),
        "ip": _l("IP-адрес"),
        "user_agent": _l("Браузер"),
    }
    list_columns = ["user", "kind", "created_at", "seen_at", "ip", "user_agent"]
    show_columns = list_columns
    search_columns = ["user"]
    formatters_columns = {
        "kind": lambda kind: _("Токен API") if kind == sessions.TOKEN else _("Браузер"),
        "user_agent": sessions.browser_label,
    }
    base_order = ("seen_at", "desc")

    @action(
        "end_session",
        _l("Завершить сеанс"),
        _l("Завершить выбранные сеансы? Их владельцам придётся войти снова."),
        "fa-sign-out",
        multiple=True,
        single=True,
    )
    def end_session(self, items):
        items = items if isinstance(items, list) else [items]
        ended = sessions.end_session([row.id for row in items if row is not None])
        flash(ngettext("Завершён %(num)d сеанс.", "Завершено %(num)d сеансов.", ended), "success")
        return redirect(url_for(".list"))


class LoginThrottleView(KartotekaModelView):
    """«Ограничения входа»: accounts and addresses with failed sign-ins and how long
    each waits (app/logins.py); the administrator lifts a wait."""

    class_permission_name = access.SIGN_INS
    method_permission_name = {**access.METHOD_PERMISSIONS, **NEVER}
    datamodel = Interface(LoginThrottle)
    base_permissions = ["can_read", "can_write"]
    base_filters = [["failures", FilterCounted, True]]
    list_title = show_title = _l("Ограничения входа")
    label_columns = {
        "kind": _l("Что"),
        "label": _l("Учётная запись или адрес"),
        "failures": _l("Неудачных попыток подряд"),
        "last_failure_at": _l("Последняя неудача"),
        "blocked_until": _l("Вход ждёт до"),
    }
    list_columns = ["kind", "label", "failures", "last_failure_at", "blocked_until"]
    show_columns = list_columns
    search_columns = ["kind", "label"]
    base_order = ("last_failure_at", "desc")

    @action(
        "lift_wait",
        _l("Снять ограничение"),
        _l("Снять ограничение входа с выбранных учётных записей и адресов?"),
        "fa-unlock",
        multiple=True,
        single=True,
    )
    def lift_wait(self, items):
        items = items if isinstance(items, list) else [items]
        lifted = logins.lift([row.id for row in items if row is not None])
        flash(ngettext("Снято %(num)d ограничение.", "Снято %(num)d ограничений.", lifted), "success")
        return redirect(url_for(".list"))


class FilterPhone(ConditionFilter):
    name = _l("Содержит")
    arg_name = "phone"
    condition = staticmethod(customers.phone_condition)


class FilterName(ConditionFilter):
    name = _l("Содержит")
    arg_name = "name"
    condition = staticmethod(customers.name_condition)


class CustomerTab:
    """A tab of the card: its label, its view and an optional inline form."""

    def __init__(self, key, label, view, inline=None):
        self.key, self.label, self.view, self.inline = key, label, view, inline


CUSTOMER_LABELS = {
    "full_name": _l("ФИО"),
    "name_search": _l("ФИО"),
    "last_name": _l("Фамилия"),
    "first_name": _l("Имя"),
    "middle_name": _l("Отчество"),
    "customer_type": _l("Тип клиента"),
    "company_name": _l("Наименование организации"),
    "phone": _l("Телефон"),
    "phone_extra": _l("Дополнительный телефон"),
    "email": _l("Эл. почта"),
    "gender": _l("Пол"),
    "birth_date": _l("Дата рождения"),
    "age": _l("Возраст"),
    "city": _l("Город"),
    "category": _l("Категория"),
    "source": _l("Источник"),
    "card_number": _l("Номер карты"),
    "discount": _l("Скидка, %"),
    "manager": _l("Менеджер"),
    "service_comment": _l("Служебный комментарий"),
    "registered_at": _l("Дата регистрации"),
    "last_visit_at": _l("Последний визит"),
    "last_visit_ip": _l("IP последнего визита"),
    "bonus_balance": _l("Бонусы"),
    "deposit_balance": _l("Депозит"),
    "tags": _l("Теги"),
}

CUSTOMER_FIELDSETS = [
    (
        _l("Клиент"),
        {
            "fields": [
                "last_name",
                "first_name",
                "middle_name",
                "customer_type",
                "company_name",
                "status",
            ]
        },
    ),
    (_l("Контакты"), {"fields": ["phone", "phone_extra", "email", "city"]}),
    (_l("Личные данные"), {"fields": ["gender", "birth_date"]}),
    (
        _l("Обслуживание"),
        {
            "fields": [
                "category",
                "tags",
                "manager",
                "discount",
                "card_number",
                "source",
                "service_comment",
            ]
        },
    ),
]


def status_action(status, label, icon):
    """A bulk action of the customers list that sets ``status`` on the selected rows."""

    def handler(self, items):
        return self._bulk_status(items, status)

    handler.__name__ = f"status_{status.value}"
    return action(handler.__name__, label, "", icon, multiple=True, single=False)(handler)


class CustomerView(KartotekaModelView):
    class_permission_name = access.CUSTOMERS
    datamodel = Interface(Customer, eager=[joinedload(Customer.manager)])
    list_title = _l("Клиенты")
    show_title = _l("Карточка клиента")
    record_label = _l("Клиент")
    add_title = _l("Новый клиент")
    edit_title = _l("Редактирование клиента")
    label_columns = CUSTOMER_LABELS
    list_columns = [
        "id",
        "registered_at",
        "full_name",
        "phone",
        "email",
        "status",
        "manager",
        "last_visit_at",
    ]
    order_columns = [
        "id",
        "registered_at",
        "name_search",
        "phone",
        "email",
        "status",
        "last_visit_at",
    ]
    order_aliases = {"full_name": "name_search"}  # the name as shown: a legal entity's by its organisation
    opens_record = ("full_name",)
    list_sql = {
        "full_name": ListColumn(
            Customer.last_name,
            Customer.first_name,
            Customer.middle_name,
            Customer.company_name,
            Customer.customer_type,
            read=models.full_name,
        )
    }
    add_fieldsets = CUSTOMER_FIELDSETS
    edit_fieldsets = [
        *CUSTOMER_FIELDSETS[:-1],
        (
            CUSTOMER_FIELDSETS[-1][0],
            {"fields": [*CUSTOMER_FIELDSETS[-1][1]["fields"], "version"]},
        ),
    ]
    show_fieldsets = [
        *CUSTOMER_FIELDSETS[:2],
        (CUSTOMER_FIELDSETS[2][0], {"fields": ["gender", "birth_date", "age"]}),
        *CUSTOMER_FIELDSETS[3:],
        (
            _l("Визиты и баланс"),
            {
                "fields": [
                    "registered_at",
                    "last_visit_at",
                    "last_visit_ip",
                    "bonus_balance",
                    "deposit_balance",
                ]
            },
        ),
    ]
    edit_form_extra_fields = {"version": HiddenField()}
    form_only_fields = ("version",)

    def not_applicable(self, item) -> set[str]:
        # A private person has no organisation name.
        return {"company_name"} if item.customer_type is CustomerType.INDIVIDUAL else set()

    search_columns = [
        "status",
        "phone",
        "name_search",
        "gender",
        "registered_at",
        "manager",
        "tags",
        "category",
        "email",
    ]
    custom_filters = {
        "phone": [FilterPhone],
        "name_search": [FilterName],
        "registered_at": [FilterDayEqual, FilterDayFrom, FilterDayTo],
    }
    formatters_columns = {"phone": formatting.phone, "phone_extra": formatting.phone, "id": card_link}
    choice_conditions = {"manager": partial(access.users_with, access.MANAGER)}
    open_after_add = True  # a new customer's card, where the passport and the visit are added
    base_order = ("id", "desc")
    show_template = "kartoteka/customer_card.html"
    list_template = "kartoteka/customer_list.html"

    tabs = [
        CustomerTab("documents", _l("Документы"), CustomerDocumentTab),
        CustomerTab("orders", _l("Заказы"), OrderTab, inline="kartoteka/inline_order.html"),
        CustomerTab("returns", _l("Возвраты"), ReturnTab),
        CustomerTab("reviews", _l("Отзывы"), ReviewTab),
        CustomerTab("notes", _l("Примечания"), NoteTab, inline="kartoteka/inline_note.html"),
        CustomerTab("anamnesis", _l("Анамнез"), MedicalRecordTab),
        CustomerTab("messages", _l("Сообщения"), MessageTab, inline="kartoteka/inline_message.html"),
        CustomerTab("consents", _l("Согласия"), ConsentTab),
        CustomerTab("history", _l("История изменений"), ChangeLogTab),
        CustomerTab("access", _l("Журнал доступа"), AccessLogTab),
    ]
    related_views = [tab.view for tab in tabs]

    def list_conditions(self):
        return [customers.search_condition(request.args.get("q", ""), lookups.readable_contacts())]

    def prepare(self, item, is_new):
        if is_new:
            customers.register_customer(self.datamodel.session, item)
        else:
            before = sa_inspect(item).attrs.status.history.deleted
            customers.check_status_change(
                before[0] if before else item.status, item.status, may_block=self.may_block()
            )
            customers.prepare_customer(self.datamodel.session, item)

    def may_block(self) -> bool:
        return self.appbuilder.sm.has_access("can_block", access.CUSTOMERS)

    def settable_statuses(self, current) -> list[CustomerStatus]:
        """The statuses this user may give a customer now: all, or (without the right
        to block) all but «Заблокирован», and none for a blocked customer."""
        if self.may_block():
            return list(CustomerStatus)
        if current == CustomerStatus.BLOCKED:
            return []
        return [s for s in CustomerStatus if s != CustomerStatus.BLOCKED]

    def extra_fields(self, item):
        """The extra fields of every customer type; the form shows those of the type
        chosen (kartoteka.js, by ``data-customer-types``), the domain rule keeps them."""
        fields = {}
        for attribute in customers.attributes(self.datamodel.session):
            # Text inputs: the domain rule (customers.set_attributes) reads numbers and
            # dates as the user's language writes them and answers in Russian.
            widget = TypedDateWidget() if attribute.kind.value == "date" else TextInput()
            fields[f"attr_{attribute.id}"] = StringField(
                attribute.label,
                validators=[Optional()],
                widget=widget,
                render_kw={"data-customer-types": attribute.customer_type.value},
            )
        return fields

    def save_extra_fields(self, form, item):
        values = {
            int(name[5:]): field.data for name, field in form._fields.items() if name.startswith("attr_")
        }
        customers.set_attributes(self.datamodel.session, item, values)

    def _init_forms(self):
        super()._init_forms()
        for form_class in (self.add_form, self.edit_form):
            unbound = getattr(form_class, "company_name", None)
            if unbound is not None:  # shown for the types that have an organisation
                unbound.kwargs["render_kw"] = {"data-customer-types": "legal sole"}

    def restrict_form(self, form, new=False, item=None):
        super().restrict_form(form, new=new, item=item)
        # Status changes are an action of their own in the matrix, not a form field.
        if "status" in form._fields and not self.appbuilder.sm.has_access("can_status", access.CUSTOMERS):
            del form["status"]
        if "status" in form._fields:
            allowed = self.settable_statuses(item.status if item is not None else None)
            if not allowed:
                del form["status"]
            else:
                form["status"].choices = [(s.value, s.label) for s in allowed]

    def prefill_form(self, form, pk):
        for name in ("phone", "phone_extra"):
            if name in form._fields and form[name].data:
                form[name].data = formatting.phone(form[name].data)
        item = self.datamodel.get(pk)
        for value in item.attribute_values if item is not None else []:
            field = form._fields.get(f"attr_{value.attribute_id}")
            if field is not None and field.data in (None, ""):
                field.process_data(customers.attribute_text(value.attribute, value.value))

    def _extra_fieldset(self, form, fieldsets):
        names = [n for n in form._fields if n.startswith("attr_")]
        return [*fieldsets, (_l("Дополнительные сведения"), {"fields": names})] if names else fieldsets

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_add_widget(form, exclude_cols, widgets)
        args = widgets["add"].template_args
        args["fieldsets"] = self._extra_fieldset(form, args["fieldsets"])
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_edit_widget(form, exclude_cols, widgets)
        args = widgets["edit"].template_args
        args["fieldsets"] = self._extra_fieldset(form, args["fieldsets"])
        return widgets

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = super()._get_show_widget(pk, item, widgets, actions, show_fieldsets)
        values = [v for v in item.attribute_values if v.attribute.customer_type == item.customer_type]
        if values:
            args = widgets["show"].template_args
            names = [f"attr_{v.attribute_id}" for v in values]
            args["include_columns"] = [*args["include_columns"], *names]
            args["value_columns"] = [
                *args["value_columns"],
                *(customers.attribute_text(v.attribute, v.value) for v in values),
            ]
            args["label_columns"] = {
                **args["label_columns"],
                **{n: v.attribute.label for n, v in zip(names, values, strict=True)},
            }
            args["fieldsets"] = [*args["fieldsets"], (_l("Дополнительные сведения"), {"fields": names})]
        return widgets

    def check_lock(self, form, item):
        if "version" in form._fields:
            customers.check_version(item, form.version.data)

    def visible_tabs(self):
        allowed = {type(v) for v in self.visible_related_views()}
        views = {type(v): v for v in self._related_views}
        return [(tab, views[tab.view]) for tab in self.tabs if tab.view in allowed]

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return self.render_card(pk)

    @expose("/lookup")
    @has_access
    def lookup(self):
        """Choices for a customer field as the user types (app/lookups.py)."""
        return jsonify(results=lookups.find_customers(request.args.get("q", "")))

    def render_card(self, pk, active_tab=None):
        """The card. From a refused inline form (POST) it shows the form again with
        what the user typed, on the tab they were on."""
        customer, kpi = self.load_card(pk)
        if customer is None:
            abort(404)
        pk = customer.id
        widgets = self._get_show_widget(pk, customer)
        widgets = self._get_related_views_widgets(
            customer,
            orders=get_order_args(),
            pages=get_page_args(),
            page_sizes=get_page_size_args(),
            widgets=widgets,
        )
        if request.method == "GET":  # a refused POST is not a page to come back to
            self.update_redirect()
        sm = self.appbuilder.sm
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            customer=customer,
            kpi=kpi,
            header=self.header_fields(customer),
            tabs=self.visible_tabs(),
            related_views=self.visible_related_views(),
            note_form=NoteInlineForm(),
            message_form=MessageForm() if sm.has_access("can_write", access.MESSAGES) else None,
            order_form=self.order_form_with_options() if sm.has_access("can_write", access.ORDERS) else None,
            status_form=StatusForm(),
            can_edit=sm.has_access("can_write", access.CUSTOMERS),
            can_status=sm.has_access("can_status", access.CUSTOMERS),
            can_add_note=sm.has_access("can_write", access.NOTES),
            can_add_order=sm.has_access("can_write", access.ORDERS),
            statuses=self.settable_statuses(customer.status),
            active_tab=active_tab,
            show_balances=self.column_level("bonus_balance") in (access.READ, access.WRITE),
        )

    def order_form_with_options(self):
        """The card's order form; its three selects filled from one UNION query."""
        form = OrderInlineForm()
        options = load_options(self.datamodel.session, self.order_form_options())
        for name, choices in options.items():
            form[name].query_func = lambda c=choices: c
        # A blank form (GET): its HTML depends only on these options (and the language).
        form.cache_key = (
            None
            if request.method != "GET"
            else tuple((name, tuple((o.id, o.label) for o in choices)) for name, choices in options.items())
        )
        return form

    def order_form_options(self) -> dict:
        """The selects of the card's order form: active services and specialists,
        branches (kept on the view, so their UNION statement is composed once)."""
        options = self.__dict__.get("_order_form_options")
        if options is None:
            user_model = self.appbuilder.sm.user_model
            specialists = access.users_with(access.SPECIALIST, user_model)
            options = self._order_form_options = {
                "catalog_item": (CatalogItem, CatalogItem.active.is_(True)),
                "specialist": (user_model, user_model.active.is_(True) & specialists),
                "branch": Branch,
            }
        return options

    def load_card(self, pk):
        """The customer with everything the card shows, in one query, within the row scope."""
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None, None
        # The collections through plain LEFT JOINs: joinedload(Customer.tags) nests the
        # association in a join that SQLite materialises whole (every customer's tags,
        # tens of thousands of rows, on every card).
        query = (
            self.datamodel.session.query(Customer)
            .outerjoin(customer_tag, customer_tag.c.customer_id == Customer.id)
            .outerjoin(Tag, Tag.id == customer_tag.c.tag_id)
            .outerjoin(CustomerAttributeValue, CustomerAttributeValue.customer_id == Customer.id)
            .outerjoin(CustomerAttribute, CustomerAttribute.id == CustomerAttributeValue.attribute_id)
            .options(
                joinedload(Customer.category),
                joinedload(Customer.manager),
                contains_eager(Customer.tags),
                contains_eager(Customer.attribute_values).contains_eager(CustomerAttributeValue.attribute),
            )
            .add_columns(*customers.kpi_columns(access.row_scope(Order)))
            .filter(Customer.id == pk)
        )
        hidden = disclosure.secret_columns()  # what the tabs' texts must not show this user
        query = query.add_columns(*hidden)
        rows = self.datamodel.apply_filters(query, self._base_filters).all()  # one customer, uniqued
        if not rows:
            return None, None
        customer, *figures = rows[0]
        disclosure.prime(customer, *figures[len(figures) - len(hidden) :])
        return customer, customers.kpi_figures(*figures[: len(figures) - len(hidden)])

    HEADER_FIELDS = (("phone", formatting.phone), ("email", None))

    def header_fields(self, customer):
        """The card header's contact fields as the policy lets this user see them."""
        result = []
        values = disclosure.row(Customer, {c: getattr(customer, c) for c, _ in self.HEADER_FIELDS}, customer)
        for column, formatter in self.HEADER_FIELDS:
            if column not in values:
                continue
            value = values[column]
            key = access.column_field(Customer, column)
            masked = isinstance(value, Masked)
            shown = skip_masked(formatter)(value) if formatter else value
            result.append(
                {
                    "column": column,
                    "label": self.label_columns[column],
                    "value": shown or "—",
                    "revealable": masked and bool(value) and access.may_reveal(key),
                }
            )
        return result

    @expose("/<int:pk>/reveal/<column>", methods=["POST"])
    @has_access
    def reveal(self, pk, column):
        """Show a masked value on an explicit click; the reveal is journaled."""
        key = access.column_field(Customer, column)
        if key is None or not access.may_reveal(key):
            abort(403)
        customer = self._customer_or_404(pk)
        value = getattr(customer, column)
        access.record_access(customer.id, AccessAction.REVEAL, field=key)
        db.session.commit()
        shown = formatting.phone(value) if column in ("phone", "phone_extra") else value
        return jsonify({"column": column, "value": shown or ""})

    def _message_form(self):
        """The «Отправить сообщение» form, for a user who may write messages (else 403).

        The routes live on the customers view, so FAB checks write on Customers; sending is
        the Messages permission too (a role edited in the UI may have one without the other).
        """
        if not self.appbuilder.sm.has_access("can_write", access.MESSAGES):
            abort(403)
        return MessageForm()

    @expose("/<int:pk>/message/preview", methods=["POST"])
    @has_access
    def preview_message(self, pk):
        """The text a «Отправить сообщение» would send, rendered, before sending."""
        form = self._message_form()
        customer = self._customer_or_404(pk)
        if not form.validate():
            return jsonify({"errors": [str(m) for ms in form.errors.values() for m in ms]}), 422
        try:
            _subject, body = notifications.render(
                db.session,
                form.message_type.data,
                form.channel.data,
                notifications.template_context(customer, text=form.text.data or ""),
            )
        except ValidationFailed as e:
            return jsonify({"errors": [str(m) for m in e.errors.values()]}), 422
        return jsonify({"text": body})

    @expose("/<int:pk>/message", methods=["POST"])
    @has_access
    def send_message(self, pk):
        """«Отправить сообщение» from the card: queued now, delivered by the worker."""
        form = self._message_form()
        customer = self._customer_or_404(pk)
        if not form.validate():
            return self._refused(form.errors, pk, "messages")
        if not self.queue_manual(customer, form):  # it said why
            return self.render_card(pk, active_tab="messages"), 422
        db.session.commit()
        flash(_("Сообщение поставлено в очередь на отправку."), "success")
        return self._card(pk, "messages")

    def queue_manual(self, customer, form) -> list:
        try:
            created = notifications.queue_notification(
                db.session, customer, form.message_type.data, (form.channel.data,), text=form.text.data or ""
            )
        except ValidationFailed as e:
            db.session.rollback()
            for text in e.errors.values():
                flash(text, "danger")
            return []
        if not created:
            flash(
                _(
                    "Клиенту %(name)s нельзя отправить сообщение по этому каналу: нет контакта или канал выключен.",
                    name=customer.full_name,
                ),
                "warning",
            )
        return created

    @action("send_message", _l("Отправить сообщение"), "", "fa-envelope", multiple=True, single=False)
    def bulk_message_action(self, items):
        ids = ",".join(str(c.id) for c in (items if isinstance(items, list) else [items]) if c is not None)
        return redirect(url_for(".bulk_message", ids=ids))

    @expose("/message", methods=["GET", "POST"])
    @has_access
    def bulk_message(self):
        """A message to the customers selected on the list."""
        form = self._message_form()
        ids = [int(i) for i in request.values.get("ids", "").split(",") if i.isdigit()][:1000]
        query = self.datamodel.session.query(Customer).filter(Customer.id.in_(ids))
        selected = self.datamodel.apply_filters(query, self._base_filters).all()
        if request.method == "POST" and form.validate():
            count = sum(len(self.queue_manual(customer, form)) for customer in selected)
            db.session.commit()
            flash(
                ngettext(
                    "%(num)d сообщение поставлено в очередь.",
                    "%(num)d сообщений поставлено в очередь.",
                    count,
                ),
                "success",
            )
            return redirect(url_for(".list"))
        return self.render_template(
            "kartoteka/bulk_message.html",
            form=form,
            customers=selected,
            ids=",".join(map(str, ids)),
            title=_("Отправить сообщение"),
        )

    def _refused(self, errors: dict, pk, tab):
        """An inline form of the card was refused: the card again (422), its messages
        on top and the form still holding what was typed."""
        for messages in errors.values():
            for message in messages:
                flash(message, "danger")
        return self.render_card(pk, active_tab=tab), 422

    def _card(self, pk, tab=None):
        url = url_for(".show", pk=pk)
        return redirect(f"{url}#{tab}" if tab else url)

    def _customer_or_404(self, pk):
        customer = self.datamodel.get(pk, self._base_filters)
        if customer is None:
            abort(404)
        return customer

    @expose("/<int:pk>/notes", methods=["POST"])
    @has_access
    def add_note(self, pk):
        """Add a note from the card without leaving it."""
        if not self.appbuilder.sm.has_access("can_write", access.NOTES):
            abort(403)
        customer = self._customer_or_404(pk)
        form = NoteInlineForm()
        if form.validate():
            note = Note(
                customer=customer,
                text=form.text.data.strip(),
                pinned=bool(form.pinned.data),
            )
            db.session.add(note)
            db.session.commit()
            flash(_("Примечание добавлено."), "success")
            return self._card(pk, "notes")
        return self._refused(form.errors, pk, "notes")

    @expose("/<int:pk>/orders", methods=["POST"])
    @has_access
    def add_order(self, pk):
        """Book an order from the card without leaving it."""
        if not self.appbuilder.sm.has_access("can_write", access.ORDERS):
            abort(403)
        customer = self._customer_or_404(pk)
        form = OrderInlineForm()
        if not form.validate():
            return self._refused(form.errors, pk, "orders")
        session = db.session
        try:
            with session.no_autoflush:
                order = Order(
                    customer=customer,
                    kind=form.kind.data,
                    branch=form.branch.data,
                    specialist=form.specialist.data,
                    visit_at=form.visit_at.data,
                    paid=form.paid.data or 0,
                    comment=form.comment.data,
                )
                orders.add_item(order, form.catalog_item.data, form.quantity.data)
                orders.prepare_order(session, order, is_new=True)
            session.add(order)
            session.commit()
        except ValidationFailed as e:
            session.rollback()
            return self._refused({name: [message] for name, message in e.errors.items()}, pk, "orders")
        flash(_("Заказ №%(id)s оформлен.", id=order.id), "success")
        return self._card(pk, "orders")

    @expose("/<int:pk>/status", methods=["POST"])
    @has_access
    def change_status(self, pk):
        customer = self._customer_or_404(pk)
        form = StatusForm()
        if not form.validate():
            flash(_("Выберите статус из списка."), "danger")
            return self._card(pk)
        try:
            customers.change_status(db.session, customer, form.status.data, may_block=self.may_block())
        except Forbidden as e:
            db.session.rollback()
            for text in e.errors.values():
                flash(text, "danger")
            return self.render_card(pk), 403
        db.session.commit()
        flash(
            _("Статус клиента изменён: %(status)s.", status=customer.status.label),
            "success",
        )
        return self._card(pk)

    def _bulk_status(self, items, status):
        items = items if isinstance(items, list) else [items]
        try:
            for customer in items:
                if customer is not None:
                    customers.change_status(db.session, customer, status, may_block=self.may_block())
        except Forbidden as e:
            db.session.rollback()
            for text in e.errors.values():
                flash(text, "danger")
            self.update_redirect()
            return redirect(self.get_redirect())
        db.session.commit()
        flash(
            ngettext("Статус изменён у %(num)d клиента.", "Статус изменён у %(num)d клиентов.", len(items)),
            "success",
        )
        self.update_redirect()
        return redirect(self.get_redirect())

    status_active = status_action(CustomerStatus.ACTIVE, _l("Статус «Активен»"), "fa-check")
    status_verified = status_action(CustomerStatus.VERIFIED, _l("Статус «Проверен»"), "fa-check-circle")
    status_problem = status_action(
        CustomerStatus.PROBLEM, _l("Статус «Проблемный»"), "fa-exclamation-triangle"
    )
    status_blocked = status_action(CustomerStatus.BLOCKED, _l("Статус «Заблокирован»"), "fa-ban")


class HomeView(IndexView):
    """The start page: straight to the customers list for signed-in staff."""

    @expose("/")
    def index(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(url_for("CustomerView.list"))
        return redirect(url_for(self.appbuilder.sm.auth_view.endpoint + ".login"))


def register_views(appbuilder) -> None:
    """Register every view and the menu, in one place."""
    appbuilder.add_view(
        CustomerView,
        "Customers",
        label=_l("Клиенты"),
        icon="fa-address-card",
        category="Customers",
        category_label=_l("Клиенты"),
        category_icon="fa-users",
    )
    appbuilder.add_view(
        OrderView,
        "Orders",
        label=_l("Заказы"),
        icon="fa-shopping-cart",
        category="Customers",
    )
    appbuilder.add_view(
        ReturnView,
        "Returns",
        label=_l("Возвраты"),
        icon="fa-undo",
        category="Customers",
    )
    appbuilder.add_view(ReviewView, "Reviews", label=_l("Отзывы"), icon="fa-star", category="Customers")
    appbuilder.add_view(
        NoteView,
        "Notes",
        label=_l("Примечания"),
        icon="fa-sticky-note",
        category="Customers",
    )
    appbuilder.add_view(
        CustomerDocumentView,
        "Documents",
        label=_l("Документы"),
        icon="fa-id-card",
        category="Customers",
    )
    appbuilder.add_view(
        MedicalRecordView,
        "Anamnesis",
        label=_l("Анамнез"),
        icon="fa-heartbeat",
        category="Customers",
    )
    appbuilder.add_view(
        CatalogItemView,
        "Catalog",
        label=_l("Услуги и товары"),
        icon="fa-list",
        category="Reference",
        category_label=_l("Справочники"),
        category_icon="fa-book",
    )
    appbuilder.add_view(
        BranchView,
        "Branches",
        label=_l("Филиалы"),
        icon="fa-building",
        category="Reference",
    )
    appbuilder.add_view(
        CategoryView,
        "Categories",
        label=_l("Категории клиентов"),
        icon="fa-folder",
        category="Reference",
    )
    appbuilder.add_view(TagView, "Tags", label=_l("Теги"), icon="fa-tag", category="Reference")
    appbuilder.add_view(
        CustomerAttributeView,
        "CustomerAttributes",
        label=_l("Дополнительные поля клиентов"),
        icon="fa-plus-square",
        category="Reference",
    )
    appbuilder.add_view(
        MessageView, "Messages", label=_l("Сообщения"), icon="fa-envelope", category="Customers"
    )
    appbuilder.add_view(
        ConsentView,
        "Consents",
        label=_l("Согласия на уведомления"),
        icon="fa-check-square",
        category="Customers",
    )
    appbuilder.add_view(
        NotificationQueueView,
        "NotificationQueue",
        label=_l("Очередь уведомлений"),
        icon="fa-tasks",
        category="Reference",
    )
    appbuilder.add_view(
        MessageTemplateView,
        "MessageTemplates",
        label=_l("Шаблоны уведомлений"),
        icon="fa-file-text",
        category="Reference",
    )
    appbuilder.add_view(
        ChangeLogView,
        "ChangeHistory",
        label=_l("История изменений"),
        icon="fa-history",
        category="Journal",
        category_label=_l("Журналы"),
        category_icon="fa-history",
    )
    appbuilder.add_view(
        AccessLogView,
        "AccessJournal",
        label=_l("Журнал доступа"),
        icon="fa-eye",
        category="Journal",
        category_label=_l("Журналы"),
        category_icon="fa-history",
    )
    for view, name, label, icon in (
        (SessionView, "Sessions", _l("Сеансы"), "fa-desktop"),
        (LoginThrottleView, "LoginThrottle", _l("Ограничения входа"), "fa-unlock-alt"),
    ):
        appbuilder.add_view(view, name, label=label, icon=icon, category="Security")
    for view in (
        OrderItemView,
        CustomerDocumentTab,
        OrderTab,
        ReturnTab,
        ReviewTab,
        NoteTab,
        MedicalRecordTab,
        AccessLogTab,
        ChangeLogTab,
        MessageTab,
        MessageAttemptTab,
        ConsentTab,
    ):
        appbuilder.add_view_no_menu(view)
    from .api import APIS, KartotekaOpenApi

    for api in APIS:
        appbuilder.add_api(api)
    appbuilder.add_api(KartotekaOpenApi)


_LIST_ARG = re.compile(r"^(page|psize|_oc|_od)_(\w+)$|^_flt_(\w+?)_(\w+)$")
MAX_PAGE_SIZE = 100
_DIGITS = re.compile(r"[0-9]+")
# What PostgreSQL reads as a boolean.
_BOOLEAN_LITERALS = frozenset({"t", "true", "y", "yes", "on", "1", "f", "false", "n", "no", "off", "0"})


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


def reject_malformed_urls():
    """404 for an address that names nothing: a record number that is not one (or
    beyond the column's range), an action the view does not have, a file that is
    not there, a chart that does not exist. These reached the database or FAB's
    code and answered 500. (A before_request hook after FAB's, so that the error
    page knows who is signed in.)

    A NUL character in an address's or a form's values is refused (400): no text
    holds one, and PostgreSQL refused it in a search box or a note (500)."""
    if any("\x00" in value for value in request.args.values()) or (
        request.method == "POST" and any("\x00" in value for value in request.form.values())
    ):
        abort(400)
    query = request.args.get("q")
    if query and request.path.startswith("/api/") and not readable_rison(query):
        # FAB's parser raised on some malformed ones («((((») and the API answered 500
        return jsonify(message=_("Параметр q не разобран: ожидается запись в формате Rison.")), 400
    endpoint, values = request.endpoint, request.view_args
    if not values or endpoint is None:
        return
    if "pk" in values and record_id(values["pk"]) is None:
        abort(404)
    view = getattr(current_app.view_functions.get(endpoint), "__self__", None)
    if view is None:
        return
    if endpoint.endswith(".action") and values.get("name") not in (getattr(view, "actions", None) or {}):
        abort(404)
    if endpoint.endswith(".download") and "filename" in values:
        folder = current_app.config.get("UPLOAD_FOLDER") or ""
        if not os.path.isfile(os.path.join(folder, str(values["filename"]))):
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
    if type(flt).__module__ != "flask_appbuilder.models.sqla.filters":
        return True
    table = getattr(getattr(getattr(view, "datamodel", None), "obj", None), "__table__", None)
    column = table.columns.get(flt.column_name) if table is not None else None
    if column is None:
        return True
    if isinstance(column.type, SAEnum):
        return value in column.type.enums
    if isinstance(column.type, Boolean):
        return value.strip().lower() in _BOOLEAN_LITERALS
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
    if request.method != "GET" or not request.args:
        return None
    view = None
    if request.endpoint and "." in request.endpoint:
        name = request.endpoint.split(".", 1)[0]
        view = next((v for v in current_app.appbuilder.baseviews if type(v).__name__ == name), None)
    bad = []
    for key, value in request.args.items(multi=True):
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
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in bad]
    return redirect(request.path + ("?" + urlencode(args) if args else ""))


ERROR_MESSAGES = {
    400: _l("Запрос не понят: проверьте адрес и форму и попробуйте ещё раз."),
    403: _l("Нет доступа: у вашей роли нет прав на эту страницу или действие."),
    404: _l("Страница не найдена."),
    405: _l("Так эта страница не открывается."),
    429: _l("Слишком много попыток. Попробуйте позже."),
    500: _l("Внутренняя ошибка. Мы уже знаем о ней; попробуйте ещё раз чуть позже."),
}


def error_page(error):
    """Error pages in the user's language, inside the app's layout (Werkzeug's are English)."""
    from werkzeug.exceptions import HTTPException

    code = error.code if isinstance(error, HTTPException) else 500
    if request.path.startswith("/api/"):
        body = {"message": str(ERROR_MESSAGES.get(code, error))}
        if code == 429 and getattr(error, "description", None):
            body["message"] = str(error.description)
        if code == 500:
            body["request_id"] = headers.request_id()
        return jsonify(body), code
    message = ERROR_MESSAGES.get(code) or getattr(error, "description", "")
    if code == 429 and getattr(error, "description", None):
        message = error.description
    appbuilder = current_app.appbuilder
    return (
        render_template(
            "kartoteka/error.html",
            code=code,
            message=message,
            appbuilder=appbuilder,
            base_template=appbuilder.base_template,
        ),
        code,
    )
