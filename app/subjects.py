"""A subject's requests (152-FZ, art. 14 and 21): hand over everything stored about
a customer, or destroy it with an act.

The export is built by an RQ job (the web only writes the request's row and puts
its id on the queue): every table that points at the customer, the files, the
messages, the change history and the journal of who accessed the data, as one ZIP
with ``data.json`` and a readable ``report.html``; the request's row shows its
progress and the legal deadline (10 working days from receipt).

The erasure anonymises the customer's row (it stays, so that orders and payments
are kept for accounting without the person), deletes documents, anamnesis, notes,
files (their content too), extra fields, tags and notification settings, removes
messages' texts and recipients (the outbox copies on disk included), the values of
the change history and earlier exports, and writes an act of destruction: who,
when, on which basis, which categories and how many records, with an extract of
the access journal. The request, the act, the consents ledger and the journal stay.
A customer with medical records keeps them, with the full name and the birth date,
while the medical retention period runs (152-FZ art. 21 p. 5): see :func:`erase`.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
import re
import secrets
import zipfile
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import phonenumbers
from flask import current_app
from flask_appbuilder import Model
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import escape
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from . import access, formatting
from . import files as file_rules
from .access import journal_field
from .errors import ValidationFailed
from .models import (
    AccessLog,
    AccountOperation,
    Certificate,
    CertificateOperation,
    ChangeLog,
    Customer,
    CustomerAttributeValue,
    CustomerDocument,
    CustomerFile,
    CustomerStatus,
    FileCategory,
    MedicalRecord,
    Message,
    MessageAttempt,
    MessageStatus,
    Note,
    NotificationConsent,
    Order,
    OrderItem,
    Payment,
    ProcessingConsent,
    Return,
    Review,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestStatus,
    utcnow,
)

WORKING_DAYS = 10
# What an erasure keeps while the medical records must be kept (152-FZ art. 21 p. 5:
# the operator keeps what another federal law obliges it to keep): the anamnesis and
# the least that tells whose it is — the full name and the birth date, the two a
# medical card identifies its patient by (form 025/u); contacts, documents, gender,
# address and the rest go as for everyone.
KEPT_IDENTITY = ("last_name", "first_name", "middle_name", "birth_date")
# The customer's own fields an erasure blanks (the row stays for the orders).
PERSONAL_FIELDS = (
    "first_name",
    "middle_name",
    "company_name",
    "phone",
    "phone_extra",
    "email",
    "gender",
    "birth_date",
    "city",
    "source",
    "card_number",
    "service_comment",
    "last_visit_ip",
)


def deadline(received: dt.datetime, days: int = WORKING_DAYS) -> dt.datetime:
    """``days`` working days (Monday to Friday) after ``received`` (public holidays
    are not known to Kartoteka: the deadline is never later than the law's)."""
    day = received
    left = days
    while left:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def check_basis(basis: str | None) -> str:
    basis = (basis or "").strip()
    if not basis:
        raise ValidationFailed({"basis": _("Укажите основание: заявление клиента, его дата и номер.")})
    return basis[:300]


def start(
    session: Session, customer: Customer, kind: SubjectRequestKind, basis: str | None
) -> SubjectRequest:
    now = utcnow()
    # an erased customer's row names nobody («Удалён»): their later requests say the
    # number only, as the erasure left the earlier ones
    named = customer.id is None or not erased(session, customer.id)
    request = SubjectRequest(
        customer=customer,
        # whom it is about, kept should the customer's row be deleted (an erasure blanks it)
        customer_number=customer.id,
        customer_name=(customer.full_name or None) if named else None,
        customer_card=customer.card_number if named else None,
        kind=kind,
        status=SubjectRequestStatus.QUEUED,
        basis=check_basis(basis),
        received_at=now,
        deadline=deadline(now),
    )
    session.add(request)
    return request


def enqueue_export(request_id: int) -> None:
    """After the commit: the job carries the request's id only (one live job a request)."""
    from rq.exceptions import DuplicateJobError

    from .queue import queue

    try:
        queue().enqueue(
            "app.worker.subject_export_job",
            request_id,
            job_id=f"subject-{request_id}",
            unique=True,
            result_ttl=0,
            failure_ttl=3600,
        )
    except DuplicateJobError:
        pass


def sweep_exports(session: Session, older_than: int = 60) -> list[int]:
    """The sweeper's round: exports still «в очереди» a minute after they were asked
    for (Redis was down, or came back empty) are put on the queue again."""
    from redis.exceptions import RedisError

    since = utcnow() - dt.timedelta(seconds=older_than)
    ids = list(
        session.scalars(
            select(SubjectRequest.id).where(
                SubjectRequest.kind == SubjectRequestKind.EXPORT,
                SubjectRequest.status == SubjectRequestStatus.QUEUED,
                SubjectRequest.received_at < since,
            )
        )
    )
    session.commit()
    try:
        for request_id in ids:
            enqueue_export(request_id)
    except RedisError:
        return []
    return ids


def exports_dir() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / "exports"


def export_path(request: SubjectRequest) -> Path:
    return exports_dir() / f"{request.stored_name}.zip"


def medical_path(request: SubjectRequest) -> Path:
    """The export's medical part: a ZIP of its own, handed over by a role that reads
    the anamnesis (the manager who runs the request never does, DESIGN.md)."""
    return exports_dir() / f"{request.stored_name}-medical.zip"


def export_paths(request: SubjectRequest) -> list[Path]:
    return [export_path(request), medical_path(request)]


def medical_exports(session: Session, customer_id: int) -> list[SubjectRequest]:
    """The customer's finished exports, whose medical parts the anamnesis tab offers."""
    return list(
        session.scalars(
            select(SubjectRequest)
            .where(
                SubjectRequest.customer_id == customer_id,
                SubjectRequest.kind == SubjectRequestKind.EXPORT,
                SubjectRequest.stored_name.isnot(None),
            )
            .order_by(SubjectRequest.id.desc())
        )
    )


def medical_entities() -> frozenset[str]:
    """The models whose screens are read under the anamnesis right (the matrix's
    «Анамнез»): their rows, and their change history, are the medical part."""
    from .disclosure import model_resources

    return frozenset(name for name, resource in model_resources().items() if resource == access.ANAMNESIS)


def split_medical(tables: dict[str, list[dict]]) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """(what the employee running the request may hand over, the medical part)."""
    entities = medical_entities()
    tables_of = _entities()
    general, medical = {}, {}
    for name, rows in tables.items():
        if tables_of.get(name, name) in entities:
            medical[name] = rows
        elif name == ChangeLog.__tablename__:
            general[name] = [r for r in rows if r.get("entity") not in entities]
            medical[name] = [r for r in rows if r.get("entity") in entities]
        else:
            general[name] = rows
    return general, medical


def _utc(moment: dt.datetime) -> str:
    """A stored (naive UTC) moment with its offset: without it the customer's program
    read «2026-12-03T16:17:08» as local time."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None
    return value


def _rows(session: Session, model, condition) -> list[dict]:
    columns = model.__table__.columns
    return [
        {c.name: _plain(getattr(row, c.key, None)) for c in columns}
        for row in session.scalars(select(model).where(condition).order_by(model.id))
    ]


def collect(session: Session, customer_id: int) -> dict[str, list[dict]]:
    """Every record about the customer, table by table."""
    orders = select(Order.id).where(Order.customer_id == customer_id)
    messages = select(Message.id).where(Message.customer_id == customer_id)
    certificates = select(Certificate.id).where(Certificate.customer_id == customer_id)
    tables = {"customer": _rows(session, Customer, Customer.id == customer_id)}
    for model in (
        CustomerAttributeValue,
        CustomerDocument,
        MedicalRecord,
        Order,
        Return,
        # the customer's money: what they paid and got back, their deposit and bonuses,
        # the certificates and subscriptions they hold (the export had none of it)
        Payment,
        AccountOperation,
        Certificate,
        Review,
        Note,
        CustomerFile,
        Message,
        NotificationConsent,
        ProcessingConsent,
        ChangeLog,
        AccessLog,
    ):
        tables[model.__tablename__] = _rows(session, model, model.customer_id == customer_id)
    tables["order_item"] = _rows(session, OrderItem, OrderItem.order_id.in_(orders))
    tables["message_attempt"] = _rows(session, MessageAttempt, MessageAttempt.message_id.in_(messages))
    # every other table that names the customer (payments, accounts, certificates,
    # requests…): a table added later is handed over without a change here
    for mapper in sorted(Model.registry.mappers, key=lambda m: m.class_.__name__):
        model = mapper.class_
        table = getattr(model, "__table__", None)
        if table is not None and "customer_id" in table.c and table.name not in tables:
            tables[table.name] = _rows(session, model, model.customer_id == customer_id)
    from .models import Tag, customer_tag

    tables["certificate_operation"] = _rows(
        session, CertificateOperation, CertificateOperation.certificate_id.in_(certificates)
    )
    tagged = select(customer_tag.c.tag_id).where(customer_tag.c.customer_id == customer_id)
    tables["customer_tag"] = _rows(session, Tag, Tag.id.in_(tagged))
    return tables


class Naming:
    """How the readable report names tables, columns and values: as stored, unless the
    caller (the export job) passes the screens' naming (app/admin/history.py)."""

    def table(self, entity: str, name: str):
        return name

    def field(self, entity: str, column: str):
        return column

    def value(self, entity: str, column: str, value):
        return value

    def row(self, entity: str, row: dict) -> dict:
        """A row's words that depend on its other columns (the history's field on its record)."""
        return row


@lru_cache(maxsize=1)
def _entities() -> dict[str, str]:
    """Table name → the model's class name (the change history's «entity»)."""
    return {
        m.class_.__table__.name: m.class_.__name__
        for m in Model.registry.mappers
        if getattr(m.class_, "__table__", None) is not None
    }


def report_html(
    request: SubjectRequest,
    tables: dict[str, list[dict]],
    naming: Naming | None = None,
    note: str | None = None,
) -> str:
    """The export's readable twin of data.json, for the customer: each table and column
    headed as the screens head it, amounts, dates and moments as the screens write them
    (it read «customer_order», «created_by_fk», «2026-12-03T07:27:52»)."""
    naming = naming or Naming()
    title = escape(_("Сведения о персональных данных"))
    heading = escape(_("Сведения о персональных данных клиента №%(id)s", id=request.customer_id))
    about = escape(
        _(
            "Запрос №%(id)s от %(date)s; основание: %(basis)s",
            id=request.id,
            date=formatting.date_short(formatting.local_from_utc(request.received_at).date()),
            basis=request.basis,
        )
    )
    parts = [
        '<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8">',
        f"<title>{title}</title></head><body>",
        f"<h1>{heading}</h1>",
        f"<p>{about}</p>",
        *([f"<p>{escape(note)}</p>"] if note else []),
    ]
    entities = _entities()
    for name, rows in tables.items():
        entity = entities.get(name, name)
        parts.append(f"<h2>{escape(naming.table(entity, name))} ({len(rows)})</h2>")
        if not rows:
            continue
        labels = {c: naming.field(entity, c) for c in rows[0]}
        columns = [c for c, label in labels.items() if label is not None]
        parts.append("<table border='1' cellpadding='3'><tr>")
        parts.extend(f"<th>{escape(labels[c])}</th>" for c in columns)
        parts.append("</tr>")
        for row in rows:
            row = naming.row(entity, dict(row))
            cells = (naming.value(entity, c, str(row[c])) if row[c] is not None else "" for c in columns)
            parts.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def _progress(session: Session, request: SubjectRequest, percent: int, status=None) -> None:
    request.progress = percent
    if status is not None:
        request.status = status
    session.commit()


def export_zip(
    request: SubjectRequest,
    about: dict,
    tables: dict[str, list[dict]],
    scans: list[CustomerFile],
    note: str,
    naming: Naming | None = None,
) -> bytes:
    """One ZIP of a subject export (the general one or its medical part, which differ
    only in what goes in): ``tables`` as data.json and as the readable report.html
    (``note`` says where the rest is), and the contents of ``scans`` under files/."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        payload = {"request": about, "tables": tables}
        archive.writestr("data.json", json.dumps(payload, ensure_ascii=False, indent=1, default=str))
        archive.writestr("report.html", report_html(request, tables, naming, note))
        for item in scans:
            path = file_rules.stored_path(item)
            if path.is_file():
                archive.write(path, f"files/{item.id}-{item.name}")
    return out.getvalue()


def build_export(session: Session, request_id: int, naming: Naming | None = None) -> str:
    """The job's work: the ZIP under instance/exports, its progress on the row."""
    request = session.get(SubjectRequest, request_id)
    if request is None or request.status == SubjectRequestStatus.DONE:
        return "gone"
    if request.customer_id is None:
        # its customer was deleted while it waited: collecting «customer_id IS NULL»
        # would hand over every row that names no customer (the journal's among them)
        request.status, request.error = SubjectRequestStatus.FAILED, _("Клиент удалён: выгружать нечего.")
        session.commit()
        return "gone"
    _progress(session, request, 5, SubjectRequestStatus.RUNNING)
    try:
        tables, medical = split_medical(collect(session, request.customer_id))
        _progress(session, request, 40)
        about = {
            "id": request.id,
            "received_at": _utc(request.received_at),
            "deadline": _utc(request.deadline),
            "basis": request.basis,
        }
        scans = session.scalars(
            select(CustomerFile)
            .where(CustomerFile.customer_id == request.customer_id)
            .order_by(CustomerFile.id)
        ).all()
        # the manager's ZIP and the medical part, which a role reading the anamnesis hands over
        parts = [
            (
                tables,
                [f for f in scans if f.category != FileCategory.MEDICAL],
                _("Медицинская часть (анамнез) выдаётся отдельным файлом: её передаёт специалист."),
            ),
            (
                medical,
                [f for f in scans if f.category == FileCategory.MEDICAL],
                _("Медицинская часть: анамнез, история его изменений и медицинские документы из «Файлов»."),
            ),
        ]
        general = export_zip(request, about, *parts[0], naming)
        _progress(session, request, 70)
        medical = export_zip(request, about, *parts[1], naming)
        exports_dir().mkdir(parents=True, exist_ok=True)
        request.stored_name = secrets.token_hex(16)
        export_path(request).write_bytes(general)
        medical_path(request).write_bytes(medical)
        request.done_at = utcnow()
        _progress(session, request, 100, SubjectRequestStatus.DONE)
    except Exception as e:  # the row says it failed; the worker's log has the rest
        session.rollback()
        request = session.get(SubjectRequest, request_id)
        request.status, request.error = SubjectRequestStatus.FAILED, str(e)[:300]
        session.commit()
        raise
    return "done"


def medical_years() -> float:
    return float(current_app.config.get("MEDICAL_RETENTION_YEARS") or 25)


def medical_until(session: Session, customer_id: int) -> dt.datetime | None:
    """Until when the customer's medical records must be kept: MEDICAL_RETENTION_YEARS
    after the last of them (its last change); None without medical records."""
    from sqlalchemy import func

    last = session.scalar(
        select(func.max(MedicalRecord.changed_on)).where(MedicalRecord.customer_id == customer_id)
    )
    return medical_end(last)


def medical_end(last_record: dt.datetime | None) -> dt.datetime | None:
    """MEDICAL_RETENTION_YEARS after the last medical record (as the retention cutoffs count)."""
    if last_record is None:
        return None
    return last_record + dt.timedelta(days=round(365.25 * medical_years()))


def done_erasure(customer_id):
    """The condition «an erasure of this customer's data was done» (the customer's
    row is then a remainder), for a customer's id, a column naming one, or a set of ids."""
    many = isinstance(customer_id, (set, frozenset, list, tuple))
    return (
        (SubjectRequest.customer_id.in_(customer_id) if many else SubjectRequest.customer_id == customer_id)
        & (SubjectRequest.kind == SubjectRequestKind.ERASURE)
        & (SubjectRequest.status == SubjectRequestStatus.DONE)
    )


def erased(session: Session, customer_id: int) -> bool:
    """Whether an erasure of the customer's data was done (the customer's row is then
    a remainder: nobody to write to, nothing to process but what the law keeps)."""
    return session.scalar(select(SubjectRequest.id).where(done_erasure(customer_id)).limit(1)) is not None


def erased_column():
    """A column for a query of customers: was the customer erased (a done erasure)."""
    return select(SubjectRequest.id).where(done_erasure(Customer.id)).exists()


@lru_cache(maxsize=1)
def held_record_column():
    """A column for a query of customers: the last change of the medical records an
    erasure kept (NULL when the customer was not erased or has no medical records).
    Composed once (it has no parameters): every card selects it."""
    from sqlalchemy import exists, func

    # of the record's own customer: an EXISTS naming Customer inside this subquery
    # took a FROM customer of its own, so one customer's erasure held every card
    done = exists().where(done_erasure(MedicalRecord.customer_id))
    return (
        select(func.max(MedicalRecord.changed_on))
        .where(MedicalRecord.customer_id == Customer.id, done)
        .scalar_subquery()
    )


def legal_hold(last_record: dt.datetime | None) -> dict | None:
    """What an erasure kept of the customer under law, for the card: the until date,
    the ground, the kept fields (from :func:`held_record_column`); None when nothing
    was kept."""
    until = medical_end(last_record)
    if until is None:
        return None
    return {"until": until, "expired": until <= utcnow(), "ground": legal_ground(), "fields": kept_labels()}


def check_not_held(session: Session, record: MedicalRecord) -> None:
    """A medical record of an erased customer is kept as it was (its change would
    also restart the retention period): no record is added, changed or deleted."""
    customer_id = record.customer.id if record.customer is not None else record.customer_id
    if customer_id is not None and erased(session, customer_id):
        raise ValidationFailed(
            {
                None: _(
                    "Данные клиента уничтожены по его запросу; анамнез хранится в силу закона "
                    "без изменений: записи нельзя добавить, изменить или удалить."
                )
            }
        )


def check_not_erased(session: Session, customer: Customer) -> None:
    """An erased customer's row is what the erasure left: it is not filled again (a
    contact typed back would be processed without a purpose, and sent to)."""
    if customer.id is not None and erased(session, customer.id):
        raise ValidationFailed(
            {None: _("Данные клиента уничтожены по его запросу: карточку нельзя изменить.")}
        )


def check_not_erased_before(session: Session, customer: Customer) -> None:
    """«Уничтожить данные» once: pressed again on an erased card it wrote another act
    over nothing. Again only for what the law kept, once its term is over."""
    act = session.scalar(select(SubjectRequest.id).where(done_erasure(customer.id)).limit(1))
    if act is None:
        return
    until = medical_until(session, customer.id)
    if until is None:
        raise ValidationFailed({None: _("Данные клиента уже уничтожены (акт № %(id)s).", id=act)})
    if until > utcnow():
        raise ValidationFailed(
            {
                None: _(
                    "Данные клиента уже уничтожены (акт № %(id)s). Хранимое по закону уничтожается "
                    "по окончании срока, после %(date)s.",
                    id=act,
                    date=formatting.date_short(until),
                )
            }
        )


def erased_refusal() -> ValidationFailed:
    return ValidationFailed(
        {
            None: _(
                "Данные клиента уничтожены по его запросу: его статус не меняется, новые заказы, "
                "примечания, файлы и сообщения не добавляются."
            )
        }
    )


def check_writable(session: Session, customer: Customer) -> None:
    """Nothing is added for an erased customer, nor sent to them (:func:`keep_erased`
    refuses the rest)."""
    if customer.id is not None and erased(session, customer.id):
        raise erased_refusal()


def check_record_writable(session: Session, item) -> None:
    """A record of an erased customer is not changed or deleted (:func:`keep_erased`)."""
    owner = _owner(item)
    if owner is not None and erased(session, owner):
        raise erased_refusal()


# Records that are no customer's data but about it: written for an erased customer too
# (the journal of who opened the remainder, the history, a later request and its act).
_NOT_THE_CUSTOMERS = (AccessLog, ChangeLog, SubjectRequest, MessageAttempt)


def _owner(obj) -> int | None:
    """The id of the customer whose record ``obj`` is (None: nobody's, or not known yet)."""
    if isinstance(obj, Customer):
        return obj.id
    if isinstance(obj, _NOT_THE_CUSTOMERS):
        return None
    if isinstance(obj, OrderItem):
        obj = obj.order
        if obj is None:
            return None
    if not hasattr(type(obj), "customer_id"):
        return None
    if obj.customer_id is not None:
        return obj.customer_id
    customer = obj.__dict__.get("customer")
    return customer.id if customer is not None else None


def keep_erased(session: Session, flush_context, instances) -> None:
    """An erased customer's remainder is written to by nobody: a record of theirs added,
    changed or deleted from a screen or the API (a status, an order, a note, a file, a
    message…) fails the flush with the reason. The erasure itself writes (it says so
    in ``session.info``); jobs outside a request keep their own rules (the outbox skips
    such a customer)."""
    from flask import g, has_request_context

    if not has_request_context() or session.info.get("kartoteka_erasure"):
        return
    owners = set()
    with session.no_autoflush:
        for obj in (*session.new, *session.deleted):
            owners.add(_owner(obj))
        for obj in session.dirty:
            if session.is_modified(obj):
                owners.add(_owner(obj))
    # asked once a request: an erasure is the request's own (its writes say so above)
    known = g.setdefault("_kartoteka_not_erased", set())
    owners -= known | {None}
    if not owners:
        return
    with session.no_autoflush:
        found = session.scalar(select(SubjectRequest.id).where(done_erasure(owners)).limit(1))
    if found is not None:
        raise erased_refusal()
    known |= owners


def legal_ground() -> str:
    return _(
        "ч. 5 ст. 21 Федерального закона от 27.07.2006 № 152-ФЗ «О персональных данных»; "
        "ст. 79 Федерального закона от 21.11.2011 № 323-ФЗ «Об основах охраны здоровья граждан "
        "в Российской Федерации» (учёт и хранение медицинской документации)"
    )


def kept_labels() -> list[str]:
    return [
        _("Анамнез (сведения о здоровье)"),
        _("ФИО"),
        _("Дата рождения"),
    ]


def _money_text(value) -> str:
    from .formatting import money

    return money(value)


def customer_money(session: Session, customer: Customer) -> dict[str, Decimal]:
    """The deposit, the bonuses and the debt of a customer, as the card shows them
    (the debt: each order's own, Order.debt, as app/customers.py kpi_columns sums it)."""
    from sqlalchemy import func

    debt = session.scalar(
        select(func.coalesce(func.sum(Order.debt), 0)).where(Order.customer_id == customer.id)
    )
    return {
        "deposit": Decimal(customer.deposit_balance or 0),
        "bonus": Decimal(customer.bonus_balance or 0),
        "debt": Decimal(debt).quantize(Decimal("0.01")),
    }


def check_money_settled(session: Session, customer: Customer) -> dict[str, Decimal]:
    """An erasure does not take the customer's money with it: a deposit is the
    customer's money the clinic holds, so it is refunded or written off first (the
    manager, on «Счета»); a debt does not stop it (the orders stay for the accounts,
    without the person) and bonuses are the clinic's promise, not money — the act
    states both."""
    money = customer_money(session, customer)
    if money["deposit"] > 0:
        raise ValidationFailed(
            {
                None: _(
                    "На депозите клиента %(deposit)s: прежде чем уничтожать данные, верните деньги "
                    "клиенту или спишите их на вкладке «Счета».",
                    deposit=_money_text(money["deposit"]),
                )
            }
        )
    return money


def _name_pattern(name: str | None) -> str | None:
    """A capitalised word beginning with the name's stem, in any case ending:
    «Иванова» finds «Ивановой», «Мария» finds «Марии»."""
    name = (name or "").strip()
    if len(name) < 3 or not name[0].isupper():
        return None
    stem = name[:-1] if name[-1].lower() in "аяоеиыйь" and len(name) > 3 else name
    stem = re.escape(stem).replace("ё", "[её]").replace("Ё", "[ЁЕ]")
    return rf"\b{stem}\w*"


def scrub_identity(text: str | None, customer: Customer, names: bool = True) -> str | None:
    """A request's free-text basis without the customer's name, phone numbers and e-mail
    (staff write «Заявление Ивановой М. П., тел. 8 916 …»): the name becomes «клиента № N»,
    a phone number or the address «[удалено]». With ``names=False`` (the full name is kept
    under law with the medical records) only the contacts go."""
    if not text:
        return text
    removed = _("[удалено]")
    region = current_app.config["KARTOTEKA_PHONE_REGION"]
    for match in reversed(list(phonenumbers.PhoneNumberMatcher(text, region))):
        text = text[: match.start] + removed + text[match.end :]
    if customer.email:
        text = re.sub(re.escape(customer.email), removed, text, flags=re.IGNORECASE)
    if names:
        parts = filter(
            None, map(_name_pattern, (customer.last_name, customer.first_name, customer.middle_name))
        )
        # a basis names the applicant in the genitive («Заявление Ивановой»), and so does this
        subject = _("клиента № %(id)s", id=customer.id)
        for pattern in parts:
            text = re.sub(pattern, subject, text)
        # «Стираловой Веры Сергеевны», «Стираловой В. С.»: the subject once, without initials
        once = re.escape(subject)
        text = re.sub(rf"{once}(?:\s+(?:{once}|[А-ЯЁA-Z]\.))+", subject, text)
    return text


def erase(session: Session, customer: Customer, basis: str | None, settled: bool = True) -> SubjectRequest:
    """Destroy the customer's personal data and write the act (the caller commits;
    then :func:`discard_contents` removes the files from disk).

    A customer with medical records keeps them, with the full name and the birth date
    (KEPT_IDENTITY), until MEDICAL_RETENTION_YEARS after the last record: the act says
    so, the card shows it, nothing is sent to them; the retention list offers them
    again when the period is over, and that erasure takes the rest.

    ``settled=False`` repeats an erasure already made (a restore from a backup older
    than it, app/backups.py): the deposit the customer had then does not stop it again."""
    money = check_money_settled(session, customer) if settled else customer_money(session, customer)
    request = start(session, customer, SubjectRequestKind.ERASURE, basis)
    cid = customer.id
    until = medical_until(session, cid)
    keep = until is not None and until > utcnow()
    session.info["kartoteka_erasure"] = True  # the history records fields, not values
    counts: dict[str, int] = {}
    contents: list[Path] = []

    def delete_all(model, label):
        rows = session.scalars(select(model).where(model.customer_id == cid)).all()
        for row in rows:
            session.delete(row)
        counts[label] = len(rows)
        return rows

    scans = session.scalars(select(CustomerFile).where(CustomerFile.customer_id == cid)).all()
    if scans:
        session.execute(
            update(ProcessingConsent)
            .where(ProcessingConsent.file_id.in_([f.id for f in scans]))
            .values(file_id=None)
        )
    contents += [file_rules.stored_path(f) for f in scans]
    delete_all(CustomerFile, _("Файлы (сканы, документы)"))
    delete_all(CustomerDocument, _("Документы, удостоверяющие личность"))
    if not keep:
        delete_all(MedicalRecord, _("Анамнез (сведения о здоровье)"))
    delete_all(Note, _("Примечания сотрудников"))
    delete_all(CustomerAttributeValue, _("Дополнительные сведения"))
    delete_all(NotificationConsent, _("Настройки уведомлений"))
    customer.tags = []
    reviews = session.scalars(select(Review).where(Review.customer_id == cid)).all()
    for review in reviews:
        review.text = review.reply = None
    counts[_("Тексты отзывов")] = len(reviews)
    returns = session.scalars(select(Return).where(Return.customer_id == cid)).all()
    for item in returns:
        item.reason = "—"
    orders = session.scalars(select(Order).where(Order.customer_id == cid)).all()
    for order in orders:
        order.comment = None
    counts[_("Комментарии к заказам и возвратам (заказы и оплаты сохранены)")] = len(orders) + len(returns)
    messages = session.scalars(select(Message).where(Message.customer_id == cid)).all()
    outbox = Path(current_app.config["INSTANCE_DIR"]) / "outbox"
    for message in messages:
        message.body, message.subject, message.last_error = "", None, None
        if message.status == MessageStatus.QUEUED:  # nobody to write to any more
            message.status = MessageStatus.CANCELLED
        contents += list(outbox.glob(f"{message.id:08d}-*.txt"))
    if messages:
        session.execute(
            update(MessageAttempt)
            .where(MessageAttempt.message_id.in_([m.id for m in messages]))
            .values(reason=None, provider_answer=None)
        )
    counts[_("Тексты и получатели сообщений")] = len(messages)
    history = session.execute(
        update(ChangeLog).where(ChangeLog.customer_id == cid).values(old_value=None, new_value=None)
    ).rowcount
    counts[_("Значения в истории изменений")] = history
    exports = session.scalars(
        select(SubjectRequest).where(
            SubjectRequest.customer_id == cid, SubjectRequest.stored_name.isnot(None)
        )
    ).all()
    for export in exports:
        contents.extend(export_paths(export))
        export.stored_name = None
    counts[_("Ранее выданные выгрузки")] = len(exports)
    # the requests keep whom they were about by the customer's number only, as the
    # journal and the history do (the act names the subject by it too)
    request.customer_name = request.customer_card = None
    bases = session.scalars(select(SubjectRequest).where(SubjectRequest.customer_id == cid)).all()
    for item in {request, *bases}:
        item.basis = scrub_identity(item.basis, customer, names=not keep)
    labels = session.execute(
        update(SubjectRequest)
        .where(
            SubjectRequest.customer_id == cid,
            SubjectRequest.customer_name.isnot(None) | SubjectRequest.customer_card.isnot(None),
        )
        .values(customer_name=None, customer_card=None)
    ).rowcount
    counts[_("ФИО и номер карты в ранее полученных запросах (номер клиента сохранён)")] = labels
    customer.status = CustomerStatus.ERASED  # the card, the list and the API say so
    for name in PERSONAL_FIELDS:
        if not (keep and name in KEPT_IDENTITY):
            setattr(customer, name, None)
    if keep:
        counts[_("Основные сведения клиента (контакты, пол, город и др.; ФИО и дата рождения сохранены)")] = 1
    else:
        customer.last_name = _("Удалён")
        customer.name_search = ""
        counts[_("Основные сведения клиента (ФИО, контакты, дата рождения и др.)")] = 1
    session.flush()
    session.info.pop("kartoteka_erasure", None)
    journal = session.scalars(
        select(AccessLog)
        .where(AccessLog.customer_id == cid)
        .order_by(AccessLog.at, AccessLog.id)
        .options(selectinload(AccessLog.user))
    ).all()
    request.act = act_text(request, counts, journal, until if keep else None, money)
    request.status, request.progress, request.done_at = SubjectRequestStatus.DONE, 100, utcnow()
    session.info["kartoteka_discard"] = contents
    session.info["kartoteka_checkpoint"] = True
    return request


def discard_contents(session: Session) -> None:
    """After the erasure's commit: the files' contents go from disk, and the embedded
    SQLite's write-ahead log is emptied (it held the erased rows' old pages, the phone
    and the name among them, until a checkpoint far later)."""
    for path in session.info.pop("kartoteka_discard", []):
        path.unlink(missing_ok=True)
    if session.info.pop("kartoteka_checkpoint", False):
        bind = session.get_bind()
        engine = getattr(bind, "engine", bind)
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _forget_contents(session: Session, previous_transaction=None) -> None:
    """A rolled back erasure deleted nothing: its files stay."""
    if previous_transaction is None or previous_transaction.parent is None:
        session.info.pop("kartoteka_discard", None)
        session.info.pop("kartoteka_checkpoint", None)


def deleted_customers_leave_nothing(session: Session, flush_context, instances) -> None:
    """A customer deleted outright (the card, the API, a bulk action) takes their files'
    contents and their exports' ZIPs with them: the rows went by the database's cascade,
    while the scans and the ZIPs of every record stayed on disk, the ZIPs downloadable
    from the requests list. They go after the commit, as an erasure's do."""
    gone = [obj.id for obj in session.deleted if isinstance(obj, Customer) and obj.id is not None]
    if not gone:
        return
    discard = session.info.setdefault("kartoteka_discard", [])
    with session.no_autoflush:
        for item in session.scalars(select(CustomerFile).where(CustomerFile.customer_id.in_(gone))):
            discard.append(file_rules.stored_path(item))
        for export in session.scalars(
            select(SubjectRequest).where(
                SubjectRequest.customer_id.in_(gone), SubjectRequest.stored_name.isnot(None)
            )
        ):
            discard.extend(export_paths(export))
            export.stored_name = None
    session.info["kartoteka_checkpoint"] = True


def install() -> None:
    """Whoever commits an erasure (the card, a bulk action, the CLI), its files go after."""
    from sqlalchemy import event

    if not event.contains(Session, "after_commit", discard_contents):
        event.listen(Session, "before_flush", keep_erased)
        event.listen(Session, "before_flush", deleted_customers_leave_nothing)
        event.listen(Session, "after_commit", discard_contents)
        event.listen(Session, "after_soft_rollback", _forget_contents)


# ---------------------------------------------------------------------------
# Retention: customers whose last visit (or registration, without one) is older
# than RETENTION_YEARS; a manager confirms their erasure in bulk, by the same path.
# ---------------------------------------------------------------------------


def retention_cutoff(setting: str = "RETENTION_YEARS", default: float = 5) -> dt.datetime:
    years = float(current_app.config.get(setting) or default)
    return utcnow() - dt.timedelta(days=round(365.25 * years))


def medical_cutoff() -> dt.datetime:
    """A customer with medical records is kept longer: the medical documentation of
    an outpatient is kept 25 years (MEDICAL_RETENTION_YEARS)."""
    return min(retention_cutoff("MEDICAL_RETENTION_YEARS", 25), retention_cutoff())


def _retention_parts():
    """(last contact, has medical records, not yet erased) as SQL expressions.

    The last contact is the customer's last visit: the latest of «Последний визит» (the
    last completed visit) and the visit of their latest order (a visit booked ahead, a
    sale by its date: the customer is still the clinic's); their registration when
    they never came. The job, the list's filter and the erasure all read it here."""
    from sqlalchemy import case, exists, func

    erased = select(SubjectRequest.customer_id).where(
        SubjectRequest.kind == SubjectRequestKind.ERASURE, SubjectRequest.customer_id.isnot(None)
    )
    ordered = (
        select(func.max(func.coalesce(Order.visit_at, Order.created_on)))
        .where(Order.customer_id == Customer.id)
        .correlate(Customer)
        .scalar_subquery()
    )
    visited = Customer.last_visit_at
    latest = case(
        (ordered.is_(None), visited),
        (visited.is_(None), ordered),
        (ordered > visited, ordered),
        else_=visited,
    )
    last = func.coalesce(latest, Customer.registered_at)
    medical = exists().where(MedicalRecord.customer_id == Customer.id)
    return last, medical, Customer.id.not_in(erased)


def _held_parts():
    """(erased but holding medical records, the last record's change) as SQL: the
    remainder an erasure kept under law (see :func:`erase`)."""
    from sqlalchemy import func

    _last, medical, not_erased = _retention_parts()
    last_record = (
        select(func.max(MedicalRecord.changed_on))
        .where(MedicalRecord.customer_id == Customer.id)
        .scalar_subquery()
    )
    return ~not_erased & medical, last_record


def past_retention():
    """The SQL condition of customers past the retention period and not yet erased:
    the general period after the last visit (or the registration), or, for a customer
    with medical records, the medical one; and the remainders an erasure kept for
    their medical records once MEDICAL_RETENTION_YEARS after the last record ran out."""
    last, medical, not_erased = _retention_parts()
    held, last_record = _held_parts()
    medical_over = last_record < retention_cutoff("MEDICAL_RETENTION_YEARS", 25)
    return ((last < retention_cutoff()) & (~medical | (last < medical_cutoff())) & not_erased) | (
        held & medical_over
    )


def kept_for_medical_records():
    """Customers past the general period whom their medical records keep, and the
    remainders an erasure kept for them while the medical period runs."""
    last, medical, not_erased = _retention_parts()
    held, last_record = _held_parts()
    medical_runs = last_record >= retention_cutoff("MEDICAL_RETENTION_YEARS", 25)
    return ((last < retention_cutoff()) & medical & (last >= medical_cutoff()) & not_erased) | (
        held & medical_runs
    )


def review_retention(session: Session):
    """The daily retention job: count the customers past the retention period and
    tell the managers (a «Сроки хранения» row) when the count changed. It erases
    nobody: a manager confirms each erasure from the filtered list (the act names who
    decided), because a clinic must not lose what it is obliged to keep: medical
    records 25 years, a contract's and payments' documents for the tax years, data
    under a pending request or dispute, which no rule here can know of."""
    from sqlalchemy import func

    from .models import RetentionReview

    due = session.scalar(select(func.count(Customer.id)).where(past_retention()))
    kept = session.scalar(select(func.count(Customer.id)).where(kept_for_medical_records()))
    latest = session.scalars(select(RetentionReview).order_by(RetentionReview.id.desc()).limit(1)).first()
    if latest is None and not due and not kept:
        return None
    if latest is not None and (latest.due, latest.kept_medical) == (due, kept):
        return None
    review = RetentionReview(at=utcnow(), cutoff=retention_cutoff(), due=due, kept_medical=kept)
    session.add(review)
    return review


def erase_expired(session: Session, customer: Customer) -> SubjectRequest:
    """One customer of the retention list, erased with the retention as the basis."""
    past = session.scalar(select(Customer.id).where(Customer.id == customer.id, past_retention()))
    if past is None:
        raise ValidationFailed(
            {
                None: _(
                    "У клиента %(name)s срок хранения не истёк: его данные не уничтожены.",
                    name=customer.full_name,
                )
            }
        )
    if erased(session, customer.id):  # the remainder kept for the medical records
        basis = _(
            "Истёк срок хранения медицинской документации: %(years)s после последней записи анамнеза",
            years=formatting.years_count(medical_years()),
        )
        return erase(session, customer, basis)
    years = current_app.config.get("RETENTION_YEARS") or 5
    return erase(
        session,
        customer,
        _("Истёк срок хранения: %(years)s после последнего визита", years=formatting.years_count(years)),
    )


def _employee(user) -> str:
    """Who, in the act's excerpt from the access journal: the staff member's name (the
    act showed their account's number and the journal's codes, «3 · card»)."""
    if user is None:
        return "—"
    return f"{user.first_name} {user.last_name} ({user.username})"


def act_text(
    request: SubjectRequest, counts: dict[str, int], journal: list[AccessLog], kept_until=None, money=None
) -> str:
    from flask import g

    user = g.get("user")
    who = f"{user.first_name} {user.last_name}" if user is not None and hasattr(user, "first_name") else "—"
    lines = [
        _("АКТ об уничтожении персональных данных № %(id)s", id=request.id),
        _(
            "Дата и время: %(at)s (%(zone)s)",
            at=formatting.datetime_short(utcnow()),
            zone=str(formatting.clinic_zone()),
        ),
        _("Субъект: клиент № %(id)s", id=request.customer_id),
        _("Основание: %(basis)s", basis=request.basis),
        _("Уничтожил: %(who)s", who=who),
        _("Способ: удаление записей и файлов, обезличивание полей в базе данных."),
        _("Категории уничтоженных данных (записей):"),
        *(f"  — {label}: {count}" for label, count in counts.items()),
        _("Сохранено: заказы и оплаты (без сведений о клиенте), журнал доступа, согласия, запросы."),
        *(
            [
                _(
                    "Деньги клиента на дату уничтожения: депозит %(deposit)s, бонусы %(bonus)s, "
                    "долг по заказам %(debt)s (заказы сохранены для учёта).",
                    **{k: _money_text(v) for k, v in money.items()},
                )
            ]
            if money
            else []
        ),
        *(
            [
                _(
                    "Сохранено в силу закона, с ограничением обработки (только хранение): %(what)s.",
                    what=", ".join(kept_labels()),
                ),
                _("Правовое основание: %(ground)s.", ground=legal_ground()),
                _(
                    "Срок хранения: до %(date)s (%(years)s после последней записи анамнеза); "
                    "по его истечении данные подлежат уничтожению.",
                    date=formatting.date_short(formatting.local_from_utc(kept_until).date()),
                    years=formatting.years_count(medical_years()),
                ),
            ]
            if kept_until is not None
            else []
        ),
        ngettext(
            "Выписка из журнала доступа (%(num)d запись):",
            "Выписка из журнала доступа (%(num)d записей):",
            len(journal),
        ),
        *(
            f"  {formatting.datetime_short(row.at)} · {_employee(row.user)} · {row.action.label}"
            f"{' · ' + str(journal_field(row.field)) if row.field else ''} · {row.ip or '—'}"
            for row in journal
        ),
    ]
    return "\n".join(str(line) for line in lines)
