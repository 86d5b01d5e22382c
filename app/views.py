"""Flask-AppBuilder views: declarations of columns, labels, filters and tabs.

Logic lives in the domain modules (customers, orders, documents); the base
class below calls them through one ``prepare()`` hook and turns their typed
errors into form errors, keeping what the user typed.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from flask import (
    g,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask_appbuilder import IndexView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy.orm import joinedload, undefer
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from . import (
    access,
    certificates,
    consents,
    customers,
    documents,
    formatting,
    logins,
    models,
    notifications,
    orders,
    payments,
    records,
    subjects,
)
from .admin import lookups, sessions
from .admin.base import KartotekaModelView, bulk_action
from .admin.card import CustomerCardView, CustomerTab, status_action
from .admin.datamodel import (
    ConditionFilter,
    FilterDayEqual,
    FilterDayFrom,
    FilterDayTo,
    Interface,
    ListColumn,
)
from .admin.fields import (
    LabeledEnumField,
    LocalDateTimeField,
    LocalDecimalField,
)
from .admin.files import (
    FileViewBase,
    category_action,
    download_link,
    export_link,
    file_cell,
    retention_list_link,
)
from .admin.history import FilterAfterLastDeletion, HistoryView
from .admin.links import card_link, related_label, related_subject, subject_link
from .admin.money import AccountScreen, CertificateScreen, PaymentScreen, owing, pay_link
from .admin.queue import NotificationQueueView
from .extensions import db
from .models import (
    AccessLog,
    AccountOperation,
    Branch,
    CatalogItem,
    Certificate,
    CertificateKind,
    CertificateOperation,
    ChangeLog,
    ConsentText,
    Customer,
    CustomerAttribute,
    CustomerCategory,
    CustomerDocument,
    CustomerFile,
    CustomerStatus,
    CustomerType,
    FileCategory,
    LoginThrottle,
    MedicalRecord,
    Message,
    MessageAttempt,
    MessageTemplate,
    MessageType,
    MoneyRules,
    Note,
    NotificationConsent,
    OperationKind,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    ProcessingConsent,
    RetentionReview,
    Return,
    Review,
    SubjectRequest,
    Tag,
    ThrottleKind,
    UserSession,
    utcnow,
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
    formatters_columns = {"phone": formatting.phone}

    def prepare(self, item, is_new):
        customers.prepare_branch(item)


class CategoryView(ReferenceView):
    datamodel = Interface(CustomerCategory)
    list_title = _l("Категории клиентов")
    show_title = add_title = edit_title = _l("Категория клиентов")
    label_columns = {"discount": _l("Скидка, %"), "bonus_percent": _l("Бонусы с оплаты, %")}
    list_columns = add_columns = edit_columns = show_columns = ["name", "discount", "bonus_percent"]
    search_columns = ["name"]
    base_order = ("name", "asc")

    def prepare(self, item, is_new):
        customers.prepare_category(item)
        payments.check_percent(item)


class MoneyRulesView(ReferenceView):
    """«Правила расчётов»: one row the administrator edits (how discounts combine)."""

    datamodel = Interface(MoneyRules)
    exclude_route_methods = {"add", "delete"}
    list_title = _l("Правила расчётов")
    show_title = edit_title = record_label = _l("Правила расчётов")
    label_columns = {"discount_rule": _l("Скидка позиции заказа"), "changed_by": _l("Кто изменил")}
    list_columns = ["discount_rule", "changed_on", "changed_by"]
    edit_columns = ["discount_rule"]
    show_columns = ["discount_rule", "changed_on", "changed_by"]
    description_columns = {
        "discount_rule": _l(
            "Как из скидки клиента и скидки его категории получается скидка новой позиции заказа; "
            "уже оформленные позиции не меняются"
        )
    }
    search_columns = []

    def the_one_row(self) -> None:
        """The row made if it went missing, before the list or its export reads it (the
        export of a clinic whose row was lost said nothing until the list was opened)."""
        if orders.money_rules(db.session) in db.session.new:
            db.session.commit()

    @expose("/list/")
    @has_access
    def list(self):
        self.the_one_row()
        return super().list()

    def export_as(self, kind):
        self.the_one_row()
        return super().export_as(kind)


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

    def prepare(self, item, is_new):
        orders.prepare_catalog_item(item)


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
    "payment_status": _l("Статус оплаты"),
    "total": _l("Итого"),
    "paid": _l("Оплачено"),
    "refunded": _l("Возвращено по возвратам"),
    "completed_at": _l("Когда выполнен"),
    "debt": _l("Долг"),
    "items": _l("Позиции"),
    "pay": _l("Оплата"),
    "services": _l("Услуги и товары"),
    "items_discount": _l("Скидка"),
}

PAYMENT_LABELS = {
    "order": _l("Заказ"),
    "amount": _l("Сумма"),
    "method": _l("Способ оплаты"),
    "how": _l("Способ оплаты"),
    "paid_at": _l("Когда"),
    "comment": _l("Комментарий"),
    "kind": _l("Операция"),
    "created_by": _l("Кто принял"),
    "reverses": _l("Сторнирует платёж"),
    "refund_of": _l("Возврат"),
    "certificate": _l("Сертификат или абонемент"),
    "certificate_code": _l("Номер сертификата или абонемента"),
}


class PaymentView(PaymentScreen):
    """«Платежи»: money received for orders and given back; «Принять оплату» is its form.
    Never edited or deleted: a mistake is reversed (PaymentScreen, app/payments.py)."""

    card_tab = "payments"

    class_permission_name = access.PAYMENTS
    datamodel = Interface(
        Payment,
        eager=[joinedload(Payment.customer), joinedload(Payment.order), joinedload(Payment.created_by)],
    )
    list_title = _l("Платежи")
    show_title = record_label = _l("Платёж")
    add_title = _l("Принять оплату")
    label_columns = PAYMENT_LABELS
    # «Способ оплаты» is ``how``: a cancelled certificate's payment given back reads what
    # went on the deposit, both where the list reads values (list_sql) and where it or the
    # export reads the payments themselves (Payment.how); sorted by the stored method
    list_columns = ["paid_at", "customer", "order", "kind", "how", "amount", "created_by", "comment"]
    list_sql = {
        "kind": ListColumn(Payment.return_id, Payment.reverses_id, read=models.payment_kind),
        "how": ListColumn(
            Payment.method, Payment.amount, payments.put_on_account(), read=payments.method_label
        ),
    }
    order_columns = ["paid_at", "method", "amount", "comment"]
    order_aliases = {"how": "method"}
    add_columns = ["order", "amount", "method", "certificate_code", "paid_at", "comment"]
    add_form_extra_fields = {
        "paid_at": LocalDateTimeField(_l("Когда"), validators=[Optional()], description=_l("Пусто — сейчас")),
        "certificate_code": StringField(
            _l("Номер сертификата или абонемента"),
            validators=[Optional(), Length(max=20)],
            description=_l("Для оплаты сертификатом: номер, который назвал клиент"),
            render_kw={"class": "form-control"},  # a bare box beside the form's others
        ),
    }
    show_columns = [
        "id",
        "customer",
        "order",
        "kind",
        "how",
        "amount",
        "paid_at",
        "created_by",
        "comment",
        "reverses",
        "refund_of",
        "certificate",
        "created_on",
    ]
    search_columns = ["customer", "method", "paid_at"]
    custom_filters = {"paid_at": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("id", "desc")


class PaymentTab(PaymentView):
    list_columns = ["paid_at", "order", "kind", "how", "amount", "created_by", "comment"]


class OrderPaymentTab(PaymentView):
    list_columns = ["paid_at", "kind", "how", "amount", "created_by", "comment"]


class ReturnRefundTab(PaymentView):
    """A return's refunds on its page: each part given back (bonuses, the deposit, a
    certificate, a subscription's visit, money), for the roles that read payments. They
    are written by the return reaching «Деньги возвращены», never added here."""

    exclude_route_methods = {"add", "edit", "delete"}
    list_title = _l("Возвраты денег")
    label_columns = {**PAYMENT_LABELS, "how": _l("Способ возврата"), "created_by": _l("Кто провёл")}
    list_columns = ["paid_at", "how", "certificate", "amount", "created_by"]
    base_order = ("id", "asc")


ACCOUNT_LABELS = {
    "closed_at": _l("Сгорание учтено"),
    "account": _l("Счёт"),
    "kind": _l("Операция"),
    "amount": _l("Сумма"),
    "payment": _l("Платёж"),
    "comment": _l("Причина или комментарий"),
    "expires_at": _l("Сгорает"),
    "created_by": _l("Кто провёл"),
    "created_on": _l("Когда"),
    "linked": _l("Связанная операция (перевод или отменённое начисление)"),
}


class AccountOperationView(AccountScreen):
    """«Счета»: the deposit's and the bonuses' operations; the balance is their sum."""

    card_tab = "accounts"

    class_permission_name = access.ACCOUNTS
    datamodel = Interface(
        AccountOperation,
        eager=[joinedload(AccountOperation.customer), joinedload(AccountOperation.created_by)],
    )
    list_title = _l("Операции по счетам")
    show_title = add_title = record_label = _l("Операция по счёту")
    label_columns = ACCOUNT_LABELS
    list_columns = ["created_on", "customer", "account", "kind", "amount", "payment", "created_by", "comment"]
    add_columns = ["customer", "account", "kind", "amount", "comment"]
    # a system comment in the reader's language (app/payments.py SYSTEM_COMMENTS)
    formatters_columns = {"comment": payments.comment_label}
    add_form_extra_fields = {
        # what staff may type (app/payments.py MANUAL_KINDS): the form offered all twelve
        # kinds, «Оплата заказа», «Сгорание» and the transfers among them, each refused
        "kind": LabeledEnumField(
            OperationKind,
            _l("Операция"),
            validators=[InputRequired()],
            members=payments.manual_kinds(),
        )
    }
    show_columns = [
        "id",
        "customer",
        "account",
        "kind",
        "amount",
        "payment",
        "linked",
        "expires_at",
        "comment",
        "created_by",
        "created_on",
    ]
    description_columns = {
        "kind": _l(
            "Пополнение — деньги получены; возврат на счёт и списание — только управляющий, с причиной; "
            "остаток на начало учёта — только управляющий, один раз, до первой операции по счёту"
        )
    }
    search_columns = ["customer", "account", "kind", "created_on"]
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("id", "desc")


class AccountOperationTab(AccountOperationView):
    list_columns = ["created_on", "account", "kind", "amount", "payment", "created_by", "comment"]


CERTIFICATE_LABELS = {
    "code": _l("Номер"),
    "kind": _l("Вид"),
    "type": _l("Тип"),
    "price": _l("Цена"),
    "method": _l("Способ оплаты"),
    "sold_at": _l("Продан"),
    "valid_until": _l("Действует до"),
    "left": _l("Остаток"),
    "balance": _l("Остаток суммы"),
    "visits_left": _l("Осталось визитов"),
    "state": _l("Состояние"),
    "created_by": _l("Кто продал"),
    "comment": _l("Комментарий"),
    "amount": _l("Номинал"),
    "visits_total": _l("Визитов"),
    "services": _l("Услуги"),
    "cancelled_at": _l("Аннулирован"),
    "buyer": _l("Покупатель"),
}


class CertificateKindView(ReferenceView):
    """«Виды сертификатов и абонементов»: the administrator's and the manager's."""

    datamodel = Interface(CertificateKind)
    list_title = _l("Виды сертификатов и абонементов")
    show_title = add_title = edit_title = _l("Вид сертификата или абонемента")
    label_columns = {
        "type": _l("Тип"),
        "price": _l("Цена"),
        "amount": _l("Номинал"),
        "nominal": _l("Номинал"),
        "visits": _l("Визитов"),
        "services": _l("Услуги"),
        "valid_days": _l("Действует, дней"),
        "active": _l("Продаётся"),
    }
    description_columns = {
        "amount": _l("Сертификат на сумму: сколько им можно оплатить; пусто — равен цене"),
        "visits": _l("Абонемент: сколько визитов в нём"),
        "services": _l("Абонемент: на какие услуги визиты; сертификат: пусто — на любые"),
    }
    # «Номинал» left blank is the price (certificates.nominal): shown as such, not blank
    list_columns = ["name", "type", "price", "nominal", "visits", "valid_days", "active"]
    list_sql = {
        "nominal": ListColumn(
            CertificateKind.type, CertificateKind.price, CertificateKind.amount, read=formatting.kind_nominal
        )
    }
    add_columns = edit_columns = [
        "name",
        "type",
        "price",
        "amount",
        "visits",
        "services",
        "valid_days",
        "active",
    ]
    show_columns = ["name", "type", "price", "nominal", "visits", "services", "valid_days", "active"]
    search_columns = ["name", "type", "active"]
    base_order = ("name", "asc")

    def prepare(self, item, is_new):
        certificates.check_kind(item)


class CertificateOperationTab(KartotekaModelView):
    """A certificate's operations: its sale, the payments from it, what came back."""

    class_permission_name = access.CERTIFICATES
    datamodel = Interface(CertificateOperation, eager=[joinedload(CertificateOperation.created_by)])
    exclude_route_methods = {"add", "edit", "delete"}
    list_title = show_title = _l("Операции по сертификату")
    record_label = _l("Операция по сертификату")
    label_columns = {
        "certificate": _l("Сертификат или абонемент"),
        "kind": _l("Операция"),
        "amount": _l("Сумма"),
        "visits": _l("Визиты"),
        "payment": _l("Платёж"),
        "comment": _l("Комментарий"),
        "created_by": _l("Кто провёл"),
        "created_on": _l("Когда"),
    }
    list_columns = show_columns = [
        "created_on",
        "kind",
        "amount",
        "visits",
        "payment",
        "created_by",
        "comment",
    ]
    base_order = ("id", "desc")


