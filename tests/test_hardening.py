"""Authentication hardening: rate limit, password policy, redirects, CSRF, cookies."""

from __future__ import annotations

import logging

import pytest
from flask_appbuilder.exceptions import PasswordComplexityValidationError

from app.admin.security import password_policy
from app.models import Note
from tests import factories
from tests.conftest import PASSWORD, user_id


def test_login_messages_do_not_enumerate_users(client):
    known = client.post("/login/", data={"username": "manager", "password": "wrong"}, follow_redirects=True)
    unknown = client.post(
        "/login/", data={"username": "nobody-here", "password": "wrong"}, follow_redirects=True
    )
    import re

    def flashes(r):
        return [
            m.strip()
            for m in re.findall(
                r"alert-(?:danger|warning)[^>]*>.*?</button>(.*?)</div>", r.get_data(as_text=True), re.S
            )
        ]

    assert flashes(known) == flashes(unknown)
    assert flashes(known), "the login page says the login failed"


@pytest.mark.parametrize(
    "password, message",
    [
        ("short-pass1", "не меньше 12 символов"),
        ("qwertyuiop123", "слишком распространён"),
        ("aaaaaaaaaaaaaa", "слишком распространён"),
    ],
)
def test_weak_passwords_are_refused_with_reason(app, password, message):
    with app.test_request_context():
        with pytest.raises(PasswordComplexityValidationError, match=message):
            password_policy(password)
        password_policy("лунная-дорожка-над-морем")  # long passphrases need no composition rules


def test_weak_password_refused_in_user_form(app, login_as):
    client = login_as("sysadmin")
    with app.app_context():
        role_id = app.appbuilder.sm.find_role("Аудитор").id
    response = client.post(
        "/users/add",
        data={
            "first_name": "Ни",
            "last_name": "Кто",
            "username": "weakling",
            "email": "w@example.ru",
            "active": "y",
            "roles": [str(role_id)],
            "password": "short",
            "conf_password": "short",
        },
    )
    assert "не меньше 12 символов" in response.get_data(as_text=True)
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="weakling") is None


def test_changing_ones_own_password_says_and_applies_the_policy(app, client, login_as):
    """The form said «the application does not check» the password; it checks."""
    new_password = "лунная-дорожка-над-морем"

    def signs_in(password):
        client.get("/logout/")
        response = client.post("/login/", data={"username": "reception", "password": password})
        return response.status_code == 302 and "/login" not in response.headers["Location"]

    form = login_as("reception").get("/resetmypassword/form").get_data(as_text=True)
    assert "<title>Смена пароля — Картотека</title>" in form
    assert "Не короче 12 символов" in form and "не контролирует" not in form
    refused = client.post(
        "/resetmypassword/form",
        data={"current_password": PASSWORD, "password": "short", "conf_password": "short"},
    )
    assert refused.status_code == 422  # it answered 200, as if changed
    assert "не меньше 12 символов" in refused.get_data(as_text=True)
    spaces = client.post(
        "/resetmypassword/form",
        data={"current_password": PASSWORD, "password": " " * 14, "conf_password": " " * 14},
    )
    assert spaces.status_code == 422
    assert signs_in(PASSWORD)  # the refused change changed nothing
    try:
        changed = client.post(
            "/resetmypassword/form",
            data={"current_password": PASSWORD, "password": new_password, "conf_password": new_password},
        )
        assert changed.status_code == 302
        assert not signs_in(PASSWORD)
        assert signs_in(new_password)
    finally:  # users outlive a test (conftest keeps the ab_ tables)
        with app.app_context():
            app.appbuilder.sm.reset_password(user_id(app, "reception"), PASSWORD)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "http://evil.example/login/",
    ],
)
def test_open_redirect_payloads_stay_on_our_host(client, target):
    response = client.post(f"/login/?next={target}", data={"username": "manager", "password": PASSWORD})
    location = response.headers.get("Location", "")
    assert response.status_code == 302
    assert "evil.example" not in location and "javascript" not in location
    spoofed = client.post(
        "/login/?next=http://evil.example/",
        data={"username": "manager", "password": PASSWORD},
        headers={"Host": "evil.example"},
    )
    assert spoofed.headers.get("Location", "").startswith("/")


def test_an_ordinary_login_logs_no_invalid_redirect_and_a_refused_next_does(client, caplog):
    """FAB warned «Invalid redirect detected» on every sign-in without ``next``."""
    with caplog.at_level(logging.WARNING, logger="flask_appbuilder"):
        assert client.post("/login/", data={"username": "manager", "password": PASSWORD}).status_code == 302
        assert "Invalid redirect" not in caplog.text
        client.get("/logout/")
        refused = client.post(
            "/login/?next=//evil.example", data={"username": "manager", "password": PASSWORD}
        )
        assert refused.status_code == 302
    assert "Invalid redirect detected" in caplog.text


