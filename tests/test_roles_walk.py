"""The doctor, the auditor and the clinic's IT person at work, in Debian's chromium started
in Russian (Playwright), typing with the keyboard as staff type: what each may see and do,
what each is refused and how the refusal reads. tests/test_roles_findings.py pins, one test
each, the defects this walk found; here are the days they were found in."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from app.models import Customer, MedicalRecord
from tests import factories
from tests.conftest import ARTIFACTS, PASSWORD, user_id

pytestmark = pytest.mark.browser

FORBIDDEN = "Нет доступа: у вашей роли нет прав на эту страницу или действие."
NOT_FOUND = "Страница не найдена."


@pytest.fixture
def context(browser, request):
    """A member of staff's browser; a screenshot of each of its pages when the test failed."""
    context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="ru-RU")
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda e: errors.append(str(e))))
    failed = request.session.testsfailed
    yield context
    if request.session.testsfailed > failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for n, page in enumerate(context.pages):
            page.screenshot(path=str(ARTIFACTS / f"roles-{request.node.name}-{n}.png"), full_page=True)
    context.close()
    assert errors == []


def sign_in(context, server, username, password=PASSWORD):
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server}/login/")
    page.click("#username")
    page.keyboard.type(username)
    page.click("#password")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return page


def type_into(page, selector, text):
    page.click(selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def save(page):
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Сохранить')")


def flashes(page) -> list[str]:
    return [t.replace("×", "").strip() for t in page.locator(".alert").all_inner_texts()]


def body(page) -> str:
    return page.locator("body").inner_text().replace("\xa0", " ")


def patients(app, ctx):
    """The doctor's patient (a visit booked with her) and another doctor's."""
    own = factories.customer(ctx, last_name="Петрова", first_name="Мария", birth_date=dt.date(1990, 3, 15))
    other = factories.customer(ctx, last_name="Сидорова", first_name="Анна", phone="+79167654321")
    factories.order(
        ctx,
        customer=own,
        items=(("Консультация", "2500.00", 1),),
        specialist_id=user_id(app, "doctor"),
        paid="1500.50",
    )
    factories.order(ctx, customer=other, specialist_id=user_id(app, "manager"))
    return own, other


def test_the_doctor_sees_her_patients_writes_the_anamnesis_and_nothing_else(app, ctx, server, context):
    own, other = patients(app, ctx)
    page = sign_in(context, server, "doctor")
    page.wait_for_url("**/customerview/list/")
    expect(page.locator("table.kartoteka-list")).to_contain_text("Петрова Мария")
    assert "Сидорова" not in body(page)  # another doctor's patient is not in her list
    expect(page.locator("#q")).to_have_attribute("placeholder", "ФИО клиента")
    type_into(page, "#q", "8 916 123-45-67")  # the patient on the phone gives her number
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".kartoteka-search-notice")).to_have_text(
        re.compile("Ваша роль видит телефоны клиентов скрытыми и не ищет по ним: найдите клиента по ФИО.")
    )
    type_into(page, "#q", "петрова")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    with page.expect_navigation():
        page.locator("table.kartoteka-list a[href*='/customerview/show/']").first.click()

    # the card: her tabs, no money of the customer's, no forms she may not use
    tabs = [t.strip() for t in page.locator(".kartoteka-tabs a").all_inner_texts()]
    assert tabs == ["Основное", "Заказы", "Отзывы", "Примечания", "Анамнез", "Файлы", "Согласия"]
    assert page.locator(".kpi-bonus, .kpi-deposit").count() == 0
    for refused in ("#note-text", ".kartoteka-pay"):
        assert page.locator(refused).count() == 0, refused
    # she adds before/after photos from the card, and no other kind of file
    assert page.locator("#file-category option").all_inner_texts() == ["— выберите —", "Фото"]
    expect(page.locator("#content, body").first).to_contain_text("15.03.1990")

    # an anamnesis record: the empty form is refused, the filled one lands on its tab
    page.click("a[href='#anamnesis']")
    with page.expect_navigation():
        page.locator("#anamnesis a", has_text="Добавить").click()
    save(page)
    assert flashes(page) == ["Запись анамнеза пуста: заполните хотя бы одно поле."]
    type_into(page, "#allergies", "Пенициллин")
    type_into(page, "#text", "Жалобы на головную боль с 01.12.2026, АД 130/85.")
    save(page)
    assert page.url.endswith(f"/customerview/show/{own.id}#anamnesis")
    expect(page.locator("#anamnesis")).to_be_visible()
    expect(page.locator("#anamnesis")).to_contain_text("Пенициллин")
    ctx.expire_all()
    assert [(r.allergies, r.text, r.conditions) for r in ctx.query(MedicalRecord)] == [
        ("Пенициллин", "Жалобы на головную боль с 01.12.2026, АД 130/85.", None)
    ]

    # what she must not see, asked for by its address
    for address, said in (
        (f"/customerview/show/{other.id}", NOT_FOUND),
        ("/paymentview/list/", FORBIDDEN),
        ("/accountoperationview/list/", FORBIDDEN),
        ("/noteview/add", FORBIDDEN),
        (f"/customerview/edit/{own.id}", FORBIDDEN),
        ("/accesslogview/list/", FORBIDDEN),
    ):
        response = page.goto(f"{server}{address}")
        assert response.status in (403, 404), address
        assert said in body(page), address
    token = page.evaluate("() => document.querySelector('meta[name=csrf-token]')?.content || ''")
    refused = page.request.post(
        f"{server}/customerview/{own.id}/notes", form={"text": "врач пишет", "csrf_token": token}
    )
    assert refused.status in (400, 403)


