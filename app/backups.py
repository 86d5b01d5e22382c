"""Backups: the database and the uploaded files in one archive, and the restore that puts
them back.

A clinic's IT person needs one command for the nightly copy and one for the bad day. The
archive (``kartoteka-<UTC time>.tar.gz``, readable by its owner only: it holds every
customer's personal data) carries:

- ``manifest.json``: what made it (the engine, the schema's revision, when, how many
  customers and files);
- the database, by the database's own tool: SQLite's online backup (a consistent copy
  while the app runs, the write-ahead log included), PostgreSQL's ``pg_dump`` in its
  custom format;
- ``files/``: the customers' uploaded files (the instance folder's ``files``).

The restore refuses an archive that is not one, one of the other engine, or one made by a
newer version of Kartoteka; then it archives the database it replaces (nothing is lost to a
wrong archive), puts the database and the files back in one step each (SQLite's backup
into the file; on PostgreSQL the schema is dropped and the dump replayed in one
transaction, so a failure leaves the old database), brings the schema up to this version's
migrations, and repeats what must not come back: the erasures of personal data (152-FZ)
and the customers deleted since the archive was made, as the database it replaced
recorded them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from . import formatting, subjects
from .database import refresh_statistics
from .errors import ValidationFailed
from .extensions import db
from .models import (
    ChangeLog,
    Customer,
    CustomerFile,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestStatus,
    utcnow,
)

FORMAT = 1
PREFIX = "kartoteka-"
SUFFIX = ".tar.gz"
MANIFEST = "manifest.json"
DATABASE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
FILES = "files"


class BackupError(ValidationFailed):
    """The backup or the restore cannot be done; the message says why, in Russian."""

    def __init__(self, message: str):
        super().__init__({None: message})


@dataclass
class Restored:
    """What a restore did, for the command's report."""

    archive: Path
    made_at: dt.datetime
    saved_as: Path | None
    customers: int = 0
    files: int = 0
    erased_again: list[int] = field(default_factory=list)
    deleted_again: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            _(
                "Восстановлено из %(archive)s (копия от %(when)s): клиентов: %(customers)s, файлов: %(files)s.",
                archive=self.archive.name,
                when=formatting.datetime_short(self.made_at),
                customers=self.customers,
                files=self.files,
            )
        ]
        if self.saved_as:
            lines.append(_("Заменённые данные сохранены в %(path)s.", path=self.saved_as))
        if self.erased_again:
            lines.append(
                _(
                    "Повторно уничтожены данные клиентов, уничтоженные после копии: %(ids)s.",
                    ids=", ".join(f"№{i}" for i in self.erased_again),
                )
            )
        if self.deleted_again:
            lines.append(
                _(
                    "Повторно удалены клиенты, удалённые после копии: %(ids)s.",
                    ids=", ".join(f"№{i}" for i in self.deleted_again),
                )
            )
        return "\n".join(lines)


def backups_dir() -> Path:
    return Path(
        current_app.config.get("KARTOTEKA_BACKUP_DIR") or Path(current_app.config["INSTANCE_DIR"]) / "backups"
    )


def files_dir() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / FILES


def engine_name() -> str:
    return db.engine.dialect.name


def revision() -> str | None:
    """The schema's revision as Alembic recorded it (None: a database never migrated)."""
    with db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        heads = sorted(r[0] for r in connection.exec_driver_sql("SELECT version_num FROM alembic_version"))
    return ",".join(heads) or None


def _libpq_url() -> str:
    """The database's address as pg_dump and psql take it (no SQLAlchemy driver name)."""
    url = make_url(db.engine.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, check=True, capture_output=True, **kwargs)
    except FileNotFoundError:
        raise BackupError(
            _(
                "Не найдена программа %(program)s: установите клиент PostgreSQL той же версии, что и сервер "
                "(пакет postgresql-client).",
                program=command[0],
            )
        ) from None
    except subprocess.CalledProcessError as e:
        error = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise BackupError(
            _("%(program)s завершилась с ошибкой: %(error)s", program=command[0], error=(error or ["?"])[-1])
        ) from None


def _sqlite_path() -> Path:
    return Path(make_url(db.engine.url).database)


