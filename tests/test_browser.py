"""The real UI in Debian's chromium (Playwright), against the app served on 127.0.0.1."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import access
from app.models import Customer, Note
from tests import factories, matrix
from tests.conftest import ARTIFACTS, PASSWORD, user_id

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def login(page, server, username):
    page.goto(f"{server}/login/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{server}/customerview/list/")


@pytest.mark.parametrize("role", matrix.ROLE_KEYS)
def test_each_role_sees_exactly_its_tabs(app, ctx, server, page, role):
    import datetime as dt

    from app.models import CustomerCategory, Gender, Tag
    from app.views import CustomerView

    customer = factories.customer(
        ctx,
        last_name="Смирнова",
        first_name="Ольга",
        middle_name="Петровна",
        phone="+79161234567",
        email="olga.smirnova@example.ru",
        gender=Gender.FEMALE,
        birth_date=dt.date(1986, 4, 12),
        city="Москва",
        manager_id=user_id(app, "reception"),
        category=CustomerCategory(name="Постоянный клиент"),
    )
    customer.tags.append(Tag(name="аллергик", color="#d9534f"))
    ctx.add(Note(customer=customer, text="Просит звонить после 18:00."))
    ctx.commit()
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"), paid="1500")
    factories.order(
        ctx,
        customer,
        items=(("Чистка лица", "3500.00", 1),),
        specialist_id=user_id(app, "doctor"),
        paid="2000",
    )
    login(page, server, role)
    page.goto(f"{server}/customerview/show/{customer.id}")
    tabs = page.locator(".kartoteka-tabs a[role=tab]").all_inner_texts()
    expected = ["Основное"] + [
        str(tab.label)
        for tab in CustomerView.tabs
        if matrix.reads(role, tab.view.class_permission_name)  # pinned, not read from app/access.py
    ]
    assert [t.strip() for t in tabs] == expected
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"card-{role}.png"), full_page=True)
    page.keyboard.press("Tab")  # the tabs are links: reachable by keyboard
    page.locator(".kartoteka-tabs a[role=tab]").nth(1).focus()
    page.keyboard.press("Enter")
    assert page.locator(".tab-pane.active").count() == 1
    page.click(".navbar-right .dropdown-toggle >> nth=-1")  # the user menu
    page.click("a[href='/logout/']")
    page.wait_for_url("**/login/")


def test_receptionist_day(ctx, server, page):
    existing = factories.customer(ctx, last_name="Найденова", phone="+79161234567")
    login(page, server, "reception")
    # search a customer by a phone fragment
    page.fill("#q", "45-67")
    with page.expect_navigation():
        page.click("text=Найти")
    assert page.locator("table.kartoteka-list").inner_text().count("Найденова") == 1
    # create a customer: a bad phone gets a Russian error and keeps the input, then a good one
    page.goto(f"{server}/customerview/add")
    page.fill("#last_name", "Новикова")
    page.fill("#first_name", "Дарья")
    page.fill("#phone", "12345")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "Неверный номер телефона" in page.content()
    assert page.input_value("#last_name") == "Новикова"
    page.fill("#phone", "8 903 555-44-33")
    with page.expect_navigation():
        page.click("button[type=submit]")
    ctx.expire_all()
    created = ctx.query(Customer).filter_by(last_name="Новикова").one()
    assert created.phone == "+79035554433"
    # open the card, add a note from it without leaving it
    page.goto(f"{server}/customerview/show/{existing.id}")
    page.click("a[href='#notes']")
    page.fill("#note-text", "Позвонить в пятницу")
    page.click("text=Добавить примечание")
    page.wait_for_url(f"{server}/customerview/show/{existing.id}#notes")
    assert page.locator("#notes").inner_text().count("Позвонить в пятницу") == 1
    ctx.expire_all()
    assert [n.text for n in ctx.query(Note)] == ["Позвонить в пятницу"]
    # send a message: preview it, send it, see it in the Сообщения tab
    page.click("a[href='#messages']")
    page.select_option("#message-channel", "sms")
    page.fill("#message-text", "Ждём вас в пятницу в 10:00")
    page.click(".kartoteka-preview-button")
    page.wait_for_selector(".kartoteka-preview:has-text('Ждём вас в пятницу')")
    with page.expect_navigation():
        page.click("text=Отправить сообщение >> nth=-1")
    assert "Сообщение поставлено в очередь на отправку." in page.content()
    page.click("a[href='#messages']")
    assert "Ждём вас в пятницу в 10:00" in page.locator("#messages").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "card-reception-notes.png"), full_page=True)
    # log out
    page.goto(f"{server}/logout/")
    page.goto(f"{server}/customerview/list/")
    assert "/login" in page.url


def test_manager_changes_status_and_reveals_nothing_extra(ctx, server, page):
    customer = factories.customer(ctx, last_name="Статусная", phone="+79161234567")
    login(page, server, "manager")
    page.goto(f"{server}/customerview/show/{customer.id}")
    page.select_option("#status", "verified")
    with page.expect_navigation():
        page.click("text=Изменить статус")
    assert "Статус клиента изменён: Проверен." in page.content()
    assert page.locator(".kartoteka-status").inner_text() == "Проверен"
    icon = page.locator(".panel-title i.fa").first
    assert icon.get_attribute("aria-label") == "Проверен"  # the status icon has a text alternative


def test_doctor_reveals_a_masked_phone_with_a_click(app, ctx, server, page):
    from app.models import AccessLog

    customer = factories.customer(ctx, last_name="Пациентова", phone="+79161234567")
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))
    login(page, server, "doctor")
    page.goto(f"{server}/customerview/show/{customer.id}")
    assert page.locator(".kartoteka-phone .kartoteka-value").inner_text() == "+7 *** ***-45-67"
    page.click(".kartoteka-reveal")
    # not wait_for_function: its predicate is evaluated as a string, which the page's CSP forbids
    expect(page.locator(".kartoteka-phone .kartoteka-value")).to_contain_text("123")
    assert page.locator(".kartoteka-phone .kartoteka-value").inner_text() == "8 (916) 123-45-67"
    ctx.expire_all()
    assert ctx.query(AccessLog).filter_by(field="customer.phone").count() == 1


def test_note_for_a_customer_chosen_by_typing(ctx, server, page):
    """The standalone note form finds its customer as the receptionist types (no select of every customer)."""
    customer = factories.customer(ctx, last_name="Выборова", phone="+79167776655")
    factories.customer(ctx, last_name="Другая", phone="+79031112233")
    login(page, server, "reception")
    page.goto(f"{server}/noteview/add")
    page.click("#customer + .select2 .select2-selection")
    assert page.locator(".select2-results__message").inner_text() == "Введите ещё хотя бы 2 символа"
    page.fill(".select2-search__field", "Выбор")
    option = page.locator(".select2-results__option", has_text="Выборова Анна Сергеевна · 8 (916) 777-66-55")
    option.click()
    page.fill("#text", "Выбрана по первым буквам фамилии")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/noteview/add" not in url)
    ctx.expire_all()
    note = ctx.query(Note).one()
    assert note.customer_id == customer.id and note.text == "Выбрана по первым буквам фамилии"


def test_widgets_speak_the_page_language(ctx, server, page):
    """FAB's Select2 and datepicker get their texts from the server: Russian on a Russian page."""
    login(page, server, "reception")
    page.goto(f"{server}/orderview/add")
    page.click("#branch + .select2 .select2-selection")
    page.fill(".select2-search__field", "нет такого филиала")
    assert page.locator(".select2-results__message").inner_text() == "Ничего не найдено"
    page.keyboard.press("Escape")
    page.click("#visit_at")  # typing into the box opens nothing that could rewrite it
    assert not page.locator(".datepicker-dropdown").is_visible()
    page.click(".kartoteka-date:has(#visit_at) .kartoteka-calendar")
    header = page.locator(".datepicker-days .datepicker-switch").first.inner_text()
    months = [
        "Январь",
        "Февраль",
        "Март",
        "Апрель",
        "Май",
        "Июнь",
        "Июль",
        "Август",
        "Сентябрь",
        "Октябрь",
        "Ноябрь",
        "Декабрь",
    ]
    assert header.split()[0] in months, header
    assert page.locator(".datepicker-days th.dow").first.inner_text() == "пн"


