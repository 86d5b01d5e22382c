"""The README's production checklist works when pasted in order.

Its block runs as written in a scratch copy of the code, against a scratch PostgreSQL
database and a Redis of the test's own, except what a test cannot do: the ``sudo`` lines
(PostgreSQL's user, the system user, systemd) and the virtualenv (the suite's own stands
in). Editing the environment file is the one manual step: the test writes it from
deploy/kartoteka.env.example with its database, Redis, secret key and mail server. Where
the checklist enables the services, the test starts what the units in deploy/ would start
(their ExecStart, WorkingDirectory and EnvironmentFile), then the checklist's health check
must pass and a welcome e-mail must go out through them. PostgreSQL only: it is the
production path.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = "/etc/kartoteka/kartoteka.env"
CODE = "/opt/kartoteka"


def checklist() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- production-checklist -->", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def systemd_unit(name: str) -> dict[str, str]:
    unit = {}
    for line in (ROOT / "deploy" / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            unit[key.strip()] = value.strip()
    return unit


def environment_file(path: Path) -> dict[str, str]:
    """As systemd reads an EnvironmentFile: KEY=VALUE lines, # comments, "quoted" values."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().removeprefix('"').removesuffix('"')
    return values


@pytest.fixture
def scratch_database(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the production checklist runs on PostgreSQL")
    import psycopg

    admin = re.sub(r"^postgresql\+psycopg://", "postgresql://", database_url).rsplit("/", 1)[0] + "/postgres"
    name = f"kartoteka_checklist_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_production_checklist_works_pasted_in_order(scratch_database, tmp_path):
    from aiosmtpd.controller import Controller

    code = tmp_path / "kartoteka"
    shutil.copytree(
        ROOT,
        code,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "instance", "__pycache__", "test-artifacts", "results"
        ),
    )
    (code / ".venv").symlink_to(sys.prefix)  # the checklist's virtualenv: the suite's own
    redis = RedisServer(tmp_path)
    redis.start()
    received = []

    class Mail:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content.decode())
            return "250 OK"

    smtp_port = free_port()
    mail = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
    mail.start()
    # The manual step: the environment file, edited as the checklist says.
    env_file = tmp_path / "kartoteka.env"
    example = (code / "deploy" / "kartoteka.env.example").read_text()
    edits = {
        "DATABASE_URL": scratch_database,
        "REDIS_URL": redis.url,
        "SECRET_KEY": secrets.token_hex(32),
        "KARTOTEKA_INSTANCE": str(tmp_path / "var"),
        "SMTP_PORT": str(smtp_port),
    }
    for key, value in edits.items():
        example = re.sub(rf"^{key}=.*$", f"{key}={value}", example, flags=re.M)
    env_file.write_text(example)
    (tmp_path / "var").mkdir()

    before, after, enabled = [], [], False  # the checklist before and after it enables the services
    for line in checklist():
        enabled = enabled or line.startswith("sudo systemctl enable")
        if line.startswith("sudo ") or line.startswith(("python3 -m venv", ".venv/bin/pip ")):
            continue
        (after if enabled else before).append(line.replace(ENV_FILE, str(env_file)))
    sourcing = next(line for line in before if line.startswith("set -a"))
    shell_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}

    def run(script_lines, stdin=""):
        return subprocess.run(
            ["bash", "-e", "-c", "\n".join(script_lines)],
            cwd=code,
            env=shell_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    services = []
    try:
        first = run(before, stdin="Пароль-для-проверки-1\nПароль-для-проверки-1\n")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

        # `systemctl enable --now …`: what the units in deploy/ start.
        web_port = free_port()
        for unit_name, label in (
            ("kartoteka-web.service", "web"),
            ("kartoteka-worker@.service", "worker-1"),
            ("kartoteka-sweeper.service", "sweeper"),
        ):
            unit = systemd_unit(unit_name)
            assert unit["EnvironmentFile"] == ENV_FILE and unit["Restart"] == "always"
            command = shlex.split(
                unit["ExecStart"].replace(CODE, str(code)).replace("127.0.0.1:8000", f"127.0.0.1:{web_port}")
            )
            log = open(tmp_path / f"{label}.log", "wb")  # noqa: SIM115 - the process keeps it
            services.append(
                subprocess.Popen(
                    command,
                    cwd=unit["WorkingDirectory"].replace(CODE, str(code)),
                    env={**shell_env, **environment_file(env_file)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()

        for _ in range(120):  # the health check passes once the workers are connected
            second = run([sourcing, *after])
            if second.returncode == 0:
                break
            time.sleep(0.5)
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.startswith("status: ok")

        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login/", timeout=30) as page:
            # the clinic's name from the environment file heads the page
            assert page.status == 200 and "<title>Вход — Клиника «Здоровье»</title>" in page.read().decode()

        # A welcome e-mail goes out through the units' worker.
        script = (
            "from app import create_app, notifications\n"
            "from app.customers import prepare_customer\n"
            "from app.extensions import db\n"
            "from app.models import Channel, Customer, MessageType\n"
            "app = create_app()\n"
            "with app.test_request_context():\n"
            "    c = Customer(last_name='Проверкина', first_name='Ирина', email='first.customer@example.ru')\n"
            "    prepare_customer(db.session, c)\n"
            "    db.session.add(c)\n"
            "    db.session.flush()\n"
            "    notifications.queue_notification(db.session, c, MessageType.WELCOME, (Channel.EMAIL,))\n"
            "    db.session.commit()\n"
        )
        queued = run([sourcing, f".venv/bin/python -c {shlex.quote(script)}"])
        assert queued.returncode == 0, queued.stderr[-3000:]
        for _ in range(120):
            if received:
                break
            time.sleep(0.25)
        assert received and "first.customer@example.ru" in received[0]
        body = email.message_from_string(received[0], policy=email.policy.default).get_body().get_content()
        assert "Ирина, добро пожаловать! Вас приветствует Клиника «Здоровье»." in body
        assert not (tmp_path / "var" / "kartoteka.db").exists()  # nothing fell back to SQLite
    finally:
        for process in services:
            process.terminate()
        for process in services:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(15)
            if process.poll() is None:
                process.kill()
        mail.stop()
        redis.stop()
