"""Every door, every role: a walk of the app's whole URL map with secrets planted.

Generated, not listed: the pages come from ``app.url_map`` (every GET rule:
lists, records, forms, card tabs, lookups, exports, the REST API with ``_info``
and the OpenAPI document), the records from the views' own models, the roles
and what each may see from the rights pinned in tests/matrix.py, the secrets from
the field rules' columns (app.access.FIELDS) and the resources from the registered
views. A view, a tab, an endpoint or a field rule added later is walked without
editing this file (and fails until tests/matrix.py says who may see it).

Planted: two customers, the specialist's patient and a stranger outside their
rows, each with a row in every table that points at a customer; every field
under a rule holds a value of its own, written twice so that the change history
copies both; every free text (``Text`` and long ``String`` columns: notes,
message bodies and errors, comments, the journal's details) holds all of them,
and a marker of the resource it belongs to.

Checked on every answer, for every role: no 5xx; no value of a field the role
sees masked or hidden (in any of the forms a page writes it: E.164 or national
phone, ISO or local date, amount with a comma or a point); no marker of a
resource the role may not read; and, for a role limited to its own rows, nothing
of the stranger (their name labels every choice that points at them: a
relation's options in a form, in ``_info``, in a lookup, in a filter). Then the
doors that write: every form and every API resource that takes a customer or an
order, given the stranger's, must store nothing for them.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from sqlalchemy import String, Text, event

from app import access
from app import files as file_rules
from app.extensions import db
from app.models import (
    AccessLog,
    Branch,
    Customer,
    CustomerDocument,
    CustomerFile,
    FileCategory,
    MedicalRecord,
    Message,
    Note,
    NotificationConsent,
    Order,
    Return,
    Review,
    Tag,
)
from tests import factories, matrix, sheets
from tests.conftest import user_id

# The values of the fields under a rule, by field key: the patient's and the
# stranger's, first as created and then as changed (the history keeps both).
PLANTED = {
    "patient": {
        "phone": ("+79161112233", "+79162223344"),
        "phone_extra": ("+79163334455", "+79164445566"),
        "email": ("taina.pervaya@example.ru", "taina.vtoraya@example.ru"),
        "birth_date": (dt.date(1979, 4, 13), dt.date(1978, 5, 14)),
        "bonus_balance": (Decimal("7341.29"), Decimal("7352.31")),
        "deposit_balance": (Decimal("8612.37"), Decimal("8623.41")),
        "series": ("4519", "4618"),
        "number": ("731946", "842057"),
    },
    "stranger": {
        "phone": ("+79035556677", "+79036667788"),
        "phone_extra": ("+79037778899", "+79038889900"),
        "email": ("chuzhaya.pervaya@example.ru", "chuzhaya.vtoraya@example.ru"),
        "birth_date": (dt.date(1981, 7, 19), dt.date(1982, 8, 21)),
        "bonus_balance": (Decimal("6417.53"), Decimal("6428.59")),
        "deposit_balance": (Decimal("5931.67"), Decimal("5942.71")),
        "series": ("4720", "4821"),
        "number": ("953168", "964279"),
    },
}
STRANGER_NAME = "Чужакова"
MARKER = "МЕТКА"  # + model name: a resource's free text
PHOTO = "СНИМОК-ЛИЦА"  # a before/after photo's content: opened with «просмотр фото клиентов» only


def forms_of(value) -> list[re.Pattern]:
    """Patterns of every form a page may write ``value`` in."""
    if isinstance(value, dt.date):
        d, m, y = value.day, value.month, value.year
        texts = [value.isoformat(), f"{d:02d}.{m:02d}.{y}", f"{m}/{d}/{y}", f"{d:02d}.{m:02d}.{y % 100:02d}"]
        return [re.compile(re.escape(t)) for t in texts]
    if isinstance(value, Decimal):
        whole, cents = f"{value:.2f}".split(".")
        spaced = r"\D{0,2}".join(
            [whole[: len(whole) % 3 or 3], *re.findall(r"\d{3}", whole[len(whole) % 3 or 3 :])]
        )
        return [re.compile(rf"(?<!\d){spaced}[.,]{cents}(?!\d)")]
    text = str(value)
    if text.startswith("+7"):  # a phone: E.164, national, any separators
        return [re.compile(r"\D{0,4}".join(text[2:]))]
    if text.isdigit():
        return [re.compile(rf"(?<!\d){text}(?!\d)")]
    return [re.compile(re.escape(text), re.I)]


def secret_sentence(who: str) -> str:
    values = PLANTED[who]
    return (
        " ".join(
            str(v)
            for key in ("phone", "email", "birth_date", "series", "number")
            for v in (values[key][1], values[key][0])
        )
        + f" {values['birth_date'][1].strftime('%d.%m.%Y')} {values['series'][1]} {values['number'][1]}"
    )


def free_text_columns(model) -> list[str]:
    """Columns anybody may write anything into: Text, and String of 200 and more."""
    return [
        c.name
        for c in model.__table__.columns
        if not c.foreign_keys
        and not c.info.get("copy_of")
        and access.column_field(model, c.name) is None
        and (isinstance(c.type, Text) or (isinstance(c.type, String) and (c.type.length or 0) >= 200))
        and not getattr(c.type, "enum_class", None)
    ]


def fill_texts(row, who: str) -> None:
    for column in free_text_columns(type(row)):
        setattr(row, column, f"{MARKER}-{type(row).__name__} {secret_sentence(who)}")


def plant(app) -> dict:
    """Both customers with a row in every table that points at a customer; returns
    {model: {"patient": id, "stranger": id}}."""
    session = db.session
    doctor = user_id(app, "doctor")
    rows: dict = {}
    branch = factories.branch(session, "Центральный")
    tag = Tag(name="Постоянный", color="#00aa00")
    session.add(tag)
    for who, last_name in (("patient", "Пациентова"), ("stranger", STRANGER_NAME)):
        values = PLANTED[who]
        customer = factories.customer(
            session,
            last_name=last_name,
            phone=values["phone"][0],
            phone_extra=values["phone_extra"][0],
            email=values["email"][0],
            birth_date=values["birth_date"][0],
            bonus_balance=values["bonus_balance"][0],
            deposit_balance=values["deposit_balance"][0],
        )
        order = factories.order(
            session, customer, paid="1500", specialist_id=doctor if who == "patient" else None, branch=branch
        )
        document = CustomerDocument(
            customer=customer,
            kind="passport_rf",
            series=values["series"][0],
            number=values["number"][0],
            issued_by="ОВД",
            issue_date=dt.date(2010, 1, 1),
            division_code="770-001",
        )
        related = [
            document,
            Note(customer=customer, text="-"),
            MedicalRecord(customer=customer),
            Review(customer=customer, order=order, rating=5),
            Return(customer=customer, order=order, amount=Decimal("100"), reason="-"),
            Message(customer=customer, channel="sms", message_type="manual", body="-"),
            NotificationConsent(customer=customer, message_type="marketing", channel="sms", allowed=True),
            # a file of every kind, each holding what its kind protects: a passport's scan
            # is passport data (its content holds the passport's number), a medical
            # document is medical history (the anamnesis' marker); each door (list, card,
            # record, API, export, download) must keep them from a role that does not
            # read the number or the anamnesis
            *(
                CustomerFile(
                    customer=customer,
                    name=f"{category.value}.pdf",
                    kind="pdf",
                    content_type="application/pdf",
                    size=1,
                    sha256="0" * 64,
                    stored_name=f"{who}{category.value}".ljust(32, "0"),
                    category=category,
                )
                for category in FileCategory
            ),
        ]
        # the access journal is append-only: its texts are written with the row
        journal = AccessLog(customer_id=customer.id, action="reveal", field="customer.phone", ip="10.0.0.1")
        fill_texts(journal, who)
        related.append(journal)
        session.add_all(related)
        session.commit()
        passport = f"{values['series'][0]} {values['number'][0]} {values['series'][1]} {values['number'][1]}"
        contents = {
            FileCategory.IDENTITY: passport,
            FileCategory.MEDICAL: f"{MARKER}-{MedicalRecord.__name__} направление, диагноз",
            FileCategory.CONSENT: "согласие на обработку, подпись",
            FileCategory.PHOTO: f"{PHOTO} до процедуры",
            FileCategory.OTHER: "прочее",
        }
        for scan in (row for row in related if isinstance(row, CustomerFile)):
            path = file_rules.stored_path(scan)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"%PDF-1.4\n" + contents[scan.category].encode() + b"\n%%EOF\n")
        # what people and templates wrote: every free text holds every secret
        for row in (customer, order, *related):
            if row is not journal:
                fill_texts(row, who)
        session.commit()
        # the change history copies the old and the new value of every field
        for column in ("phone", "phone_extra", "email", "birth_date", "bonus_balance", "deposit_balance"):
            setattr(customer, column, values[column][1])
        document.series, document.number = values["series"][1], values["number"][1]
        customer.tags = [tag]
        session.commit()
        for row in (customer, order, *related):
            found = rows.setdefault(type(row), {})
            # the first row of its model is the customer's; more of one model (a file
            # of each kind) are walked too, under a key of their own
            found[who if who not in found else f"{who} {len(found)}"] = row.id
    rows[Branch] = {"patient": branch.id, "stranger": branch.id}
    rows[Tag] = {"patient": tag.id, "stranger": tag.id}
    return rows


# -- what each role may not receive ------------------------------------------


def model_resources(app) -> dict:
    resources = {}
    for view in app.appbuilder.baseviews:
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if model is not None and not access.is_security_view(view):
            resources.setdefault(model, view.class_permission_name)
    return resources


def forbidden(app, role_key, planted_models) -> list[tuple[str, re.Pattern]]:
    """(what, pattern) of everything ``role_key`` must never receive: the levels come
    from the rights pinned by hand (tests/matrix.py), the columns and resources from
    the app (a field rule or a resource the table does not name fails)."""
    found = []
    for spec in access.FIELDS.values():
        if matrix.field_level(role_key, spec.key) in (matrix.R, matrix.W):
            continue
        for _model, column in spec.columns:
            for who in PLANTED:
                for value in PLANTED[who].get(column, ()):
                    found += [(f"{spec.key} of the {who}: {value}", p) for p in forms_of(value)]
    resources = model_resources(app)
    for model in planted_models:
        resource = resources.get(model)
        if resource is not None and not matrix.reads(role_key, resource) and free_text_columns(model):
            found.append(
                (f"text of {model.__name__} ({resource})", re.compile(f"{MARKER}-{model.__name__}\\b"))
            )
    if role_key not in matrix.OWN_RIGHTS[("can_see_photos", "Files")]:
        found.append(("a customer's photo", re.compile(PHOTO)))
    if role_key not in matrix.ALL_ROWS:
        found.append(("the stranger (outside the role's rows)", re.compile(STRANGER_NAME)))
    return found


def readable(response) -> str:
    """The answer as a reader sees it: JSON without \\u escapes, HTML unescaped, a
    workbook's cells (an XLSX export is a zip: its bytes hide what it holds)."""
    if response.mimetype == sheets.XLSX:
        return sheets.readable(response)
    text = response.get_data(as_text=True)
    if response.is_json:
        try:
            return json.dumps(response.get_json(), ensure_ascii=False)
        except ValueError:
            return text
    return html.unescape(text)


