"""Choosing a customer or an order in a form, and filtering by one, at a million rows.

FAB renders a relation as a select holding every row of the related table: an
add form for a note listed all customers (124 s and 78 MB at 1,000,000), and
the documents list put every customer into its filter. Here the select holds
only the chosen row and asks the server as the user types: the same search box
rules as the customers list (a phone fragment in any format, a name, an e-mail),
the same field policy (a masked phone stays masked in the choices) and the same
row scope (a specialist finds only their own customers), 20 choices at most.
"""

from __future__ import annotations

from flask import flash, g, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape
from sqlalchemy import false, select
from sqlalchemy.orm import joinedload
from wtforms import Field
from wtforms.validators import DataRequired, Optional, ValidationError
from wtforms.widgets import html_params

from .. import access, customers, disclosure, formatting
from ..extensions import db
from ..models import Customer, Order, record_id
from .datamodel import ConditionFilter
from .headers import CSP_NONCE

LIMIT = 20


def readable_contacts() -> set[str]:
    """The fields the search box may search by for the current user: the contacts and
    the loyalty card's number, each only if the user may read it."""
    return {
        c
        for c in ("phone", "email", "card_number")
        if access.column_level(Customer, c) in (access.READ, access.WRITE)
    }


# What a customer box or filter finds, said for the contacts the user can search by
# (a role that sees phones or e-mails masked does not search by them): the texts for
# phone and e-mail, phone only, e-mail only, neither.
PROMPTS = {
    "search": (
        _l("Телефон (любой формат), ФИО или эл. почта"),
        _l("Телефон (любой формат) или ФИО"),
        _l("ФИО или эл. почта"),
        _l("ФИО клиента"),
    ),
    "lookup": (
        _l("Начните вводить ФИО, телефон или эл. почту"),
        _l("Начните вводить ФИО или телефон"),
        _l("Начните вводить ФИО или эл. почту"),
        _l("Начните вводить ФИО"),
    ),
    "filter": (
        _l("Найти (ФИО, телефон, эл. почта)"),
        _l("Найти (ФИО, телефон)"),
        _l("Найти (ФИО, эл. почта)"),
        _l("Найти (ФИО)"),
    ),
}


def prompt(kind: str, readable: set[str] | None = None) -> str:
    """The ``kind`` text of PROMPTS for the current user."""
    readable = (readable_contacts() if readable is None else readable) & {"phone", "email"}
    both, phone, email, neither = PROMPTS[kind]
    if len(readable) == 2:
        return str(both)
    if readable:
        return str(phone if "phone" in readable else email)
    return str(neither)


def customer_search(query: str) -> dict:
    """The customers list's search box for the current user: what it finds, and why a
    typed phone or e-mail found nobody. The doctor's search for «8 916 123-45-67»,
    offered by the placeholder, answered «Ничего не найдено», as if the patient were
    not registered."""
    readable = readable_contacts()
    notice = {
        "phone": _("Ваша роль видит телефоны клиентов скрытыми и не ищет по ним: найдите клиента по ФИО."),
        "email": _(
            "Ваша роль не видит эл. почту клиентов полностью и не ищет по ней: найдите клиента по ФИО."
        ),
    }.get(customers.unsearchable(query, readable))
    # a specialist lists their own patients only: on the first day, with nobody booked
    # to them yet, the doctor's empty list read as if the clinic had no customers
    scope = (
        None
        if access.may(access.ALL_ROWS, access.CUSTOMERS)
        else _("Здесь только ваши пациенты: клиенты, записанные к вам как к специалисту.")
    )
    return {"placeholder": prompt("search", readable), "notice": notice, "scope": scope}


def lookup_placeholder() -> str:
    """A customer or order box's prompt: what it finds for the current user."""
    return prompt("lookup")


def text_filter_name() -> str:
    """A list's «Клиент» filter: what it finds for the current user."""
    return prompt("filter")


def customer_label(customer: Customer) -> str:
    """«Иванова Анна Сергеевна · 8 (916) 123-45-67», the phone as the policy shows it."""
    phone = disclosure.row(Customer, {"phone": customer.phone}, customer).get("phone")
    if not phone:
        return customer.full_name
    shown = phone if isinstance(phone, disclosure.Masked) else formatting.phone(phone)
    return f"{customer.full_name} · {shown}"


