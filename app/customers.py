"""Customer rules: phones, e-mails, uniqueness, statuses, search and KPI figures."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from .errors import Forbidden, StaleEdit, ValidationFailed
from .formatting import date_short, number, typed_date
from .models import (
    ZERO,
    AttributeKind,
    Customer,
    CustomerAttribute,
    CustomerAttributeValue,
    CustomerStatus,
    CustomerType,
    Order,
    OrderStatus,
)

_DIGITS = re.compile(r"\D+")


def normalize_phone(raw: str | None) -> str | None:
    """Parse a phone typed in any common format into E.164 (``+79161234567``)."""
    if raw is None or not raw.strip():
        return None
    region = current_app.config["KARTOTEKA_PHONE_REGION"]
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed(
            {
                "phone": _(
                    "Неверный номер телефона «%(value)s»: укажите номер полностью, например +7 916 123-45-67.",
                    value=raw,
                )
            }
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_search_digits(fragment: str) -> str:
    """Digits of a phone fragment as they appear inside an E.164 number.

    ``8 916 123-45-67`` and ``+7(916)1234567`` both become ``79161234567``;
    ``45-67`` becomes ``4567``.
    """
    digits = _DIGITS.sub("", fragment or "")
    national = _national_start(fragment or "")
    if national is not None and len(digits) == len(national[0]) + 10:
        prefix, country = national
        digits = country + digits[len(prefix) :]
    return digits


def _national_start(fragment: str) -> tuple[str, str] | None:
    """(national prefix, country code) when ``fragment`` starts the way a number is
    dialled inside the clinic's country: «8 916…» in Russia, «0 30…» in Germany."""
    region = current_app.config["KARTOTEKA_PHONE_REGION"]
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = getattr(metadata, "national_prefix", None)
    text = fragment.lstrip(" (")
    if not prefix or not text.startswith(prefix) or text.startswith("+"):
        return None
    return prefix, str(metadata.country_code)