def test_a_link_to_another_tab_of_the_card_switches_to_it(ctx, server, page):
    customer = factories.customer(ctx)
    login(page, server, "reception")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    assert page.locator(".kartoteka-tabs li.active a").get_attribute("href") == "#orders"
    page.evaluate("window.location.hash = '#notes'")
    page.wait_for_selector(".kartoteka-tabs li.active a[href='#notes']")
    assert page.locator("#notes").is_visible()


def test_manager_blocks_ticked_customers_and_deletes_one_from_the_list(ctx, server, page):
    """The list table's checkboxes, actions menu, confirmation and row delete button
    (written in Python, app/listing.py) drive FAB's ab_actions.js."""
    from app.models import CustomerStatus

    first = factories.customer(ctx, last_name="Первая", phone="+79161110001")
    second = factories.customer(ctx, last_name="Вторая", phone="+79161110002")
    third = factories.customer(ctx, last_name="Третья", phone="+79161110003")
    login(page, server, "manager")
    # an action with nothing ticked says so in Russian
    page.click("button:has-text('Действия')")
    page.click(".status_blocked_menu_item")
    page.wait_for_selector("#modal-alert .modal-text:has-text('Отметьте хотя бы одну строку')")
    page.click("#modal-alert button")
    page.wait_for_selector("#modal-alert", state="hidden")
    for customer in (first, second):
        page.check(f"input.action_check[value='{customer.id}']")
    page.click("button:has-text('Действия')")
    with page.expect_request(lambda r: r.method == "POST") as acted:
        page.click(".status_blocked_menu_item")
    # sent by jQuery's trigger('submit'), the form still carries its token against a second send
    assert "_submission" in acted.value.post_data
    page.wait_for_selector("text=Статус изменён у 2 клиентов.")
    ctx.expire_all()
    assert [ctx.get(Customer, c.id).status for c in (first, second, third)] == [
        CustomerStatus.BLOCKED,
        CustomerStatus.BLOCKED,
        CustomerStatus.ACTIVE,
    ]
    # the row's delete button asks first, then deletes that row only
    first_id, third_id = first.id, third.id
    page.goto(f"{server}/customerview/list/")
    page.click(f"a.kartoteka-delete[data-href$='/delete/{third_id}']")
    page.wait_for_selector("#modal-confirm .modal-body:has-text('Удалить')")
    page.click("#modal-confirm-ok")
    page.wait_for_selector("text=Запись удалена")  # FAB said «Удалено строк» after one record
    ctx.expire_all()
    assert ctx.get(Customer, third_id) is None
    assert ctx.get(Customer, first_id) is not None


