"""Defects the system administrator's, the auditor's and the salon's week in the browser
found (a new clinic played by hand, December 2026), proven server-side."""

from __future__ import annotations

import re


def password_boxes(page: str) -> list[str]:
    return [m[1] for m in re.finditer(r'<input[^>]*\bid="([^"]+)"[^>]*type="password"', page)]


def test_resetting_a_users_password_asks_for_it_before_its_confirmation(login_as):
    """The administrator's «Сброс пароля» drew «Подтвердите пароль» above «Пароль»: the
    policy's password was redeclared after FAB's confirmation, and Tab from the top went
    to the confirmation first."""
    page = login_as("sysadmin").get("/resetpassword/form?pk=1").get_data(as_text=True)
    assert password_boxes(page) == ["password", "conf_password"]


def test_changing_ones_own_password_keeps_its_order(login_as):
    page = login_as("reception").get("/resetmypassword/form").get_data(as_text=True)
    assert password_boxes(page) == ["current_password", "password", "conf_password"]
