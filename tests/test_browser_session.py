"""The idle timeout in Chromium (kartoteka.js kartotekaSessionWatch): typing keeps a
session, an unattended page warns and then ends, and what was typed on a page whose
session ended is saved after a new sign-in in another tab. The timeout is shortened
to seconds for the test; the page reads it from the server."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from app.models import Customer
from tests.test_browser import login

pytestmark = pytest.mark.browser

IDLE = dt.timedelta(seconds=6)


@pytest.fixture
def short_idle(app):
    saved = app.config["PERMANENT_SESSION_LIFETIME"]
    app.config["PERMANENT_SESSION_LIFETIME"] = IDLE
    yield IDLE.total_seconds()
    app.config["PERMANENT_SESSION_LIFETIME"] = saved


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="ru-RU")
    yield context
    context.close()


def new_customer_form(context, server):
    """The front desk's «Новый клиент», signed in afresh."""
    page = context.new_page()
    page.set_default_timeout(10_000)
    login(page, server, "reception")
    page.goto(f"{server}/customerview/add")
    return page


def test_typing_longer_than_the_idle_timeout_saves(app, ctx, server, context, short_idle):
    page = new_customer_form(context, server)
    started = time.monotonic()
    page.click("#last_name")
    for letter in "Долгописова":  # slowly, for longer than the timeout
        page.keyboard.type(letter)
        time.sleep(0.8)
    assert time.monotonic() - started > short_idle + 2
    page.fill("#first_name", "Вера")
    page.fill("#phone", "8 916 700-11-22")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login" not in page.url
    ctx.expire_all()
    assert ctx.query(Customer).filter_by(last_name="Долгописова").one().phone == "+79167001122"


def test_an_unattended_page_warns_ends_and_keeps_what_was_typed(app, ctx, server, context, short_idle):
    page = new_customer_form(context, server)
    page.fill("#last_name", "Обедова")
    page.fill("#first_name", "Анна")
    page.fill("#phone", "8 916 700-33-44")
    notice = page.locator(".kartoteka-session[role=alert]")
    notice.wait_for()
    assert "скоро завершится" in notice.inner_text()
    page.locator(".kartoteka-session.alert-danger").wait_for()
    ended = notice.inner_text()
    assert "Сеанс завершён" in ended and "не потеряно" in ended
    time.sleep(1.5)  # the server's clock passes its timeout too
    page.click("button[type=submit]")  # the session is gone: nothing is sent, nothing lost
    page.wait_for_timeout(1000)
    assert page.url.endswith("/customerview/add") and page.input_value("#last_name") == "Обедова"
    ctx.expire_all()
    assert ctx.query(Customer).filter_by(last_name="Обедова").count() == 0
    other = context.new_page()  # «Войти в новой вкладке»
    login(other, server, "reception")
    other.close()
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login" not in page.url
    ctx.expire_all()
    assert ctx.query(Customer).filter_by(last_name="Обедова").one().phone == "+79167003344"


def test_a_form_is_sent_as_before_when_the_session_cannot_be_asked(app, ctx, server, context, short_idle):
    """The watch holds a form back only when the server says the session ended: a role
    whose right to keep its session was taken away (or an upgrade whose roles were not
    synced yet), an error or no network, and the form is sent as it always was."""
    from app import access

    sm = app.appbuilder.sm
    with app.app_context():
        role = sm.find_role(access.ROLES["reception"].name)
        right = sm.find_permission_view_menu("can_keep_alive", "UserDBModelView")
        sm.del_permission_role(role, right)
    try:
        page = new_customer_form(context, server)
        page.fill("#last_name", "Безправова")
        page.fill("#first_name", "Нина")
        page.fill("#phone", "8 916 700-55-66")
        time.sleep(short_idle / 4 + 1)  # past the first step: the page asks before sending
        with page.expect_navigation():
            page.click("button[type=submit]")
    finally:
        with app.app_context():
            sm.add_permission_role(sm.find_role(access.ROLES["reception"].name), right)
    ctx.expire_all()
    assert ctx.query(Customer).filter_by(last_name="Безправова").count() == 1