CSP_PAGES = [
    "/customerview/list/",
    "card",
    "/customerview/add",
    "/orderview/list/",
    "/orderview/add",
    "/noteview/list/",
    "/medicalrecordview/list/",
    "/users/userinfo/",
    "/users/list/",
    "/sessionview/list/",
    "/messagetemplateview/list/",
]


@pytest.mark.parametrize("role", list(access.ROLES))
def test_pages_satisfy_the_content_security_policy(app, ctx, server, page, role):
    """No inline script runs without the response's nonce: the browser reports no
    CSP violation on any page the role opens, and the pages' scripts still work."""
    customer = factories.customer(ctx, last_name="Смирнова", first_name="Ольга")
    ctx.commit()
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    login(page, server, role)
    opened = 0
    for path in CSP_PAGES:
        url = f"/customerview/show/{customer.id}" if path == "card" else path
        response = page.goto(f"{server}{url}")
        if response.status != 200 or "/login" in page.url:
            continue  # a page the role may not open
        assert response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert page.evaluate("typeof jQuery") == "function"  # the app's scripts ran
        opened += 1
    assert opened >= 3
    assert violations == []


def test_the_booking_form_is_usable_from_the_keyboard(ctx, server, page):
    """The card's service box was about 70 px wide, its search took no focus when
    opened, and a refused booking came back with the boxes reset."""
    factories.catalog_item(ctx, "Массаж спины", "2500.00")
    factories.catalog_item(ctx, "Консультация", "1500.00")
    from app.models import CustomerStatus

    customer = factories.customer(ctx, status=CustomerStatus.BLOCKED)  # the booking is refused
    login(page, server, "reception")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    box = page.locator("#order-catalog_item + .select2-container")
    assert box.bounding_box()["width"] >= 300
    box.locator(".select2-selection").focus()
    page.keyboard.press("Enter")  # opens the box from the keyboard
    page.keyboard.type("масс")  # goes into the search box, which has the focus
    expect(page.locator(".select2-results__option--highlighted")).to_have_text(
        "Массаж спины — 2\xa0500,00\xa0₽"
    )
    page.keyboard.press("Enter")
    # the form shows the price, the customer's discount and the total before saving
    expect(page.locator(".kartoteka-order-preview .order-figures")).to_contain_text("Итого: 2\xa0500,00\xa0₽")
    page.fill("#order-quantity", "2")
    page.click(".kartoteka-inline-order button[type=submit]")
    expect(page.locator(".alert-danger").first).to_contain_text("новый заказ оформить нельзя")
    kept = page.locator("#order-catalog_item + .select2-container .select2-selection__rendered")
    expect(kept).to_contain_text("Массаж спины — 2\xa0500,00\xa0₽")
    assert page.input_value("#order-quantity") == "2"