class CertificateView(CertificateScreen):
    """«Сертификаты и абонементы»: sold to customers; the add form is the sale."""

    class_permission_name = access.CERTIFICATES
    datamodel = Interface(
        Certificate,
        eager=[
            joinedload(Certificate.customer),
            joinedload(Certificate.buyer),
            joinedload(Certificate.kind),
            joinedload(Certificate.created_by),
        ],
    )
    list_title = _l("Сертификаты и абонементы")
    show_title = record_label = _l("Сертификат или абонемент")
    add_title = _l("Продать сертификат или абонемент")
    label_columns = CERTIFICATE_LABELS
    related_views = [CertificateOperationTab]
    list_columns = ["code", "customer", "kind", "sold_at", "valid_until", "left", "state", "created_by"]
    list_sql = {
        # Certificate.left: «3 визита из 5»
        "left": ListColumn(
            Certificate.type,
            Certificate.balance,
            Certificate.visits_left,
            Certificate.visits_total,
            read=formatting.certificate_left,
        ),
        "state": ListColumn(
            Certificate.valid_until,
            Certificate.balance,
            Certificate.visits_left,
            Certificate.cancelled_at,
            read=lambda *values: str(models.certificate_state(*values)),
        ),
    }
    # the CSV: «Остаток» («1 500,00 ₽» or «3 визита из 5») as two number columns a
    # spreadsheet sums, the money left and the visits left, each blank where not its kind
    export_expands = {"left": ("balance", "visits_left")}
    order_columns = ["code", "sold_at", "valid_until"]
    add_columns = ["customer", "kind", "method", "comment"]
    add_form_extra_fields = {
        # a sale is paid in money or from the deposit (app/certificates.py SALE_METHODS)
        "method": LabeledEnumField(
            PaymentMethod,
            _l("Способ оплаты"),
            validators=[InputRequired()],
            members=certificates.SALE_METHODS,
            description=_l("Наличные, карта, перевод или с депозита клиента"),
        )
    }
    show_columns = [
        "code",
        "customer",
        "buyer",
        "kind",
        "type",
        "price",
        "amount",
        "visits_total",
        "services",
        "method",
        "sold_at",
        "valid_until",
        "left",
        "state",
        "cancelled_at",
        "created_by",
        "comment",
    ]
    search_columns = ["customer", "code", "type", "sold_at", "valid_until"]
    custom_filters = {
        "sold_at": [FilterDayEqual, FilterDayFrom, FilterDayTo],
        "valid_until": [FilterDayEqual, FilterDayFrom, FilterDayTo],
    }
    choice_conditions = {"kind": lambda model: model.active.is_(True)}
    base_order = ("id", "desc")
    # a present passed to the friend it was bought for (app/certificates.py give)
    row_routes = (("give_certificate", "fa-share", _l("Передать другому клиенту")),)


