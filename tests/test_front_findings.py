"""What the front desk and the system administrator of a new clinic met in Chromium, in
Russian, on an empty database (registering customers, messaging them, searching the
list, the token API): each test is one finding, asserted on what the user sees or what
is stored."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder.security.sqla.models import User

from app.extensions import db
from app.models import Customer, MedicalRecord, Message, MessageType
from tests import factories
from tests.conftest import PASSWORD, Auth, user_id

NOTICE = "Клиника не работает 31 декабря. Ждём вас в январе!"


def test_a_company_registered_without_a_contact_name_is_not_greeted_as_none(app, ctx, redis, login_as):
    """ООО «Ромашка», registered with its phone and e-mail but no contact person, got the
    SMS and the e-mail «None, добро пожаловать! Вас приветствует …»."""
    client = login_as("reception")
    data = {
        "customer_type": "legal",
        "company_name": "ООО «Ромашка»",
        "phone": "8 (423) 222-33-44",
        "email": "info@romashka.example",
        "discount": "",
    }
    assert client.post("/customerview/add", data=data).status_code == 302
    welcome = ctx.query(Message).filter_by(message_type=MessageType.WELCOME).order_by(Message.id).all()
    assert {m.channel.value for m in welcome} == {"sms", "email"}
    assert {m.body for m in welcome} == {"ООО «Ромашка», добро пожаловать! Вас приветствует Картотека."}


def test_a_company_is_found_by_its_name_without_the_quotes(app, ctx, login_as):
    """The receptionist typed «Ромашка» into the customers list's search box to find
    ООО «Ромашка» she had just registered: «Ничего не найдено» (only «Ромашка» typed
    with its guillemets found it)."""
    client = login_as("reception")
    data = {"customer_type": "legal", "company_name": "ООО «Ромашка»", "phone": "8 (423) 222-33-44"}
    assert client.post("/customerview/add", data=data).status_code == 302
    company = ctx.query(Customer).one()
    for typed in ("Ромашка", "ромашка", "ООО Ромашка", "«Ромашка»", 'ООО "Ромашка"'):
        page = client.get("/customerview/list/", query_string={"q": typed}).get_data(as_text=True)
        assert f'href="/customerview/show/{company.id}"' in page, typed


def test_an_integrator_gets_a_token_and_writes_with_it_while_forms_keep_their_csrf(app, ctx, login_as):
    """With KARTOTEKA_TOKEN_API=1, as the README says an integrator sets it, the token login
    answered 400 «Запрос не понят: проверьте адрес и форму…» on a real server: the CSRF
    check, meant for the browser's cookie, refused a request that carries no cookie."""
    browser = login_as("reception")
    integrator = app.test_client()
    app.config.update(KARTOTEKA_TOKEN_API=True, WTF_CSRF_ENABLED=True)
    try:
        login = integrator.post(
            "/api/v1/security/login",
            json={"username": "manager", "password": PASSWORD, "provider": "db", "refresh": True},
        )
        assert login.status_code == 200, login.get_data(as_text=True)
        bearer = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
        body = {"last_name": "Интеграционная", "first_name": "Анна", "phone": "8 916 700-00-02"}
        created = integrator.post(
            "/api/v1/customers/", json={**body, "consent_treatment": "paper"}, headers=bearer
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        refresh = {"Authorization": f"Bearer {login.get_json()['refresh_token']}"}
        assert integrator.post("/api/v1/security/refresh", headers=refresh).status_code == 200

        # a signed-in browser still needs the token of its session for a write, with or
        # without an Authorization header beside its cookie
        for headers in ({}, {"Authorization": "Bearer nonsense"}, bearer):
            forged = browser.post(
                "/api/v1/customers/",
                json={**body, "phone": "8 916 700-00-03", "consent_treatment": "paper"},
                headers=headers,
            )
            assert forged.status_code == 400, headers
        assert browser.post("/customerview/add", data={**body, "phone": "8 916 700-00-04"}).status_code == 400
    finally:
        app.config.update(KARTOTEKA_TOKEN_API=False, WTF_CSRF_ENABLED=False)
    assert [(c.last_name, c.created_by.username) for c in ctx.query(Customer)] == [
        ("Интеграционная", "manager")
    ]


def test_a_users_page_lists_that_users_open_sessions(app, login_as):
    """The system administrator opened Ольга's page (Безопасность → Список пользователей
    → 🔍) while Ольга was at work: «Открытые сеансы» over an empty table, as if she were
    signed in nowhere; ended or not, her sessions never showed there."""
    reception_browser = app.test_client()
    Auth(reception_browser).login("reception", PASSWORD)
    assert reception_browser.get("/customerview/list/").status_code == 200
    admin = login_as("sysadmin")
    page = admin.get(f"/users/show/{user_id(app, 'reception')}")
    assert page.status_code == 200
    sessions = page.get_data(as_text=True).split("Открытые сеансы")[1].split("</table>")[0]
    assert sessions.count("<tr>") == 2 and "127.0.0.1" in sessions  # the header and Ольга's one
    assert "Завершить все остальные сеансы" not in page.get_data(as_text=True)  # the administrator's own
    assert admin.post(f"/users/action/end_sessions/{user_id(app, 'reception')}").status_code == 302
    page = admin.get(f"/users/show/{user_id(app, 'reception')}").get_data(as_text=True)
    assert page.split("Открытые сеансы")[1].split("</table>")[0].count("<tr>") == 1


def test_a_message_to_the_ticked_customers_reaches_those_before_an_erased_one(app, ctx, login_as):
    """Three customers ticked on the list, the second of them erased on request: «2
    сообщения поставлены в очередь», but only the third was queued; the first one's
    message went with the refusal of the erased customer's (the request's transaction
    rolled back) and was never sent."""
    with app.app_context():
        first = factories.customer(last_name="Первая", phone="+79165550901")
        erased = factories.customer(
            last_name="Остаткова", phone="+79165550999", birth_date=dt.date(1980, 1, 2)
        )
        db.session.add(MedicalRecord(customer=erased, allergies="пыльца"))
        last = factories.customer(last_name="Последняя", phone="+79165550903")
        db.session.commit()
        ids = first.id, erased.id, last.id
    manager = login_as("manager")
    erasure = {"basis": "Заявление № 3", "confirm": "yes"}
    assert manager.post(f"/customerview/{ids[1]}/subject/erase", data=erasure).status_code == 302
    sent = manager.post(
        "/customerview/message",
        data={"ids": ",".join(map(str, ids)), "channel": "sms", "message_type": "manual", "text": NOTICE},
    )
    assert sent.status_code == 302
    page = manager.get("/customerview/list/").get_data(as_text=True)
    assert "2 сообщения поставлены в очередь." in page
    assert "сообщения не добавляются" in page  # why the erased customer got none
    queued = ctx.query(Message).filter_by(message_type=MessageType.MANUAL).order_by(Message.customer_id).all()
    assert [(m.customer_id, m.body) for m in queued] == [(ids[0], NOTICE), (ids[2], NOTICE)]


def test_deleting_a_leaver_who_entered_records_says_why_and_how(app, ctx, login_as):
    """The system administrator pressed the bin on the row of a receptionist who had
    registered customers and confirmed «Удалить эту запись?»: an empty alert (only its ×)
    over the list, and the receptionist still there, active."""
    client = login_as("reception")
    customer = {"last_name": "Кузнецов", "first_name": "Иван", "phone": "916 555 12 37"}
    assert client.post("/customerview/add", data=customer).status_code == 302
    admin = login_as("sysadmin")
    assert admin.post(f"/users/delete/{user_id(app, 'reception')}").status_code == 302
    page = admin.get("/users/list/").get_data(as_text=True)
    assert (
        "Сотрудник Reception Тестовый уже вносил записи в Картотеку, поэтому его не удалить: чтобы он "
        "больше не мог войти, откройте его и снимите галочку «Активен?», его записи останутся."
    ) in page
    assert app.appbuilder.sm.find_user(username="reception") is not None
    # a user who never entered anything (added by mistake) is deleted as before
    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_user(
            "mistake", "Ошибочный", "Сотрудник", "mistake@test.example", [sm.find_role("Аудитор")], PASSWORD
        )
    assert admin.post(f"/users/delete/{user_id(app, 'mistake')}").status_code == 302
    assert "Запись удалена" in admin.get("/users/list/").get_data(as_text=True)


def test_a_registration_day_typed_as_no_date_says_so_and_shows_nobody(app, ctx, login_as):
    """«Дата регистрации» → «В день» typed «04.12.25» (or anything not a date): the list
    showed every customer, the filter still in its panel, as if they had all come that
    day."""
    with app.app_context():
        factories.customer(last_name="Зарегистрированная", phone="+79165550911")
    client = login_as("reception")
    for operation in (
        "_flt_0_registered_at",
        "_flt_1_registered_at",
        "_flt_2_registered_at",
    ):  # в день, с, по
        for typed in ("04.12.25", "вчера"):
            text = client.get("/customerview/list/", query_string={operation: typed}).get_data(as_text=True)
            assert "Зарегистрированная" not in text, (operation, typed)
            assert text.count(f"Дата «{typed}» не распознана: введите её так: 12.07.1986.") == 1, (
                operation,
                typed,
            )
    assert "Зарегистрированная" in client.get("/customerview/list/?_flt_1_registered_at=01.01.2020").get_data(
        as_text=True
    )


def staff_form(app, **fields) -> dict:
    """The users screen's add form of an «Аудитор» with a policy-proof password."""
    with app.app_context():
        role = str(app.appbuilder.sm.find_role("Аудитор").id)
    password = "Пароль-клиники-2026"
    return {"roles": [role], "password": password, "conf_password": password, "active": "y", **fields}


def test_a_login_differing_only_in_capitals_is_refused(app, ctx, login_as):
    """A second «Ольга» added as «Olga» beside «olga»: saved, and from then on neither
    could sign in («Неверное имя пользователя или пароль»): logins are matched without
    regard to capitals, and two matched."""
    admin = login_as("sysadmin")
    data = staff_form(
        app, first_name="Ольга", last_name="Вторая", username="Reception", email="olga.second@test.example"
    )
    page = admin.post("/users/add", data=data)
    assert page.status_code == 422
    refusal = "Логин «Reception» уже занят: Reception Тестовый. Заглавные и строчные буквы в логинах не различаются."
    assert refusal in page.get_data(as_text=True)
    auditor = user_id(app, "auditor")
    edit = {k: v for k, v in data.items() if k not in ("password", "conf_password")}
    page = admin.post(f"/users/edit/{auditor}", data={**edit, "username": "RECEPTION"})
    assert page.status_code == 422 and "Логин «RECEPTION» уже занят" in page.get_data(as_text=True)
    with app.app_context():
        logins = sorted(u.username for u in app.appbuilder.sm.get_all_users())
    assert logins == ["auditor", "doctor", "manager", "reception", "sysadmin"]
    assert Auth(app.test_client()).login("reception", PASSWORD).headers["Location"] != "/login/?next=/"


def test_an_email_differing_only_in_capitals_is_refused(app, login_as):
    """A second account with «Reception@Test.example» beside «reception@test.example» was
    saved: one mailbox for two staff accounts. Refused on the users screen (add and
    edit, the form again with the reason, nothing saved) and where users are made
    outside it (``flask fab create-user``, the demo users: the security manager)."""
    admin = login_as("sysadmin")
    data = staff_form(
        app, first_name="Ольга", last_name="Вторая", username="olga.second", email="Reception@Test.example"
    )
    refusal = (
        "Адрес «%s» уже указан у сотрудника Reception Тестовый. Заглавные и строчные буквы в адресах "
        "электронной почты не различаются."
    )
    page = admin.post("/users/add", data=data)
    assert page.status_code == 422 and refusal % "Reception@Test.example" in page.get_data(as_text=True)
    auditor = user_id(app, "auditor")
    # the auditor as the fixture made them, but for the e-mail
    edit = {**data, "first_name": "Auditor", "last_name": "Тестовый", "username": "auditor"}
    del edit["password"], edit["conf_password"]
    page = admin.post(
        f"/users/edit/{auditor}", data={**edit, "username": "auditor", "email": "RECEPTION@test.example"}
    )
    assert page.status_code == 422 and refusal % "RECEPTION@test.example" in page.get_data(as_text=True)
    # a user's own address in other capitals is theirs to write so
    mine = admin.post(
        f"/users/edit/{auditor}", data={**edit, "username": "auditor", "email": "Auditor@test.example"}
    )
    assert mine.status_code == 302
    with app.app_context():
        sm = app.appbuilder.sm
        assert (
            sm.add_user("olga.third", "Ольга", "Третья", "reception@TEST.example", [sm.find_role("Аудитор")])
            is False
        )
        users = {u.username: u.email for u in sm.get_all_users()}
        assert users == {
            "auditor": "Auditor@test.example",
            "doctor": "doctor@test.example",
            "manager": "manager@test.example",
            "reception": "reception@test.example",
            "sysadmin": "sysadmin@test.example",
        }
        sm.find_user(username="auditor").email = "auditor@test.example"
        db.session.commit()


def test_a_cyrillic_login_or_email_differing_only_in_capitals_is_refused(app, login_as):
    """«ольга@клиника.рф» beside «Ольга@клиника.рф», and a login «ольга» beside «Ольга»,
    were saved: the check compared with SQL lower(), which folds Latin letters only on
    SQLite (and on PostgreSQL under the «C» locale)."""
    admin = login_as("sysadmin")
    data = staff_form(
        app, first_name="Ольга", last_name="Ёжикова", username="Ольга", email="Ольга@клиника.рф"
    )
    try:
        assert admin.post("/users/add", data=data).status_code == 302
        page = admin.post("/users/add", data={**data, "username": "olga2", "email": "ольга@клиника.рф"})
        assert (
            "Адрес «ольга@клиника.рф» уже указан у сотрудника Ольга Ёжикова. Заглавные и строчные буквы "
            "в адресах электронной почты не различаются." in page.get_data(as_text=True)
        )
        page = admin.post("/users/add", data={**data, "username": "ольга", "email": "olga2@test.example"})
        assert "Логин «ольга» уже занят: Ольга Ёжикова." in page.get_data(as_text=True)
        with app.app_context():
            sm = app.appbuilder.sm
            assert (
                sm.add_user("olga3", "Ольга", "Третья", "ОЛЬГА@клиника.рф", [sm.find_role("Аудитор")])
                is False
            )
            assert sorted(u.username for u in sm.get_all_users()) == [
                "auditor",
                "doctor",
                "manager",
                "reception",
                "sysadmin",
                "Ольга",
            ]
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            for user in sm.get_all_users():
                if user.username.casefold() in ("ольга", "olga2", "olga3"):
                    db.session.delete(user)
            db.session.commit()


def test_a_login_equal_to_another_users_email_is_refused(app, login_as):
    """User A's login «b@clinic.ru» beside user B's e-mail «b@clinic.ru» was saved, and
    B typing their address signed in A's account (or was refused with A's password).
    Refused on the users screen both ways, add and edit, in any capitals: 422, the reason
    on the field, nothing saved."""
    admin = login_as("sysadmin")
    with app.app_context():
        sm = app.appbuilder.sm
        role = str(sm.find_role("Аудитор").id)
        assert sm.add_user("b@clinic.ru", "Борис", "Логинов", "boris@test.example", [sm.find_role("Аудитор")])
    data = {
        "first_name": "Ольга",
        "last_name": "Вторая",
        "username": "Manager@Test.Example",
        "email": "olga.second@test.example",
        "roles": [role],
        "password": "Пароль-клиники-2026",
        "conf_password": "Пароль-клиники-2026",
        "active": "y",
    }
    login_taken = (
        "Логин «%s» совпадает с адресом электронной почты сотрудника Manager Тестовый, а входят и по "
        "логину, и по адресу: выберите другой логин."
    )
    email_taken = (
        "Адрес «%s» совпадает с логином сотрудника Борис Логинов, а входят и по логину, и по адресу: "
        "укажите другой адрес."
    )
    try:
        page = admin.post("/users/add", data=data)
        assert page.status_code == 422 and login_taken % "Manager@Test.Example" in page.get_data(as_text=True)
        page = admin.post("/users/add", data={**data, "username": "olga2", "email": "B@Clinic.ru"})
        assert page.status_code == 422 and email_taken % "B@Clinic.ru" in page.get_data(as_text=True)
        auditor = user_id(app, "auditor")
        edit = {
            "first_name": "Auditor",
            "last_name": "Тестовый",
            "username": "auditor",
            "email": "auditor@test.example",
            "roles": [role],
            "active": "y",
        }
        page = admin.post(f"/users/edit/{auditor}", data={**edit, "username": "manager@test.example"})
        assert page.status_code == 422 and login_taken % "manager@test.example" in page.get_data(as_text=True)
        page = admin.post(f"/users/edit/{auditor}", data={**edit, "email": "b@clinic.ru"})
        assert page.status_code == 422 and email_taken % "b@clinic.ru" in page.get_data(as_text=True)
        # a login equal to the user's own address is theirs
        assert (
            admin.post(
                f"/users/edit/{auditor}", data={**edit, "username": "auditor@test.example"}
            ).status_code
            == 302
        )
        with app.app_context():
            sm = app.appbuilder.sm
            assert sm.add_user("olga3", "Ольга", "Третья", "b@CLINIC.ru", [sm.find_role("Аудитор")]) is False
            users = {u.username: u.email for u in sm.get_all_users()}
        assert users == {
            "auditor@test.example": "auditor@test.example",
            "b@clinic.ru": "boris@test.example",
            "doctor": "doctor@test.example",
            "manager": "manager@test.example",
            "reception": "reception@test.example",
            "sysadmin": "sysadmin@test.example",
        }
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            db.session.delete(sm.find_user(username="b@clinic.ru"))
            sm.find_user(email="auditor@test.example").username = "auditor"
            db.session.commit()


def test_the_users_screen_refuses_a_bad_address_a_blank_name_and_control_characters(app, login_as):
    """«not-an-email» was saved as a staff member's e-mail, «   » as a surname and «Ctrl\\x01»
    as a name, with 302 «Запись добавлена»; a refused form answered 200. Each is
    refused in Russian on its field, 422, nothing saved."""
    admin = login_as("sysadmin")
    data = staff_form(
        app, first_name="Алёна", last_name="Ёлкина", username="alyona", email="Alyona@Clinic.ru"
    )
    for field, typed, message in (
        ("email", "not-an-email", "Неверный адрес электронной почты «not-an-email»."),
        ("last_name", "   ", "Заполните это поле."),
        ("first_name", "Алёна\x01", "Текст содержит непечатаемый символ (код U+0001): удалите его."),
        ("username", "   ", "Заполните это поле."),
    ):
        page = admin.post("/users/add", data={**data, field: typed})
        assert page.status_code == 422, field
        assert message in page.get_data(as_text=True), field
    auditor = user_id(app, "auditor")
    edit = {
        "first_name": "Auditor",
        "last_name": "Тестовый",
        "username": "auditor",
        "roles": data["roles"],
        "active": "y",
    }
    page = admin.post(f"/users/edit/{auditor}", data={**edit, "email": "auditor@"})
    assert page.status_code == 422 and "Неверный адрес электронной почты «auditor@»." in page.get_data(
        as_text=True
    )
    with app.app_context():
        users = {u.username: u.email for u in app.appbuilder.sm.get_all_users()}
    assert users == {
        "auditor": "auditor@test.example",
        "doctor": "doctor@test.example",
        "manager": "manager@test.example",
        "reception": "reception@test.example",
        "sysadmin": "sysadmin@test.example",
    }
    try:
        assert admin.post("/users/add", data=data).status_code == 302
    finally:
        with app.app_context():
            db.session.delete(app.appbuilder.sm.find_user(username="alyona"))
            db.session.commit()


def test_the_roles_and_groups_screens_refuse_a_blank_name_and_control_characters(app, login_as):
    """A role «   » and a group «Роль\\x07» were saved (302, «Запись добавлена»): the
    roles box of the users screen then offered an empty line. Refused in Russian,
    422, nothing saved."""
    from flask_appbuilder.security.sqla.models import Group, Role

    admin = login_as("sysadmin")
    with app.app_context():
        before = (db.session.query(Role).count(), db.session.query(Group).count())
    for url in ("/roles/add", "/groups/add"):
        for typed, message in (
            ("   ", "Заполните это поле."),
            ("Роль\x07", "Текст содержит непечатаемый символ (код U+0007): удалите его."),
        ):
            page = admin.post(url, data={"name": typed, "label": "Стажёры"})
            assert page.status_code == 422, (url, typed)
            assert message in page.get_data(as_text=True), (url, typed)
    with app.app_context():
        assert (db.session.query(Role).count(), db.session.query(Group).count()) == before


def test_the_profile_refuses_a_blank_a_too_long_name_and_control_characters(app, login_as):
    """The profile («Изменить данные») saved «Пётр\\x01» and a name of 300 letters (a 500
    on PostgreSQL: the column holds 64) and answered a name of spaces with 200. Each is
    refused on its field, 422, the name kept."""
    client = login_as("manager")
    for typed, message in (
        ("   ", "Заполните это поле."),
        ("Пётр\x01", "Текст содержит непечатаемый символ (код U+0001): удалите его."),
        ("П" * 300, "Значение не должно содержать более 64 символов."),
    ):
        page = client.post("/userinfoeditview/form", data={"first_name": typed, "last_name": "Ёлкин"})
        assert page.status_code == 422, typed
        assert message in page.get_data(as_text=True), typed
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="manager")
        assert (user.first_name, user.last_name) == ("Manager", "Тестовый")
    saved = client.post("/userinfoeditview/form", data={"first_name": "Manager", "last_name": "Тестовый"})
    assert saved.status_code == 302


