"""Every box of every «new record» form is drawn as the form's other boxes are (the
theme's ``form-control``: full width, the same height and border). A customer's extra
field («Рост, см», «ИНН») was a bare, narrow input among the styled ones. The forms are
found from the app's routes, so a new screen is checked without editing this test."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app import access
from app.models import AttributeKind, CustomerAttribute, CustomerType

TYPED = {"", "text", "email", "tel", "number", "password", "search", "url", "date", "datetime-local"}


class Boxes(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inside, self.bare = False, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self.inside = True
        if not self.inside or tag not in ("input", "select", "textarea"):
            return
        if tag == "input" and (a.get("type") or "").lower() not in TYPED:
            return
        if "form-control" not in (a.get("class") or "").split():
            self.bare.append(a.get("name") or a.get("id"))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def add_pages(app) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.endswith("/add") and not rule.arguments and "GET" in rule.methods
    )


@pytest.mark.parametrize("role", sorted(access.ROLES))
def test_every_box_of_every_new_record_form_is_styled(app, ctx, login_as, role):
    for customer_type, label, kind in (
        (CustomerType.INDIVIDUAL, "Рост, см", AttributeKind.NUMBER),
        (CustomerType.LEGAL, "ИНН", AttributeKind.TEXT),
        (CustomerType.INDIVIDUAL, "Дата первого визита", AttributeKind.DATE),
    ):
        ctx.add(CustomerAttribute(customer_type=customer_type, label=label, kind=kind))
    ctx.commit()
    client = login_as(role)
    opened = 0
    try:
        for url in add_pages(app):
            page = client.get(url)
            if page.status_code != 200:
                continue
            opened += 1
            boxes = Boxes()
            boxes.feed(page.get_data(as_text=True))
            assert boxes.bare == [], url
    finally:
        ctx.query(CustomerAttribute).delete()
        ctx.commit()
    writes = any(level == access.WRITE for level in access.ROLES[role].resources.values())
    assert opened >= writes, opened  # a role that writes anything opened a form
