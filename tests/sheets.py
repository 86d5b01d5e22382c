"""What an export holds, read back as a spreadsheet reads it: CSV text or an XLSX workbook."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")


def workbook(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype == XLSX, response.mimetype
    return load_workbook(io.BytesIO(response.get_data()))


def table(response, delimiter=";") -> list[list]:
    """The rows of an export: strings of a CSV, typed values of a workbook's one sheet."""
    if response.mimetype == XLSX:
        (sheet,) = workbook(response).worksheets
        return [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    assert response.status_code == 200, response.status_code
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(text[1:]), delimiter=delimiter))


def readable(response) -> str:
    """An answer as text to search: a workbook's cells (numbers and dates as Python writes
    them, «1979-04-13 00:00:00», «7341.20»), anything else as it came."""
    if response.mimetype == XLSX and response.status_code == 200:
        return "\n".join(
            "\t".join(f"{v:.2f}" if isinstance(v, float) else "" if v is None else str(v) for v in row)
            for sheet in workbook(response).worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    return response.get_data(as_text=True)