# -- the walk -------------------------------------------------------------------

SKIP = {"static", "appbuilder.static", "AuthDBView.logout", "LocaleView.index"}  # not a page; ends the walk


def view_of(app, endpoint):
    name = endpoint.split(".", 1)[0]
    return next((v for v in app.appbuilder.baseviews if type(v).__name__ == name or v.endpoint == name), None)


def urls(app, rows) -> list[str]:
    """Every GET address of the app, once with the patient's records and once with the stranger's."""
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in SKIP:
            continue
        view = view_of(app, rule.endpoint)
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        # a record's address with each planted record of its model (every file's kind)
        whose = list(rows.get(model) or ("patient",)) if "pk" in rule.arguments else ["patient"]
        for who in whose:
            values = {}
            for arg in rule.arguments:
                if arg == "pk":
                    values[arg] = rows.get(model, {}).get(who, 1)
                elif arg == "version":
                    values[arg] = "v1"
                else:
                    values[arg] = "x"
            try:
                path = rule.build(values, append_unknown=False)[1]
            except Exception:  # noqa: BLE001 - a rule that cannot be built has no address to walk
                continue
            found.append(path)
            if "pk" not in rule.arguments:  # a record's page is asked for its record only
                found.append(path + queries(path, rows))
    return sorted(set(found))