def test_post_without_csrf_token_is_refused_and_changes_nothing(app, ctx, login_as):
    customer = factories.customer(ctx)
    client = login_as("reception")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post(f"/customerview/{customer.id}/notes", data={"text": "без токена"})
        assert response.status_code == 400
        deleted = client.post(f"/customerview/delete/{customer.id}")
        assert deleted.status_code == 400
        get_delete = client.get(f"/customerview/delete/{customer.id}")
        assert get_delete.status_code in (302, 403, 405)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    ctx.expire_all()
    assert ctx.query(Note).count() == 0
    assert ctx.get(type(customer), customer.id) is not None


def _list_csrf_token(client) -> str:
    import re

    page = client.get("/customerview/list/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_reused_csrf_token_stays_bound_to_its_session(app, ctx, login_as):
    """A list's signed CSRF token is reused by its session for a while (not signed
    anew per page): it still works for that session's POST, never for another's,
    and another session is never handed it."""
    customer = factories.customer(ctx)
    client = login_as("reception")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        token = _list_csrf_token(client)
        assert _list_csrf_token(client) == token  # reused within the session
        other = app.test_client()
        page = other.get("/login/").get_data(as_text=True)
        assert token not in page
        with other.session_transaction() as other_session:
            other_session["csrf_token"] = "another-sessions-raw-token"
        refused = other.post(
            f"/customerview/{customer.id}/notes", data={"text": "чужой", "csrf_token": token}
        )
        assert refused.status_code == 401  # a form that needs a session it does not have
        accepted = client.post(
            f"/customerview/{customer.id}/notes", data={"text": "свой", "csrf_token": token}
        )
        assert accepted.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    ctx.expire_all()
    assert [note.text for note in ctx.query(Note)] == ["свой"]


def test_session_cookie_and_security_headers(client):
    response = client.post("/login/", data={"username": "manager", "password": PASSWORD})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_idle_session_is_signed_out(login_as):
    import time

    client = login_as("manager")
    assert client.get("/customerview/list/").status_code == 200
    with client.session_transaction() as session:
        session["_seen"] = int(time.time()) - 31 * 60
    response = client.get("/customerview/list/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "/login" in client.get("/customerview/list/").headers.get("Location", "")


def test_active_session_slides_without_a_cookie_on_every_page(login_as):
    """The session cookie is re-sent when the idle timer moves (every 30 s of
    activity), not on every response; an active user stays signed in."""
    import time

    client = login_as("manager")
    client.get("/customerview/list/")
    again = client.get("/customerview/list/")
    assert again.status_code == 200 and "Set-Cookie" not in again.headers
    with client.session_transaction() as session:
        session["_seen"] = int(time.time()) - 29 * 60  # last marked 29 minutes ago
    moved = client.get("/customerview/list/")
    assert moved.status_code == 200 and "Set-Cookie" in moved.headers
    with client.session_transaction() as session:
        assert int(time.time()) - session["_seen"] < 5  # the timer restarted
    assert client.get("/customerview/list/").status_code == 200


def test_markup_typed_into_a_field_is_shown_as_text(ctx, login_as):
    """What a user typed (here, a name with markup) is escaped in the list cells
    (built in Python, app/views.py list_cells) and on the card."""
    from tests import factories

    customer = factories.customer(ctx, last_name='<b onmouseover="x">Жирная</b>', first_name="O'Нил & Ко")
    ctx.commit()
    client = login_as("manager")
    listing = client.get("/customerview/list/").get_data(as_text=True)
    assert "&lt;b onmouseover=&#34;x&#34;&gt;Жирная&lt;/b&gt; O&#39;Нил &amp; Ко" in listing
    assert '<b onmouseover="x">' not in listing
    card = client.get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert '<b onmouseover="x">' not in card and "Жирная" in card


def test_addresses_that_name_nothing_answer_404_not_500(app, login_as):
    """Every route with a variable, given a record number that is not one (text, out
    of the column's range, zero, negative), an unknown action, file or chart:
    the answer is 404, 403 or a redirect, never a server error. Each address is asked
    by a role that gets past its permission (tests/test_doors.py ``by_a_role_that_may``:
    a refused role answers 403 before the number is read)."""
    import re

    from tests.test_doors import by_a_role_that_may, status_of

    asked = []
    for rule in app.url_map.iter_rules():
        path = str(rule)
        if "<" not in path or rule.endpoint == "static" or path.startswith("/static"):
            continue
        for value in ("abc", "99999999999999999999", "0", "-1"):
            url = re.sub(r"<(?:[a-z]+:)?pk>", value, path)
            url = re.sub(r"<[^>]+>", "nothing", url)
            asked += [(method, url) for method in sorted(rule.methods & {"GET", "POST"})]
    answered = by_a_role_that_may(login_as, asked, lambda client, item: status_of(client, item[1], item[0]))
    assert len(answered) == len(asked)
    assert [(role, *item, s) for role, item, s in answered if not isinstance(s, int) or s >= 500] == []


API_QUERIES = [
    "(page:-1)",
    "(page_size:1000)",
    "(order_column:nope,order_direction:asc)",
    "(order_column:id,order_direction:sideways)",
    "(filters:!((col:nope,opr:eq,value:1)))",
    "(filters:!((col:id,opr:nope,value:1)))",
    "(filters:!((col:id,opr:eq,value:abc)))",
    "(filters:!((col:id,opr:gt,value:99999999999999999999)))",
    "(filters:!((col:status,opr:eq,value:nope)))",
    "(columns:!(nope))",
    "(keys:!(nope))",
    "(filters:nope)",
    "((((",
    "!(1,2)",
]


def test_api_queries_that_make_no_sense_answer_4xx_not_500(login_as):
    from urllib.parse import quote

    client = login_as("manager")
    failures = []
    for resource in ("customers", "orders", "notes", "documents"):
        for query in API_QUERIES:
            status = client.get(f"/api/v1/{resource}/?q={quote(query)}").status_code
            if status >= 500:
                failures.append((resource, query, status))
    assert failures == []


def test_a_nul_character_in_a_form_or_an_address_is_refused_not_a_500(ctx, login_as):
    """PostgreSQL keeps no NUL in text: a note or a search with one answered 500 there
    (SQLite stored it). A form says so on its field (422); an address answers 400."""
    from app.models import Note

    customer = factories.customer(ctx)
    client = login_as("manager")
    for url, data in (
        (f"/customerview/{customer.id}/notes", {"text": "a\x00b"}),
        ("/noteview/add", {"customer": str(customer.id), "text": "a\x00b"}),
    ):
        refused = client.post(url, data=data)
        assert refused.status_code == 422, url
        assert "Текст содержит непечатаемый символ (код U+0000)" in refused.get_data(as_text=True)
    assert client.get("/customerview/list/", query_string={"q": "a\x00b"}).status_code == 400
    assert client.post("/api/v1/notes/", json={"customer": customer.id, "text": "a\x00b"}).status_code == 422
    ctx.expire_all()
    assert ctx.query(Note).count() == 0


def test_the_api_refuses_every_control_character_the_forms_refuse(ctx, login_as):
    """The API refused only a NUL: a bell or an escape in a note's text was stored and
    shown on the card. It answers as the forms do: 422, the character named, nothing stored."""
    from app.models import Note

    customer = factories.customer(ctx)
    client = login_as("manager")
    for char in ("\x07", "\x1b", "\x7f", "\x85"):
        refused = client.post("/api/v1/notes/", json={"customer": customer.id, "text": f"a{char}b"})
        assert refused.status_code == 422, repr(char)
        assert f"U+{ord(char):04X}" in refused.get_data(as_text=True)
    accepted = client.post(
        "/api/v1/notes/", json={"customer": customer.id, "text": "строка\nвторая\tс табуляцией"}
    )
    assert accepted.status_code == 201
    ctx.expire_all()
    assert [n.text for n in ctx.query(Note)] == ["строка\nвторая\tс табуляцией"]


@pytest.mark.parametrize("role", ["manager", "reception", "doctor", "auditor", "sysadmin"])
def test_a_list_action_the_role_may_not_run_is_refused_and_an_unknown_one_is_404(app, ctx, login_as, role):
    """Every bulk action of every registered view, posted as each role: a role without
    the action's permission gets 403 and the rows stay as they were (a receptionist's
    «Заблокировать» was redirected to the start page with FAB's English «Access is
    Denied»); an action name the view does not have answers 404 (it was a 500)."""
    from sqlalchemy import select

    customer = factories.customer(ctx)
    client = login_as(role)
    security = app.appbuilder.sm
    user = security.find_user(username=role)
    checked = []
    for view in app.appbuilder.baseviews:
        if f"{view.endpoint}.action_post" not in app.view_functions:
            continue
        actions = view.actions
        base = f"/{view.route_base.strip('/')}"
        unknown = client.post(
            f"{base}/action_post", data={"action": "no_such_action", "rowid": [str(customer.id)]}
        )
        assert unknown.status_code == 404, (base, unknown.status_code)
        model = view.datamodel.obj
        for name in actions:
            permission = view.get_action_permission_name(name)
            if any(
                (pv.permission.name, pv.view_menu.name) == (permission, view.class_permission_name)
                for r in user.roles
                for pv in r.permissions
            ):
                continue
            before = ctx.execute(select(model.__table__)).all()
            refused = client.post(f"{base}/action_post", data={"action": name, "rowid": [str(customer.id)]})
            assert refused.status_code == 403, (role, base, name, refused.status_code)
            ctx.expire_all()
            assert ctx.execute(select(model.__table__)).all() == before, (role, base, name)
            checked.append((base, name))
    if role == "reception":
        assert ("/customerview", "status_blocked") in checked
    if role in ("doctor", "auditor"):
        assert checked, "the read-only roles are refused some action"
