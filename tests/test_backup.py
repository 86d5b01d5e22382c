"""Backups and the restore, as a clinic's IT person runs them (`flask kartoteka backup`,
`flask kartoteka restore`), on the suite's engine: a database of their own (a SQLite file,
or a PostgreSQL database made for the test) and an instance folder with the files."""

from __future__ import annotations

import contextlib
import json
import stat
import tarfile

import pytest
from sqlalchemy import select

from app import backups, files, subjects
from app.extensions import db
from app.models import ChangeLog, Customer, CustomerStatus, SubjectRequest, SubjectRequestKind
from tests import factories
from tests.test_week import clinic_database

SCAN = b"%PDF-1.4\nBACKUP-SCAN\n%%EOF\n"


@contextlib.contextmanager
def migrated_clinic(tmp_path, suffix: str):
    """A migrated clinic of its own: the app, its instance folder and nothing else."""
    from flask_migrate import upgrade

    from app import create_app
    from config import TestConfig

    with clinic_database(tmp_path, suffix) as url:
        app = create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=url,
            INSTANCE_DIR=str(tmp_path / "instance"),
            SECRET_KEY="backup-test",
            KARTOTEKA_BACKUP_DIR=str(tmp_path / "backups"),
        )
        with app.app_context():
            upgrade(revision="heads")
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


@pytest.fixture
def clinic(tmp_path):
    with migrated_clinic(tmp_path, "backup") as app:
        yield app


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """One clinic for the refused archives: a refusal changes nothing, which they check."""
    tmp_path = tmp_path_factory.mktemp("refusing")
    with migrated_clinic(tmp_path, "backup_refusing") as app:
        customer = factories.customer(last_name="Смирнова")
        files.add_file(db.session, customer, "паспорт.pdf", SCAN)
        db.session.commit()
        yield app, tmp_path


def names() -> dict[int, str]:
    return dict(db.session.execute(select(Customer.id, Customer.last_name)).all())


def test_a_restore_puts_back_the_database_and_files_and_repeats_the_erasures_and_deletions(clinic, tmp_path):
    session = db.session
    kept = factories.customer(last_name="Смирнова", phone="+79161112233")
    scan = files.add_file(session, kept, "паспорт.pdf", SCAN)
    to_erase = factories.customer(last_name="Кузнецов", first_name="Пётр", phone="+79162223344")
    to_delete = factories.customer(last_name="Попова", phone="+79163334455")
    session.commit()
    scan_path = files.stored_path(scan)

    archive = backups.backup(tmp_path / "nightly")

    # the archive: its owner's only, saying what it holds
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        assert f"files/{scan.stored_name[:2]}/{scan.stored_name}" in tar.getnames()
    assert manifest["engine"] == db.engine.dialect.name
    assert (manifest["customers"], manifest["files"]) == (3, 1)
    assert manifest["revision"] == backups.revision()

    # the day after the copy: a name typed wrong, a new customer, an erasure, a deletion, a lost file
    kept.last_name = "Смирнова-ОШИБКА"
    newcomer = factories.customer(last_name="Новиков", phone="+79164445566")
    subjects.erase(session, to_erase, "Заявление клиента от 01.12.2026")
    session.commit()
    subjects.discard_contents(session)
    session.delete(to_delete)
    session.commit()
    scan_path.unlink()
    kept_id, newcomer_id, erased_id, deleted_id = kept.id, newcomer.id, to_erase.id, to_delete.id

    report = backups.restore(archive)

    session = db.session
    restored = names()
    assert restored[kept_id] == "Смирнова"  # as it was
    assert newcomer_id not in restored  # after the copy: gone (and kept in the saved archive)
    assert deleted_id not in restored  # deleted after the copy: deleted again
    erased = session.get(Customer, erased_id)
    assert erased.status == CustomerStatus.ERASED and erased.phone is None and erased.first_name is None
    assert erased_id in report.erased_again and deleted_id in report.deleted_again
    acts = session.scalars(
        select(SubjectRequest).where(
            SubjectRequest.customer_id == erased_id, SubjectRequest.kind == SubjectRequestKind.ERASURE
        )
    ).all()
    assert [a.basis.startswith("Повторно после восстановления") for a in acts] == [True]
    assert session.scalar(
        select(ChangeLog.id).where(ChangeLog.entity == "Customer", ChangeLog.entity_id == deleted_id)
    )
    assert scan_path.read_bytes() == SCAN  # the file is back
    assert backups.revision() == manifest["revision"]
    text = str(report)
    assert "клиентов: 2, файлов: 1" in text and f"№{erased_id}" in text and f"№{deleted_id}" in text

    # what the restore replaced is an archive of its own: the newcomer is in it
    assert report.saved_as.parent == tmp_path / "backups"
    with tarfile.open(report.saved_as) as tar:
        assert json.loads(tar.extractfile("manifest.json").read())["customers"] == 3


