"""A clinic's first week in a real Russian browser, from an empty database (issue 14).

The clinic is started as a clinic starts it: ``flask db upgrade``, ``flask kartoteka
init`` and ``flask fab create-admin`` in a scratch folder, then ``flask run``, with no
demo data; the server runs in UTC, the clinic in Vladivostok (UTC+10) and the browser
in São Paulo (UTC−3), so that a time read on the wrong clock cannot pass. Messages go
to files (``<instance>/outbox/``) and are delivered by ``flask worker --burst``.

The tests are the days of one week, in order: each plays what a role does, typing
with the keyboard into Debian's chromium started in Russian, and compares what was
stored (read from the clinic's database) and what the customer was sent with what
was typed. A day that needs an earlier one runs it first when it has not run yet,
so any test can be run alone.

On SQLite the clinic keeps a file of its own; when the suite runs on PostgreSQL
(TEST_DATABASE_URL), the clinic gets an empty database of its own on that server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CLINIC_ZONE = "Asia/Vladivostok"
BROWSER_ZONE = "America/Sao_Paulo"
FLASK = [sys.executable, "-m", "flask", "--app", "app:create_app"]

pytestmark = pytest.mark.browser


# -- who works at the clinic, and who comes -------------------------------------------------


@dataclass(frozen=True)
class Staff:
    username: str
    first_name: str
    last_name: str
    role: str  # the role as the roles select shows it
    typed_role: str  # what the administrator types to find it
    password: str = "Пароль-клиники-2026"

    @property
    def email(self) -> str:
        return f"{self.username}@clinic.example"

    @property
    def name(self) -> str:  # as FAB's selects name a user
        return f"{self.first_name} {self.last_name}"


ADMIN = Staff("admin", "Ирина", "Админова", "Администратор системы", "")
RECEPTION = Staff("olga", "Ольга", "Регистраторова", "Администратор (ресепшн)", "ресеп")
DOCTOR = Staff("elena", "Елена", "Докторова", "Специалист", "Специал")
MANAGER = Staff("petr", "Пётр", "Управов", "Управляющий", "Управ")
STAFF = (RECEPTION, DOCTOR, MANAGER)


@dataclass(frozen=True)
class Person:
    last_name: str
    first_name: str
    phone: str  # as the receptionist types it
    e164: str  # as it must be stored
    middle_name: str = ""
    born: str = ""
    email: str = ""
    city: str = ""
    gender: str = ""
    with_manager: bool = False
    category: str = ""
    tag: str = ""


PEOPLE = (
    Person(
        "Петрова",
        "Мария",
        "8 916 555-12-34",
        "+79165551234",
        born="15.03.1990",
        gender="Женский",
        category="Постоянный клиент",
        tag="VIP",
    ),
    Person(
        "Сидорова",
        "Анна",
        "+7 (916) 555-12-35",
        "+79165551235",
        middle_name="Сергеевна",
        born="01.12.1985",
        email="anna.sidorova@example.ru",
        city="Владивосток",
        with_manager=True,
    ),
    Person("Ёлкина", "Вера", "89165551236", "+79165551236"),
    Person("Кузнецов", "Иван", "916 555 12 37", "+79165551237", born="29.02.2000", gender="Мужской"),
    Person("Орлов", "Пётр", "8 (903) 111-22-33", "+79031112233", gender="Мужской", tag="VIP"),
)
BY_NAME = {p.last_name: p for p in PEOPLE}
SERVICE, SERVICE_PRICE = "Консультация терапевта", Decimal("2500.00")
BRANCH = "Центральный"
COMPANY = "ООО «Ромашка»"
NOTICE = "Клиника не работает 31 декабря. Ждём вас в январе!"


def clinic_today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(CLINIC_ZONE)).date()


def tomorrow_at_10_30() -> tuple[str, dt.datetime]:
    """«dd.mm.yyyy 10:30» of the clinic's tomorrow, and that moment in naive UTC."""
    day = clinic_today() + dt.timedelta(days=1)
    local = dt.datetime.combine(day, dt.time(10, 30), tzinfo=zoneinfo.ZoneInfo(CLINIC_ZONE))
    return f"{day:%d.%m.%Y} 10:30", local.astimezone(dt.UTC).replace(tzinfo=None)


# -- the clinic: processes started from nothing -------------------------------------------


