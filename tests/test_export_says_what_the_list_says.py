"""An export says what its list says: every list with an export, generated.

Walked, not listed: every view the app registers (``app.appbuilder.baseviews``) that
serves «Выгрузить CSV» is asked its list page, its CSV and its workbook, and every tab of
every customer's card is asked against the export its own «Выгрузить CSV» gives (that
customer's rows) — as every role, each given the export of every list (the manager has it
by default; a clinic may tick it for others on FAB's roles screen), so what each role
sees masked or hidden is compared too. Rows of every kind are planted: the demo's
customers, orders, payments, refunds, certificates and subscriptions; a row in every table
that points at a customer with secrets in its free texts (tests/test_walk.py ``plant``); a
cancelled subscription; an erased customer. Row by row and column by column the export's
cell must say what the page's cell says.

The export writes amounts, counts and dates as values a spreadsheet reads
(app/spreadsheet.py): such a cell is read back and shown through the list's own
formatter for that column before it is compared, and a CSV text cell loses the quote that
keeps it from being a formula; nothing else is normalised but whitespace. A column the
export writes as other columns (``export_expands``) must hold the list's value in one of
them. A view added later is compared without editing this file.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal
from html.parser import HTMLParser

import flask
import pytest
from sqlalchemy import select

from app.extensions import db
from app.formatting import utc_from_local
from app.models import AccessLog, Customer
from app.spreadsheet import FORMULA_START
from tests import factories, matrix, sheets, test_walk
from tests.test_certificates import visit_of_a_cancelled_subscription

PAGE = 100  # the largest page a list serves (app/admin/requests.py MAX_PAGE_SIZE)


class _TableParser(HTMLParser):
    """The list table's rows: {column: text} from its ``<td class="col-…">`` cells."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str]] = []
        self.column: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append({})
        elif tag == "td":
            classes = (dict(attrs).get("class") or "").split()
            found = [c[len("col-") :] for c in classes if c.startswith("col-")]
            self.column, self.text = (found[0] if found else None), []
        elif tag == "br" and self.column is not None:
            self.text.append(" ")

    def handle_endtag(self, tag):
        if tag == "td" and self.column is not None:
            self.rows[-1][self.column] = "".join(self.text)
            self.column = None

    def handle_data(self, data):
        if self.column is not None:
            self.text.append(data)


def list_rows(html: str) -> list[dict[str, str]]:
    parser = _TableParser()
    parser.feed(html)
    return [row for row in parser.rows if row]


def plain(text) -> str:
    return " ".join(str(text).split())


NUMBER = re.compile(r"-?\d+(,\d+)?")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def typed(cell):
    """The value a CSV cell or a workbook's cell holds: a number, a date, a moment (UTC, as
    stored), or its text (a CSV's text without the quote that keeps it from being a formula)."""
    if isinstance(cell, bool) or cell is None:
        return cell
    if isinstance(cell, int | float):
        return Decimal(str(cell))
    if isinstance(cell, dt.datetime):  # the clinic's time in a workbook
        return utc_from_local(cell)
    if isinstance(cell, dt.date):
        return cell
    if NUMBER.fullmatch(cell):
        return Decimal(cell.replace(",", "."))
    if MOMENT.fullmatch(cell):
        return utc_from_local(dt.datetime.strptime(cell, "%Y-%m-%d %H:%M"))
    if DATE.fullmatch(cell):
        return dt.date.fromisoformat(cell)
    if cell.startswith("'") and cell[1:].startswith(FORMULA_START):
        return cell[1:]
    return cell


def shown(cell, formatter) -> set[str]:
    """What the list may show for an exported cell: its text, and for a value the export
    writes typed that value through the list's formatter for the column."""
    value = typed(cell)
    if isinstance(value, str):
        return {plain(value)}
    found = {plain("" if cell is None else cell)}
    if isinstance(value, Decimal) and value == value.to_integral_value():
        found.add(str(int(value)))
    if value is not None and formatter is not None:
        out = formatter(value)
        found.add(plain(out.striptags() if hasattr(out, "striptags") else out))
    return found


