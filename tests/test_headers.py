"""Headers and errors: a Content-Security-Policy every inline script satisfies by
its nonce, no-store on every answer with personal data, a 500 logged with its
traceback and a request id that the error page shows."""

from __future__ import annotations

import logging
import re

import pytest

from tests import factories

PAGES = ["/customerview/list/", "/orderview/list/", "/users/userinfo/", "/noteview/add", "card"]


def page(client, ctx, url):
    if url == "card":
        customer = factories.customer(ctx)
        ctx.commit()
        url = f"/customerview/show/{customer.id}"
    return client.get(url)


@pytest.mark.parametrize("url", PAGES)
def test_every_inline_script_carries_the_responses_nonce(ctx, login_as, url):
    """There was no Content-Security-Policy at all."""
    response = page(login_as("manager"), ctx, url)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", policy)[1]
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    scripts = re.findall(r"<script\b([^>]*)>", response.get_data(as_text=True))
    assert scripts and all(f'nonce="{nonce}"' in attrs for attrs in scripts), scripts
    again = page(login_as("manager"), ctx, url) if url != "card" else None
    if again is not None:
        assert nonce not in again.headers["Content-Security-Policy"]  # a new one per response


@pytest.mark.parametrize("url", ["/customerview/list/", "/api/v1/customers/", "/users/userinfo/", "/login/"])
def test_answers_are_not_kept_by_browsers_or_proxies(login_as, url):
    response = login_as("reception").get(url)
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(client):
    response = client.get("/static/kartoteka.js")
    assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")


def test_a_server_error_is_logged_with_its_traceback_and_id(app, login_as, monkeypatch, caplog):
    """A 500 left no traceback in the server's log, and nothing on the page to quote."""

    def broken():
        raise RuntimeError("сломано нарочно")

    client = login_as("manager")
    monkeypatch.setitem(app.view_functions, "HomeView.index", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    with caplog.at_level(logging.ERROR, logger="kartoteka.errors"):
        response = client.get("/")
    assert response.status_code == 500
    request_id = response.headers["X-Request-Id"]
    assert f"Номер ошибки для администратора: {request_id}" in response.get_data(as_text=True)
    record = next(r for r in caplog.records if request_id in r.getMessage())
    assert record.exc_info and "сломано нарочно" in str(record.exc_info[1])


@pytest.mark.parametrize(
    "referrer",
    [
        "https://evil.example/customerview/list/?phish=1",
        "//evil.example/x",
        "http://localhost//evil.example/x",
        "javascript:alert(1)",
    ],
)
def test_a_row_action_lands_on_a_page_of_the_app_only(app, ctx, login_as, referrer):
    """A row action («Снять ожидание» on the sign-in limits, «Завершить все сеансы» on
    the users) went back to whatever page the Referer named; it goes back there only if
    that is a page of this app, else to the view's list."""
    from app.models import LoginThrottle, ThrottleKind
    from tests.conftest import user_id

    # two waits: a lifted one is no longer a row of the list, and an action on it answers 404
    rows = [
        LoginThrottle(kind=ThrottleKind.ACCOUNT, subject=f"login:{name}", label=name, failures=7)
        for name in ("nobody", "somebody")
    ]
    ctx.add_all(rows)
    ctx.commit()
    admin = login_as("sysadmin")
    local = "http://localhost/loginthrottleview/list/?psize_LoginThrottleView=25"
    data = {"action": "lift_wait", "rowid": [str(rows[0].id)]}
    kept = admin.post("/loginthrottleview/action_post", data=data, headers={"Referer": local})
    assert kept.headers["Location"] == "/loginthrottleview/list/?psize_LoginThrottleView=25"
    assert admin.post("/loginthrottleview/action_post", data=data).status_code == 404
    data = {"action": "lift_wait", "rowid": [str(rows[1].id)]}
    sent = admin.post("/loginthrottleview/action_post", data=data, headers={"Referer": referrer})
    assert sent.status_code == 302 and sent.headers["Location"] == "/loginthrottleview/list/"
    ended = admin.post(
        f"/users/action/end_sessions/{user_id(app, 'reception')}", headers={"Referer": referrer}
    )
    assert ended.status_code == 302 and ended.headers["Location"] == "/users/list/"