class Clinic:
    """Kartoteka installed in a scratch folder and served by ``flask run``."""

    def __init__(self, folder: Path, database_url: str, redis_url: str):
        self.folder = folder
        self.instance = folder / "instance"
        self.outbox_dir = self.instance / "outbox"
        self.database_url = database_url
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "KARTOTEKA_", "NOTIFY_"))}
        self.env = {
            **keep,
            "KARTOTEKA_INSTANCE": str(self.instance),
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_hex(32),
            "REDIS_URL": redis_url,
            "RQ_QUEUE": f"week-{os.getpid()}",  # nothing another test left on the suite's Redis
            "NOTIFY_SMS": "file",
            "NOTIFY_EMAIL": "file",
            "NOTIFY_PUSH": "off",
            "KARTOTEKA_TIMEZONE": CLINIC_ZONE,
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
        }
        self.engine = create_engine(database_url)
        self.server = None
        self.url = ""

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [*FLASK, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"flask {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def install(self) -> None:
        self.flask("db", "upgrade")
        self.flask("kartoteka", "init")
        self.flask(
            "fab",
            "create-admin",
            "--username",
            ADMIN.username,
            "--firstname",
            ADMIN.first_name,
            "--lastname",
            ADMIN.last_name,
            "--email",
            ADMIN.email,
            "--password",
            ADMIN.password,
        )

    def start(self) -> None:
        port = free_port()
        self.log = (self.folder / "server.log").open("w")
        self.server = subprocess.Popen(
            [*FLASK, "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                break
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/login/", timeout=1):
                return
            time.sleep(0.2)
        pytest.fail("the clinic's server did not start:\n" + (self.folder / "server.log").read_text()[-3000:])

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.log.close()
        self.engine.dispose()

    def deliver(self) -> str:
        """What a clinic's worker does: deliver everything queued, then exit."""
        return self.flask("worker", "--burst")

    def db(self) -> Session:
        return Session(self.engine)

    def outbox(self) -> dict[str, dict]:
        """The messages the customers were sent: file name -> recipient, subject, text."""
        sent = {}
        for path in sorted(self.outbox_dir.glob("*.txt")) if self.outbox_dir.exists() else []:
            head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
            headers = dict(line.split(": ", 1) for line in head.splitlines())
            sent[path.name] = {"to": headers["To"], "subject": headers["Subject"], "body": body.strip()}
        return sent


@contextlib.contextmanager
def clinic_database(tmp: Path, suffix: str = "week"):
    """An empty database for the clinic: a SQLite file, or a PostgreSQL database of its own
    (named for the run's and ``suffix``: two open at once need two suffixes)."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp / 'kartoteka.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{suffix}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        # the suite's own setting (tests/run_suites.py): a scratch database, commits need not wait for the disk
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the week: days run once, in order, each after the days it needs ----------------------


class Week:
    def __init__(self, clinic: Clinic, browser):
        self.clinic = clinic
        self.browser = browser
        self.pages: dict[str, object] = {}
        self.errors: dict[str, list[str]] = {}
        self.outcome: dict[str, object] = {}
        self.ids: dict[str, int] = {}  # customers' and orders' ids, by name

    def run(self, day):
        """Play ``day`` once; later days that need it get what it returned."""
        name = day.__name__
        if name in self.outcome:
            result = self.outcome[name]
            if isinstance(result, Failed):
                pytest.fail(f"{name}, which this day needs, failed")
            return result
        self.outcome[name] = Failed()
        self.outcome[name] = result = day(self)
        return result

    def page(self, who: Staff):
        """The browser tab of one member of staff, signed in (a context of their own)."""
        if who.username not in self.pages:
            context = self.browser.new_context(
                viewport={"width": 1300, "height": 900}, locale="ru-RU", timezone_id=BROWSER_ZONE
            )
            page = context.new_page()
            page.set_default_timeout(10_000)
            errors = self.errors.setdefault(who.username, [])
            page.on("pageerror", lambda error: errors.append(str(error)))
            sign_in(page, self.clinic.url, who)
            self.pages[who.username] = page
        return self.pages[who.username]

    def no_script_errors(self) -> None:
        assert {who: errors for who, errors in self.errors.items() if errors} == {}


class Failed:
    pass


@pytest.fixture(scope="module")
def week(browser, redis_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clinic")
    with clinic_database(folder) as database_url:
        clinic = Clinic(folder, database_url, redis_server.url)
        week = Week(clinic, browser)
        try:
            clinic.install()
            clinic.start()
            yield week
        finally:
            for page in week.pages.values():
                with contextlib.suppress(Exception):  # the browser is the session's: its tabs close here
                    page.context.close()
            clinic.stop()


@pytest.fixture(autouse=True)
def screenshots_of_a_failure(request, week):
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for who, page in week.pages.items():
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"week-{request.node.name}-{who}.png"), full_page=True)


# -- how staff work the screens ----------------------------------------------------------


def sign_in(page, url: str, who: Staff) -> None:
    page.goto(f"{url}/login/")
    page.click("#username")
    page.keyboard.type(who.username)
    page.click("#password")
    page.keyboard.type(who.password)
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.keyboard.press("Enter")
    page.wait_for_url("**/customerview/list/")


def open_menu(page, menu: str, item: str) -> None:
    """A screen opened from the navigation bar, as staff open it."""
    page.locator(".navbar a.dropdown-toggle", has_text=menu).click()
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.locator(
            ".navbar .dropdown-menu:visible a", has_text=re.compile(rf"^\s*{re.escape(item)}\s*$")
        ).click()


def click_add(page) -> None:
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.locator("a.btn-primary[href*='/add']").first.click()


def type_into(page, selector: str, text: str) -> None:
    page.click(selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def save(page) -> None:
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.click("button[type=submit]:has-text('Сохранить')")


def choose(page, box, typed: str, option: str) -> None:
    """A Select2 box from the keyboard: focused, opened with Enter, the typed text goes
    to its search box, Enter takes the highlighted option."""
    box.locator(".select2-selection").focus()
    page.keyboard.press("Enter")
    page.keyboard.type(typed)
    page.locator(".select2-results__option--highlighted", has_text=option).wait_for()
    page.keyboard.press("Enter")


def choose_many(page, box, typed: str, option: str) -> None:
    """A multiple Select2 box: typed into its own search field, Enter takes the option."""
    box.locator(".select2-search__field").click()
    page.keyboard.type(typed)
    page.locator(".select2-results__option--highlighted", has_text=option).wait_for()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def field_box(page, name: str):
    """The Select2 box drawn for the select ``#name``."""
    return page.locator(f"#{name} + .select2")


def clipped(box) -> bool:
    """Whether a Select2 box cuts off the option it shows."""
    return box.locator(".select2-selection__rendered").evaluate("e => e.scrollWidth > e.clientWidth")


def flash(page) -> list[str]:
    return [text.replace("×", "").strip() for text in page.locator(".alert").all_inner_texts()]


def shown_ids(page) -> list[int]:
    """The customers a list shows, by the ID column."""
    return [int(text) for text in page.locator("table.kartoteka-list td.col-id").all_inner_texts()]


# -- Monday: the system administrator sets up the clinic --------------------------------


def set_up_the_clinic(week: Week) -> None:
    """The administrator enters the catalogue and the staff, everything through the UI."""
    page = week.page(ADMIN)
    open_menu(page, "Справочники", "Услуги и товары")
    click_add(page)
    type_into(page, "#name", SERVICE)
    type_into(page, "#price", "2 500")
    save(page)  # «Активна» left as the form offers it
    assert "Запись добавлена" in flash(page)
    for menu_item, fields in (
        ("Филиалы", {"#name": BRANCH, "#address": "Владивосток, ул. Светланская, 1"}),
        ("Категории клиентов", {"#name": "Постоянный клиент"}),
        ("Теги", {"#name": "VIP"}),
    ):
        open_menu(page, "Справочники", menu_item)
        click_add(page)
        for selector, text in fields.items():
            type_into(page, selector, text)
        save(page)
        assert "Запись добавлена" in flash(page), menu_item

    for who in STAFF:
        open_menu(page, "Безопасность", "Список пользователей")
        click_add(page)
        type_into(page, "#first_name", who.first_name)
        type_into(page, "#last_name", who.last_name)
        type_into(page, "#username", who.username)
        type_into(page, "#email", who.email)
        assert "The user group" not in page.locator("form").inner_text()  # FAB's English, once
        choose_many(page, field_box(page, "roles"), who.typed_role, who.role)
        type_into(page, "#password", who.password)
        type_into(page, "#conf_password", who.password)
        save(page)
        assert "Запись добавлена" in flash(page), who.username

    from flask_appbuilder.security.sqla.models import User

    from app.models import Branch, CatalogItem, CatalogKind, CustomerCategory, Tag

    with week.clinic.db() as db:
        service = db.scalars(select(CatalogItem)).one()
        assert (service.name, service.kind, service.price, service.active) == (
            SERVICE,
            CatalogKind.SERVICE,
            SERVICE_PRICE,
            True,  # a new service is offered for booking without ticking anything
        )
        assert [b.name for b in db.scalars(select(Branch))] == [BRANCH]
        assert [c.name for c in db.scalars(select(CustomerCategory))] == ["Постоянный клиент"]
        assert [t.name for t in db.scalars(select(Tag))] == ["VIP"]
        users = {
            u.username: (u.first_name, u.last_name, u.email, u.active, [r.name for r in u.roles])
            for u in db.scalars(select(User))
        }
    assert users == {
        who.username: (who.first_name, who.last_name, who.email, True, [who.role]) for who in (ADMIN, *STAFF)
    }
    week.no_script_errors()


def test_monday_the_administrator_sets_up_the_catalogue_and_the_staff(week):
    week.run(set_up_the_clinic)
    for who in STAFF:  # each signs in with the password the administrator typed
        assert week.page(who).locator(".navbar").inner_text().count(who.name) == 1


# -- the front desk registers the customers ------------------------------------------------


def register_customers(week: Week) -> None:
    week.run(set_up_the_clinic)
    page = week.page(RECEPTION)
    for person in PEOPLE:
        open_menu(page, "Клиенты", "Клиенты")
        click_add(page)
        managers = page.locator("#manager option").all_inner_texts()
        assert MANAGER.name in managers  # staff who look after customers, not everyone
        assert {ADMIN.name, DOCTOR.name} & set(managers) == set()
        type_into(page, "#last_name", person.last_name)
        type_into(page, "#first_name", person.first_name)
        if person.middle_name:
            type_into(page, "#middle_name", person.middle_name)
        type_into(page, "#phone", person.phone)
        if person.email:
            type_into(page, "#email", person.email)
        if person.city:
            type_into(page, "#city", person.city)
        if person.gender:
            page.select_option("#gender", label=person.gender)
        if person.born:
            type_into(page, "#birth_date", person.born)
        if person.category:
            choose(page, field_box(page, "category"), person.category[:5], person.category)
        if person.tag:
            choose_many(page, field_box(page, "tags"), person.tag, person.tag)
        if person.with_manager:
            choose(page, field_box(page, "manager"), MANAGER.last_name[:4], MANAGER.name)
        save(page)
        said = f"Клиент {person.last_name} {person.first_name}"
        assert any(text.startswith(said) for text in flash(page)), person.last_name
        card = re.search(r"/customerview/show/(\d+)$", page.url)  # the new customer's card
        assert card, page.url
        assert person.last_name in page.locator("h1").inner_text()
        week.ids[person.last_name] = int(card[1])

    from flask_appbuilder.security.sqla.models import User

    from app.models import Customer, CustomerStatus, CustomerType, Gender

    with week.clinic.db() as db:
        manager_id = db.scalars(select(User.id).where(User.username == MANAGER.username)).one()
        stored = db.scalars(select(Customer).order_by(Customer.id)).all()
        assert [(c.id, c.last_name) for c in stored] == [(week.ids[p.last_name], p.last_name) for p in PEOPLE]
        genders = {"Женский": Gender.FEMALE, "Мужской": Gender.MALE, "": None}
        for customer, person in zip(stored, PEOPLE, strict=True):
            born = dt.datetime.strptime(person.born, "%d.%m.%Y").date() if person.born else None
            assert {
                "ФИО": (customer.last_name, customer.first_name, customer.middle_name),
                "тип": customer.customer_type,
                "телефон": customer.phone,
                "доп. телефон": customer.phone_extra,
                "почта": customer.email,
                "город": customer.city,
                "пол": customer.gender,
                "рождение": customer.birth_date,
                "карта": customer.card_number,
                "источник": customer.source,
                "комментарий": customer.service_comment,
                "скидка": customer.discount,
                "менеджер": customer.manager_id,
                "категория": customer.category.name if customer.category else None,
                "теги": [t.name for t in customer.tags],
                "статус": customer.status,
            } == {
                "ФИО": (person.last_name, person.first_name, person.middle_name or None),
                "тип": CustomerType.INDIVIDUAL,
                "телефон": person.e164,
                "доп. телефон": None,
                "почта": person.email or None,
                "город": person.city or None,
                "пол": genders[person.gender],
                "рождение": born,
                "карта": None,
                "источник": None,
                "комментарий": None,
                "скидка": Decimal("0"),
                "менеджер": manager_id if person.with_manager else None,
                "категория": person.category or None,
                "теги": [person.tag] if person.tag else [],
                "статус": CustomerStatus.ACTIVE,
            }, person.last_name
    # the card shows back what was typed
    card = page_of_card(week, RECEPTION, "Петрова")
    assert "15.03.1990" in card.locator("#main").inner_text()
    assert card.locator(".kartoteka-phone .kartoteka-value").inner_text() == "8 (916) 555-12-34"
    week.no_script_errors()


def page_of_card(week: Week, who: Staff, last_name: str, tab: str = ""):
    page = week.page(who)
    page.goto(f"{week.clinic.url}/customerview/show/{week.ids[last_name]}", wait_until="domcontentloaded")
    if tab:
        page.click(f".kartoteka-tabs a[href='#{tab}']")
    return page


def test_the_front_desk_registers_customers_as_they_dictate(week):
    week.run(register_customers)


# -- finding them by what she types ----------------------------------------------------------


def find_by_phone(week: Week) -> None:
    week.run(register_customers)
    page = week.page(RECEPTION)
    open_menu(page, "Клиенты", "Клиенты")
    ids = week.ids
    for typed, expected in (
        ("8 916 555", ["Петрова", "Сидорова", "Ёлкина", "Кузнецов"]),
        ("8 (903) 111", ["Орлов"]),
        ("89165551236", ["Ёлкина"]),
        ("555-12-37", ["Кузнецов"]),
    ):
        type_into(page, "#q", typed)
        with page.expect_navigation(wait_until="domcontentloaded"):
            page.keyboard.press("Enter")
        assert sorted(shown_ids(page)) == sorted(ids[n] for n in expected), typed

    # a customer picker: a note's form finds the customer as she types «8 916 555»
    open_menu(page, "Клиенты", "Примечания")
    click_add(page)
    field_box(page, "customer").locator(".select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").click()
    page.keyboard.type("8 916 555")
    options = page.locator(".select2-results__option")
    options.filter(has_text="Кузнецов").wait_for()
    assert sorted(options.all_inner_texts()) == sorted(
        [
            "Ёлкина Вера · 8 (916) 555-12-36",
            "Кузнецов Иван · 8 (916) 555-12-37",
            "Петрова Мария · 8 (916) 555-12-34",
            "Сидорова Анна Сергеевна · 8 (916) 555-12-35",
        ]
    )
    options.filter(has_text="Сидорова").click()
    type_into(page, "#text", "Просит напомнить о визите накануне")
    save(page)
    from app.models import Note

    with week.clinic.db() as db:
        notes = [(n.customer_id, n.text) for n in db.scalars(select(Note))]
    assert notes == [(ids["Сидорова"], "Просит напомнить о визите накануне")]
    week.no_script_errors()


def test_the_front_desk_finds_customers_by_a_phone_typed_from_8(week):
    week.run(find_by_phone)


# -- Tuesday: visits for tomorrow at 10:30 -----------------------------------------------------


def book_visits(week: Week) -> dict:
    week.run(register_customers)
    page = week.page(RECEPTION)
    typed, visit_utc = tomorrow_at_10_30()
    booked_from = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for name in ("Петрова", "Сидорова"):
        page_of_card(week, RECEPTION, name, tab="orders")
        form = page.locator(".kartoteka-inline-order")
        specialists = page.locator("#order-specialist option").all_inner_texts()
        assert specialists == ["—", DOCTOR.name]  # staff who see patients, not everyone
        for field_name, typed_text, option in (
            ("catalog_item", "Конс", SERVICE),
            ("specialist", DOCTOR.last_name[:5], DOCTOR.name),
            ("branch", BRANCH[:4], BRANCH),
        ):
            box = field_box(page, f"order-{field_name}")
            choose(page, box, typed_text, option)
            assert not clipped(box), field_name  # the chosen option reads in full
        type_into(page, "#order-visit_at", typed)
        with page.expect_navigation(wait_until="domcontentloaded"):
            form.locator("button[type=submit]").click()
        assert any(re.fullmatch(r"Заказ №\d+ оформлен\.", text) for text in flash(page)), flash(page)
    booked_to = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    from flask_appbuilder.security.sqla.models import User

    from app.models import Message, MessageType, Order, OrderStatus

    with week.clinic.db() as db:
        doctor = db.scalars(select(User.id).where(User.username == DOCTOR.username)).one()
        orders = db.scalars(select(Order).order_by(Order.id)).all()
        assert [
            (o.customer_id, o.visit_at, o.specialist_id, o.branch.name, o.total, o.status) for o in orders
        ] == [
            (week.ids[name], visit_utc, doctor, BRANCH, SERVICE_PRICE, OrderStatus.NEW)
            for name in ("Петрова", "Сидорова")
        ]
        for order, name in zip(orders, ("Петрова", "Сидорова"), strict=True):
            week.ids[f"заказ {name}"] = order.id
        reminders = db.scalars(
            select(Message).where(Message.message_type == MessageType.VISIT_REMINDER)
        ).all()
        due = visit_utc - dt.timedelta(hours=24)
        assert sorted((m.order_id, m.channel.value) for m in reminders) == sorted(
            [(orders[0].id, "sms"), (orders[1].id, "sms"), (orders[1].id, "email")]
        )
        for reminder in reminders:
            assert f"визите {typed}" in reminder.body
            if due > booked_to:  # due 24 hours before the visit, in UTC
                assert reminder.send_after == due
            else:  # the clinic's 10:30 today has passed: due at once
                assert booked_from <= reminder.send_after <= booked_to

    # what the front desk reads: the order page and the card
    for name in ("Петрова", "Сидорова"):
        order_id = week.ids[f"заказ {name}"]
        card = page_of_card(week, RECEPTION, name, tab="orders")
        assert card.locator("#orders td.col-visit_at").all_inner_texts() == [typed], name
        with card.expect_navigation(wait_until="domcontentloaded"):
            card.locator(f"#orders a[href$='/show/{order_id}']").first.click()
        shown = card.locator("tr:has(th:text-is('Дата визита')) td").all_inner_texts()
        assert [text.strip() for text in shown] == [typed], name

    # the doctor's own list of visits says the same time
    page = week.page(DOCTOR)
    open_menu(page, "Клиенты", "Заказы")
    rows = page.locator("table.kartoteka-list tbody tr")
    assert sorted(
        (r.locator("td.col-customer").inner_text(), r.locator("td.col-visit_at").inner_text())
        for r in rows.all()
    ) == [("Петрова Мария", typed), ("Сидорова Анна Сергеевна", typed)]

    # what the customers were told, once the worker has delivered it
    week.clinic.deliver()
    sent = week.clinic.outbox()
    about_the_visit = {(s["to"], s["body"]) for s in sent.values() if "заказ №" in s["body"]}
    assert about_the_visit == {
        (
            "+79165551234",
            f"Мария, заказ №{week.ids['заказ Петрова']} оформлен, визит {typed}. Сумма: 2\u00a0500,00\u00a0₽.",
        ),
        (
            "+79165551235",
            f"Анна, заказ №{week.ids['заказ Сидорова']} оформлен, визит {typed}. Сумма: 2\u00a0500,00\u00a0₽.",
        ),
        (
            "anna.sidorova@example.ru",
            f"Анна, заказ №{week.ids['заказ Сидорова']} оформлен, визит {typed}. Сумма: 2\u00a0500,00\u00a0₽.",
        ),
    }
    for message in sent.values():  # a reminder already due says the same time
        if "визит" in message["body"]:
            assert typed in message["body"], message
    with week.clinic.db() as db:
        told = db.scalars(select(Message).where(Message.message_type == MessageType.ORDER_CREATED)).all()
        assert sorted((m.customer_id, m.channel.value, m.status.value) for m in told) == sorted(
            [
                (week.ids["Петрова"], "sms", "sent"),
                (week.ids["Сидорова"], "sms", "sent"),
                (week.ids["Сидорова"], "email", "sent"),
            ]
        )
    week.no_script_errors()
    return {"typed": typed, "visit_utc": visit_utc}


def test_tuesday_visits_booked_for_10_30_tomorrow_are_10_30_everywhere(week):
    week.run(book_visits)


def take_payment(week: Week) -> None:
    booking = week.run(book_visits)
    page = page_of_card(week, RECEPTION, "Сидорова", tab="orders")
    order_id = week.ids["заказ Сидорова"]
    # «Принять оплату» on the order's row: a payment of its own (issue 18), part of the total
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.locator(f"#orders a.kartoteka-pay[href$='_flt_0_order={order_id}']").click()
    type_into(page, "#amount", "1 500,50")
    page.select_option("select[name=method]", "cash")
    save(page)
    taken = f"Оплата 1\xa0500,50\xa0₽ по заказу №{order_id} принята."
    assert any(text.startswith(taken) for text in flash(page)), flash(page)
    from app.models import Order, PaymentStatus

    with week.clinic.db() as db:
        order = db.get(Order, order_id)
        assert (order.paid, order.payment_status, order.visit_at) == (
            Decimal("1500.50"),
            PaymentStatus.PARTIAL,
            booking["visit_utc"],  # saving the payment did not move the visit
        )
    card = page_of_card(week, RECEPTION, "Сидорова")
    assert card.locator(".kpi-paid").inner_text() == "1\u00a0500,50\u00a0₽"
    assert card.locator(".kpi-debt").inner_text() == "999,50\u00a0₽"
    week.no_script_errors()


def test_the_front_desk_takes_a_payment_typed_with_a_comma(week):
    week.run(take_payment)


# -- Wednesday: the manager flags customers, and nobody is told ----------------------------


def messages_of(week: Week, customer_ids) -> list[int]:
    from app.models import Message

    with week.clinic.db() as db:
        return sorted(db.scalars(select(Message.id).where(Message.customer_id.in_(customer_ids))))


def flag_customers(week: Week) -> None:
    week.run(register_customers)
    week.run(book_visits)  # the worker ran: what was due is delivered
    flagged = [week.ids[n] for n in ("Ёлкина", "Кузнецов", "Орлов")]
    rows_before, files_before = messages_of(week, flagged), set(week.clinic.outbox())

    page = page_of_card(week, MANAGER, "Ёлкина")
    page.select_option("#status", label="Проблемный")
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.click("button:has-text('Изменить статус')")
    assert "Статус клиента изменён: Проблемный." in flash(page)
    assert page.locator(".kartoteka-status").inner_text() == "Проблемный"

    open_menu(page, "Клиенты", "Клиенты")
    for name in ("Кузнецов", "Орлов"):
        page.check(f"input.action_check[value='{week.ids[name]}']")
    page.click("button:has-text('Действия')")
    page.click(".status_blocked_menu_item")
    page.wait_for_selector("text=Статус изменён у 2 клиентов.")

    from app.models import Customer, CustomerStatus

    with week.clinic.db() as db:
        statuses = {c.last_name: c.status for c in db.scalars(select(Customer))}
    assert statuses == {
        "Петрова": CustomerStatus.ACTIVE,
        "Сидорова": CustomerStatus.ACTIVE,
        "Ёлкина": CustomerStatus.PROBLEM,
        "Кузнецов": CustomerStatus.BLOCKED,
        "Орлов": CustomerStatus.BLOCKED,
    }
    week.clinic.deliver()
    assert messages_of(week, flagged) == rows_before  # no message was even written
    new_files = {name: s for name, s in week.clinic.outbox().items() if name not in files_before}
    addresses = {BY_NAME[n].e164 for n in ("Ёлкина", "Кузнецов", "Орлов")}
    assert [s for s in new_files.values() if s["to"] in addresses] == []
    assert new_files == {}  # nor to anyone else
    week.no_script_errors()


def test_wednesday_the_manager_flags_customers_and_nobody_is_told(week):
    week.run(flag_customers)


# -- a message to the customers ticked on the list ----------------------------------------


def message_a_selection(week: Week) -> None:
    week.run(register_customers)
    files_before = set(week.clinic.outbox())
    page = week.page(RECEPTION)
    open_menu(page, "Клиенты", "Клиенты")
    for name in ("Петрова", "Сидорова"):
        page.check(f"input.action_check[value='{week.ids[name]}']")
    page.click("button:has-text('Действия')")
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.locator(".dropdown-menu:visible a", has_text="Отправить сообщение").click()
    page.wait_for_url("**/customerview/message**")
    assert "Получатели: Петрова Мария, Сидорова Анна Сергеевна" in page.locator(".panel-body").inner_text()
    page.select_option("#channel", label="SMS")
    type_into(page, "#text", NOTICE)
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.click("button[type=submit]:has-text('Отправить сообщение')")
    assert "2 сообщения поставлены в очередь." in flash(page)

    week.clinic.deliver()
    new = [s for name, s in week.clinic.outbox().items() if name not in files_before]
    assert sorted((s["to"], s["body"]) for s in new if s["body"] == NOTICE) == [
        ("+79165551234", NOTICE),
        ("+79165551235", NOTICE),
    ]
    from app.models import Message, MessageType

    with week.clinic.db() as db:
        manual = db.scalars(select(Message).where(Message.message_type == MessageType.MANUAL)).all()
        assert sorted((m.customer_id, m.channel.value, m.body, m.status.value) for m in manual) == [
            (week.ids["Петрова"], "sms", NOTICE, "sent"),
            (week.ids["Сидорова"], "sms", NOTICE, "sent"),
        ]
    week.no_script_errors()


def test_thursday_the_front_desk_messages_the_customers_ticked_on_the_list(week):
    week.run(message_a_selection)


# -- a legal entity ---------------------------------------------------------------------------


def register_legal_entity(week: Week) -> None:
    week.run(set_up_the_clinic)
    page = week.page(RECEPTION)
    open_menu(page, "Клиенты", "Клиенты")
    click_add(page)
    page.select_option("#customer_type", label="Юридическое лицо")
    type_into(page, "#company_name", COMPANY)
    type_into(page, "#phone", "8 (423) 222-33-44")
    type_into(page, "#email", "info@romashka.example")
    # no Фамилия or Имя: nothing the browser would refuse to send («Заполните это поле»)
    assert page.locator("form :invalid").evaluate_all("fields => fields.map(f => f.name)") == []
    save(page)
    assert f"Клиент {COMPANY} добавлен в картотеку." in flash(page)
    assert COMPANY in page.locator("h1").inner_text()  # the card is titled by the organisation

    from app.models import Customer, CustomerType

    with week.clinic.db() as db:
        (legal,) = db.scalars(select(Customer).where(Customer.customer_type == CustomerType.LEGAL)).all()
        assert (legal.company_name, legal.phone, legal.email, legal.birth_date, legal.card_number) == (
            COMPANY,
            "+74232223344",
            "info@romashka.example",
            None,
            None,
        )
        week.ids[COMPANY] = legal.id
    card = page_of_card(week, RECEPTION, COMPANY)
    assert COMPANY in card.locator("#main").inner_text()
    assert "Юридическое лицо" in card.locator("#main").inner_text()
    week.no_script_errors()


def test_a_legal_entity_is_registered(week):
    week.run(register_legal_entity)


# -- Friday: every filter of the customers list, through its widget ---------------------


def filter_list(page, column: str, operation: str, enter) -> list[int]:
    """Open «Фильтры», add the column's filter, pick the operation, enter the value, «Поиск»
    (the previous filter, shown on the filtered list, removed with its «×» first)."""
    if "/customerview/list/" not in page.url:
        open_menu(page, "Клиенты", "Клиенты")
    filters = page.locator("#filter_form")
    if not filters.is_visible():
        page.click("text=Фильтры")
    for _ in range(page.locator("#filter_form a.remove-filter").count()):
        page.locator("#filter_form a.remove-filter").first.click()
    page.click("button:has-text('Добавить фильтр')")
    page.locator("#filter_form .dropdown-menu:visible a.filter", has_text=column).click()
    row = page.locator("#filter_form table.filters tr").last
    row.locator(".select2-selection").first.click()
    page.locator(f".select2-container--open .select2-results__option:text-is('{operation}')").click()
    enter(page, row)
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.click("#filter_form button[type=submit]")
    return sorted(shown_ids(page))


def typed(text):
    def enter(page, row):
        row.locator("input.filter_val").click()
        page.keyboard.type(text)

    return enter


def selected(label):
    def enter(page, row):
        row.locator("select.filter_val").select_option(label=label)

    return enter


def picked(typed_text, option, many=False):
    def enter(page, row):
        box = row.locator("td").nth(2).locator(".select2")
        (choose_many if many else choose)(page, box, typed_text, option)

    return enter


def use_every_filter(week: Week) -> None:
    week.run(register_customers)
    week.run(flag_customers)
    week.run(register_legal_entity)
    page = week.page(RECEPTION)
    today = clinic_today()
    everyone = [*(p.last_name for p in PEOPLE), COMPANY]
    cases = [
        ("Статус", "Равно", selected("Заблокирован"), ["Кузнецов", "Орлов"]),
        ("Статус", "Не равно", selected("Активен"), ["Ёлкина", "Кузнецов", "Орлов"]),
        ("Телефон", "Содержит", typed("8 916 555"), ["Петрова", "Сидорова", "Ёлкина", "Кузнецов"]),
        ("ФИО", "Содержит", typed("Елкина"), ["Ёлкина"]),
        ("Пол", "Равно", selected("Мужской"), ["Кузнецов", "Орлов"]),
        ("Дата регистрации", "В день", typed(f"{today:%d.%m.%Y}"), everyone),
        ("Дата регистрации", "По дату", typed(f"{today - dt.timedelta(days=1):%d.%m.%Y}"), []),
        ("Менеджер", "Равно", picked(MANAGER.last_name[:4], MANAGER.name), ["Сидорова"]),
        ("Теги", "Включает", picked("VIP", "VIP", many=True), ["Петрова", "Орлов"]),
        ("Категория", "Равно", picked("Пост", "Постоянный клиент"), ["Петрова"]),
        ("Эл. почта", "Заканчивается на", typed("@example.ru"), ["Сидорова"]),
    ]
    shown = {(c, o): filter_list(page, c, o, enter) for c, o, enter, _ in cases}
    assert shown == {(c, o): sorted(week.ids[n] for n in names) for c, o, _, names in cases}
    week.no_script_errors()


def test_friday_the_front_desk_uses_every_filter_of_the_customers_list(week):
    week.run(use_every_filter)


# -- more of the week: an extra field, a duplicate deleted, the history read -------------


def test_the_add_form_asks_only_for_the_extra_fields_of_the_customers_type(week):
    """The administrator adds «ИНН» for legal entities; a private person's form does not ask it."""
    week.run(set_up_the_clinic)
    admin = week.page(ADMIN)
    open_menu(admin, "Справочники", "Дополнительные поля клиентов")
    click_add(admin)
    admin.select_option("#customer_type", label="Юридическое лицо")
    type_into(admin, "#label", "ИНН")
    save(admin)
    assert "Запись добавлена" in flash(admin)
    page = week.page(RECEPTION)
    open_menu(page, "Клиенты", "Клиенты")
    click_add(page)
    inn = page.locator("label", has_text="ИНН")
    assert page.input_value("#customer_type") == "individual"
    assert not inn.is_visible()  # a private person has no ИНН
    page.select_option("#customer_type", label="Юридическое лицо")
    assert inn.is_visible()


def test_the_manager_deletes_a_duplicate_and_lands_on_the_list(week):
    """The card was looked at in a tab of its own: deleting used to go back to it, a 404."""
    week.run(set_up_the_clinic)
    page = week.page(MANAGER)
    open_menu(page, "Клиенты", "Клиенты")
    click_add(page)
    type_into(page, "#last_name", "Дублёва")
    type_into(page, "#first_name", "Ошибка")
    save(page)
    from app.models import Customer

    with week.clinic.db() as db:
        duplicate = db.scalars(select(Customer.id).where(Customer.last_name == "Дублёва")).one()
    open_menu(page, "Клиенты", "Клиенты")
    card = page.context.new_page()  # the card looked at in a tab of its own, then closed
    card.goto(f"{week.clinic.url}/customerview/show/{duplicate}")
    card.close()
    page.click(f"a.kartoteka-delete[data-href$='/delete/{duplicate}']")
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.click("#modal-confirm-ok")
    assert "Запись удалена" in flash(page)
    assert page.url.endswith("/customerview/list/")
    assert duplicate not in shown_ids(page)


def test_the_change_history_speaks_russian(week):
    """What the manager did on Wednesday, in words: no «Customer», «update» or «status»."""
    week.run(flag_customers)
    page = page_of_card(week, MANAGER, "Ёлкина", tab="history")
    history = page.locator("#history table").inner_text()
    for code in ("Customer", "create", "update", "status"):
        assert code not in history
    for word in ("Клиент", "создание", "изменение", "Статус"):
        assert word in history
