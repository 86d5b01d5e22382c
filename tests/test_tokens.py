"""The token API (app/tokens.py): off unless KARTOTEKA_TOKEN_API; when on, a
token lives as a session does: the idle timeout, logout everywhere, a password
change and a deactivation end it."""

from __future__ import annotations

import datetime as dt

import pytest

from app.extensions import db
from app.models import UserSession, utcnow
from tests.conftest import PASSWORD, user_id

NEW_PASSWORD = "лунная-дорожка-над-морем"


@pytest.fixture
def token_api(app):
    app.config["KARTOTEKA_TOKEN_API"] = True
    yield
    app.config["KARTOTEKA_TOKEN_API"] = False


def tokens(client, username="manager"):
    response = client.post(
        "/api/v1/security/login",
        json={"username": username, "password": PASSWORD, "provider": "db", "refresh": True},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def reads(client, token) -> int:
    return client.get("/api/v1/customers/", headers={"Authorization": f"Bearer {token}"}).status_code


def refreshes(client, refresh_token) -> int:
    return client.post(
        "/api/v1/security/refresh", headers={"Authorization": f"Bearer {refresh_token}"}
    ).status_code


def test_the_token_api_is_off_unless_configured(app, client):
    login = client.post(
        "/api/v1/security/login", json={"username": "manager", "password": PASSWORD, "provider": "db"}
    )
    assert login.status_code == 404
    assert client.post("/api/v1/security/refresh").status_code == 404


def test_a_token_stops_at_the_idle_timeout(app, client, token_api):
    """A token kept reading the API after the 30-minute idle timeout."""
    issued = tokens(client)
    assert reads(client, issued["access_token"]) == 200
    with app.app_context():
        db.session.query(UserSession).filter_by(kind="token").update(
            {"expiry": utcnow() - dt.timedelta(seconds=1)}
        )
        db.session.commit()
    assert reads(client, issued["access_token"]) == 401
    assert refreshes(client, issued["refresh_token"]) == 401


def test_a_token_is_refreshed_while_its_session_lives(client, token_api):
    issued = tokens(client)
    refreshed = client.post(
        "/api/v1/security/refresh", headers={"Authorization": f"Bearer {issued['refresh_token']}"}
    )
    assert refreshed.status_code == 200
    assert reads(client, refreshed.get_json()["access_token"]) == 200


def test_a_token_stops_when_the_user_logs_out_everywhere(app, login_as, token_api):
    client = app.test_client()  # the integration's, without the browser's cookie
    issued = tokens(client, "manager")
    browser = login_as("manager")
    assert browser.post("/users/userinfo/sessions/end").status_code == 302
    assert reads(client, issued["access_token"]) == 401
    assert refreshes(client, issued["refresh_token"]) == 401


def test_a_token_stops_when_the_password_changes(app, client, token_api):
    issued = tokens(client, "auditor")
    try:
        with app.app_context():
            app.appbuilder.sm.reset_password(user_id(app, "auditor"), NEW_PASSWORD)
        assert reads(client, issued["access_token"]) == 401
    finally:
        with app.app_context():
            app.appbuilder.sm.reset_password(user_id(app, "auditor"), PASSWORD)


def test_a_token_stops_when_the_user_is_deactivated(app, client, token_api):
    issued = tokens(client, "reception")
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.get_user_by_id(user_id(app, "reception"))
        user.active = False
        sm.update_user(user)
    try:
        assert reads(client, issued["access_token"]) == 401
    finally:
        with app.app_context():
            user = sm.get_user_by_id(user_id(app, "reception"))
            user.active = True
            sm.update_user(user)
    assert reads(client, issued["access_token"]) == 401  # reactivated: still a new login


def test_token_answers_speak_russian(client, token_api):
    wrong = client.post(
        "/api/v1/security/login", json={"username": "manager", "password": "x", "provider": "db"}
    )
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "Неверное имя пользователя или пароль."
    bogus = client.get("/api/v1/customers/", headers={"Authorization": "Bearer nonsense"})
    assert bogus.status_code == 401 and bogus.get_json()["message"] == "Токен не распознан."
