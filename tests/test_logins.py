"""Every door to sign in under one policy (app/logins.py): growing delays per
account and per address, counted in the database every worker shares."""

from __future__ import annotations

import datetime as dt

import pytest

from app import create_app
from app.extensions import db
from app.models import LoginThrottle, ThrottleKind, utcnow
from tests.conftest import PASSWORD, IsolatedClient

CLINIC = {"REMOTE_ADDR": "203.0.113.7"}  # a clinic's one public address


@pytest.fixture
def token_api(app):
    app.config["KARTOTEKA_TOKEN_API"] = True
    yield
    app.config["KARTOTEKA_TOKEN_API"] = False


def form_door(client, username, password, env=CLINIC):
    """(signed in?, status) through the login form."""
    client.get("/logout/", environ_base=env)
    response = client.post("/login/", data={"username": username, "password": password}, environ_base=env)
    signed_in = response.status_code == 302 and "/login" not in response.headers["Location"]
    return signed_in, response.status_code


def api_door(client, username, password, env=CLINIC):
    response = client.post(
        "/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db"},
        environ_base=env,
    )
    return response.status_code == 200 and "access_token" in response.get_json(), response.status_code


DOORS = {"form": form_door, "api": api_door}


@pytest.mark.parametrize("door", DOORS)
def test_fifty_wrong_passwords_are_limited_and_others_still_sign_in(client, token_api, door):
    """The API door accepted 25 wrong passwords while the form answered 429; the
    form's limit was per address only, and locked the whole clinic out."""
    enter = DOORS[door]
    statuses = [enter(client, "manager", f"wrong-{n}")[1] for n in range(50)]
    checked = [s for s in statuses if s != 429]
    assert len(checked) == 5, statuses  # the rest were refused without a check
    assert statuses[-1] == 429
    signed_in, status = enter(client, "manager", PASSWORD)
    assert (signed_in, status) == (False, 429)  # the attacked account waits…
    for other in ("reception", "doctor"):  # …while the clinic's others sign in
        assert enter(client, other, PASSWORD) == (True, 200 if door == "api" else 302)


def test_the_doors_share_one_count(client, token_api):
    for n in range(3):
        form_door(client, "auditor", f"wrong-{n}")
    for n in range(2):
        api_door(client, "auditor", f"wrong-{n}")
    assert form_door(client, "auditor", "wrong-again")[1] == 429
    assert api_door(client, "auditor", PASSWORD)[1] == 429
    # a login and the same account's e-mail are one account
    assert form_door(client, "auditor@test.example", PASSWORD)[1] == 429


def test_a_login_typed_in_other_capitals_is_the_same_account(client):
    """The form signs «Auditor» in as «auditor» (logins ignore capitals), but its
    failures were counted for an unknown login «auditor»: five guesses as typed and
    five more in other capitals before either waited, and an administrator lifting the
    account's wait left the other."""
    for n, typed in enumerate(("auditor", "Auditor", "AUDITOR", "aUditor", "auDitor")):
        assert form_door(client, typed, f"wrong-{n}") == (False, 302)
    assert form_door(client, "audItor", "wrong-again")[1] == 429
    assert form_door(client, "auditor", PASSWORD)[1] == 429
    with client.application.app_context():
        subjects = {
            row.subject for row in db.session.query(LoginThrottle).filter_by(kind=ThrottleKind.ACCOUNT)
        }
    assert len(subjects) == 1 and subjects.pop().startswith("user:")


@pytest.mark.parametrize("door", DOORS)
def test_an_email_typed_in_other_capitals_signs_in(client, token_api, door):
    """E-mails are one in any capitals (the users screen refuses a second), but the
    sign-in matched them exactly: «Auditor@Test.Example» was «Неверное имя
    пользователя или пароль»."""
    assert DOORS[door](client, "Auditor@Test.Example", PASSWORD)[0]


@pytest.fixture
def olga(app):
    """A user whose login is Cyrillic, «Ольга» (deleted at the end)."""
    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_user(
            "Ольга", "Ольга", "Ёжикова", "olga@test.example", [sm.find_role("Аудитор")], password=PASSWORD
        )
    yield
    with app.app_context():
        db.session.delete(app.appbuilder.sm.find_user(username="Ольга"))
        db.session.commit()


@pytest.mark.parametrize("door", DOORS)
def test_a_cyrillic_login_typed_in_other_capitals_signs_in(client, token_api, olga, door):
    """«ОЛЬГА» was «Неверное имя пользователя или пароль» for the user «Ольга»: the
    sign-in matched logins with SQL lower(), which folds Latin letters only on SQLite
    (and on PostgreSQL under the «C» locale)."""
    for typed in ("ОЛЬГА", "ольга", "Ольга"):
        assert DOORS[door](client, typed, PASSWORD)[0], typed


