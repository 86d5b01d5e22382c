"""Property tests for every form (issue 14, «Property tests for every form»).

Generated, not listed: the forms are every add and edit form of the registered
views (``app.appbuilder.baseviews``: a view whose ``add``/``edit`` routes exist and
that a role may write; the card's tab views are opened as the card's «+» opens
them, ``?_flt_0_customer=…``), and the forms of the customer card that post to a
route of their own (found on the card page, typed by the form class of app/forms.py
with the same fields). The role is the matrix's (app/access.py): the first role
that writes the view's resource. The values come from each field's WTForms type and
validators: text within its ``Length``, required or optional; selects from the
options the page offers; numbers within ``NumberRange`` and the column's scale,
typed as a Russian types them («1 500,50», «1500.50»); dates «дд.мм.гггг»;
phones as people type them. A view added later is covered without editing this file.

Properties, per form:
(a) a value the form accepts is saved, read back from the database as typed (or in
    its documented normal form: E.164 phones, lower-case e-mail, a document's series
    without spaces), and shown back in the edit form;
(b) the same values are saved again as a second record unless a unique key of the
    model forbids it (then 422 naming the field), and the edit form re-submitted
    untouched writes no change-history row and changes no stored value;
(c) optional fields left blank, then cleared after being filled, store NULL (or the
    column's default where NULL is not allowed), as app/records.py says;
(d) a value the form must refuse (over-long, only spaces where required, control
    characters, more decimal places than the column keeps, a negative amount, an
    impossible date, an unknown choice or record, a required field left empty)
    answers 422 with a Russian message that is not the database's «данные
    противоречат…» and changes nothing; never a 500;
and, for a role limited to its rows, the «+» of every card tab it writes answers 404
for a customer outside them, as that customer's card does.

Examples are few and derandomized (``PROPERTY_EXAMPLES``, default 2 per form and
property) so that CI is stable and the file stays within about a minute and a half
(43 s on SQLite, 67 s on PostgreSQL on the shared 2-CPU machine).
Each example's rows are deleted after it, so that examples do not collide on unique
values.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Numeric, String, func, select
from wtforms import BooleanField, DecimalField, HiddenField, IntegerField, SelectFieldBase
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app import access, records
from app.admin.fields import LocalDateField, LocalDateTimeField
from app.admin.lookups import LookupField
from app.admin.options import validators_position
from app.extensions import db
from app.models import CertificateKind, CertificateType, ChangeLog, Customer, CustomerCategory, Order, Tag
from tests import factories
from tests.conftest import DOMAIN_TABLES_KEEP, user_id
from tests.html_forms import form_fields, form_names, form_options

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "2"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: each example is a dozen requests
)
CYRILLIC = re.compile("[А-Яа-яЁё]")
ENGLISH_MESSAGES = re.compile(
    r"This field|Not a valid|Invalid|Field must|Number must|is required|must be", re.IGNORECASE
)
ALERTS = re.compile(r'<div class="alert alert-(?:danger|warning)[^"]*"[^>]*>(.*?)</div>', re.S)
TAGS = re.compile(r"<[^>]+>")


# -- the world every form is filled in -------------------------------------------------


@dataclass
class World:
    patient: int
    stranger: int
    order: int
    stranger_order: int
    lookups: dict = field(default_factory=dict)  # model -> ids a lookup field may take


@pytest.fixture
def world(app, ctx) -> World:
    doctor = user_id(app, "doctor")
    patient = factories.customer(
        ctx,
        last_name="Пациентова",
        phone="+79161112233",
        email="patient@example.ru",
        birth_date=dt.date(1980, 1, 2),
    )
    stranger = factories.customer(ctx, last_name="Чужакова", phone="+79035556677")
    order = factories.order(ctx, patient, paid="1500", specialist_id=doctor)
    stranger_order = factories.order(ctx, stranger, paid="1500")
    factories.branch(ctx, "Центральный")
    factories.catalog_item(ctx, "Массаж", "2000.00")
    ctx.add_all([CustomerCategory(name="Постоянные"), Tag(name="VIP", color="#ff0000")])
    ctx.add(
        CertificateKind(name="Подарочный", type=CertificateType.SUM, price=Decimal("3000"), valid_days=180)
    )
    ctx.commit()
    found = World(patient.id, stranger.id, order.id, stranger_order.id)
    found.lookups = {Customer: [patient.id], Order: [order.id]}
    return found


# -- the forms, from what the app registers ----------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # text, lookup, choice, multi, bool, date, datetime, decimal, integer, hidden
    required: bool
    max_length: int | None = None
    places: int | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    model: type | None = None  # a lookup's


@dataclass
class Form:
    name: str
    role: str
    model: type
    add_url: str | None  # where a new record is posted
    edit_base: str | None  # + id: the record's edit form
    fields: dict[str, Field]
    page: str | None = None  # the page that shows the form (a card form's card)
    action: str | None = None  # a card form's address (the generated forms are #model_form)
    required_any: tuple = ()  # the view's rule: at least one of these filled (an anamnesis record)


def unbound_fields(form_class) -> dict[str, UnboundField]:
    found = {}
    for klass in reversed(form_class.__mro__):
        found.update({n: u for n, u in vars(klass).items() if isinstance(u, UnboundField)})
    return found


def describe(name, unbound: UnboundField, model) -> Field:
    position = validators_position(unbound.field_class)
    given_validators = (
        (unbound.args[position] if position is not None and len(unbound.args) > position else None)
        or unbound.kwargs.get("validators")
        or []
    )
    required = any(isinstance(v, DataRequired | InputRequired) for v in given_validators)
    column = model.__table__.columns.get(name) if hasattr(model, "__table__") else None
    klass = unbound.field_class
    spec = Field(name, "text", required)
    for v in given_validators:
        if isinstance(v, Length) and v.max and v.max > 0:
            spec.max_length = v.max
        if isinstance(v, NumberRange):
            spec.low = None if v.min is None else Decimal(str(v.min))
            spec.high = None if v.max is None else Decimal(str(v.max))
    if spec.max_length is None and column is not None and isinstance(column.type, String):
        spec.max_length = column.type.length
    if issubclass(klass, LookupField):
        spec.kind, spec.model = "lookup", unbound.kwargs["model"]
    elif issubclass(klass, HiddenField):
        spec.kind = "hidden"
    elif issubclass(klass, BooleanField):
        spec.kind = "bool"
    elif issubclass(klass, LocalDateTimeField):
        spec.kind = "datetime"
    elif issubclass(klass, LocalDateField):
        spec.kind = "date"
    elif issubclass(klass, DecimalField):
        spec.kind = "decimal"
        spec.places = unbound.kwargs.get("places", 2)
        if column is not None and isinstance(column.type, Numeric):
            spec.places = column.type.scale
            spec.high = spec.high or Decimal(10) ** (column.type.precision - column.type.scale) - 1
    elif issubclass(klass, IntegerField):
        spec.kind = "integer"
    elif issubclass(klass, SelectFieldBase):
        spec.kind = "multi" if "Multiple" in klass.__name__ else "choice"
    return spec


def writer(resource) -> str | None:
    return next((k for k, spec in access.ROLES.items() if spec.resources.get(resource) == access.WRITE), None)


def tab_views(app) -> set:
    return {
        type(v) for parent in app.appbuilder.baseviews for v in getattr(parent, "_related_views", None) or []
    }


# A payment is accepted only while its order owes money, so what a form accepts depends
# on the ledger's state, not on the values alone: tests/test_money.py proves those forms.
LEDGER_STATE = {"Payment"}


def registered_forms(app, world: World) -> list[Form]:
    """Every add and edit form of every registered view a role may write."""
    from app.views import KartotekaModelView

    routes = {rule.endpoint for rule in app.url_map.iter_rules()}
    tabs = tab_views(app)
    forms = []
    for view in app.appbuilder.baseviews:
        name = type(view).__name__
        if not isinstance(view, KartotekaModelView) or f"{name}.add" not in routes:
            continue
        if "can_write" not in view.base_permissions or view.method_permission_name.get("add") != "write":
            continue
        role = writer(view.class_permission_name)
        if role is None:
            continue
        model = view.datamodel.obj
        if model.__name__ in LEDGER_STATE:
            continue
        fields = {n: describe(n, u, model) for n, u in unbound_fields(view.add_form).items()}
        add_url = f"{view.route_base}/add"
        on_card = type(view) in tabs and "customer" in fields
        if on_card:  # the card's «+»: the customer comes from the address
            add_url += f"?_flt_0_customer={world.patient}"
            del fields["customer"]
        edit = f"{view.route_base}/edit/" if f"{name}.edit" in routes else None
        required_any = tuple(getattr(view, "required_any", ()))
        forms.append(Form(name, role, model, add_url, edit, fields, required_any=required_any))
    assert len(forms) >= 15, [f.name for f in forms]
    return forms


def card_forms(app, client_for, world: World) -> list[Form]:
    """The card's own forms that post to a route of their own, typed by app/forms.py."""
    from flask_wtf import FlaskForm

    from app import forms as declared

    classes = [
        c
        for c in vars(declared).values()
        if isinstance(c, type) and issubclass(c, FlaskForm) and c is not FlaskForm
    ]
    card = f"/customerview/show/{world.patient}"
    found = {}
    for role in access.ROLES:
        page = client_for(role).get(card).get_data(as_text=True)
        for action in re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page):
            if not action.startswith(f"/customerview/{world.patient}/") or action in found:
                continue
            names = form_names(page, action=action) - {"csrf_token"}
            # the class declaring every field the page shows (a page may leave some out)
            fitting = [c for c in classes if names and names <= set(unbound_fields(c))]
            if not fitting:
                continue
            klass = min(fitting, key=lambda c: len(unbound_fields(c)))
            fields = {n: describe(n, u, None) for n, u in unbound_fields(klass).items() if n in names}
            name = f"card {action.rsplit('/', 1)[-1]}"
            found[action] = Form(name, role, None, action, None, fields, page=card, action=action)
    assert len(found) >= 4, list(found)  # a note, an order, a status, a message
    return list(found.values())


