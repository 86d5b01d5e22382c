"""A subject's requests from the card (issue 19): the export built by an RQ job, the
erasure with its act, and a search of the whole database, instance/ and Redis for
the erased values afterwards."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask_appbuilder import Model
from rq import SimpleWorker
from sqlalchemy import select

from app import access, notifications, worker
from app.extensions import db
from app.models import (
    AccessAction,
    AccessLog,
    Channel,
    Customer,
    CustomerDocument,
    MedicalRecord,
    Message,
    MessageStatus,
    MessageType,
    Note,
    Order,
    SubjectRequest,
    SubjectRequestStatus,
)
from app.subjects import deadline
from tests import factories
from tests.conftest import user_id

LAST, FIRST = "Эрасова", "Зинаида"
PHONE, EMAIL = "+79165550123", "zina.erasova@example.ru"
PASSPORT = "654321"
BIRTH = dt.date(1979, 4, 17)
MEDICAL = "Аллергия на пчелиный яд"
SCAN = b"%PDF-1.4\n% SECRET-SCAN-CONTENT-7781\n%%EOF\n"
SECRETS = {
    "last name": LAST.encode(),
    "first name": FIRST.encode(),
    "phone": PHONE.encode(),
    "national phone": b"9165550123",
    "e-mail": EMAIL.encode(),
    "passport": PASSPORT.encode(),
    "birth date": BIRTH.isoformat().encode(),
    "medical text": MEDICAL.encode(),
    "file content": b"SECRET-SCAN-CONTENT-7781",
}


def work(app):
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)


def exported(app, client, customer_id: int, basis: str) -> zipfile.ZipFile:
    """The ZIP the manager downloads after «Выдать данные» for the customer, built by a worker."""
    client.post(f"/customerview/{customer_id}/subject/export", data={"basis": basis})
    work(app)
    with app.app_context():
        row = db.session.scalars(select(SubjectRequest)).one()
    return zipfile.ZipFile(io.BytesIO(client.get(f"/customerview/subject/{row.id}/download").data))


def test_the_deadline_is_ten_working_days():
    friday = dt.datetime(2026, 12, 4, 10, 0)
    assert deadline(friday) == dt.datetime(2026, 12, 18, 10, 0)
    assert deadline(dt.datetime(2026, 12, 5, 9, 0)) == dt.datetime(2026, 12, 18, 9, 0)  # a Saturday


@pytest.fixture
def subject(app, login_as):
    """A customer with a record in every table: a passport, the anamnesis, a note, an
    order with a comment, a message delivered to the outbox folder, a scan, history."""
    with app.app_context():
        customer = factories.customer(
            last_name=LAST, first_name=FIRST, phone=PHONE, email=EMAIL, birth_date=BIRTH
        )
        factories.order(customer=customer, specialist_id=user_id(app, "doctor"), comment=f"Звонить {FIRST}")
        db.session.add_all(
            [
                CustomerDocument(customer=customer, kind="other", number=PASSPORT, issued_by="ОВД"),
                MedicalRecord(customer=customer, allergies=MEDICAL),
                Note(customer=customer, text=f"{FIRST} просила перезвонить на {PHONE}"),
            ]
        )
        db.session.commit()
        customer.city = "Владивосток"  # the change history copies values
        db.session.commit()
        with app.test_request_context():
            (message,) = notifications.queue_notification(
                db.session, customer, MessageType.MANUAL, (Channel.EMAIL,), text=f"{FIRST}, ждём вас"
            )
            db.session.commit()
        app.config["NOTIFY_CHANNELS"] = {**app.config["NOTIFY_CHANNELS"], "email": "file"}
        notifications.deliver(db.session, message.id)
        customer_id = customer.id
    client = login_as("manager")
    response = client.post(
        f"/customerview/{customer_id}/files",
        data={"file": (io.BytesIO(SCAN), f"паспорт {LAST}.pdf"), "category": "identity"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    return customer_id


def test_the_export_is_built_by_the_worker_with_its_deadline_and_progress(app, redis, login_as, subject):
    client = login_as("manager")
    response = client.post(
        f"/customerview/{subject}/subject/export", data={"basis": "Заявление № 7 от 02.12.2026"}
    )
    assert response.status_code == 302
    with app.app_context():
        row = db.session.scalars(select(SubjectRequest)).one()
        assert row.status == SubjectRequestStatus.QUEUED and row.progress == 0
        assert row.deadline == deadline(row.received_at)
    card = client.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert "В очереди" in card
    work(app)
    with app.app_context():
        row = db.session.get(SubjectRequest, row.id)
        assert (row.status, row.progress) == (SubjectRequestStatus.DONE, 100)
    card = client.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert f"/customerview/subject/{row.id}/download" in card
    response = client.get(f"/customerview/subject/{row.id}/download")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert {"data.json", "report.html"} <= set(names)
    assert any(n.startswith("files/") for n in names)
    data = json.loads(archive.read("data.json"))
    tables = data["tables"]
    assert tables["customer"][0]["phone"] == PHONE
    assert tables["customer_document"][0]["number"] == PASSPORT
    assert "medical_record" not in tables  # the manager never reads the anamnesis: its part is apart
    assert tables["message"] and tables["change_log"] and tables["access_log"]
    report = archive.read("report.html").decode()
    # the customer reads it: tables and columns headed as the screens head them, values as
    # the screens write them (it read «customer_order», «created_by_fk», «2026-12-03T07:27:52»)
    assert ">Заказы (" in report and ">Журнал доступа (" in report and ">Теги (" in report
    assert not re.search(r"<h2>[a-z_]+ \(", report)
    assert "<th>Телефон</th>" in report and "<th>Клиент</th>" in report
    assert not re.search(r"<th>[^<]*(phone|_id|_fk| Id| Fk)</th>", report)
    assert "customer_order" not in report and not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:", report)
    assert re.search(r"<td>\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}</td>", report)
    with app.app_context():
        exports = db.session.scalars(
            select(AccessLog).where(AccessLog.action == AccessAction.EXPORT, AccessLog.customer_id == subject)
        ).all()
        assert len(exports) == 1
    # the front desk neither starts nor downloads one


def test_the_manager_hands_over_no_medical_history_the_specialist_hands_over_its_part(
    app, redis, login_as, subject
):
    """«Выдать данные» put the anamnesis (and its change history) into the ZIP the
    manager downloads, though the manager never reads the medical history. The
    manager's ZIP now holds none of it; the medical part is a ZIP of its own that a
    role reading the anamnesis (the customer's specialist) downloads from the card's
    «Анамнез» tab, journaled as the export is; the manager and the front desk cannot."""
    with app.app_context():
        record = db.session.scalars(select(MedicalRecord)).one()
        record.conditions = "Гипертония"  # a medical value in the change history too
        db.session.commit()
    manager = login_as("manager")
    analyses = b"%PDF-1.4\n% MEDICAL-SCAN-4471\n%%EOF\n"
    manager.post(
        f"/customerview/{subject}/files",
        data={"file": (io.BytesIO(analyses), "Анализы.pdf"), "category": "medical"},
        content_type="multipart/form-data",
    )
    archive = exported(app, manager, subject, "Заявление № 11")
    with app.app_context():
        rid = db.session.scalars(select(SubjectRequest)).one().id
    every_byte = b"".join(archive.read(name) for name in archive.namelist())
    assert MEDICAL.encode() not in every_byte and "Гипертония".encode() not in every_byte
    assert b"MEDICAL-SCAN-4471" not in every_byte and b"SECRET-SCAN-CONTENT-7781" in every_byte
    tables = json.loads(archive.read("data.json"))["tables"]
    assert "medical_record" not in tables
    assert tables["change_log"] and all(r["entity"] != "MedicalRecord" for r in tables["change_log"])
    assert "выдаётся отдельным файлом" in archive.read("report.html").decode()
    assert manager.get(f"/customerview/subject/{rid}/medical").status_code == 403
    assert "/medical" not in manager.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert login_as("reception").get(f"/customerview/subject/{rid}/medical").status_code == 403

    doctor = login_as("doctor")
    card = doctor.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert f"/customerview/subject/{rid}/medical" in card
    assert f"/customerview/subject/{rid}/download" not in card
    response = doctor.get(f"/customerview/subject/{rid}/medical")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    medical = zipfile.ZipFile(io.BytesIO(response.data))
    data = json.loads(medical.read("data.json"))["tables"]
    assert data["medical_record"][0]["allergies"] == MEDICAL
    assert {r["entity"] for r in data["change_log"]} == {"MedicalRecord"}
    assert "customer" not in data and "customer_document" not in data
    report = medical.read("report.html").decode()
    assert MEDICAL in report and "Гипертония" in report and PASSPORT not in report
    assert [n for n in medical.namelist() if n.startswith("files/")] == [
        next(n for n in medical.namelist() if n.endswith("-Анализы.pdf"))
    ]
    assert medical.read(next(n for n in medical.namelist() if n.startswith("files/"))) == analyses
    assert doctor.get(f"/customerview/subject/{rid}/download").status_code == 403
    with app.app_context():
        journaled = db.session.scalars(
            select(AccessLog).where(AccessLog.action == AccessAction.EXPORT, AccessLog.customer_id == subject)
        ).all()
        assert sorted(row.user_id for row in journaled) == sorted(
            [user_id(app, "manager"), user_id(app, "doctor")]
        )
    # a specialist who does not serve the customer gets no part of it
    with app.app_context():
        db.session.execute(Order.__table__.update().values(specialist_id=None))
        db.session.commit()
    assert doctor.get(f"/customerview/subject/{rid}/medical").status_code == 404


def test_the_report_leaves_out_the_search_boxs_copy_of_the_name(app, redis, login_as, subject):
    """The customer's table in the report had a column «ФИО» reading «эрасова зинаида»:
    the search box's folded key, not how the clinic keeps the name (it is in «Фамилия»,
    «Имя»)."""
    client = login_as("manager")
    archive = exported(app, client, subject, "Заявление № 10")
    report = archive.read("report.html").decode()
    customer = report[report.index(">Клиенты (") :].split("</table>", 1)[0]
    assert f"<td>{LAST}</td>" in customer and f"<td>{FIRST}</td>" in customer
    assert LAST.lower() not in customer and "<th>ФИО</th>" not in customer
    assert json.loads(archive.read("data.json"))["tables"]["customer"][0]["name_search"]  # the data keeps it


def test_the_data_files_moments_say_they_are_utc(app, redis, login_as, subject):
    """data.json's moments are stored in UTC and read by the customer's own program:
    «2026-12-03T16:17:08» without an offset reads as local time, 10 hours off in
    Vladivostok. Each moment carries «+00:00»; days stay days."""
    client = login_as("manager")
    archive = exported(app, client, subject, "Заявление № 9")
    with app.app_context():
        registered = db.session.get(Customer, subject).registered_at
    data = json.loads(archive.read("data.json"))
    customer = data["tables"]["customer"][0]
    assert dt.datetime.fromisoformat(customer["registered_at"]) == registered.replace(tzinfo=dt.UTC)
    assert customer["birth_date"] == BIRTH.isoformat()
    assert data["request"]["received_at"].endswith("+00:00") and data["request"]["deadline"].endswith(
        "+00:00"
    )
    moments = [v for rows in data["tables"].values() for r in rows for v in r.values() if isinstance(v, str)]
    naive = [v for v in moments if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?", v)]
    assert naive == []


def test_the_report_names_the_history_and_the_journal_as_their_screens_do(app, redis, login_as, subject):
    """The customer reads the report's «История изменений» and «Журнал доступа» as staff
    read them on the card: the history said «Customer · update · city», «Note · create ·
    pinned · False» and moments as stored in UTC («2026-12-03 16:11:33.524399»), the journal
    «Открытие вкладки · documents»."""
    client = login_as("manager")
    assert client.get(f"/customerview/show/{subject}").status_code == 200  # journals its tabs
    archive = exported(app, client, subject, "Заявление № 8")
    report = archive.read("report.html").decode()
    history = report[report.index(">История изменений (") : report.index(">Журнал доступа (")]
    journal = report[report.index(">Журнал доступа (") :].split("</table>", 1)[0]
    cells = set(re.findall(r"<td>([^<]*)</td>", history))
    assert {"Customer", "Note", "create", "update", "city", "pinned", "False"} & cells == set()
    assert {"Клиент", "создание", "изменение", "Город", "нет"} <= cells
    assert not [c for c in cells if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?", c)]
    journal_cells = set(re.findall(r"<td>([^<]*)</td>", journal))
    assert {"Открытие вкладки", "Документы"} <= journal_cells
    assert {"documents", "files"} & journal_cells == set()
    with app.app_context():
        row = db.session.scalars(select(SubjectRequest)).one()
    front = login_as("reception")
    assert front.post(f"/customerview/{subject}/subject/export", data={"basis": "x"}).status_code == 403
    assert front.get(f"/customerview/subject/{row.id}/download").status_code == 403


def test_a_role_given_the_requests_but_shown_a_passport_masked_does_not_download_the_export(
    app, redis, login_as, subject
):
    """A clinic gave the front desk «Запросы субъектов ПД» on the roles screen: the ZIP
    holds the passport's series and number in full, which the front desk sees masked.
    It runs the request; the download answers 403 (the manager's still works)."""
    manager = login_as("manager")
    exported(app, manager, subject, "Заявление № 9")
    with app.app_context():
        rid = db.session.scalars(select(SubjectRequest.id)).one()
        sm = app.appbuilder.sm
        grant = sm.find_permission_view_menu("can_write", access.SUBJECTS)
        sm.add_permission_role(sm.find_role(access.ROLES["reception"].name), grant)
    try:
        front = login_as("reception")
        response = front.get(f"/customerview/subject/{rid}/download")
        assert response.status_code == 403 and not response.data.startswith(b"PK")
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            sm.del_permission_role(
                sm.find_role(access.ROLES["reception"].name),
                sm.find_permission_view_menu("can_write", access.SUBJECTS),
            )
    assert login_as("manager").get(f"/customerview/subject/{rid}/download").status_code == 200


def test_a_request_needs_its_basis(app, login_as, subject):
    client = login_as("manager")
    response = client.post(f"/customerview/{subject}/subject/export", data={"basis": " "})
    assert response.status_code == 422
    assert "Укажите основание" in response.get_data(as_text=True)
    response = client.post(f"/customerview/{subject}/subject/erase", data={"basis": "Заявление"})
    assert response.status_code == 422  # not confirmed
    with app.app_context():
        assert db.session.query(SubjectRequest).count() == 0
        assert db.session.get(Customer, subject).phone == PHONE


def full_dump() -> bytes:
    chunks = []
    with db.engine.connect() as conn:
        for table in Model.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                chunks.append(repr(tuple(row)).encode())
                chunks.extend(str(v).encode() for v in row)
    return b"\n".join(chunks)


def instance_bytes(app) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in Path(app.config["INSTANCE_DIR"]).rglob("*") if p.is_file()}