def test_a_cyrillic_login_in_other_capitals_is_counted_as_the_same_account(client, olga):
    for n, typed in enumerate(("Ольга", "ОЛЬГА", "ольга", "оЛЬГА", "ОЛьга")):
        assert form_door(client, typed, f"wrong-{n}") == (False, 302)
    assert form_door(client, "ольгА", PASSWORD)[1] == 429
    with client.application.app_context():
        subjects = {
            row.subject for row in db.session.query(LoginThrottle).filter_by(kind=ThrottleKind.ACCOUNT)
        }
    assert len(subjects) == 1 and subjects.pop().startswith("user:")


def test_the_wait_grows_and_the_right_password_works_after_it(app, client):
    for n in range(5):
        form_door(client, "doctor", f"wrong-{n}")
    with app.app_context():
        row = db.session.query(LoginThrottle).filter_by(kind=ThrottleKind.ACCOUNT).one()
        first_wait = row.blocked_until - row.last_failure_at
        row.blocked_until = utcnow() - dt.timedelta(seconds=1)  # the wait is over
        db.session.commit()
    assert form_door(client, "doctor", "wrong-6")[1] == 302  # checked again, and wrong
    with app.app_context():
        row = db.session.query(LoginThrottle).filter_by(kind=ThrottleKind.ACCOUNT).one()
        assert row.blocked_until - row.last_failure_at == 2 * first_wait == dt.timedelta(minutes=2)
        row.blocked_until = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
    assert form_door(client, "doctor", PASSWORD) == (True, 302)
    with app.app_context():  # a success starts the count again
        assert db.session.query(LoginThrottle).filter_by(kind=ThrottleKind.ACCOUNT).count() == 0


def test_guessing_across_accounts_from_one_address_waits_but_its_staff_sign_in(client):
    """Twenty failures from one address on as many logins: the address waits for
    logins that never signed in from it; the staff who did still sign in."""
    assert form_door(client, "reception", PASSWORD)[0]  # known from the clinic's address
    for n in range(20):
        assert form_door(client, f"guess-{n}", "wrong")[1] == 302
    assert form_door(client, "guess-20", "wrong")[1] == 429
    assert form_door(client, "manager", PASSWORD)[1] == 429  # never signed in from here
    assert form_door(client, "reception", PASSWORD) == (True, 302)
    assert form_door(client, "manager", PASSWORD, env={"REMOTE_ADDR": "198.51.100.9"}) == (True, 302)


def test_the_count_is_shared_by_every_worker(app, database_url, tmp_path):
    """gunicorn's workers each counted on their own (in-memory storage): 35 of 50
    wrong passwords were checked. Two app instances on one database count once."""
    from config import TestConfig

    other = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        INSTANCE_DIR=str(tmp_path),
        SECRET_KEY="test-secret-key",
    )
    other.test_client_class = app.test_client_class = IsolatedClient
    workers = [app.test_client(), other.test_client()]
    try:
        statuses = [form_door(workers[n % 2], "auditor", f"wrong-{n}")[1] for n in range(50)]
        assert statuses.count(302) == 5 and statuses[5:] == [429] * 45
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_forwarded_address_counts_only_behind_trusted_proxies(app, client, database_url, tmp_path):
    """Without KARTOTEKA_TRUSTED_PROXIES a spoofed X-Forwarded-For changes nothing;
    behind one trusted proxy the forwarded address is the client's."""
    from config import TestConfig

    for n in range(3):
        client.post(
            "/login/",
            data={"username": "nobody", "password": "wrong"},
            headers={"X-Forwarded-For": f"192.0.2.{n}"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
    behind = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        INSTANCE_DIR=str(tmp_path),
        SECRET_KEY="test-secret-key",
        KARTOTEKA_TRUSTED_PROXIES=1,
    )
    behind.test_client_class = IsolatedClient
    behind.test_client().post(
        "/login/",
        data={"username": "nobody", "password": "wrong"},
        headers={"X-Forwarded-For": "198.51.100.77"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    with app.app_context():
        counted = dict(
            db.session.query(LoginThrottle.subject, LoginThrottle.failures).filter_by(
                kind=ThrottleKind.ADDRESS
            )
        )
    with behind.app_context():
        db.session.remove()
        db.engine.dispose()
    assert counted == {"10.0.0.1": 3, "198.51.100.77": 1}


def test_the_administrator_sees_who_waits_and_lifts_the_wait(app, client, login_as):
    for n in range(6):
        form_door(client, "doctor", f"wrong-{n}")
    admin = login_as("sysadmin")
    listing = admin.get("/loginthrottleview/list/").get_data(as_text=True)
    assert "doctor" in listing and "Учётная запись" in listing
    with app.app_context():
        row = db.session.query(LoginThrottle).filter_by(kind=ThrottleKind.ACCOUNT).one()
    lifted = admin.post("/loginthrottleview/action_post", data={"action": "lift_wait", "rowid": [row.id]})
    assert lifted.status_code == 302
    assert form_door(client, "doctor", PASSWORD) == (True, 302)
    assert login_as("manager").get("/loginthrottleview/list/").status_code in (302, 403)