@pytest.fixture
def everything(app, login_as):
    """Rows of every kind in every table."""
    from app.demo import seed_demo

    with app.app_context():
        seed_demo(customers=6, seed=7)
        test_walk.plant(app)
        visit_of_a_cancelled_subscription(db.session)
        erased = factories.customer(db.session, last_name="Стёртова", phone="+79165550998")
        factories.order(db.session, erased, paid="500")
        db.session.commit()
        erased_id = erased.id
    answer = login_as("manager").post(
        f"/customerview/{erased_id}/subject/erase", data={"basis": "Заявление № 3", "confirm": "yes"}
    )
    assert answer.status_code == 302


def listed_exports(app) -> list[tuple[str, str, str, object]]:
    """(view name, list address, CSV address, view) of every registered list with a CSV export."""
    found = []
    for view in app.appbuilder.baseviews:
        name = type(view).__name__
        if f"{name}.export" not in app.view_functions or f"{name}.list" not in app.view_functions:
            continue
        with app.test_request_context():
            found.append((name, flask.url_for(f"{name}.list"), flask.url_for(f"{name}.export"), view))
    return sorted(found, key=lambda found: found[0])


def compare(name, kind, view, page_rows, table, whole=True, reader=None) -> list[tuple]:
    """The differences between a list's rows (parsed from its page) and its export's
    (``whole``: the page holds every row, so the counts must agree too)."""
    header, body = table[0], table[1:]
    if view.datamodel.obj is AccessLog:
        # the journal grows as it is read: the page's own reading and the exports after it
        # are its rows too, the newest first. The page must be the export from some row
        # on, every row above it the reader's own
        who = header.index(str(view.label_columns["user"]))
        for newer in range(1, len(body) + 1):
            if body[newer - 1][who] != reader:
                break
            found = compare_rows(name, kind, view, page_rows, header, body[newer:], whole)
            if not found:
                return []
    return compare_rows(name, kind, view, page_rows, header, body, whole)


def compare_rows(name, kind, view, page_rows, header, body, whole) -> list[tuple]:
    wrong = []
    if whole and len(body) != len(page_rows):
        wrong.append((name, kind, "rows", len(page_rows), len(body)))
    expanded = {part: column for column, parts in view.export_expands.items() for part in parts}
    labels = {str(view.label_columns.get(c, c)): c for c in [*view.list_columns, *expanded]}
    formatters = view.formatters_columns
    columns = [labels.get(h, h) for h in header]
    for index, (listed, written) in enumerate(zip(page_rows, body, strict=False)):
        cells = dict(zip(columns, written, strict=True))
        for column, text in listed.items():
            if column in cells:
                if plain(text) not in shown(cells[column], formatters.get(column)):
                    wrong.append((name, kind, index, column, plain(text), cells[column]))
                continue
            parts = [p for p, c in expanded.items() if c == column and p in cells]
            if parts and plain(text):
                if not any(
                    cells[p] not in ("", None)
                    and any(s in plain(text) for s in shown(cells[p], formatters.get(p)))
                    for p in parts
                ):
                    wrong.append((name, kind, index, column, plain(text), [cells[p] for p in parts]))
            elif not parts and column not in view.export_excludes:
                wrong.append((name, kind, index, column, plain(text), "not exported"))
    return wrong


def exported(client, csv_url, kind):
    answer = client.get(csv_url if kind == "csv" else csv_url.replace("export.csv", "export.xlsx"))
    return answer.status_code, (sheets.table(answer) if answer.status_code == 200 else None)


def differences(app, client, name, list_url, csv_url, view, reader) -> list[tuple]:
    """A main list's page against its export, in both formats."""
    page = client.get(f"{list_url}?psize_{name}={PAGE}")
    assert page.status_code == 200, (name, page.status_code)
    page_rows = list_rows(page.get_data(as_text=True))
    wrong = []
    for kind in sheets.FORMATS:
        status, table = exported(client, csv_url, kind)
        if status != 200:
            wrong.append((name, kind, "export", status))
            continue
        with app.test_request_context():
            wrong += compare(name, kind, view, page_rows, table, whole=len(table) - 1 < PAGE, reader=reader)
    return wrong