def test_the_auditor_reads_everything_and_every_write_is_refused_in_russian(app, ctx, server, context):
    own, _other = patients(app, ctx)
    page = sign_in(context, server, "auditor")
    page.wait_for_url("**/customerview/list/")
    assert page.locator("a[href*='/customerview/add']").count() == 0
    expect(page.locator("table.kartoteka-list")).to_contain_text("Сидорова Анна")
    page.goto(f"{server}/customerview/show/{own.id}")
    tabs = [t.strip() for t in page.locator(".kartoteka-tabs a").all_inner_texts()]
    assert {"Платежи", "Счета", "История изменений", "Журнал доступа"} <= set(tabs) and "Анамнез" not in tabs
    row = page.locator("tr", has=page.locator("th, td", has_text="Дата рождения")).first
    expect(row).to_contain_text("15.**.****")
    page.click("a[href='#payments']")
    expect(page.locator("#payments")).to_contain_text("1 500,50 ₽")
    for write in ("Добавить", "Принять оплату", "Сторно"):
        assert page.locator("#payments a, #payments button", has_text=write).count() == 0, write

    # the card's history sorted by «Когда» (or paged) stays on its tab: it reopened on «Основное»
    page.click("a[href='#history']")
    with page.expect_navigation():
        page.locator("#history th a", has_text="Когда").click()
    expect(page.locator(".kartoteka-tabs li.active")).to_have_text("История изменений")
    expect(page.locator("#history")).to_be_visible()

    # the access journal: her own opening of the card is in it, filtered by the customer's name
    page.goto(f"{server}/accesslogview/list/")
    page.click("text=Фильтры")
    page.click("button:has-text('Добавить фильтр')")
    page.locator("#filter_form .dropdown-menu:visible a.filter", has_text="Клиент").click()
    row = page.locator("#filter_form table.filters tr").last
    expect(row).to_contain_text("Номер клиента")  # what a link writes; a name is the other condition
    row.locator(".select2-container").first.click()
    page.locator(".select2-results__option", has_text="Найти (ФИО)").click()
    row.locator("input.filter_val").click()
    page.keyboard.type("Петрова")
    with page.expect_navigation():
        page.click("#filter_form button[type=submit]")
    journal = page.locator("table.kartoteka-list")
    expect(journal).to_contain_text("Открытие карточки")
    expect(journal).to_contain_text("Auditor Тестовый")
    assert "Сидорова" not in journal.inner_text()

    for address in (
        f"/customerview/edit/{own.id}",
        "/customerview/add",
        "/noteview/add",
        "/paymentview/add",
        "/messagetemplateview/add",
        "/users/add",
        f"/customerfileview/fetch/{own.id}",
    ):
        response = page.goto(f"{server}{address}")
        assert response.status == 403, address
        assert FORBIDDEN in body(page), address
    ctx.expire_all()
    assert ctx.get(Customer, own.id).last_name == "Петрова"


@pytest.fixture
def leaves_no_staff(app):
    """The receptionist the IT person takes on is gone after the test (the security tables
    outlive a test, and other tests count the staff)."""
    yield
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        ids = conn.execute(text("SELECT id FROM ab_user WHERE username = 'novikova'")).scalars().all()
        for table, column in (
            ("access_log", "user_id"),
            ("change_log", "user_id"),
            ("user_session", "user_id"),
            ("ab_user_role", "user_id"),
            ("ab_user", "id"),
        ):
            for user in ids:
                conn.execute(text(f"DELETE FROM {table} WHERE {column} = :id"), {"id": user})


