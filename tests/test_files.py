"""«Файлы» on the card: a generated corpus of uploads, each kept or refused by its
content (never by its name), nothing left on disk when refused; downloads through
the policy, as attachments of the stored type, journaled; delete with the content."""

from __future__ import annotations

import base64
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from app import access
from app.extensions import db
from app.models import AccessAction, AccessLog, CustomerFile, FileCategory
from tests import factories
from tests.conftest import user_id

MB = 1024 * 1024


# -- the corpus ---------------------------------------------------------------


def png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00"  # one red pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
    )


def gif() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def webp() -> bytes:
    """A 1×1 lossless WebP: RIFF, «WEBP», a VP8L chunk (what a phone's gallery saves)."""
    return base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")


def heic() -> bytes:
    """The start of an iPhone photo: an ISO-BMFF «ftyp» box of brand «heic», then a box."""
    ftyp = b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    meta = b"meta" + b"\x00" * 24
    return struct.pack(">I", 4 + len(ftyp)) + ftyp + struct.pack(">I", 4 + len(meta)) + meta


def ole(stream: str) -> bytes:
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    return header + stream.encode("utf-16-le") + b"\x00" * 1024


def ooxml(main: str, extra: dict | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr(main, "<document>Паспорт</document>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def bomb(main: str) -> bytes:
    """An Office file whose one part unpacks 20 MB of zeros from a few kilobytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open(main, "w") as part:
            for _ in range(20):
                part.write(b"\x00" * MB)
    return out.getvalue()


ACCEPTED = {
    "скан паспорта.jpg": (jpeg(), "image/jpeg"),
    "photo.png": (png(), "image/png"),
    "anim.gif": (gif(), "image/gif"),
    "до процедуры.webp": (webp(), "image/webp"),
    "IMG_0412.HEIC": (heic(), "image/heic"),
    "после.heif": (heic(), "image/heic"),
    "договор.pdf": (pdf(), "application/pdf"),
    "анкета.doc": (ole("WordDocument"), "application/msword"),
    "счёт.xls": (ole("Workbook"), "application/vnd.ms-excel"),
    "справка.docx": (
        ooxml("word/document.xml"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "расчёт.xlsx": (
        ooxml("xl/workbook.xml"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "заметка.txt": ("Аллергия на пенициллин.\n".encode(), "text/plain; charset=utf-8"),
    "windows.txt": ("Согласие получено.\r\n".encode("cp1251"), "text/plain; charset=utf-8"),
}

REFUSED = {
    "svg with a script": (
        "logo.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    ),
    "svg named .txt": ("logo.txt", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    "html with a script": (
        "page.html",
        b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>",
    ),
    "html named .txt": ("page.txt", b"<html><body><script>alert(1)</script></body></html>"),
    "executable named .pdf": ("договор.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200),
    "ELF named .pdf": ("scan.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 200),
    "png named .pdf": ("scan.pdf", png()),
    "heic named .jpg": ("IMG_0412.jpg", heic()),
    "webp named .png": ("photo.png", webp()),
    "path in the name": ("../../etc/passwd.txt", b"root:x:0:0"),
    "windows path in the name": ("C:\\Users\\scan.pdf", pdf()),
    "folder in the name": ("docs/scan.pdf", pdf()),
    "zip bomb as docx": ("отчёт.docx", bomb("word/document.xml")),
    "zip bomb as xlsx": ("отчёт.xlsx", bomb("xl/workbook.xml")),
    "docx with macros": ("макрос.docx", ooxml("word/document.xml", {"word/vbaProject.bin": b"\x00" * 100})),
    "plain zip named .docx": ("архив.docx", ooxml("readme.txt")),
    "OLE without Word or Excel": ("old.doc", ole("PowerPoint Document")),
    "empty": ("empty.txt", b""),
    "binary noise named .txt": ("noise.txt", bytes(range(256)) * 4),
    "13 MB text under the body limit": ("big.txt", b"a" * (12 * MB + 1)),
}


# -- helpers --------------------------------------------------------------------


def stored_files(app) -> list[Path]:
    folder = Path(app.config["INSTANCE_DIR"]) / "files"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def upload(client, customer_id, name, data, category="other"):
    return client.post(
        f"/customerview/{customer_id}/files",
        data={"file": (io.BytesIO(data), name), **({"category": category} if category else {})},
        content_type="multipart/form-data",
    )


@pytest.fixture
def customer_id(app):
    with app.app_context():
        return factories.customer().id


@pytest.fixture(autouse=True)
def no_files_left(app):
    yield
    for path in stored_files(app):
        path.unlink()


# -- uploads --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_an_accepted_file_is_stored_by_a_random_name_with_the_type_of_its_content(
    app, login_as, customer_id, name
):
    data, content_type = ACCEPTED[name]
    client = login_as("reception")
    response = upload(client, customer_id, name, data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    with app.app_context():
        item = db.session.query(CustomerFile).one()
        assert (item.name, item.content_type, item.size) == (name, content_type, len(data))
    (path,) = stored_files(app)
    assert path.read_bytes() == data
    assert name not in str(path) and path.name == item.stored_name
    assert "static" not in path.parts
    card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    assert name in card


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_file_says_why_in_russian_and_leaves_nothing(app, login_as, customer_id, case):
    name, data = REFUSED[case]
    client = login_as("manager")
    response = upload(client, customer_id, name, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert any(
        word in page
        for word in (
            "не принимаются",
            "не поддерживается",
            "не совпадает",
            "путь",
            "Файл пуст",
            "больше 12 МБ",
            "не принят",
        )
    ), page[:2000]
    with app.app_context():
        assert db.session.query(CustomerFile).count() == 0
    assert stored_files(app) == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(app, login_as, customer_id):
    client = login_as("manager")
    response = upload(client, customer_id, "big.pdf", b"%PDF-1.4\n" + b"0" * (13 * MB))
    assert response.status_code == 413
    assert "до 12 МБ" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(CustomerFile).count() == 0
    assert stored_files(app) == []


def test_a_role_without_write_on_files_cannot_upload(app, login_as, customer_id):
    client = login_as("auditor")
    assert upload(client, customer_id, "a.pdf", pdf()).status_code == 403
    assert stored_files(app) == []


# -- downloads ------------------------------------------------------------------


@pytest.fixture
def two_files(app, login_as):
    """A file of the doctor's patient and one of a stranger's."""
    with app.app_context():
        patient = factories.customer()
        stranger = factories.customer(last_name="Петров", first_name="Пётр", phone="+79160000001")
        factories.order(customer=patient, specialist_id=user_id(app, "doctor"))
        ids = patient.id, stranger.id
    client = login_as("manager")
    for customer in ids:
        assert upload(client, customer, "паспорт.pdf", pdf()).status_code == 302
    with app.app_context():
        files = dict(db.session.query(CustomerFile.customer_id, CustomerFile.id).all())
    return files[ids[0]], files[ids[1]]


def downloads(app) -> list:
    with app.app_context():
        return db.session.query(AccessLog).filter(AccessLog.action == AccessAction.DOWNLOAD).all()


@pytest.mark.parametrize(
    "role, patient, stranger",
    [
        ("manager", 200, 200),
        ("reception", 200, 200),
        ("doctor", 200, 404),  # within their own customers only
        ("auditor", 403, 403),  # sees the list, downloads nothing
        ("sysadmin", 403, 403),
    ],
)
def test_download_follows_the_policy_and_is_journaled(app, login_as, two_files, role, patient, stranger):
    client = login_as(role)
    for file_id, expected in zip(two_files, (patient, stranger), strict=True):
        response = client.get(f"/customerfileview/fetch/{file_id}")
        assert response.status_code == expected, (role, file_id)
        if expected == 200:
            disposition = response.headers["Content-Disposition"]
            assert disposition.startswith("attachment;")
            assert "filename*=UTF-8''%D0%BF%D0%B0%D1%81%D0%BF%D0%BE%D1%80%D1%82.pdf" in disposition
            assert response.headers["Content-Type"] == "application/pdf"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.data == pdf()
    allowed = [fid for fid, code in zip(two_files, (patient, stranger), strict=True) if code == 200]
    rows = downloads(app)
    assert len(rows) == len(allowed)  # refused attempts are not downloads
    with app.app_context():
        for row in rows:
            assert row.user_id == user_id(app, role)
            assert row.ip == "127.0.0.1"
            assert row.detail.endswith(": pdf")  # by number and format: the name may be personal


def test_the_system_administrator_never_downloads_even_when_given_the_right(app, login_as, two_files):
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role(access.ROLES["sysadmin"].name)
        for perm in ("can_read", "can_download"):
            role.permissions.append(sm.find_permission_view_menu(perm, access.FILES))
        sm.session.commit()
    try:
        client = login_as("sysadmin")
        assert client.get(f"/customerfileview/fetch/{two_files[0]}").status_code == 403
        assert downloads(app) == []
    finally:
        with app.app_context():
            access.sync_roles(reset=True)


def test_the_auditor_sees_the_files_without_a_download_link(app, login_as, two_files):
    with app.app_context():
        customer_id = db.session.get(CustomerFile, two_files[0]).customer_id
    page = login_as("auditor").get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    assert "паспорт.pdf" in page
    assert "/customerfileview/fetch/" not in page
    page = login_as("manager").get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    assert f"/customerfileview/fetch/{two_files[0]}" in page


def test_a_passport_scan_is_passport_data_for_every_door(app, login_as):
    """The front desk uploaded «Паспорт Ёлкиной.pdf» to «Файлы» and the specialist
    downloaded it, though a specialist never sees passport data. A file now says what
    it is; an identity document is seen as the passport's number is: the specialist
    neither lists nor opens it (card, list, download URL), the front desk and the
    auditor, who see the number masked, list it without a link and cannot download
    it, the manager downloads it. The specialist still downloads a medical document."""
    with app.app_context():
        patient = factories.customer(last_name="Ёлкина", phone="+79160000077")
        factories.order(customer=patient, specialist_id=user_id(app, "doctor"))
        customer_id = patient.id
    reception = login_as("reception")
    assert upload(reception, customer_id, "Паспорт Ёлкиной.pdf", pdf(), "identity").status_code == 302
    assert upload(reception, customer_id, "Анализы.pdf", pdf(), "medical").status_code == 302
    with app.app_context():
        ids = dict(db.session.query(CustomerFile.name, CustomerFile.id).all())
    passport, analyses = ids["Паспорт Ёлкиной.pdf"], ids["Анализы.pdf"]

    doctor = login_as("doctor")
    card = doctor.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    assert "Паспорт Ёлкиной" not in card and f"/customerfileview/fetch/{analyses}" in card
    assert "Паспорт Ёлкиной" not in doctor.get("/customerfileview/list/").get_data(as_text=True)
    assert doctor.get(f"/customerfileview/show/{passport}").status_code == 404
    assert doctor.get(f"/customerfileview/fetch/{passport}").status_code == 404
    assert doctor.get(f"/customerfileview/fetch/{analyses}").status_code == 200

    for role in ("reception", "auditor"):
        client = login_as(role)
        card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
        assert "Паспорт Ёлкиной" in card and "Документ, удостоверяющий личность" in card
        assert f"/customerfileview/fetch/{passport}" not in card, role
        assert client.get(f"/customerfileview/fetch/{passport}").status_code == 403, role
    # a medical document is medical history: the front desk uploads it and does not open it
    assert login_as("reception").get(f"/customerfileview/fetch/{analyses}").status_code == 403

    manager = login_as("manager")
    assert f"/customerfileview/fetch/{passport}" in manager.get(f"/customerview/show/{customer_id}").get_data(
        as_text=True
    )
    assert manager.get(f"/customerfileview/fetch/{passport}").data == pdf()
    with app.app_context():
        rows = downloads(app)
        assert sorted((r.user_id, r.detail) for r in rows) == sorted(
            [
                (user_id(app, "doctor"), f"{analyses}: pdf"),
                (user_id(app, "manager"), f"{passport}: pdf"),
            ]
        )


def test_the_manager_sorts_a_file_of_unknown_kind_the_front_desk_cannot_unmask_a_passport(app, login_as):
    """Files stored before categories start as identity documents (migration 0031): the
    manager, who reads the passport, says what each is; the front desk, who sees the
    passport masked, cannot turn a passport scan into «Прочее» (which the specialist
    would then download)."""
    with app.app_context():
        patient = factories.customer(last_name="Ёлкина", phone="+79160000078")
        factories.order(customer=patient, specialist_id=user_id(app, "doctor"))
        customer_id = patient.id
    reception = login_as("reception")
    assert upload(reception, customer_id, "Паспорт.pdf", pdf(), "identity").status_code == 302
    assert upload(reception, customer_id, "Направление.pdf", pdf(), "identity").status_code == 302
    with app.app_context():
        ids = dict(db.session.query(CustomerFile.name, CustomerFile.id).all())
    passport, referral = ids["Паспорт.pdf"], ids["Направление.pdf"]
    response = reception.post(f"/customerfileview/edit/{passport}", data={"category": "other"})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(CustomerFile, passport).category == FileCategory.IDENTITY
    assert login_as("doctor").get(f"/customerfileview/fetch/{passport}").status_code == 404

    manager = login_as("manager")
    assert "Документ, удостоверяющий личность" in manager.get(f"/customerfileview/edit/{referral}").get_data(
        as_text=True
    )
    assert manager.post(f"/customerfileview/edit/{referral}", data={"category": "medical"}).status_code == 302
    with app.app_context():
        assert db.session.get(CustomerFile, referral).category == FileCategory.MEDICAL
    assert login_as("doctor").get(f"/customerfileview/fetch/{referral}").status_code == 200


def test_a_file_whose_kind_is_not_said_is_refused(app, login_as, customer_id):
    response = upload(login_as("reception"), customer_id, "скан.pdf", pdf(), category=None)
    assert response.status_code == 422
    assert "Выберите, что это за файл" in response.get_data(as_text=True)
    assert upload(login_as("reception"), customer_id, "скан.pdf", pdf(), "passport").status_code == 422
    with app.app_context():
        assert db.session.query(CustomerFile).count() == 0
    assert stored_files(app) == []


def test_delete_removes_the_row_and_the_content(app, login_as, two_files):
    client = login_as("reception")  # may upload, may not delete
    assert client.post(f"/customerfileview/delete/{two_files[0]}").status_code in (302, 403)
    assert len(stored_files(app)) == 2
    client = login_as("manager")
    assert client.post(f"/customerfileview/delete/{two_files[0]}").status_code == 302
    with app.app_context():
        assert db.session.get(CustomerFile, two_files[0]) is None
    assert len(stored_files(app)) == 1


def test_a_medical_document_is_opened_only_by_who_reads_the_anamnesis(app, login_as):
    """The front desk scanned a referral with its diagnosis as «Медицинский документ»,
    and the manager, the front desk and the auditor downloaded it, though none of them
    may see medical history. Its row stays listed (it was uploaded), without a link;
    the download answers 403; the specialist who serves the customer opens it."""
    with app.app_context():
        patient = factories.customer(last_name="Лебедева", phone="+79160000078")
        factories.order(customer=patient, specialist_id=user_id(app, "doctor"))
        customer_id = patient.id
    reception = login_as("reception")
    assert upload(reception, customer_id, "Направление.pdf", pdf(), "medical").status_code == 302
    with app.app_context():
        referral = db.session.query(CustomerFile.id).filter_by(name="Направление.pdf").scalar()
    for role in ("reception", "manager", "auditor"):
        client = login_as(role)
        card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
        assert "Направление.pdf" in card and f"/customerfileview/fetch/{referral}" not in card, role
        response = client.get(f"/customerfileview/fetch/{referral}")
        assert response.status_code == 403, role
        assert b"%PDF" not in response.get_data(), role
    response = login_as("reception").post(f"/customerfileview/edit/{referral}", data={"category": "other"})
    assert response.status_code == 422  # nor does the front desk make it «Прочее» for everyone
    assert login_as("doctor").get(f"/customerfileview/fetch/{referral}").status_code == 200


PASSPORT = "Паспорт 987654.pdf"  # a name holding the passport's number


def test_the_manager_says_what_many_files_are_at_once_as_the_form_allows(app, login_as):
    """Migration 0031 made every stored file an identity document, and the specialist
    lost the referrals and results they had uploaded: the manager had to open each
    file's form. The files list's «Отметить как …» changes the kind of the ticked
    files at once, asks first in Russian, writes each change to the history, and
    refuses, by name, the files the role may not recategorise (as the edit form)."""
    from app.models import ChangeLog, CustomerDocument

    with app.app_context():
        patient = factories.customer(last_name="Ёлкина", phone="+79160000078")
        factories.order(customer=patient, specialist_id=user_id(app, "doctor"))
        db.session.add(CustomerDocument(customer=patient, kind="other", number="987654"))
        db.session.commit()
        customer_id = patient.id
    reception = login_as("reception")
    for name, category in (
        ("Направление.pdf", "identity"),
        ("Результаты.pdf", "identity"),
        (PASSPORT, "identity"),
        ("Анализы.pdf", "medical"),
    ):
        assert upload(reception, customer_id, name, pdf(), category).status_code == 302
    with app.app_context():
        ids = dict(db.session.query(CustomerFile.name, CustomerFile.id).all())

    def kinds():
        with app.app_context():
            return {n: c.value for n, c in db.session.query(CustomerFile.name, CustomerFile.category)}

    def history():
        with app.app_context():
            return sorted(
                (r.entity_id, r.old_value, r.new_value, r.user_id)
                for r in db.session.query(ChangeLog).filter_by(entity="CustomerFile", action="update")
            )

    manager = login_as("manager")
    listing = manager.get("/customerfileview/list/").get_data(as_text=True)
    assert "Отметить как «Медицинский документ»" in listing
    assert "Отметить выбранные файлы как «Медицинский документ»?" in listing
    picked = [str(ids["Направление.pdf"]), str(ids["Результаты.pdf"])]
    answer = manager.post(
        "/customerfileview/action_post",
        data={"action": "category_medical", "rowid": picked},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    assert "Вид изменён у 2 файлов." in answer.get_data(as_text=True)
    assert kinds() == {
        "Направление.pdf": "medical",
        "Результаты.pdf": "medical",
        PASSPORT: "identity",
        "Анализы.pdf": "medical",
    }
    manager_id = user_id(app, "manager")
    identity, medical = "Документ, удостоверяющий личность", "Медицинский документ"
    assert history() == sorted(
        (ids[n], identity, medical, manager_id) for n in ("Направление.pdf", "Результаты.pdf")
    )
    doctor = login_as("doctor")
    for name in ("Направление.pdf", "Результаты.pdf"):
        assert doctor.get(f"/customerfileview/fetch/{ids[name]}").status_code == 200

    # a medical document is not the manager's to recategorise (she does not read the
    # anamnesis): refused by name, the others changed
    manager = login_as("manager")  # (one client: signing in as another role signs the last one out)
    answer = manager.post(
        "/customerfileview/action_post",
        data={"action": "category_other", "rowid": [str(ids["Анализы.pdf"]), str(ids[PASSPORT])]},
        follow_redirects=True,
    )
    page = answer.get_data(as_text=True)
    assert "Вид изменён у 1 файла." in page
    assert "«Анализы.pdf»" in page and "которому виден анамнез" in page
    assert kinds()["Анализы.pdf"] == "medical" and kinds()[PASSPORT] == "other"
    # the front desk sees a passport masked: it does not make a passport's scan anything else
    with app.app_context():
        db.session.get(CustomerFile, ids[PASSPORT]).category = FileCategory.IDENTITY
        db.session.commit()
    before = history()
    reception = login_as("reception")
    answer = reception.post(
        "/customerfileview/action_post",
        data={"action": "category_other", "rowid": [str(ids[PASSPORT])]},
        follow_redirects=True,
    )
    page = answer.get_data(as_text=True)
    # named as the list names it: the front desk sees the passport's number masked
    assert "«Паспорт ****54.pdf»" in page and "987654" not in page
    assert "которому виден номер паспорта" in page and "Вид изменён" not in page
    assert kinds()[PASSPORT] == "identity" and history() == before
    # the specialist reads the files but writes none: no such action
    assert (
        login_as("doctor")
        .post(
            "/customerfileview/action_post",
            data={"action": "category_other", "rowid": [str(ids["Анализы.pdf"])]},
        )
        .status_code
        == 403
    )
    assert kinds()["Анализы.pdf"] == "medical"


def test_a_files_size_is_written_as_people_read_it(app, login_as, customer_id):
    """The files list and the card's tab said «Размер, байт: 259494»."""
    data = ACCEPTED["договор.pdf"][0]
    padded = data + b"%" + b" " * (259_494 - len(data) - 1)  # a PDF may carry anything after its end
    client = login_as("manager")
    assert upload(client, customer_id, "договор.pdf", padded, category="other").status_code == 302
    for page in (client.get("/customerfileview/list/"), client.get(f"/customerview/show/{customer_id}")):
        text = page.get_data(as_text=True)
        assert '<td class="col-size">253,4 кБ</td>' in text and "Размер, байт" not in text


@pytest.mark.parametrize(
    "name, data, content_type",
    [("до.webp", webp(), "image/webp"), ("IMG_0412.HEIC", heic(), "image/heic")],
    ids=["webp", "heic"],
)
def test_a_phone_picture_is_downloaded_as_an_attachment_of_its_type(
    app, login_as, customer_id, name, data, content_type
):
    """A WebP or an iPhone's HEIC photo was refused («Формат файла (heic) не
    поддерживается»); it is stored, and handed back as every file is: an attachment
    of the type its content says, never sniffed by the browser."""
    client = login_as("manager")
    assert upload(client, customer_id, name, data, "photo").status_code == 302
    with app.app_context():
        file_id = db.session.query(CustomerFile.id).scalar()
    response = client.get(f"/customerfileview/fetch/{file_id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == data


def test_a_photo_is_opened_by_the_specialist_and_the_manager_only(app, login_as):
    """Before/after photos of a face are the commonest file of a beauty clinic and had no
    category of their own («Прочее», opened by the front desk). The specialist adds one from
    the card as «Фото» (a photo only); the specialist and the manager open it; the front desk and
    the auditor list its row without a link, the download answers 403, and the front
    desk cannot make it «Прочее» for everyone."""
    with app.app_context():
        patient = factories.customer(last_name="Журавлёва", phone="+79160000079")
        factories.order(customer=patient, specialist_id=user_id(app, "doctor"))
        customer_id = patient.id
    doctor = login_as("doctor")
    card = doctor.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    assert 'id="file-upload"' in card and '<option value="photo" selected>Фото</option>' in card
    assert '<option value="other">' not in card  # photos only: the other kinds are the front desk's
    assert upload(doctor, customer_id, "Выписка.pdf", pdf(), "other").status_code == 403
    assert stored_files(app) == []
    assert upload(doctor, customer_id, "До процедуры.webp", webp(), "photo").status_code == 302
    with app.app_context():
        item = db.session.query(CustomerFile).one()
        photo = item.id
        assert item.category == FileCategory.PHOTO
    for role in ("doctor", "manager"):
        client = login_as(role)
        card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
        assert f"/customerfileview/fetch/{photo}" in card, role
        assert client.get(f"/customerfileview/fetch/{photo}").data == webp(), role
    for role in ("reception", "auditor"):
        client = login_as(role)
        card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
        assert "До процедуры.webp" in card and "Фото" in card, role
        assert f"/customerfileview/fetch/{photo}" not in card, role
        response = client.get(f"/customerfileview/fetch/{photo}")
        assert response.status_code == 403, role
        assert b"WEBP" not in response.data, role
    response = login_as("reception").post(f"/customerfileview/edit/{photo}", data={"category": "other"})
    assert response.status_code == 422
    assert "фотографии клиентов" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(CustomerFile, photo).category == FileCategory.PHOTO


def test_the_change_history_writes_a_files_size_as_people_read_it(app, login_as, customer_id):
    """The history of a file's upload said «Размер: 259494»."""
    data = pdf() + b"%" + b" " * (259_494 - len(pdf()) - 1)
    client = login_as("manager")
    assert upload(client, customer_id, "договор.pdf", data, category="other").status_code == 302
    for page in (
        login_as("auditor").get("/changelogview/list/"),
        client.get(f"/customerview/show/{customer_id}"),
    ):
        text = page.get_data(as_text=True)
        assert "253,4 кБ" in text and "259494" not in text


def test_the_manager_marks_photos_filed_as_other_as_photos_at_once(app, login_as, customer_id):
    """Photos uploaded before «Фото» existed are «Прочее», opened by the front desk: the
    manager ticks them on the files list and marks them «Фото» in one go."""
    client = login_as("reception")
    for name in ("до.webp", "после.webp"):
        assert upload(client, customer_id, name, webp(), "other").status_code == 302
    with app.app_context():
        ids = [str(i) for (i,) in db.session.query(CustomerFile.id).all()]
    answer = login_as("manager").post(
        "/customerfileview/action_post",
        data={"action": "category_photo", "rowid": ids},
        follow_redirects=True,
    )
    assert "Вид изменён у 2 файлов." in answer.get_data(as_text=True)
    with app.app_context():
        assert {c for (c,) in db.session.query(CustomerFile.category).all()} == {FileCategory.PHOTO}
    assert login_as("reception").get(f"/customerfileview/fetch/{ids[0]}").status_code == 403
