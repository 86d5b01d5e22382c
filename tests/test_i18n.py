"""Russian first, English second: complete catalogs, Babel formats, the language switch."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app import formatting
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = {loc: ROOT / "translations" / loc / "LC_MESSAGES" / "messages.po" for loc in ("ru", "en")}


def load(locale):
    with CATALOGS[locale].open("rb") as f:
        return read_po(f, locale=locale)


@pytest.mark.parametrize("locale", list(CATALOGS))
def test_catalog_complete_and_not_fuzzy(locale):
    catalog = load(locale)
    untranslated = [
        m.id
        for m in catalog
        if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]
    assert untranslated == []


def test_catalogs_are_up_to_date_with_the_code(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "ngettext:1,2",
            "-k",
            "lazy_ngettext:1,2",
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        extracted = {m.id for m in read_po(f) if m.id}
    for locale in CATALOGS:
        known = {m.id for m in load(locale) if m.id}
        assert sorted(map(str, extracted - known)) == [], f"run `make translations` and translate ({locale})"


def test_english_catalog_is_english():
    cyrillic = [m.id for m in load("en") if m.id and any("а" <= ch.lower() <= "я" for ch in str(m.string))]
    assert cyrillic == []


@pytest.fixture
def ru(app):
    with app.test_request_context("/"):
        from flask import session

        session["locale"] = "ru"
        yield


@pytest.fixture
def en(app):
    with app.test_request_context("/"):
        from flask import session

        session["locale"] = "en"
        yield


def spaces(text):
    return text.replace("\xa0", " ").replace("\u202f", " ")


def test_russian_dates_money_numbers_and_phones(ru):
    assert spaces(formatting.date_long(dt.date(2026, 11, 23))) == "23 ноября 2026 г."
    assert formatting.datetime_short(dt.datetime(2026, 11, 23, 11, 5)) == "23.11.2026 14:05"  # UTC -> Moscow
    assert formatting.date_short(dt.date(1986, 7, 12)) == "12.07.1986"
    assert spaces(formatting.money(Decimal("1234.5"))) == "1 234,50 ₽"
    assert spaces(formatting.number(1234567)) == "1 234 567"
    assert formatting.phone("+79161234567") == "8 (916) 123-45-67"


@pytest.mark.parametrize(
    "n, text",
    [
        (1, "1 заказ"),
        (2, "2 заказа"),
        (5, "5 заказов"),
        (11, "11 заказов"),
        (21, "21 заказ"),
        (22, "22 заказа"),
        (25, "25 заказов"),
        (111, "111 заказов"),
    ],
)
def test_russian_plurals(ru, n, text):
    assert formatting.orders_count(n) == text


@pytest.mark.parametrize("n, text", [(1, "1 order"), (2, "2 orders"), (21, "21 orders")])
def test_english_plurals_and_formats(en, n, text):
    assert formatting.orders_count(n) == text
    assert formatting.money(Decimal("1234.5")) == "RUB1,234.50"
    assert formatting.date_long(dt.date(2026, 11, 23)) == "November 23, 2026"
    # a four-digit year: Babel's short «7/12/86» reads as either century
    assert formatting.date_short(dt.date(1986, 7, 12)) == "7/12/1986"
    assert formatting.datetime_short(dt.datetime(2026, 11, 23, 11, 5)).startswith("11/23/2026, ")


def test_language_switch_persists_and_switches_back(login_as):
    client = login_as("manager")
    assert "Клиенты" in client.get("/customerview/list/").get_data(as_text=True)
    client.get("/lang/en")
    english = client.get("/customerview/list/").get_data(as_text=True)
    assert "Customers" in english and "Registered" in english and "Клиенты" not in english
    assert "Customers" in client.get("/orderview/list/").get_data(as_text=True)  # persists across pages
    client.get("/lang/ru")
    assert "Клиенты" in client.get("/customerview/list/").get_data(as_text=True)


def test_the_chosen_language_outlives_the_logout(app, login_as):
    """A manager working in English signed out and the login page was Russian: the
    language lived in the session, which the logout clears. It is kept in a cookie of
    its own, and the next sign-in goes on in English; a browser that never chose one
    stays Russian."""
    client = login_as("manager")
    client.get("/lang/en")
    try:
        client.get("/logout/")
        login_page = client.get("/login/").get_data(as_text=True)
        assert "Password" in login_page and "Пароль" not in login_page
        client.post("/login/", data={"username": "manager", "password": PASSWORD})
        english = client.get("/customerview/list/").get_data(as_text=True)
        assert "Customers" in english and "Клиенты" not in english
        client.get("/lang/ru")
        client.get("/logout/")
        assert "Пароль" in client.get("/login/").get_data(as_text=True)
    finally:
        client.get("/lang/ru")
    assert "Пароль" in app.test_client().get("/login/").get_data(as_text=True)


def test_russian_catalog_translates_every_english_string():
    """Our ru catalog is merged over FAB's: an English msgstr there would hide FAB's translation."""
    import re

    latin = [
        m.id
        for m in load("ru")
        if m.id
        and isinstance(m.id, str)
        and re.search("[A-Za-z]{2}", m.id)
        and m.id not in ("ID", "SMS")  # the same in Russian
        and not re.search("[а-яА-ЯёЁ]", m.string or "")
    ]
    assert latin == []


def test_language_switch_within_a_request_takes_effect(app):
    """app/rendering.py keeps the request's translations in Flask-Babel's
    namespace; flask_babel.refresh() (after a language change) must drop them."""
    from flask import session
    from flask_babel import gettext, refresh

    with app.test_request_context("/"):
        session["locale"] = "ru"
        assert gettext("Show record") == "Открыть запись"
        session["locale"] = "en"
        assert gettext("Show record") == "Открыть запись"  # the request's language holds…
        refresh()
        assert gettext("Show record") == "Show record"  # …until it is refreshed


def test_each_request_speaks_its_own_language(client):
    client.get("/lang/en")
    english = client.get("/login/").get_data(as_text=True)
    client.get("/lang/ru")
    russian = client.get("/login/").get_data(as_text=True)
    assert "Password" in english and "Пароль" in russian