def order_label(order: Order) -> str:
    """«Заказ №12, визит 07.12.2026 10:00 — …»: staff know a visit by when it is; it read
    «от 07.12.2026», which says when the order was made, for a visit booked days
    before. An order without a visit (a sale) is dated by when it was made."""
    if order.visit_at is not None:
        when = formatting.datetime_short(order.visit_at)
        return _(
            "Заказ №%(id)s, визит %(when)s — %(customer)s", id=order.id, when=when, customer=order.customer
        )
    when = formatting.datetime_short(order.created_on)
    return _("Заказ №%(id)s от %(when)s — %(customer)s", id=order.id, when=when, customer=order.customer)


def _scoped(statement, model):
    condition = access.row_scope(model)
    return statement if condition is None else statement.where(condition)


def find_customers(text: str, exclude: int | None = None) -> list[dict]:
    """The customers the text finds; ``exclude``: one not offered (a deposit's transfer
    is not made to its own customer)."""
    condition = customers.search_condition(text, readable_contacts())
    if condition is None:
        return []
    statement = _scoped(select(Customer).where(condition), Customer).order_by(Customer.id.desc())
    if exclude is not None:
        statement = statement.where(Customer.id != exclude)
    rows = db.session.scalars(statement.limit(LIMIT)).all()
    return [{"id": c.id, "text": customer_label(c)} for c in rows]


def order_choices(args) -> list[dict]:
    """The order lookup's answer to its query string: ``q`` (a number or a customer)
    and, on a customer's card, ``customer`` (then that customer's orders only)."""
    if "customer" not in args:
        return find_orders(args.get("q", ""))
    customer = record_id(args.get("customer", ""))
    return [] if customer is None else find_orders(args.get("q", ""), customer_id=customer)


def find_orders(text: str, customer_id: int | None = None) -> list[dict]:
    """An order number, or the orders (latest first) of the customers the text
    finds; with ``customer_id`` (a form opened on that customer's card), that
    customer's orders only, the latest first before anything is typed."""
    text = (text or "").strip().lstrip("№").strip()
    statement = select(Order).options(joinedload(Order.customer))
    if text.isdigit():
        number = record_id(text)
        if number is None:
            return []
        statement = statement.where(Order.id == number)
    elif customer_id is None:
        condition = customers.search_condition(text, readable_contacts())
        if condition is None:
            return []
        statement = statement.where(
            Order.customer_id.in_(_scoped(select(Customer.id).where(condition), Customer))
        )
    if customer_id is not None:
        statement = statement.where(Order.customer_id == customer_id)
    statement = _scoped(statement, Order).order_by(Order.id.desc()).limit(LIMIT)
    return [{"id": o.id, "text": order_label(o)} for o in db.session.scalars(statement).all()]


