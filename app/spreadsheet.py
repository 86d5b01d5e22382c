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

The same rows as an Excel workbook (``Workbook``, openpyxl): cells of their own type, so
nothing is guessed by the spreadsheet's language. Dates and times are dates (in the
clinic's time zone, shown as the language writes them), amounts numbers with the
currency's number format, counts numbers, everything else text cells — a text cell is
never a formula in a workbook, so it is written as it is, without the CSV's quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

from babel.numbers import get_currency_symbol, get_decimal_symbol
from flask import current_app
from flask_babel import get_locale, get_timezone
from markupsafe import Markup
from openpyxl import Workbook as _Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from . import formatting
from .disclosure import Masked
from .formatting import _zone, numeric_date_pattern

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# A value the app masked itself out of digits and stars (a phone «+7 *** ***-45-67»): no
# letter, no bracket, no quote, so no function, reference or text a spreadsheet could
# run; the quote before it only showed in the cell («'+7 *** ***-45-67»).
OWN_MASK = re.compile(r"\+[\d* .-]+")


def neutralise(text: str) -> str:
    """A text cell as a spreadsheet must read it: as text, never as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


class Writer:
    """Rows of cells to CSV text in the current user's language and time zone."""

    extension, mimetype = "csv", "text/csv"

    def __init__(self, title: str = ""):
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
            return str(value) if OWN_MASK.fullmatch(value) else neutralise(str(value))
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

    def data(self) -> bytes:
        return self.text().encode("utf-8")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")  # what Excel refuses in a sheet's name
MONEY_FORMATTERS = (formatting.money,)  # list formatters that say a column holds money


def excel_date_format(locale) -> str:
    """The language's all-digit date as an Excel number format: «dd.MM.y» → «DD.MM.YYYY»."""
    codes = {"d": "D", "dd": "DD", "M": "M", "MM": "MM", "y": "YYYY", "yy": "YY", "yyyy": "YYYY"}
    return re.sub(r"([dMy])\1*", lambda m: codes.get(m.group(0), m.group(0)), numeric_date_pattern(locale))


def sheet_name(title: str) -> str:
    """A list's title as a worksheet's name: at most 31 characters, none Excel refuses."""
    return SHEET_NAME_BAD.sub(" ", title).strip()[:31] or "Sheet1"


class Workbook:
    """The same rows as an Excel workbook of one sheet named after the list."""

    extension, mimetype = "xlsx", XLSX

    def __init__(self, title: str = ""):
        locale = get_locale()
        self.zone = _zone(get_timezone())
        self.date_format = excel_date_format(locale)
        self.datetime_format = self.date_format + " hh:mm"
        symbol = get_currency_symbol(current_app.config["KARTOTEKA_CURRENCY"], locale)
        self.money_format = f'#,##0.00\\ "{symbol}";-#,##0.00\\ "{symbol}"'
        self.book = _Workbook(write_only=True)
        self.sheet = self.book.create_sheet(sheet_name(title))
        self.sheet.freeze_panes = "A2"
        self.rows: list[list[WriteOnlyCell]] | None = []  # None once they are written

    def _text(self, text: str) -> WriteOnlyCell:
        # line ends as XML keeps them (a bare «\r» is read back as «\n»), and without the
        # control characters XML cannot hold (openpyxl refuses them: the export failed)
        text = ILLEGAL_CHARACTERS_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        cell = WriteOnlyCell(self.sheet, value=text)
        cell.data_type = "s"  # a text that begins with «=» stays text, not a formula
        return cell

    def cell(self, value, formatter=None) -> WriteOnlyCell:
        """One cell: ``value`` as stored, ``formatter`` the screen's (money, or text values)."""
        if value is None or value == "":
            return WriteOnlyCell(self.sheet, value=None)
        if isinstance(value, Masked):
            return self._text(str(value))
        if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
            cell = WriteOnlyCell(self.sheet, value=value)
            if formatter in MONEY_FORMATTERS:
                cell.number_format = self.money_format
            return cell
        if isinstance(value, dt.datetime):
            local = value.replace(tzinfo=dt.UTC).astimezone(self.zone).replace(tzinfo=None)
            cell = WriteOnlyCell(self.sheet, value=local)
            cell.number_format = self.datetime_format
            return cell
        if isinstance(value, dt.date):
            cell = WriteOnlyCell(self.sheet, value=value)
            cell.number_format = self.date_format
            return cell
        shown = formatter(value) if formatter is not None else value
        return self._text(shown.striptags() if isinstance(shown, Markup) else str(shown))

    def row(self, cells) -> None:
        if self.rows is None:  # the columns' widths are said: the rows go straight out
            self.sheet.append(cells)
            return
        if not self.rows:  # the first row: the column names, bold
            for cell in cells:
                cell.font = Font(bold=True)
        self.rows.append(cells)
        if len(self.rows) >= self.WIDTH_ROWS:
            self.flush()

    WIDTH_ROWS = 200  # the rows a column's width is measured on (kept until then)

    def width(self, cell) -> int:
        """About how many characters ``cell`` shows."""
        if cell.value is None:
            return 0
        if isinstance(cell.value, dt.datetime):
            return 16
        if isinstance(cell.value, dt.date):
            return 10
        if cell.number_format == self.money_format:
            return len(f"{cell.value:,.2f}") + 2
        return max(len(line) for line in str(cell.value).split("\n"))

    def flush(self) -> None:
        """The columns as wide as their name and first rows (a workbook written row by row
        says its columns' widths before its first row), then the rows kept so far."""
        rows, self.rows = self.rows, None
        for n, column in enumerate(zip(*rows, strict=True), start=1):
            widest = max(self.width(cell) for cell in column)
            self.sheet.column_dimensions[get_column_letter(n)].width = max(8, min(60, widest + 2))
        for cells in rows:
            self.sheet.append(cells)

    def data(self) -> bytes:
        if self.rows is not None:
            self.flush()
        out = io.BytesIO()
        self.book.save(out)
        return out.getvalue()
