"""Defects that the week in the browser (tests/test_week.py) found, proven server-side."""

from __future__ import annotations

import re

import pytest


def checkbox(page: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', page)[0]


@pytest.mark.parametrize("path", ["/catalogitemview/add", "/messagetemplateview/add"])
def test_a_new_record_starts_as_its_column_default_says(login_as, path):
    """A service the administrator added was saved inactive, so the booking form never
    offered it: the add form's «Активна» box came unticked while the column's default
    is true (and a message template likewise)."""
    page = login_as("sysadmin").get(path).get_data(as_text=True)
    assert "checked" in checkbox(page, "active")


def test_a_box_whose_default_is_false_starts_unticked(login_as):
    page = login_as("manager").get("/noteview/add").get_data(as_text=True)
    assert "checked" not in checkbox(page, "pinned")