def database_files() -> dict[str, bytes]:
    """The embedded database's own files (the database, its write-ahead log): the
    clinic's SQLite lives under instance/, and an erased value must not stay in them."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        return {}
    main = Path(url.database)
    return {str(p): p.read_bytes() for p in main.parent.glob(main.name + "*") if p.is_file()}


def age_anamnesis(customer_id: int, years: float) -> None:
    """The customer's medical records as if last written ``years`` ago."""
    from sqlalchemy import update

    when = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=round(365.25 * years))
    db.session.execute(
        update(MedicalRecord).where(MedicalRecord.customer_id == customer_id).values(changed_on=when)
    )
    db.session.commit()


@pytest.mark.parametrize("anamnesis", ["none", "past its period"])
def test_after_an_erasure_the_values_are_nowhere(app, redis, login_as, subject, anamnesis):
    """Without medical records, or with those kept past MEDICAL_RETENTION_YEARS,
    nothing of the customer is kept."""
    with app.app_context():
        if anamnesis == "none":
            db.session.query(MedicalRecord).filter(MedicalRecord.customer_id == subject).delete()
            db.session.commit()
        else:
            age_anamnesis(subject, 26)
    secrets = {k: v for k, v in SECRETS.items() if anamnesis != "none" or k != "medical text"}
    client = login_as("manager")
    assert client.get(f"/customerview/show/{subject}").status_code == 200  # journaled
    client.post(f"/customerview/{subject}/subject/export", data={"basis": "Заявление № 7"})
    work(app)  # an export lies in instance/exports: the erasure removes it too
    with app.app_context():
        before = full_dump() + b"".join(instance_bytes(app).values())
    missing = [name for name, secret in secrets.items() if secret not in before]
    assert missing == []  # the search finds every value before the erasure
    response = client.post(
        f"/customerview/{subject}/subject/erase",
        data={"basis": "Заявление № 8 от 02.12.2026", "confirm": "yes"},
    )
    assert response.status_code == 302
    with app.app_context():
        dump = full_dump()
        files = {**instance_bytes(app), **database_files()}
        keys = b"\n".join([*redis.keys("*"), *(redis.dump(k) or b"" for k in redis.keys("*"))])
        for name, secret in secrets.items():
            assert secret not in dump, f"{name} left in the database"
            assert secret not in keys, f"{name} left in Redis"
            for path, content in files.items():
                if path.endswith("secret_key"):
                    continue
                assert secret not in content, f"{name} left in {path}"
        # the orders are kept, without the person; the act and the journal stay
        order = db.session.scalars(select(Order).where(Order.customer_id == subject)).one()
        assert order.total > 0 and order.comment is None
        act = db.session.scalars(select(SubjectRequest).where(SubjectRequest.act.isnot(None))).one()
        assert "АКТ об уничтожении персональных данных" in act.act
        assert ("Анамнез (сведения о здоровье): 1" in act.act) is (anamnesis != "none")
        assert "в силу закона" not in act.act
        customer = db.session.get(Customer, subject)
        assert customer.last_name == "Удалён" and customer.birth_date is None
        assert "Выписка из журнала доступа" in act.act
        assert "· Manager Тестовый (manager) · Открытие карточки" in act.act  # who and what, in words
        assert db.session.query(AccessLog).filter(AccessLog.customer_id == subject).count() > 0
    page = login_as("auditor").get(f"/subjectrequestview/show/{act.id}").get_data(as_text=True)
    assert "АКТ об уничтожении" in page


