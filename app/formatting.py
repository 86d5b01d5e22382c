"""Locale-aware formatting through Babel: dates, money, numbers, plurals, phones.

Timestamps are stored as naive UTC; Flask-Babel converts them to the clinic's
time zone (BABEL_DEFAULT_TIMEZONE) when formatting.
"""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo
from decimal import Decimal
from functools import lru_cache

import phonenumbers
from babel import Locale
from babel.dates import ParseError, get_datetime_format, get_time_format, parse_date, parse_pattern
from babel.numbers import get_currency_precision, get_currency_symbol
from flask import current_app
from flask_babel import format_date, format_decimal, get_locale, get_timezone, ngettext

# A list page formats a few hundred values. Babel's format_* functions look the
# locale's patterns up and parse them on every call (35-45 µs a value); the
# patterns below are parsed once per locale and applied directly (a few µs).


@lru_cache(maxsize=16)
def _currency(locale: Locale, code: str):
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (get_currency_precision(code),) * 2
    return pattern, get_currency_symbol(code, locale)


def money(value) -> str:
    """«1 234,50 ₽»"""
    return _money_in(get_locale(), current_app.config["KARTOTEKA_CURRENCY"])(value)


# Formatted amounts per (language, currency): a clinic's lists show the same
# prices and totals again and again, and Babel's pattern engine takes ~120
# Python calls an amount. Keyed by the language's tag, not the Locale object
# (whose __eq__ and __hash__ are Python calls of their own).
_AMOUNTS: dict[tuple[str, str], dict] = {}
AMOUNTS_KEPT = 8192


def _money_in(locale: Locale, code: str):
    pattern, symbol = _currency(locale, code)
    amounts = _AMOUNTS.setdefault((str(locale), code), {})

    def format_money(value) -> str:
        if value is None or value == "":
            return ""
        text = amounts.get(value)
        if text is None:
            if len(amounts) >= AMOUNTS_KEPT:
                amounts.clear()
            # Babel's apply(currency=…) looks the currency's plural name up on every call.
            text = amounts[value] = pattern.apply(Decimal(value), locale).replace("¤", symbol)
        return text

    return format_money


money.bind = lambda: _money_in(get_locale(), current_app.config["KARTOTEKA_CURRENCY"])


def number(value) -> str:
    if value is None or value == "":
        return ""
    return format_decimal(value)


# Babel's «short» for ru is «23.11.2026, 14:05»; lists in Russia are written
# without the comma. That pattern is all digits, so strftime writes it (Babel's
# pattern engine took 14 µs a value, strftime 1 µs); other languages get
# Babel's own short pattern.
LIST_DATETIME = {"ru": "%d.%m.%Y %H:%M"}


def _numeric_date_pattern(locale: Locale) -> str:
    """The locale's all-digit date with a four-digit year: Babel's «short» gives
    English «7/12/86», which for a birth date reads as either century."""
    return locale.datetime_skeletons["yMd"].pattern


@lru_cache(maxsize=16)
def _list_datetime_pattern(locale: Locale):
    combined = get_datetime_format("short", locale)  # e.g. «{1}, {0}»
    return parse_pattern(
        combined.replace("{1}", _numeric_date_pattern(locale)).replace(
            "{0}", get_time_format("short", locale).pattern
        )
    )


def datetime_short(value: dt.datetime | None) -> str:
    """«23.11.2026 14:05» in lists (clinic time zone)."""
    return _datetime_short_in(get_locale(), get_timezone())(value)


@lru_cache(maxsize=16)
def _zone(zone) -> dt.tzinfo:
    """The zoneinfo twin of a pytz zone (Flask-Babel's): astimezone then runs in C
    (pytz's fromutc is ~6 Python calls a value)."""
    try:
        return zoneinfo.ZoneInfo(str(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zone


def _datetime_short_in(locale: Locale, zone):
    zone = _zone(zone)
    numeric = LIST_DATETIME.get(locale.language)
    pattern = None if numeric else _list_datetime_pattern(locale)

    def format_datetime(value: dt.datetime | None) -> str:
        if value is None or value == "":
            return ""
        local = value.replace(tzinfo=dt.UTC).astimezone(zone)
        return local.strftime(numeric) if numeric else pattern.apply(local, locale)

    return format_datetime


datetime_short.bind = lambda: _datetime_short_in(get_locale(), get_timezone())


def for_many(formatter):
    """``formatter`` for the many values of one page: a formatter with a ``bind``
    looks the request's language and time zone up once, not once per value."""
    bind = getattr(formatter, "bind", None)
    return bind() if bind is not None else formatter


def typed_date(text: str | None) -> dt.date | None:
    """A date as the user's language writes it («12.07.1986», «7/12/1986») or as
    the calendar widget writes it (1986-07-12, a time may follow); None if it is not one."""
    text = (text or "").strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        return parse_date(text.split()[0] if text else text, locale=get_locale())
    except (ValueError, IndexError, ParseError):
        return None


def date_long(value: dt.date | None) -> str:
    """«23 ноября 2026 г.»"""
    if value is None or value == "":
        return ""
    return format_date(value, "long")


def date_short(value: dt.date | None) -> str:
    """«12.07.1986», «7/12/1986»."""
    if value is None or value == "":
        return ""
    return format_date(value, _numeric_date_pattern(get_locale()))


def phone(value: str | None) -> str:
    """E.164 shown in the national format of the clinic's region (8 (916) 123-45-67)."""
    if not value:
        return ""
    return _phone(value, current_app.config["KARTOTEKA_PHONE_REGION"])


@lru_cache(maxsize=8192)
def _phone(value: str, region: str) -> str:
    # phonenumbers parses with regular expressions (~50 µs a number); a list
    # page shows the same numbers again and again.
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    if phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def orders_count(n: int) -> str:
    """«1 заказ», «2 заказа», «5 заказов», «21 заказ»: Russian plural forms from the catalog."""
    return ngettext("%(num)d заказ", "%(num)d заказов", n or 0)


FILTERS = {
    "orders_count": orders_count,
    "money": money,
    "number": number,
    "dt": datetime_short,
    "date_long": date_long,
    "date_short": date_short,
    "phone": phone,
}
