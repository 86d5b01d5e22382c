"""Declarative models: the single source the screens are generated from.

Money is ``Numeric`` (never float). Timestamps are stored in UTC (naive UTC
datetimes, the same on SQLite and PostgreSQL) and shown in the clinic's time
zone by Babel. Who created and changed a row, and when, is kept on every
domain row by :class:`Audited`.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

from flask import g, has_request_context
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User  # noqa: F401  (relationship target)
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    func,
    select,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import column_property, declared_attr, relationship

MONEY = Numeric(12, 2)
MAX_ID = 2**31 - 1  # the largest key an integer column holds on PostgreSQL


def column_limit(column) -> Decimal | int | None:
    """The largest absolute value ``column`` holds, for the kinds of numbers Kartoteka keeps."""
    kind = column.type
    if isinstance(kind, Numeric) and kind.precision is not None:
        scale = kind.scale or 0
        return Decimal(10) ** (kind.precision - scale) - Decimal(10) ** -scale
    if isinstance(kind, SmallInteger):
        return 2**15 - 1
    if isinstance(kind, Integer):
        return MAX_ID
    return None


def sometimes_set_index(name: str, column: str) -> Index:
    """The index on a reference a row may leave empty (an account operation's
    payment, an order's specialist, a customer's manager…), over the rows that have one.

    SQLite's ANALYZE counts the empty rows as one value: with bonus accruals and
    top-ups that name no payment, it judged the whole index to match every row and
    scanned all account operations once per payment on the card's «Платежи» tab
    (148 ms of a 180 ms card at 100,000 customers). A lookup by value still finds
    its rows here, and on PostgreSQL the index is smaller. tests/test_plans.py
    checks every page's plans under such statistics (migration 0030)."""
    where = text(f"{column} IS NOT NULL")
    return Index(name, column, sqlite_where=where, postgresql_where=where)


def record_id(value) -> int | None:
    """``value`` (from an address or a form) as a record's key, or None where it is
    not one: not digits, zero, or beyond what the key column holds (PostgreSQL
    refused a larger one and the page answered 500)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


ZERO = Decimal("0.00")


def utcnow() -> dt.datetime:
    """Naive UTC now: the one clock every timestamp column uses."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _current_user_id() -> int | None:
    if has_request_context():
        user = getattr(g, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id
    return None


class Audited:
    """Who created and changed a row, and when (UTC)."""

    created_on = Column(DateTime, default=utcnow, nullable=False)
    changed_on = Column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)

    @declared_attr
    def created_by_fk(cls):
        return Column(Integer, ForeignKey("ab_user.id"), default=_current_user_id, nullable=True)

    @declared_attr
    def changed_by_fk(cls):
        return Column(
            Integer,
            ForeignKey("ab_user.id"),
            default=_current_user_id,
            onupdate=_current_user_id,
            nullable=True,
        )

    @declared_attr
    def created_by(cls):
        return relationship(
            "User",
            primaryjoin=f"{cls.__name__}.created_by_fk == User.id",
            lazy="select",
        )

    @declared_attr
    def changed_by(cls):
        return relationship(
            "User",
            primaryjoin=f"{cls.__name__}.changed_by_fk == User.id",
            lazy="select",
        )


class LabeledEnum(enum.Enum):
    """An enum whose members carry a translatable label (``str(member)``), and
    optionally a flag of what the member means (see MessageType, OrderStatus)."""

    def __new__(cls, value, label, flag=None):
        obj = object.__new__(cls)
        obj._value_ = value
        obj.label = label
        obj.flag = flag
        return obj

    def __str__(self) -> str:
        return str(self.label)

    @classmethod
    def choices(cls):
        return [(m.value, m.label) for m in cls]

    @classmethod
    def settable(cls) -> list:
        """The members a form or an action offers (a filter offers them all)."""
        return list(cls)


class CustomerStatus(LabeledEnum):
    ACTIVE = "active", _l("Активен")
    VERIFIED = "verified", _l("Проверен")
    PROBLEM = "problem", _l("Проблемный")
    BLOCKED = "blocked", _l("Заблокирован")
    # set by the erasure only (app/subjects.py erase): the row is what it left
    ERASED = "erased", _l("Данные уничтожены")

    @classmethod
    def settable(cls) -> list[CustomerStatus]:
        """The statuses staff give a customer (a form, an action): all but «Данные
        уничтожены», which the erasure writes and nothing lifts."""
        return [m for m in cls if m is not cls.ERASED]


class Gender(LabeledEnum):
    FEMALE = "female", _l("Женский")
    MALE = "male", _l("Мужской")


class CustomerType(LabeledEnum):
    INDIVIDUAL = "individual", _l("Физическое лицо")
    LEGAL = "legal", _l("Юридическое лицо")
    SOLE = "sole", _l("Индивидуальный предприниматель")


class DocumentKind(LabeledEnum):
    PASSPORT_RF = "passport_rf", _l("Паспорт РФ")
    PASSPORT_FOREIGN = "passport_foreign", _l("Заграничный паспорт РФ")
    BIRTH_CERTIFICATE = "birth_certificate", _l("Свидетельство о рождении")
    FOREIGN_ID = "foreign_id", _l("Документ иностранного гражданина")
    DRIVER_LICENSE = "driver_license", _l("Водительское удостоверение")
    OTHER = "other", _l("Другой документ")


class OrderKind(LabeledEnum):
    VISIT = "visit", _l("Визит")
    SALE = "sale", _l("Продажа")


class OrderStatus(LabeledEnum):
    """The flag: the customer is told when their order reaches this status. «На
    проверке» is the front desk's own (a problematic customer's orders start there)."""

    NEW = "new", _l("Новый"), False
    REVIEW = "review", _l("На проверке"), False
    CONFIRMED = "confirmed", _l("Подтверждён"), True
    COMPLETED = "completed", _l("Выполнен"), False
    CANCELLED = "cancelled", _l("Отменён"), True

    @property
    def tells_customer(self) -> bool:
        return bool(self.flag)


class PaymentStatus(LabeledEnum):
    """Where an order's money stands (app/payments.py ``payment_status``): returns refunded
    for it are said, not hidden behind «Оплачен»."""

    UNPAID = "unpaid", _l("Не оплачен")
    PARTIAL = "partial", _l("Оплачен частично")
    PAID = "paid", _l("Оплачен")
    PARTLY_REFUNDED = "partly_refunded", _l("Оплачен, часть возвращена")
    REFUNDED = "refunded", _l("Деньги возвращены")


class ReturnStatus(LabeledEnum):
    """The flag: the statuses a return may move to next. The customer hears of the
    outcome, once: a refusal, or the money returned (approval is a step between)."""

    REQUESTED = "requested", _l("Запрошен"), ("approved", "rejected")
    APPROVED = "approved", _l("Одобрен"), ("refunded",)
    REJECTED = "rejected", _l("Отклонён"), ()
    REFUNDED = "refunded", _l("Деньги возвращены"), ()

    @property
    def next(self) -> tuple[ReturnStatus, ...]:
        return tuple(ReturnStatus(value) for value in self.flag)

    @property
    def final(self) -> bool:
        return not self.flag


class ModerationStatus(LabeledEnum):
    PENDING = "pending", _l("На модерации")
    PUBLISHED = "published", _l("Опубликован")
    REJECTED = "rejected", _l("Отклонён")


class CatalogKind(LabeledEnum):
    SERVICE = "service", _l("Услуга")
    PRODUCT = "product", _l("Товар")


def _enum(cls, name):
    return Enum(
        cls,
        name=name,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        length=32,
        validate_strings=True,
    )


