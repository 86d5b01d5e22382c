"""FAB's SQLAlchemy interface with eager loading and Kartoteka's custom filters."""

from __future__ import annotations

import datetime as dt
import enum
import inspect
from decimal import Decimal
from functools import reduce
from operator import attrgetter

from flask import current_app
from flask_appbuilder.models.filters import BaseFilter, Filters
from flask_appbuilder.models.sqla.filters import (
    FilterEqual,
    FilterNotEqual,
    FilterRelationOneToManyEqual,
    SQLAFilterConverter,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.utils.base import get_column_root_relation, is_column_dotted
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import Enum as SAEnum
from sqlalchemy import String, asc, bindparam, desc, false, func, select, type_coerce
from sqlalchemy.engine import Row
from sqlalchemy.orm import MANYTOONE, ColumnProperty, RelationshipProperty, scoped_session

from ..formatting import clinic_zone, date_short, typed_date

# Values shown as they are (checked first: most cells hold one of these).
_PLAIN = frozenset({str, int, float, Decimal, dt.date, dt.datetime})


def display_value(value):
    """What a list or card cell shows: enum labels, «Да»/«Нет», joined lists, blanks."""
    if type(value) in _PLAIN:
        return value
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return getattr(value, "label", value.value)
    if isinstance(value, bool):
        return _l("Да") if value else _l("Нет")
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value)
    return value


class LightFilters(Filters):
    """FAB's Filters whose copies skip re-deriving every column's filter list.

    FAB builds the filter list of all columns again for each copy and join
    (dozens per request); a copy needs only the active filters.
    """

    @classmethod
    def _empty(cls, filter_converter, datamodel):
        new = cls.__new__(cls)
        new.filter_converter, new.datamodel = filter_converter, datamodel
        new.search_columns, new._search_filters, new._all_filters = [], {}, {}
        new.filters, new.values = [], []
        return new

    def copy(self):
        new = self._empty(self.filter_converter, self.datamodel)
        new.filters, new.values = list(self.filters), list(self.values)
        return new

    def get_joined_filters(self, filters):
        new = self._empty(self.filter_converter, self.datamodel)
        new.filters, new.values = self.filters + filters.filters, self.values + filters.values
        return new


# What PostgreSQL reads as a boolean, and what each reads as.
BOOLEAN_LITERALS = {
    **dict.fromkeys(("t", "true", "y", "yes", "on", "1"), True),
    **dict.fromkeys(("f", "false", "n", "no", "off", "0"), False),
}


def boolean_literal(value) -> bool | None:
    return BOOLEAN_LITERALS.get(str(value or "").strip().lower())


class FilterBooleanEqual(FilterEqual):
    """FAB's «Равно» on a yes/no column, the value read as a boolean: FAB read only «y»
    and compared anything else («true», «1», «n» from a link) as text, which PostgreSQL
    refused (boolean = character varying: a 500)."""

    checked_against_column = True  # app/admin/requests.py drops a value it cannot read

    def apply(self, query, value):
        return query.filter(self.model.__table__.c[self.column_name] == boolean_literal(value))


class FilterBooleanNotEqual(FilterNotEqual):
    checked_against_column = True

    def apply(self, query, value):
        return query.filter(self.model.__table__.c[self.column_name] != boolean_literal(value))


class FilterConverter(SQLAFilterConverter):
    """FAB's, a yes/no column compared with a boolean."""

    conversion_table = (
        ("is_boolean", [FilterBooleanEqual, FilterBooleanNotEqual]),
        *(row for row in SQLAFilterConverter.conversion_table if row[0] != "is_boolean"),
    )