# -- values as staff type them -----------------------------------------------------------

LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ" + "abcxyzABC" + "0123456789"
INSIDE = LETTERS + " -.,()«»!?:;№/'\""


def text(max_length: int | None, multiline: bool = False) -> st.SearchStrategy[str]:
    limit = min(max_length or 60, 60)
    inner = st.text(INSIDE + ("\n" if multiline else ""), max_size=max(limit - 2, 0))
    edge = st.sampled_from(LETTERS)
    if limit == 1:
        return edge
    return st.builds(lambda a, b, c: (a + b + c)[:limit], edge, inner, edge)


def phone() -> st.SearchStrategy[str]:
    """A Russian mobile number as people type it."""

    def typed(code, rest, style):
        d = f"{code}{rest:07d}"
        a, b, c, e = d[:3], d[3:6], d[6:8], d[8:]
        return [
            f"8 {a} {b}-{c}-{e}",
            f"+7 ({a}) {b}-{c}-{e}",
            f"{a} {b} {c} {e}",
            f"8{d}",
            f"+7{d}",
            f"8({a}){b}{c}{e}",
        ][style]

    return st.builds(
        typed, st.sampled_from(["916", "903", "926", "985"]), st.integers(0, 9_999_999), st.integers(0, 5)
    )


def money(low: Decimal, high: Decimal, places: int) -> st.SearchStrategy[str]:
    quantum = Decimal(1).scaleb(-places)

    def typed(value: Decimal, style: int) -> str:
        value = value.quantize(quantum)
        plain = f"{value:f}"
        whole, _, frac = plain.partition(".")
        grouped = f"{int(whole):,}".replace(",", "\u00a0" if style == 2 else " ")
        if value < 0:
            grouped = "-" + grouped.lstrip("-")
        return [plain, plain.replace(".", ","), grouped + ("," + frac if frac else "")][style]

    return st.builds(
        typed, st.decimals(low, high, places=places, allow_nan=False, allow_infinity=False), st.integers(0, 2)
    )