# --------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------


class Branch(Audited, Model):
    __tablename__ = "branch"
    id = Column(Integer, primary_key=True)
    name = Column(String(150), unique=True, nullable=False)
    address = Column(String(300))
    phone = Column(String(20))

    def __str__(self):
        return self.name


class CustomerCategory(Audited, Model):
    __tablename__ = "customer_category"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), unique=True, nullable=False)
    discount = Column(Numeric(5, 2), default=ZERO, nullable=False)
    # bonuses accrued on what a customer of this category pays (app/payments.py)
    bonus_percent = Column(Numeric(5, 2), default=ZERO, nullable=False)

    def __str__(self):
        return self.name


class Tag(Audited, Model):
    __tablename__ = "tag"
    id = Column(Integer, primary_key=True)
    name = Column(String(60), unique=True, nullable=False)
    color = Column(String(7), default="#777777", nullable=False)

    def __str__(self):
        return self.name


class CatalogItem(Audited, Model):
    """A service or product with its price."""

    __tablename__ = "catalog_item"
    id = Column(Integer, primary_key=True)
    name = Column(String(200), unique=True, nullable=False)
    kind = Column(_enum(CatalogKind, "catalog_kind"), default=CatalogKind.SERVICE, nullable=False)
    price = Column(MONEY, nullable=False)
    duration_min = Column(Integer)
    active = Column(Boolean, default=True, nullable=False)
    __table_args__ = (CheckConstraint("price >= 0", name="ck_catalog_item_price"),)

    def __str__(self):
        return self.name