def test_a_refused_booking_says_why_at_the_box_and_focuses_it(ctx, server, page):
    """Keyboard only: the front desk typed «31.02.2026 10:00» and pressed Enter; the
    message came on top of the page, the date box was not marked, and the focus was
    nowhere (the box's autofocus, hidden in its tab at load, was skipped)."""
    factories.catalog_item(ctx, "Массаж спины", "2500.00")
    customer = factories.customer(ctx)
    login(page, server, "reception")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    page.locator("#order-catalog_item + .select2-container .select2-selection").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("масс")
    page.keyboard.press("Enter")
    page.click("#order-visit_at")
    page.keyboard.type("31.02.2026 10:00")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    box = page.locator("#order-visit_at")
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#order-visit_at-error")).to_have_text(
        "Введите дату и время, например 12.07.1986 10:30."
    )
    assert box.get_attribute("aria-describedby") == "order-visit_at-error"
    assert page.input_value("#order-visit_at") == "31.02.2026 10:00"


def test_the_booking_forms_figures_are_written_as_the_pages_language_writes_them(ctx, server, page):
    """In English the booking form's preview read «Price: 3 500,00 ₽» beside lists that
    read «RUB3,500.00»: the page named no language (``<html>``), and the preview's
    formatter fell back to Russian."""
    factories.catalog_item(ctx, "Чистка лица", "3500.00")
    customer = factories.customer(ctx)
    login(page, server, "reception")
    page.goto(f"{server}/lang/en")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    assert page.get_attribute("html", "lang") == "en"
    page.locator("#order-catalog_item + .select2-container .select2-selection").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("Чист")
    page.keyboard.press("Enter")
    figures = page.locator(".kartoteka-order-preview .order-figures")
    expect(figures).to_contain_text("Total: RUB\xa03,500.00")
    expect(figures).not_to_contain_text("3\xa0500,00")
    page.goto(f"{server}/lang/ru")
    assert page.get_attribute("html", "lang") == "ru"


