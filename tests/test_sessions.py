"""Sessions kept on the server (app/sessions.py): logout, a password change, a
deactivation and «Завершить все сеансы» end them at once, on every worker."""

from __future__ import annotations

import re

import pytest

from app import create_app
from app.admin import sessions
from app.extensions import db
from app.models import UserSession
from tests import factories
from tests.conftest import PASSWORD, Auth, IsolatedClient, count_queries, user_id

NEW_PASSWORD = "лунная-дорожка-над-морем"
LIST = "/customerview/list/"


def signed_in(client) -> bool:
    return client.get(LIST).status_code == 200


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, value):
    app.test_client_class = IsolatedClient
    copy = app.test_client()
    copy.set_cookie("session", value)
    return copy


@pytest.fixture
def second_worker(app, database_url, tmp_path):
    """Another app instance on the same database: another gunicorn worker."""
    from config import TestConfig

    other = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        INSTANCE_DIR=str(tmp_path),
        SECRET_KEY="test-secret-key",
    )
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_copied_cookie_stops_working_after_logout(app, login_as):
    """The signed cookie kept working after logout, as long as it was used."""
    client = login_as("manager")
    copy = with_cookie(app, cookie_of(client))
    assert signed_in(copy)
    client.get("/logout/")
    assert not signed_in(copy)
    assert copy.get(LIST).headers["Location"].startswith("/login")


def test_a_session_is_the_same_on_every_worker_and_ends_on_every_worker(app, login_as, second_worker):
    client = login_as("reception")
    elsewhere = with_cookie(second_worker, cookie_of(client))
    assert signed_in(elsewhere)
    elsewhere.get("/logout/")
    assert not signed_in(client)


def test_the_session_id_changes_at_sign_in(app, client):
    client.get("/login/")  # an anonymous session (the form's CSRF token)
    before = client.get_cookie("session")
    Auth(client).login("manager")
    assert before is None or cookie_of(client) != before.value


def test_a_password_change_ends_the_users_other_sessions(app, login_as):
    client = login_as("auditor")
    other_browser = with_cookie(app, "")
    Auth(other_browser).login("auditor")
    assert signed_in(other_browser) and signed_in(client)
    try:
        changed = client.post(
            "/resetmypassword/form",
            data={"current_password": PASSWORD, "password": NEW_PASSWORD, "conf_password": NEW_PASSWORD},
        )
        assert changed.status_code == 302
        assert signed_in(client)  # where the change was made
        assert not signed_in(other_browser)
    finally:
        with app.app_context():
            app.appbuilder.sm.reset_password(user_id(app, "auditor"), PASSWORD)


@pytest.mark.parametrize("current", ["", "не-тот-пароль-совсем"])
def test_a_session_left_open_does_not_change_the_password_without_the_current_one(app, login_as, current):
    """Whoever sat at a signed-in browser changed its user's password with the new one
    alone, ending the owner's other sessions and locking them out. The current
    password is asked for (422 in Russian without it, nothing changed, nobody signed
    out), and a wrong one counts as a failed sign-in of the account."""
    from app.models import LoginThrottle

    client = login_as("auditor")
    owners_browser = with_cookie(app, "")
    Auth(owners_browser).login("auditor")
    form = client.get("/resetmypassword/form").get_data(as_text=True)
    assert "Текущий пароль" in form
    try:
        refused = client.post(
            "/resetmypassword/form",
            data={"current_password": current, "password": NEW_PASSWORD, "conf_password": NEW_PASSWORD},
        )
        assert refused.status_code == 422
        text = refused.get_data(as_text=True)
        assert ("Текущий пароль не подходит." in text) == bool(current)
        assert signed_in(owners_browser) and signed_in(client)
        if current:
            with app.app_context():
                assert db.session.query(LoginThrottle).count() >= 1  # counted as a failed sign-in
        Auth(owners_browser).logout()
        Auth(owners_browser).login("auditor")
        assert signed_in(owners_browser)  # the password is as it was
    finally:  # users outlive a test (conftest keeps the ab_ tables)
        with app.app_context():
            app.appbuilder.sm.reset_password(user_id(app, "auditor"), PASSWORD)