class LookupField(Field):
    """A relation chosen by typing: the select holds only the chosen row; the choices
    come from ``endpoint`` (JSON ``{"results": [{"id", "text"}]}``) as the user types.
    A submitted id is accepted only if it is a row the user may see."""

    def __init__(self, label=None, validators=None, *, model, endpoint, get_label, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.model, self.endpoint, self.get_label = model, endpoint, get_label
        self._invalid = False
        self.exclude = None  # a row not offered (set by the view: the transfer's own customer)

    def process_formdata(self, valuelist):
        self._invalid = False
        raw = (valuelist or [""])[0]
        if raw in ("", "__None", None):
            self.data = None
            return
        pk = record_id(raw)
        if pk is None:
            self.data, self._invalid = None, True
            return
        statement = _scoped(select(self.model).where(self.model.id == pk), self.model)
        self.data = db.session.scalars(statement).first()
        self._invalid = self.data is None

    def pre_validate(self, form):
        if self._invalid:
            raise ValidationError(_("Выберите значение из списка: начните вводить и выберите подсказку."))

    def __call__(self, **kwargs):
        field_id = kwargs.pop("id", self.id)
        css = f"form-control kartoteka-lookup {kwargs.pop('class_', kwargs.pop('class', ''))}".strip()
        chosen = ""
        if self.data is not None:
            chosen = f'<option value="{escape(self.data.id)}" selected>{escape(self.get_label(self.data))}</option>'
        # Select2's messages come from the page's defaults (rendering.widget_locale).
        options = {
            "url": url_for(self.endpoint, **({"exclude": self.exclude} if self.exclude else {})),
            "placeholder": lookup_placeholder(),
        }
        card = card_customer() if self.model is Order else None
        if card is not None:  # opened on a customer's card: that customer's orders, listed at once
            options = {
                "url": url_for(self.endpoint, customer=card),
                "placeholder": _("Выберите заказ клиента или введите его номер"),
                "minimum": 0,
            }
        # what else the form says of the box (a refusal: aria-invalid, aria-describedby,
        # autofocus), which kartotekaLookup hands on to the box Select2 draws
        extra = html_params(**kwargs)
        return Markup(
            f'<select id="{escape(field_id)}" name="{escape(self.name)}" class="{escape(css)}" '
            f"data-lookup='{htmlsafe_json_dumps(options)}'{' ' + extra if extra else ''}>"
            f'<option value=""></option>{chosen}</select>'
            f'<script nonce="{CSP_NONCE}">$(function () {{ kartotekaLookup("#{escape(field_id)}"); }});</script>'
        )


def card_customer() -> int | None:
    """The customer whose card a form was opened on (its tab's «+» adds
    ``_flt_0_customer=<id>`` to the address), if any."""
    return record_id(request.args.get("_flt_0_customer", ""))


def customer_field(label=_l("Клиент"), required=True):
    validators = [DataRequired(message=_l("Выберите клиента."))] if required else [Optional()]
    return LookupField(
        label, validators, model=Customer, endpoint="CustomerView.lookup", get_label=customer_label
    )


def order_field(label=_l("Заказ"), required=True):
    validators = [DataRequired(message=_l("Выберите заказ."))] if required else [Optional()]
    return LookupField(label, validators, model=Order, endpoint="OrderView.lookup", get_label=order_label)


class FilterCustomerNumber(ConditionFilter):
    """A list's «Клиент» filter by the customer's number: ``_flt_0_customer=42``, the
    address FAB and the card write for one customer's records (a tab's «+», a related
    list). Only a number: «4567» typed here is customer № 4567, never a phone's end (the
    typed filter, FilterCustomerText, reads it so); a text finds nobody and says so.
    Within the user's rows: another specialist's patient is as one that does not exist;
    for a role that reads every row, the number as stored (a deleted customer's journal
    and history rows keep it)."""

    name = _l("Номер клиента")
    arg_name = "custno"

    def apply(self, query, value):
        text = str(value or "").strip().lstrip("№#").strip()
        if not text:
            return query
        number = record_id(text) if text.isdigit() else None
        if number is None:
            if not text.isdigit():
                _not_a_number(str(value).strip())
            return query.filter(false())
        column = self.datamodel.obj.customer_id
        scope = access.row_scope(Customer)
        if scope is None:  # the number as stored: a journal's rows outlive their customer
            return query.filter(column == number)
        return query.filter(
            column == number, column.in_(select(Customer.id).where(Customer.id == number, scope))
        )


def _not_a_number(value: str) -> None:
    """Said once a request: a name or a phone typed as a customer's number."""
    if value in g.setdefault("kartoteka_bad_numbers", set()):
        return
    g.kartoteka_bad_numbers.add(value)
    flash(
        _(
            "«%(value)s» — не номер клиента. Чтобы найти клиента по ФИО или телефону, "
            "выберите в фильтре «Клиент» условие «%(typed)s».",
            value=value,
            typed=text_filter_name(),
        ),
        "warning",
    )


class FilterCustomerText(ConditionFilter):
    """A list's «Клиент» filter: the customer typed as in the search box (digits are a
    phone's fragment, as there), not picked from a select of every customer. A phone
    typed by a role that does not search by phones finds nobody and says why, as the
    search box does (the journal read those digits as a customer's number)."""

    name = LazyString(text_filter_name)  # what it finds follows the reader's role
    arg_name = "cust"

    def apply(self, query, value):
        readable = readable_contacts()
        notice = customer_search(str(value or ""))["notice"]  # what the search box says of it
        if notice is not None and notice not in g.setdefault("kartoteka_filter_notices", set()):
            g.kartoteka_filter_notices.add(notice)  # said once a request (the count and the page)
            flash(notice, "warning")
        condition = customers.search_condition(str(value or ""), readable)
        if condition is None:
            return query
        model = self.datamodel.obj
        found = _scoped(select(Customer.id).where(condition), Customer)
        return query.filter(model.customer_id.in_(found))
