"""The REST API's machinery: a ModelRestApi that answers through the access policy
(rows, hidden and masked fields), writes through its screen's rules, speaks the
user's language, and the OpenAPI document that says what it really answers."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from flask import current_app, request
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_appbuilder.const import API_FILTERS_RIS_KEY, API_ORDER_COLUMN_RIS_KEY
from flask_appbuilder.exceptions import InvalidColumnFilterFABException, InvalidOrderByColumnFABException
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import Markup
from marshmallow import ValidationError, fields, validate
from marshmallow_sqlalchemy.fields import Related
from sqlalchemy import Enum, func, select
from sqlalchemy.exc import DataError, IntegrityError

from .. import access, disclosure, formatting
from ..errors import Forbidden, ValidationFailed
from ..labels import COMMON_LABELS
from ..models import AccessAction, Customer, Order, column_limit, record_id
from . import lookups
from .datamodel import RowScopeMixin
from .errorpages import ERROR_MESSAGES

# Marshmallow's and FAB's API messages are English: each known one, in the user's
# language (an integrator reads them; a front end may show them as they are).
API_MESSAGES = (
    (re.compile(r"Missing data for required field\."), lambda m: _("Обязательное поле.")),
    (re.compile(r"Field may not be null\."), lambda m: _("Поле не может быть пустым.")),
    (
        re.compile(r"Longer than maximum length (\d+)\."),
        lambda m: _("Не длиннее %(max)s символов.", max=m[1]),
    ),
    (
        re.compile(r"Shorter than minimum length (\d+)\."),
        lambda m: _("Не короче %(min)s символов.", min=m[1]),
    ),
    (
        re.compile(r"Length must be between (\d+) and (\d+)\."),
        lambda m: _("Длина — от %(min)s до %(max)s символов.", min=m[1], max=m[2]),
    ),
    (re.compile(r"Not a valid (?:integer|number|decimal)\."), lambda m: _("Нужно число.")),
    (re.compile(r"Not a valid date\."), lambda m: _("Нужна дата в виде ГГГГ-ММ-ДД.")),
    (re.compile(r"Not a valid datetime\."), lambda m: _("Нужны дата и время в виде ГГГГ-ММ-ДДTЧЧ:ММ.")),
    (re.compile(r"Not a valid boolean\."), lambda m: _("Нужно true или false.")),
    (re.compile(r"Not a valid email address\."), lambda m: _("Неверный адрес эл. почты.")),
    (re.compile(r"Not a valid string\."), lambda m: _("Нужна строка.")),
    (re.compile(r"Unknown field\."), lambda m: _("Неизвестное поле.")),
    (re.compile(r"Must be one of: (.*)\."), lambda m: _("Допустимые значения: %(values)s.", values=m[1])),
    (re.compile(r"Arguments are not correct"), lambda m: str(ERROR_MESSAGES[400])),
    (
        re.compile(r"Not a valid rison argument"),
        lambda m: _("Параметр q не разобран: ожидается запись в формате Rison."),
    ),
    (re.compile(r"Could not process entity"), lambda m: _("Запись не сохранена: проверьте данные.")),
    (re.compile(r"Internal error|Fatal error"), lambda m: str(ERROR_MESSAGES[500])),
    (
        re.compile(r"Filter column: (.*) not allowed to filter"),
        lambda m: _("По полю %(field)s не фильтруют.", field=m[1]),
    ),
    (
        re.compile(r"Filter operation: (.*) not allowed on column: (.*)"),
        lambda m: _("Поле %(field)s не фильтруют операцией %(operation)s.", field=m[2], operation=m[1]),
    ),
    (
        re.compile(r"Invalid order by column: (.*)"),
        lambda m: _("По полю %(field)s не сортируют.", field=m[1]),
    ),
    (re.compile(r"Request is not JSON"), lambda m: _("Нужно тело запроса: объект JSON.")),
    (
        re.compile(r"Cannot use both select and sel columns"),
        lambda m: _("Укажите columns или select_columns, но не оба."),
    ),
    (
        re.compile(r"Not a valid rison/json argument|Not a valid rison schema.*", re.S),
        lambda m: _("Параметр q не разобран: ожидается запись в формате Rison."),
    ),
    (
        re.compile(r"Invalid input type\.|Invalid type\.|Not a valid mapping type\."),
        lambda m: _("Неверный тип значения."),
    ),
    (
        re.compile(r"Special numeric values \(nan or infinity\) are not permitted\."),
        lambda m: _("Нужно число."),
    ),
    (re.compile(r"Invalid value\.|Invalid enum (?:member|value) .*"), lambda m: _("Недопустимое значение.")),
    (re.compile(r"Not a valid list\."), lambda m: _("Нужен список.")),
)


def localized(message):
    """``message`` (a text, or marshmallow's dict or list of them) in the user's language."""
    if isinstance(message, dict):
        return {key: localized(value) for key, value in message.items()}
    if isinstance(message, list):
        return [localized(item) for item in message]
    if isinstance(message, str):
        for pattern, say in API_MESSAGES:
            found = pattern.fullmatch(message)
            if found:
                return say(found)
    return message


def plain(message) -> str:
    """A domain message as text (a duplicate's message links to the existing card)."""
    return message.striptags() if isinstance(message, Markup) else str(message)


# ---------------------------------------------------------------------------
# Fields: what the API sends and accepts, as its OpenAPI document says
# ---------------------------------------------------------------------------


class UtcDateTime(fields.DateTime):
    """A moment: stored as naive UTC, sent in UTC with its offset
    («2026-11-20T06:00:00+00:00»); a time sent without an offset is the clinic's
    (KARTOTEKA_TIMEZONE), as the screens read a typed time."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC, microsecond=0).isoformat()

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=formatting._zone(get_timezone()))
        try:
            return moment.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # a moment at the edge of the calendar, moved past it
            raise ValidationError(_("Нужны дата и время в виде ГГГГ-ММ-ДДTЧЧ:ММ.")) from None


class Amount(fields.Decimal):
    """An amount: a decimal string with its places («1500.00»), never a binary
    float; accepted as a string or a number."""


class ScopedRelated(Related):
    """A related record given by its id, accepted only within the user's rows
    (app.access.row_scope): one outside them answers as one that does not exist."""

    def _deserialize(self, value, *args, **kwargs):
        return scoped_record(self.session, self.related_model, value)


def scoped_record(session, model, value):
    """The record of ``model`` an id names, within the user's rows (app.access.row_scope);
    one outside them is refused as one that does not exist (a ValidationError)."""
    pk = value.get("id") if isinstance(value, dict) else value
    if isinstance(pk, bool) or not isinstance(pk, int):
        raise ValidationError(_("Нужен номер записи (целое число)."))
    found = None
    if record_id(pk) is not None:
        statement = select(model).where(model.id == pk)
        condition = access.row_scope(model)
        if condition is not None:
            statement = statement.where(condition)
        found = session.scalars(statement).first()
    if found is None:
        raise ValidationError(_("Запись №%(id)s не найдена.", id=pk))
    return found


def plain_text(value) -> None:
    """Text holds no control characters, as on the forms (app/admin/fields.py PlainText):
    PostgreSQL refused a NUL (500); a bell or an escape was stored and shown."""
    from ..records import control_character

    found = control_character(value)
    if found is not None:
        raise ValidationError(
            _("Текст содержит непечатаемый символ (код %(code)s): удалите его.", code=f"U+{ord(found):04X}")
        )


class PolicySchemaConverter(Model2SchemaConverter):
    """FAB's model-to-schema converter with the fields above, and the limits of
    the columns (a number the column cannot hold reached the database: 500)."""

    def _column2relation(self, datamodel, column, nested=False, parent_schema_name=None):
        if nested or not datamodel.is_relation_many_to_one(column.name):
            return super()._column2relation(datamodel, column, nested, parent_schema_name)
        required = not datamodel.is_nullable(column.name)
        field = ScopedRelated(required=required, allow_none=not required)
        field.unique = False
        return field

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        field = super()._column2field(datamodel, column, nested, parent_schema_name)
        table_column = getattr(datamodel.obj, "__table__", None)
        table_column = table_column.columns.get(column.name) if table_column is not None else None
        if type(field) is fields.DateTime:
            field.__class__ = UtcDateTime
        elif type(field) is fields.Decimal:
            field.__class__ = Amount
            field.as_string = True
            scale = getattr(getattr(table_column, "type", None), "scale", None) or 2
            field.places = Decimal(1).scaleb(-scale)
        if isinstance(field, fields.Enum) and table_column is not None and table_column.nullable:
            field.allow_none = True  # FAB's enum field refused null, and dumped it against its schema
        if isinstance(field, fields.String):
            field.validators.append(plain_text)
        limit = column_limit(table_column) if table_column is not None else None
        if limit is not None and isinstance(field, fields.Number):
            field.validators.append(
                validate.Range(
                    -limit, limit, error=_l("Число должно быть от %(min)s до %(max)s.", min=-limit, max=limit)
                )
            )
        return field


# ---------------------------------------------------------------------------
# The base of every resource
# ---------------------------------------------------------------------------


class PolicyApi(RowScopeMixin, ModelRestApi):
    """A ModelRestApi that answers through the one policy: rows (app.access.row_scope),
    fields (app/disclosure.py), the domain rules of the view it serves (its
    ``prepare``), and messages in the user's language."""

    method_permission_name = access.METHOD_PERMISSIONS
    model2schemaconverter = PolicySchemaConverter
    page_size = 20
    max_page_size = 100
    MAX_PAGE = 10**9  # × the page size still fits the OFFSET of SQLite and PostgreSQL (64 bits)
    allow_browser_login = True  # staff sessions; writes still need the CSRF token
    view = None  # the screen whose column labels, titles and rules the API shares
    # Texts the system stores in one language (app/labels.py STORED_LOCALE): column ->
    # the label that the screens show them through, in the reader's language.
    stored_texts: dict = {}
    RELATED_IDS = {"customer.id": _l("Клиент (ID)"), "specialist.id": _l("Специалист (ID)")}

    def __init__(self):
        view = self.view
        if view is not None:
            self.label_columns = {
                **COMMON_LABELS,
                **(view.label_columns or {}),
                **self.RELATED_IDS,
                **(self.label_columns or {}),
            }
            # a related record's id, named after the screen's label of the relation
            # (FAB's own label is English from the field name: «Order Id»)
            for column in {*(self.list_columns or ()), *(self.show_columns or ())}:
                relation = column.removesuffix(".id")
                if relation != column and column not in self.label_columns and relation in self.label_columns:
                    label = self.label_columns[relation]  # «ID» reads the same in every language
                    self.label_columns[column] = LazyString(lambda label=label: f"{label} (ID)")
            self.list_title = self.list_title or view.list_title
            self.show_title = self.show_title or view.show_title
            self.add_title = self.add_title or view.add_title
            self.edit_title = self.edit_title or view.edit_title
        super().__init__()

    def get_list_headless(self, **kwargs):
        """FAB's list, after checking what reached the database unchecked and answered
        500: a negative page (PostgreSQL refuses a negative OFFSET) and a value that
        is not one of a status column's (SQLAlchemy raised LookupError)."""
        args = kwargs.get("rison") or {}
        page = args.get("page")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 0):
            return self.response_400(message=_("Номер страницы — целое число от 0."))
        if page is not None and page > self.MAX_PAGE:  # its OFFSET overflowed the database's integer: 500
            return self.response_400(
                message=_("Номер страницы — целое число от 0 до %(max)s.", max=self.MAX_PAGE)
            )
        columns = self.datamodel.obj.__table__.columns
        for flt in args.get("filters") or []:
            column = columns.get(flt.get("col")) if isinstance(flt, dict) else None
            if column is None or not isinstance(column.type, Enum):
                continue
            values = flt.get("value")
            if any(
                str(v) not in column.type.enums for v in (values if isinstance(values, list) else [values])
            ):
                return self.response_400(
                    message=_(
                        "Поле %(field)s принимает значения: %(values)s.",
                        field=column.name,
                        values=", ".join(column.type.enums),
                    )
                )
        return super().get_list_headless(**kwargs)

    def _handle_order_args(self, rison_args):
        """FAB's, refusing an order by a value the user may not read (a passport
        number the front desk sees masked): sorted by it, a list places every
        stranger's value against one the user typed (bisection)."""
        order_column, order_direction = super()._handle_order_args(rison_args)
        asked = rison_args.get(API_ORDER_COLUMN_RIS_KEY)
        if asked and not access.column_readable(self.datamodel.obj, asked):
            raise InvalidOrderByColumnFABException(f"Invalid order by column: {asked}")
        return order_column, order_direction

    def _handle_filters_args(self, rison_args):
        """FAB's, refusing a filter on a value the user may not read: a filter
        answers which rows hold the value asked, a masked one included."""
        for flt in rison_args.get(API_FILTERS_RIS_KEY) or []:
            column = flt.get("col") if isinstance(flt, dict) else None
            if isinstance(column, str) and not access.column_readable(self.datamodel.obj, column):
                raise InvalidColumnFilterFABException(f"Filter column: {column} not allowed to filter")
        return super()._handle_filters_args(rison_args)

    def response_400(self, message=None):
        return super().response_400(message=localized(message or "Arguments are not correct"))

    def response_422(self, message=None):
        return super().response_422(message=localized(message or "Could not process entity"))

    def response_500(self, message=None):
        return super().response_500(message=localized(message or "Internal error"))

    def response_401(self):
        return self.response(401, message=_("Войдите в систему."))

    def response_403(self):
        return self.response(403, message=str(ERROR_MESSAGES[403]))

    def response_404(self):
        return self.response(404, message=_("Запись не найдена."))

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""  # FAB translates "", which gives the catalog's header
        return info

    def _get_list_related_field(self, field, filter_rel_field, page=None, page_size=None):
        """The choices of a relation in ``_info``: the rows the user may choose
        (FAB listed every customer, whoever asked), labelled as the forms label them."""
        model = self.datamodel.get_related_model(field.name)
        page, page_size = self._sanitize_page_args(page, page_size)
        # a negative page is the first, one past any OFFSET the database holds an empty one
        page = min(max(page or 0, 0), self.MAX_PAGE)
        statement = select(model)
        condition = access.row_scope(model)
        if condition is not None:
            statement = statement.where(condition)
        session = self.datamodel.session
        cap = current_app.config.get("KARTOTEKA_COUNT_CAP") or 0
        counted = statement.with_only_columns(model.id)
        if cap > 0:
            counted = counted.limit(cap + 1)
        count = session.scalar(select(func.count()).select_from(counted.subquery()))
        rows = session.scalars(statement.order_by(model.id.desc()).offset(page * page_size).limit(page_size))
        return count, [{"id": row.id, "value": related_label(row)} for row in rows]

    # -- what is sent: through the field policy ---------------------------------

    def pre_get(self, data):
        disclosure.row(self.datamodel.obj, data["result"], pk=data.get("id"))
        self._stored_texts_read([data["result"]])
        self.journal_read([data.get("id")])

    def pre_get_list(self, data):
        if "order_columns" in data:  # offered: the columns the user may sort by (_handle_order_args)
            model = self.datamodel.obj
            data["order_columns"] = [c for c in data["order_columns"] if access.column_readable(model, c)]
        disclosure.rows(self.datamodel.obj, data["result"], pks=data.get("ids"))
        self._stored_texts_read(data["result"])
        self.journal_read(data.get("ids") or [])

    def _stored_texts_read(self, rows) -> None:
        """A stored system text in the reader's language, as the screens show it: an
        English reader got «Срок бонусов истёк» where the page says «The bonuses have expired»."""
        for row in rows:
            for column, label in self.stored_texts.items():
                if isinstance(row, dict) and row.get(column):
                    row[column] = str(label(row[column]))

    def journal_read(self, pks) -> None:
        """An API read of a customer's records is a row of the access journal per
        customer read (the records are in the session already: no statement)."""
        model = self.datamodel.obj
        if model is not Customer and not hasattr(model, "customer_id"):
            return
        session = self.datamodel.session
        seen = []
        for pk in pks:
            item = session.get(model, pk) if pk is not None else None
            customer_id = pk if model is Customer else getattr(item, "customer_id", None)
            if customer_id is not None and customer_id not in seen:
                seen.append(customer_id)
                access.journal(customer_id, AccessAction.API_READ, detail=self.resource_name)

    # -- what is written: through the policy and the domain rules ---------------

    def prepare(self, item, is_new: bool) -> None:
        """The domain rules of the screen this API serves: its registered view's
        ``prepare``, so a rule is written once for the screen and the API."""
        if self.view is not None:
            self._screen().prepare(item, is_new)

    def _screen(self):
        return next(v for v in self.appbuilder.baseviews if type(v) is self.view)

    def _refuse_unwritable(self, payload, new: bool):
        model = self.datamodel.obj
        refused = [key for key in payload if not access.column_writable(model, key, new)]
        if refused:
            return self.response(
                403,
                message=_(
                    "Эти поля недоступны для изменения: %(fields)s.", fields=", ".join(sorted(refused))
                ),
            )
        return None

    def _payload(self, new: bool, payload=None):
        if payload is None:
            payload = request.get_json(silent=True) if request.is_json else None
        if not isinstance(payload, dict):
            return None, self.response_400(message=_("Нужно тело запроса: объект JSON."))
        return payload, self._refuse_unwritable(payload, new)

    # fields of a new record's body that are not its columns (a customer's consent):
    # taken out before the schema reads the body, checked by ``check_extra``
    extra_fields: tuple[str, ...] = ()

    def extra_field_schemas(self) -> dict:
        """The OpenAPI schemas of the extra fields (each one required)."""
        return {}

    def check_extra(self, extra: dict) -> dict:
        """Errors by field of the extra fields; raises Forbidden (403) when the user
        may not give them."""
        return {}

    def save_extra(self, item, extra: dict) -> None:
        """Store what the extra fields say, in the record's transaction."""

    def post_headless(self):
        payload = request.get_json(silent=True) if request.is_json else None
        extra = {}
        if isinstance(payload, dict):
            payload = dict(payload)
            extra = {name: payload.pop(name) for name in self.extra_fields if name in payload}
        payload, refused = self._payload(new=True, payload=payload)
        if refused is not None:
            return refused
        try:
            errors = self.check_extra(extra)
        except Forbidden as e:
            return self.response(403, message=" ".join(str(text) for text in e.errors.values()))
        try:
            item = self.add_model_schema.load(payload)
        except ValidationError as err:
            return self.response_422(message={**err.messages, **errors})
        if errors:
            self.datamodel.session.rollback()
            return self.response_422(message=errors)
        return self._save(item, is_new=True, extra=extra)

    def put_headless(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        payload, refused = self._payload(new=False)
        if refused is not None:
            return refused
        try:
            data = self._merge_update_item(item, dict(payload))
            with self.datamodel.session.no_autoflush:
                item = self.edit_model_schema.load(data, instance=item)
        except ValidationError as err:
            self.datamodel.session.rollback()
            return self.response_422(message=err.messages)
        return self._save(item, is_new=False)

    def _save(self, item, is_new: bool, extra=None):
        session = self.datamodel.session
        try:
            with session.no_autoflush:
                self.prepare(item, is_new)
            if is_new:
                session.add(item)
                self.save_extra(item, extra or {})
            session.commit()
        except ValidationFailed as e:
            session.rollback()
            return self.refused(e)
        except (IntegrityError, DataError):
            session.rollback()
            return self.response_422(
                message=_(
                    "Запись не сохранена: данные противоречат уже сохранённым или правилам. Проверьте поля."
                )
            )
        if is_new:
            self.post_add(item)
            schema, status, extra = self.add_model_schema, 201, {"id": item.id}
        else:
            self.post_update(item)
            schema, status, extra = self.edit_model_schema, 200, {}
        result = schema.dump(item, many=False)
        disclosure.row(self.datamodel.obj, result, pk=item.id)
        return self.response(status, result=result, **extra)

    def row_action(self, pk, act, *, say, related=None, texts=(), **rights):
        """A row action of the screen («Передать другому клиенту»), through the API: the
        record within the user's rows (404 outside them), a JSON object body (400),
        ``related`` fields given as ids (each looked up within the user's rows, as
        ``ScopedRelated`` does; left out: None, for the rule to refuse) and ``texts``
        fields as strings; then the screen's own rule, ``act(session, item, *values,
        **rights)``, committed. Its typed errors answer 403/422 by field, as a save's;
        done, 200 with ``say(item)`` and the record's id."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        payload = request.get_json(silent=True) if request.is_json else None
        if not isinstance(payload, dict):
            return self.response_400(message=_("Нужно тело запроса: объект JSON."))
        session, values, errors = self.datamodel.session, [], {}
        for name, model in (related or {}).items():
            value = payload.get(name)
            if value is None:
                values.append(None)
                continue
            try:
                values.append(scoped_record(session, model, value))
            except ValidationError as e:
                errors[name] = e.messages
        for name in texts:
            value = payload.get(name)
            try:
                if value is not None and not isinstance(value, str):
                    raise ValidationError(_("Нужен текст."))
                if value is not None:
                    plain_text(value)  # no control characters, as on the form
            except ValidationError as e:
                errors[name] = e.messages
            values.append(value)
        if errors:
            return self.response_422(message=errors)
        try:
            act(session, item, *values, **rights)
            session.commit()
        except ValidationFailed as e:
            session.rollback()
            return self.refused(e)
        return self.response(200, message=say(item), id=item.id)

    def refused(self, error: ValidationFailed):
        """A rule's typed refusal as the API answers it: its status (403/422), each
        message under its field («_schema» for the record as a whole), as plain text."""
        return self.response(
            error.status_code,
            message={(name or "_schema"): [plain(text)] for name, text in error.errors.items()},
        )

    def delete_headless(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        session = self.datamodel.session
        try:
            if self.view is not None:  # the screen's rule of what may not be deleted
                self._screen().pre_delete(item)
            session.delete(item)
            session.commit()
        except ValidationFailed as e:
            session.rollback()
            return self.refused(e)
        except (IntegrityError, DataError):
            session.rollback()
            return self.response_422(message=_("Запись не удалена: на неё ссылаются другие записи."))
        return self.response(200, message=_("Запись удалена."))


def related_label(row) -> str:
    """A related record as the forms' choices show it (a customer with the phone as
    the policy shows it)."""
    if isinstance(row, Customer):
        return lookups.customer_label(row)
    if isinstance(row, Order):
        return lookups.order_label(row)
    return str(row)
