"""A before/after photo in Chromium: the specialist adds it from the customer's card as
a phone saved it (WebP), and sees it listed as «Фото» with its size as people read it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.models import CustomerFile, FileCategory
from tests import factories
from tests.conftest import user_id
from tests.test_browser import login
from tests.test_files import webp

pytestmark = pytest.mark.browser


def test_the_specialist_adds_a_webp_photo_from_the_card(app, ctx, server, browser):
    customer = factories.customer(ctx, last_name="Фотографова")
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))  # the doctor's patient
    photo = webp() + b"\x00" * (3 * 1024 - len(webp()))  # a RIFF chunk may be followed by padding
    context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="ru-RU")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        login(page, server, "doctor")
        page.goto(f"{server}/customerview/show/{customer.id}")
        page.click("a[href='#files']")
        page.set_input_files(
            "#file-upload", files=[{"name": "До процедуры.webp", "mimeType": "image/webp", "buffer": photo}]
        )
        # the only kind the doctor adds is chosen already: «— выберите —» held the upload back
        expect(page.locator("#file-category option:checked")).to_have_text("Фото")
        with page.expect_navigation():
            page.click("text=Загрузить файл")
        expect(page.get_by_text("Файл «До процедуры.webp» добавлен.")).to_be_visible()
        page.click("a[href='#files']")
        row = page.locator("#files tr", has_text="До процедуры.webp")
        expect(row.locator("td.col-category")).to_have_text("Фото")
        expect(row.locator("td.col-size")).to_have_text("3 кБ")
        expect(row.get_by_role("link", name="Скачать")).to_be_visible()
    finally:
        context.close()
    ctx.expire_all()
    (item,) = ctx.query(CustomerFile).filter_by(customer_id=customer.id).all()
    assert (item.category, item.content_type, item.size) == (FileCategory.PHOTO, "image/webp", 3 * 1024)