PANE = re.compile(r'<div role="tabpanel"')
TAB_EXPORT = re.compile(r'href="(/[^"?]+/export\.csv\?[^"]*_rel_customer=[^"]*)"')


def card_differences(app, client, customer_id, views, reader) -> list[tuple]:
    """Each tab of a customer's card against the export its «Выгрузить CSV» gives."""
    card = client.get(f"/customerview/show/{customer_id}")
    assert card.status_code == 200, (customer_id, card.status_code)
    wrong = []
    for pane in PANE.split(card.get_data(as_text=True))[1:]:
        links = TAB_EXPORT.findall(pane)
        if not links:
            continue
        csv_url = html.unescape(links[0])
        name, view = views[csv_url.split("?")[0]]
        page_rows = list_rows(pane)
        for kind in sheets.FORMATS:
            status, table = exported(client, csv_url, kind)
            if status != 200:
                wrong.append((name, kind, customer_id, "export", status))
                continue
            with app.test_request_context():
                found = compare(
                    name, kind, view, page_rows, table, whole=len(table) - 1 < view.page_size, reader=reader
                )
            wrong += [(customer_id, *w) for w in found]
    return wrong


@pytest.fixture
def everyone_exports(app):
    """Every role given the export of every list it may read (a clinic may tick it on FAB's
    roles screen): each role's masked and hidden fields are compared too."""
    from app.access import ROLES

    added = []
    with app.app_context():
        sm = app.appbuilder.sm
        for *_, view in listed_exports(app):
            if "can_export" not in (view.base_permissions or ()):
                continue
            pvm = sm.find_permission_view_menu("can_export", view.class_permission_name)
            for role_key in matrix.ROLE_KEYS:
                role = sm.find_role(ROLES[role_key].name)
                if pvm is not None and pvm not in role.permissions:
                    sm.add_permission_role(role, pvm)
                    added.append((role_key, pvm.id))
    yield
    with app.app_context():
        sm = app.appbuilder.sm
        for role_key, pvm_id in added:
            role = sm.find_role(ROLES[role_key].name)
            pvm = next(p for p in role.permissions if p.id == pvm_id)
            sm.del_permission_role(role, pvm)


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_every_export_says_what_its_list_says(app, login_as, everything, everyone_exports, role_key):
    """A list and its export read the rows two ways (the list its plain values through
    the columns it declares, the export the records as objects), so for the same row and
    column the file could say another text than the page, and «Правила расчётов» exported
    nothing until someone had opened its list. Each export now reads what its list shows,
    masked and hidden as the list is for each role."""
    found = listed_exports(app)
    assert {"CertificateView", "MessageView", "PaymentView", "CustomerView"} <= {n for n, *_ in found}
    client = login_as(role_key)
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=role_key)
        reader = f"{user.first_name} {user.last_name}"
    wrong, compared = [], []
    for name, list_url, csv_url, view in found:
        if "can_export" not in (view.base_permissions or ()):
            continue  # nobody's export: refused, tests/test_exports.py
        if client.get(f"{list_url}?psize_{name}={PAGE}").status_code != 200:
            continue  # a list this role may not read
        wrong += differences(app, client, name, list_url, csv_url, view, reader)
        compared.append(name)
    assert compared
    # each card's tabs, against the export each tab offers (its customer's rows only)
    views = {csv_url: (name, view) for name, _list_url, csv_url, view in found}
    with app.app_context():
        customers = db.session.scalars(select(Customer.id).order_by(Customer.id)).all()
    for customer_id in customers:
        if client.get(f"/customerview/show/{customer_id}").status_code == 200:
            wrong += card_differences(app, client, customer_id, views, reader)
    assert wrong == []
