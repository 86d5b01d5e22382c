"""Locale-aware formatting through Babel: dates, money, numbers, plurals, phones.

Timestamps are stored as naive UTC; Flask-Babel converts them to the clinic's
time zone (BABEL_DEFAULT_TIMEZONE) when formatting.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from functools import lru_cache

import phonenumbers
from babel import Locale
from babel.dates import get_datetime_format, get_time_format, parse_pattern
from babel.lists import format_list
from babel.numbers import get_currency_precision, get_currency_symbol
from flask import current_app
from flask.globals import _cv_app, _cv_request
from flask_babel import format_date, format_decimal, get_locale, get_timezone, gettext, ngettext

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
        # ``value == ""`` on a Decimal asks numbers' ABCs (a Python call an amount)
        if value is None or (type(value) is str and value == ""):
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
    # a count (every list's total) or a discount: the same few values again and
    # again, each formatted once per language (Babel: ~30 Python calls a value)
    counts = _COUNTS.setdefault(str(get_locale()), {})
    text = counts.get(value)
    if text is None:
        if len(counts) >= AMOUNTS_KEPT:
            counts.clear()
        text = counts[value] = format_decimal(value)
    return text


_COUNTS: dict[str, dict] = {}


def percent(value) -> str:
    """A discount as the language writes it: «12,5 %» (none: «—»)."""
    if value is None or value == "":
        return "—"
    percents = _PERCENTS.setdefault(str(get_locale()), {})
    text = percents.get(value)
    if text is None:
        if len(percents) >= AMOUNTS_KEPT:
            percents.clear()
        text = percents[value] = format_decimal(value, format="0.##") + "\u00a0%"
    return text


_PERCENTS: dict[str, dict] = {}


# Babel's «short» for ru is «23.11.2026, 14:05»; lists in Russia are written
# without the comma. That pattern is all digits, so strftime writes it (Babel's
# pattern engine took 14 µs a value, strftime 1 µs); other languages get
# Babel's own short pattern.
LIST_DATETIME = {"ru": "%d.%m.%Y %H:%M"}


def numeric_date_pattern(locale: Locale) -> str:
    """The locale's all-digit date with a four-digit year: Babel's «short» gives
    English «7/12/86», which for a birth date reads as either century."""
    return locale.datetime_skeletons["yMd"].pattern


@lru_cache(maxsize=16)
def _list_datetime_pattern(locale: Locale):
    combined = get_datetime_format("short", locale)  # e.g. «{1}, {0}»
    return parse_pattern(
        combined.replace("{1}", numeric_date_pattern(locale)).replace(
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
    looks the request's language and time zone up once, not once per value (and
    once per request: a card's dozen tabs bind the same formatters)."""
    bind = getattr(formatter, "bind", None)
    if bind is None:
        return formatter
    if _cv_request.get(None) is None:
        return bind()
    bound = _cv_app.get().g.__dict__.setdefault("_kartoteka_bound", {})
    found = bound.get(formatter)
    if found is None:
        found = bound[formatter] = bind()
    return found


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?\s*[Mm]\.?)?")


@lru_cache(maxsize=16)
def _typed_date_pattern(locale: Locale) -> tuple[re.Pattern, tuple[str, ...]]:
    """The locale's numeric date as a strict expression and the order of its parts:
    «dd.MM.y» gives ``\d{1,2}\.\d{1,2}\.\d{4}`` and (d, M, y). The year has four
    digits: «15.03.90» says nothing of the century."""
    pattern = numeric_date_pattern(locale)
    parts, order = [], []
    for token in re.findall(r"d+|M+|y+|[^dMy]+", pattern):
        if token[0] in "dMy":
            parts.append(r"(\d{4})" if token[0] == "y" else r"(\d{1,2})")
            order.append(token[0])
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts)), tuple(order)


def typed_date(text: str | None) -> dt.date | None:
    """A date exactly as the user's language writes it («12.07.1986», «7/12/1986»)
    or as the calendar widget and the API write it (1986-07-12); None for anything
    else («12.07.1986 garbage» is not a date, nor is «12.07.86»)."""
    text = (text or "").strip()
    found = _ISO_DATE.fullmatch(text)
    if found is not None:
        year, month, day = (int(g) for g in found.groups())
    else:
        expression, order = _typed_date_pattern(get_locale())
        found = expression.fullmatch(text)
        if found is None:
            return None
        values = dict(zip(order, (int(g) for g in found.groups()), strict=True))
        year, month, day = values["y"], values["M"], values["d"]
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def typed_time(text: str) -> dt.time | None:
    """«10:30», «10:30:00», «10:30 AM»; None for anything else."""
    found = _TIME.fullmatch((text or "").strip())
    if found is None:
        return None
    hour, minute, second, half = int(found[1]), int(found[2]), int(found[3] or 0), found[4]
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half in "Pp" else 0)
    try:
        return dt.time(hour, minute, second)
    except ValueError:
        return None