class Interface(SQLAInterface):
    """SQLAInterface whose list queries load the given relations eagerly.

    Stock FAB loads every relation shown in a list lazily, one query per row.
    Cells show enum labels rather than FAB's raw enum values.
    """

    filter_converter_class = FilterConverter

    @staticmethod
    def _get_attr_value(item, col):
        try:  # one attribute read (FAB reads it twice: hasattr, then getattr)
            value = getattr(item, col)
        except AttributeError:  # a dotted column: «manager.email»
            try:
                value = reduce(getattr, col.split("."), item)
            except AttributeError:
                return ""
        else:
            if callable(value) and not isinstance(value, enum.Enum):
                value = value()
        return display_value(value)

    def get_values(self, lst, list_columns):
        """FAB's get_values, with each column's reader chosen once per list: a
        mapped column or relation is read directly (attrgetter) and shown through
        display_value; properties, methods and dotted paths take the general path."""
        mapped = self.obj.__mapper__.attrs.keys()
        readers = [
            (col, attrgetter(col), True) if col in mapped else (col, self._get_attr_value, False)
            for col in list_columns
        ]
        for item in lst:
            values = {}
            for col, read, direct in readers:
                values[col] = display_value(read(item)) if direct else read(item, col)
            yield values

    def __init__(self, obj, session=None, eager=()):
        super().__init__(obj, session=session)
        self.eager = tuple(eager)

    def get_order_columns_list(self, list_columns=None):
        """FAB's, without the model's plain Python properties: FAB offers a header
        link for them too, and SQL cannot order by one (the list answered 500)."""
        return [
            name
            for name in super().get_order_columns_list(list_columns=list_columns)
            if not isinstance(inspect.getattr_static(self.obj, name, None), property)
        ]

    def get_filters(self, search_columns=None, search_filters=None):
        if not search_columns and not search_filters:
            # A tab of the card: only its relation filter is added; FAB would
            # derive every column's filter list first (a hundred conversions a card).
            return LightFilters._empty(self.filter_converter_class, self)
        return LightFilters(
            self.filter_converter_class,
            self,
            search_columns=search_columns or [],
            search_filters=search_filters,
        )

    def get_inner_filters(self, filters):
        """FAB's inner filters, kept without building every column's filter list
        (FAB does that twice per list request: a third of its Python time)."""
        inner = LightFilters._empty(self.filter_converter_class, self)
        for flt, value in zip(filters.filters, filters.values, strict=False) if filters else ():
            name = flt.column_name
            if not is_column_dotted(name):
                inner.filters.append(flt)
                inner.values.append(value)
                continue
            root = get_column_root_relation(name)
            if self.is_relation_many_to_one(root) or self.is_relation_one_to_one(root):
                inner.filters.append(flt)
                inner.values.append(value)
        return inner

    def query_count(self, query, filters=None, select_columns=None) -> int:
        """Count at most ``KARTOTEKA_COUNT_CAP`` + 1 rows.

        An exact ``count(*)`` over a million customers scans them all on every
        page view; a capped count reads at most cap + 1 index entries. The list
        says «более 10 000» and the user narrows it with search or filters.
        """
        if select_columns:
            query = self._apply_inner_all(query, filters, select_columns=select_columns, aliases_mapping={})
        else:
            query = self.filtered(query, filters)
        return self.capped_count(query)

    def filtered(self, query, filters):
        """FAB's filters applied to ``query`` (its _apply_inner_all without order and page)."""
        return self.apply_filters(query, self.get_inner_filters(filters))

    def capped_count(self, filtered) -> int:
        cap = current_app.config.get("KARTOTEKA_COUNT_CAP") or 0
        if cap <= 0:
            return filtered.count()
        statement = self.capped_count_statement(filtered, cap)
        return values_connection(self.session).execute(statement, execution_options=BY_POSITION).scalar_one()

    def capped_count_statement(self, filtered, cap: int):
        pk = getattr(self.obj, self.get_pk_name())
        limited = filtered.statement.with_only_columns(pk).limit(cap + 1).subquery()
        return select(func.count()).select_from(limited)

    def values_plan(self, columns, declared: dict, related: dict):
        """``(column, ListColumn)`` for each list column, or None when one of them
        is neither a mapped column, nor declared, nor a many-to-one relationship
        to a model ``related`` knows how to label (the list then loads objects).
        ``related``: model → function(relationship attribute) → ListColumn."""
        plan = []
        for column in columns:
            spec = declared.get(column)
            if spec is None:
                prop = self.obj.__mapper__.attrs.get(column)
                if isinstance(prop, ColumnProperty) and len(prop.columns) == 1:
                    spec = _enum_column(getattr(self.obj, column), prop.columns[0].type)
                    spec = spec or ListColumn(getattr(self.obj, column))
                elif (
                    isinstance(prop, RelationshipProperty)
                    and prop.direction is MANYTOONE
                    and prop.mapper.class_ in related
                ):
                    spec = related[prop.mapper.class_](getattr(self.obj, column))
                else:
                    return None
            plan.append((column, spec))
        return tuple(plan)

    def query_values(
        self, filters, order_column, order_direction, page, page_size, plan, kept=None, key=None, extra=()
    ):
        """The list's count, keys and values through ``plan`` (see values_plan): FAB's
        filters, order and page applied as for objects, then only the plan's
        columns selected.

        With ``kept`` (a dict) the two statements are kept under ``key``, which
        must name everything that shapes them (the page's address, the user's
        permissions and row scope): composing them and computing their cache
        keys was ~700 Python calls of a list page. ``extra``: further columns each
        row's values carry, as in :meth:`tab_values` (part of what ``key`` names: they
        follow from the plan's columns)."""
        cap = current_app.config.get("KARTOTEKA_COUNT_CAP") or 0
        tail = tuple(getattr(self.obj, name) for name in extra)
        statements = kept.get(key) if kept is not None and cap > 0 else None
        if statements is None:
            filtered = self.filtered(self.session.query(self.obj), filters)  # once, for both statements
            query = self.apply_order_by(
                filtered,
                order_column,
                order_direction,
                aliases_mapping={},
                bypass_many_to_many=True,
                add_pk=True,
            )
            query = self.apply_pagination(query, page, page_size)
            if cap <= 0:
                count = filtered.count()
                rows = self._plan_rows(query, plan, tail)
                return count, [row[0] for row in rows], self._extra_values(rows, plan, extra)
            statements = (self.capped_count_statement(filtered, cap), self._plan_statement(query, plan, tail))
            if kept is not None:
                if len(kept) >= LIST_STATEMENTS_KEPT:
                    kept.clear()
                kept[key] = statements
        connection = values_connection(self.session)
        count = connection.execute(statements[0], execution_options=BY_POSITION).scalar_one()
        rows = connection.execute(statements[1], execution_options=BY_POSITION).all()
        return count, [row[0] for row in rows], self._extra_values(rows, plan, extra)

    def _extra_values(self, rows, plan, extra) -> list[dict]:
        """The plan's values of ``rows``, each with the ``extra`` columns ending its row."""
        values = self._plan_values(rows, plan)
        if extra:
            for row, item in zip(rows, values, strict=True):
                item.update(zip(extra, row[len(row) - len(extra) :], strict=True))
        return values

    def tab_values(self, filters, order_column, order_direction, page, page_size, plan, extra=()):
        """A card's tab read through ``plan`` (see values_plan): its page, keys, values
        and total from one statement (count(*) OVER ()), as _query_with_window_count
        reads objects. ``extra``: further columns each row's values carry (what the
        field policy reads: the row's customer)."""
        tail = (*(getattr(self.obj, name) for name in extra), WINDOW_TOTAL)
        statement, params = self.tab_statement(
            filters,
            order_column,
            order_direction,
            page,
            page_size,
            (plan, extra),
            lambda query: self._plan_statement(query, plan, tail),
        )
        rows = values_connection(self.session).execute(statement, params, execution_options=BY_POSITION).all()
        values = self._plan_values(rows, plan)
        first = len(rows[0]) - len(tail) if rows else 0
        for row, item in zip(rows, values, strict=True):
            item.update(zip(extra, row[first:-1], strict=True))
        if rows:
            count = rows[0][-1]
        elif not page:
            count = 0
        else:  # a page past the end
            count = self.query_count(self.session.query(self.obj), filters)
        return count, [row[0] for row in rows], values

    def _plan_rows(self, query, plan, tail=()):
        statement = self._plan_statement(query, plan, tail)
        return values_connection(self.session).execute(statement, execution_options=BY_POSITION).all()

    def _plan_statement(self, query, plan, tail=()):
        exprs, joins = [getattr(self.obj, self.get_pk_name())], []
        for _column, spec in plan:
            exprs.extend(spec.exprs)
            if spec.join is not None and not any(spec.join is join for join in joins):
                joins.append(spec.join)
        statement = query.statement.with_only_columns(*exprs, *tail)
        for join in joins:
            statement = statement.outerjoin(join)
        return statement

    @staticmethod
    def _plan_values(rows, plan) -> list[dict]:
        readers, start = [], 1
        for column, spec in plan:
            stop = start + len(spec.exprs)
            readers.append((column, start, stop, spec.read, spec.labels))
            start = stop
        values = []
        labels = {}  # an enum member's label, looked up once a page (display_value: ~5 calls)
        for row in rows:
            item = {}
            for column, start, stop, read, shown_as in readers:
                if shown_as is not None:  # an enum column read as its stored string
                    value = row[start]
                    shown = shown_as.get(value)
                    item[column] = shown if shown is not None else ("" if value is None else value)
                elif read is None:  # a plain value as it is, without a call (see display_value)
                    value = row[start]
                    if type(value) in _PLAIN:
                        item[column] = value
                    elif value is None:
                        item[column] = ""
                    elif isinstance(value, enum.Enum):
                        shown = labels.get(value)
                        if shown is None:
                            shown = labels[value] = display_value(value)
                        item[column] = shown
                    else:
                        item[column] = display_value(value)
                else:  # a reader gives the value to show (None: nothing)
                    value = read(*row[start:stop])
                    item[column] = "" if value is None else value
            values.append(item)
        return values

    def query(
        self,
        filters=None,
        order_column="",
        order_direction="",
        page=None,
        page_size=None,
        select_columns=None,
        outer_default_load=False,
        columns=None,
    ):
        """FAB's query; ``columns``: those a card's tab shows (see _query_with_window_count)."""
        query = self.session.query(self.obj)
        if filters is not None and not select_columns and any(f.is_related_view for f in filters.filters):
            return self._query_with_window_count(
                query, filters, order_column, order_direction, page, page_size, columns
            )
        count = self.query_count(query, filters, select_columns)
        query = self.apply_all(
            query, filters, order_column, order_direction, page, page_size, select_columns, outer_default_load
        )
        if self.eager and not select_columns:
            query = query.options(*self.eager)
        # With select_columns FAB's query yields rows that wrap the model instance.
        return count, [row[0] if isinstance(row, Row) else row for row in query.all()]