def date_text(low=dt.date(1930, 1, 1), high=dt.date(2020, 12, 31)) -> st.SearchStrategy[str]:
    return st.dates(low, high).map(lambda d: d.strftime("%d.%m.%Y"))


def datetime_text() -> st.SearchStrategy[str]:
    return st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2027, 12, 31)).map(
        lambda m: m.strftime("%d.%m.%Y %H:%M")
    )


# What a field of a given name holds, where its type alone says too little: typed
# the way people type it, within what the domain accepts (a return no larger than
# what was paid, a rating 1–5). Everything else comes from the field's type.
BY_NAME = {
    "phone": phone(),
    "phone_extra": phone(),
    "email": st.builds(
        lambda a, b: f"{a}.{b}@example.ru",
        st.text("abcdefxyz", min_size=1, max_size=8),
        st.integers(0, 99999),
    ),
    "color": st.builds(lambda n: f"#{n:06x}", st.integers(0, 0xFFFFFF)),
    "rating": st.integers(1, 5).map(str),
    "birth_date": date_text(),
    "issue_date": date_text(dt.date(1999, 1, 1), dt.date(2024, 12, 31)),
    "division_code": st.builds(lambda a, b: f"{a:03d}-{b:03d}", st.integers(0, 999), st.integers(0, 999)),
    "discount": money(Decimal(0), Decimal(100), 2),  # a share of the price
    "card_number": st.builds(lambda n: f"K-{n}", st.integers(1, 10**8)),
}
BY_MODEL_FIELD = {
    ("Return", "amount"): money(Decimal("0.01"), Decimal("700"), 2),
    ("Order", "paid"): st.just("0"),
    (None, "paid"): st.just("0"),  # the card's booking: nothing paid yet
    # money moves by a positive amount, within what the order owes
    ("Payment", "amount"): money(Decimal("0.01"), Decimal("1"), 2),
    ("AccountOperation", "amount"): money(Decimal("0.01"), Decimal("1"), 2),
    ("AccountOperation", "account"): st.just("deposit"),  # the kinds allowed differ per account
    ("AccountOperation", "kind"): st.just("top_up"),
    ("CustomerCategory", "bonus_percent"): money(Decimal("0"), Decimal("100"), 2),
    # a kind's fields agree with its type (app/certificates.py): a certificate for a sum
    # has a price or a nominal and no visits; a sale is paid in money (from the deposit
    # it depends on the balance, tests/test_certificates.py proves that)
    ("CertificateKind", "type"): st.just("sum"),
    ("CertificateKind", "price"): money(Decimal("1"), Decimal("99999"), 2),
    ("CertificateKind", "amount"): money(Decimal("1"), Decimal("99999"), 2),
    ("CertificateKind", "visits"): st.just(""),
    ("CertificateKind", "valid_days"): st.integers(1, 3650).map(str),
    ("Certificate", "method"): st.sampled_from(["cash", "card", "transfer"]),
    ("OrderItem", "quantity"): st.integers(1, 5).map(str),
    (None, "quantity"): st.integers(1, 5).map(str),
    (None, "channel"): st.sampled_from(["sms", "email"]),  # the patient has a phone and an e-mail
}
DOCUMENT_NUMBERS = {
    "passport_rf": (r"\d{4}", r"\d{6}"),
    "passport_foreign": (r"\d{2}", r"\d{7}"),
    "driver_license": (r"\d{2}[0-9АВЕКМНОРСТУХ]{2}", r"\d{6}"),
    "other": (r"[0-9А-Я]{0,6}", r"[0-9]{1,10}"),
}


