"""The base of every Kartoteka screen: Flask-AppBuilder's ModelView with the access policy applied per request
(fields, rows, actions), lists rendered from one query plan, forms that read the user's language, and the save
pipeline that calls the domain's rules and turns their typed errors into form errors, keeping what the user typed."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import partial
from urllib.parse import parse_qsl, urlsplit

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask.globals import _cv_app, _cv_request
from flask_appbuilder import ModelView, action, expose, has_access
from flask_appbuilder.urltools import get_order_args, get_page_args, get_page_size_args
from flask_appbuilder.validators import Unique
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape
from sqlalchemy import Boolean, Date, DateTime, Numeric, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import MANYTOONE
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.routing import BuildError
from wtforms import BooleanField, HiddenField, StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, Optional

from .. import (
    access,
    disclosure,
    formatting,
    records,
    spreadsheet,
    subjects,
)
from ..disclosure import Masked
from ..errors import StaleEdit, ValidationFailed
from ..extensions import db
from ..labels import COMMON_LABELS
from ..models import (
    AccessAction,
    Customer,
    Order,
    column_limit,
    record_id,
)
from . import listing, lookups, rendering
from .actions import GuardedActions
from .datamodel import (
    LightFilters,
    RowScopeMixin,
    WhereFilter,
)
from .fields import (
    LOCAL_FIELDS,
    FitsColumn,
    LabeledEnumField,
    LocalDecimalField,
    PlainText,
    start_filters_empty,
    typed_day_filters,
)
from .links import RELATED_LABELS, customer_link, record_link, skip_masked
from .options import BLANK, kept_options, option_label, related_query, relation_fields, validators_position
from .security import signed_in
from .widgets import _HTML_ESCAPES, KartotekaListWidget, KartotekaSearchWidget, KartotekaShowWidget

# Numeric columns that hold a share in per cent, not money: shown «15,5» under a
# label ending in «%» (a category's «Бонусы с оплаты, %» read «5,00 ₽»).
PERCENT_COLUMNS = frozenset({"discount", "bonus_percent"})


_TAB_KEY = re.compile(r"[a-z_]{1,30}")

_FILTER_ARG = re.compile(r"_flt_(\d)_(.*)")  # FAB's: the filter's kind (one digit), then its column


def get_filter_args(filters, disallow_if_not_in_search=True):
    """FAB's ``urltools.get_filter_args``, the filters taken in the order the address
    gives them. FAB went through a ``set`` of the arguments, whose order follows the
    process's string hashing (PYTHONHASHSEED): two workers showed one filtered list's
    active filters in two orders, and the filter panel kept per set of them twice."""
    filters.clear_filters()
    searched = filters.get_search_filters()
    for arg in request.args:  # a MultiDict keeps the address's order
        found = _FILTER_ARG.match(arg)
        if found is None:
            continue
        index, column = int(found[1]), found[2]
        if disallow_if_not_in_search and column not in searched:
            continue
        filters.add_filter_index(column, index, request.args.getlist(arg))


class KartotekaModelView(GuardedActions, RowScopeMixin, ModelView):
    """Base of every Kartoteka view: permissions, formatting, domain validation."""

    method_permission_name = access.METHOD_PERMISSIONS
    page_size = 20
    record_label = None  # how the change history names one record (default: show_title)
    list_widget = KartotekaListWidget
    search_widget = KartotekaSearchWidget
    show_widget = KartotekaShowWidget
    # Columns whose display goes through a formatter picked from the column type.
    form_only_fields: tuple[str, ...] = ()
    eager: tuple = ()
    custom_filters: dict = {}
    order_aliases: dict = {}
    # Form fields that need a right of their own beyond writing (a field -> an access
    # capacity, e.g. access.DISCOUNT): without it the field is not shown; the domain
    # function refuses a value posted for it anyway (403).
    right_fields: dict = {}

    def shown_fields(self, columns, form) -> list[str]:
        """The form's fields to show: those it has, less those the user has no right to."""
        return [
            c
            for c in columns
            if c in form._fields and (c not in self.right_fields or access.may(*self.right_fields[c]))
        ]

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
                    if (
                        issubclass(unbound.field_class, LocalDecimalField)
                        and records.scalar_default(column) == 0
                    ):
                        # a new record's «Скидка, %» opened as «0,00»: a click and «5» made
                        # «0,005», refused; it opens blank like the other number boxes
                        unbound.kwargs["default"] = None
                limit = column_limit(column) if column is not None else None
                if limit is not None:
                    validators.append(FitsColumn(limit))
                if issubclass(unbound.field_class, StringField) and not issubclass(
                    unbound.field_class, HiddenField
                ):
                    # FAB's InputRequired let a text of spaces through (stored as '')
                    validators = [
                        DataRequired(message=_l("Заполните это поле.")) if type(v) is InputRequired else v
                        for v in validators
                    ]
                    validators.append(PlainText())
                if column is not None and isinstance(column.type, Numeric) and column.type.scale is not None:
                    unbound.kwargs["places"] = column.type.scale  # more places are refused, not rounded
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
        """Options of every relation filter of this view: one UNION query, its
        result kept for a few seconds (options.kept_options)."""
        cache = g.setdefault("_kartoteka_search_options", {})
        key = type(self).__name__
        if key not in cache:
            cache[key] = kept_options(self.datamodel.session, self.search_option_models())
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
        # A filter that is not a column («С задолженностью») is not offered to FAB's
        # converter, which logged «Filter type not supported» for it on every start.
        declared = list(self.search_columns or [])
        columns = set(self.datamodel.get_columns_list())
        kept = [c for c in declared if c in columns or c not in self.custom_filters]
        self.search_columns = kept or declared  # none left: FAB would offer every column
        super()._init_properties()
        if declared:
            self.search_columns = declared
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
                    # a filter offers every member, a form those staff may set
                    search = attr == "search_form_extra_fields"
                    settable = getattr(enum_class, "settable", None)
                    fields[column.name] = LabeledEnumField(
                        enum_class,
                        label,
                        validators=validators,
                        allow_blank=optional,
                        members=None if search or settable is None else settable(),
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
                # the number first: ``_flt_0_customer=42`` is FAB's and the card's address of
                # one customer's records; what staff type is the second, named for what it finds
                self.custom_filters = {
                    **self.custom_filters,
                    name: [lookups.FilterCustomerNumber, lookups.FilterCustomerText],
                }

    def _type_formatters(self) -> dict:
        formatters = {}
        if "customer" in self.datamodel.list_properties:
            formatters["customer"] = customer_link
        table = getattr(self.datamodel.obj, "__table__", None)
        if table is None:
            return formatters
        for column in table.columns:
            if isinstance(column.type, Numeric):
                formatters[column.name] = (
                    formatting.number if column.name in PERCENT_COLUMNS else formatting.money
                )
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
            name = flt.column_name
            readable = self.column_level(name.split(".")[0]) in (access.READ, access.WRITE)
            if "." in name:  # «customer.phone»: the value it reaches, not only the relation
                readable = readable and access.column_readable(self.datamodel.obj, name)
            if readable:
                kept._add_filter(flt, value)
        return kept

    # Relation fields whose choices are narrowed by who the related rows are: a
    # column -> a function giving the SQL condition («Специалист»: staff who see
    # patients; only active rows: a deactivated user is chosen no more). The
    # record's current value stays a choice (or saving the form
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
                    if hasattr(related, "active"):  # a deactivated user is chosen no more
                        chosen = and_(chosen, related.active.is_(True))
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
        include = self.search_shape()
        options = tuple(
            [
                (name, tuple([(o.id, o.label) for o in self.search_options(name)]))
                for name, _ in relation_fields(self.search_form)
                if name in include
            ]
        )
        widgets["search"] = self.search_widget(
            route_base=self.route_base,
            form=form,
            form_factory=self.search_form.refresh,
            include_cols=include,
            exclude_cols=exclude_cols or [],
            filters=self._filters,
            # the customer filters' names say what they find, which follows the contacts the reader sees
            cache_key=(
                type(self).__name__,
                str(get_locale()),
                tuple(include),
                options,
                tuple(sorted(lookups.readable_contacts())),
            ),
        )
        return widgets

    def not_applicable(self, item) -> set[str]:
        """Fields that say nothing about this record (left off its card when empty)."""
        return set()

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = widgets or {}
        tab = access.JOURNALED.get(self.class_permission_name)
        if tab is not None:  # a document, an anamnesis record, a file opened: the journal says whose
            access.journal(getattr(item, "customer_id", None), AccessAction.TAB, field=tab)
        skipped = {c for c in self.not_applicable(item) if getattr(item, c, None) in (None, "")}
        readable, readable_fieldsets = self.show_shape()
        columns = [c for c in readable if c not in skipped]
        values = dict(zip(columns, self.datamodel.get_values_item(item, columns), strict=True))
        disclosure.row(self.datamodel.obj, values, item=item)
        self.visible_values([values])
        columns = [c for c in columns if c in values]
        if show_fieldsets:
            fieldsets = self.policy_fieldsets(
                [
                    (name, {**options, "fields": [f for f in options["fields"] if f not in skipped]})
                    for name, options in show_fieldsets
                ]
            )
        else:  # the readable fieldsets less the fields that say nothing of this record
            fieldsets = []
            for name, options in readable_fieldsets:
                fields = [f for f in options["fields"] if f not in skipped]
                if fields:
                    fieldsets.append((name, {**options, "fields": fields}))
        actions = actions or self.actions
        widgets["show"] = self.show_widget(
            pk=pk,
            label_columns=self.label_columns,
            include_columns=columns,
            value_columns=[values[c] for c in columns],
            # Kartoteka's widget leaves a masked value as it is: the formatters themselves
            formatters_columns=self.formatters_columns
            if issubclass(self.show_widget, KartotekaShowWidget)
            else self.policy_formatters(),
            actions=actions,
            fieldsets=fieldsets,
            modelview_name=self.__class__.__name__,
            kartoteka_no_actions=not any(self.shows_action(action) for action in actions.values()),
        )
        return widgets

    def show_shape(self) -> tuple[list[str], list]:
        """The record page's columns and fieldsets the user's permissions leave,
        kept per permission set as list_shape is (~340 Python calls a card)."""
        return self.kept_per_permissions(
            "show",
            lambda: (self.policy_columns(self.show_columns), self.policy_fieldsets(self.show_fieldsets)),
        )

    def shows_action(self, action) -> bool:
        """Does the record page show ``action``'s button to this user? (FAB's
        get_actions_on_show, without its scan of every registered view per action.)
        An action whose name reads as a route permission is taken as shown."""
        if not action.single:
            return False
        if "can_" in action.name:
            return True
        permission = self.get_action_permission_name(action.name)
        return permission in self.base_permissions and self.appbuilder.sm.has_access(
            permission, self.class_permission_name
        )

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        self.restrict_form(form, new=True)
        widgets = widgets or {}
        widgets["add"] = self.add_widget(
            form=form,
            include_cols=self.shown_fields(self.add_columns, form),
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
            include_cols=self.shown_fields(self.edit_columns, form),
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
        context = _cv_request.get()  # the request and its session without their proxies
        history = context.session.get("page_history") or []
        # the last entry may be this page on a tab (a save returns to «card#orders», and
        # the browser does not send the #tab): the same page, or «Назад» reopened it
        if not history or history[-1].split("#", 1)[0] != rendering.request_url(context.request):
            super().update_redirect()

    HISTORY_SIZE = 5  # FAB's Stack

    def remember_form(self, item=None):
        """A form's page in the history, after the page its «Назад» (FAB's /back, the
        previous page of the history) and its save return to (``return_page``): a
        form opened by its address, from a bookmark or after an unrelated page went
        back to that page, or to the home page."""
        context = _cv_request.get()
        history = list(context.session.get("page_history") or [])
        if history and self._page_path(history[-1]) == request.path:
            history.pop()  # the form reloaded
        back = self.return_page(history, item)
        last = urlsplit(history[-1]) if history else None
        if last is None or last.path + (f"?{last.query}" if last.query else "") != back.split("#")[0]:
            history.append(request.host_url.rstrip("/") + back)
        elif "#" in back and not last.fragment:
            # the card the form was opened from, on the record's tab: the browser never
            # sends a page's #tab, so the history had the card without it
            history[-1] = request.host_url.rstrip("/") + back
        history.append(rendering.request_url(context.request))
        context.session["page_history"] = history[-self.HISTORY_SIZE :]

    FORM_PAGES = ("/add", "/edit/", "/delete/")
    # The card's tab showing this view's records, reopened after a save from the card
    # (a form's address may name another: «Принять оплату» in «Заказы» adds ?tab=orders).
    card_tab = None

    def get_redirect(self):
        """Where a save or a delete lands: the page the form was opened from if that
        page shows this record (its view's list as filtered, its own page, the card or
        order whose tab it is), else ``return_page``.

        FAB went back to whatever page preceded the form in the session's history:
        a form opened from another list, a bookmark or another browser tab (one
        session, one history) landed a saved tag on the branches list, and a form
        opened by its address after another customer's card saved back to that card."""
        history = list(session.get("page_history") or [])
        if history and self._page_path(history[-1]) == request.path:
            history.pop()  # the form itself
            session["page_history"] = history
        back = self.return_page(history, g.get("kartoteka_saved"))
        if g.get("kartoteka_saved") is not None:
            self.link_saved_record(back, g.kartoteka_saved)
        return back

    def link_saved_record(self, back: str, item) -> None:
        """A save that lands on this view's list searched or filtered: the record may
        not match them (a note of another customer, a status changed away from the
        filtered one), so «Запись сохранена» gets a link to it, as Django's admin does."""
        parts = urlsplit(back)
        path = parts.path[len(request.script_root) :]
        endpoint = f"{type(self).__name__}.show"
        narrowed = any(key == "q" or key.startswith("_flt_") for key, _value in parse_qsl(parts.query))
        if not (narrowed and path.startswith(self.route_base + "/list")):
            return
        if endpoint not in current_app.view_functions or not self.appbuilder.sm.has_access(
            "can_read", self.class_permission_name
        ):
            return
        flashes = session.get("_flashes") or []
        if flashes and flashes[-1][0] == "success" and isinstance(flashes[-1][1], (str, LazyString)):
            link = {
                "text": str(flashes[-1][1]),
                "href": url_for(endpoint, pk=self.record_key(item)),
                "link": _("Открыть запись"),
            }
            session["_flashes"] = [*flashes[:-1], ("success", link)]

    def return_page(self, history: list, item=None) -> str:
        """The last page of ``history`` if it shows this record (``item``, or the one the
        form's address names), else the record's home: for a record shown on a card's
        tab, that card on the tab; for a view whose record page is the card
        (``open_after_add``), the record's page; else this view's list."""
        pk, owners = self._record_of(item)
        tab = request.args.get("tab") or self.card_tab
        if history:
            previous = urlsplit(history[-1])
            path = self._page_path(history[-1])
            if path is not None and self.shows_record(path, pk, owners):
                back = previous.path + (f"?{previous.query}" if previous.query else "")
                tab = tab or previous.fragment  # a card on a tab, as return_page put it in the history
                if not tab:  # the owner's card as the browser asked for it: without its #tab
                    tab = next(
                        (
                            tab_view.card_tab
                            for parent, _fk, tab_view in self._parent_cards()
                            if path.startswith(parent.route_base + "/show/")
                        ),
                        None,
                    )
                if tab and _TAB_KEY.fullmatch(tab) and not path.startswith(self.route_base + "/"):
                    back += f"#{tab}"  # the card opens on the tab the form was opened from
                return back
        for parent, fk, tab_view in self._parent_cards():
            if owners.get(fk) is not None and self.appbuilder.sm.has_access(
                "can_read", parent.class_permission_name
            ):
                back = url_for(f"{type(parent).__name__}.show", pk=owners[fk])
                tab = tab or tab_view.card_tab
                return back + (f"#{tab}" if tab and _TAB_KEY.fullmatch(tab) else "")
        if self.open_after_add and pk is not None:
            return url_for(f"{type(self).__name__}.show", pk=pk)
        return url_for(f"{type(self).__name__}.list")

    @staticmethod
    def _page_path(url: str) -> str | None:
        """A page of the history as a path of this app (without its script root), None
        for an address of another host or outside the app."""
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != request.host:
            return None
        root = request.script_root
        if root and not (parts.path == root or parts.path.startswith(root + "/")):
            return None
        return parts.path[len(root) :]

    def _parent_cards(self) -> list:
        """(the view, this model's relation to it, its tab) per record page with a
        tab of this view's records: the customer's card, an order's page."""
        found = self.__dict__.get("_kartoteka_parent_cards")
        if found is None:
            model = self.datamodel.obj
            found = [
                (parent, tab.datamodel.get_related_fk(parent.datamodel.obj), tab)
                for parent in self.appbuilder.baseviews
                for tab in getattr(parent, "_related_views", None) or []
                if getattr(tab, "datamodel", None) is not None and tab.datamodel.obj is model
            ]
            found.sort(key=lambda found: not found[0].open_after_add)  # the customer's card first
            self._kartoteka_parent_cards = found
        return found

    def _record_of(self, item) -> tuple:
        """The record a form or a deletion is about: its key and its owners' keys by
        relation (``{"customer": 5}``), from the saved ``item`` or the form's address
        (``/edit/<pk>``, ``?_flt_0_customer=5``)."""
        owners = dict(g.get("kartoteka_owners") or {})
        if item is not None:
            pk = self.record_key(item)
            for _parent, fk, _tab in self._parent_cards():
                if fk and owners.get(fk) is None:
                    related = getattr(item, fk, None)
                    owners[fk] = getattr(related, "id", None)
        else:
            pk = (request.view_args or {}).get("pk")
            pk = record_id(str(pk)) if pk is not None else None
        if request.endpoint and request.endpoint.endswith((".add", ".edit")):
            for name, value in self.bound_relations().items():
                owners.setdefault(name, value)
        return pk, owners

    def shows_record(self, path: str, pk=None, owners=None) -> bool:
        """Is ``path`` a page of this view that is not a form (its list, this record's
        own page), or the page of a record whose tabs include this view's records
        (that of the record's own customer or order, where it is known)?"""
        owners = owners or {}
        if path.startswith(self.route_base + "/"):
            rest = path[len(self.route_base) :]
            if any(part in rest for part in self.FORM_PAGES):
                return False
            return not rest.startswith("/show/") or (pk is not None and rest == f"/show/{pk}")
        for parent, fk, _tab in self._parent_cards():
            prefix = parent.route_base + "/show/"
            if path.startswith(prefix):
                owner = owners.get(fk)
                if owner is None or path[len(prefix) :] == str(owner):
                    return True
        return False

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
        page_size = page_size or self.page_size
        columns, order_columns, plan, visible_actions, buttons = self.list_shape(actions)
        if order_column not in order_columns:
            order_column, order_direction = self.base_order or ("", "")
        kept, key = self.kept_list_statements(order_column, order_direction, page, page_size, plan)
        hit = kept is not None and key in kept  # a main list's kept statements: no conditions to compose
        if not hit:
            # the search box's and such conditions (not in the page's links: a
            # WhereFilter is no related view's filter)
            for condition in self.list_conditions():
                if condition is not None:
                    filters._add_filter(WhereFilter("id", self.datamodel), condition)
            joined_filters = filters.get_joined_filters(self._base_filters)
        # what the policy reads of a row besides its columns (its customer, whose values
        # a text is searched for): a tab opened at its own address, without it, hid a
        # note holding a masked passport number whole where the card masked the number
        extra = disclosure.row_sources(self.datamodel.obj, columns) if plan is not None else ()
        if hit or (plan is not None and not any(f.is_related_view for f in joined_filters.filters)):
            count, keys, values = self.datamodel.query_values(
                None if hit else joined_filters,
                order_column,
                order_direction,
                page,
                page_size,
                plan,
                kept,
                key,
                extra,
            )
        elif plan is not None:  # a card's tab: one statement with its total
            count, keys, values = self.datamodel.tab_values(
                joined_filters, order_column, order_direction, page, page_size, plan, extra
            )
        if plan is not None:
            disclosure.rows(self.datamodel.obj, values, pks=keys)
            for row in values:
                for name in extra:
                    del row[name]
            self.visible_values(values)
        else:  # a card's tab or a list whose columns only objects give
            count, rows = self.datamodel.query(
                joined_filters, order_column, order_direction, page=page, page_size=page_size, columns=columns
            )
            keys, values = self.datamodel.get_keys(rows), self.list_values(rows, columns)
            disclosure.rows(self.datamodel.obj, values, items=rows, pks=keys)
            self.visible_values(values)
        # FAB serializes composite keys only: asked once, not once per row
        pks = (
            [self._serialize_pk_if_composite(pk) for pk in keys] if self.datamodel.is_pk_composite() else keys
        )
        self.journal_list(len(keys))
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
            [self.row_class(v) for v in values] if self.row_class is not None else None,
        )
        widgets["list"] = self.list_widget(
            headers=self.list_headers(columns),
            include_columns=columns,
            rows=Markup(table_rows),  # empty (falsy) when nothing is found
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

    LIST_SHAPES_KEPT = 64

    def list_shape(self, actions=None) -> tuple:
        """What the user's permissions make of the list: its columns, sortable
        columns, values plan, bulk actions and buttons. The same for every
        request with these permissions, so kept per permission set (a card asked
        it of each tab anew: ~1,300 Python calls)."""
        if actions is not None:
            return self._list_shape(actions)
        return self.kept_per_permissions("list", lambda: self._list_shape(self.actions))

    def search_shape(self) -> list[str]:
        """The filter widget's columns the user may read, kept per permission set."""
        return self.kept_per_permissions(
            "search",
            lambda: [c for c in self.search_columns if self.column_level(c) in (access.READ, access.WRITE)],
        )

    def kept_per_permissions(self, name: str, make):
        """What ``make()`` gives for the current user's permission set, kept on the
        view: the same for every request with these permissions."""
        shapes = self.__dict__.setdefault("_list_shapes", {})
        return rendering.remembered(shapes, (name, access.current_permissions()), make)

    def _list_shape(self, actions) -> tuple:
        columns = self.policy_columns(self.list_columns)
        order_columns = [c for c in self.order_columns if self.column_level(c) in (access.READ, access.WRITE)]
        buttons = {method: self.can(method) for method in ("add", "show", "edit", "delete", "export")}
        buttons["import"] = hasattr(self, "import_file") and self.can("import_file")
        return columns, order_columns, self.values_plan(tuple(columns)), self.list_actions(actions), buttons

    # A list whose statements depend only on its address, the user's permissions
    # and their row scope (no condition reads the clock or the database) keeps
    # them per these (app.admin.datamodel query_values).
    keep_list_statements = False

    def kept_list_statements(self, order_column, order_direction, page, page_size, plan):
        """(the view's kept statements, this page's key), or (None, None)."""
        if not self.keep_list_statements or plan is None:
            return None, None
        app_ctx = _cv_app.get()  # the application context and the request without their proxies
        request_ = _cv_request.get().request
        key = (
            app_ctx.app.config.get("KARTOTEKA_COUNT_CAP") or 0,  # the capped count's limit is a literal
            request_.path,
            request_.query_string,
            access.current_permissions(),
            getattr(signed_in(app_ctx.g.__dict__.get("user")), "id", None),
            order_column,
            order_direction,
            page,
            page_size,
            plan,
        )
        return self.__dict__.setdefault("_kept_list_statements", {}), key

    def journal_list(self, shown: int) -> None:
        """A restricted screen's list (all customers' documents, anamnesis, files) is a
        row of the journal: who, which list, how many records (the card journals its
        own tabs with the customer)."""
        tab = access.JOURNALED.get(self.class_permission_name)
        if tab is None or not shown or request.endpoint == "CustomerView.show":
            return
        access.journal(None, AccessAction.TAB, field=tab, detail=f"{self.class_permission_name}: {shown}")

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

    # A row's CSS class from its values (an owing order's row is highlighted), or None.
    row_class = None
    # A row's own buttons after show/edit/delete: (the route's method, its icon, its
    # title), each drawn where the user may call it (a certificate's «Передать другому
    # клиенту» on the card's tab).
    row_routes: tuple = ()

    def row_links(self, buttons) -> tuple[str, list[tuple[str, str]]]:
        """The checkbox's label and each row button's <a …> up to the row's key and
        after it: the same on every page of a view, language and script root."""

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
        for method, icon, title in self.row_routes:
            url = self.action_url_base(method) if self.can(method) else None
            if url:
                title = escape(title)
                links.append(
                    (
                        f'<a href="{url}',
                        f'" class="btn btn-sm btn-default" title="{title}"><span class="sr-only">'
                        f'{title}</span><i class="fa {icon}" aria-hidden="true"></i></a>',
                    )
                )
        return pick, links

    def list_rows(self, pks, cells, actions, buttons, classes=None) -> str:
        """The table's rows: checkbox, show/edit/delete buttons and the cells.

        Built here in one pass: Jinja spent ~0.1 ms a row on the loop, the pk
        escapes and the translated titles. Each row is one f-string added to the
        page's (a list append, a join or a generator step per part was a Python
        call each, a few hundred a page)."""

        key = (
            type(self).__name__,
            str(get_locale()),
            request.script_root,
            tuple(buttons[method] for method in ("show", "edit", "delete")),
            tuple(self.can(method) for method, _icon, _title in self.row_routes),
        )
        pick, links = rendering.remembered(
            rendering.app_store("row_links"), key, lambda: self.row_links(buttons)
        )
        # the buttons' HTML around the row's key: key.join(pieces)
        pieces = None
        if links:
            pieces = ['<td><div class="btn-group btn-group-xs" style="display: flex;">' + links[0][0]]
            pieces += [tail + head for (_head, tail), (head, _tail) in zip(links, links[1:], strict=False)]
            pieces.append(links[-1][1] + "</div></td>")
        html = ""
        for index, (pk, cells_html) in enumerate(zip(pks, cells, strict=True)):
            key = f"{pk}" if type(pk) is int else str(escape(pk))
            css = classes[index] if classes else None
            opening = f'<tr class="{escape(css)}">' if css else "<tr>"
            check = (
                f'<td><input id="{key}" class="action_check" name="rowid" value="{key}" '
                f'type="checkbox" aria-label="{pick}"></td>'
                if actions
                else ""
            )
            row_buttons = key.join(pieces) if pieces else ""
            html += f"{opening}{check}{row_buttons}{cells_html}</tr>"
        return html

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
        """The address of ``method`` for a record, without the record's key (built
        once per view, method and script root)."""
        bases = rendering.app_store("url_bases")
        key = (type(self).__name__, method, request.script_root)
        found = bases.get(key)
        if found is None:
            try:
                found = url_for(f"{type(self).__name__}.{method}", pk="0")[:-1]
            except BuildError:
                found = ""
            if len(bases) >= rendering.CACHE_SIZE:
                bases.clear()
            bases[key] = found
        return found or None

    def list_cells(self, values, columns, pks, show_base=None) -> list[str]:
        """Each row's cells, formatted and escaped once here (a row of <td>s):
        a formatter, escape and loop step per cell in Jinja cost 5 ms a page.
        With ``show_base`` (the user may open records) the ``opens_record`` cells
        link to the row's record."""
        # the formatters themselves, not policy_formatters(): a masked value is left
        # as it is below, without a wrapper call per cell
        formatters = self.formatters_columns
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
            cells = ""  # added to, not appended and joined: no Python call per cell
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
                elif kind is int or kind is Decimal:  # digits, a sign, a point: nothing to escape
                    html = str(value)
                elif kind is LazyString:
                    key = id(value)
                    if key not in translated:
                        translated[key] = str(escape(value))
                    html = translated[key]
                else:
                    html = str(escape(value))
                if opens and html:
                    html = f'<a href="{show_base}{escape(pk)}">{html}</a>'
                cells += f"{opening}{html}</td>"
            rows.append(cells)
        return rows

    # -- export ------------------------------------------------------------------

    EXPORT_LIMIT = 50_000
    # list columns that are buttons, not data (the card's «Принять оплату»): left out of the CSV
    export_excludes: tuple[str, ...] = ()
    # a list column the CSV writes as other columns: a text that mixes kinds of value
    # (a certificate's «1 500,00 ₽» beside a subscription's «3 визита») split into numbers
    export_expands: dict[str, tuple[str, ...]] = {}

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
        return self.export_as(spreadsheet.Writer)

    @expose("/export.xlsx")
    @has_access
    def export_xlsx(self):
        """The same rows as :meth:`export`, as an Excel workbook (dates, amounts as values)."""
        return self.export_as(spreadsheet.Workbook)

    def export_values(self, joined, order_column, order_direction, columns, tab=False) -> list[dict]:
        """The export's rows read as the list reads its page: through the list's values plan
        (its declared ``list_sql`` columns, enum labels and related labels), or as objects
        through ``list_values`` where the list loads objects; then the field policy, as on
        the page (``tab``: a card's tab, whose rows the policy reads with their customer).
        The export read every list as objects: a column the list declares, or a free text
        the policy masks, could say another text in the file than on the page."""
        plan = self.values_plan(tuple(columns))
        if plan is not None:  # each row read with its customer, as the card reads it
            extra = disclosure.row_sources(self.datamodel.obj, columns)
            read = self.datamodel.tab_values if tab else self.datamodel.query_values
            _count, keys, values = read(
                joined, order_column, order_direction, 0, self.EXPORT_LIMIT, plan, extra=extra
            )
            disclosure.rows(self.datamodel.obj, values, pks=keys)
            for row in values:
                for name in extra:
                    del row[name]
            return values
        _count, rows = self.datamodel.query(
            joined, order_column, order_direction, page=0, page_size=self.EXPORT_LIMIT
        )
        return disclosure.rows(self.datamodel.obj, self.list_values(rows, columns), items=rows)

    def export_as(self, kind):
        """The export both formats share: the rows, the columns, the policy and the journal
        are the same; only ``kind`` (app/spreadsheet.py) writes them differently."""
        get_filter_args(self._filters)
        filters = self.policy_filters(self._filters)
        related = self.related_conditions()
        for condition in [*self.list_conditions(), *related]:
            if condition is not None:
                filters._add_filter(WhereFilter("id", self.datamodel), condition)
        order_column, order_direction = self.base_order or ("", "")
        joined = filters.get_joined_filters(self._base_filters)
        columns = self.policy_columns(
            [
                e
                for c in self.list_columns
                if c not in self.export_excludes
                for e in self.export_expands.get(c, (c,))
            ]
        )
        values = self.export_values(joined, order_column, order_direction, columns, tab=bool(related))
        self.visible_values(values)
        formatters = self.formatters_columns
        title = str(self.list_title or self.class_permission_name)
        sheet = kind(title)
        sheet.row([sheet.cell(str(self.label_columns.get(c, c))) for c in columns])
        for row in values:
            sheet.row([sheet.cell(row.get(c), formatters.get(c)) for c in columns])
        written = len(values)
        # a card tab's export is one customer's records: the journal names the customer
        card = record_id(request.args.get(listing.RELATED_ARG + "customer", "")) if written else None
        access.record_access(card, AccessAction.EXPORT, detail=f"{self.class_permission_name}: {written}")
        db.session.commit()
        # the list's address and the clinic's day: «orderview-2026-12-03.xlsx»
        day = dt.datetime.now(formatting.clinic_zone()).date().isoformat()
        filename = f"{self.route_base.strip('/').replace('/', '-')}-{day}.{sheet.extension}"
        return Response(
            sheet.data(),
            mimetype=sheet.mimetype,
            headers={"Content-Disposition": f"attachment; filename={filename}"},
        )

    # -- tabs ----------------------------------------------------------------

    def visible_related_views(self):
        """Related views (tabs) the current user may read, in the order
        ``related_views`` declares them: kept per permission set, as list_shape is
        (a card asked it three times a request, ~90 Python calls each)."""
        declared = self.declared_related_views()
        kept = self.__dict__.setdefault("_visible_related_views", {})
        perms = access.current_permissions()
        found = kept.get(perms)
        if found is None or found[0] is not declared:
            if len(kept) >= self.LIST_SHAPES_KEPT:
                kept.clear()
            sm = self.appbuilder.sm
            found = kept[perms] = (
                declared,
                [view for view in declared if sm.has_access("can_read", view.class_permission_name)],
            )
        return list(found[1])

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

    def _get_related_view_widget(
        self, item, related_view, order_column="", order_direction="", page=None, page_size=None
    ):
        """FAB's: the tab's list filtered by the card's record. Its relation to the
        tab's model is looked up once per tab view, not on every card (FAB scans the
        model's relations and asks their kind each time: ~30 Python calls a tab)."""
        relations = self.__dict__.setdefault("_tab_relations", {})
        found = relations.get(type(related_view))
        if found is None:
            fk = related_view.datamodel.get_related_fk(self.datamodel.obj)
            if related_view.datamodel.is_relation_many_to_one(fk):
                kind = self.datamodel.FilterRelationOneToManyEqual
            elif related_view.datamodel.is_relation_many_to_many(fk):
                kind = self.datamodel.FilterRelationManyToManyEqual
            else:  # FAB logs the missing relation
                return super()._get_related_view_widget(
                    item, related_view, order_column, order_direction, page, page_size
                )
            found = relations[type(related_view)] = (fk, kind)
        fk, kind = found
        filters = related_view.datamodel.get_filters()
        filters.add_filter_related_view(fk, kind, self.record_key(item))
        return related_view._get_view_widget(
            filters=filters,
            order_column=order_column,
            order_direction=order_direction,
            page=page,
            page_size=page_size,
        )

    def record_key(self, item):
        """FAB's get_pk_value(item), its key's name asked once per view (~10 Python calls a tab)."""
        name = self.__dict__.get("_kartoteka_pk_name")
        if name is None:
            name = self._kartoteka_pk_name = (
                "" if self.datamodel.is_pk_composite() else self.datamodel.get_pk_name()
            )
        return getattr(item, name) if name else self.datamodel.get_pk_value(item)

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
        """Each refusal beside the box it is about; on top when the form does not draw that
        box: the field its address binds («Принять оплату» for an order: a cancelled
        order's refusal went to the undrawn «Заказ», and the form came back without a word)."""
        undrawn = set(self._exclude_cols()) if request else set()
        for name, message in error.errors.items():
            field = form._fields.get(name) if name else None
            if (
                field is not None
                and name not in self.form_only_fields
                and name not in undrawn
                and field.type != "HiddenField"
            ):
                field.errors = [*field.errors, message]
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
        g.kartoteka_saved = item  # where the save lands (return_page)
        if is_new:
            self.post_add(item)
            flash(self.added_message(item), "success")
        else:
            self.post_update(item)
            flash(self.edited_message(item), "success")
        return True

    def added_message(self, item) -> str:
        """What the user is told once a new record is saved; a screen may say what it was."""
        return self.add_row_message

    def edited_message(self, item) -> str:
        """What the user is told once a record is saved; a screen may say what the save did."""
        return self.edit_row_message

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

    def _delete(self, pk):
        """FAB's deletion, refused before it starts for a record of an erased customer
        (app/subjects.py keep_erased: its refusal in the flush left the session half done)."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is not None:
            try:
                subjects.check_record_writable(self.datamodel.session, item)
            except ValidationFailed as e:
                flash(str(e), "danger")
                self.update_redirect()
                return None
        return super()._delete(pk)

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

    BOUND_ARG = re.compile(r"_flt_\d+_(\w+)")

    def bound_relations(self) -> dict[str, int]:
        """The records a form opened from a record's tab is bound to: the card's «+»
        opens ``…/add?_flt_0_customer=42``. Read from the address itself, whatever
        filter the view lists that relation with: a relation listed through a text
        filter («Клиент» typed as in the search box) was not taken from it, and a
        document added from the card was refused with «Выберите клиента.»."""
        found = {}
        for arg, value in request.args.items():
            match = self.BOUND_ARG.fullmatch(arg)
            name = match[1] if match else None
            if name is None or not self.datamodel.is_relation_many_to_one(name):
                continue
            pk = record_id(value)
            if pk is not None:
                found[name] = pk
        return found

    def bound_records(self) -> dict[str, object]:
        """Each bound record, read within the user's rows: FAB loaded any customer by
        its number, so a specialist could add a medical record to another clinic's
        patient through the address. One outside the rows is as one that does not
        exist: 404, as its card is."""
        records_ = {}
        for name, pk in self.bound_relations().items():
            model = self.datamodel.get_related_model(name)
            statement = select(model).where(model.id == pk)
            condition = access.row_scope(model)
            if condition is not None:
                statement = statement.where(condition)
            found = self.datamodel.session.scalars(statement).first()
            if found is None:
                abort(404)
            records_[name] = found
        return records_

    def _fill_form_exclude_cols(self, exclude_cols, form):
        """The bound records (``bound_records``) fill the form's relation fields."""
        for name, found in self.bound_records().items():
            if name in form._fields:
                form[name].data = found

    def _exclude_cols(self) -> list[str]:
        """The relation fields a form leaves out because its address binds them."""
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        bound = self.bound_records()  # 404 for a record outside the user's rows
        return list(dict.fromkeys([*self._filters.get_relation_cols(), *bound]))

    def _add(self):
        exclude_cols = self._exclude_cols()
        form = self.with_extra_fields(self.add_form, None).refresh()
        self.restrict_form(form, new=True)  # before validation: a field the user may not write is ignored
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                if self.save(form, self.datamodel.obj(), is_new=True):
                    return None
        else:
            self.refuse_closed_form()
            self.prefill_add_form(form)
            self.remember_form()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def check_form_opens(self, item) -> None:
        """Raise ValidationFailed if ``item`` cannot be saved whatever is typed (a record of
        an erased customer); a screen may name its own rule."""
        subjects.check_record_writable(self.datamodel.session, item)

    def refuse_closed_form(self, item=None) -> None:
        """A form that no input could save does not open: the edit form of an erased
        customer's record, or a new record bound to them, opened and refused only at
        «Сохранить», after staff had typed it. Back where they were, the reason on top."""
        try:
            if item is not None:
                self.check_form_opens(item)
            else:
                for record in self.bound_records().values():
                    subjects.check_record_writable(self.datamodel.session, record)
        except ValidationFailed as e:
            flash(str(e), "danger")
            abort(redirect(self.return_page(list(session.get("page_history") or []), item)))

    def prefill_add_form(self, form) -> None:
        """A new record's form as it opens (GET): a screen fills what it can tell."""

    def add_page_title(self) -> str:
        """The add form's heading; a screen may name the record the form is bound to."""
        return self.add_title

    def _edit(self, pk):
        exclude_cols = self._exclude_cols()
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
            self.refuse_closed_form(item)
            form = self.with_extra_fields(self.edit_form, item).refresh(obj=item)
            self.prefill_form(form, pk)
            self.guard_texts(form, item)
            self.remember_form(item)
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
        return self.render_template(self.add_template, title=self.add_page_title(), widgets=widget), status

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


def bulk_action(name, label, icon, run, done, *, confirmation="", each=False, by_id=False, single=True):
    """An action on the ticked rows of a list, declared in one line: ``run`` is the
    domain function (given every row, each row with ``each``, or the rows' ids with
    ``by_id``) and answers how many rows it changed; a row it refuses says why
    (ValidationFailed) and the others go on; ``done(count)`` is what the user reads.
    FAB names the action's permission after ``name`` (app/access.py METHOD_PERMISSIONS)."""

    def handler(self, items):
        rows = [row for row in (items if isinstance(items, list) else [items]) if row is not None]
        count = 0
        if each:
            for row in rows:
                try:
                    run(row)
                    count += 1
                except ValidationFailed as e:
                    for text in e.errors.values():
                        flash(text, "warning")
        else:
            count = run([row.id for row in rows] if by_id else rows)
        db.session.commit()
        if count or not each:
            flash(done(count), "success")
        from .security import referrer_or

        return redirect(referrer_or(url_for(".list")))

    handler.__name__ = name
    return action(name, label, confirmation, icon, multiple=True, single=single)(handler)
