"""Links to records and the labels of related records in lists: a customer opens their card."""

from __future__ import annotations

from typing import NamedTuple

from flask import (
    current_app,
    request,
    url_for,
)
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy.orm import aliased

from .. import (
    models,
)
from ..disclosure import Masked
from ..models import (
    Branch,
    Customer,
    Order,
    Payment,
)
from . import rendering
from .datamodel import (
    ListColumn,
)

_CARD_URLS: dict[str, str] = {}


def card_url(pk) -> str:
    """The card's address; url_for runs once per script root, not once per row."""
    root = request.script_root
    base = _CARD_URLS.get(root)
    if base is None:
        base = _CARD_URLS[root] = url_for("CustomerView.show", pk=0)[:-1]
    return f"{base}{int(pk)}"


def customer_link(customer) -> Markup | str:
    """A customer cell that opens the card."""
    if not customer:
        return ""
    return Markup(f'<a href="{card_url(customer.id)}">{escape(customer.full_name)}</a>')


def _customer_link_to(base: str):
    def customer_link_bound(customer) -> Markup | str:
        if not customer:
            return ""
        name = customer.full_name
        # a name is text: escaped as markupsafe would, in one C call (escape: ~6 Python calls)
        name = name.translate(rendering.HTML_ESCAPES) if type(name) is str else escape(name)
        return Markup(f'<a href="{base}{int(customer.id)}">{name}</a>')

    return customer_link_bound


# a list binds it once per page (formatting.for_many): the card's address looked up once
customer_link.bind = lambda: _customer_link_to(card_url(0)[:-1])


class CustomerRef(NamedTuple):
    """A customer as a list shows one (a link to the card), read as plain values."""

    id: int
    full_name: str

    def __str__(self):
        return self.full_name


def customer_ref(pk, *name) -> CustomerRef | None:
    return None if pk is None else CustomerRef(pk, models.full_name(*name))


def _erased_ref(pk, *kept) -> CustomerRef | None:
    erased = models.erased_subject(pk, *kept)
    return None if erased is None else CustomerRef(erased.id, erased.full_name)


def related_subject(relationship) -> ListColumn:
    """Whom a subject request is about, read as plain values: the customer (a link to
    the card) while their row is there, by the number only once erased
    (models.erased_subject), else the label the request kept (models.kept_subject)."""
    other = aliased(Customer)
    request = relationship.class_
    return ListColumn(
        *_customer_name_columns(other),
        request.customer_number,
        request.customer_name,
        request.customer_card,
        read=lambda pk, *names_and_kept: (
            _erased_ref(pk, *names_and_kept[5:]) or customer_ref(pk, *names_and_kept[:5])
            if pk is not None
            else models.kept_subject(*names_and_kept[5:])
        ),
        join=relationship.of_type(other),
    )


def subject_link(subject) -> Markup | str:
    """A subject request's «Клиент» cell: the customer's card, or the kept label as text."""
    return subject if isinstance(subject, str) else customer_link(subject)


def _subject_link_to(link):
    def subject_link_bound(subject) -> Markup | str:
        return subject if isinstance(subject, str) else link(subject)

    return subject_link_bound


subject_link.bind = lambda: _subject_link_to(customer_link.bind())


def user_label(pk, first_name, last_name) -> str | None:
    """FAB's User.__str__ («Имя Фамилия»), of plain values."""
    return None if pk is None else f"{first_name} {last_name}"


def _customer_name_columns(customer) -> tuple:
    """What customer_ref reads of a customer: the key and the parts of the name."""
    return (
        customer.id,
        customer.last_name,
        customer.first_name,
        customer.middle_name,
        customer.company_name,
        customer.customer_type,
    )


def related_customer(relationship) -> ListColumn:
    other = aliased(Customer)
    return ListColumn(
        *_customer_name_columns(other),
        read=customer_ref,
        join=relationship.of_type(other),
    )


def related_user(relationship) -> ListColumn:
    other = aliased(User)
    return ListColumn(
        other.id, other.first_name, other.last_name, read=user_label, join=relationship.of_type(other)
    )


def related_label(model, *columns, read):
    """A related record shown by its label (its __str__), made by ``read`` of its key
    and ``columns``."""

    def column(relationship) -> ListColumn:
        other = aliased(model)
        return ListColumn(
            other.id,
            *(getattr(other, c) for c in columns),
            read=lambda pk, *values: None if pk is None else read(pk, *values),
            join=relationship.of_type(other),
        )

    return column


# Related records a list shows by their label, read as plain values: each as the
# model's __str__ names it.
RELATED_LABELS = {
    Customer: related_customer,
    User: related_user,
    Order: related_label(Order, read=lambda pk: str(_l("Заказ №%(id)s", id=pk))),
    Payment: related_label(Payment, read=lambda pk: str(_l("Платёж №%(id)s", id=pk))),
    Branch: related_label(Branch, "name", read=lambda pk, name: name),
}


def record_link(obj) -> Markup:
    """A link to ``obj``'s page (a customer's card, an order…), named as the record
    names itself; its text alone where no screen shows such records."""
    endpoint = _record_endpoint(type(obj))
    text = escape(str(obj))
    if endpoint is None:
        return Markup(text)
    return Markup(f'<a href="{url_for(endpoint, pk=obj.id)}">{text}</a>')


def _record_endpoint(model) -> str | None:
    """The show page of the screen with the model's menu entry (not a card's tab)."""
    views = [
        v
        for v in current_app.appbuilder.baseviews
        if getattr(getattr(v, "datamodel", None), "obj", None) is model and hasattr(v, "show")
    ]
    views.sort(key=lambda v: type(v).__name__.endswith("Tab"))
    return f"{type(views[0]).__name__}.show" if views else None


def skip_masked(formatter):
    """``formatter``, leaving a value the policy masked as it is."""
    if formatter is None:
        return None

    def format_unless_masked(value):
        return value if isinstance(value, Masked) else formatter(value)

    bind = getattr(formatter, "bind", None)
    if bind is not None:  # a list binds it once per page (formatting.for_many), masked or not
        format_unless_masked.bind = lambda: skip_masked(bind())
    return format_unless_masked


def card_link(pk) -> Markup:
    return Markup(f'<a href="{card_url(pk)}">{int(pk)}</a>')


def _card_link_to(base: str):
    def card_link_bound(pk) -> Markup:
        return Markup(f'<a href="{base}{int(pk)}">{int(pk)}</a>')

    return card_link_bound


# a list binds it once per page (formatting.for_many): the card's address looked up once
card_link.bind = lambda: _card_link_to(card_url(0)[:-1])