def test_the_command_line_makes_no_user_with_a_weak_password_or_a_broken_address(app):
    """``flask fab create-admin --password 123`` made the clinic's system administrator
    with «123», and ``--email admin@`` was stored: the command line now keeps the users
    screen's rules (FAB says «No user created», the log says why)."""
    from flask_appbuilder.cli import fab

    runner = app.test_cli_runner()
    base = ["create-admin", "--username", "chief", "--firstname", "Анна", "--lastname", "Петрова"]
    for email, password in (("chief@clinic.example", "123"), ("admin@", "Пароль-клиники-2026")):
        result = runner.invoke(fab, [*base, "--email", email, "--password", password])
        assert "created." not in result.output, (email, password)
        with app.app_context():
            assert app.appbuilder.sm.find_user(username="chief") is None
    result = runner.invoke(
        fab, [*base, "--email", "Chief@Clinic.example", "--password", "Пароль-клиники-2026"]
    )
    try:
        assert "Admin User chief created." in result.output
    finally:
        with app.app_context():
            db.session.delete(app.appbuilder.sm.find_user(username="chief"))
            db.session.commit()


def test_staff_role_and_group_names_are_saved_without_spaces_around_and_roles_are_unique(app, login_as):
    """«Стажёр  » was saved beside «Стажёр»: two roles the users screen offered as one.
    The users, roles and groups screens save names without the spaces around them, and
    a role named as another after that, in any capitals, is refused in Russian, 422."""
    from flask_appbuilder.security.sqla.models import Group, Role

    admin = login_as("sysadmin")
    data = staff_form(app, first_name="  Алёна ", last_name="Стажёрова  ", username="alena.trainee")
    data["email"] = "alena.trainee@test.example"
    try:
        assert admin.post("/users/add", data=data).status_code == 302
        assert admin.post("/roles/add", data={"name": "Стажёр  "}).status_code == 302
        assert admin.post("/groups/add", data={"name": " Стажёры ", "label": " Группа "}).status_code == 302
        with app.app_context():
            user = app.appbuilder.sm.find_user(username="alena.trainee")
            assert (user.first_name, user.last_name) == ("Алёна", "Стажёрова")
            role = db.session.query(Role).filter(Role.name.like("%Стажёр%")).one()
            assert role.name == "Стажёр"
            group = db.session.query(Group).filter(Group.name.like("%Стажёры%")).one()
            assert (group.name, group.label) == ("Стажёры", "Группа")
            role_id = role.id
        for typed in ("Стажёр", "  стажёр ", "СТАЖЁР"):
            page = admin.post("/roles/add", data={"name": typed})
            assert page.status_code == 422, typed
            assert "Роль «Стажёр» уже есть: выберите другое название." in page.get_data(as_text=True)
        assert admin.post(f"/roles/edit/{role_id}", data={"name": "стажёр "}).status_code == 302  # its own
        with app.app_context():
            assert [r.name for r in db.session.query(Role).filter(Role.name.ilike("%ажёр%"))] == ["стажёр"]
    finally:
        with app.app_context():
            for model, column, pattern in ((Role, Role.name, "%ажёр%"), (Group, Group.name, "%Стажёры%")):
                for row in db.session.query(model).filter(column.like(pattern)):
                    db.session.delete(row)
            user = app.appbuilder.sm.find_user(username="alena.trainee")
            if user is not None:
                db.session.delete(user)
            db.session.commit()


