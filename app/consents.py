"""Consents to the processing of personal data (152-FZ, art. 9): a ledger.

Each decision of a customer is a row: the purpose (treatment, notifications,
marketing, transfer to third parties), given or withdrawn, the version of the
text it refers to, how it was given (signed on paper and scanned into the card's
«Файлы», or signed on screen), when, and the employee who took it. A withdrawal,
or a refusal before any consent, is a new row; rows are never edited. The latest row of a purpose is its state.
Texts are versioned: a new wording is a new version, the old ones are kept.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import formatting
from .errors import Forbidden, ValidationFailed
from .models import (
    ConsentMethod,
    ConsentPurpose,
    ConsentText,
    Customer,
    CustomerFile,
    ProcessingConsent,
    utcnow,
)

# The first version of each text (migration 0018 writes them; a database emptied
# by hand gets them back on first use).
DEFAULT_TEXTS = {
    ConsentPurpose.TREATMENT: "Я даю согласие на обработку моих персональных данных, включая сведения о "
    "состоянии здоровья, в целях оказания медицинских услуг (ст. 9, 10 Федерального закона № 152-ФЗ).",
    ConsentPurpose.NOTIFICATIONS: "Я даю согласие на обработку моих контактных данных для направления "
    "уведомлений о записях, заказах и их изменениях по SMS, электронной почте и в мобильном приложении.",
    ConsentPurpose.MARKETING: "Я даю согласие на получение рекламных и информационных рассылок.",
    ConsentPurpose.THIRD_PARTIES: "Я даю согласие на передачу моих персональных данных третьим лицам "
    "(лабораториям, страховым компаниям) в целях оказания мне услуг.",
}


def current_text(session: Session, purpose: ConsentPurpose) -> ConsentText:
    """The latest version of a purpose's text."""
    purpose = ConsentPurpose(purpose)
    text = session.scalars(
        select(ConsentText)
        .where(ConsentText.purpose == purpose)
        .order_by(ConsentText.version.desc())
        .limit(1)
    ).first()
    if text is None:
        text = ConsentText(purpose=purpose, version=1, text=DEFAULT_TEXTS[purpose])
        session.add(text)
        session.flush()
    return text


def new_text_version(session: Session, item: ConsentText) -> ConsentText:
    """A text saved from the screen is always the next version of its purpose."""
    if not (item.text or "").strip():
        raise ValidationFailed({"text": _("Введите текст согласия.")})
    latest = session.scalar(select(func.max(ConsentText.version)).where(ConsentText.purpose == item.purpose))
    item.version = (latest or 0) + 1
    item.text = item.text.strip()
    return item


def record(
    session: Session,
    customer: Customer,
    purpose,
    *,
    given: bool,
    method=None,
    file_id: int | None = None,
) -> ProcessingConsent:
    """Add a decision to the ledger (the caller commits)."""
    try:
        purpose = ConsentPurpose(purpose)
    except ValueError:
        raise ValidationFailed({"purpose": _("Выберите цель согласия из списка.")}) from None
    file = None
    if given:
        try:
            method = ConsentMethod(method)
        except ValueError:
            raise ValidationFailed({"method": _("Укажите, как получено согласие.")}) from None
        if file_id:
            file = session.get(CustomerFile, int(file_id))
            if file is None or file.customer_id != customer.id:
                raise ValidationFailed({"file": _("Выберите скан из файлов этого клиента.")})
    else:
        # a «no» is a decision too: withdrawn after a consent, or refused before any (at the
        # reception «не присылайте мне ничего» from a customer who never consented: it was
        # refused as «отзывать нечего», and the refusal went unrecorded)
        latest = last_decision(session, customer.id, purpose)
        if latest is not None and not latest.given:
            raise ValidationFailed(
                {
                    "purpose": _(
                        "Отказ от этого согласия уже записан %(date)s: записывать нечего.",
                        date=formatting.datetime_short(latest.at),
                    )
                }
            )
        method = None
    row = ProcessingConsent(
        customer=customer,
        purpose=purpose,
        given=given,
        consent_text=current_text(session, purpose),
        method=method,
        file=file,
        at=utcnow(),
    )
    session.add(row)
    return row


def recorded_message(row: ProcessingConsent) -> str:
    """What the card says after ``record``: a consent, or a refusal or withdrawal."""
    if row.given:
        return _("Согласие «%(purpose)s» записано.", purpose=row.purpose)
    return _("Отказ от согласия «%(purpose)s» записан.", purpose=row.purpose)


API_FIELD = "consent_treatment"


def api_treatment_problem(value) -> str | None:
    """Why the REST API's new customer cannot be registered with this treatment
    consent (the registration form asks for it; the API requires it), or None."""
    methods = [m.value for m in ConsentMethod]
    if value in methods:
        return None
    return _(
        "Укажите согласие на обработку персональных данных для лечения: "
        "«%(paper)s» (подписано на бумаге) или «%(screen)s» (подписано на экране).",
        paper=ConsentMethod.PAPER.value,
        screen=ConsentMethod.SCREEN.value,
    )


def api_treatment_errors(value, *, may_take: bool) -> dict:
    """The errors by field of the REST API's treatment consent for a new customer;
    Forbidden (403) when the user may not take consents at all."""
    if not may_take:
        raise Forbidden(
            {None: _("Клиента регистрирует сотрудник, который может принять согласие на обработку.")}
        )
    problem = api_treatment_problem(value)
    return {API_FIELD: [problem]} if problem else {}


def last_decision(session: Session, customer_id: int, purpose: ConsentPurpose) -> ProcessingConsent | None:
    """The latest row of a purpose (its state), or None (never asked)."""
    return session.scalars(
        select(ProcessingConsent)
        .where(ProcessingConsent.customer_id == customer_id, ProcessingConsent.purpose == purpose)
        .order_by(ProcessingConsent.at.desc(), ProcessingConsent.id.desc())
        .limit(1)
    ).first()


def state(session: Session, customer_id: int, purpose: ConsentPurpose) -> bool | None:
    """True (given), False (refused or withdrawn) or None (never asked): the latest row decides."""
    return session.scalar(
        select(ProcessingConsent.given)
        .where(ProcessingConsent.customer_id == customer_id, ProcessingConsent.purpose == purpose)
        .order_by(ProcessingConsent.at.desc(), ProcessingConsent.id.desc())
        .limit(1)
    )
