"""The customer's files: what may be stored, where, and who may take it back.

A file is accepted by its content, never by its name: the first bytes say the
format (``filetype``), an Office 2007+ file is opened as the ZIP it is and must
hold a document or a workbook without macros and without a bomb inside, an Office
97 file must carry its Word or Excel stream, and a text must be text (no markup
a browser would run). The content is stored under ``instance/files`` by a random
name, outside the static folder; only :func:`open_for_download` hands it back,
after the policy said yes. Nothing is written to disk before every check passed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import gettext as _

from . import access
from .errors import Forbidden, ValidationFailed
from .models import CustomerFile, FileCategory

MAX_FILE_BYTES = 12 * 1024 * 1024
# An Office file unpacks to a few times its size; a bomb to thousands of times.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_RATIO = 100
MAX_ZIP_ENTRIES = 2000


@dataclass(frozen=True)
class Kind:
    key: str
    content_type: str
    extensions: tuple[str, ...]


KINDS = {
    k.key: k
    for k in (
        Kind("jpg", "image/jpeg", ("jpg", "jpeg", "jpe")),
        Kind("png", "image/png", ("png",)),
        Kind("gif", "image/gif", ("gif",)),
        # a phone's pictures: WebP (Android, messengers), HEIC (an iPhone's camera);
        # handed back as attachments as every file is (a browser shows no HEIC anyway)
        Kind("webp", "image/webp", ("webp",)),
        Kind("heic", "image/heic", ("heic", "heif")),
        Kind("pdf", "application/pdf", ("pdf",)),
        Kind("doc", "application/msword", ("doc",)),
        Kind("xls", "application/vnd.ms-excel", ("xls",)),
        Kind(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ("docx",),
        ),
        Kind(
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ("xlsx",),
        ),
        Kind("txt", "text/plain; charset=utf-8", ("txt",)),
    )
}
ALLOWED = ", ".join(k.key for k in KINDS.values())
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# markup a browser would run if the text were ever shown as a page
MARKUP = re.compile(rb"<\s*(script|html|svg|iframe|object|embed|body|!doctype|\?xml)\b|javascript:", re.I)
NAME_FORBIDDEN = re.compile(r"[/\\:\x00-\x1f\x7f]")


def storage_dir() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / "files"


def stored_path(item: CustomerFile) -> Path:
    return storage_dir() / item.stored_name[:2] / item.stored_name


def _refuse(text) -> ValidationFailed:
    return ValidationFailed({"file": text})


def check_name(name: str | None) -> str:
    """The name as typed, without a path: a name holding one is refused, not cut."""
    name = (name or "").strip()
    if not name:
        raise _refuse(_("Выберите файл."))
    if NAME_FORBIDDEN.search(name) or name in (".", "..") or name.startswith(".."):
        raise _refuse(_("Имя файла не должно содержать путь или служебные символы: «%(name)s».", name=name))
    if len(name) > 200:
        raise _refuse(_("Имя файла длиннее 200 символов."))
    return name


def _office_zip(data: bytes) -> str:
    """«docx» or «xlsx» for an Office 2007+ file; refuses a bomb, macros, any other ZIP."""
    bomb = _("Архив внутри файла распаковывается в слишком большой объём: файл не принят.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise _refuse(_("Файл повреждён: его не удалось прочитать как документ Office.")) from None
    names = {info.filename for info in infos}
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _refuse(bomb)
    declared = sum(info.file_size for info in infos)
    if declared > MAX_UNPACKED_BYTES:
        raise _refuse(bomb)
    for info in infos:
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
            raise _refuse(bomb)
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise _refuse(_("Документы с макросами не принимаются."))
    if "[Content_Types].xml" not in names:
        raise _refuse(_("Архивы не принимаются: допустимы %(kinds)s.", kinds=ALLOWED))
    kind = "docx" if "word/document.xml" in names else "xlsx" if "xl/workbook.xml" in names else None
    if kind is None:
        raise _refuse(_("Архивы не принимаются: допустимы %(kinds)s.", kinds=ALLOWED))
    # the sizes a ZIP declares may lie: unpack for real, stopping at the limit
    unpacked = 0
    try:
        for info in infos:
            with archive.open(info) as member:
                while chunk := member.read(1024 * 1024):
                    unpacked += len(chunk)
                    if unpacked > MAX_UNPACKED_BYTES:
                        raise _refuse(bomb)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError):
        raise _refuse(_("Файл повреждён: его не удалось прочитать как документ Office.")) from None
    return kind


def _ole(data: bytes) -> str:
    """«doc» or «xls» for an Office 97–2003 file (by its Word or Excel stream)."""
    head = data[: 1024 * 1024]
    if "WordDocument".encode("utf-16-le") in head:
        return "doc"
    if "Workbook".encode("utf-16-le") in head or "Book\x00".encode("utf-16-le") in head:
        return "xls"
    raise _refuse(_("Формат файла не поддерживается: допустимы %(kinds)s.", kinds=ALLOWED))


def _text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1251")
        except UnicodeDecodeError:
            raise _refuse(_("Формат файла не поддерживается: допустимы %(kinds)s.", kinds=ALLOWED)) from None
    if any(ch < " " and ch not in "\t\r\n\f" for ch in text):
        raise _refuse(_("Формат файла не поддерживается: допустимы %(kinds)s.", kinds=ALLOWED))
    if MARKUP.search(data):
        raise _refuse(_("Файлы с разметкой или сценариями (HTML, SVG) не принимаются."))
    return "txt"


def detect(data: bytes) -> Kind:
    """The kind of ``data`` by its content, or ValidationFailed in Russian."""
    if not data:
        raise _refuse(_("Файл пуст."))
    if data.startswith(OLE):
        return KINDS[_ole(data)]
    if data.startswith(b"PK\x03\x04"):
        return KINDS[_office_zip(data)]
    guess = filetype.guess(data[:8192])
    if guess is not None:
        if guess.extension in ("jpg", "png", "gif", "webp", "heic", "pdf"):
            return KINDS[guess.extension]
        raise _refuse(
            _(
                "Формат файла (%(found)s) не поддерживается: допустимы %(kinds)s.",
                found=guess.extension,
                kinds=ALLOWED,
            )
        )
    if data[:2] == b"MZ" or data[:4] == b"\x7fELF":
        raise _refuse(_("Исполняемые файлы не принимаются."))
    return KINDS[_text(data)]


def check_extension(name: str, kind: Kind) -> str:
    """The name as stored: an extension that says another format is refused (a
    program renamed to .pdf); a name without one gets the format's."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return f"{name}.{kind.extensions[0]}"
    if extension.lower() not in kind.extensions:
        raise _refuse(
            _(
                "Содержимое файла (%(kind)s) не совпадает с его расширением «.%(ext)s».",
                kind=kind.key,
                ext=extension,
            )
        )
    return name