# Rows read by position only: SQLAlchemy need not map the cached statement's columns
# onto this request's (equal) ones, comparing them one by one (~100 Python calls a
# statement); the ORM sets the same option on its own queries.
BY_POSITION = {"_result_disable_adapt_to_context": True}


def values_connection(session):
    """The session's connection, for a statement whose rows are plain values: the
    session's own transaction without the ORM's execution layer (~60 µs less a
    statement; a list page runs three). Pending changes are flushed first, as
    the session would before a query."""
    if isinstance(session, scoped_session):  # its proxies cost ~10 Python calls an attribute
        session = session.registry()
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


class ListColumn:
    """How a list reads one column as plain values, not as mapped objects: the SQL
    expressions it selects, the function that makes the cell's value of them
    (default: the one value), and the relationship to outer-join for them.

    Loading twenty customers as objects (each with a dozen relationship
    loaders, their manager joined in as another object) cost the list page
    0.6 ms of Python; their columns as tuples cost a fifth of that."""

    __slots__ = ("exprs", "read", "join", "labels")

    def __init__(self, *exprs, read=None, join=None, labels=None):
        self.exprs, self.read, self.join = exprs, read, join
        self.labels = labels  # an enum column's stored strings → what its cells show


def _enum_column(attribute, column_type) -> ListColumn | None:
    """An enum column read as the string it stores, shown through its members'
    labels: SQLAlchemy's conversion of each value to its member and the member's
    hash (a Python call in enum) were ~4 calls a cell (the orders list has five
    enum columns: ~350 calls a page)."""
    enum_class = getattr(column_type, "enum_class", None)
    if not isinstance(column_type, SAEnum) or enum_class is None:
        return None
    members = list(enum_class)
    if len(column_type.enums) != len(members):
        return None
    labels = {
        stored: display_value(member) for stored, member in zip(column_type.enums, members, strict=True)
    }
    return ListColumn(type_coerce(attribute, String), labels=labels)


