"""What the doctor, the auditor and the clinic's IT person met on an empty database, in
Chromium started in Russian (tests/test_roles_walk.py plays those days): each test is one
finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

import datetime as dt
import html
import re

from app.models import MedicalRecord, MessageTemplate
from tests import factories
from tests.conftest import user_id


def page_text(response) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def own_patient(app, ctx):
    customer = factories.customer(ctx, birth_date=dt.date(1990, 3, 15))
    factories.order(ctx, customer=customer, specialist_id=user_id(app, "doctor"))
    return customer


def test_an_empty_anamnesis_record_is_refused_and_the_form_says_why(app, ctx, login_as):
    # «Сохранить» on the empty form stored a record with nothing in it, which the
    # doctor (who may not delete) could never take back
    customer = own_patient(app, ctx)
    client = login_as("doctor")
    response = client.post(
        f"/medicalrecordtab/add?_flt_0_customer={customer.id}",
        data={"customer": customer.id, "allergies": "  ", "text": ""},
    )
    assert response.status_code == 422
    assert "Запись анамнеза пуста: заполните хотя бы одно поле." in page_text(response)
    ctx.expire_all()
    assert ctx.query(MedicalRecord).count() == 0


def test_an_anamnesis_record_saved_from_the_card_opens_the_card_on_its_tab(app, ctx, login_as):
    # the card opened on «Основное», and the doctor did not see the record she had written
    customer = own_patient(app, ctx)
    client = login_as("doctor")
    client.get(f"/customerview/show/{customer.id}")
    client.get(f"/medicalrecordtab/add?_flt_0_customer={customer.id}")
    response = client.post(
        f"/medicalrecordtab/add?_flt_0_customer={customer.id}",
        data={"customer": customer.id, "allergies": "Пенициллин"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/customerview/show/{customer.id}#anamnesis")
    ctx.expire_all()
    assert [r.allergies for r in ctx.query(MedicalRecord)] == ["Пенициллин"]


def test_a_masked_birth_date_is_written_as_russian_dates_are(app, ctx, login_as):
    # the auditor's card read «****-**-15» among dates written «03.12.2026»
    customer = own_patient(app, ctx)
    body = page_text(login_as("auditor").get(f"/customerview/show/{customer.id}"))
    assert "Дата рождения 15.**.**** " in body
    assert "****-**-15" not in body and "1990" not in body


def test_a_phone_search_a_role_may_not_make_says_so_instead_of_finding_nobody(app, ctx, login_as):
    # the placeholder offered «Телефон (любой формат)» to the doctor, the auditor and the
    # IT person, whose roles see phones masked, and «8 916 123-45-67» found «Ничего не найдено»
    customer = own_patient(app, ctx)
    for role in ("doctor", "auditor", "sysadmin"):
        client = login_as(role)
        body = page_text(client.get("/customerview/list/?q=8 916 123-45-67"))
        assert "Ваша роль видит телефоны клиентов скрытыми и не ищет по ним: найдите клиента по ФИО." in body
        page = client.get("/customerview/list/").get_data(as_text=True)
        assert 'placeholder="Телефон' not in page, role
        assert customer.last_name in page_text(client.get("/customerview/list/?q=Иванова"))
    reception = login_as("reception")
    assert 'placeholder="Телефон (любой формат), ФИО или эл. почта"' in reception.get(
        "/customerview/list/"
    ).get_data(as_text=True)
    found = page_text(reception.get("/customerview/list/?q=8 916 123-45-67"))
    assert "Иванова Анна" in found and "не ищет" not in found


def test_the_journal_customer_filter_offers_what_it_finds_for_the_auditor(app, login_as):
    # «Клиент: номер, ФИО, телефон или эл. почта», while a phone found nothing for the auditor;
    # the journal's conditions are now the lists': «Номер клиента» and the typed one
    page = login_as("auditor").get("/accesslogview/list/").get_data(as_text=True)
    filters = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), page)  # the filters' JSON
    assert "Номер клиента" in filters and "Найти (ФИО)" in filters
    assert "телефон" not in filters and "эл. почта" not in filters


def test_a_broken_message_template_is_explained_in_russian(app, ctx, login_as):
    # «Ошибка в шаблоне: expected token 'end of print statement', got 'пожаловать'»
    client = login_as("sysadmin")
    cases = {
        "{{ customer.first_name, добро пожаловать!": "Ошибка в шаблоне, строка 1: проверьте, что каждая "
        "подстановка {{ … }} и каждый блок {% … %} закрыты",
        "{{ customer.frist_name }}, добро пожаловать!": "Ошибка в шаблоне: неизвестная подстановка «frist_name».",
        "{{ custmer.first_name }}": "Ошибка в шаблоне: неизвестная подстановка «custmer».",
        "{{ ''.__class__ }}": "Ошибка в шаблоне: такая подстановка запрещена.",
    }
    for body, said in cases.items():
        response = client.post(
            "/messagetemplateview/add",
            data={"message_type": "welcome", "channel": "sms", "body": body, "active": "y"},
        )
        assert response.status_code == 422, body
        shown = page_text(response)
        assert said in shown, shown[:3000]
        assert not re.search(r"expected|undefined|has no attribute|unsafe", shown), body
    assert ctx.query(MessageTemplate).count() == 0


def test_a_user_who_never_signed_in_shows_zero_sign_ins_not_none(app, ctx, login_as):
    client = login_as("sysadmin")
    sm = app.appbuilder.sm
    with app.app_context():
        new = sm.add_user(
            "newdesk",
            "Ольга",
            "Новикова",
            "newdesk@test.example",
            [sm.find_role("Администратор (ресепшн)")],
            "Пароль-клиники-2026",
        )
        new_id = new.id
    try:
        body = page_text(client.get(f"/users/show/{new_id}"))
        assert "Количество входов 0" in body and "Неудачных попыток входа 0" in body
        assert "None" not in body
    finally:  # the user stayed behind: a second run on the same database could not add it
        ctx.rollback()
        ctx.delete(sm.find_user(username="newdesk"))
        ctx.commit()


def test_the_new_user_form_explains_its_fields_to_a_clinic(app, login_as):
    body = page_text(login_as("sysadmin").get("/users/add"))
    for said in (
        "Имя сотрудника.",
        "Фамилия сотрудника.",
        "Логин, с которым сотрудник входит в Картотеку.",
        "Роль сотрудника: она определяет, что он видит и может делать.",
        "Сотрудника не удаляют: снимите галочку",
    ):
        assert said in body
    for fab in ("Выводить имя", "LDAP", "OID", "опредляющая", "плохая практика"):
        assert fab not in body


def test_the_sign_in_statistics_are_a_table_not_a_script_from_google(app, login_as):
    # the chart loaded www.gstatic.com, which the Content-Security-Policy refuses: a blank page
    client = login_as("sysadmin")
    for _ in range(2):
        login_as("doctor")
    client = login_as("sysadmin")
    page = client.get("/kartotekauserstatschartview/chart/").get_data(as_text=True)
    assert "google_charts.js" not in page
    rows = re.findall(r"<tr>\s*<td[^>]*>(\w+)</td><td[^>]*>(\d+)</td>", page)
    assert ("doctor", "2") in rows or any(login == "doctor" and int(n) >= 2 for login, n in rows), rows
    body = page_text(client.get("/kartotekauserstatschartview/chart/"))
    assert "Имя пользователя Входов" in body and "Login Count" not in body
    failed = page_text(client.get("/kartotekauserstatschartview/chart/1"))
    assert "Имя пользователя Неудачных попыток входа" in failed and "Fail Login Count" not in failed


def test_the_sessions_list_shows_staff_signed_in_not_visitors_of_the_sign_in_page(app, client, login_as):
    # the IT person's «Сеансы» listed rows without a «Сотрудник»: a browser that had only
    # opened the sign-in page
    from app.extensions import db
    from app.models import UserSession

    app.test_client().get("/login/")  # a visitor, not signed in
    admin = login_as("sysadmin")
    with app.app_context():
        visitors = db.session.query(UserSession).filter(UserSession.user_id.is_(None)).count()
        staff = db.session.query(UserSession).filter(UserSession.user_id.is_not(None)).count()
    assert visitors >= 1 and staff >= 1
    body = page_text(admin.get("/sessionview/list/"))
    assert f"Всего записей: {staff}" in body


def test_the_queue_page_says_nobody_sends_when_the_embedded_thread_is_not_running(app, login_as, monkeypatch):
    # started with `flask run` (no REDIS_URL, no run.py), the page said «сообщения отправляет поток
    # веб-приложения» and, beside «ещё не запускался», «не обходил её дольше трёх своих интервалов»
    from app import worker

    client = login_as("sysadmin")
    monkeypatch.setattr(worker, "embedded_running", lambda: False)
    body = page_text(client.get("/notificationqueue/"))
    assert (
        "поток, который её отправляет, не запущен (его запускает run.py): сообщения никто не отправляет"
        in body
    )
    assert "Диспетчер очереди ни разу не запускался: сообщения ждут, их сроки идут." in body
    assert "сообщения отправляет поток веб-приложения" not in body
    assert "дольше трёх своих интервалов" not in body
    monkeypatch.setattr(worker, "embedded_running", lambda: True)
    assert "сообщения отправляет поток веб-приложения" in page_text(client.get("/notificationqueue/"))


def decoded(response) -> str:
    """The page with the JSON of its widgets (filters, lookups) readable."""
    page = response.get_data(as_text=True)
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), page)


def test_the_customer_boxes_and_filters_offer_only_what_the_role_finds(app, login_as):
    # «Начните вводить ФИО, телефон или эл. почту» and «Найти (ФИО, телефон, эл. почта)» were
    # offered to the doctor and the auditor, whose phone typed there found nobody
    doctor = login_as("doctor")
    form = decoded(doctor.get("/medicalrecordview/add"))
    assert "Начните вводить ФИО" in form and "Начните вводить ФИО, телефон" not in form
    listing = decoded(login_as("auditor").get("/customerdocumentview/list/"))
    assert "Найти (ФИО)" in listing and "Найти (ФИО, телефон" not in listing
    reception = login_as("reception")
    assert "Начните вводить ФИО, телефон или эл. почту" in decoded(reception.get("/noteview/add"))
    assert "Найти (ФИО, телефон, эл. почта)" in decoded(
        login_as("manager").get("/customerdocumentview/list/")
    )