def test_the_customer_form_asks_for_the_fields_of_the_chosen_type(ctx, server, page):
    from app.models import AttributeKind, CustomerAttribute, CustomerType

    ctx.add(CustomerAttribute(customer_type=CustomerType.LEGAL, label="ИНН", kind=AttributeKind.TEXT))
    ctx.add(CustomerAttribute(customer_type=CustomerType.INDIVIDUAL, label="СНИЛС", kind=AttributeKind.TEXT))
    ctx.commit()
    login(page, server, "reception")
    page.goto(f"{server}/customerview/add")
    inn = page.locator("tr", has=page.get_by_text("ИНН", exact=True))
    snils = page.locator("tr", has=page.get_by_text("СНИЛС", exact=True))
    company = page.locator("tr:has(#company_name)")
    assert (inn.is_visible(), snils.is_visible(), company.is_visible()) == (False, True, False)
    page.select_option("select[name=customer_type]", "legal")
    assert (inn.is_visible(), snils.is_visible(), company.is_visible()) == (True, False, True)


def test_a_subjects_data_from_registration_to_erasure_is_found_by_the_auditor(app, ctx, redis, server, page):
    """Issue 19: the front desk registers a customer with the treatment consent and
    uploads a scanned passport; the manager exports the subject's data, downloads it,
    then erases it; the auditor finds each step in the journal, the history and the
    subject requests."""
    from rq import SimpleWorker

    from app import worker
    from app.models import ConsentPurpose, CustomerFile, ProcessingConsent, SubjectRequest
    from tests.test_files import jpeg

    login(page, server, "reception")
    page.goto(f"{server}/customerview/add")
    page.fill("#last_name", "Субъектова")
    page.fill("#first_name", "Вера")
    page.fill("#phone", "8 903 555-71-71")
    page.select_option("#consent_treatment", "paper")
    with page.expect_navigation():
        page.click("button[type=submit]")
    ctx.expire_all()
    customer = ctx.query(Customer).filter_by(last_name="Субъектова").one()
    customer_id = customer.id
    (consent,) = ctx.query(ProcessingConsent).filter_by(customer_id=customer_id).all()
    assert consent.purpose == ConsentPurpose.TREATMENT and consent.given
    page.goto(f"{server}/customerview/show/{customer_id}")
    page.click("a[href='#files']")
    page.set_input_files(
        "#file-upload", files=[{"name": "скан паспорта.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
    )
    page.select_option("#file-category", "identity")  # a passport's scan is passport data
    with page.expect_navigation():
        page.click("text=Загрузить файл")
    assert "Файл «скан паспорта.jpg» добавлен." in page.content()
    ctx.expire_all()
    assert [f.category.value for f in ctx.query(CustomerFile).filter_by(customer_id=customer_id)] == [
        "identity"
    ]

    page.goto(f"{server}/logout/")
    login(page, server, "manager")
    page.goto(f"{server}/customerview/show/{customer_id}")
    page.click("a[href='#requests']")
    page.fill("#subject-basis", "Заявление от 01.12.2026 № 7")
    with page.expect_navigation():
        page.click("text=Выдать данные (ZIP)")
    assert "Выгрузка данных поставлена в очередь" in page.content()
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)
    page.goto(f"{server}/customerview/show/{customer_id}")
    page.click("a[href='#requests']")
    with page.expect_download() as download:
        page.click("#requests >> text=Скачать ZIP")
    assert download.value.suggested_filename.endswith(".zip")
    page.fill("#subject-basis", "Заявление от 01.12.2026 № 8")
    page.check("input[name=confirm]")
    with page.expect_navigation():
        page.click(".kartoteka-inline-subject button.btn-danger")
    assert "Персональные данные клиента уничтожены" in page.content()
    ctx.expire_all()
    assert ctx.get(Customer, customer_id).phone is None
    assert ctx.query(CustomerFile).filter_by(customer_id=customer_id).count() == 0

    page.goto(f"{server}/logout/")
    login(page, server, "auditor")
    page.goto(f"{server}/accesslogview/list/?_flt_0_customer={customer_id}&psize_AccessLogView=100")
    journal = page.locator("table.kartoteka-list").inner_text()
    reception_rows = [line for line in journal.splitlines() if "Reception" in line]
    manager_rows = [line for line in journal.splitlines() if "Manager" in line]
    assert any("Открытие карточки" in line for line in reception_rows), journal
    assert any("Открытие карточки" in line for line in manager_rows), journal
    assert any("Выгрузка" in line for line in manager_rows), journal
    page.goto(f"{server}/changelogview/list/?psize_ChangeLogView=100")
    history = page.locator("table.kartoteka-list").inner_text()
    assert "Клиент" in history and "создание" in history and "Файл" in history and "удаление" in history
    assert "скан паспорта.jpg" not in history and "+79035557171" not in history  # erased values
    page.goto(f"{server}/subjectrequestview/list/")
    requests = page.locator("table.kartoteka-list").inner_text()
    assert "Выдача данных" in requests and "Уничтожение данных" in requests
    act = ctx.query(SubjectRequest).filter(SubjectRequest.act.isnot(None)).one()
    page.goto(f"{server}/subjectrequestview/show/{act.id}")
    assert "АКТ об уничтожении персональных данных" in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "subject-act-auditor.png"), full_page=True)


