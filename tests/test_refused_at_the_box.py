"""Every inline form of the customer card tells a refused value at its box.

The forms are found from what the card registers (each ``CustomerTab.inline`` template
of CustomerView): every address such a template posts to, and every page it links to
that holds a form (the «Счета» tab's transfer). Each is sent blank, as every role that
is shown it, and the page that refuses it must mark each refused box ``aria-invalid``,
describe it by an element that says the message (the flash on top said it only there),
and give the focus to the first refused box, once.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests import factories
from tests.matrix import ROLE_KEYS

BOXES = ("input", "select", "textarea")
SKIPPED = ("hidden", "submit", "button", "reset", "image")


class _Page(HTMLParser):
    """A page's forms, boxes, links, the texts of its elements with an id and its flashes."""

    VOID = {"input", "br", "hr", "img", "meta", "link", "area", "base", "col", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.boxes: list[dict] = []  # every box of the page, in the order drawn
        self.links: list[str] = []
        self.texts: dict[str, str] = {}
        self.flashes: list[str] = []
        self._open: list[tuple[str, str | None, bool]] = []  # tag, id, a danger flash
        self._chunks: dict[int, list[str]] = {}
        self._form = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {
                "action": a.get("action", ""),
                "targets": [],
                "names": [],
                "method": a.get("method", "get"),
            }
            self.forms.append(self._form)
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "button" and self._form is not None and a.get("type", "submit") == "submit":
            self._form["targets"].append(a.get("formaction") or self._form["action"])
        if tag in BOXES and a.get("type", "").lower() not in SKIPPED and a.get("name"):
            box = {**a, "tag": tag, "form": self._form}
            self.boxes.append(box)
            if self._form is not None:
                self._form["names"].append(a["name"])
        if tag in self.VOID:
            return
        flash = tag == "div" and "alert-danger" in a.get("class", "").split()
        self._open.append((tag, a.get("id"), flash))
        self._chunks[len(self._open)] = []

    def handle_endtag(self, tag):
        if tag == "form":
            if self._form is not None and not self._form["targets"]:
                self._form["targets"].append(self._form["action"])
            self._form = None
        if tag in self.VOID:
            return
        while self._open:
            depth = len(self._open)
            open_tag, element_id, flash = self._open.pop()
            text = " ".join("".join(self._chunks.pop(depth, [])).split()).replace("×", "").strip()
            if self._open:
                self._chunks[len(self._open)].append(" " + text + " ")
            if element_id:
                self.texts[element_id] = text
            if flash:
                self.flashes.append(text)
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._chunks[len(self._open)].append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def inline_endpoints(app, view) -> set[str]:
    """The endpoints the card's inline form templates name (``url_for('View.name', …)``)."""
    names = set()
    for tab in type(view).tabs:
        if tab.inline:
            source = app.jinja_env.loader.get_source(app.jinja_env, tab.inline)[0]
            names |= set(re.findall(r"url_for\('(\w+\.\w+)'", source))
    return names


def _card_view(app):
    return next(v for v in app.appbuilder.baseviews if type(v).__name__ == "CustomerView")


def _path(url: str) -> str:
    return url.split("#")[0]


def assert_told_at_the_box(html: str, target: str, flashed: bool) -> None:
    """The refused page marks the boxes of the form posting to ``target`` (a form without
    an action posts to its page, ``target`` too), describes each and focuses the first."""
    page = parse(html)
    refused = [box for box in page.boxes if box.get("aria-invalid") == "true"]
    assert refused, f"{target}: no box marked refused; flashes {page.flashes}"
    told = []
    for box in refused:
        assert box["form"] is not None, (target, box)
        assert {t or target for t in box["form"]["targets"]} & {target}, (target, box)
        described = box.get("aria-describedby", "").split()
        texts = [page.texts.get(i, "") for i in described]
        assert any(texts), (target, box["name"], described)
        told.extend(texts)
    focused = [box for box in page.boxes if "autofocus" in box]
    assert focused == refused[:1], (target, [b["name"] for b in focused])
    if flashed:  # every message on top is said at its box too
        for message in page.flashes:
            assert any(message in text for text in told), (target, message, told)


def test_every_inline_form_of_the_card_tells_a_refusal_at_its_box(app, ctx, login_as):
    view = _card_view(app)
    customer = factories.customer(ctx)
    card = f"/customerview/show/{customer.id}"
    endpoints = inline_endpoints(app, view)
    with app.test_request_context():
        from flask import url_for

        # the addresses of this card the inline templates name (a request's ZIP, of
        # another record, is no form of the card)
        addresses = {
            url_for(endpoint, pk=customer.id)
            for endpoint in endpoints
            if "pk" in next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint).arguments
        }
    assert addresses, "the card registers no inline form"

    tried: set[str] = set()
    scripted: set[str] = set()  # addresses a script asks (the message's preview answers JSON)
    for role in ROLE_KEYS:
        client = login_as(role)
        html = client.get(card).get_data(as_text=True)
        scripted |= set(re.findall(r'data-url="([^"]+)"', html))
        page = parse(html)
        forms = [(card, form, True) for form in page.forms]
        for address in addresses:
            if any(_path(link) == address for link in page.links):  # a form of its own page
                opened = client.get(address)
                assert opened.status_code == 200, (role, address)
                forms += [(address, form, False) for form in parse(opened.get_data(as_text=True)).forms]
        for origin, form, flashed in forms:
            if form["method"].lower() != "post":
                continue  # a filter, a search
            for target in form["targets"]:
                target = target or origin
                if target not in addresses or target == card:
                    continue  # the card's other forms (the status, the tabs' lists)
                blank = {name: "" for name in form["names"]}
                answer = client.post(target, data=blank)
                assert answer.status_code == 422, (role, target, answer.status_code)
                assert_told_at_the_box(answer.get_data(as_text=True), target, flashed)
                tried.add(target)
    missing = addresses - tried - scripted - {card}  # the card's own links (its filters)
    assert not missing, f"inline forms no role was shown: {missing}"


def test_a_refused_status_is_told_at_its_box(ctx, login_as):
    customer = factories.customer(ctx)
    answer = login_as("manager").post(f"/customerview/{customer.id}/status", data={"status": "nonsense"})
    assert answer.status_code == 422
    assert_told_at_the_box(answer.get_data(as_text=True), f"/customerview/{customer.id}/status", True)