def test_an_erasure_keeps_the_anamnesis_and_whose_it_is_under_law_and_erases_the_rest(
    app, redis, login_as, subject
):
    client = login_as("manager")
    with app.app_context():
        before = full_dump() + b"".join(instance_bytes(app).values())
        customer = db.session.get(Customer, subject)
        with app.test_request_context():  # a visit reminder waiting in the outbox
            (waiting,) = notifications.queue_notification(
                db.session, customer, MessageType.MANUAL, (Channel.EMAIL,), text="Напоминание"
            )
            db.session.commit()
        waiting_id = waiting.id
    assert all(secret in before for secret in SECRETS.values())
    response = client.post(
        f"/customerview/{subject}/subject/erase",
        data={"basis": "Заявление № 8 от 02.12.2026", "confirm": "yes"},
    )
    assert response.status_code == 302
    kept = {"medical text", "last name", "first name", "birth date"}
    with app.app_context():
        dump = full_dump()
        files = instance_bytes(app)
        for name, secret in SECRETS.items():
            if name in kept:
                continue
            assert secret not in dump, f"{name} left in the database"
            for path, content in files.items():
                if not path.endswith((".db", ".db-wal", ".db-shm", "secret_key")):
                    assert secret not in content, f"{name} left in {path}"
        customer = db.session.get(Customer, subject)
        assert (customer.last_name, customer.first_name, customer.birth_date) == (LAST, FIRST, BIRTH)
        assert customer.phone is customer.email is customer.city is None
        (record,) = db.session.scalars(select(MedicalRecord).where(MedicalRecord.customer_id == subject))
        assert record.allergies == MEDICAL
        assert db.session.query(CustomerDocument).filter_by(customer_id=subject).count() == 0
        assert db.session.query(Note).filter_by(customer_id=subject).count() == 0
        act = db.session.scalars(select(SubjectRequest).where(SubjectRequest.act.isnot(None))).one().act
        assert "Анамнез (сведения о здоровье): 1" not in act  # not among the destroyed
        assert "Документы, удостоверяющие личность: 1" in act and "Примечания сотрудников: 1" in act
        assert (
            "Сохранено в силу закона, с ограничением обработки (только хранение): "
            "Анамнез (сведения о здоровье), ФИО, Дата рождения." in act
        )
        assert "ч. 5 ст. 21 Федерального закона от 27.07.2006 № 152-ФЗ" in act and "№ 323-ФЗ" in act
        zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
        until = (dt.datetime.now(zone) + dt.timedelta(days=round(365.25 * 25))).strftime("%d.%m.%Y")
        assert f"Срок хранения: до {until} (25 лет после последней записи анамнеза)" in act
        # the act's moments are the clinic's, named with its zone (it said «(UTC)»)
        now = dt.datetime.now(zone).strftime("%d.%m.%Y")
        assert re.search(rf"Дата и время: {re.escape(now)} \d{{2}}:\d{{2}} \({zone.key}\)", act)
        # nobody writes to the remainder: the waiting message is cancelled, no new one is written
        assert db.session.get(Message, waiting_id).status == MessageStatus.CANCELLED
        with app.test_request_context():
            assert notifications.queue_notification(db.session, customer, MessageType.MARKETING) == []
    card = client.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert "часть хранится в силу закона" in card
    assert "Хранятся: Анамнез (сведения о здоровье), ФИО, Дата рождения." in card
    assert f"Срок хранения — до {until}." in card
    assert "клиенту не отправляются ни уведомления, ни реклама" in card
    assert LAST in card and PHONE not in card
    # the retention job counts the remainder as kept, not due
    with app.app_context():
        from app import subjects

        past = select(Customer.id).where(subjects.past_retention())
        kept_now = select(Customer.id).where(subjects.kept_for_medical_records())
        assert subject not in db.session.scalars(past).all()
        assert subject in db.session.scalars(kept_now).all()
        review = subjects.review_retention(db.session)
        assert (review.due, review.kept_medical) == (0, 1)
        db.session.commit()
        # 25 years after the last record: due, and the manager erases the rest
        age_anamnesis(subject, 25.1)
        assert db.session.scalars(past).all() == [subject]
        review = subjects.review_retention(db.session)
        assert (review.due, review.kept_medical) == (1, 0)
        db.session.commit()
    card = client.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert "данные подлежат уничтожению" in card
    listing = client.get("/customerview/list/?_flt_0_last_visit_at=1").get_data(as_text=True)
    assert LAST in listing
    response = client.post(
        "/customerview/action_post", data={"action": "erase_expired", "rowid": [str(subject)]}
    )
    assert response.status_code == 302
    with app.app_context():
        dump = full_dump()
        for name, secret in SECRETS.items():
            assert secret not in dump, f"{name} left in the database"
        assert db.session.get(Customer, subject).last_name == "Удалён"
        last = db.session.scalars(select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
        assert "Истёк срок хранения медицинской документации" in last.basis
        assert "Анамнез (сведения о здоровье): 1" in last.act and "в силу закона" not in last.act
    card = client.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert "в силу закона" not in card


def test_what_an_erasure_kept_under_law_is_neither_changed_nor_filled_again(app, login_as, subject):
    manager = login_as("manager")
    erased = manager.post(
        f"/customerview/{subject}/subject/erase", data={"basis": "Заявление № 8", "confirm": "yes"}
    )
    assert erased.status_code == 302
    with app.app_context():
        (record_id,) = db.session.scalars(
            select(MedicalRecord.id).where(MedicalRecord.customer_id == subject)
        ).all()
    refused = manager.put(f"/api/v1/customers/{subject}", json={"phone": "8 916 555-01-23"})
    assert refused.status_code == 422
    assert "карточку нельзя изменить" in str(refused.get_json()["message"])
    doctor = login_as("doctor")
    card = doctor.get(f"/customerview/show/{subject}").get_data(as_text=True)
    assert "часть хранится в силу закона" in card and MEDICAL in card
    added = doctor.post("/api/v1/anamnesis/", json={"customer": subject, "allergies": "пыльца"})
    changed = doctor.put(f"/api/v1/anamnesis/{record_id}", json={"allergies": "нет"})
    assert added.status_code == changed.status_code == 422
    assert "анамнез хранится в силу закона" in str(changed.get_json()["message"])
    form_refused = doctor.post(
        f"/medicalrecordview/edit/{record_id}", data={"customer": subject, "allergies": "нет"}
    )
    assert "нельзя добавить, изменить или удалить" in form_refused.get_data(as_text=True)
    with app.app_context():
        (record,) = db.session.scalars(
            select(MedicalRecord).where(MedicalRecord.customer_id == subject)
        ).all()
        assert record.allergies == MEDICAL
        assert db.session.get(Customer, subject).phone is None


def test_customers_past_retention_are_listed_and_erased_by_the_manager(app, login_as):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with app.app_context():
        old = factories.customer(last_name="Давняя", phone="+79160000011")
        recent = factories.customer(last_name="Недавняя", phone="+79160000012")
        never = factories.customer(last_name="Невизитная", phone="+79160000013")
        old.last_visit_at = now - dt.timedelta(days=6 * 366)
        recent.last_visit_at = now - dt.timedelta(days=30)
        never.registered_at = now - dt.timedelta(days=6 * 366)
        db.session.commit()
        ids = old.id, recent.id, never.id
    manager = login_as("manager")
    listing = manager.get("/customerview/list/?_flt_0_last_visit_at=1").get_data(as_text=True)
    assert "Давняя" in listing and "Невизитная" in listing and "Недавняя" not in listing
    front = login_as("reception")
    front.post("/customerview/action_post", data={"action": "erase_expired", "rowid": [str(ids[0])]})
    with app.app_context():
        assert db.session.get(Customer, ids[0]).last_name == "Давняя"  # the front desk may not
    manager = login_as("manager")
    response = manager.post(
        "/customerview/action_post", data={"action": "erase_expired", "rowid": [str(ids[0]), str(ids[1])]}
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, ids[0]).phone is None
        assert db.session.get(Customer, ids[1]).last_name == "Недавняя"  # not past it: refused
        (act,) = db.session.scalars(select(SubjectRequest)).all()
        assert act.customer_id == ids[0] and "Истёк срок хранения" in act.basis
    listing = manager.get("/customerview/list/?_flt_0_last_visit_at=1").get_data(as_text=True)
    assert "Невизитная" in listing and "Давняя" not in listing


def test_an_export_left_queued_is_handed_out_again_by_the_sweeper(app, redis, login_as):
    with app.app_context():
        customer = factories.customer()
        request = SubjectRequest(
            customer=customer,
            kind="export",
            status=SubjectRequestStatus.QUEUED,
            basis="Заявление № 9",
            received_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5),
            deadline=dt.datetime(2030, 1, 1),
        )
        db.session.add(request)
        db.session.commit()
        request_id = request.id  # never enqueued: Redis was down when it was asked for
        worker.sweep_once()
    work(app)
    with app.app_context():
        assert db.session.get(SubjectRequest, request_id).status == SubjectRequestStatus.DONE