def check_category(value) -> FileCategory:
    """The category chosen on the form; a file whose kind is not said is refused."""
    if isinstance(value, FileCategory):
        return value
    try:
        return FileCategory((value or "").strip())
    except ValueError:
        raise ValidationFailed(
            {
                "category": _(
                    "Выберите, что это за файл: %(kinds)s.", kinds=", ".join(str(c) for c in FileCategory)
                )
            }
        ) from None


def upload_categories() -> list[FileCategory]:
    """What the current user may add from the card: any file with «Файлы: изменение», a
    photo with «добавление фото» (the specialist's before/after pictures), else nothing."""
    if access.may("can_write", access.FILES):
        return list(FileCategory)
    return [FileCategory.PHOTO] if access.may(*access.ADD_PHOTOS) else []


def check_upload(category) -> FileCategory:
    """The category of a file the current user adds, or Forbidden for a role that adds
    files of other kinds only (a specialist's «Прочее»: they add photos)."""
    allowed = upload_categories()
    if not allowed:
        raise Forbidden({None: _("Добавлять файлы клиентов вашей роли нельзя.")})
    category = check_category(category)
    if category not in allowed:
        raise Forbidden(
            {
                "category": _(
                    "Ваша роль добавляет только файлы вида: %(kinds)s.", kinds=", ".join(map(str, allowed))
                )
            }
        )
    return category


