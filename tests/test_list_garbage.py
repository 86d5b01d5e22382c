"""No list answers 500 to what an address may carry.

Generated: every list the app registers (``appbuilder.baseviews``), for every role the
rights pinned in tests/matrix.py let read it, is asked a few query strings drawn at
random — derandomized, the same ones on every run — from what a list reads: filters
``_flt_<n>_<column>`` (the view's own columns and unknown ones, indexes past the
filters, negative or not numbers), sorting ``_oc_``/``_od_``, ``page_``, ``psize_`` and
the search box ``q``, with values a person, a pasted link or a scanner may bring: huge
numbers, dates that are no dates, SQL punctuation, NUL and other control characters,
bytes that are no UTF-8, very long text. Whatever it is, the answer is a page, a
redirect or a refusal, never a server error. A view added later is probed without
editing this file; ``GARBAGE_EXAMPLES`` sets the addresses per list and role.
"""

from __future__ import annotations

import os
import random
from urllib.parse import quote

import pytest
from flask_appbuilder import ModelView

from app import access
from tests import factories, matrix

EXAMPLES = int(os.environ.get("GARBAGE_EXAMPLES", "5"))
PARAMETERS_PER_ADDRESS = (1, 6)

VALUES = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "42",
    "4567",
    "9" * 40,
    "-" + "9" * 25,
    "2147483648",
    "9223372036854775808",
    "1e309",
    "NaN",
    "inf",
    "0x1F",
    "1,5",
    "1 500,50",
    "31.02.2025",
    "99.99.9999",
    "2025-13-45",
    "01.01.0001",
    "31.12.9999",
    "true",
    "none",
    "№12",
    "#",
    "'",
    '"',
    "%",
    "_",
    "\\",
    "' OR '1'='1",
    "1; DROP TABLE customer; --",
    "') UNION SELECT 1 --",
    "%_%",
    "[]",
    "{}",
    "<script>alert(1)</script>",
    "Ёлкина",
    "+7 (916) 123-45-67",
    "a@b",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\u202e",
    "\U0001f600",
    "ы" * 300,
    "x" * 5000,
]
RAW_VALUES = ["%ff%fe", "%c3%28", "%ed%a0%80", "%00", "%e2%82"]  # not UTF-8 as sent
DIRECTIONS = ["asc", "desc", "ASC", "sideways", ""]
UNKNOWN_COLUMNS = ["nope", "id;drop", "__class__", "customer.id", "password", "_flt_0_x", ""]


def lists(app) -> list:
    """Every list the app registers: Kartoteka's and FAB's security screens (users, roles)."""
    with app.app_context():
        return [
            view
            for view in app.appbuilder.baseviews
            if isinstance(view, ModelView) and "list" not in (view.exclude_route_methods or set())
        ]


def reads(role_key: str, view) -> bool:
    if access.is_security_view(view):
        return role_key in matrix.SECURITY
    return matrix.reads(role_key, view.class_permission_name)


def columns_of(view) -> list[str]:
    return [
        *(view.search_columns or []),
        *(view.list_columns or []),
        *(view.order_columns or []),
        *UNKNOWN_COLUMNS,
    ]


def value(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(RAW_VALUES)
    return quote(rng.choice(VALUES), safe="")


def address(view, rng: random.Random) -> str:
    """A list's address with 1 to 6 parameters of garbage."""
    name = type(view).__name__
    columns = columns_of(view)
    parts = []
    for _ in range(rng.randint(*PARAMETERS_PER_ADDRESS)):
        kind = rng.choice(["flt", "flt", "flt", "oc", "od", "page", "psize", "q", "unknown"])
        if kind == "flt":
            index = rng.choice(["0", "1", "2", "3", "7", "99", "-1", "x", "", "9" * 30])
            parts.append(f"_flt_{index}_{quote(rng.choice(columns), safe='')}={value(rng)}")
        elif kind == "oc":
            parts.append(f"_oc_{name}={quote(rng.choice(columns), safe='')}")
        elif kind == "od":
            parts.append(f"_od_{name}={quote(rng.choice(DIRECTIONS), safe='')}")
        elif kind == "page":
            parts.append(f"page_{name}={value(rng)}")
        elif kind == "psize":
            parts.append(f"psize_{rng.choice([name, 'X'])}={value(rng)}")
        elif kind == "q":
            parts.append(f"q={value(rng)}")
        else:
            parts.append(f"{value(rng)}={value(rng)}")
    return f"{view.route_base}/list/?{'&'.join(parts)}"


@pytest.fixture
def demo(app):
    from app.demo import seed_demo

    with app.app_context():
        seed_demo(customers=4, seed=9)


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_no_list_answers_500_to_garbage_in_its_address(app, login_as, demo, role_key):
    client = login_as(role_key)
    errors = []
    asked = 0
    statuses: dict[int, int] = {}
    for view in lists(app):
        if not reads(role_key, view):
            continue
        rng = random.Random(f"{type(view).__name__}/{role_key}")  # the same addresses every run
        for _ in range(EXAMPLES):
            url = address(view, rng)
            response = client.get(url)
            asked += 1
            if response.status_code in (301, 302, 303):  # what it leads to (the plain list) too
                response = client.get(response.headers["Location"])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                errors.append((response.status_code, url))
    assert asked
    assert not errors, errors


@pytest.mark.parametrize(
    ("value", "pinned"), [("y", True), ("true", True), ("1", True), ("n", False), ("false", False)]
)
def test_a_yes_no_filter_reads_what_a_link_writes(ctx, login_as, value, pinned):
    """«Закреплено» given as ``true`` or ``0`` in a link answered 500 on PostgreSQL (FAB
    read only «y» and compared anything else as text with the boolean column)."""
    from app.models import Note

    customer = factories.customer(ctx)
    ctx.add_all(
        [Note(customer=customer, text="Закреплённая", pinned=True), Note(customer=customer, text="Простая")]
    )
    ctx.commit()
    response = login_as("manager").get(f"/noteview/list/?_flt_0_pinned={value}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert ("Закреплённая" in page, "Простая" in page) == (pinned, not pinned)