def test_the_export_holds_every_table_that_names_the_customer_their_tags_and_payments(app, subject):
    """«Everything stored about the customer»: payments, accounts, certificates and
    requests were left out of the ZIP, and the customer's tags."""
    from app import subjects
    from app.models import Tag

    with app.app_context():
        customer = db.session.get(Customer, subject)
        customer.tags = [Tag(name="Должник", color="#000000")]
        factories.order(customer=customer, paid="500")
        db.session.commit()
        tables = subjects.collect(db.session, subject)
        naming = {t.name for t in Model.metadata.sorted_tables if "customer_id" in t.c}
        assert naming <= set(tables), naming - set(tables)
        assert [t["name"] for t in tables["customer_tag"]] == ["Должник"]
        assert [p["amount"] for p in tables["payment"]] == ["500.00"]
        assert tables["order_item"] and tables["certificate_operation"] == []


def test_a_deleted_customers_request_still_says_whom_it_was_about(app, redis, login_as):
    """Deleting a customer emptied their requests' «Клиент» (the key is ON DELETE SET
    NULL): the auditor could not tell which request was about whom. The request keeps
    the name, the card number and the customer's number it was received under."""
    with app.app_context():
        customer = factories.customer(last_name="Удаляева", first_name="Нина", card_number="К-0451")
        customer_id = customer.id
    manager = login_as("manager")
    manager.post(f"/customerview/{customer_id}/subject/export", data={"basis": "Заявление № 12"})
    assert manager.post(f"/customerview/delete/{customer_id}").status_code == 302
    with app.app_context():
        assert db.session.get(Customer, customer_id) is None
        (request,) = db.session.scalars(select(SubjectRequest)).all()
        assert request.customer_id is None
        request_id = request.id
    auditor = login_as("auditor")
    kept = f"Удаляева Нина Сергеевна, карта К-0451, клиент № {customer_id} (удалён)"
    listing = auditor.get("/subjectrequestview/list/").get_data(as_text=True)
    assert kept in listing
    assert kept in auditor.get(f"/subjectrequestview/show/{request_id}").get_data(as_text=True)
    # the screen has no CSV export for any role (its permissions are read and write)
    assert manager.get("/subjectrequestview/export.csv").status_code == 403