def test_a_payment_form_sent_again_from_the_browser_is_taken_once(ctx, server, page):
    """The payment form went twice (Enter again on a slow answer): two payments were
    stored. The form now carries a token of its own when sent (its box named «method»
    hid the form's own method from the script at first), and the same form sent again
    is led to the first one's result without a second payment."""
    from app.models import Payment

    customer = factories.customer(ctx)
    order = factories.order(ctx, customer, items=(("Окрашивание", "4200.00", 1),))
    login(page, server, "reception")
    page.goto(f"{server}/paymentview/add?tab=orders&_flt_0_order={order.id}")
    page.fill("#amount", "1 500,50")
    with page.expect_request(lambda r: r.method == "POST") as sent:
        page.press("#amount", "Enter")
    page.wait_for_url(f"{server}/orderview/show/{order.id}#orders")
    form = sent.value.post_data_buffer
    assert b'name="_submission"' in form
    again = page.request.post(
        sent.value.url, headers={"Content-Type": sent.value.headers["content-type"]}, data=form
    )
    assert again.ok and again.url.startswith(f"{server}/orderview/show/{order.id}")
    assert "Эта форма уже отправлена и сохранена" in again.text()
    ctx.expire_all()
    assert [str(p.amount) for p in ctx.query(Payment).all()] == ["1500.50"]


def test_the_forms_and_the_card_fit_a_phones_width(browser, ctx, server):
    """At a phone's 390 px the new customer's and the payment's forms kept their label
    and box side by side in a table Bootstrap keeps on one line: the boxes and their help
    went past the right edge (the consent's select was out of sight, the amount read
    «2399,5»); the card's fields did the same with their values (the e-mail read
    «anna.k@example.»), the card's service box (28em) widened the whole page, and the
    KPI tile «Сертификаты и абонементы» spilled out of its frame."""
    customer = factories.customer(ctx, email="anna.kuznetsova@example.ru")
    order = factories.order(ctx, customer, items=(("Окрашивание", "4200.00", 1),))
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        login(page, server, "manager")
        for address in (
            "/customerview/add",
            f"/paymentview/add?tab=orders&_flt_0_order={order.id}",
            f"/customerview/show/{customer.id}",
            f"/customerview/show/{customer.id}#orders",
        ):
            page.goto(server + address)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, address
            past_the_edge = page.evaluate(
                """() => [...document.querySelectorAll(
                      'form input:not([type=hidden]), form select, form textarea, form .help-block,'
                      + ' form .select2-container, .table-responsive > table:not(.kartoteka-list) > tbody > tr > *')]
                    .filter(e => e.offsetParent !== null && e.closest('.tab-pane:not(.active)') === null)
                    .filter(e => e.getBoundingClientRect().right > 390)
                    .map(e => e.id || e.name || e.className || e.textContent.trim())"""
            )
            assert past_the_edge == [], address
        spilled = page.evaluate(
            """() => [...document.querySelectorAll('.kartoteka-kpi .well')]
                .filter(w => w.scrollWidth > w.clientWidth).map(w => w.textContent.trim())"""
        )
        assert spilled == []
    finally:
        context.close()