def valid_value(form: Form, spec: Field, options: dict) -> st.SearchStrategy:
    model_name = declared_model(form)
    for key in ((model_name, spec.name), (None, spec.name) if model_name is None else None):
        if key in BY_MODEL_FIELD:
            return BY_MODEL_FIELD[key]
    if spec.name in BY_NAME and spec.kind in ("text", "date", "decimal", "integer"):
        return BY_NAME[spec.name]
    choices = [o for o in options.get(spec.name, []) if o not in ("", "__None")]
    match spec.kind:
        case "lookup":
            return st.sampled_from([str(i) for i in form_lookups[spec.model]])
        case "choice":
            return st.sampled_from(choices) if choices else st.just("")
        case "multi":
            return st.lists(st.sampled_from(choices), max_size=2, unique=True) if choices else st.just([])
        case "bool":
            return st.booleans()
        case "date":
            return date_text()
        case "datetime":
            return datetime_text()
        case "decimal":
            low = max(spec.low or Decimal(0), Decimal(0))
            high = min(spec.high or Decimal("99999"), Decimal("99999"))
            return money(low, high, spec.places or 0)
        case "integer":
            low = int(spec.low) if spec.low is not None else 0
            high = int(spec.high) if spec.high is not None else 10_000
            return st.integers(low, high).map(str)
        case "hidden":
            return st.just(None)
    return text(spec.max_length, multiline=spec.max_length is None)


form_lookups: dict = {}  # set per test from the world: the lookup fields' ids


@st.composite
def filled(draw, form: Form, options: dict, blank_optional: bool | None = None):
    """Values for every field of ``form``: required ones always, optional ones blank
    or filled (``blank_optional`` forces either)."""
    data = {}
    for spec in form.fields.values():
        if spec.kind == "hidden":
            continue
        value = draw(valid_value(form, spec, options))
        blank = blank_optional if blank_optional is not None else draw(st.booleans())
        if (
            not spec.required
            and blank
            and spec.kind not in ("bool", "choice")
            and not needed(form, spec.name)
        ):
            value = [] if spec.kind == "multi" else ""
        data[spec.name] = value
    return fix_domain(draw, form, data)


# Fields a domain rule needs although the form leaves them optional: a return is for
# an order, an order item (and the card's booking) names a service.
NEEDED = {"catalog_item", ("Return", "order"), ("OrderItem", "order")}


def needed(form: Form, name: str) -> bool:
    return name in NEEDED or (declared_model(form), name) in NEEDED


def declared_model(form: Form) -> str | None:
    """The view's model (a card form's is found from its first save: not used here,
    so that the values drawn do not change between examples)."""
    return None if form.action else form.model.__name__


def fix_domain(draw, form: Form, data: dict) -> dict:
    """The few cross-field rules of the domain that the field types cannot say."""
    kind = data.get("customer_type")
    if kind is not None and "last_name" in data:
        if kind != "legal":  # a person, a sole proprietor too, has a name
            data["last_name"] = data["last_name"] or "Петрова"
            data["first_name"] = data["first_name"] or "Мария"
        if kind == "individual":  # a private person has no organisation (stored as NULL)
            data["company_name"] = ""
        else:
            data["company_name"] = data.get("company_name") or "ООО «Ромашка»"
    blank_all = [n for n in form.required_any if n in data and data[n] in ("", [], None)]
    if form.required_any and len(blank_all) == len([n for n in form.required_any if n in data]):
        first = blank_all[0]  # the view refuses a record with all of them blank
        spec = form.fields[first]
        data[first] = "Аллергия на пыльцу" if spec.kind == "text" else draw(valid_value(form, spec, {}))
    if declared_model(form) == "CustomerDocument":
        kind = draw(st.sampled_from(sorted(DOCUMENT_NUMBERS)))
        series, number = DOCUMENT_NUMBERS[kind]
        data["kind"] = kind
        data["series"] = draw(st.from_regex(series, fullmatch=True))
        data["number"] = draw(st.from_regex(number, fullmatch=True))
        if kind == "passport_rf":
            data["division_code"] = data["division_code"] or "770-001"
            data["issue_date"] = data["issue_date"] or "01.02.2010"
            data["issued_by"] = data["issued_by"] or "ОВД"
    return data