WINDOW_TOTAL = func.count().over().label("kartoteka_total")


def _query_with_window_count_impl(
    self, query, filters, order_column, order_direction, page, page_size, columns=None
):
    """A tab of the card: the page and the total in one statement (count(*) OVER ()).

    Composed here rather than through FAB's apply_all: the tab's record is its foreign
    key's value (FAB loaded the record again to compare the relationship with it), the
    order a column; with ``columns`` (those the tab shows) only their relations are
    loaded eagerly (every tab joined its customer in again, row after row).
    A card rendered eleven tabs: this was a quarter of its Python calls."""
    eager = self.eager_for(columns)
    statement, params = self.tab_statement(
        filters,
        order_column,
        order_direction,
        page,
        page_size,
        eager,
        lambda paged: paged.add_columns(WINDOW_TOTAL).options(*eager).statement,
    )
    rows = self.session.execute(statement, params).all()
    if rows:
        return rows[0][-1], [row[0] for row in rows]
    if not page:
        return 0, []
    return self.query_count(self.session.query(self.obj), filters), []  # a page past the end


LIST_STATEMENTS_KEPT = 256
RECORD = bindparam("kartoteka_record")
TAB_STATEMENTS_KEPT = 256


def _tab_statement(self, filters, order_column, order_direction, page, page_size, shape_key, shape):
    """A tab's statement and its parameters: its filters, order and page applied to
    a query of the model, made a statement by ``shape``. A tab filtered by its
    record alone (no row scope, no declared filters) takes a statement composed
    once per order, page and shape, the record's key a parameter: composing it
    and computing its cache key was half of what a tab's statement cost."""
    single = self.single_record(filters)
    if single is None:
        query = self.tab_filtered(self.session.query(self.obj), filters)
        return shape(
            self.apply_pagination(self.tab_order(query, order_column, order_direction), page, page_size)
        ), {}
    column, value = single
    statements = self.__dict__.setdefault("_tab_statements", {})
    key = (column, order_column, order_direction, page, page_size, shape_key)
    statement = statements.get(key)
    if statement is None:
        query = self.session.query(self.obj).filter(column == RECORD)
        statement = shape(
            self.apply_pagination(self.tab_order(query, order_column, order_direction), page, page_size)
        )
        if len(statements) >= TAB_STATEMENTS_KEPT:
            statements.clear()
        statements[key] = statement
    return statement, {"kartoteka_record": value}


