"""REST API: each API shares its view's class_permission_name, row scope and field policy."""

from __future__ import annotations

from flask import request
from flask_appbuilder.api import ModelRestApi
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from . import access, views
from .datamodel import Interface, RowScopeMixin
from .models import Customer, CustomerDocument, MedicalRecord, Note, Order


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

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""  # FAB translates "", which gives the catalog's header
        return info

    def _policy(self, row: dict) -> dict:
        model = self.datamodel.obj
        for column in list(row):
            level = access.column_level(model, column)
            if level == access.HIDE:
                del row[column]
            elif level == access.MASK:
                row[column] = access.mask_value(row[column])
        return row

    def pre_get(self, data):
        self._policy(data["result"])

    def pre_get_list(self, data):
        for row in data["result"]:
            self._policy(row)

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