def normalize_email(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValidationFailed(
            {"email": _("Неверный адрес электронной почты «%(value)s».", value=raw)}
        ) from None
    return info.normalized.lower()


def _card_link(customer: Customer) -> Markup:
    url = url_for("CustomerView.show", pk=customer.id)
    return Markup('<a href="%s">%s</a>') % (url, escape(customer.full_name))


def check_discount(discount, errors: dict) -> None:
    """A discount is a share of the price: 0 to 100 %."""
    if discount is not None and not (0 <= discount <= 100):
        errors["discount"] = _("Скидка должна быть от 0 до 100 %.")


def prepare_category(category) -> None:
    """A customer category's discount follows the customer's rule (a category with
    687 % was saved)."""
    errors: dict = {}
    check_discount(category.discount, errors)
    if errors:
        raise ValidationFailed(errors)


def prepare_branch(branch) -> None:
    """A branch's phone is kept as a customer's is, in E.164 («8 495 123-45-67» was
    stored as typed, and shown so, next to the customers' uniform numbers)."""
    branch.phone = normalize_phone(branch.phone)


def prepare_customer(session: Session, customer: Customer) -> Customer:
    """Normalize and check a customer before it is saved (new or edited).

    Raises ValidationFailed naming the existing customer when the phone or
    e-mail is already taken.
    """
    errors: dict[str | None, str] = {}
    for field in ("phone", "phone_extra"):
        try:
            setattr(customer, field, normalize_phone(getattr(customer, field)))
        except ValidationFailed as e:
            errors[field] = e.errors["phone"]
    try:
        customer.email = normalize_email(customer.email)
    except ValidationFailed as e:
        errors.update(e.errors)
    for field in ("last_name", "first_name", "middle_name"):
        value = getattr(customer, field)
        setattr(customer, field, value.strip() if value else value)
    customer.name_search = name_search_key(customer)
    if customer.customer_type == CustomerType.INDIVIDUAL:
        customer.company_name = None  # a private person has none (the form hid the field)
    if customer.customer_type == CustomerType.LEGAL:
        # an organisation has no sex or birthday (the form hid them: nothing typed before stays)
        customer.gender = customer.birth_date = None
        if not customer.company_name:
            errors["company_name"] = _("Укажите наименование организации.")
    else:
        if not customer.last_name:
            errors["last_name"] = _("Укажите фамилию.")
        if not customer.first_name:
            errors["first_name"] = _("Укажите имя.")
    check_birth_date(customer.birth_date, errors)
    check_discount(customer.discount, errors)
    with session.no_autoflush:
        if customer.phone and "phone" not in errors:
            other = _find_other(session, Customer.phone == customer.phone, customer.id)
            if other is not None:
                errors["phone"] = Markup(escape(_("Клиент с этим телефоном уже есть: "))) + _card_link(other)
        if customer.email and "email" not in errors:
            other = _find_other(session, Customer.email == customer.email, customer.id)
            if other is not None:
                errors["email"] = Markup(escape(_("Клиент с этой почтой уже есть: "))) + _card_link(other)
    if errors:
        raise ValidationFailed(errors)
    return customer


OLDEST_AGE = 130  # years: a birth date further back is a typing error


def check_birth_date(born: dt.date | None, errors: dict) -> None:
    """A birth date is not in the future and not more than 130 years ago (a date in
    2100 was accepted, and so was the year 90 AD)."""
    if born is None:
        return
    today = dt.date.today()
    if born > today:
        errors["birth_date"] = _("Дата рождения не может быть в будущем.")
    elif born < today.replace(year=today.year - OLDEST_AGE, day=min(today.day, 28)):
        errors["birth_date"] = _(
            "Дата рождения — не раньше чем %(years)s лет назад: проверьте год.", years=OLDEST_AGE
        )


def _find_other(session: Session, condition, own_id: int | None) -> Customer | None:
    stmt = select(Customer).where(condition)
    if own_id is not None:
        stmt = stmt.where(Customer.id != own_id)
    return session.scalars(stmt.limit(1)).first()


def check_version(customer: Customer, submitted_version) -> None:
    """Optimistic lock: refuse a save made from a form opened on an older version."""
    if submitted_version in (None, ""):
        return
    try:
        submitted = int(submitted_version)
    except (TypeError, ValueError):
        submitted = -1
    if submitted != customer.version:
        changed_by = customer.changed_by
        raise StaleEdit(
            {
                None: _(
                    "Карточку клиента уже изменил %(user)s, пока вы её редактировали. "
                    "Ваши данные остались в форме: сверьте их с текущей карточкой и сохраните ещё раз.",
                    user=str(changed_by) if changed_by else _("другой сотрудник"),
                )
            }
        )


_FULL_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_LIKE = re.compile(r"[\d\s()+\-.]+")
# a card's number: one word of up to 40 letters, digits and dashes with a digit in it (a
# name, searched far more often, is not also compared with every card: +40 % at 100,000)
_CARD_LIKE = re.compile(r"(?=[^\s@]*\d)[^\s@]{1,40}")


def fold(text: str) -> str:
    """A name as it is searched: lower case, «ё» as «е» (people type either)."""
    return text.lower().replace("ё", "е")


# Initials are typed with dots («Ёлкина В. П.»), an organisation's name in quotes
# (ООО «Ромашка», ООО "Ромашка"): a word is what is left.
_NAME_PUNCTUATION = str.maketrans(dict.fromkeys('.,;«»"„“”', " "))


def name_words(text: str) -> list[str]:
    """The words of a name as it is searched (folded, without dots, commas and quotes)."""
    return fold(text or "").translate(_NAME_PUNCTUATION).split()


def name_search_key(customer: Customer) -> str:
    """Folded ФИО with a leading space per word: word prefixes become substrings.

    Python lower-cases Cyrillic; SQLite's lower() does not, so the key is
    computed here and stored.
    """
    person = [customer.last_name, customer.first_name, customer.middle_name]
    # a legal entity is named (and sorted) by its organisation, its contact after it
    legal = customer.customer_type == CustomerType.LEGAL
    parts = [customer.company_name, *person] if legal else [*person, customer.company_name]
    return "".join(" " + w for p in parts if p for w in name_words(p))


def name_condition(text: str):
    words = name_words(text)
    if not words:
        return None
    return and_(*[Customer.name_search.contains(" " + w, autoescape=True) for w in words])


def phone_condition(fragment: str):
    """Numbers containing the fragment; a fragment dialled from inside the country
    («8 916 555», «8(988)947») also finds the numbers it begins (+7 916 555…): its
    digits «8916555» appear in no E.164 number, and such a search found nothing."""
    digits = phone_search_digits(fragment)
    if not digits:
        return None
    conditions = [
        Customer.phone.contains(digits, autoescape=True),
        Customer.phone_extra.contains(digits, autoescape=True),
    ]
    national = _national_start(fragment)
    typed = _DIGITS.sub("", fragment)
    if national is not None and len(typed) > len(national[0]):
        # «8 916 555» may be how a number starts (+7 916 555…); «88-77» may be its end
        prefix, country = national
        start = f"+{country}{typed[len(prefix) :]}"
        conditions += [
            Customer.phone.startswith(start, autoescape=True),
            Customer.phone_extra.startswith(start, autoescape=True),
        ]
    return or_(*conditions)


def search_condition(query: str, readable: set[str] = frozenset({"phone", "email"})):
    """One search box: a phone fragment in any format, a name, an e-mail, or a card's
    number (``card_number`` in ``readable``).

    ``readable`` names the contact fields the user may read: a field the user
    may not read is not searched, so the box cannot be used as an oracle.
    """
    query = (query or "").strip()
    if not query:
        return None
    if "card_number" in readable and _CARD_LIKE.fullmatch(query):
        # a loyalty card shown at the desk, typed or read by a scanner, in any case (the
        # index on upper(card_number), migration 0036): it found nobody
        by_card = func.upper(Customer.card_number) == query.upper()
        return or_(by_card, search_condition(query, readable - {"card_number"}))
    nothing = Customer.id.is_(None)
    if "@" in query:
        if "email" not in readable:
            return nothing
        if _FULL_EMAIL.fullmatch(query):
            # a whole address: the unique index answers at once (a LIKE would scan in id order)
            return Customer.email == query.lower()
        return Customer.email.contains(query.lower(), autoescape=True)
    if _PHONE_LIKE.fullmatch(query):
        return phone_condition(query) if "phone" in readable else nothing
    by_name = name_condition(query)
    if "email" in readable:
        return or_(by_name, Customer.email.startswith(query.lower(), autoescape=True))
    return by_name


def unsearchable(query: str, readable: set[str]) -> str | None:
    """``"phone"`` or ``"email"`` when ``query`` is one and the user may not search by it
    (search_condition finds nothing then), else None."""
    query = (query or "").strip()
    if not query:
        return None
    if "@" in query:
        return None if "email" in readable else "email"
    if _PHONE_LIKE.fullmatch(query):
        return None if "phone" in readable else "phone"
    return None


def kpi_columns(scope=None):
    """Orders, total, paid and debt of the customer row they are selected with (cancelled excluded).

    Correlated scalar subqueries, so the card loads the customer and its figures
    in one statement; ``scope`` limits the orders counted (a specialist's own).
    """
    return _unscoped_kpi_columns() if scope is None else _kpi_columns(scope)


@lru_cache(maxsize=1)
def _unscoped_kpi_columns():
    """The figures of every card without a row scope: composed once."""
    return _kpi_columns(None)


def _kpi_columns(scope):
    live = Order.status != OrderStatus.CANCELLED

    def figure(expression):
        stmt = select(expression).where(Order.customer_id == Customer.id)
        if scope is not None:
            stmt = stmt.where(scope)
        return stmt.correlate(Customer).scalar_subquery()

    return (
        # «Заказы» counts the orders its sums add up: a cancelled one in neither
        figure(func.count(case((live, Order.id)))),
        # «Сумма заказов»: what was bought, the refunded returns taken off
        figure(func.coalesce(func.sum(case((live, Order.total - Order.refunded), else_=0)), 0)),
        figure(func.coalesce(func.sum(case((live, Order.paid), else_=0)), 0)),
        figure(func.coalesce(func.sum(Order.debt), 0)),  # each order's own debt (never below 0)
    )


def kpi_figures(orders, total, paid, debt=None) -> dict[str, Decimal | int]:
    total, paid = Decimal(total or 0), Decimal(paid or 0)
    debt = Decimal(debt) if debt is not None else max(total - paid, ZERO)
    return {
        "orders": orders or 0,
        "total": total.quantize(Decimal("0.01")),
        "paid": paid.quantize(Decimal("0.01")),
        "debt": debt.quantize(Decimal("0.01")),
    }


def kpi(session: Session, customer_id: int, scope=None) -> dict[str, Decimal | int]:
    """The KPI figures of one customer (see kpi_columns)."""
    row = session.execute(select(*kpi_columns(scope)).where(Customer.id == customer_id)).one()
    return kpi_figures(*row)


def register_customer(session: Session, customer: Customer) -> Customer:
    """A new customer: checked like any save, and welcomed (in the same transaction)."""
    from .models import MessageType
    from .notifications import queue_notification

    prepare_customer(session, customer)
    queue_notification(session, customer, MessageType.WELCOME)
    return customer


def change_status(
    session: Session, customer: Customer, status: CustomerStatus, *, may_block: bool = True
) -> Customer:
    """Set a status. It is the staff's own mark and is not sent to the customer (a
    «Проблемный» flag was texted and e-mailed to them); the change history keeps it."""
    status = CustomerStatus(status)
    check_status_change(customer.status, status, may_block=may_block)
    customer.status = status
    return customer


def check_status_change(before, after, *, may_block: bool) -> None:
    """«Заблокирован» (no new orders) is set and lifted only by those who may block:
    the front desk flags a customer «Проблемный», it does not block them. «Данные
    уничтожены» is the erasure's (app/subjects.py), nobody's to set."""
    if before == after:
        return
    if after == CustomerStatus.ERASED:
        raise ValidationFailed(
            {"status": _("Статус «Данные уничтожены» ставит только уничтожение данных по запросу клиента.")}
        )
    if may_block:
        return
    if CustomerStatus.BLOCKED in (before, after):
        raise Forbidden({"status": _("Блокировать клиента и снимать блокировку может только управляющий.")})


# ---------------------------------------------------------------------------
# Extra fields per customer type (defined by an administrator in the UI)
# ---------------------------------------------------------------------------


def attributes(session: Session) -> list[CustomerAttribute]:
    return list(
        session.scalars(
            select(CustomerAttribute).order_by(
                CustomerAttribute.customer_type, CustomerAttribute.position, CustomerAttribute.id
            )
        )
    )


def set_attributes(session: Session, customer: Customer, values: dict[int, str | None]) -> None:
    """Store the extra fields of the customer's type; required ones must be filled.

    Values of fields that belong to another customer type are ignored.
    """
    errors: dict[str | None, str] = {}
    current = {v.attribute_id: v for v in customer.attribute_values}
    for attribute in attributes(session):
        if attribute.customer_type != customer.customer_type:
            continue
        name = f"attr_{attribute.id}"
        raw = values.get(attribute.id)
        text = "" if raw is None else str(raw).strip()
        if not text:
            if attribute.required:
                errors[name] = _("Заполните поле «%(label)s».", label=attribute.label)
            elif attribute.id in current:
                customer.attribute_values.remove(current[attribute.id])
            continue
        if attribute.kind == AttributeKind.NUMBER:
            number = typed_number(text)
            if number is None:
                errors[name] = _("В поле «%(label)s» должно быть число.", label=attribute.label)
                continue
            text = str(number)
        if attribute.kind == AttributeKind.DATE:
            day = typed_date(text)
            if day is None:
                errors[name] = _(
                    "В поле «%(label)s» должна быть дата, например %(example)s.",
                    label=attribute.label,
                    example=date_short(dt.date(1986, 7, 12)),
                )
                continue
            text = day.isoformat()  # stored one way, shown and typed the user's way
        if attribute.id in current:
            current[attribute.id].value = text
        else:
            customer.attribute_values.append(CustomerAttributeValue(attribute_id=attribute.id, value=text))
    if errors:
        raise ValidationFailed(errors)


def attribute_text(attribute: CustomerAttribute, stored: str | None) -> str:
    """An extra field's stored value as the user's language writes it (a date was
    shown and asked for as ГГГГ-ММ-ДД only)."""
    if not stored:
        return ""
    if attribute.kind == AttributeKind.DATE:
        try:
            return date_short(dt.date.fromisoformat(stored))
        except ValueError:
            return stored
    if attribute.kind == AttributeKind.NUMBER:
        try:
            return number(Decimal(stored))
        except ArithmeticError:
            return stored
    return stored


def typed_number(text: str) -> Decimal | None:
    """A number as the user's language writes it («1 500,5»), or None."""
    from babel.numbers import NumberFormatError, get_group_symbol, parse_decimal
    from flask_babel import get_locale

    locale = get_locale()
    if get_group_symbol(locale).isspace():
        text = "".join(text.split())
    try:
        value = parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        return None
    return value if value.is_finite() else None


def owing_condition(scope=None):
    """The customers list's «С задолженностью»: an order of theirs, not cancelled, whose
    paid amount is short of its total (an EXISTS on the orders' customer index);
    ``scope`` limits the orders looked at (a specialist's own)."""
    stmt = select(Order.id).where(Order.customer_id == Customer.id, Order.debt > 0)
    if scope is not None:
        stmt = stmt.where(scope)
    return stmt.correlate(Customer).exists()


def purchases_column():
    """The customers list's «Сумма покупок» (models.purchases_of)."""
    from .models import purchases_of

    return purchases_of(Customer.id)


def list_conditions(args, contacts, scope=None) -> list:
    """The customers list's conditions from its address: the search box (``q``) and
    «С задолженностью» (``owing=1``; ``scope``: the orders the user may see)."""
    conditions = [search_condition(args.get("q", ""), contacts)]
    if args.get("owing") == "1":
        conditions.append(owing_condition(scope))
    return conditions