def _single_record(self, filters):
    """(foreign key column, the record's key) of a tab filtered by its record alone, else None."""
    if len(filters.filters) != 1 or not filters.filters[0].is_related_view:
        return None
    flt, value = filters.filters[0], filters.values[0]
    column = self.related_column(flt, value)
    return None if column is None else (column, value)


def _tab_filtered(self, query, filters):
    """A tab's filters: its record's key compared directly (see _related_condition)."""
    for flt, value in zip(filters.filters, filters.values, strict=False):
        condition = self.related_condition(flt, value) if flt.is_related_view else None
        query = flt.apply(query, value) if condition is None else query.filter(condition)
    return query


def _related_condition(self, flt, value):
    """``fk == value`` for a tab's filter on its many-to-one relation to the card's
    record (FAB's FilterRelationOneToManyEqual, with the record's key as its value);
    None for any other filter."""
    column = self.related_column(flt, value)
    return None if column is None else column == value


def _related_column(self, flt, value):
    """The foreign key column of such a filter (see _related_condition), or None: a
    tab's cached statement needs only the column (composing ``fk == value`` to read
    its left side back was ~40 Python calls a tab)."""
    if not isinstance(flt, FilterRelationOneToManyEqual) or not isinstance(value, int):
        return None
    prop = self.obj.__mapper__.relationships.get(flt.column_name)
    if prop is None or prop.direction is not MANYTOONE or len(prop.local_columns) != 1:
        return None
    (column,) = prop.local_columns
    return column


def _tab_order(self, query, order_column, order_direction):
    """FAB's apply_order_by (with the key as a tie breaker) for a mapped column,
    its expressions composed once per column and direction."""
    orders = self.__dict__.setdefault("_tab_orders", {})
    key = (order_column, order_direction)
    if key not in orders:
        prop = self.obj.__mapper__.attrs.get(order_column) if order_column else None
        if order_column and not (isinstance(prop, ColumnProperty) and len(prop.columns) == 1):
            orders[key] = None  # anything else: FAB's own
        else:
            direction = asc if order_direction == "asc" else desc
            exprs = []
            if order_column:
                exprs.append(direction(getattr(self.obj, order_column)))
                pk = self.obj.__mapper__.primary_key
                if len(pk) == 1 and prop.columns[0] is not pk[0]:
                    exprs.append(direction(pk[0]))
            orders[key] = tuple(exprs)
    exprs = orders[key]
    if exprs is None:
        return self.apply_order_by(
            query, order_column, order_direction, aliases_mapping=None, bypass_many_to_many=True, add_pk=True
        )
    return query.order_by(*exprs) if exprs else query


def _eager_for(self, columns):
    """The eager loads of the relations among ``columns`` (all of them without columns)."""
    if columns is None or not self.eager:
        return self.eager
    kept = self.__dict__.setdefault("_eager_for", {})
    key = tuple(columns)
    if key not in kept:
        kept[key] = tuple(opt for opt in self.eager if _eager_key(opt) in columns or _eager_key(opt) is None)
    return kept[key]