def posted(data: dict) -> dict:
    """As a browser sends it: an unticked box is absent, a ticked one «y»."""
    out = {}
    for name, value in data.items():
        if value is True:
            out[name] = "y"
        elif value is False or value is None:
            continue
        else:
            out[name] = value
    return out


# -- reading back -------------------------------------------------------------------------


def normal(spec: Field, value):
    """What a typed value is stored as, in its documented normal form."""
    if isinstance(value, list):
        return sorted(int(v) for v in value)
    if value is True or value is False:
        return value
    if value in ("", None):
        return None
    match spec.kind:
        case "lookup" | "choice" if str(value).isdigit():
            return int(value)
        case "decimal":
            return Decimal("".join(str(value).split()).replace(",", "."))
        case "integer":
            return int(value)
        case "date":
            return dt.datetime.strptime(value, "%d.%m.%Y").date()
        case "datetime":
            return dt.datetime.strptime(value, "%d.%m.%Y %H:%M")
    if spec.name in ("phone", "phone_extra"):
        return phonenumbers.format_number(
            phonenumbers.parse(value, "RU"), phonenumbers.PhoneNumberFormat.E164
        )
    if spec.name == "email":
        return value.strip().lower()
    if spec.name in ("series", "number"):
        return value.replace(" ", "").upper()
    return value


def stored(row, spec: Field, tz):
    value = getattr(row, spec.name)
    if spec.kind == "multi":
        return sorted(v.id for v in value)
    if hasattr(value, "id") and not isinstance(value, dt.date):
        return value.id
    if hasattr(value, "value") and not isinstance(value, Decimal | bool):  # an enum
        return value.value
    if isinstance(value, dt.datetime) and tz is not None:  # stored in UTC, typed on the clinic's clock
        return value.replace(tzinfo=dt.UTC).astimezone(tz).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def comparable(expected):
    return expected.normalize() if isinstance(expected, Decimal) else expected


def alerts(html: str) -> list[str]:
    return [" ".join(TAGS.sub(" ", a).split()) for a in ALERTS.findall(html)]


def assert_refused_in_russian(response, where):
    page = response.get_data(as_text=True)
    assert response.status_code == 422, (where, response.status_code, page[-2000:])
    said = [a for a in alerts(page) if a]
    assert said, (where, "no message on the page")
    for message in said:
        assert CYRILLIC.search(message) and not ENGLISH_MESSAGES.search(message), (where, message)
        assert GENERIC_REFUSAL not in message, (where, "the refusal names no field", message)


def snapshot(model, row_id=None):
    """The model's rows (or one row) as plain values, and the change history's size;
    without a model, every domain table's size and the customers' rows."""
    db.session.expire_all()
    if model is None:
        # the access journal aside: a card form refused draws the card again, which is read
        # and journaled as the card is (app/admin/journal.py shown)
        sizes = [
            db.session.scalar(select(func.count()).select_from(t))
            for t in domain_tables()
            if t.name != "access_log"
        ]
        return sizes, snapshot(Customer)
    statement = select(model) if row_id is None else select(model).where(model.id == row_id)
    rows = db.session.scalars(statement.order_by(model.id)).all()
    columns = [c.key for c in model.__mapper__.column_attrs]
    values = [tuple(getattr(r, c) for c in columns) for r in rows]
    return values, db.session.scalar(select(func.count()).select_from(ChangeLog))


def domain_tables():
    from flask_appbuilder import Model

    return [t for t in Model.metadata.sorted_tables if not DOMAIN_TABLES_KEEP.match(t.name)]


def high_water():
    """Each table's highest id, read in one statement (a round trip per table was about
    a tenth of the file's time on PostgreSQL)."""
    tables = [t for t in domain_tables() if "id" in t.columns]
    marks = select(
        *(select(func.coalesce(func.max(t.c.id), 0)).scalar_subquery().label(t.name) for t in tables)
    )
    return dict(db.session.execute(marks).one()._mapping)


def roll_back_to(marks):
    """Delete what an example added (rows above each table's mark), children first, in
    one transaction; on PostgreSQL in one round trip, as tests/conftest.py empties them."""
    statements = []
    for table in reversed(domain_tables()):
        if "id" in table.columns:
            statements.append(f'DELETE FROM "{table.name}" WHERE id > {int(marks[table.name])}')
        else:
            for column in table.columns:
                for fk in column.foreign_keys:
                    parent = fk.column.table.name
                    if parent in marks:
                        statements.append(
                            f'DELETE FROM "{table.name}" WHERE "{column.name}" > {int(marks[parent])}'
                        )
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute("; ".join(statements).encode())
        else:
            for statement in statements:
                conn.exec_driver_sql(statement)


JOURNALS = {"change_log", "access_log"}  # written beside every save, never a form's record


def mapped_models():
    from flask_appbuilder import Model

    return [m.class_ for m in Model.registry.mappers if hasattr(m.class_, "__table__")]