def typed_datetime(text: str | None) -> dt.datetime | None:
    """A moment as typed on the clinic's clock («12.07.2026 10:30»; the calendar's
    2026-07-12 10:30 and the list's «7/12/2026, 10:30 AM» too), as naive UTC — the
    one conversion between what people read and what is stored."""
    text = (text or "").strip().replace(",", " ").replace("T", " ", 1)
    day_text, _space, time_text = text.partition(" ")
    day, moment = typed_date(day_text), typed_time(time_text or "00:00")
    if day is None or moment is None:
        return None
    return utc_from_local(dt.datetime.combine(day, moment))


def clinic_zone() -> dt.tzinfo:
    """The clinic's time zone (KARTOTEKA_TIMEZONE) as a zoneinfo zone."""
    return _zone(get_timezone())


def utc_from_local(value: dt.datetime) -> dt.datetime:
    """A wall-clock time at the clinic as the naive UTC the database keeps."""
    return value.replace(tzinfo=clinic_zone()).astimezone(dt.UTC).replace(tzinfo=None)


def local_from_utc(value: dt.datetime) -> dt.datetime:
    """A stored (naive UTC) moment as the clinic's wall-clock time, naive."""
    return value.replace(tzinfo=dt.UTC).astimezone(clinic_zone()).replace(tzinfo=None)


def typed_datetime_value(value: dt.datetime | None) -> str:
    """A stored moment as a form shows it to be typed again: «12.07.2026 10:30»."""
    if value is None:
        return ""
    local = local_from_utc(value)
    return f"{date_short(local.date())} {local:%H:%M}"


def date_long(value: dt.date | None) -> str:
    """«23 ноября 2026 г.»"""
    if value is None or value == "":
        return ""
    return format_date(value, "long")


def date_short(value: dt.date | None) -> str:
    """«12.07.1986», «7/12/1986»."""
    if value is None or value == "":
        return ""
    return format_date(value, numeric_date_pattern(get_locale()))


def phone(value: str | None) -> str:
    """E.164 shown in the national format of the clinic's region (8 (916) 123-45-67)."""
    if not value:
        return ""
    return _phone(value, current_app.config["KARTOTEKA_PHONE_REGION"])


def _phone_in(region: str):
    def format_phone(value: str | None) -> str:
        return _phone(value, region) if value else ""

    return format_phone


phone.bind = lambda: _phone_in(current_app.config["KARTOTEKA_PHONE_REGION"])


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


def years_count(n: float) -> str:
    """«1 год», «3 года», «25 лет»; a fraction of a year («0,5 года») as Russian says it."""
    if float(n).is_integer():
        return ngettext("%(num)d год", "%(num)d лет", int(n))
    return gettext("%(num)s года", num=format_decimal(n))


def file_size(size) -> str:
    """«512 Б», «253,4 кБ», «1,5 МБ»: a file's size in the page's language (Babel's
    units); the files list showed «259494» under «Размер, байт»."""
    if size is None:
        return "—"
    from babel.units import format_unit

    for unit, scale in (("digital-megabyte", 1024 * 1024), ("digital-kilobyte", 1024)):
        if size >= scale:
            return format_unit(size / scale, unit, length="short", format="#,##0.#", locale=get_locale())
    return format_unit(size, "digital-byte", length="short", locale=get_locale())


def visits_count(n: int) -> str:
    """«1 визит», «3 визита», «5 визитов»."""
    return ngettext("%(num)d визит", "%(num)d визитов", n or 0)


def certificate_left(kind, balance, visits_left, visits_total=None) -> str:
    """What is left of a certificate («1 500,00 ₽») or a subscription («3 визита из 10»)."""

    if visits_left is None:
        return money(balance or 0)
    left = visits_count(visits_left)
    return gettext("%(left)s из %(total)d", left=left, total=visits_total) if visits_total else left


def kind_nominal(kind_type, price, amount) -> str:
    """A certificate kind's «Номинал»: the typed one, or, left blank, the price it then is
    (app/certificates.py nominal: what a certificate of the kind is sold with), said so;
    a subscription has none (it pays visits)."""
    if amount is not None:
        return money(amount)
    if getattr(kind_type, "value", kind_type) == "visits" or price is None:
        return ""
    return gettext("%(price)s (равен цене)", price=money(price))


FILTERS = {
    "orders_count": orders_count,
    "money": money,
    "number": number,
    "dt": datetime_short,
    "date_long": date_long,
    "date_short": date_short,
    "phone": phone,
}


def all_of(items) -> str:
    """Items together in the language's words: «a и b», «a, b, and c»."""
    return format_list(list(items), style="standard", locale=get_locale())


def one_of(items) -> str:
    """Alternatives in the language's words: ««Одобрен» или «Отклонён»», «a, b, or c»."""
    return format_list(list(items), style="or", locale=get_locale())
