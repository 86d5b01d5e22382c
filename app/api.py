"""REST API: each resource shares its screen's permission, row scope, field policy
and domain rules, and says so in its OpenAPI document (``/api/v1/_openapi``).

What it sends and accepts:

- moments in UTC with the offset («2026-11-20T06:00:00+00:00»); a moment sent
  without an offset is the clinic's (KARTOTEKA_TIMEZONE); dates as «2026-11-20»;
- amounts as decimal strings with their places («1500.00»), never binary floats;
- a relation (``customer``, ``specialist``…) as the related record's id; a record
  outside the user's rows is answered as one that does not exist;
- a masked field as the screens mask it («+7 *** ***-45-67»); a hidden one is left out;
- a text the system wrote (a bonus expiry's comment) in the user's language, as the
  screens show it (``stored_texts``); staff's own text as written;
- errors as ``{"message": text}`` in the user's language, 422 as
  ``{"message": {field: [texts]}}``: 401 signed out, 403 no permission (or a field
  the role may not write), 404 no such record within the user's rows, 422 refused
  by the rules.
"""

from __future__ import annotations

from flask_appbuilder.api import expose, protect, safe
from flask_babel import gettext as _

from . import access, certificates, consents, payments, views
from .admin.api import PolicyApi, related_label  # noqa: F401
from .admin.datamodel import Interface
from .models import (
    AccountOperation,
    Certificate,
    ConsentMethod,
    ConsentPurpose,
    Customer,
    CustomerDocument,
    MedicalRecord,
    Note,
    Order,
    Payment,
)


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
        "gender",
        "city",
        "service_comment",
    ]
    search_columns = ["last_name", "status", "registered_at"]
    order_columns = ["id", "last_name", "registered_at"]
    # a new customer comes with the consent to processing for treatment, as on the
    # registration form: how it was signed, «paper» (scan it into the files) or «screen»
    extra_fields = (consents.API_FIELD,)

    def extra_field_schemas(self):
        return {
            consents.API_FIELD: {
                "type": "string",
                "enum": [m.value for m in ConsentMethod],
                "description": _(
                    "Согласие на обработку персональных данных для лечения: как подписано "
                    "(paper — на бумаге, скан загрузите в файлы клиента; screen — на экране)."
                ),
            }
        }

    def check_extra(self, extra):
        may_take = access.may("can_write", access.PROCESSING)
        return consents.api_treatment_errors(extra.get(consents.API_FIELD), may_take=may_take)

    def save_extra(self, item, extra):
        consents.record(
            self.datamodel.session,
            item,
            ConsentPurpose.TREATMENT,
            given=True,
            method=extra[consents.API_FIELD],
        )


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
        "comment",
    ]
    search_columns = ["customer", "status"]
    # the total comes from the order's items; «Оплачено» and the payment status from
    # the order's payments (/api/v1/payments/, app/payments.py), never sent
    add_columns = ["customer", "kind", "branch", "specialist", "visit_at", "comment"]
    edit_columns = [*add_columns, "status"]


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
    add_columns = edit_columns = [
        "customer",
        "kind",
        "series",
        "number",
        "issued_by",
        "issue_date",
        "division_code",
        "address",
        "citizenship",
    ]


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


class PaymentApi(PolicyApi):
    """Payments are taken and read; never changed or deleted (a mistake is reversed on the screen)."""

    view = views.PaymentView
    resource_name = "payments"
    class_permission_name = access.PAYMENTS
    datamodel = Interface(Payment)
    include_route_methods = {"get", "get_list", "info", "post"}
    list_columns = show_columns = [
        "id",
        "order.id",
        "customer.id",
        "amount",
        "method",
        "paid_at",
        "comment",
        "reverses.id",
        "refund_of.id",
        "certificate.id",
        "created_on",
    ]
    # paid «сертификатом»: ``certificate`` is the certificate's id (one of the order's customer)
    add_columns = ["order", "amount", "method", "certificate", "paid_at", "comment"]
    search_columns = ["order", "customer", "method"]


class AccountOperationApi(PolicyApi):
    """A customer's deposit and bonus operations: written and read, never changed."""

    view = views.AccountOperationView
    resource_name = "account-operations"
    class_permission_name = access.ACCOUNTS
    datamodel = Interface(AccountOperation)
    include_route_methods = {"get", "get_list", "info", "post"}
    list_columns = show_columns = [
        "id",
        "customer.id",
        "account",
        "kind",
        "amount",
        "payment.id",
        "comment",
        "expires_at",
        "created_on",
    ]
    add_columns = ["customer", "account", "kind", "amount", "comment"]
    search_columns = ["customer", "account"]
    stored_texts = {"comment": payments.comment_label}  # as the screen (a system comment)


class CertificateApi(PolicyApi):
    """Certificates and subscriptions: sold (posted) and read, never changed or deleted."""

    view = views.CertificateView
    resource_name = "certificates"
    class_permission_name = access.CERTIFICATES
    datamodel = Interface(Certificate)
    include_route_methods = {"get", "get_list", "info", "post", "give_certificate"}
    list_columns = show_columns = [
        "id",
        "code",
        "customer.id",
        "kind.id",
        "type",
        "price",
        "method",
        "sold_at",
        "valid_until",
        "balance",
        "visits_left",
        "amount",
        "visits_total",
        "cancelled_at",
        "comment",
        "created_on",
    ]
    add_columns = ["customer", "kind", "method", "comment"]
    search_columns = ["customer", "code"]

    @expose("/<int:pk>/give", methods=["POST"])
    @protect()
    @safe
    def give_certificate(self, pk):
        """«Передать другому клиенту» (the right to sell), by the screen's rule
        ---
        post:
          description: >-
            Pass the certificate or subscription to another customer (a present): its
            money or visits, expiry and services stay; both customers are told.
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    recipient:
                      type: integer
                      description: The id of the customer it is passed to
                    comment:
                      type: string
                      nullable: true
                  required:
                  - recipient
          responses:
            200:
              description: Passed
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      message:
                        type: string
                      id:
                        type: integer
        """
        return self.row_action(
            pk,
            certificates.give,
            say=certificates.passed_message,
            related={"recipient": Customer},
            texts=("comment",),
            may_sell=access.may_sell(),
        )


APIS = (
    CustomerApi,
    OrderApi,
    NoteApi,
    DocumentApi,
    MedicalRecordApi,
    PaymentApi,
    AccountOperationApi,
    CertificateApi,
)