def test_deactivation_and_the_administrators_end_all_sessions_end_them(app, login_as, second_worker):
    second_worker.test_client_class = IsolatedClient
    doctor = second_worker.test_client()
    Auth(doctor).login("doctor")
    assert signed_in(doctor)
    admin = login_as("sysadmin")
    uid = user_id(app, "doctor")
    ended = admin.post("/users/action_post", data={"action": "end_sessions", "rowid": [uid]})
    assert ended.status_code == 302
    assert not signed_in(doctor)

    Auth(doctor).login("doctor")
    assert signed_in(doctor)
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.get_user_by_id(uid)
        user.active = False
        sm.update_user(user)
    try:
        assert not signed_in(doctor)
    finally:
        with app.app_context():
            user = sm.get_user_by_id(uid)
            user.active = True
            sm.update_user(user)


def test_the_user_and_the_administrator_see_the_sessions(app, login_as):
    client = login_as("manager")
    profile = client.get(
        "/users/userinfo/", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"}
    )
    text = profile.get_data(as_text=True)
    assert "Открытые сеансы" in text and "этот сеанс" in text and "127.0.0.1" in text
    with app.app_context():
        assert db.session.query(UserSession).filter_by(user_id=user_id(app, "manager")).count() == 1
    admin = login_as("sysadmin")
    listing = admin.get("/sessionview/list/").get_data(as_text=True)
    assert "Manager" in listing and "127.0.0.1" in listing


def test_a_user_ends_their_other_sessions(app, login_as):
    client = login_as("reception")
    other_browser = with_cookie(app, "")
    Auth(other_browser).login("reception")
    assert signed_in(other_browser)
    response = client.post("/users/userinfo/sessions/end")
    assert response.status_code == 302
    assert signed_in(client) and not signed_in(other_browser)


def test_a_visitor_who_is_not_signed_in_leaves_no_session_row(app, client):
    client.get("/static/kartoteka.js")
    client.get("/")
    with app.app_context():
        assert db.session.query(UserSession).count() == 0


def test_a_missing_static_file_does_not_sign_the_user_out(app, login_as):
    """A browser asks for files a page does not name (a stale stylesheet, a source
    map, an icon): its 404 sent a new, empty session's cookie in place of the
    signed-in one, and the next click led to the login page."""
    client = login_as("reception")
    response = client.get("/static/css/no-such-file.css")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers
    assert signed_in(client)


def session_writes(statements) -> list[str]:
    return [
        s
        for s in statements
        if "user_session" in s and s.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")
    ]


def test_going_from_page_to_page_writes_nothing_and_back_still_returns(app, ctx, login_as):
    """Every page opened after another wrote the session's row: FAB keeps the pages
    behind «Назад» and a save's return in the session, so each page view was a write
    transaction (on PostgreSQL a flush to disk) for what only this browser needs.
    The pages travel in a signed cookie of their own now, and «Назад» still works."""
    card = f"/customerview/show/{factories.customer(ctx).id}"
    ctx.commit()
    client = login_as("manager")
    pages = (LIST, card, "/orderview/list/", "/noteview/list/")
    for page in pages:  # the first form of the session writes its CSRF token once
        client.get(page)
    with count_queries(app) as statements:
        for page in pages:
            assert client.get(page).status_code == 200
    assert session_writes(statements) == []
    assert client.get("/back").headers["Location"].endswith("/orderview/list/")  # from the notes list
    # what the row holds is still written when it changes: a message flashed by a save
    with count_queries(app) as statements:
        client.post("/tagview/add", data={"name": "Постоянный", "color": "#00ff00"})
    assert len(session_writes(statements)) == 1
    page = client.get("/tagview/list/").get_data(as_text=True)
    assert "Запись добавлена" in page and "Постоянный" in page


def test_the_pages_behind_back_belong_to_their_session(app, login_as):
    """The cookie is signed and bound to the session: another session given it, a
    forged one and the same browser after a new sign-in do not go back through them."""
    client = login_as("manager")
    client.get("/orderview/list/")
    client.get(LIST)
    pages = client.get_cookie(sessions.HISTORY_COOKIE).value
    assert client.get("/back").headers["Location"].endswith("/orderview/list/")

    app.test_client_class = IsolatedClient
    other = app.test_client()
    Auth(other).login("reception")
    other.get(LIST)
    for value in (pages, "forged", pages[:-3] + "abc"):
        other.set_cookie(sessions.HISTORY_COOKIE, value)
        back = other.get("/back")
        assert back.status_code == 302 and "orderview" not in back.headers["Location"]

    client.get("/orderview/list/")
    client.get(LIST)
    Auth(client).logout()
    Auth(client).login("manager")
    assert "orderview" not in client.get("/back").headers["Location"]