def test_a_login_and_an_email_are_saved_without_the_spaces_around_them(app, login_as):
    """« olga » typed on the users screen (or given to ``flask fab create-user``) was stored
    with its spaces, and so was « olga@clinic.example »: the stored login is not the one
    the user signs in with, nor the address mail goes to. Both are stored stripped, on the
    screen (add and edit) and from the command line, and the user signs in as «olga»."""
    from flask_appbuilder.cli import fab

    admin = login_as("sysadmin")
    data = staff_form(
        app, first_name="Ольга", last_name="Пробелова", username=" olga ", email=" olga@clinic.example "
    )
    runner = app.test_cli_runner()
    try:
        assert admin.post("/users/add", data=data).status_code == 302
        with app.app_context():
            stored = db.session.query(User).filter(User.last_name == "Пробелова").one()
            assert (stored.username, stored.email) == ("olga", "olga@clinic.example")
            olga = stored.id
        edit = {k: v for k, v in data.items() if k not in ("password", "conf_password")}
        edited = {**edit, "username": "  olga.p\t", "email": " olga.p@clinic.example  "}
        assert admin.post(f"/users/edit/{olga}", data=edited).status_code == 302
        with app.app_context():
            stored = db.session.get(User, olga)
            assert (stored.username, stored.email) == ("olga.p", "olga.p@clinic.example")
        signed_in = Auth(app.test_client()).login("olga.p", data["password"])
        assert signed_in.status_code == 302 and "/login" not in signed_in.headers["Location"]

        result = runner.invoke(
            fab,
            [
                "create-user",
                *("--role", "Аудитор", "--username", " irina ", "--firstname", "Ирина"),
                *(
                    "--lastname",
                    "Пробелова",
                    "--email",
                    " irina@clinic.example ",
                    "--password",
                    data["password"],
                ),
            ],
        )
        assert "created." in result.output, result.output
        with app.app_context():
            made = db.session.query(User).filter(User.first_name == "Ирина").one()
            assert (made.username, made.email) == ("irina", "irina@clinic.example")
    finally:
        with app.app_context():
            for user in db.session.query(User).filter(User.last_name == "Пробелова"):
                db.session.delete(user)
            db.session.commit()