def new_row(form: Form, marks):
    """The rows the form added. A card form's model is the one whose new row holds
    most of its fields (found on its first save)."""
    db.session.expire_all()
    if form.model is None:
        grown = [
            m
            for m in mapped_models()
            if m.__tablename__ in marks
            and m.__tablename__ not in JOURNALS
            and db.session.scalar(select(func.count()).select_from(m).where(m.id > marks[m.__tablename__]))
        ]
        if not grown:
            return []
        form.model = max(grown, key=lambda m: len(set(form.fields) & set(m.__mapper__.attrs.keys())))
    model = form.model
    return db.session.scalars(
        select(model).where(model.id > marks[model.__tablename__]).order_by(model.id)
    ).all()


# -- the properties -----------------------------------------------------------------------


@pytest.fixture
def client_for(app, login_as):
    current = {}

    def _client(role):
        if current.get("role") != role:
            current["client"], current["role"] = login_as(role), role
        return current["client"]

    return _client


@pytest.fixture
def forms(app, world, client_for):
    form_lookups.clear()
    form_lookups.update(world.lookups)
    only = os.environ.get("PROPERTY_FORMS")  # a comma-separated list of form names, to debug one
    with app.app_context():
        found = registered_forms(app, world)
    found += card_forms(app, client_for, world)
    return [f for f in found if not only or f.name in only.split(",")]


def run_each(forms, check):
    """``check(form)`` for every form; every failure reported, not only the first."""
    failures = []
    for form in forms:
        try:
            check(form)
        except Exception as e:  # noqa: BLE001 — collected and reported below
            notes = "\n".join(getattr(e, "__notes__", []))
            failures.append(f"{form.name}: {type(e).__name__}: {str(e)[:6000]}\n{notes}")
    assert not failures, "\n\n".join(failures)


def page_options(client, form: Form):
    url = form.page or form.add_url
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    if form.action:
        return form_options(page.get_data(as_text=True), action=form.action)
    return form_options(page.get_data(as_text=True))


def unique_fields(form: Form, data: dict) -> list[str]:
    """The form fields of each unique key that the values fill completely."""
    relation_of = {
        column.key: rel.key for rel in form.model.__mapper__.relationships for column in rel.local_columns
    }
    found = []
    for key in records.unique_keys(form.model):
        names = [relation_of.get(attr, attr) for attr in key]
        filled_key = [n for n in names if data.get(n) not in (None, "", [])]
        if len(filled_key) == len(names) or (
            "customer" in names and "customer" not in form.fields and len(filled_key) == len(names) - 1
        ):
            found.append(names[-1])
    return found


def test_what_a_form_accepts_is_stored_shown_saved_again_and_edited_unchanged(app, client_for, forms):
    """(a) and (b) for every add and edit form the app registers."""
    tz = __import__("zoneinfo").ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    accepted = {}

    def check(form: Form):
        client = client_for(form.role)
        options = page_options(client, form)

        @PROPERTY
        @given(data=filled(form, options))
        def prop(data):
            with app.app_context():
                marks = high_water()
                try:
                    first = client.post(form.add_url, data=posted(data))
                    assert first.status_code == 302, (
                        data,
                        first.status_code,
                        alerts(first.get_data(as_text=True)),
                    )
                    rows = new_row(form, marks)
                    if not rows and form.action:
                        accepted[form.name] = accepted.get(form.name, 0) + 1
                        return  # a card form that adds no record (the status): (d) only
                    (row,) = rows
                    attributes = form.model.__mapper__.attrs.keys()
                    for spec in form.fields.values():
                        if spec.kind == "hidden" or spec.name not in attributes:
                            continue
                        expected = comparable(normal(spec, data[spec.name]))
                        if expected is None and not spec.required:
                            continue  # (c) says what a blank becomes
                        found = stored(row, spec, tz)
                        assert found == expected or found == data[spec.name], (
                            spec.name,
                            data[spec.name],
                            found,
                        )
                    accepted[form.name] = accepted.get(form.name, 0) + 1
                    second = client.post(form.add_url, data=posted(data))
                    if unique_fields(form, data):
                        assert_refused_in_russian(second, "second record with a unique value")
                        assert len(new_row(form, marks)) == 1
                    else:
                        assert second.status_code == 302, (alerts(second.get_data(as_text=True)), data)
                        assert len(new_row(form, marks)) == 2
                    if form.edit_base is None:
                        return
                    edit_url = f"{form.edit_base}{row.id}"
                    page = client.get(edit_url)
                    assert page.status_code == 200, edit_url
                    shown = form_fields(page.get_data(as_text=True))
                    for name, value in data.items():
                        spec = form.fields[name]
                        if (
                            spec.kind in ("multi", "bool", "hidden")
                            or name not in shown
                            or value in ("", None)
                        ):
                            continue
                        assert normal(spec, shown[name]) == normal(spec, value), (name, value, shown[name])
                    before = snapshot(form.model, row.id)
                    again = client.post(edit_url, data=shown)
                    assert again.status_code == 302, (edit_url, alerts(again.get_data(as_text=True)))
                    assert snapshot(form.model, row.id) == before, "an untouched edit changed the record"
                finally:
                    roll_back_to(marks)

        prop()

    run_each(forms, check)
    assert set(accepted) == {f.name for f in forms}, "every form accepted its generated values"