def test_a_pages_stylesheets_and_scripts_read_no_session(app, login_as):
    """Every static file a page asks for (about 20, revalidated by the browser on each
    page) read the session's row with the user and their permissions: some 20
    statements a page view for files anyone may fetch. The signed-in session is untouched."""
    client = login_as("manager")
    page = client.get(LIST).get_data(as_text=True)
    files = sorted(set(re.findall(r'(?:src|href)="(/static/[^"?]+)', page)))
    assert "/static/kartoteka.js" in files and any(f.startswith("/static/appbuilder/") for f in files)
    with count_queries(app) as statements:
        for path in files:
            response = client.get(path)
            assert response.status_code == 200, path
            assert "Set-Cookie" not in response.headers, path
    assert statements == []
    assert signed_in(client)


def _form_token(client, url) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_typing_in_a_form_keeps_the_session_and_an_idle_one_still_ends(app, login_as):
    """A doctor typing a long anamnesis, a receptionist filling a form with the customer
    on the phone: the page's script asks /users/userinfo/alive while a form is typed
    in, which restarts the idle timer and answers the session's form token. A session
    nobody works in still ends."""
    import time

    client = login_as("doctor")
    idle = app.permanent_session_lifetime.total_seconds()
    with client.session_transaction() as session:
        session["_seen"] = int(time.time() - idle + 60)  # typing for 29 minutes
    alive = client.get("/users/userinfo/alive")
    assert alive.status_code == 200 and alive.json["csrf"]
    with client.session_transaction() as session:
        assert int(time.time()) - session["_seen"] < 5  # the timer restarted
    assert signed_in(client)
    with client.session_transaction() as session:
        session["_seen"] = int(time.time() - idle - 1)  # nobody at the computer
    assert client.get("/users/userinfo/alive").status_code == 302
    assert not signed_in(client)
    assert app.test_client().get("/users/userinfo/alive").status_code == 302  # not signed in


def test_a_page_starts_the_session_watch_only_for_a_signed_in_user(app, client, login_as):
    watch = re.compile(r"kartotekaSessionWatch\((\{.*?\})\);")
    assert not watch.search(client.get("/login/").get_data(as_text=True))
    page = login_as("reception").get(LIST).get_data(as_text=True)
    import json

    settings = json.loads(watch.search(page).group(1))
    assert settings["idle"] == app.permanent_session_lifetime.total_seconds()
    assert settings["alive"] == "/users/userinfo/alive"
    assert "30 минут" in settings["ended"] and "не потеряно" in settings["ended"]


def test_a_form_sent_after_its_session_ended_says_so_and_saves_nothing(app, ctx, client):
    """A receptionist back from lunch saved the new customer's form: its session had
    ended, and the answer was «400 Запрос не понят: проверьте адрес и форму», as if she
    had mistyped something."""
    import datetime as dt

    from app.models import Customer

    app.config["WTF_CSRF_ENABLED"] = True
    try:
        token = _form_token(client, "/login/")
        signed = client.post(
            "/login/", data={"username": "reception", "password": PASSWORD, "csrf_token": token}
        )
        assert signed.status_code == 302
        token = _form_token(client, "/customerview/add")
        with app.app_context():
            db.session.execute(db.update(UserSession).values(expiry=dt.datetime(2026, 1, 1)))
            db.session.commit()
        response = client.post(
            "/customerview/add",
            data={
                "csrf_token": token,
                "last_name": "Обедова",
                "first_name": "Анна",
                "phone": "8 916 123-45-67",
            },
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    text = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "Сеанс завершён, и форма не сохранена" in text and "дольше, чем 30 минут" in text
    assert 'href="/login/"' in text and "Войти снова" in text
    ctx.expire_all()
    assert ctx.query(Customer).filter_by(last_name="Обедова").count() == 0


def test_after_the_idle_timeout_the_login_says_why_and_returns_to_the_page(app, ctx, login_as):
    """Back from lunch, a click on a card opened the login page without a word, and
    signing in led to the customers list instead of the card."""
    import time

    card = f"/customerview/show/{factories.customer(ctx).id}?tab=notes"
    client = login_as("reception")
    with client.session_transaction() as session:
        session["_seen"] = int(time.time() - app.permanent_session_lifetime.total_seconds() - 1)
    to_login = client.get(card)
    assert to_login.status_code == 302
    login_page = client.get(to_login.headers["Location"]).get_data(as_text=True)
    assert "Сеанс завершён: в Картотеке ничего не делали дольше, чем 30 минут" in login_page
    signed = client.post(to_login.headers["Location"], data={"username": "reception", "password": PASSWORD})
    assert signed.headers["Location"] == card
    assert "Сеанс завершён" not in client.get("/login/").get_data(as_text=True)