def _dump_database(target: Path) -> None:
    if engine_name() == "sqlite":
        with (
            contextlib.closing(sqlite3.connect(_sqlite_path())) as source,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--file={target}", _libpq_url()])


def _counts() -> tuple[int, int]:
    session = db.session
    return session.scalar(select(func.count(Customer.id))), session.scalar(
        select(func.count(CustomerFile.id))
    )


def backup(folder: str | os.PathLike | None = None, keep: int | None = None) -> Path:
    """Write an archive of the database and the files into ``folder`` (the configured
    backups folder by default); with ``keep``, only the ``keep`` newest archives of the
    folder stay. Returns the archive's path."""
    if keep is not None and keep < 1:
        raise BackupError(_("Сколько копий хранить: не меньше одной."))
    folder = Path(folder) if folder else backups_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = engine_name()
    if engine not in DATABASE:
        raise BackupError(_("Резервное копирование базы %(engine)s не поддерживается.", engine=engine))
    made_at = utcnow()  # before the copy starts: what comes after it is not in it
    customers, files = _counts()
    db.session.commit()  # the counts' transaction ends before the copy starts
    manifest = {
        "format": FORMAT,
        "application": "kartoteka",
        "engine": engine,
        "revision": revision(),
        "made_at": made_at.isoformat(),
        "customers": customers,
        "files": files,
    }
    name = f"{PREFIX}{made_at:%Y%m%d-%H%M%S}{SUFFIX}"
    target, n = folder / name, 1
    while target.exists():  # two copies within a second (a restore saves the one it replaces)
        n += 1
        target = folder / f"{PREFIX}{made_at:%Y%m%d-%H%M%S}-{n}{SUFFIX}"
    with tempfile.TemporaryDirectory(dir=folder, prefix=".backup-") as scratch:
        dump = Path(scratch) / DATABASE[engine]
        _dump_database(dump)
        part = Path(scratch) / name
        # readable by its owner only, from its first byte
        descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out, tarfile.open(fileobj=out, mode="w:gz") as archive:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = (
                len(data),
                int(made_at.replace(tzinfo=dt.UTC).timestamp()),
                0o600,
            )
            archive.addfile(info, fileobj=io.BytesIO(data))
            archive.add(dump, arcname=DATABASE[engine])
            if files_dir().is_dir():
                archive.add(files_dir(), arcname=FILES)
        os.replace(part, target)
    if keep:
        archives = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))
        for old in archives[:-keep]:
            old.unlink()
    return target


def read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        member = archive.getmember(MANIFEST)
        manifest = json.loads(archive.extractfile(member).read())
    except (KeyError, AttributeError, ValueError):
        raise BackupError(_("Это не резервная копия Картотеки: в архиве нет описания копии.")) from None
    if not isinstance(manifest, dict) or manifest.get("application") != "kartoteka":
        raise BackupError(_("Это не резервная копия Картотеки: в архиве нет описания копии."))
    if manifest.get("format") != FORMAT:
        raise BackupError(
            _("Копия сделана другой версией Картотеки (формат %(format)s).", format=manifest.get("format"))
        )
    return manifest


def _check_revision(made_by: str | None) -> None:
    """The archive's schema must be one this version's migrations know (then it is
    brought up to date); a newer one is refused."""
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    migrate: Migrate = current_app.extensions["migrate"]
    scripts = ScriptDirectory.from_config(migrate.migrate.get_config())
    for head in (made_by or "").split(","):
        if not head:
            continue
        try:
            known = scripts.get_revision(head)
        except Exception:  # alembic raises its own errors for unknown or malformed ids
            known = None
        if known is None:
            raise BackupError(
                _(
                    "Копия сделана более новой версией Картотеки (схема %(revision)s): обновите программу "
                    "и повторите восстановление.",
                    revision=head,
                )
            )


def _since(made_at: dt.datetime) -> tuple[list[int], list[int]]:
    """What the database being replaced did after the archive was made and a restore
    must not undo: the customers whose personal data were erased, and those deleted."""
    session = db.session
    tables = set(inspect(db.engine).get_table_names())
    erased, deleted = [], []
    if "subject_request" in tables:
        erased = list(
            session.scalars(
                select(SubjectRequest.customer_number)
                .where(
                    SubjectRequest.kind == SubjectRequestKind.ERASURE,
                    SubjectRequest.status == SubjectRequestStatus.DONE,
                    SubjectRequest.done_at > made_at,
                    SubjectRequest.customer_number.isnot(None),
                )
                .order_by(SubjectRequest.done_at)
            )
        )
    if "change_log" in tables:
        deleted = list(
            session.scalars(
                select(ChangeLog.entity_id)
                .where(ChangeLog.entity == "Customer", ChangeLog.action == "delete", ChangeLog.at > made_at)
                .order_by(ChangeLog.at)
            )
        )
    session.commit()
    return list(dict.fromkeys(erased)), list(dict.fromkeys(deleted))


