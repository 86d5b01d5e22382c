"""The README's «Adding a tab to the card», followed as written: its blocks are applied to
a copy of the project, its commands run there, and the new tab is checked on the card,
on every address of its screen and in its API, as every role."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What the README's matrix lines give each role (pinned here, not read from the copy).
EXPECTED = {
    "sysadmin": {"tab": False, "list": 403, "add": 403, "api": 403},
    "manager": {"tab": True, "list": 200, "add": 302, "api": 200},
    "reception": {"tab": True, "list": 200, "add": 302, "api": 200},
    "doctor": {"tab": True, "list": 200, "add": 403, "api": 200},
    "auditor": {"tab": True, "list": 200, "add": 403, "api": 200},
}

CHECK = r"""
import json, sys
from config import TestConfig
from app import create_app
from app.access import ROLES
from app.extensions import db
from sqlalchemy import event

app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=sys.argv[1], SECRET_KEY="x", INSTANCE_DIR=sys.argv[2])
from app import models
results = {}
with app.app_context():
    sm = app.appbuilder.sm
    for key, spec in ROLES.items():
        if sm.find_user(username=key) is None:
            sm.add_user(key, key, "Тест", f"{key}@test.example", [sm.find_role(spec.name)], password="correct-horse-battery-staple")
    customer = models.Customer(last_name="Иванова", first_name="Анна", phone="+79161234567", name_search=" иванова анна")
    db.session.add(customer)
    db.session.flush()
    db.session.add(models.ContactPerson(customer=customer, name="Иванов Пётр", relation="отец"))
    doctor = sm.find_user(username="doctor")
    db.session.add(models.Order(customer=customer, specialist_id=doctor.id))
    db.session.commit()
    customer_id = customer.id
for key in ROLES:
    client = app.test_client()
    assert client.post("/login/", data={"username": key, "password": "correct-horse-battery-staple"}).status_code == 302
    statements = []
    with app.app_context():
        engine = db.engine
    listen = lambda *args: statements.append(args[2])
    client.get(f"/customerview/show/{customer_id}")  # the first visit writes the session's row
    event.listen(engine, "before_cursor_execute", listen)
    card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    event.remove(engine, "before_cursor_execute", listen)
    tabs = card.count('role="tab"')
    added = client.post("/contactpersonview/add", data={"customer": str(customer_id), "name": "Иванова Мария", "relation": "мать"})
    results[key] = {
        "tab": 'href="#contacts"' in card and "Иванов Пётр" in card,
        # the access journal's one INSERT (issue 19) is not a read of the page
        "card_statements": len([s for s in statements if not s.lstrip().upper().startswith("INSERT INTO ACCESS_LOG")]),
        "journal_inserts": len([s for s in statements if s.lstrip().upper().startswith("INSERT INTO ACCESS_LOG")]),
        "visible_tabs": tabs,
        "list": client.get("/contactpersonview/list/").status_code,
        "add": added.status_code,
        "api": client.get("/api/v1/contacts/").status_code,
        "api_names": sorted(r["name"] for r in (client.get("/api/v1/contacts/").get_json() or {}).get("result", [])),
    }
with app.app_context():
    results["_stored"] = sorted(p.name for p in db.session.query(models.ContactPerson))
print(json.dumps(results, ensure_ascii=False))
"""


def readme_steps() -> tuple[list[tuple[str, str]], list[str]]:
    """The section's code: (file, block) to append, and the shell commands in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Adding a tab to the card", 1)[1].split("\n## ", 1)[0]
    blocks, commands = [], []
    for language, code in re.findall(r"```(python|bash)\n(.*?)```", section, re.S):
        if language == "python":
            header, _newline, body = code.partition("\n")
            found = re.fullmatch(r"# (app/[\w/]+\.py): append", header.strip())
            assert found, header
            blocks.append((found[1], body))
        else:
            for line in code.splitlines():
                command = line.split("#", 1)[0].strip()
                if command:
                    commands.append(command)
    return blocks, commands


def test_the_readme_says_how_to_add_a_tab():
    blocks, commands = readme_steps()
    assert [path for path, _ in blocks] == ["app/models.py", "app/access.py", "app/views.py", "app/api.py"]
    assert any("db migrate" in c for c in commands) and any("kartoteka init" in c for c in commands)


@pytest.mark.slow
def test_a_tab_added_as_the_readme_says_follows_the_matrix_everywhere(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "instance", "test-artifacts", "__pycache__", "tests", "bench"
        ),
    )
    blocks, commands = readme_steps()
    for path, block in blocks:
        with (copy / path).open("a", encoding="utf-8") as f:
            f.write("\n\n" + block)
    instance = tmp_path / "instance"
    database = f"sqlite:///{tmp_path / 'clinic.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "KARTOTEKA_INSTANCE": str(instance),
        "SECRET_KEY": "test-secret-key",
        "PYTHONPATH": str(copy),
    }
    env.pop("REDIS_URL", None)
    run = lambda args: subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True, timeout=300)  # noqa: E731
    # the migration compares the models with a database at the current head
    upgraded = run([sys.executable, "-m", "flask", "--app", "app:create_app", "db", "upgrade"])
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    for command in commands:
        words = shlex.split(command)
        if words[0] == "make":
            continue  # the catalogs: the copy reads no new translation
        assert words[0] == "flask", command
        done = run([sys.executable, "-m", *words])
        assert done.returncode == 0, (command, done.stderr[-2000:])
    (migration,) = [
        p for p in (copy / "migrations" / "versions").glob("*.py") if "contact_person" in p.read_text()
    ]
    assert "create_table" in migration.read_text()
    check = tmp_path / "check.py"
    check.write_text(CHECK, encoding="utf-8")
    checked = run([sys.executable, str(check), database, str(instance)])
    assert checked.returncode == 0, checked.stderr[-3000:]
    results = json.loads(checked.stdout.strip().splitlines()[-1])
    stored = results.pop("_stored")
    for role, expected in EXPECTED.items():
        got = results[role]
        assert {k: got[k] for k in expected} == expected, role
        # the card's statements: the same ceiling as every card (4 + the tabs it shows
        # besides «Основное»)
        assert got["card_statements"] <= 4 + got["visible_tabs"] - 1, (role, got)
        assert got["journal_inserts"] == 1, (role, got)
        if got["api"] == 200:
            assert "Иванов Пётр" in got["api_names"]
    # the manager and the front desk added a contact each; nobody else could
    assert stored == ["Иванов Пётр", "Иванова Мария", "Иванова Мария"]
