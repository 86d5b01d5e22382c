"""The card's figures («Заказы», «Долг», «Депозит»…) stand in even rows at every width:
a tile whose label took two lines («Заказы без отменённых») caught the next row's first
tile under Bootstrap 3's floats, leaving a hole at the left of the second row and a
tile alone on a third."""

from __future__ import annotations

import pytest

from tests import factories
from tests.test_browser import login

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_the_cards_figures_stand_in_even_rows(ctx, server, browser, width):
    customer = factories.customer(ctx, last_name="Ровнова")
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="ru-RU")
    try:
        page = context.new_page()
        login(page, server, "manager")
        page.goto(f"{server}/customerview/show/{customer.id}")
        tiles = page.locator(".kartoteka-kpi > div").all()
        boxes = [tile.bounding_box() for tile in tiles]
        assert len(boxes) >= 6
        rows: dict[float, list[float]] = {}
        for box in boxes:
            rows.setdefault(round(box["y"]), []).append(box["x"])
        # three tiles a row, each row starting at the left edge, in the order of the page
        assert [len(xs) for xs in rows.values()][:-1] == [3] * (len(rows) - 1), rows
        lefts = {min(xs) for xs in rows.values()}
        assert len(lefts) == 1, rows
        assert len(rows) == -(-len(boxes) // 3), rows
        # the status is chosen, then changed: the button comes after its select
        select, button = (
            page.locator(f"form[action$='/status'] {tag}").bounding_box() for tag in ("select", "button")
        )
        assert (select["x"] < button["x"]) if select["y"] == button["y"] else select["y"] < button["y"]
    finally:
        context.close()