def queries(path: str, rows) -> str:
    """What a page is asked besides itself: a search for the stranger (a list's box,
    a lookup), the stranger's records (a tab's export, a form opened from their card,
    a message to them) — and for the API a full page and every relation's choices."""
    stranger = rows[Customer]["stranger"]
    if path.startswith("/api/"):
        if path.endswith("/_info"):
            return "?q=(add_columns:(customer:(page_size:100)),edit_columns:(customer:(page_size:100)))"
        return "?q=(page_size:100)"
    return f"?q={STRANGER_NAME}&_rel_customer={stranger}&customer={stranger}&ids={stranger}&_flt_0_customer={stranger}"


@pytest.fixture
def planted(app):
    with app.app_context():
        rows = plant(app)
    yield rows
    with app.app_context():  # the scans' contents go with the rows (rolled back per test)
        for path in file_rules.storage_dir().rglob("*"):
            if path.is_file():
                path.unlink()


@dataclass
class Walk:
    """What one role's walk of the planted app found."""

    walked: int = 0
    errors: list = field(default_factory=list)  # (url, status) of every 5xx
    leaks: dict = field(default_factory=dict)  # what the role may not receive -> the urls that sent it
    # every SELECT the pages issued: (statement, from a record's page) -> (parameters, the first url)
    issued: dict = field(default_factory=dict)