def test_the_it_person_takes_on_a_receptionist_and_lets_her_go(
    app, ctx, server, context, browser, leaves_no_staff
):
    page = sign_in(context, server, "sysadmin")
    page.goto(f"{server}/users/list/")
    with page.expect_navigation():
        page.locator("a[href*='/users/add']").first.click()
    help_texts = " ".join(page.locator(".help-block").all_inner_texts())
    assert "Логин, с которым сотрудник входит в Картотеку." in help_texts
    assert not re.search(r"LDAP|OID|опредляющая|Выводить", help_texts)
    type_into(page, "#first_name", "Ольга")
    type_into(page, "#last_name", "Новикова")
    type_into(page, "#username", "novikova")
    type_into(page, "#email", "novikova@clinic.example")
    page.select_option("#roles", label="Администратор (ресепшн)")
    for weak, said in (
        ("qwerty123", "Пароль слишком короткий: нужно не меньше 12 символов."),
        ("password1234", "Этот пароль слишком распространён и легко подбирается: придумайте другой."),
    ):
        type_into(page, "#password", weak)
        type_into(page, "#conf_password", weak)
        save(page)
        expect(page.locator("#password").locator("xpath=..")).to_contain_text(said)
        assert page.locator("#username").input_value() == "novikova"  # what was typed stays
        assert page.locator("#roles option:checked").inner_text() == "Администратор (ресепшн)"
    type_into(page, "#password", "Весна в клинике 2026")
    type_into(page, "#conf_password", "Весна в клинике 2026")
    save(page)
    assert flashes(page) == ["Запись добавлена"]
    expect(page.locator("table.table-bordered")).to_contain_text("novikova@clinic.example")

    # she signs in; her record says so; the statistics count her
    desk_context = browser.new_context(locale="ru-RU")
    desk = sign_in(desk_context, server, "novikova", "Весна в клинике 2026")
    desk.wait_for_url("**/customerview/list/")
    with page.expect_navigation():
        page.locator("tr", has_text="novikova@clinic.example").locator("a[href*='/users/show/']").click()
    expect(page.locator("body")).to_contain_text(re.compile(r"Количество входов\s+1"))
    page.goto(f"{server}/kartotekauserstatschartview/chart/")
    stats = page.locator("table.kartoteka-stats")
    expect(stats).to_be_visible()
    expect(stats.locator("tr", has_text="novikova")).to_contain_text("1")

    # she leaves: «Активен?» unticked ends her session and closes the door
    page.goto(f"{server}/users/list/")
    with page.expect_navigation():
        page.locator("tr", has_text="novikova@clinic.example").locator("a[href*='/users/edit/']").click()
    page.uncheck("#active")
    save(page)
    assert flashes(page) == ["Изменения сохранены"]
    desk.reload()
    assert "/login/" in desk.url
    desk.close()
    again = sign_in(desk_context, server, "novikova", "Весна в клинике 2026")
    assert "/login/" in again.url
    assert "Неверное имя пользователя или пароль." in flashes(again)
    desk_context.close()


def test_the_it_person_edits_a_message_template_and_pauses_a_channel(app, ctx, server, context):
    from app.models import Channel, MessageTemplate, MessageType

    ctx.add(MessageTemplate(message_type=MessageType.WELCOME, channel=Channel.SMS, body="Здравствуйте!"))
    ctx.commit()
    page = sign_in(context, server, "sysadmin")
    page.goto(f"{server}/messagetemplateview/list/")
    with page.expect_navigation():
        page.locator("a[href*='/messagetemplateview/edit/']").first.click()
    for typed, said in (
        (
            "{{ customer.first_name, добро пожаловать!",
            "Ошибка в шаблоне, строка 1: проверьте, что каждая подстановка",
        ),
        (
            "{{ customer.frist_name }}, добро пожаловать!",
            "Ошибка в шаблоне: неизвестная подстановка «frist_name».",
        ),
    ):
        type_into(page, "#body", typed)
        save(page)
        assert any(said in text for text in flashes(page)), flashes(page)
        assert page.locator("#body").input_value() == typed  # the text typed stays to be corrected
    type_into(page, "#body", "{{ customer.first_name }}, добро пожаловать в {{ clinic }}!")
    save(page)
    assert flashes(page) == ["Изменения сохранены"]
    ctx.expire_all()
    assert (
        ctx.query(MessageTemplate).one().body == "{{ customer.first_name }}, добро пожаловать в {{ clinic }}!"
    )

    page.goto(f"{server}/notificationqueue/")
    with page.expect_navigation():
        page.locator("tr", has_text="SMS").locator("button", has_text="Приостановить").click()
    assert "Канал «SMS» приостановлен: сообщения ждут в очереди." in flashes(page)
    with page.expect_navigation():
        page.locator("tr", has_text="SMS").locator("button", has_text="Возобновить").click()
    assert "Канал «SMS» снова работает." in flashes(page)