def test_a_form_sent_again_unchanged_keeps_its_token_and_a_changed_one_gets_another(ctx, server, page):
    """The token guards against the same form sent twice, not against the next record:
    a form brought back and typed into is another form (a second note, a second
    customer after «Назад»), and it is saved; sent unchanged, it is the same one."""
    from urllib.parse import parse_qs

    customer = factories.customer(ctx)
    login(page, server, "reception")
    page.goto(f"{server}/customerview/show/{customer.id}#notes")
    sent = []

    def answer(route):  # the page stays where it is, as a page brought back does
        sent.append(parse_qs(route.request.post_data)["_submission"][0])
        route.fulfill(status=204)

    page.route(f"{server}/customerview/{customer.id}/notes", answer)
    page.fill("#note-text", "Первая")
    page.click(".kartoteka-inline-note button[type=submit]")
    page.click(".kartoteka-inline-note button[type=submit]")
    page.fill("#note-text", "Вторая")
    page.click(".kartoteka-inline-note button[type=submit]")
    page.wait_for_timeout(300)
    assert len(sent) == 3 and sent[0] == sent[1] != sent[2]


def test_the_cards_orders_show_the_payment_button_without_scrolling(app, ctx, server, page):
    """At 1280 px (and at any desktop width: the page is 1170 px wide) the card's orders
    table was ~100 px wider than the card, and «Принять оплату» was cut at its right edge."""
    from app.models import Branch

    customer = factories.customer(ctx)
    branch = Branch(name="Салон на Тверской")
    ctx.add(branch)
    ctx.commit()
    factories.order(
        ctx,
        customer,
        items=(("Окрашивание волос средней длины", "4200.00", 1),),
        specialist_id=user_id(app, "doctor"),
        branch_id=branch.id,
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, server, "reception")
    page.goto(f"{server}/customerview/show/{customer.id}#orders")
    box = page.locator(".tab-pane.active .table-responsive").first
    button = page.locator(".tab-pane.active a.kartoteka-pay").first
    expect(button).to_be_visible()
    assert box.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert button.bounding_box()["x"] + button.bounding_box()["width"] <= (
        box.bounding_box()["x"] + box.bounding_box()["width"]
    )


def test_a_refused_transfer_says_why_at_the_customer_box_select2_draws(ctx, server, page):
    """The deposit transfer the card's «Счета» leads to said a refusal beside its boxes,
    tied to none, and the customer chosen by typing is a box Select2 draws over a hidden
    select: marking the select told a screen reader nothing and its focus went nowhere.
    The drawn box is marked, described by the message and focused."""
    customer = factories.customer(ctx)
    login(page, server, "reception")
    page.goto(f"{server}/accountoperationview/transfer/{customer.id}")
    page.fill("#amount", "100")  # the sum typed, the customer to send it to forgotten
    with page.expect_navigation():
        page.keyboard.press("Enter")
    shown = page.locator("#target + .select2-container .select2-selection")
    expect(shown).to_be_focused()
    expect(shown).to_have_attribute("aria-invalid", "true")
    expect(shown).to_have_attribute("aria-describedby", "target-error")
    expect(page.locator("#target-error")).to_have_text("Выберите клиента.")
