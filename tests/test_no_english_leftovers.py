"""Every page, as every role, in Russian: no English text from Flask-AppBuilder left over."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.pofile import read_po

from app.access import ROLES
from tests.test_access import seed

FAB_PO = Path(flask_appbuilder.__file__).parent / "translations" / "ru" / "LC_MESSAGES" / "messages.po"


def english_msgids() -> set[str]:
    """English strings FAB can print: its catalog's msgids and the strings its templates extract to."""
    with FAB_PO.open("rb") as f:
        ids = {m.id for m in read_po(f) if m.id and isinstance(m.id, str)}
    from app.fab_strings import FAB_STRINGS

    ids |= {s._args[0] for s in FAB_STRINGS}  # FAB strings its own catalog lacks
    ids |= {
        "Forbidden",
        "Not Found",
        "Internal Server Error",
        "Method Not Allowed",
        "Bad Request",
        "Too Many Requests",
    }
    return {i.strip() for i in ids if re.search(r"[A-Za-z]{2}", i)}


class VisibleText(HTMLParser):
    SKIP = {"script", "style", "template", "noscript"}

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "aria-label", "alt") and value and not self.depth:
                self.texts.append(value.strip())
            if tag == "input" and name == "value" and dict(attrs).get("type") in ("submit", "button"):
                self.texts.append(value.strip())

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.texts.append(" ".join(data.split()))


# What an optional select shows when its empty choice has no label (WTForms
# falls back to the value, FAB's «__None»), in the page or in the filter JSON.
RAW_VALUES = (">__None<", "__None\\u003c")


# Python's own words and reprs where a value was shown as it is stored («None»,
# «True», «['П', 'о', 'л']», «[Аудитор]»).
PYTHON_REPR = re.compile(r"^(None|True|False|\[.*\])$")


def leftovers(html: str, english: set[str]) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    found = {
        t for t in parser.texts if t in english or t.rstrip(":").strip() in english or PYTHON_REPR.match(t)
    }
    return found | {raw for raw in RAW_VALUES if raw in html}


def pages(app, ctx, customer_id):
    """Every page the app serves by GET, generated from its URL map: each address
    without a variable, and each record's page (``<pk>``) with a record of that
    screen; a new screen is read without editing this test."""
    from flask_appbuilder import Model

    models = {m.class_.__name__: m.class_ for m in Model.registry.mappers}
    views = {type(v).__name__: v for v in app.appbuilder.baseviews}
    urls = {"/customerview/list/?q=нет-такого", "/nowhere", "/customerview/show/999999"}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/static", "/appbuilder", "/api/")):
            continue
        if any(
            word in rule.rule for word in ("logout", "/lang/", "export", "download", "lookup", "/action/")
        ):
            continue
        if not rule.arguments:
            urls.add(rule.rule)
        elif rule.arguments == {"pk"}:
            view = views.get(rule.endpoint.split(".")[0])
            model = getattr(getattr(view, "datamodel", None), "obj", None)
            model = models.get(getattr(model, "__name__", ""), model)
            row = ctx.query(model).first() if model is not None else None
            if row is not None:
                urls.add(rule.rule.replace("<pk>", str(row.id)))
    return sorted(urls)


@pytest.mark.parametrize("role", list(ROLES))
def test_no_english_leftovers_on_any_page(app, ctx, client, login_as, role):
    english = english_msgids()
    customer = seed(ctx)
    found = {}
    anonymous = client.get("/login/").get_data(as_text=True)
    found.update({t: "/login/" for t in leftovers(anonymous, english)})
    client = login_as(role)
    for url in pages(app, ctx, customer.id):
        response = client.get(url)
        if response.status_code in (302, 405) or response.mimetype != "text/html":
            continue  # a file (an import's sample workbook) is not a page
        found.update({t: url for t in leftovers(response.get_data(as_text=True), english)})
    assert found == {}
