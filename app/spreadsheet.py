"""CSV files a spreadsheet opens safely and reads correctly.

- Formulas: a text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return is a formula to Excel and LibreOffice (a last name
  «=HYPERLINK(…)» ran). As OWASP's «CSV Injection» page recommends, such a cell
  is prefixed with a single quote, which the spreadsheet shows as text; the
  ``csv`` module quotes the cell when it holds the separator or quotes.
- Numbers: amounts and counts are written as numbers, not as the screens show
  them («1 500,00 ₽» is text to a spreadsheet): no currency sign, no digit
  grouping, the decimal separator of the user's language.
- Separator: the one a spreadsheet in that language expects with that decimal
  separator: «;» where the decimal separator is a comma (Russian: «1500,00»),
  «,» where it is a point (English: «1500.00»).
- Dates and times: ISO order, which spreadsheets read as dates whatever their
  language: «2026-11-20» and «2026-11-20 09:00», times in the clinic's time zone.
- Text: UTF-8 with a byte order mark (Excel reads the file as UTF-8 then).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from babel.numbers import get_decimal_symbol
from flask_babel import get_locale, get_timezone
from markupsafe import Markup

from .disclosure import Masked
from .formatting import _zone

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell as a spreadsheet must read it: as text, never as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


class Writer:
    """Rows of cells to CSV text in the current user's language and time zone."""

    def __init__(self):
        self.decimal = get_decimal_symbol(get_locale())
        self.delimiter = ";" if self.decimal == "," else ","
        self.zone = _zone(get_timezone())
        self.out = io.StringIO()
        self.writer = csv.writer(self.out, delimiter=self.delimiter, lineterminator="\r\n")

    def cell(self, value, formatter=None) -> str:
        """One cell: ``value`` as stored, ``formatter`` the screen's for text values."""
        if value is None or value == "":
            return ""
        if isinstance(value, Masked):
            return neutralise(str(value))
        if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
            return format(Decimal(str(value)), "f").replace(".", self.decimal)
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=dt.UTC).astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        if isinstance(value, dt.date):
            return value.isoformat()
        shown = formatter(value) if formatter is not None else value
        text = shown.striptags() if isinstance(shown, Markup) else str(shown)
        return neutralise(text)

    def row(self, cells) -> None:
        self.writer.writerow(cells)

    def text(self) -> str:
        return "\ufeff" + self.out.getvalue()