GENERIC_REFUSAL = "данные противоречат уже сохранённым"  # names no field: a refusal must


def blank_rule(model, name):
    """What a blank field stores (app/records.py): NULL where the column allows it,
    else the column's default; ``...`` where neither says (the domain fills it)."""
    column = model.__table__.columns.get(name)
    if column is None:  # a relation: its foreign key
        rel = model.__mapper__.relationships.get(name)
        if rel is None:
            return ...  # a field of the form alone («Скидка вручную»): the domain decides
        if rel.uselist:
            return []  # many-to-many: nothing chosen
        (column,) = rel.local_columns
        name = rel.key
    if column.nullable:
        return None
    default = records.scalar_default(column)
    return default if default is not None else ...


def blank_of(spec: Field):
    return [] if spec.kind == "multi" else ""


def test_optional_fields_blank_filled_and_cleared_store_the_blank_rule(app, client_for, forms):
    """(c): a new record with every optional field blank stores the blank rule; then
    each optional field of a filled record, cleared on its own, stores it too (or is
    refused in Russian on that field, when the domain needs it); filled again, it
    holds the value again."""

    def check(form: Form):
        client = client_for(form.role)
        options = page_options(client, form)
        optional = [n for n, s in form.fields.items() if not s.required and s.kind not in ("bool", "hidden")]

        def blank_stored(row, name):
            expected = blank_rule(form.model, name)
            value = getattr(row, name)
            if expected is ...:
                return True
            if isinstance(expected, list):
                return list(value) == expected
            return value == expected or (hasattr(value, "value") and value.value == expected)

        @PROPERTY
        @given(
            empty=filled(form, options, blank_optional=True), full=filled(form, options, blank_optional=False)
        )
        def prop(empty, full):
            with app.app_context():
                marks = high_water()
                try:
                    added = client.post(form.add_url, data=posted(empty))
                    assert added.status_code == 302, alerts(added.get_data(as_text=True))
                    rows = new_row(form, marks)
                    if not rows and form.action:
                        return  # a card form that adds no record (the status)
                    (row,) = rows
                    attributes = form.model.__mapper__.attrs.keys()
                    for name in (n for n in optional if n in attributes):
                        if empty[name] in ("", []):
                            assert blank_stored(row, name), ("blank on add", name, getattr(row, name))
                    roll_back_to(marks)
                    added = client.post(form.add_url, data=posted(full))
                    assert added.status_code == 302, alerts(added.get_data(as_text=True))
                    (row,) = new_row(form, marks)
                    if form.edit_base is None:
                        return
                    edit_url = f"{form.edit_base}{row.id}"
                    shown = form_fields(client.get(edit_url).get_data(as_text=True))
                    clear = {n: blank_of(form.fields[n]) for n in optional if n in shown}
                    cleared = client.post(edit_url, data={**shown, **clear})
                    if cleared.status_code == 302:  # all at once; else one by one, below
                        db.session.expire_all()
                        row = db.session.get(form.model, row.id)
                        for name in clear:
                            assert blank_stored(row, name), ("cleared", name, getattr(row, name))
                        return
                    for name in optional:
                        shown = form_fields(client.get(edit_url).get_data(as_text=True))
                        if name not in shown:
                            continue
                        kept = shown[name]
                        before = snapshot(form.model, row.id)
                        db.session.expire_all()
                        value_before = stored(db.session.get(form.model, row.id), form.fields[name], None)
                        cleared = client.post(edit_url, data={**shown, name: blank_of(form.fields[name])})
                        if cleared.status_code == 422:  # the domain needs it: said on the field
                            assert_refused_in_russian(cleared, f"{name} cleared")
                            assert not any(
                                GENERIC_REFUSAL in a for a in alerts(cleared.get_data(as_text=True))
                            ), name
                            assert snapshot(form.model, row.id) == before, (
                                f"refused clearing {name} changed the row"
                            )
                            continue
                        assert cleared.status_code == 302, (name, cleared.status_code)
                        db.session.expire_all()
                        assert blank_stored(db.session.get(form.model, row.id), name), ("cleared", name)
                        now = form_fields(client.get(edit_url).get_data(as_text=True))
                        # the form as it was (a cleared type also drops its organisation),
                        # with what the form itself keeps (the record's version)
                        refill = {
                            **shown,
                            **{k: v for k, v in now.items() if k not in form.fields},
                            name: kept,
                        }
                        refilled = client.post(edit_url, data=refill)
                        assert refilled.status_code == 302, (name, alerts(refilled.get_data(as_text=True)))
                        db.session.expire_all()
                        again = stored(db.session.get(form.model, row.id), form.fields[name], None)
                        assert again == value_before, (f"{name} filled again", again, value_before)
                finally:
                    roll_back_to(marks)

        prop()

    run_each(forms, check)


CONTROL = ["\x00", "\x07", "\x1b"]