def _replace_database(dump: Path) -> None:
    db.session.remove()
    db.engine.dispose()
    if engine_name() == "sqlite":
        with (
            contextlib.closing(sqlite3.connect(dump)) as source,
            contextlib.closing(sqlite3.connect(_sqlite_path())) as target,
        ):
            source.backup(target)  # page by page into the live file, in one transaction
        return
    script = _run(["pg_restore", "--no-owner", "--no-acl", "--file=-", str(dump)]).stdout
    reset = b"DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
    _run(
        ["psql", "--quiet", "--no-psqlrc", "--single-transaction", "-v", "ON_ERROR_STOP=1", _libpq_url()],
        input=reset + script,
    )


def _replace_files(source: Path | None) -> None:
    """The files folder becomes the archive's (an archive of a clinic without files
    empties it), swapped in by renames."""
    current = files_dir()
    current.parent.mkdir(parents=True, exist_ok=True)
    aside = current.with_name(f".{FILES}-replaced")
    shutil.rmtree(aside, ignore_errors=True)
    if current.exists():
        current.rename(aside)
    if source is not None and source.is_dir():
        shutil.move(str(source), current)
    else:
        current.mkdir()
    shutil.rmtree(aside, ignore_errors=True)


def _repeat(erased: list[int], deleted: list[int], made_at: dt.datetime) -> tuple[list[int], list[int]]:
    """The erasures and deletions the replaced database had made since the archive."""
    session = db.session
    again_erased, again_deleted = [], []
    basis = _(
        "Повторно после восстановления из резервной копии от %(when)s: данные были уничтожены после неё",
        when=formatting.datetime_short(made_at),
    )
    for cid in erased:
        customer = session.get(Customer, cid)
        if customer is None or cid in deleted:
            continue
        subjects.erase(session, customer, basis, settled=False)
        session.commit()
        subjects.discard_contents(session)
        again_erased.append(cid)
    for cid in deleted:
        customer = session.get(Customer, cid)
        if customer is None:
            continue
        session.delete(customer)
        session.commit()
        again_deleted.append(cid)
    return again_erased, again_deleted


def restore(path: str | os.PathLike, save_current: bool = True) -> Restored:
    """Put the archive's database and files in place of the current ones (the web and
    the workers stopped), after saving the current ones as an archive of their own."""
    from flask_migrate import upgrade

    path = Path(path)
    try:
        archive = tarfile.open(path, mode="r:gz")
    except (OSError, tarfile.TarError):
        raise BackupError(_("Файл %(name)s не читается как архив tar.gz.", name=path.name)) from None
    with archive, tempfile.TemporaryDirectory(dir=files_dir().parent, prefix=".restore-") as scratch:
        manifest = read_manifest(archive)
        engine = engine_name()
        if manifest.get("engine") != engine:
            raise BackupError(
                _(
                    "Копия сделана с базой %(theirs)s, а Картотека работает с %(ours)s: восстановите её "
                    "в такую же базу.",
                    theirs=manifest.get("engine"),
                    ours=engine,
                )
            )
        _check_revision(manifest.get("revision"))
        try:
            made_at = dt.datetime.fromisoformat(manifest["made_at"])
        except (KeyError, TypeError, ValueError):
            raise BackupError(_("Это не резервная копия Картотеки: в архиве нет описания копии.")) from None
        names = set(archive.getnames())
        if DATABASE[engine] not in names:
            raise BackupError(_("В копии нет базы данных: архив неполон."))
        try:
            archive.extractall(scratch, filter="data")  # no absolute paths, no links out of it
        except (tarfile.TarError, OSError) as e:
            raise BackupError(_("Архив повреждён: %(error)s", error=str(e))) from None
        erased, deleted = _since(made_at)
        saved = backup(backups_dir()) if save_current and revision() is not None else None
        _replace_database(Path(scratch) / DATABASE[engine])
        _replace_files(Path(scratch) / FILES)
    upgrade(revision="heads")
    report = Restored(path, made_at, saved)
    report.erased_again, report.deleted_again = _repeat(erased, deleted, made_at)
    refresh_statistics(db.session, tables=("customer",))
    report.customers, report.files = _counts()
    db.session.commit()
    return report
