"""What each role met walking the demo (``make run``: SQLite, demo data, a user per
role) in a Russian Chromium: every menu item, list, sort, filter, card tab and
export. Each test is one finding, asserted on what the user sees or what is stored."""

from __future__ import annotations

from app.models import Channel, MessageTemplate, MessageType


def test_the_templates_list_sorted_by_whom_it_is_for_opens(app, ctx, login_as):
    """The manager clicked the «Кому» header of «Шаблоны уведомлений» (the demo holds
    the templates a new clinic starts with) and got «Внутренняя ошибка сервера»: the
    column is worked out in Python, and SQL cannot sort by it. A header the list
    cannot sort by is shown without a link."""
    ctx.add(MessageTemplate(message_type=MessageType.WELCOME, channel=Channel.SMS, body="Здравствуйте!"))
    ctx.add(MessageTemplate(message_type=MessageType.STATUS_CHANGED, channel=Channel.SMS, body="Статус"))
    ctx.commit()
    client = login_as("manager")
    page = client.get("/messagetemplateview/list/").get_data(as_text=True)
    assert "Кому" in page
    assert "_oc_MessageTemplateView=audience" not in page
    sorted_page = client.get(
        "/messagetemplateview/list/",
        query_string={"_oc_MessageTemplateView": "audience", "_od_MessageTemplateView": "asc"},
        follow_redirects=True,
    )
    assert sorted_page.status_code == 200
    assert "Здравствуйте!" in sorted_page.get_data(as_text=True)


def test_the_api_labels_every_related_id_in_russian(app, ctx, login_as):
    """An integrator's /api/v1/payments/ (in Russian, as the manager) labelled its
    columns «Заказ», «Сумма»… and then «Order Id», «Certificate Id», «Refund Of Id»,
    «Reverses Id» (FAB's English from the field name); /api/v1/account-operations/
    said «Payment Id», /api/v1/certificates/ «Kind Id». A related record's id is
    named after the screen's label of that relation: «Заказ (ID)»."""
    import re

    from app.admin.api import PolicyApi

    client = login_as("manager")
    english = {}
    for api in app.appbuilder.baseviews:
        if not isinstance(api, PolicyApi):
            continue
        response = client.get(f"/api/v1/{api.resource_name}/", headers={"Accept-Language": "ru"})
        if response.status_code != 200:
            continue
        for column, label in response.get_json()["label_columns"].items():
            if label != "ID" and not re.search("[а-яё]", label, re.I):
                english[f"{api.resource_name}: {column}"] = label
    assert english == {}
    payments = client.get("/api/v1/payments/").get_json()["label_columns"]
    assert payments["order.id"] == "Заказ (ID)"
    assert payments["certificate.id"] == "Сертификат или абонемент (ID)"