def test_an_erasure_leaves_its_requests_the_customers_number_only(app, redis, login_as):
    """The label a request keeps of its customer is personal data: an erasure leaves
    the number (as the journal and the history keep it), not the name or the card."""
    with app.app_context():
        customer = factories.customer(last_name="Стиралова", first_name="Вера", card_number="К-0777")
        customer_id = customer.id
    manager = login_as("manager")
    manager.post(f"/customerview/{customer_id}/subject/export", data={"basis": "Заявление № 13"})
    with app.app_context():
        (export,) = db.session.scalars(select(SubjectRequest)).all()
        assert (export.customer_number, export.customer_name, export.customer_card) == (
            customer_id,
            "Стиралова Вера Сергеевна",
            "К-0777",
        )
    response = manager.post(
        f"/customerview/{customer_id}/subject/erase", data={"basis": "Заявление № 14", "confirm": "yes"}
    )
    assert response.status_code == 302
    with app.app_context():
        requests = db.session.scalars(select(SubjectRequest).order_by(SubjectRequest.id)).all()
        assert [r.kind.value for r in requests] == ["export", "erasure"]
        for request in requests:
            assert (request.customer_number, request.customer_name, request.customer_card) == (
                customer_id,
                None,
                None,
            )
            stored = repr([getattr(request, c.key) for c in SubjectRequest.__table__.columns])
            assert "Стиралова" not in stored and "Вера" not in stored and "К-0777" not in stored
        assert f"клиент № {customer_id}" in requests[1].act.lower()
    auditor = login_as("auditor")
    listing = auditor.get("/subjectrequestview/list/").get_data(as_text=True)
    assert "Стиралова" not in listing and "К-0777" not in listing
    # and says it: «Клиент» is the number (a link to the card), not the erased row's «Удалён»,
    # which named every erased customer alike and called a kept card deleted
    said = f'<a href="/customerview/show/{customer_id}">клиент № {customer_id}</a>'
    assert listing.count(said) == 2
    assert ">Удалён<" not in listing
    # a request made after the erasure says the number too, not the erased row's «Удалён»
    posted = login_as("manager").post(
        f"/customerview/{customer_id}/subject/export", data={"basis": "Заявление № 15"}
    )
    assert posted.status_code == 302
    listing = login_as("auditor").get("/subjectrequestview/list/").get_data(as_text=True)
    assert listing.count(said) == 3 and ">Удалён<" not in listing
    for request in requests:
        page = auditor.get(f"/subjectrequestview/show/{request.id}").get_data(as_text=True)
        assert said in page and ">Удалён<" not in page


