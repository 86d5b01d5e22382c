"""What a browser would submit: the fields of a page's form as rendered."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormParser(HTMLParser):
    def __init__(self, form_id: str | None, action: str | None = None):
        super().__init__(convert_charrefs=True)
        self.form_id, self.action, self.inside = form_id, action, False
        self.data: list[tuple[str, str]] = []
        self.options: dict[str, list[str]] = {}
        self.names: set[str] = set()  # every field's name, an unticked box's too
        self._select = self._textarea = None
        self._text: list[str] = []
        self._first_option = None
        self._multiple = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = (
                a.get("action") == self.action if self.action is not None else a.get("id") == self.form_id
            )
            return
        if not self.inside or "disabled" in a:
            return
        name = a.get("name")
        if (
            name
            and tag in ("input", "select", "textarea")
            and (a.get("type") or "").lower()
            not in (
                "submit",
                "button",
                "reset",
                "image",
            )
        ):
            self.names.add(name)
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self.data.append((name, a.get("value") or ""))
        elif tag == "select" and name:
            self._select, self._first_option, self._selected = name, None, False
            # a browser sends nothing for a multiple select with nothing selected (a single
            # one sends its first option): re-saving a customer's form «untouched» gave
            # them the first tag, which the change history (now recording tags) showed
            self._multiple = "multiple" in a
        elif tag == "option" and self._select:
            value = a.get("value", "")
            self.options.setdefault(self._select, []).append(value)
            if self._first_option is None:
                self._first_option = value
            if "selected" in a:
                self.data.append((self._select, value))
                self._selected = True
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            if not self._selected and self._first_option is not None and not self._multiple:
                self.data.append((self._select, self._first_option))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data.append((self._textarea, _strip_first_newline("".join(self._text))))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


def _strip_first_newline(text: str) -> str:
    """A browser drops the line break right after <textarea> (CRLF counts as one)."""
    text = text.replace("\r\n", "\n")
    return text[1:] if text.startswith("\n") else text


def form_fields(html: str, form_id: str = "model_form", action: str | None = None) -> dict[str, str]:
    """The named fields of the form ``form_id`` (or the one posting to ``action``) of
    ``html`` with the values it shows (checked boxes, selected options, text areas),
    as a browser posts them."""
    parser = _FormParser(form_id, action)
    parser.feed(html)
    result: dict[str, str] = {}
    for name, value in parser.data:
        result.setdefault(name, value)
    return result


def form_options(html: str, form_id: str = "model_form", action: str | None = None) -> dict[str, list[str]]:
    """The option values of each select of the form, in the order the page lists them."""
    parser = _FormParser(form_id, action)
    parser.feed(html)
    return parser.options


def form_names(html: str, form_id: str = "model_form", action: str | None = None) -> set[str]:
    """The names of every field of the form, whether or not a browser would send it."""
    parser = _FormParser(form_id, action)
    parser.feed(html)
    return parser.names