def corrupt(path, manifest: dict | None, database: bool = True):
    with tarfile.open(path, "w:gz") as tar:
        if manifest is not None:
            path.with_suffix(".json").write_text(json.dumps(manifest))
            tar.add(path.with_suffix(".json"), arcname="manifest.json")
        if database:
            path.with_suffix(".db").write_bytes(b"not a database")
            for name in backups.DATABASE.values():
                tar.add(path.with_suffix(".db"), arcname=name)
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("not a tar", "не читается как архив"),
        ("no manifest", "не резервная копия Картотеки"),
        ("another engine", "Копия сделана с базой"),
        ("a newer schema", "более новой версией Картотеки"),
        ("no database", "В копии нет базы данных"),
    ],
)
def test_a_wrong_archive_is_refused_in_russian_and_changes_nothing(refusing, kind, message):
    _app, tmp_path = refusing
    good = {
        "format": 1,
        "application": "kartoteka",
        "engine": db.engine.dialect.name,
        "revision": backups.revision(),
        "made_at": "2026-12-01T10:00:00",
    }
    path = tmp_path / f"{kind}.tar.gz"
    if kind == "not a tar":
        path.write_bytes(b"garbage")
    elif kind == "no manifest":
        corrupt(path, None)
    elif kind == "another engine":
        corrupt(path, {**good, "engine": "sqlite" if good["engine"] != "sqlite" else "postgresql"})
    elif kind == "a newer schema":
        corrupt(path, {**good, "revision": "9999"})
    else:
        corrupt(path, good, database=False)
    before = (names(), sorted(p.name for p in (tmp_path / "instance" / "files").rglob("*")))

    with pytest.raises(backups.BackupError) as refused:
        backups.restore(path)

    assert message in str(refused.value)
    assert (names(), sorted(p.name for p in (tmp_path / "instance" / "files").rglob("*"))) == before
    assert not (tmp_path / "backups").exists()  # nothing was replaced, so nothing was saved aside


def test_the_commands_keep_the_newest_copies_and_ask_before_replacing(clinic, tmp_path):
    runner = clinic.test_cli_runner()
    factories.customer(last_name="Смирнова")
    folder = tmp_path / "nightly"
    made = []
    for _ in range(3):
        result = runner.invoke(args=["kartoteka", "backup", "--to", str(folder), "--keep", "2"])
        assert result.exit_code == 0, result.output
        made.append(result.output.strip())
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.rsplit("/", 1)[-1] for p in made[1:])
    assert "не меньше одной" in runner.invoke(args=["kartoteka", "backup", "--keep", "0"]).output

    factories.customer(last_name="Новиков", phone="+79165556677")
    answer_no = runner.invoke(args=["kartoteka", "restore", made[-1]], input="n\n")
    assert answer_no.exit_code != 0 and "Веб-сервер и обработчики остановлены?" in answer_no.output
    assert sorted(names().values()) == ["Новиков", "Смирнова"]  # not asked: nothing replaced

    done = runner.invoke(args=["kartoteka", "restore", "--yes", made[-1]])
    assert done.exit_code == 0, done.output
    assert "клиентов: 1," in done.output
    db.session.remove()
    assert list(names().values()) == ["Смирнова"]
    refused = runner.invoke(args=["kartoteka", "restore", "--yes", str(tmp_path / "nightly")])
    assert refused.exit_code != 0