customer_tag = Table(
    "customer_tag",
    Model.metadata,
    Column(
        "customer_id",
        Integer,
        ForeignKey("customer.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_id", Integer, ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_customer_tag_tag", "tag_id"),
)


# --------------------------------------------------------------------------
# The customer and its tabs
# --------------------------------------------------------------------------


def full_name(last_name, first_name, middle_name, company_name=None, customer_type=None) -> str:
    """How a customer is named: «Фамилия Имя Отчество» (the missing parts left out),
    a legal entity by its organisation (it was titled by a contact's name it need not have)."""
    person = " ".join(filter(None, (last_name, first_name, middle_name)))  # no generator: 2 calls, not 6
    if customer_type == CustomerType.LEGAL and company_name:
        return company_name
    return person or company_name or ""


class Customer(Audited, Model):
    __tablename__ = "customer"
    id = Column(Integer, primary_key=True)
    # a legal entity is named by company_name; its contact person's name may be left out
    last_name = Column(String(100), index=True)
    first_name = Column(String(100))
    middle_name = Column(String(100))
    customer_type = Column(
        _enum(CustomerType, "customer_type"),
        default=CustomerType.INDIVIDUAL,
        nullable=False,
    )
    company_name = Column(String(250))
    # " иванов иван иванович": lower-cased words of the name, see customers.name_search_key
    name_search = Column(String(500), nullable=False, default="", index=True)
    phone = Column(String(20), unique=True)  # E.164
    phone_extra = Column(String(20))  # E.164
    email = Column(String(254), unique=True)  # lower-cased
    gender = Column(_enum(Gender, "gender"))
    birth_date = Column(Date)
    city = Column(String(100))
    category_id = Column(Integer, ForeignKey("customer_category.id"))
    category = relationship(CustomerCategory)
    source = Column(String(150))
    card_number = Column(String(40), unique=True)
    discount = Column(Numeric(5, 2), default=ZERO, nullable=False)
    manager_id = Column(Integer, ForeignKey("ab_user.id"))
    manager = relationship("User", foreign_keys=[manager_id])
    service_comment = Column(Text)
    status = Column(
        _enum(CustomerStatus, "customer_status"),
        default=CustomerStatus.ACTIVE,
        nullable=False,
        index=True,
    )
    registered_at = Column(DateTime, default=utcnow, nullable=False, index=True)
    last_visit_at = Column(DateTime)
    last_visit_ip = Column(String(45))
    bonus_balance = Column(MONEY, default=ZERO, nullable=False)
    deposit_balance = Column(MONEY, default=ZERO, nullable=False)
    version = Column(Integer, nullable=False, default=1)
    tags = relationship(Tag, secondary=customer_tag, lazy="select")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("discount >= 0 AND discount <= 100", name="ck_customer_discount"),
        sometimes_set_index("ix_customer_category_id", "category_id"),
        sometimes_set_index("ix_customer_manager_id", "manager_id"),
        # the search box finds a loyalty card whatever the case it was typed in (migration 0036)
        Index("ix_customer_card_number_upper", text("upper(card_number)")),
    )

    @property
    def age(self) -> int | None:
        if self.birth_date is None:
            return None
        today = dt.date.today()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def purchases(self) -> Decimal:
        """«Сумма покупок» (what the customers list selects in its one statement,
        app/customers.py purchases_column), for a customer loaded on its own."""
        from sqlalchemy.orm import object_session

        session = object_session(self)
        if session is None or self.id is None:
            return ZERO
        return kopecks(session.scalar(select(purchases_of(self.id))) or 0)

    @property
    def full_name(self) -> str:
        return full_name(
            self.last_name, self.first_name, self.middle_name, self.company_name, self.customer_type
        )

    def __str__(self):
        return self.full_name


class CustomerDocument(Audited, Model):
    __tablename__ = "customer_document"
    id = Column(Integer, primary_key=True)
    customer_id = Column(
        Integer,
        ForeignKey("customer.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    customer = relationship(Customer)
    kind = Column(_enum(DocumentKind, "document_kind"), nullable=False)
    series = Column(String(20))
    number = Column(String(30), nullable=False)
    issued_by = Column(String(300))
    issue_date = Column(Date)
    division_code = Column(String(7))
    address = Column(String(300))
    citizenship = Column(String(100))

    def __str__(self):
        return f"{self.kind} {self.series or ''} {self.number}".strip()


def debt(total, paid, status=None, refunded=None) -> Decimal:
    """What the customer owes for an order: its total less what its refunded returns gave
    back (not bought after all) less what is paid, never below zero; nothing for a
    cancelled one (its payment, if any, is settled by a return, not owed the other way)."""
    if status == OrderStatus.CANCELLED:
        return ZERO
    return max((total or ZERO) - (refunded or ZERO) - (paid or ZERO), ZERO)


class Order(Audited, Model):
    """A visit or a sale. Totals come from the items (app.orders)."""

    __tablename__ = "customer_order"
    id = Column(Integer, primary_key=True)
    customer_id = Column(
        Integer,
        ForeignKey("customer.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    customer = relationship(Customer)
    kind = Column(_enum(OrderKind, "order_kind"), default=OrderKind.VISIT, nullable=False)
    branch_id = Column(Integer, ForeignKey("branch.id"))
    branch = relationship(Branch)
    specialist_id = Column(Integer, ForeignKey("ab_user.id"))
    specialist = relationship("User", foreign_keys=[specialist_id])
    visit_at = Column(DateTime)
    # when the visit was marked «Выполнен» (app/orders.py): one marked before its booked
    # time took place then, and «Последний визит» reads the earlier of the two
    completed_at = Column(DateTime)
    status = Column(
        _enum(OrderStatus, "order_status"),
        default=OrderStatus.NEW,
        nullable=False,
        index=True,
    )
    payment_status = Column(
        _enum(PaymentStatus, "payment_status"),
        default=PaymentStatus.UNPAID,
        nullable=False,
    )
    total = Column(MONEY, default=ZERO, nullable=False)
    paid = Column(MONEY, default=ZERO, nullable=False)
    # what the order's refunded returns gave back: no longer bought, so no longer owed (app/payments.py)
    refunded = Column(MONEY, default=ZERO, server_default="0", nullable=False)
    comment = Column(Text)
    items = relationship("OrderItem", back_populates="order", cascade="all, delete-orphan", lazy="select")
    __table_args__ = (
        CheckConstraint("paid >= 0", name="ck_order_paid_nonneg"),
        CheckConstraint("paid <= total", name="ck_order_paid_le_total"),
        Index("ix_customer_order_customer_created", "customer_id", "created_on"),
        sometimes_set_index("ix_customer_order_branch_id", "branch_id"),
        sometimes_set_index("ix_customer_order_specialist_id", "specialist_id"),
    )

    @hybrid_property
    def debt(self) -> Decimal:
        return debt(self.total, self.paid, self.status, self.refunded)

    @debt.inplace.expression
    @classmethod
    def _debt_expression(cls):
        """The same in SQL, so that a list can be sorted by it («Долг» in the
        orders list answered 500: FAB offers a sort link for it)."""
        due = cls.total - cls.refunded - cls.paid
        return case((cls.status == OrderStatus.CANCELLED, ZERO), (due < 0, ZERO), else_=due)

    @property
    def pay(self) -> int | None:
        """The order's number where something is owed: the card's «Принять оплату»."""
        return self.id if self.debt > 0 else None

    def __str__(self):
        return str(_l("Заказ №%(id)s", id=self.id))


class OrderItem(Model):
    __tablename__ = "order_item"
    id = Column(Integer, primary_key=True)
    order_id = Column(
        Integer,
        ForeignKey("customer_order.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    order = relationship(Order, back_populates="items")
    catalog_item_id = Column(Integer, ForeignKey("catalog_item.id"))
    catalog_item = relationship(CatalogItem)
    name = Column(String(200), nullable=False)
    quantity = Column(Integer, default=1, nullable=False)
    price = Column(MONEY, nullable=False)
    # the customer's or their category's discount, the larger, when the item was added (app/orders.py)
    discount = Column(Numeric(5, 2), default=ZERO, nullable=False)
    amount = Column(MONEY, nullable=False)
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_order_item_qty"),
        CheckConstraint("price >= 0", name="ck_order_item_price"),
    )
    # what the manager typed in «Скидка вручную» on the item's own screen (None: nothing
    # typed); app/orders.py applies it, for a user who may give discounts
    typed_discount = None

    @property
    def manual_discount(self):
        """The item screen's «Скидка вручную» opens on the item's discount (it opened blank
        on an item given 5 %, as if none had been given) and writes what was typed."""
        return self.discount

    @manual_discount.setter
    def manual_discount(self, value):
        self.typed_discount = value

    def __str__(self):
        return self.name


def purchases_of(customer_id):
    """«Сумма покупок»: what a customer paid for their orders, refunds taken off,
    cancelled orders left out (the card's «Оплачено»). ``customer_id``: a value, or
    Customer.id for a correlated subquery (the list's page rows only)."""
    live = Order.status != OrderStatus.CANCELLED
    return (
        select(func.coalesce(func.sum(Order.paid), 0))
        .where(Order.customer_id == customer_id, live)
        .correlate_except(Order)
        .scalar_subquery()
    )


# The card's «Заказы» tab: what was booked and at what discount, read with the order in
# the same statement (deferred: only the tab asks for them, app/views.py OrderTab)
Order.services = column_property(
    select(func.aggregate_strings(OrderItem.name, ", "))
    .where(OrderItem.order_id == Order.id)
    .correlate_except(OrderItem)
    .scalar_subquery(),
    deferred=True,
)
Order.items_discount = column_property(
    select(func.max(OrderItem.discount))
    .where(OrderItem.order_id == Order.id)
    .correlate_except(OrderItem)
    .scalar_subquery(),
    deferred=True,
)


class Return(Audited, Model):
    __tablename__ = "customer_return"
    id = Column(Integer, primary_key=True)
    customer_id = Column(
        Integer,
        ForeignKey("customer.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    customer = relationship(Customer)
    order_id = Column(
        Integer,
        ForeignKey("customer_order.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    order = relationship(Order)
    amount = Column(MONEY, nullable=False)
    reason = Column(Text, nullable=False)
    status = Column(
        _enum(ReturnStatus, "return_status"),
        default=ReturnStatus.REQUESTED,
        nullable=False,
    )
    __table_args__ = (CheckConstraint("amount > 0", name="ck_return_amount"),)

    def __str__(self):
        return str(_l("Возврат №%(id)s", id=self.id))


class Review(Audited, Model):
    __tablename__ = "review"
    id = Column(Integer, primary_key=True)
    customer_id = Column(
        Integer,
        ForeignKey("customer.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    customer = relationship(Customer)
    order_id = Column(Integer, ForeignKey("customer_order.id", ondelete="SET NULL"))
    order = relationship(Order)
    specialist_id = Column(Integer, ForeignKey("ab_user.id"))
    specialist = relationship("User", foreign_keys=[specialist_id])
    rating = Column(SmallInteger, nullable=False)
    text = Column(Text)
    moderation_status = Column(
        _enum(ModerationStatus, "moderation_status"),
        default=ModerationStatus.PENDING,
        nullable=False,
    )
    reply = Column(Text)
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="ck_review_rating"),)

    def __str__(self):
        return str(_l("Отзыв №%(id)s", id=self.id))


class Note(Audited, Model):
    __tablename__ = "note"
    # the notes list is newest first: without it a million notes are sorted per page view
    __table_args__ = (Index("ix_note_created_on_id", "created_on", "id"),)
    id = Column(Integer, primary_key=True)
    customer_id = Column(
        Integer,
        ForeignKey("customer.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    customer = relationship(Customer)
    text = Column(Text, nullable=False)
    pinned = Column(Boolean, default=False, nullable=False)

    def __str__(self):
        return (self.text or "")[:50]


class MedicalRecord(Audited, Model):
    """«Анамнез»: a clinic customer's medical history entry."""

    __tablename__ = "medical_record"
    __table_args__ = (Index("ix_medical_record_created_on_id", "created_on", "id"),)
    id = Column(Integer, primary_key=True)
    customer_id = Column(
        Integer,
        ForeignKey("customer.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    customer = relationship(Customer)
    allergies = Column(Text)
    conditions = Column(Text)
    medications = Column(Text)
    contraindications = Column(Text)
    text = Column(Text)

    def __str__(self):
        return str(_l("Запись анамнеза №%(id)s", id=self.id))


# --------------------------------------------------------------------------
# Personal-data access journal (152-FZ): reveals, exports, restricted reads
# --------------------------------------------------------------------------


class AccessAction(LabeledEnum):
    REVEAL = "reveal", _l("Показ скрытого поля")
    EXPORT = "export", _l("Выгрузка")
    CARD = "card", _l("Открытие карточки")
    TAB = "tab", _l("Открытие вкладки")
    DOWNLOAD = "download", _l("Скачивание файла")
    API_READ = "api_read", _l("Чтение через API")


class AccessLog(Model):
    __tablename__ = "access_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, default=utcnow, nullable=False, index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    user = relationship("User", foreign_keys=[user_id])
    # no foreign key: the journal is append-only, a deleted customer's rows included
    # (the key emptied them on the deletion); the id says whose data was read
    customer_id = Column(Integer, nullable=True)
    customer = relationship(
        Customer, primaryjoin="foreign(AccessLog.customer_id) == Customer.id", viewonly=True
    )
    action = Column(_enum(AccessAction, "access_action"), nullable=False)
    field = Column(String(60))
    ip = Column(String(45))
    detail = Column(String(300))
    user_agent = Column(String(300))
    __table_args__ = (
        sometimes_set_index("ix_access_log_user_id", "user_id"),
        sometimes_set_index("ix_access_log_customer_id", "customer_id"),
    )


# --------------------------------------------------------------------------
# Sign-ins: server-side sessions and the login throttle (app/sessions.py,
# app/logins.py)
# --------------------------------------------------------------------------


class UserSession(Model):
    """A signed-in browser (or an API token's) session, kept on the server.

    ``session_id``, ``data`` and ``expiry`` are Flask-Session's SQLAlchemy
    columns (its interface reads and writes them); who, since when, from where and
    with which browser are Kartoteka's, for the session lists. Deleting the row
    ends the session on every worker at its next request."""

    __tablename__ = "user_session"
    id = Column(Integer, primary_key=True)
    session_id = Column(String(255), unique=True, nullable=False)
    data = Column(LargeBinary)
    expiry = Column(DateTime, index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=True, index=True)
    user = relationship("User", foreign_keys=[user_id])
    created_at = Column(DateTime, default=utcnow, nullable=False)
    seen_at = Column(DateTime, default=utcnow, nullable=False)
    ip = Column(String(45))
    user_agent = Column(String(300))
    kind = Column(String(16), nullable=False, default="browser")  # browser | token


class ThrottleKind(LabeledEnum):
    ACCOUNT = "account", _l("Учётная запись")
    ADDRESS = "address", _l("Адрес")
    KNOWN = "known", _l("Вход с адреса")


class LoginThrottle(Model):
    """Failed sign-ins counted per account and per address, in the database that
    every web worker shares; a ``known`` row remembers that an account signed in
    from an address (its staff are not delayed for others' failures there)."""

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("kind", "subject", name="uq_login_throttle_kind_subject"),)
    id = Column(Integer, primary_key=True)
    kind = Column(_enum(ThrottleKind, "throttle_kind"), nullable=False)
    subject = Column(String(255), nullable=False)
    label = Column(String(255))  # what the administrator reads: the login typed, the address
    failures = Column(Integer, nullable=False, default=0)
    last_failure_at = Column(DateTime)
    blocked_until = Column(DateTime, index=True)
    succeeded_at = Column(DateTime)


# --------------------------------------------------------------------------
# Extra fields an administrator defines per customer type, without code
# --------------------------------------------------------------------------


class AttributeKind(LabeledEnum):
    TEXT = "text", _l("Текст")
    NUMBER = "number", _l("Число")
    DATE = "date", _l("Дата")


class CustomerAttribute(Audited, Model):
    """An extra field of the card for one customer type (e.g. ИНН for a legal entity)."""

    __tablename__ = "customer_attribute"
    id = Column(Integer, primary_key=True)
    customer_type = Column(_enum(CustomerType, "customer_type"), nullable=False, index=True)
    label = Column(String(150), nullable=False)
    kind = Column(_enum(AttributeKind, "attribute_kind"), default=AttributeKind.TEXT, nullable=False)
    required = Column(Boolean, default=False, nullable=False)
    position = Column(Integer, default=0, nullable=False)

    def __str__(self):
        return self.label


class CustomerAttributeValue(Model):
    __tablename__ = "customer_attribute_value"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    attribute_id = Column(Integer, ForeignKey("customer_attribute.id", ondelete="CASCADE"), nullable=False)
    attribute = relationship(CustomerAttribute)
    value = Column(String(500), nullable=False)
    __table_args__ = (UniqueConstraint("customer_id", "attribute_id", name="uq_customer_attribute_value"),)


Customer.attribute_values = relationship(
    CustomerAttributeValue,
    cascade="all, delete-orphan",
    lazy="select",
    order_by=CustomerAttributeValue.attribute_id,
)


# --------------------------------------------------------------------------
# Change history («История изменений»): who changed which field, old -> new
# --------------------------------------------------------------------------


class ChangeLog(Model):
    __tablename__ = "change_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, default=utcnow, nullable=False, index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    user = relationship("User", foreign_keys=[user_id])
    # no foreign key: the history outlives its customer (a deletion is a row of it too);
    # the id of a deleted customer is kept so that the list still says whose it was
    customer_id = Column(Integer, nullable=True)
    customer = relationship(
        Customer, primaryjoin="foreign(ChangeLog.customer_id) == Customer.id", viewonly=True
    )
    entity = Column(String(40), nullable=False)  # model class name
    entity_id = Column(Integer)
    action = Column(String(10), nullable=False)  # create / update / delete
    field = Column(String(60))
    # copies of the changed field's values: shown as that field is (app/disclosure.py)
    old_value = Column(Text, info={"copy_of": ("entity", "field")})
    new_value = Column(Text, info={"copy_of": ("entity", "field")})
    # a record's own history, and a card's rows since its customer's last deletion
    __table_args__ = (
        Index("ix_change_log_entity", "entity", "entity_id"),
        sometimes_set_index("ix_change_log_customer_id", "customer_id"),
    )


# --------------------------------------------------------------------------
# Notifications: the outbox (a message is a row first), templates, consents
# --------------------------------------------------------------------------


class Channel(LabeledEnum):
    SMS = "sms", _l("SMS")
    EMAIL = "email", _l("Эл. почта")
    PUSH = "push", _l("Push-уведомление")


class MessageType(LabeledEnum):
    """The flag: the message is for the customer. A customer's status («Проблемный»,
    «Заблокирован») is the staff's own note and was texted to the customer; it is
    kept as a type for the messages already written, and never sent again."""

    WELCOME = "welcome", _l("Приветствие"), True
    STATUS_CHANGED = "status_changed", _l("Изменение статуса клиента"), False
    ORDER_CREATED = "order_created", _l("Заказ оформлен"), True
    ORDER_STATUS = "order_status", _l("Изменение статуса заказа"), True
    VISIT_REMINDER = "visit_reminder", _l("Напоминание о визите"), True
    VISIT_MOVED = "visit_moved", _l("Перенос визита"), True
    RETURN_STATUS = "return_status", _l("Решение по возврату"), True
    MANUAL = "manual", _l("Сообщение сотрудника"), True
    MARKETING = "marketing", _l("Рекламная рассылка"), True
    BONUS_EXPIRED = "bonus_expired", _l("Сгорание бонусов"), True
    DEPOSIT_SENT = "deposit_sent", _l("Перевод с депозита"), True
    DEPOSIT_RECEIVED = "deposit_received", _l("Перевод на депозит"), True
    CERTIFICATE_RECEIVED = "certificate_received", _l("Сертификат передан клиенту"), True
    CERTIFICATE_GIVEN = "certificate_given", _l("Сертификат передан другому клиенту"), True
    CERTIFICATE_CANCELLED = "certificate_cancelled", _l("Сертификат аннулирован"), True
    REVIEW_REPLY = "review_reply", _l("Ответ на отзыв"), True

    @property
    def customer_facing(self) -> bool:
        return bool(self.flag)


class MessageStatus(LabeledEnum):
    QUEUED = "queued", _l("В очереди")
    SENDING = "sending", _l("Отправляется")
    SENT = "sent", _l("Отправлено")
    FAILED = "failed", _l("Ошибка")
    CANCELLED = "cancelled", _l("Отменено")
    EXPIRED = "expired", _l("Просрочено")  # not sent before its deadline (MESSAGE_HORIZONS)


# The final states: nothing more happens to the message unless staff resend it.
MESSAGE_FINAL = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.EXPIRED)
# What «Повторить отправку» accepts.
MESSAGE_RESENDABLE = (MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.EXPIRED)


class AttemptOutcome(LabeledEnum):
    SENT = "sent", _l("Отправлено")
    RETRY = "retry", _l("Временная ошибка, будет повтор")
    FAILED = "failed", _l("Ошибка")
    CANCELLED = "cancelled", _l("Отменено")
    EXPIRED = "expired", _l("Просрочено")
    INTERRUPTED = "interrupted", _l("Прервано: обработчик не ответил")
    SUPERSEDED = "superseded", _l("Ответ пришёл после передачи другому обработчику")


class MessageTemplate(Audited, Model):
    """The text of one message type on one channel; Jinja rendered in a sandbox."""

    __tablename__ = "message_template"
    id = Column(Integer, primary_key=True)
    message_type = Column(_enum(MessageType, "message_type"), nullable=False)
    channel = Column(_enum(Channel, "channel"), nullable=False)
    subject = Column(String(200))
    body = Column(Text, nullable=False)
    active = Column(Boolean, default=True, nullable=False)
    __table_args__ = (UniqueConstraint("message_type", "channel", name="uq_message_template_type_channel"),)

    @property
    def audience(self):
        """Who reads this text, as the templates screen says it."""
        if self.message_type is not None and self.message_type.customer_facing:
            return _l("Клиенту")
        return _l("Никому: служебное событие, клиенту не отправляется")

    def __str__(self):
        return f"{self.message_type} / {self.channel}"


class Message(Audited, Model):
    """The outbox and the delivery log: written with the event, delivered by a worker."""

    __tablename__ = "message"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    customer = relationship(Customer)
    order_id = Column(Integer, ForeignKey("customer_order.id", ondelete="SET NULL"))
    order = relationship(Order)  # (the change history names it «Заказ №…»)
    channel = Column(_enum(Channel, "channel"), nullable=False)
    message_type = Column(_enum(MessageType, "message_type"), nullable=False)
    subject = Column(String(200))
    body = Column(Text, nullable=False)
    status = Column(_enum(MessageStatus, "message_status"), default=MessageStatus.QUEUED, nullable=False)
    attempts = Column(Integer, default=0, nullable=False)
    last_error = Column(String(500))
    provider_id = Column(String(120))
    send_after = Column(DateTime, default=utcnow, nullable=False)
    # Retried until then, «просрочено» after (app.notifications.deadline).
    expires_at = Column(DateTime)
    enqueued_at = Column(DateTime)
    started_at = Column(DateTime)
    sent_at = Column(DateTime)
    # One per row, never reused (ids are, after a restore): the gateways' Idempotency-Key
    # and the e-mail's Message-ID, the same on every attempt.
    delivery_key = Column(String(64), nullable=False, unique=True, default=lambda: uuid.uuid4().hex)
    # A worker died while sending it (handed out again after its lease), or the provider
    # took it and its answer never came (retried): it may have reached the customer twice
    # (shown as «Отправлено повторно после сбоя»).
    after_crash = Column(Boolean, nullable=False, default=False, server_default=sa_false())
    attempt_log = relationship(
        "MessageAttempt",
        order_by="MessageAttempt.number",
        viewonly=True,
    )
    __table_args__ = (Index("ix_message_status_send_after", "status", "send_after"),)

    def __str__(self):
        return str(_l("Сообщение №%(id)s", id=self.id))

    @property
    def delivery(self) -> str:
        return delivery_label(self.status, self.after_crash)


def delivery_label(status: MessageStatus | None, after_crash: bool) -> str:
    """The state staff read: the status, and whether a crash may have doubled it."""
    if status == MessageStatus.SENT and after_crash:
        return str(_l("Отправлено повторно после сбоя"))
    if status in (MessageStatus.FAILED, MessageStatus.EXPIRED) and after_crash:
        # an attempt went unanswered (or its worker died mid-send): it may have arrived,
        # and «Отправить снова» would send it a second time
        return str(_l("%(status)s (одна из попыток могла дойти)", status=status.label))
    return str(status.label) if status else ""


class MessageAttempt(Model):
    """One try to deliver a message: when, by which worker, what the provider answered.

    Written by the worker when it claims the message and completed with the outcome;
    a resend adds attempts, never erases them."""

    __tablename__ = "message_attempt"
    id = Column(Integer, primary_key=True)
    message_id = Column(Integer, ForeignKey("message.id", ondelete="CASCADE"), nullable=False, index=True)
    message = relationship(Message)
    number = Column(Integer, nullable=False)
    started_at = Column(DateTime, nullable=False, default=utcnow)
    finished_at = Column(DateTime)
    worker = Column(String(120))
    outcome = Column(_enum(AttemptOutcome, "attempt_outcome"))  # none yet: the send is under way
    reason = Column(String(500))  # in the clinic's language
    provider_answer = Column(String(1000))  # the provider's own words, as they came
    provider_id = Column(String(120))
    __table_args__ = (UniqueConstraint("message_id", "number", name="uq_message_attempt_number"),)

    def __str__(self):
        return str(_l("Попытка %(number)s", number=self.number))


class ChannelPause(Model):
    """A channel an administrator paused: its messages wait (and may expire) until resumed."""

    __tablename__ = "channel_pause"
    channel = Column(_enum(Channel, "channel"), primary_key=True)
    paused_at = Column(DateTime, nullable=False, default=utcnow)
    paused_by_fk = Column(Integer, ForeignKey("ab_user.id"), default=_current_user_id)
    paused_by = relationship("User")


class ServiceBeat(Model):
    """When a background service (the sweeper) last did its round: the health report reads it."""

    __tablename__ = "service_beat"
    name = Column(String(40), primary_key=True)
    beat_at = Column(DateTime, nullable=False)


class NotificationConsent(Audited, Model):
    """A customer's yes or no to one message type on one channel (seed 001: «Уведомления»)."""

    __tablename__ = "notification_consent"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    customer = relationship(Customer)
    message_type = Column(_enum(MessageType, "message_type"), nullable=False)
    channel = Column(_enum(Channel, "channel"), nullable=False)
    allowed = Column(Boolean, nullable=False)
    __table_args__ = (
        UniqueConstraint("customer_id", "message_type", "channel", name="uq_consent_customer_type_channel"),
    )


# --------------------------------------------------------------------------
# The customer's money (issue 18): payments as records, accounts as ledgers
# --------------------------------------------------------------------------


class PaymentMethod(LabeledEnum):
    """How a payment was made. The flag: the customer's account it is taken from."""

    CASH = "cash", _l("Наличные")
    CARD = "card", _l("Карта")
    TRANSFER = "transfer", _l("Перевод")
    DEPOSIT = "deposit", _l("С депозита"), "deposit"
    BONUS = "bonus", _l("Бонусами"), "bonus"
    CERTIFICATE = "certificate", _l("Сертификатом")

    @property
    def account(self) -> str | None:
        return self.flag


class Payment(Audited, Model):
    """Money received for an order (positive) or given back (negative: a refund of a
    return, or the reversal of a mistaken payment). Never edited, never deleted: the
    order's «Оплачено» is the sum of its payments (app/payments.py keeps it)."""

    __tablename__ = "payment"
    id = Column(Integer, primary_key=True)
    # an order or a return with payments is not deleted (the database refuses it too);
    # deleting the customer takes their payments with them (customer_id cascades)
    order_id = Column(Integer, ForeignKey("customer_order.id"), nullable=False, index=True)
    order = relationship(Order)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    customer = relationship(Customer)
    amount = Column(MONEY, nullable=False)
    method = Column(_enum(PaymentMethod, "payment_method"), nullable=False)
    paid_at = Column(DateTime, nullable=False, default=utcnow)
    comment = Column(Text)
    reverses_id = Column(Integer, ForeignKey("payment.id", ondelete="CASCADE"), unique=True)
    reverses = relationship("Payment", remote_side=[id], foreign_keys=[reverses_id])
    # a return's refunds: one per way it goes back (a full return paid by bonuses and from
    # the deposit gives each part back where it came from, app/payments.py refund_return)
    return_id = Column(Integer, ForeignKey("customer_return.id"))
    refund_of = relationship(Return, foreign_keys=[return_id])
    # paid by (or reversed back to) a certificate or a subscription (app/certificates.py)
    certificate_id = Column(Integer, ForeignKey("certificate.id"))
    certificate = relationship("Certificate", foreign_keys=[certificate_id])
    __table_args__ = (
        CheckConstraint("amount <> 0", name="ck_payment_amount_nonzero"),
        sometimes_set_index("ix_payment_certificate_id", "certificate_id"),
        sometimes_set_index("ix_payment_return_id", "return_id"),
    )

    @property
    def kind(self) -> str:
        return payment_kind(self.return_id, self.reverses_id)

    @property
    def how(self) -> str:
        """«Способ оплаты» as the payment's page shows it: what a refund put on the
        deposit where that is not its amount (payment_method_label)."""
        moved = None
        if self.amount is not None and self.amount < 0:
            moved = self.put_on_account()
            moved = moved if moved is not None else -Decimal(self.amount)
        return payment_method_label(self.method, self.amount, moved)

    def put_on_account(self) -> Decimal | None:
        """What this refund put on an account (the REFUND operation naming it), or None."""
        from sqlalchemy.orm import object_session

        session = object_session(self)
        if session is None or self.id is None or PaymentMethod(self.method).account is None:
            return None
        moved = session.scalar(  # bonuses given back come as the lots they were: several operations
            select(func.sum(AccountOperation.amount)).where(
                AccountOperation.payment_id == self.id, AccountOperation.kind == OperationKind.REFUND
            )
        )
        return Decimal(moved) if moved is not None else None

    def __str__(self):
        return str(_l("Платёж №%(id)s", id=self.id))


def payment_method_label(method, amount, moved) -> str:
    """A payment's «Способ оплаты» as the lists and its page show it: the method, or, where
    a reversal or a refund put on the deposit less than its amount (a cancelled
    certificate's payment goes back at what it cost, app/payments.py given_back), what
    actually went there: the row's −2 000 keeps the order's books, «На депозит 1 600,00 ₽»
    tells what the customer got."""
    from .formatting import money

    if method is None:
        return ""
    method = PaymentMethod(method)
    if method == PaymentMethod.DEPOSIT and moved is not None and Decimal(moved) != -Decimal(amount):
        return str(_l("На депозит %(amount)s (по цене аннулированного сертификата)", amount=money(moved)))
    return str(method)


def payment_kind(return_id, reverses_id) -> str:
    """What a payment is: a payment, a return's refund, or the reversal of a mistake."""
    if return_id is not None:
        return str(_l("Возврат денег"))
    if reverses_id is not None:
        return str(_l("Сторно"))
    return str(_l("Оплата"))


class Account(LabeledEnum):
    DEPOSIT = "deposit", _l("Депозит")
    BONUS = "bonus", _l("Бонусы")


class OperationKind(LabeledEnum):
    """What moved money on an account. The flag: the sign it is written with."""

    TOP_UP = "top_up", _l("Пополнение"), 1
    PAYMENT = "payment", _l("Оплата заказа"), -1
    REFUND = "refund", _l("Возврат на счёт"), 1
    ACCRUAL = "accrual", _l("Начисление"), 1
    WRITE_OFF = "write_off", _l("Списание"), -1
    EXPIRY = "expiry", _l("Сгорание"), -1
    OPENING = "opening", _l("Остаток на начало учёта"), 1
    PURCHASE = "purchase", _l("Покупка сертификата"), -1  # a certificate sold for the deposit
    # a deposit moved to another customer's (a relative's): two operations, linked
    TRANSFER_OUT = "transfer_out", _l("Перевод на счёт другого клиента"), -1
    TRANSFER_IN = "transfer_in", _l("Перевод со счёта другого клиента"), 1
    # a cancelled certificate's or subscription's unspent part, refunded to the deposit
    CERTIFICATE_REFUND = "certificate_refund", _l("Возврат за сертификат"), 1


class AccountOperation(Audited, Model):
    """One movement on a customer's deposit or bonus account; the balance is the sum
    of the amounts (signed), kept on the customer in the same transaction."""

    __tablename__ = "account_operation"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    customer = relationship(Customer)
    account = Column(_enum(Account, "account"), nullable=False)
    kind = Column(_enum(OperationKind, "operation_kind"), nullable=False)
    amount = Column(MONEY, nullable=False)
    payment_id = Column(Integer, ForeignKey("payment.id", ondelete="CASCADE"))
    payment = relationship(Payment)
    comment = Column(Text)
    expires_at = Column(DateTime)  # bonuses: when what is left of this accrual burns
    closed_at = Column(DateTime)  # when its expiry was settled (what was left of it burnt)
    # a transfer's other half: the operation on the other customer's account
    linked_id = Column(Integer, ForeignKey("account_operation.id", ondelete="SET NULL"))
    linked = relationship("AccountOperation", remote_side=[id], foreign_keys=[linked_id])
    __table_args__ = (
        CheckConstraint("amount <> 0", name="ck_account_operation_nonzero"),
        Index("ix_account_operation_customer_account", "customer_id", "account"),
        sometimes_set_index("ix_account_operation_payment_id", "payment_id"),
    )

    def __str__(self):
        return str(_l("Операция №%(id)s", id=self.id))


class DiscountRule(LabeledEnum):
    """How the customer's own and their category's «Скидка, %» make an item's discount."""

    LARGER = "larger", _l("Большая из двух (клиента или категории)")
    SUM = "sum", _l("Сумма двух (не больше 100 %)")
    CATEGORY = "category", _l("Только скидка категории")
    CUSTOMER = "customer", _l("Только скидка клиента")


class MoneyRules(Audited, Model):
    """The clinic's money rules, chosen by the administrator: one row (id 1)."""

    __tablename__ = "money_rules"
    id = Column(Integer, primary_key=True)
    discount_rule = Column(_enum(DiscountRule, "discount_rule"), default=DiscountRule.LARGER, nullable=False)

    def __str__(self):
        return str(_l("Правила расчётов"))


def kopecks(value) -> Decimal:
    """An amount rounded to kopecks: the one rounding rule money follows (half up)."""
    from decimal import ROUND_HALF_UP

    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# Personal data (issue 19): the customer's files (app/files.py)
# --------------------------------------------------------------------------


class FileCategory(LabeledEnum):
    """What a customer's file is: an identity document is passport data (seen and
    downloaded as the field «Серия и номер документа» allows, app/access.py)."""

    IDENTITY = "identity", _l("Документ, удостоверяющий личность")
    MEDICAL = "medical", _l("Медицинский документ")
    CONSENT = "consent", _l("Согласие")
    # before/after photos of a face or a body: opened by who treats the customer and the
    # manager (app/access.py FILE_CATEGORY_CAPACITIES)
    PHOTO = "photo", _l("Фото")
    OTHER = "other", _l("Прочее")


class CustomerFile(Audited, Model):
    """A file on the customer's card (a scanned passport, a consent signed on paper).

    The content lives under ``instance/files`` by a random name (``stored_name``);
    ``content_type`` and ``kind`` come from the content, never from the name."""

    __tablename__ = "customer_file"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    customer = relationship(Customer)
    name = Column(String(200), nullable=False)
    kind = Column(String(10), nullable=False)
    content_type = Column(String(100), nullable=False)
    size = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    stored_name = Column(String(64), nullable=False, unique=True)
    # files stored before categories were identity documents for all we know (0031)
    category = Column(_enum(FileCategory, "file_category"), nullable=False, default=FileCategory.OTHER)

    def __str__(self):
        return self.name


# Consents to processing (app/consents.py): a ledger, one row per decision.


class ConsentPurpose(LabeledEnum):
    TREATMENT = "treatment", _l("Лечение и медицинские услуги")
    NOTIFICATIONS = "notifications", _l("Уведомления")
    MARKETING = "marketing", _l("Реклама и рассылки")
    THIRD_PARTIES = "third_parties", _l("Передача третьим лицам")


class ConsentMethod(LabeledEnum):
    PAPER = "paper", _l("Подписано на бумаге (скан в «Файлах»)")
    SCREEN = "screen", _l("Подписано на экране")


class ConsentText(Model):
    """A version of a consent's text; a changed text is a new version, the old ones
    are kept (a consent names the version the customer signed)."""

    __tablename__ = "consent_text"
    __table_args__ = (UniqueConstraint("purpose", "version", name="uq_consent_text_version"),)
    id = Column(Integer, primary_key=True)
    purpose = Column(_enum(ConsentPurpose, "consent_purpose"), nullable=False)
    version = Column(Integer, nullable=False)
    text = Column(Text, nullable=False)
    created_on = Column(DateTime, default=utcnow, nullable=False)
    created_by_fk = Column(Integer, ForeignKey("ab_user.id"), default=_current_user_id, nullable=True)
    created_by = relationship("User", foreign_keys=[created_by_fk])

    def __str__(self):
        return f"{self.purpose.label}, v{self.version}"


class ProcessingConsent(Model):
    """One decision of a customer on one purpose: given or withdrawn (a withdrawal is
    a new row, never an edit), on which text, how, when and taken by whom."""

    __tablename__ = "processing_consent"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    customer = relationship(Customer)
    purpose = Column(_enum(ConsentPurpose, "consent_purpose"), nullable=False)
    given = Column(Boolean, nullable=False)
    text_id = Column(Integer, ForeignKey("consent_text.id"), nullable=False)
    consent_text = relationship(ConsentText)
    method = Column(_enum(ConsentMethod, "consent_method"), nullable=True)
    file_id = Column(Integer, ForeignKey("customer_file.id", ondelete="SET NULL"), nullable=True)
    file = relationship(CustomerFile)
    at = Column(DateTime, default=utcnow, nullable=False, index=True)
    employee_id = Column(Integer, ForeignKey("ab_user.id"), default=_current_user_id, nullable=True)
    employee = relationship("User", foreign_keys=[employee_id])

    def __str__(self):
        return str(self.purpose.label)


# Subject requests (app/subjects.py): a customer's request to hand over or destroy their data.


class SubjectRequestKind(LabeledEnum):
    EXPORT = "export", _l("Выдача данных")
    ERASURE = "erasure", _l("Уничтожение данных")


class SubjectRequestStatus(LabeledEnum):
    QUEUED = "queued", _l("В очереди")
    RUNNING = "running", _l("Выполняется")
    DONE = "done", _l("Выполнен")
    FAILED = "failed", _l("Ошибка")


def kept_subject(number, name, card) -> str | None:
    """A deleted customer as their subject request keeps them: «Иванов Иван, карта 0012,
    клиент № 5 (удалён)»; what an erasure blanked is left out; None when nothing was kept
    (a request older than the label, its customer deleted before it)."""
    parts = [
        name or "",
        str(_l("карта %(card)s", card=card)) if card else "",
        str(_l("клиент № %(id)s", id=number)) if number is not None else "",
    ]
    who = ", ".join(part for part in parts if part)
    return str(_l("%(who)s (удалён)", who=who)) if who else None


class ErasedSubject:
    """An erased customer as their subject requests name them: a link to the card that
    says the number only («клиент № 5»), as the journal and the history keep it; their
    row (and its «Удалён») is what the erasure left, no name to tell two erased apart.
    Not a tuple: a list's cell would join a tuple's parts («5, клиент № 5»)."""

    __slots__ = ("id", "full_name")

    def __init__(self, pk: int, full_name: str):
        self.id, self.full_name = pk, full_name

    def __str__(self):
        return self.full_name


def erased_subject(pk, number, name, card) -> ErasedSubject | None:
    """The request's customer as an erased one (its label left the number only), else None."""
    if pk is None or number is None or name is not None or card is not None:
        return None
    return ErasedSubject(pk, str(_l("клиент № %(id)s", id=number)))


class SubjectRequest(Model):
    """A subject's request (152-FZ, art. 14, 21): received when, due when (10 working
    days), on which basis, its progress; an export's ZIP, an erasure's act. Kept after
    the erasure: the customer's row stays, anonymised. It outlives its customer too:
    deleting the customer empties ``customer_id`` (the rules read it: whether a customer
    was erased, what an export collects), and the request still says whom it was about
    by the label kept at its creation (:attr:`subject`)."""

    __tablename__ = "subject_request"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="SET NULL"), nullable=True)
    customer = relationship(Customer)
    # whom it was about, as the clinic knew them when it was received (app/subjects.py
    # start): the customer's number (the act's, the journal's and the history's), their
    # name and card number; an erasure leaves the number only (app/subjects.py erase)
    customer_number = Column(Integer)
    customer_name = Column(String(300))
    customer_card = Column(String(40))
    kind = Column(_enum(SubjectRequestKind, "subject_request_kind"), nullable=False)
    status = Column(_enum(SubjectRequestStatus, "subject_request_status"), nullable=False)
    progress = Column(Integer, nullable=False, default=0)
    basis = Column(String(300), nullable=False)
    received_at = Column(DateTime, nullable=False, default=utcnow)
    deadline = Column(DateTime, nullable=False)
    done_at = Column(DateTime)
    created_by_fk = Column(Integer, ForeignKey("ab_user.id"), default=_current_user_id, nullable=True)
    created_by = relationship("User", foreign_keys=[created_by_fk])
    stored_name = Column(String(64))
    act = Column(Text)
    error = Column(String(300))
    __table_args__ = (sometimes_set_index("ix_subject_request_customer_id", "customer_id"),)

    def __str__(self):
        return f"{self.kind.label} №{self.id}"

    @property
    def subject(self):
        """Whom the request is about: the customer while their row is there, else the
        label kept at the request's creation (:func:`kept_subject`)."""
        if self.customer is not None:
            erased = erased_subject(
                self.customer_id, self.customer_number, self.customer_name, self.customer_card
            )
            return erased or self.customer
        return kept_subject(self.customer_number, self.customer_name, self.customer_card)

    @property
    def download(self):
        """The export's number while its ZIP is there to download (the list's link)."""
        return self.id if self.stored_name else None


# --------------------------------------------------------------------------
# Certificates and subscriptions (issue 18, item 4; app/certificates.py)
# --------------------------------------------------------------------------


class CertificateType(LabeledEnum):
    """What a kind holds: money to pay with, or visits of given services."""

    SUM = "sum", _l("Сертификат на сумму")
    VISITS = "visits", _l("Абонемент на визиты")


certificate_kind_service = Table(
    "certificate_kind_service",
    Model.metadata,
    Column("kind_id", Integer, ForeignKey("certificate_kind.id", ondelete="CASCADE"), primary_key=True),
    Column("catalog_item_id", Integer, ForeignKey("catalog_item.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_certificate_kind_service_item", "catalog_item_id"),
)


class CertificateKind(Audited, Model):
    """A kind the administrator defines: a certificate for a sum (limited to some
    services or to none) or a subscription of N visits of given services, sold at a
    price and valid for a number of days from the sale."""

    __tablename__ = "certificate_kind"
    id = Column(Integer, primary_key=True)
    name = Column(String(150), unique=True, nullable=False)
    type = Column(_enum(CertificateType, "certificate_type"), default=CertificateType.SUM, nullable=False)
    price = Column(MONEY, nullable=False)  # what the customer pays for it
    amount = Column(MONEY)  # a certificate's nominal (blank: the price)
    visits = Column(Integer)  # a subscription's visits
    valid_days = Column(Integer, nullable=False)
    services = relationship(CatalogItem, secondary=certificate_kind_service, lazy="select")
    active = Column(Boolean, default=True, nullable=False)
    __table_args__ = (
        CheckConstraint("price >= 0", name="ck_certificate_kind_price"),
        CheckConstraint("valid_days > 0", name="ck_certificate_kind_days"),
    )

    @property
    def nominal(self) -> str:
        """«Номинал» as shown: a blank one is the price (app/certificates.py nominal)."""
        from .formatting import kind_nominal

        return kind_nominal(self.type, self.price, self.amount)

    def __str__(self):
        return self.name


certificate_service = Table(
    "certificate_service",
    Model.metadata,
    Column("certificate_id", Integer, ForeignKey("certificate.id", ondelete="CASCADE"), primary_key=True),
    Column("catalog_item_id", Integer, ForeignKey("catalog_item.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_certificate_service_item", "catalog_item_id"),
)


class Certificate(Audited, Model):
    """A certificate or subscription sold to a customer: its number, when it was sold
    and by whom (created_by), until when it is valid, what was paid for it and how.
    What is left (money or visits) is the sum of its operations, kept on the row by
    conditional UPDATEs (app/certificates.py), as a deposit's balance is.

    The kind's terms are copied at the sale (price, nominal, visits, validity, the
    services): a kind edited later changes what is sold from then on, never what was
    sold. A cancelled one («Аннулирован», by the manager) pays for nothing more."""

    __tablename__ = "certificate"
    id = Column(Integer, primary_key=True)
    code = Column(String(20), unique=True, nullable=False)
    kind_id = Column(Integer, ForeignKey("certificate_kind.id"), nullable=False, index=True)
    kind = relationship(CertificateKind)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True)
    customer = relationship(Customer, foreign_keys=[customer_id])
    # who paid for it: its holder until it is passed to another customer (a present); a
    # cancellation refunds them, and a reversal of what they paid with it goes back to them
    buyer_id = Column(Integer, ForeignKey("customer.id", ondelete="SET NULL"))
    buyer = relationship(Customer, foreign_keys=[buyer_id])
    type = Column(_enum(CertificateType, "certificate_type"), nullable=False)
    price = Column(MONEY, nullable=False)
    method = Column(_enum(PaymentMethod, "payment_method"), nullable=False)  # how the sale was paid
    sold_at = Column(DateTime, nullable=False, default=utcnow)
    valid_until = Column(DateTime, nullable=False)
    balance = Column(MONEY)  # a certificate's money left
    visits_left = Column(Integer)  # a subscription's visits left
    amount = Column(MONEY)  # the nominal it was sold with (a certificate for a sum)
    visits_total = Column(Integer)  # the visits it was sold with (a subscription)
    services = relationship(CatalogItem, secondary=certificate_service, lazy="select")
    cancelled_at = Column(DateTime)  # cancelled: what was left was refunded (app/payments.py)
    comment = Column(Text)
    __table_args__ = (
        CheckConstraint("balance IS NULL OR balance >= 0", name="ck_certificate_balance"),
        CheckConstraint("visits_left IS NULL OR visits_left >= 0", name="ck_certificate_visits"),
    )

    @property
    def left(self) -> str:
        """What is left, in words: «1 500,00 ₽» or «3 из 10 визитов»."""
        from .formatting import certificate_left

        return certificate_left(self.type, self.balance, self.visits_left, self.visits_total)

    @property
    def state(self) -> str:
        return str(certificate_state(self.valid_until, self.balance, self.visits_left, self.cancelled_at))

    def __str__(self):
        kind = self.kind.name if self.kind else ""
        if self.type == CertificateType.VISITS:
            return str(_l("Абонемент №%(code)s «%(kind)s»", code=self.code, kind=kind))
        return str(_l("Сертификат №%(code)s «%(kind)s»", code=self.code, kind=kind))


def certificate_state(valid_until, balance, visits_left, cancelled_at=None):
    """«Действует», «Истёк», «Израсходован» or «Аннулирован»."""
    if cancelled_at is not None:
        return _l("Аннулирован")
    if valid_until is not None and valid_until < utcnow():
        return _l("Истёк")
    if (balance is not None and balance <= 0) or (visits_left is not None and visits_left <= 0):
        return _l("Израсходован")
    return _l("Действует")


class CertificateOperationKind(LabeledEnum):
    """What moved a certificate. The flag: the sign it is written with."""

    ISSUE = "issue", _l("Продажа"), 1
    PAYMENT = "payment", _l("Оплата заказа"), -1
    REFUND = "refund", _l("Возврат на сертификат"), 1
    CANCEL = "cancel", _l("Аннулирование"), -1  # what was left, refunded to the deposit
    # passed to another customer (a present): its holder changes, nothing it holds moves
    GIFT = "gift", _l("Передан другому клиенту"), 0


class CertificateOperation(Audited, Model):
    """One movement of a certificate: its issue at the sale, a payment from it (money or
    one visit), a reversal putting it back. ``amount`` and ``visits`` are signed."""

    __tablename__ = "certificate_operation"
    id = Column(Integer, primary_key=True)
    certificate_id = Column(
        Integer, ForeignKey("certificate.id", ondelete="CASCADE"), nullable=False, index=True
    )
    certificate = relationship(Certificate)
    kind = Column(_enum(CertificateOperationKind, "certificate_operation_kind"), nullable=False)
    amount = Column(MONEY)
    visits = Column(Integer)
    payment_id = Column(Integer, ForeignKey("payment.id", ondelete="CASCADE"))
    payment = relationship(Payment)
    comment = Column(Text)
    __table_args__ = (sometimes_set_index("ix_certificate_operation_payment_id", "payment_id"),)

    @property
    def customer_id(self):
        """Whose it is (the change history files it on the certificate's customer)."""
        from sqlalchemy.orm import object_session

        certificate = self.__dict__.get("certificate")
        if certificate is None and self.certificate_id is not None:
            session = object_session(self)
            certificate = session.get(Certificate, self.certificate_id) if session is not None else None
        return certificate.customer_id if certificate is not None else None

    def __str__(self):
        return str(_l("Операция №%(id)s", id=self.id))


class RetentionReview(Model):
    """The daily retention job's notice to the managers (app/subjects.py
    review_retention): how many customers are past the retention period and wait for a
    manager to confirm their erasure, and how many are past it but kept because their
    medical records must be kept longer. A row when the numbers change; nothing is
    erased without a manager."""

    __tablename__ = "retention_review"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, default=utcnow, nullable=False, index=True)
    cutoff = Column(DateTime, nullable=False)
    due = Column(Integer, nullable=False)
    kept_medical = Column(Integer, nullable=False, default=0)

    def __str__(self):
        return f"{self.at:%d.%m.%Y}: {self.due}"