class CertificateTab(CertificateView):
    list_columns = ["code", "kind", "sold_at", "valid_until", "left", "state", "created_by"]
    # the kind by its name (CertificateKind.__str__) read as plain values, as the card's
    # other tabs are: loading the certificates as objects was ~500 Python calls a card
    list_sql = {
        **CertificateView.list_sql,
        "kind": related_label(CertificateKind, "name", read=lambda pk, name: name)(Certificate.kind),
    }


class OrderItemView(KartotekaModelView):
    class_permission_name = access.ORDERS
    datamodel = Interface(OrderItem, eager=[joinedload(OrderItem.catalog_item)])
    list_title = _l("Позиции заказа")
    show_title = add_title = edit_title = _l("Позиция заказа")
    label_columns = {
        "catalog_item": _l("Услуга или товар"),
        "name": _l("Наименование"),
        "discount": _l("Скидка, %"),
    }
    list_columns = ["name", "quantity", "price", "discount", "amount"]
    add_columns = edit_columns = ["order", "catalog_item", "quantity", "price", "manual_discount"]
    add_form_extra_fields = edit_form_extra_fields = {
        "price": LocalDecimalField(
            _l("Цена"), validators=[Optional()], description=_l("Пусто — цена из каталога")
        ),
        # a discount given by hand: the manager's right (access.DISCOUNT), shown to them only
        "manual_discount": LocalDecimalField(
            _l("Скидка вручную, %"),
            validators=[
                Optional(),
                NumberRange(min=0, max=100, message=_l("Скидка — от 0 до 100 процентов.")),
            ],
            description=_l("Пусто — скидка клиента по правилу расчётов"),
        ),
    }
    right_fields = {"manual_discount": access.DISCOUNT}
    show_columns = ["order", "catalog_item", "name", "quantity", "price", "discount", "amount"]
    search_columns = ["name"]

    def prepare(self, item, is_new):
        orders.prepare_order_item(
            self.datamodel.session,
            item,
            manual_discount=item.typed_discount,
            may_discount=access.may_discount(),
        )


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
    related_views = [OrderItemView, OrderPaymentTab]
    # its conditions: the address's filters (the card's tab: its payment filter) and the row scope
    keep_list_statements = True
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
    list_sql = {"debt": ListColumn(Order.total, Order.paid, Order.status, Order.refunded, read=models.debt)}
    add_columns = [
        "customer",
        "kind",
        "branch",
        "specialist",
        "visit_at",
        "comment",
    ]
    edit_columns = [
        "customer",
        "kind",
        "branch",
        "specialist",
        "visit_at",
        "status",
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
        "customer",  # by number (a link's ``_flt_0_customer=42``) or typed (name, phone)
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

    def pre_delete(self, item):
        payments.check_deletable(self.datamodel.session, item)

    @expose("/lookup")
    @has_access
    def lookup(self):
        """Choices for an order field as the user types: a number or the customer
        (or, on a customer's card, that customer's orders)."""
        return jsonify(results=lookups.order_choices(request.args))


class OrderTab(OrderView):
    """The card's «Заказы»: the visit's date and time, what was booked, the discount, the
    total, paid and debt; an owing row is highlighted; filtered by payment (?payment=)."""

    datamodel = Interface(
        Order,
        eager=[
            joinedload(Order.specialist),
            joinedload(Order.branch),
            undefer(Order.services),
            undefer(Order.items_discount),
        ],
    )
    list_columns = [
        "id",
        "created_on",
        "kind",
        "visit_at",
        "services",
        "specialist",
        "branch",
        "status",
        "payment_status",
        "items_discount",
        "total",
        "paid",
        "debt",
        "pay",
    ]
    formatters_columns = {
        **OrderView.formatters_columns,
        "pay": pay_link,
        "items_discount": formatting.percent,
    }
    list_sql = {
        **OrderView.list_sql,
        "pay": ListColumn(Order.id, Order.total, Order.paid, Order.status, Order.refunded, read=owing),
    }
    export_excludes = ("pay",)  # a button: its value is the order's number
    order_columns = [
        "id",
        "created_on",
        "kind",
        "visit_at",
        "status",
        "payment_status",
        "total",
        "paid",
        "debt",
    ]

    def list_conditions(self):
        return [orders.payment_condition(request.args.get("payment"))]

    @staticmethod
    def row_class(values) -> str | None:
        debt = values.get("debt")
        return "danger kartoteka-owes" if isinstance(debt, Decimal) and debt > 0 else None


class ReturnView(KartotekaModelView):
    class_permission_name = access.RETURNS
    datamodel = Interface(Return, eager=[joinedload(Return.customer), joinedload(Return.order)])
    related_views = [ReturnRefundTab]
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
    search_columns = ["customer", "status", "created_on"]
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("id", "desc")

    def prepare(self, item, is_new):
        card = lookups.card_customer() if is_new else None
        orders.prepare_return(self.datamodel.session, item, card_customer_id=card)

    def edited_message(self, item):
        return orders.refund_message(item) or super().edited_message(item)

    def pre_delete(self, item):
        payments.check_deletable(self.datamodel.session, item)


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
    search_columns = ["customer", "rating", "moderation_status", "specialist"]
    choice_conditions = {"specialist": partial(access.users_with, access.SPECIALIST)}
    base_order = ("id", "desc")

    def prepare(self, item, is_new):
        orders.prepare_review(self.datamodel.session, item, is_new)


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
    search_columns = ["customer", "pinned"]
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
    search_columns = ["customer", "created_on"]
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("created_on", "desc")

    required_any = fields  # an empty record is refused (the doctor may not delete it)

    def prepare(self, item, is_new):
        subjects.check_not_held(self.datamodel.session, item)
        records.require_any(item, self.required_any, _("Запись анамнеза пуста: заполните хотя бы одно поле."))

    def pre_delete(self, item):
        subjects.check_not_held(self.datamodel.session, item)

    def check_form_opens(self, item):
        subjects.check_not_held(self.datamodel.session, item)


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


class ChangeLogView(HistoryView):
    """«История изменений»: read-only; values of protected fields follow the field policy."""

    class_permission_name = access.HISTORY
    datamodel = Interface(ChangeLog, eager=[joinedload(ChangeLog.user), joinedload(ChangeLog.customer)])
    base_permissions = ["can_read", "can_export"]  # the auditor's extract (access.ROLES)
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
    search_columns = ["customer", "user", "entity", "at"]
    custom_filters = {"at": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("at", "desc")


class ChangeLogTab(ChangeLogView):
    list_columns = ["at", "user", "entity", "entity_id", "action", "field", "old_value", "new_value"]
    base_filters = [["id", FilterAfterLastDeletion, None]]


class AccessLogView(KartotekaModelView):
    """The personal-data access journal (152-FZ): read-only for the auditor, and
    append-only for everyone: no screen, route or API edits or deletes a row."""

    class_permission_name = access.JOURNAL
    datamodel = Interface(AccessLog, eager=[joinedload(AccessLog.user), joinedload(AccessLog.customer)])
    base_permissions = ["can_read", "can_export"]  # the auditor's extract (access.ROLES)
    exclude_route_methods = {"add", "edit", "delete", "action", "action_post", "download"}
    list_title = show_title = _l("Журнал доступа")
    label_columns = {
        "at": _l("Когда"),
        "user": _l("Сотрудник"),
        "action": _l("Действие"),
        "field": _l("Поле"),
        "ip": _l("IP-адрес"),
        "detail": _l("Подробности"),
        "user_agent": _l("Браузер"),
        "customer": _l("Клиент"),
    }
    list_columns = ["at", "user", "customer", "action", "field", "ip", "detail"]
    show_columns = [*list_columns, "user_agent"]
    search_columns = ["customer", "user", "action", "at"]
    custom_filters = {
        "at": [FilterDayEqual, FilterDayFrom, FilterDayTo],
    }
    formatters_columns = {
        "field": access.journal_field,
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
    # stored in one language, read in the reader's (app/notifications.py DELIVERY_REASONS)
    formatters_columns = {"reason": notifications.reason_label}
    base_order = ("number", "asc")


class MessageView(KartotekaModelView):
    """«Сообщения»: every notification sent or queued, with its delivery log."""

    class_permission_name = access.MESSAGES
    datamodel = Interface(Message, eager=[joinedload(Message.customer)])
    # exported as the other lists are: by whom the matrix lets export what they write
    base_permissions = ["can_read", "can_write", "can_export"]
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
    formatters_columns = {"last_error": notifications.reason_label}  # as the attempts' reasons
    search_columns = ["customer", "status", "channel", "message_type", "created_on"]
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("id", "desc")

    resend = bulk_action(
        "resend",
        _l("Повторить отправку"),
        "fa-repeat",
        partial(notifications.resend, db.session),
        lambda n: ngettext("%(num)d сообщение снова в очереди.", "%(num)d сообщений снова в очереди.", n),
        each=True,
    )


class MessageTab(MessageView):
    list_columns = ["created_on", "channel", "message_type", "delivery", "body", "sent_at", "last_error"]


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
    search_columns = ["customer", "message_type", "channel", "allowed"]
    add_form_extra_fields = {
        # a consent is asked for what the customer receives: «Изменение статуса
        # клиента» is the staff's own and never sent (MessageType's flag)
        "message_type": LabeledEnumField(
            MessageType,
            _l("Тип сообщения"),
            validators=[InputRequired()],
            members=[t for t in MessageType if t.customer_facing],
        )
    }


class ConsentTab(ConsentView):
    list_columns = ["message_type", "channel", "allowed", "changed_on", "changed_by"]


class CustomerFileView(FileViewBase):
    """«Файлы»: scans and documents on the card (app/files.py says what is accepted)."""

    class_permission_name = access.FILES
    method_permission_name = access.METHOD_PERMISSIONS
    datamodel = Interface(CustomerFile, eager=[joinedload(CustomerFile.customer)])
    base_permissions = ["can_read", "can_write", "can_delete", "can_download"]
    list_title = show_title = _l("Файлы")
    record_label = _l("Файл")
    label_columns = {
        "name": _l("Имя файла"),
        "category": _l("Что это"),
        "kind": _l("Формат"),
        "size": _l("Размер"),
        "id": _l("Скачать"),
        "content_type": _l("Тип содержимого"),
        "sha256": _l("Контрольная сумма SHA-256"),
    }
    list_columns = ["customer", "name", "category", "kind", "size", "created_by", "created_on", "id"]
    show_columns = ["customer", "name", "category", "kind", "size", "created_by", "created_on"]
    search_columns = ["customer", "category", "kind", "created_on"]
    edit_columns = ["category"]  # what the file is; its content is replaced by a new upload
    custom_filters = {"created_on": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    formatters_columns = {"id": download_link, "size": formatting.file_size}
    list_sql = {"id": ListColumn(CustomerFile.id, CustomerFile.category, read=file_cell)}
    base_order = ("id", "desc")

    category_identity = category_action(FileCategory.IDENTITY)
    category_medical = category_action(FileCategory.MEDICAL)
    category_consent = category_action(FileCategory.CONSENT)
    category_photo = category_action(FileCategory.PHOTO)
    category_other = category_action(FileCategory.OTHER)


class CustomerFileTab(CustomerFileView):
    list_columns = ["name", "category", "kind", "size", "created_by", "created_on", "id"]


class ConsentTextView(ReferenceView):
    """«Тексты согласий»: each save is a new version; the old ones stay (no edit, no delete)."""

    datamodel = Interface(ConsentText, eager=[joinedload(ConsentText.created_by)])
    exclude_route_methods = {"edit", "delete"}
    list_title = _l("Тексты согласий")
    show_title = add_title = _l("Текст согласия")
    label_columns = {"purpose": _l("Цель"), "version": _l("Версия"), "text": _l("Текст")}
    list_columns = ["purpose", "version", "text", "created_by", "created_on"]
    add_columns = ["purpose", "text"]
    show_columns = list_columns
    search_columns = ["purpose"]
    base_order = ("id", "desc")

    def prepare(self, item, is_new):
        consents.new_text_version(self.datamodel.session, item)


class ProcessingConsentView(KartotekaModelView):
    """«Согласия на обработку»: the ledger; a decision is added from the card, never edited."""

    class_permission_name = access.PROCESSING
    datamodel = Interface(
        ProcessingConsent,
        eager=[
            joinedload(ProcessingConsent.customer),
            joinedload(ProcessingConsent.consent_text),
            joinedload(ProcessingConsent.employee),
            joinedload(ProcessingConsent.file),
        ],
    )
    # write: adding a decision from the card (AddConsent); no add, edit or delete here
    base_permissions = ["can_read", "can_write"]
    exclude_route_methods = {"add", "edit", "delete", "download"}
    list_title = show_title = _l("Согласия на обработку")
    label_columns = {
        "at": _l("Когда"),
        "purpose": _l("Цель"),
        "given": _l("Согласие дано (нет — отказ или отзыв)"),
        "consent_text": _l("Текст (версия)"),
        "method": _l("Как получено"),
        "file": _l("Скан"),
        "employee": _l("Принял сотрудник"),
    }
    list_columns = ["at", "customer", "purpose", "given", "consent_text", "method", "file", "employee"]
    show_columns = list_columns
    search_columns = ["customer", "purpose", "given", "at"]
    custom_filters = {"at": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    base_order = ("at", "desc")


class ProcessingConsentTab(ProcessingConsentView):
    list_columns = ["at", "purpose", "given", "consent_text", "method", "file", "employee"]
    # the text's version and the scan as their __str__ names them, read as plain values
    # (see CertificateTab)
    list_sql = {
        "consent_text": related_label(
            ConsentText,
            "purpose",
            "version",
            read=lambda pk, purpose, version: f"{purpose.label}, v{version}",
        )(ProcessingConsent.consent_text),
        "file": related_label(CustomerFile, "name", read=lambda pk, name: name)(ProcessingConsent.file),
    }


class SubjectRequestView(KartotekaModelView):
    """«Запросы субъектов ПД»: exports and erasures, their deadlines, progress and acts."""

    class_permission_name = access.SUBJECTS
    datamodel = Interface(SubjectRequest, eager=[joinedload(SubjectRequest.customer)])
    base_permissions = ["can_read", "can_write"]
    exclude_route_methods = {"add", "edit", "delete", "download"}
    list_title = show_title = _l("Запросы субъектов ПД")
    label_columns = {
        "kind": _l("Запрос"),
        "status": _l("Состояние"),
        "progress": _l("Готово, %"),
        "basis": _l("Основание"),
        "received_at": _l("Получен"),
        "deadline": _l("Ответить до"),
        "done_at": _l("Выполнен"),
        "act": _l("Акт об уничтожении"),
        "download": _l("Выгрузка"),
        "error": _l("Ошибка"),
        "subject": _l("Клиент"),
    }
    list_columns = [
        "received_at",
        "subject",
        "kind",
        "status",
        "progress",
        "deadline",
        "done_at",
        "download",
    ]
    show_columns = [
        "received_at",
        "subject",
        "kind",
        "status",
        "progress",
        "basis",
        "deadline",
        "done_at",
        "created_by",
        "act",
        "error",
    ]
    search_columns = ["customer", "kind", "status", "received_at"]
    formatters_columns = {"download": export_link, "subject": subject_link}
    # whom it is about: the customer, or the label kept when their row was deleted
    list_sql = {"subject": related_subject(SubjectRequest.customer)}
    base_order = ("id", "desc")


class RetentionReviewView(KartotekaModelView):
    """«Сроки хранения»: the daily retention job's notices; a manager opens the list of
    customers past the period and confirms their erasure there."""

    class_permission_name = access.SUBJECTS
    datamodel = Interface(RetentionReview)
    base_permissions = ["can_read"]
    list_title = show_title = _l("Сроки хранения")
    label_columns = {
        "at": _l("Проверено"),
        "cutoff": _l("Последний визит раньше"),
        "due": _l("Ждут решения об уничтожении"),
        "kept_medical": _l("Хранятся из-за медицинских записей"),
        "id": _l("Клиенты"),
    }
    list_columns = ["at", "cutoff", "due", "kept_medical", "id"]
    show_columns = ["at", "cutoff", "due", "kept_medical"]
    search_columns = ["at"]
    custom_filters = {"at": [FilterDayEqual, FilterDayFrom, FilterDayTo]}
    formatters_columns = {"id": retention_list_link}
    base_order = ("id", "desc")


class SubjectRequestTab(SubjectRequestView):
    list_columns = [
        "received_at",
        "kind",
        "status",
        "progress",
        "deadline",
        "done_at",
        "created_by",
        "download",
    ]
    # SubjectRequest.download of plain values (see CertificateTab)
    list_sql = {
        "download": ListColumn(
            SubjectRequest.id, SubjectRequest.stored_name, read=lambda pk, stored: pk if stored else None
        )
    }


# ---------------------------------------------------------------------------
# Customers and the card
# ---------------------------------------------------------------------------


# -- sign-ins: the administrator's lists of open sessions and login waits -----


class FilterOpen(ConditionFilter):
    """Sessions of staff signed in whose idle timeout has not passed (a visitor of the
    sign-in page has a session too, listed as a blank «Сотрудник» among the staff's)."""

    name = _l("Открытые")
    arg_name = "open"

    def apply(self, query, value):
        return query.filter(UserSession.expiry > utcnow(), UserSession.user_id.is_not(None))


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

    end_session = bulk_action(
        "end_session",
        _l("Завершить сеанс"),
        "fa-sign-out",
        sessions.end_session,
        lambda n: ngettext("Завершён %(num)d сеанс.", "Завершено %(num)d сеансов.", n),
        confirmation=_l("Завершить выбранные сеансы? Их владельцам придётся войти снова."),
        by_id=True,
    )


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

    lift_wait = bulk_action(
        "lift_wait",
        _l("Снять ограничение"),
        "fa-unlock",
        logins.lift,
        lambda n: ngettext("Снято %(num)d ограничение.", "Снято %(num)d ограничений.", n),
        confirmation=_l("Снять ограничение входа с выбранных учётных записей и адресов?"),
        by_id=True,
    )


class FilterPhone(ConditionFilter):
    name = _l("Содержит")
    arg_name = "phone"
    condition = staticmethod(customers.phone_condition)


class FilterName(ConditionFilter):
    name = _l("Содержит")
    arg_name = "name"
    condition = staticmethod(customers.name_condition)


class FilterRetention(ConditionFilter):
    """«Срок хранения истёк»: the last visit (or registration) older than RETENTION_YEARS."""

    name = _l("Срок хранения истёк")
    arg_name = "retention"

    def apply(self, query, value):
        if str(value).lower() in ("", "0", "false", "n", "no"):
            return query
        return query.filter(subjects.past_retention())


class FilterOwing(ConditionFilter):
    """«С задолженностью» in the customers list's filters: an order of theirs the user may
    see, not cancelled, paid short of its total (customers.owing_condition)."""

    name = _l("С задолженностью")
    arg_name = "owing"

    def apply(self, query, value):
        if str(value).lower() in ("", "0", "false", "n", "no"):
            return query
        return query.filter(customers.owing_condition(access.row_scope(Order)))


CUSTOMER_LABELS = {
    "debt": _l("Задолженность"),
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
    "purchases": _l("Сумма покупок"),
}

# A legal entity's person fields are its contact person's (or blank, then left off its card).
CONTACT_PERSON_LABELS = {
    "last_name": _l("Фамилия контактного лица"),
    "first_name": _l("Имя контактного лица"),
    "middle_name": _l("Отчество контактного лица"),
}
# what a person has and an organisation has not: a legal entity's form hides them
PERSON_ONLY = ("gender", "birth_date", "age")

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


class CustomerView(CustomerCardView):
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
        "purchases",
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
        "purchases": ListColumn(customers.purchases_column()),
        "full_name": ListColumn(
            Customer.last_name,
            Customer.first_name,
            Customer.middle_name,
            Customer.company_name,
            Customer.customer_type,
            read=models.full_name,
        ),
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
    labels_by_type = {CustomerType.LEGAL: CONTACT_PERSON_LABELS}
    # the fields asked only of some customer types (kartoteka.js shows them when one is chosen)
    fields_by_type = {
        "company_name": (CustomerType.LEGAL, CustomerType.SOLE),
        **{name: (CustomerType.INDIVIDUAL, CustomerType.SOLE) for name in PERSON_ONLY},
    }
    edit_form_extra_fields = {"version": HiddenField()}
    form_only_fields = ("version",)

    def column_level(self, column: str) -> str:
        # «Сумма покупок» is the customer's money: shown to whom the balances are
        if column == "purchases":
            return super().column_level("bonus_balance")
        return super().column_level(column)

    # A private person has no organisation name; a legal entity may have no contact person.
    not_applicable_by_type = {
        CustomerType.INDIVIDUAL: {"company_name"},
        CustomerType.LEGAL: {*CONTACT_PERSON_LABELS, *PERSON_ONLY},
    }

    def not_applicable(self, item) -> set[str]:
        return self.not_applicable_by_type.get(item.customer_type, set())

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
        "last_visit_at",
        "debt",
    ]
    custom_filters = {
        "phone": [FilterPhone],
        "name_search": [FilterName],
        "registered_at": [FilterDayEqual, FilterDayFrom, FilterDayTo],
        "last_visit_at": [FilterRetention],
        "debt": [FilterOwing],  # a filter of its own, not a column of the customer
    }
    search_form_extra_fields = {
        "debt": SelectField(_l("Задолженность"), choices=[("1", _l("есть"))], default="1"),
    }
    formatters_columns = {
        "phone": formatting.phone,
        "phone_extra": formatting.phone,
        "id": card_link,
        "purchases": formatting.money,
    }
    choice_conditions = {"manager": partial(access.users_with, access.MANAGER)}
    open_after_add = True  # a new customer's card, where the passport and the visit are added
    base_order = ("id", "desc")
    show_template = "kartoteka/customer_card.html"
    list_template = "kartoteka/customer_list.html"

    tabs = [
        CustomerTab("documents", _l("Документы"), CustomerDocumentTab),
        CustomerTab("orders", _l("Заказы"), OrderTab, inline="kartoteka/inline_order.html"),
        CustomerTab("payments", _l("Платежи"), PaymentTab),
        CustomerTab("accounts", _l("Счета"), AccountOperationTab, inline="kartoteka/inline_accounts.html"),
        CustomerTab("certificates", _l("Сертификаты и абонементы"), CertificateTab),
        CustomerTab("returns", _l("Возвраты"), ReturnTab),
        CustomerTab("reviews", _l("Отзывы"), ReviewTab),
        CustomerTab("notes", _l("Примечания"), NoteTab, inline="kartoteka/inline_note.html"),
        CustomerTab(
            "anamnesis", _l("Анамнез"), MedicalRecordTab, inline="kartoteka/inline_medical_export.html"
        ),
        CustomerTab("files", _l("Файлы"), CustomerFileTab, inline="kartoteka/inline_file.html"),
        CustomerTab("messages", _l("Сообщения"), MessageTab, inline="kartoteka/inline_message.html"),
        CustomerTab(
            "processing", _l("Согласия"), ProcessingConsentTab, inline="kartoteka/inline_consent.html"
        ),
        CustomerTab("consents", _l("Уведомления"), ConsentTab),
        CustomerTab(
            "requests", _l("Запросы субъекта"), SubjectRequestTab, inline="kartoteka/inline_subject.html"
        ),
        CustomerTab("history", _l("История изменений"), ChangeLogTab),
        CustomerTab("access", _l("Журнал доступа"), AccessLogTab),
    ]

    keep_list_statements = True  # its conditions: the search box, «С задолженностью», the row scope

    def list_conditions(self):
        # the search box and «С задолженностью» (a button beside it)
        return customers.list_conditions(request.args, lookups.readable_contacts(), access.row_scope(Order))

    status_active = status_action(CustomerStatus.ACTIVE, _l("Статус «Активен»"), "fa-check")
    status_verified = status_action(CustomerStatus.VERIFIED, _l("Статус «Проверен»"), "fa-check-circle")
    status_problem = status_action(
        CustomerStatus.PROBLEM, _l("Статус «Проблемный»"), "fa-exclamation-triangle"
    )
    status_blocked = status_action(CustomerStatus.BLOCKED, _l("Статус «Заблокирован»"), "fa-ban")
    erase_expired = bulk_action(
        "erase_expired",
        _l("Уничтожить данные (срок хранения истёк)"),
        "fa-trash",
        partial(subjects.erase_expired, db.session),
        lambda n: ngettext(
            "Данные %(num)d клиента уничтожены, акт составлен.",
            "Данные %(num)d клиентов уничтожены, акты составлены.",
            n,
        ),
        confirmation=_l("Уничтожить персональные данные выбранных клиентов? Это нельзя отменить."),
        each=True,
        single=False,  # the list's periodic task: it was offered on every card and refused there
    )


class HomeView(IndexView):
    """The start page: straight to the customers list for signed-in staff."""

    @expose("/")
    def index(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(url_for("CustomerView.list"))
        return redirect(url_for(self.appbuilder.sm.auth_view.endpoint + ".login"))


# The menu: each category (its name, label, icon) and its screens in order, as
# (view, name, label, icon). FAB's security screens come after these, in «Security».
MENU = (
    (
        "Customers",
        _l("Клиенты"),
        "fa-users",
        (
            (CustomerView, "Customers", _l("Клиенты"), "fa-address-card"),
            (OrderView, "Orders", _l("Заказы"), "fa-shopping-cart"),
            (ReturnView, "Returns", _l("Возвраты"), "fa-undo"),
            (PaymentView, "Payments", _l("Платежи"), "fa-rub"),
            (AccountOperationView, "Accounts", _l("Операции по счетам"), "fa-credit-card"),
            (CertificateView, "Certificates", _l("Сертификаты и абонементы"), "fa-gift"),
            (ReviewView, "Reviews", _l("Отзывы"), "fa-star"),
            (NoteView, "Notes", _l("Примечания"), "fa-sticky-note"),
            (CustomerDocumentView, "Documents", _l("Документы"), "fa-id-card"),
            (MedicalRecordView, "Anamnesis", _l("Анамнез"), "fa-heartbeat"),
            (CustomerFileView, "Files", _l("Файлы"), "fa-paperclip"),
            (MessageView, "Messages", _l("Сообщения"), "fa-envelope"),
            (ConsentView, "Consents", _l("Согласия на уведомления"), "fa-check-square"),
            (ProcessingConsentView, "ProcessingConsents", _l("Согласия на обработку"), "fa-pencil-square"),
            (SubjectRequestView, "SubjectRequests", _l("Запросы субъектов ПД"), "fa-user-secret"),
            (RetentionReviewView, "RetentionReviews", _l("Сроки хранения"), "fa-hourglass-end"),
        ),
    ),
    (
        "Reference",
        _l("Справочники"),
        "fa-book",
        (
            (CatalogItemView, "Catalog", _l("Услуги и товары"), "fa-list"),
            (BranchView, "Branches", _l("Филиалы"), "fa-building"),
            (CategoryView, "Categories", _l("Категории клиентов"), "fa-folder"),
            (CertificateKindView, "CertificateKinds", _l("Виды сертификатов и абонементов"), "fa-gift"),
            (MoneyRulesView, "MoneyRules", _l("Правила расчётов"), "fa-percent"),
            (TagView, "Tags", _l("Теги"), "fa-tag"),
            (
                CustomerAttributeView,
                "CustomerAttributes",
                _l("Дополнительные поля клиентов"),
                "fa-plus-square",
            ),
            (NotificationQueueView, "NotificationQueue", _l("Очередь уведомлений"), "fa-tasks"),
            (MessageTemplateView, "MessageTemplates", _l("Шаблоны уведомлений"), "fa-file-text"),
            (ConsentTextView, "ConsentTexts", _l("Тексты согласий"), "fa-file-text-o"),
        ),
    ),
    (
        "Journal",
        _l("Журналы"),
        "fa-history",
        (
            (ChangeLogView, "ChangeHistory", _l("История изменений"), "fa-history"),
            (AccessLogView, "AccessJournal", _l("Журнал доступа"), "fa-eye"),
        ),
    ),
    (
        "Security",
        None,  # FAB's own category: its label and icon are FAB's
        None,
        (
            (SessionView, "Sessions", _l("Сеансы"), "fa-desktop"),
            (LoginThrottleView, "LoginThrottle", _l("Ограничения входа"), "fa-unlock-alt"),
        ),
    ),
)

# Screens opened from others only: a card's tabs, an order's items, a message's attempts.
WITHOUT_MENU = (
    OrderItemView,
    OrderPaymentTab,
    ReturnRefundTab,
    PaymentTab,
    AccountOperationTab,
    CertificateTab,
    CertificateOperationTab,
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
    CustomerFileTab,
    ProcessingConsentTab,
    SubjectRequestTab,
)