def refusal_values(form: Form, spec: Field) -> list[str]:
    """Values this field must refuse, whatever the rest of the form holds."""
    if spec.required and spec.kind in ("text", "decimal", "integer", "date", "datetime"):
        return ["", *kind_refusals(form, spec)]  # a required field left (or cleared to) empty
    return kind_refusals(form, spec)


def kind_refusals(form: Form, spec: Field) -> list[str]:
    match spec.kind:
        case "text":
            bad = [f"Текст{c}конец" for c in CONTROL]
            if spec.max_length:
                bad.append("Я" * (spec.max_length + 1))
            if spec.required:
                bad += ["   ", "\u00a0 \n "]
            return bad
        case "decimal":
            places = spec.places or 0
            bad = ["1," + "1" * (places + 1), "-0,01", "1,2,3", "NaN"]
            if spec.name == "discount":
                bad.append("100,01")
            return bad + (["   "] if spec.required else [])
        case "integer":
            bad = ["abc", "1,5", "99999999999999999999"]
            return bad + ([str(int(spec.low) - 1)] if spec.low is not None else [])
        case "date":
            return ["31.02.2020", "15.03.90", "15.03.1990 мусор"]
        case "datetime":
            return ["32.01.2026 10:30", "15.03.2026 25:00", "15.03.2026"]
        case "choice":
            return ["no-such-choice", *([""] if needed(form, spec.name) else [])]
        case "lookup":
            return ["999999", "abc", *([""] if needed(form, spec.name) else [])]
    return []


def test_what_a_form_refuses_is_422_in_russian_and_changes_nothing(app, client_for, forms):
    """(d) on the add form and on the edit form of a record the form itself saved:
    every refusal of every field, the rest of the form holding generated values."""

    def check(form: Form):
        client = client_for(form.role)
        options = page_options(client, form)
        bad = [(n, v) for n, s in form.fields.items() for v in refusal_values(form, s)]

        @settings(PROPERTY, max_examples=1)
        @given(data=filled(form, options, blank_optional=True))
        def prop(data):
            with app.app_context():
                marks = high_water()
                wrong = []
                try:
                    # the add form first, with no record beside it whose unique value
                    # would be the reason of a refusal
                    for name, value in bad:
                        where = f"{name}={value!r}"
                        before_all = snapshot(form.model)
                        refused = client.post(form.add_url, data=posted({**data, name: value}))
                        try:
                            assert_refused_in_russian(refused, f"add with {where}")
                            assert snapshot(form.model) == before_all, f"add with {where} changed the data"
                        except AssertionError as e:
                            wrong.append(str(e)[:200])
                            roll_back_to(marks)
                    if form.edit_base is not None:
                        good = client.post(form.add_url, data=posted(data))
                        assert good.status_code == 302, alerts(good.get_data(as_text=True))
                        (row,) = new_row(form, marks)
                        edit_url = f"{form.edit_base}{row.id}"
                        shown = form_fields(client.get(edit_url).get_data(as_text=True))
                        for name, value in bad:
                            if name not in shown:
                                continue
                            where = f"{name}={value!r}"
                            before = snapshot(form.model, row.id)
                            refused = client.post(edit_url, data={**shown, name: value})
                            try:
                                assert_refused_in_russian(refused, f"edit with {where}")
                                assert snapshot(form.model, row.id) == before, (
                                    f"edit with {where} changed the row"
                                )
                            except AssertionError as e:
                                wrong.append(str(e)[:200])
                    assert not wrong, "\n".join(wrong)
                finally:
                    roll_back_to(marks)

        prop()

    run_each(forms, check)


@pytest.mark.parametrize("role_key", [k for k in access.ROLES if k not in access.ALL_ROWS_ROLES])
def test_the_cards_plus_for_a_customer_outside_the_roles_rows_is_404(app, client_for, world, role_key):
    """The «+» of every card tab the role may write, opened with a customer outside
    its rows, answers 404 as that customer's card does (it answered the form, and a
    post was refused for want of a customer), and stores nothing."""
    client = client_for(role_key)
    with app.app_context():
        mine = [
            v
            for v in app.appbuilder.baseviews
            if type(v) in tab_views(app)
            and access.ROLES[role_key].resources.get(v.class_permission_name) == access.WRITE
            and "customer" in v.datamodel.obj.__mapper__.relationships.keys()
        ]
    assert mine, f"{role_key} writes a tab of the card"
    assert client.get(f"/customerview/show/{world.stranger}").status_code == 404
    for view in mine:
        model = view.datamodel.obj
        for customer, expected in ((world.stranger, 404), (world.patient, 200)):
            url = f"{view.route_base}/add?_flt_0_customer={customer}"
            assert client.get(url).status_code == expected, url
        with app.app_context():
            before = snapshot(model)
        url = f"{view.route_base}/add?_flt_0_customer={world.stranger}"
        assert client.post(url, data={"text": "Запись", "allergies": "Пенициллин"}).status_code == 404
        with app.app_context():
            assert snapshot(model) == before, url