def _eager_key(option):
    """The relationship an eager-load option starts from (None if it cannot tell)."""
    try:
        return option.context[0].path[1].key
    except (AttributeError, IndexError, TypeError):
        return None


Interface._query_with_window_count = _query_with_window_count_impl
Interface.tab_filtered = _tab_filtered
Interface.tab_statement = _tab_statement
Interface.single_record = _single_record
Interface.related_condition = _related_condition
Interface.related_column = _related_column
Interface.tab_order = _tab_order
Interface.eager_for = _eager_for


class ConditionFilter(BaseFilter):
    """A filter whose SQL condition comes from a domain function of the typed value."""

    condition = None  # staticmethod(value -> SQL condition or None)

    def apply(self, query, value):
        condition = type(self).condition(value)
        if condition is None:
            return query
        return query.filter(condition)


class WhereFilter(BaseFilter):
    """A SQL condition (passed as the filter's value) joined to a list query."""

    arg_name = "where"

    def apply(self, query, value):
        return query.filter(value)


def local_day_bounds(value) -> tuple[dt.datetime, dt.datetime] | None:
    """The UTC bounds of a calendar day in the clinic's time zone."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):  # «12.07.2026» as typed, or the calendar's 2026-07-12
        value = typed_date(value)
    if not isinstance(value, dt.date):
        return None
    # a zoneinfo zone: Flask-Babel's is pytz's, and pytz's zone given as a tzinfo
    # answers the city's local mean time (Moscow +2:30, Vladivostok +8:48), so a
    # day began 30 to 72 minutes late and a customer registered just after midnight
    # fell on the day before
    tz = clinic_zone() if current_app else dt.UTC
    start = dt.datetime.combine(value, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=1)
    return (
        start.astimezone(dt.UTC).replace(tzinfo=None),
        end.astimezone(dt.UTC).replace(tzinfo=None),
    )


def day_or_nothing(query, value):
    """A day typed as no date («04.12.25», «вчера») filters out every row and says so
    once: it was ignored, and the list showed everyone under the filter as typed. A
    box left empty is no filter."""
    if not str(value or "").strip():
        return query
    from flask import flash, g, has_request_context

    if has_request_context() and value not in g.setdefault("kartoteka_bad_days", set()):
        g.kartoteka_bad_days.add(value)
        example = date_short(dt.date(1986, 7, 12))
        flash(
            gettext(
                "Дата «%(value)s» не распознана: введите её так: %(example)s.", value=value, example=example
            ),
            "warning",
        )
    return query.filter(false())


class FilterDayEqual(BaseFilter):
    """A timestamp column falling on the given calendar day (clinic time zone)."""

    name = _l("В день")
    arg_name = "day"

    def apply(self, query, value):
        bounds = local_day_bounds(value)
        if bounds is None:
            return day_or_nothing(query, value)
        column = getattr(self.model, self.column_name)
        return query.filter(column >= bounds[0], column < bounds[1])


class FilterDayFrom(BaseFilter):
    name = _l("С даты")
    arg_name = "dayfrom"

    def apply(self, query, value):
        bounds = local_day_bounds(value)
        if bounds is None:
            return day_or_nothing(query, value)
        return query.filter(getattr(self.model, self.column_name) >= bounds[0])


class FilterDayTo(BaseFilter):
    name = _l("По дату")
    arg_name = "dayto"

    def apply(self, query, value):
        bounds = local_day_bounds(value)
        if bounds is None:
            return day_or_nothing(query, value)
        return query.filter(getattr(self.model, self.column_name) < bounds[1])


class RowScopeMixin:
    """Declared base filters plus the user's row scope, for a view or an API.

    FAB reads ``self._base_filters`` for lists, records, edits and deletes; making
    it per request puts the row scope (app.access.row_scope) on every route.
    """

    @property
    def _base_filters(self):
        from flask import has_request_context

        from .. import access

        declared = self.__dict__.get("_declared_base_filters")
        if declared is None:
            declared = self.datamodel.get_filters()
        condition = access.row_scope(self.datamodel.obj) if has_request_context() else None
        if condition is None:
            return declared
        filters = declared.copy()
        filters._add_filter(WhereFilter("id", self.datamodel), condition)
        return filters

    @_base_filters.setter
    def _base_filters(self, value):
        self._declared_base_filters = value
