"""Identity documents: fields validated per document kind."""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import gettext as _

from .errors import ValidationFailed
from .models import CustomerDocument, DocumentKind

_RULES = {
    # kind: (series regex, number regex, series example, number example)
    DocumentKind.PASSPORT_RF: (r"\d{4}", r"\d{6}", "4510", "123456"),
    DocumentKind.PASSPORT_FOREIGN: (r"\d{2}", r"\d{7}", "75", "1234567"),
    DocumentKind.BIRTH_CERTIFICATE: (
        r"[IVXLC]{1,4}-[А-Я]{2}",
        r"\d{6}",
        "IV-МЮ",
        "123456",
    ),
    DocumentKind.DRIVER_LICENSE: (r"\d{2}[0-9А-Я]{2}", r"\d{6}", "77АВ", "123456"),
}
_DIVISION = re.compile(r"\d{3}-\d{3}")


def prepare_document(document: CustomerDocument, *, today: dt.date | None = None) -> CustomerDocument:
    today = today or dt.date.today()
    errors: dict[str | None, str] = {}
    kind = DocumentKind(document.kind) if document.kind else None
    series = (document.series or "").replace(" ", "").upper()
    number = (document.number or "").replace(" ", "")
    document.series = series or None
    document.number = number
    if kind is None:
        errors["kind"] = _("Выберите вид документа.")
    if not number:
        errors["number"] = _("Укажите номер документа.")
    rule = _RULES.get(kind)
    if rule:
        series_re, number_re, series_example, number_example = rule
        if not re.fullmatch(series_re, series):
            errors["series"] = _(
                "Неверная серия для документа «%(kind)s»: например, %(example)s.",
                kind=kind.label,
                example=series_example,
            )
        if number and not re.fullmatch(number_re, number):
            errors["number"] = _(
                "Неверный номер для документа «%(kind)s»: например, %(example)s.",
                kind=kind.label,
                example=number_example,
            )
    if kind == DocumentKind.PASSPORT_RF:
        if not document.division_code:
            errors["division_code"] = _("Укажите код подразделения в виде 123-456.")
        if not document.issue_date:
            errors["issue_date"] = _("Укажите дату выдачи паспорта.")
        if not (document.issued_by or "").strip():
            errors["issued_by"] = _("Укажите, кем выдан паспорт.")
    if document.division_code:
        code = document.division_code.strip()
        if re.fullmatch(r"\d{6}", code):
            code = f"{code[:3]}-{code[3:]}"
        if not _DIVISION.fullmatch(code):
            errors["division_code"] = _("Код подразделения должен быть в виде 123-456.")
        document.division_code = code
    if document.issue_date:
        if document.issue_date > today:
            errors["issue_date"] = _("Дата выдачи не может быть в будущем.")
        customer = document.customer
        birth = customer.birth_date if customer is not None else None
        if birth and document.issue_date <= birth:
            errors["issue_date"] = _("Дата выдачи должна быть позже даты рождения клиента.")
    if errors:
        raise ValidationFailed(errors)
    return document