@pytest.mark.parametrize("anamnesis", ["none", "kept under law"])
def test_an_erasure_takes_the_name_and_contacts_out_of_the_requests_basis(app, redis, login_as, anamnesis):
    """«Основание» is free text, and staff write the applicant into it («Заявление
    Стираловой В. С., тел. 8 916 …»): an erasure left the name and the phone in every
    request of the customer and in the act. Now it says «клиента № N» and «[удалено]»,
    keeping the application's date and number; with medical records kept under law the
    full name stays (as on the card) and the contacts go."""
    with app.app_context():
        customer = factories.customer(
            last_name="Стиралова", first_name="Вера", middle_name="Сергеевна", email="vera@example.ru"
        )
        customer_id = customer.id
        if anamnesis != "none":
            db.session.add(MedicalRecord(customer_id=customer_id, allergies="Латекс"))
            db.session.commit()
    manager = login_as("manager")
    manager.post(
        f"/customerview/{customer_id}/subject/export",
        data={
            "basis": "Заявление Стираловой Веры Сергеевны от 01.12.2026, тел. 8 916 123-45-67, VERA@example.ru"
        },
    )
    response = manager.post(
        f"/customerview/{customer_id}/subject/erase",
        data={"basis": "Заявление Стираловой В. С. № 14 от 02.12.2026 (+7 916 123 45 67)", "confirm": "yes"},
    )
    assert response.status_code == 302
    with app.app_context():
        export, erasure = db.session.scalars(select(SubjectRequest).order_by(SubjectRequest.id)).all()
        named = anamnesis != "none"
        for stored in (export.basis, erasure.basis, erasure.act):
            assert ("Стиралов" in stored) is named, stored
            assert "916" not in stored and "123-45-67" not in stored and "vera@" not in stored.lower()
        assert export.basis.startswith("Заявление ") and "от 01.12.2026" in export.basis
        assert "№ 14 от 02.12.2026" in erasure.basis and "[удалено]" in erasure.basis
        if not named:
            assert export.basis == (
                f"Заявление клиента № {customer_id} от 01.12.2026, тел. [удалено], [удалено]"
            )
            assert "Вер" not in erasure.act and "Сергеевн" not in erasure.basis
            assert f"Заявление клиента № {customer_id} № 14" in erasure.basis  # the initials went too


