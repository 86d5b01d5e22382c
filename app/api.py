"""REST API: each API shares its view's class_permission_name, row scope and field policy."""

from __future__ import annotations

import re

from flask import request
from flask_appbuilder.api import ModelRestApi
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Enum

from . import access, disclosure, views
from .datamodel import Interface, RowScopeMixin
from .models import Customer, CustomerDocument, MedicalRecord, Note, Order

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
    (re.compile(r"Arguments are not correct"), lambda m: str(views.ERROR_MESSAGES[400])),
    (
        re.compile(r"Not a valid rison argument"),
        lambda m: _("Параметр q не разобран: ожидается запись в формате Rison."),
    ),
    (re.compile(r"Could not process entity"), lambda m: _("Запись не сохранена: проверьте данные.")),
    (re.compile(r"Internal error"), lambda m: str(views.ERROR_MESSAGES[500])),
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


class PolicyApi(RowScopeMixin, ModelRestApi):
    """A ModelRestApi that answers through app.access: rows, hidden and masked fields."""

    method_permission_name = access.METHOD_PERMISSIONS
    page_size = 20
    max_page_size = 100
    allow_browser_login = True  # staff sessions; writes still need the CSRF token
    view = None  # the screen whose column labels and titles the API gives
    RELATED_IDS = {"customer.id": _l("Клиент (ID)"), "specialist.id": _l("Специалист (ID)")}

    def __init__(self):
        view = self.view
        if view is not None:
            self.label_columns = {
                **views.COMMON_LABELS,
                **(view.label_columns or {}),
                **self.RELATED_IDS,
                **(self.label_columns or {}),
            }
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

    def response_400(self, message=None):
        return super().response_400(message=localized(message or "Arguments are not correct"))

    def response_422(self, message=None):
        return super().response_422(message=localized(message or "Could not process entity"))

    def response_500(self, message=None):
        return super().response_500(message=localized(message or "Internal error"))

    def response_401(self):
        return self.response(401, message=_("Войдите в систему."))

    def response_403(self):
        return self.response(403, message=str(views.ERROR_MESSAGES[403]))

    def response_404(self):
        return self.response(404, message=_("Запись не найдена."))

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""  # FAB translates "", which gives the catalog's header
        return info

    def pre_get(self, data):
        disclosure.row(self.datamodel.obj, data["result"], pk=data.get("id"))

    def pre_get_list(self, data):
        disclosure.rows(self.datamodel.obj, data["result"], pks=data.get("ids"))

    def _refuse_unwritable(self):
        payload = request.get_json(silent=True) or {}
        model = self.datamodel.obj
        refused = [key for key in payload if access.column_level(model, key) != access.WRITE]
        if refused:
            return self.response(
                403,
                message=_(
                    "Эти поля недоступны для изменения: %(fields)s.", fields=", ".join(sorted(refused))
                ),
            )
        return None

    def post_headless(self):
        return self._refuse_unwritable() or super().post_headless()

    def put_headless(self, pk):
        return self._refuse_unwritable() or super().put_headless(pk)


class CustomerApi(PolicyApi):
    view = views.CustomerView
    resource_name = "customers"
    class_permission_name = access.CUSTOMERS
    datamodel = Interface(Customer)
    list_columns = [
        "id",
        "last_name",
        "first_name",
        "middle_name",
        "phone",
        "email",
        "status",
        "registered_at",
        "last_visit_at",
    ]
    show_columns = [*list_columns, "birth_date", "gender", "city", "discount", "service_comment"]
    add_columns = edit_columns = [
        "last_name",
        "first_name",
        "middle_name",
        "phone",
        "email",
        "birth_date",
        "city",
        "service_comment",
    ]
    search_columns = ["last_name", "status", "registered_at"]
    order_columns = ["id", "last_name", "registered_at"]


class OrderApi(PolicyApi):
    view = views.OrderView
    resource_name = "orders"
    class_permission_name = access.ORDERS
    datamodel = Interface(Order)
    list_columns = show_columns = [
        "id",
        "customer.id",
        "kind",
        "status",
        "payment_status",
        "total",
        "paid",
        "visit_at",
        "specialist.id",
    ]
    search_columns = ["customer", "status"]
    add_columns = edit_columns = ["comment"]


class NoteApi(PolicyApi):
    view = views.NoteView
    resource_name = "notes"
    class_permission_name = access.NOTES
    datamodel = Interface(Note)
    list_columns = show_columns = ["id", "customer.id", "text", "pinned", "created_on"]
    add_columns = ["customer", "text", "pinned"]
    edit_columns = ["text", "pinned"]
    search_columns = ["customer"]


class DocumentApi(PolicyApi):
    view = views.CustomerDocumentView
    resource_name = "documents"
    class_permission_name = access.DOCUMENTS
    datamodel = Interface(CustomerDocument)
    list_columns = show_columns = ["id", "customer.id", "kind", "series", "number", "issue_date"]
    search_columns = ["customer"]
    add_columns = edit_columns = ["issued_by"]


class MedicalRecordApi(PolicyApi):
    view = views.MedicalRecordView
    resource_name = "anamnesis"
    class_permission_name = access.ANAMNESIS
    datamodel = Interface(MedicalRecord)
    list_columns = show_columns = [
        "id",
        "customer.id",
        "allergies",
        "conditions",
        "medications",
        "contraindications",
        "text",
    ]
    search_columns = ["customer"]
    add_columns = ["customer", "allergies", "conditions", "medications", "contraindications", "text"]
    edit_columns = ["allergies", "conditions", "medications", "contraindications", "text"]


APIS = (CustomerApi, OrderApi, NoteApi, DocumentApi, MedicalRecordApi)
