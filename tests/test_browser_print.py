"""A printed customer card (Chromium's print media): every tab the role sees, under its
title, and none of the screen's controls or Bootstrap's link addresses."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import access
from app.models import Note
from app.views import CustomerView
from tests import factories, matrix
from tests.conftest import user_id
from tests.test_browser import login

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("role", ["reception", "doctor"])
def test_a_printed_card_holds_every_tab_the_role_sees_and_no_controls(app, ctx, server, browser, role):
    customer = factories.customer(ctx, last_name="Печатникова")
    ctx.add(Note(customer=customer, text="Просит звонить после 18:00."))
    ctx.commit()
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"), paid="1500")  # the doctor's patient
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="ru-RU", bypass_csp=True)
    try:
        page = context.new_page()
        login(page, server, role)
        page.goto(f"{server}/customerview/show/{customer.id}")
        titles = page.locator(".kartoteka-print-title")
        expect(titles.first).to_be_hidden()  # on the screen: one tab, its controls
        expect(page.locator("#notes")).to_be_hidden()
        page.emulate_media(media="print")
        seen = ["Основное"] + [
            str(tab.label) for tab in CustomerView.tabs if matrix.reads(role, tab.view.class_permission_name)
        ]
        assert [t.strip() for t in titles.all_inner_texts()] == seen
        for pane in page.locator(".tab-content > .tab-pane").all():
            expect(pane).to_be_visible()
        if matrix.reads(role, access.NOTES):
            expect(page.get_by_text("Просит звонить после 18:00.")).to_be_visible()
        expect(page.locator(".kartoteka-tabs")).to_be_hidden()
        for control in page.locator(".kartoteka-card .btn, .kartoteka-card form").all():
            expect(control).to_be_hidden()
        after = page.locator(".kartoteka-card a[href]").first.evaluate(
            "a => getComputedStyle(a, '::after').content"
        )
        assert after in ("none", "normal")  # not «(/customerview/edit/…)» after each link
    finally:
        context.close()