def test_a_deleted_customer_takes_their_scans_and_exports_off_the_disk(app, redis, login_as, subject):
    """Deleting a customer removed their rows by the database's cascade, while the scan
    and the finished export's ZIP stayed on disk, the ZIP still downloadable from the
    requests list; an export still queued then collected «customer_id IS NULL», every
    row that names no customer."""
    manager = login_as("manager")
    instance = Path(app.config["INSTANCE_DIR"])

    def stored():
        return sorted(
            p.name for folder in ("files", "exports") for p in (instance / folder).rglob("*") if p.is_file()
        )

    manager.post(f"/customerview/{subject}/subject/export", data={"basis": "Заявление № 21"})
    work(app)
    manager.post(f"/customerview/{subject}/subject/export", data={"basis": "Заявление № 22"})
    with app.app_context():
        done, queued = db.session.scalars(select(SubjectRequest).order_by(SubjectRequest.id)).all()
        assert (done.status, queued.status) == (SubjectRequestStatus.DONE, SubjectRequestStatus.QUEUED)
    assert len(stored()) == 3  # the scan, the ZIP and its medical part
    assert manager.post(f"/customerview/delete/{subject}").status_code == 302
    assert stored() == []
    assert manager.get(f"/customerview/subject/{done.id}/download").status_code == 404
    work(app)
    with app.app_context():
        done, queued = db.session.scalars(select(SubjectRequest).order_by(SubjectRequest.id)).all()
        assert done.stored_name is None
        assert (queued.status, queued.error) == (
            SubjectRequestStatus.FAILED,
            "Клиент удалён: выгружать нечего.",
        )
    assert stored() == []
    listing = login_as("auditor").get("/subjectrequestview/list/").get_data(as_text=True)
    assert "/download" not in listing