def check_recategorize(category) -> None:
    """Only a role that may open a file of ``category`` says it is something else."""
    if not access.file_category_readable(category):
        value = getattr(category, "value", category)
        if value in access.FILE_CATEGORY_RESOURCES:
            raise ValidationFailed(
                {"category": _("Вид медицинского документа меняет сотрудник, которому виден анамнез.")}
            )
        if value in access.FILE_CATEGORY_CAPACITIES:
            raise ValidationFailed(
                {"category": _("Вид фото меняет сотрудник, которому видны фотографии клиентов.")}
            )
        raise ValidationFailed(
            {
                "category": _(
                    "Вид документа, удостоверяющего личность, меняет сотрудник, которому виден номер паспорта."
                )
            }
        )


def recategorize(items, category) -> tuple[list[CustomerFile], dict[str, list[CustomerFile]]]:
    """Say at once what each of ``items`` is (the files list's «Отметить как …»), by the
    rule of the edit form: a file changes its kind only for a role that may open it as
    it was (:func:`check_recategorize`). Returns (the files changed, the files refused
    by why); the change history records each change (app/audit.py)."""
    category = check_category(category)
    changed: list[CustomerFile] = []
    refused: dict[str, list[CustomerFile]] = {}
    for item in items:
        try:
            check_recategorize(item.category)
        except ValidationFailed as e:
            refused.setdefault(str(e.errors["category"]), []).append(item)
            continue
        if item.category != category:
            item.category = category
            changed.append(item)
    return changed, refused


def add_file(session, customer, name: str | None, data: bytes, category=FileCategory.OTHER) -> CustomerFile:
    """Check ``data`` and store it for ``customer``; the row is added to ``session``
    (the caller commits; on a failed commit, :func:`discard` removes the content)."""
    category = check_category(category)
    name = check_name(name)
    if len(data) > MAX_FILE_BYTES:
        raise _refuse(_("Файл больше 12 МБ."))
    kind = detect(data)
    name = check_extension(name, kind)
    stored_name = secrets.token_hex(16)
    item = CustomerFile(
        customer=customer,
        name=name,
        kind=kind.key,
        content_type=kind.content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        stored_name=stored_name,
        category=category,
    )
    path = stored_path(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{stored_name}.part")
    with open(partial, "xb") as f:
        f.write(data)
    os.replace(partial, path)
    session.add(item)
    return item


def discard(item: CustomerFile) -> None:
    """Remove a file's content (after its row was deleted, or never committed)."""
    path = stored_path(item)
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


# A role that manages staff accounts (the system administrator's) never downloads a
# customer's file, whatever permissions it was given by hand: separation of duties.
STAFF_ADMIN = ("can_list", "UserDBModelView")


def may_download(user) -> bool:
    """The policy's «скачивание файлов» (the row scope is the caller's query)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return access.may(*access.DOWNLOAD) and not access.may(*STAFF_ADMIN)


def may_download_file(item: CustomerFile, user) -> bool:
    """«скачивание файлов», and the file's category readable (a passport's scan is the
    passport: a role that sees its number masked does not download it)."""
    return may_download(user) and access.file_category_readable(item.category)


def open_for_download(item: CustomerFile, user) -> Path:
    if not may_download(user):
        raise Forbidden({None: _("Скачивать файлы клиентов вашей роли нельзя.")})
    if not access.file_category_readable(item.category):
        value = getattr(item.category, "value", item.category)
        if value in access.FILE_CATEGORY_RESOURCES:
            raise Forbidden({None: _("Медицинские документы ваша роль не скачивает: это анамнез клиента.")})
        if value in access.FILE_CATEGORY_CAPACITIES:
            raise Forbidden({None: _("Фотографии клиентов ваша роль не скачивает.")})
        raise Forbidden({None: _("Документы, удостоверяющие личность, ваша роль не скачивает.")})
    path = stored_path(item)
    if not path.is_file():
        raise ValidationFailed({None: _("Содержимое файла не найдено в хранилище.")})
    return path
