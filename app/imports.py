"""A clinic's existing list of customers, from the spreadsheet it kept before Kartoteka.

A file (an Excel workbook or a CSV as Excel saves it in Russian: Windows-1251 or UTF-8,
«;» between cells) is read into rows of text, as staff would type them into the form;
its columns are matched to a form's fields by their labels, in Russian or English, so
the header of the sample workbook (or of a list the clinic kept with the same names)
is understood. What each row means is the form's business (app/admin/imports.py):
every row is checked by the rules the «Новый клиент» form checks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import ngettext

from . import formatting
from .errors import ValidationFailed

MAX_ROWS = 5000
EXTENSIONS = (".xlsx", ".csv", ".txt")


def normalise(text) -> str:
    """A header or a choice as compared: case, «ё», spaces and a trailing «*» or «:» aside."""
    text = str(text or "").replace("ё", "е").replace("Ё", "Е").strip().rstrip("*:").strip()
    return " ".join(text.split()).casefold()


def _refuse(message) -> ValidationFailed:
    return ValidationFailed({"file": message})


def _cell_text(value) -> str:
    """A workbook's cell as staff would type it into the form."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second) == (0, 0, 0):
            return formatting.date_short(value.date())
        return formatting.typed_datetime_value(formatting.utc_from_local(value))
    if isinstance(value, dt.date):
        return formatting.date_short(value)
    if isinstance(value, bool):
        return _("Да") if value else _("Нет")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone or a card number Excel kept as a number
    if isinstance(value, float | Decimal):
        return formatting.number(value)
    return str(value)


def _xlsx(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise _refuse(_("Файл не читается как книга Excel (XLSX).")) from None
    try:
        sheet = book.worksheets[0]
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([_cell_text(value) for value in row])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def _csv(data: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "cp1251"):  # Excel saves «CSV» in the Windows code page
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1251 decodes every byte but one
        raise _refuse(_("Текст файла не в кодировке UTF-8 или Windows-1251."))
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=";,\t")
    except csv.Error:
        dialect = csv.excel
        dialect.delimiter = ";"
    try:
        return list(csv.reader(io.StringIO(text), dialect))[: MAX_ROWS + 2]
    except csv.Error:
        raise _refuse(_("Файл не читается как таблица CSV.")) from None


def read_table(filename: str | None, data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows with their line numbers in the file (blank lines left out)."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in EXTENSIONS:
        raise _refuse(_("Загрузите таблицу Excel (XLSX) или CSV."))
    rows = _xlsx(data) if suffix == ".xlsx" else _csv(data)
    numbered = [
        (n, [c.strip() for c in row]) for n, row in enumerate(rows, start=1) if any(c.strip() for c in row)
    ]
    if not numbered:
        raise _refuse(_("В файле нет ни одной строки."))
    (_line, header), body = numbered[0], numbered[1:]
    if not body:
        raise _refuse(_("В файле только строка заголовков: нет ни одной записи."))
    if len(body) > MAX_ROWS:
        raise _refuse(
            ngettext(
                "За один раз загружается не больше %(num)d строки: разделите файл.",
                "За один раз загружается не больше %(num)d строк: разделите файл.",
                MAX_ROWS,
            )
        )
    return header, body


def match_columns(header: list[str], labels: dict[str, list[str]]) -> tuple[dict[int, str], list[str]]:
    """Which field each column holds, by the field's label in any language (or its name);
    the columns no field is named by are returned to be told, not guessed."""
    by_label = {}
    for name, texts in labels.items():
        for text in [name, *texts]:
            by_label.setdefault(normalise(text), name)
    columns: dict[int, str] = {}
    unknown = []
    for index, title in enumerate(header):
        name = by_label.get(normalise(title))
        if name is None:
            if title:
                unknown.append(title)
            continue
        if name in columns.values():
            raise _refuse(_("Столбец «%(title)s» встречается в файле дважды.", title=title))
        columns[index] = name
    if not columns:
        raise _refuse(
            _(
                "Ни один столбец не назван как поле формы (например, «%(example)s»): скачайте образец "
                "и перенесите данные в него.",
                example=next(iter(labels.values()))[0] if labels else "",
            )
        )
    return columns, unknown


def row_values(columns: dict[int, str], cells: list[str]) -> dict[str, str]:
    return {name: (cells[index] if index < len(cells) else "") for index, name in columns.items()}