# A role's walk, kept for the session: this file's walk and tests/test_plans.py (the
# statements the same pages issue) ask the same addresses of the same planted rows as
# the same role. Each role walks once; the rows are planted again before each test.
WALKS: dict[str, Walk] = {}


def walk(app, login_as, rows, role_key) -> Walk:
    """Every GET address of the app (``urls``) as ``role_key``, with the rows ``plant``
    returned: the 5xx, every leak of what the role may not receive, every SELECT issued."""
    if role_key in WALKS:
        return WALKS[role_key]
    client = login_as(role_key)
    with app.app_context():
        never = forbidden(app, role_key, rows)
        addresses = urls(app, rows)
        engine = db.engine
    found = Walk()
    page = {"url": ""}

    def collect(conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            record_page = bool(re.search(r"/(show|edit)/", page["url"]))
            found.issued.setdefault((statement, record_page), (tuple(parameters or ()), page["url"]))

    event.listen(engine, "before_cursor_execute", collect)
    try:
        for url in addresses:
            page["url"] = url
            response = client.get(url)
            found.walked += 1
            if response.status_code >= 500:
                found.errors.append((url, response.status_code))
                continue
            body = readable(response)
            for what, pattern in never:
                if pattern.search(body):
                    found.leaks.setdefault(what, []).append(url)
    finally:
        event.remove(engine, "before_cursor_execute", collect)
    WALKS[role_key] = found
    return found


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_no_door_shows_what_the_role_may_not_see(app, login_as, planted, role_key):
    found = walk(app, login_as, planted, role_key)
    print(f"\n{role_key}: {found.walked} addresses walked")
    assert found.walked > 150
    assert found.errors == []
    assert found.leaks == {}, "\n".join(f"{what}: {len(at)} × {at[:6]}" for what, at in found.leaks.items())


# -- the doors that write --------------------------------------------------------


def relation_fields(view) -> dict[str, type]:
    """The view's add and edit form fields that point at a customer or an order: name -> model."""
    from app.admin.lookups import LookupField

    found = {}
    for form_class in (view.add_form, view.edit_form):
        for name, unbound in vars(form_class).items():
            model = getattr(unbound, "kwargs", {}).get("model")
            if getattr(unbound, "field_class", None) is LookupField and model in (Customer, Order):
                found[name] = model
    return found


def stored_for(model, customer_id) -> int:
    column = model.id if model is Customer else model.customer_id
    return db.session.query(model).filter(column == customer_id).count()


@pytest.mark.parametrize("role_key", [k for k in matrix.ROLE_KEYS if k not in matrix.ALL_ROWS])
def test_no_door_writes_outside_the_roles_rows(app, login_as, planted, role_key):
    """Every form and every API resource that takes a customer or an order, given the
    stranger's (in the field, or in the address a card's tab opens the form with),
    stores nothing for them and moves nothing to them."""
    from app.api import PolicyApi
    from app.views import KartotekaModelView
    from tests.html_forms import form_fields

    client = login_as(role_key)
    stranger = planted[Customer]["stranger"]
    with app.app_context():
        views = [
            v
            for v in app.appbuilder.baseviews
            if isinstance(v, KartotekaModelView)
            and matrix.writes(role_key, v.class_permission_name)
            and relation_fields(v)
        ]
        apis = [
            a
            for a in app.appbuilder.baseviews
            if isinstance(a, PolicyApi) and matrix.writes(role_key, a.class_permission_name)
        ]
    tried = []
    for view in views:
        model = view.datamodel.obj
        row = planted[model]["patient"]
        template = form_fields(client.get(f"{view.route_base}/edit/{row}").get_data(as_text=True))
        assert template, f"{view.route_base}: the patient's record opens for editing"
        for name, related in relation_fields(view).items():
            data = {**template, name: str(planted[related]["stranger"])}
            attempts = [
                (f"{view.route_base}/add", data),
                (f"{view.route_base}/add?_flt_0_{name}={planted[related]['stranger']}", template),
                (f"{view.route_base}/edit/{row}", data),
            ]
            for url, posted in attempts:
                with app.app_context():
                    before = stored_for(model, stranger)
                client.post(url, data=posted)
                with app.app_context():
                    assert stored_for(model, stranger) == before, f"POST {url} stored a row for the stranger"
                tried.append(url)
    for api in apis:
        model = api.datamodel.obj
        with app.app_context():
            row = db.session.get(model, planted[model]["patient"])
            payload = api.add_model_schema.dump(row)
        related = {name: kind for name, kind in (("customer", Customer), ("order", Order)) if name in payload}
        for name in related:
            sent = {**payload, name: planted[related[name]]["stranger"]}
            for method, url in (("post", f"{api.route_base}/"), ("put", f"{api.route_base}/{row.id}")):
                with app.app_context():
                    before = stored_for(model, stranger)
                answer = getattr(client, method)(url, json=sent)
                assert answer.status_code in (400, 403, 404, 422), (method, url, answer.status_code)
                with app.app_context():
                    assert stored_for(model, stranger) == before, (
                        f"{method.upper()} {url} stored for the stranger"
                    )
                tried.append(url)
    assert tried, "a role limited to its rows writes somewhere"
    print(f"\n{role_key}: {len(tried)} writes tried with the stranger's records")
