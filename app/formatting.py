"""Locale-aware formatting through Babel: dates, money, numbers, plurals, phones.

Timestamps are stored as naive UTC; Flask-Babel converts them to the clinic's
time zone (BABEL_DEFAULT_TIMEZONE) when formatting.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import phonenumbers
from flask import current_app
from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale, ngettext


def money(value) -> str:
    if value is None or value == "":
        return ""
    return format_currency(Decimal(value), current_app.config["KARTOTEKA_CURRENCY"])


def number(value) -> str:
    if value is None or value == "":
        return ""
    return format_decimal(value)


# Babel's «short» for ru is «23.11.2026, 14:05»; lists in Russia are written without the comma.
LIST_DATETIME = {"ru": "dd.MM.yyyy HH:mm"}


def datetime_short(value: dt.datetime | None) -> str:
    """«23.11.2026 14:05» in lists (clinic time zone)."""
    if value is None or value == "":
        return ""
    pattern = LIST_DATETIME.get(str(get_locale()), "short")
    return format_datetime(value.replace(tzinfo=dt.UTC), pattern)


def date_long(value: dt.date | None) -> str:
    """«23 ноября 2026 г.»"""
    if value is None or value == "":
        return ""
    return format_date(value, "long")


def date_short(value: dt.date | None) -> str:
    if value is None or value == "":
        return ""
    return format_date(value, "short")


def phone(value: str | None) -> str:
    """E.164 shown in the national format of the clinic's region (8 (916) 123-45-67)."""
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    region = current_app.config["KARTOTEKA_PHONE_REGION"]
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
