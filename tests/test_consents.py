"""Consents to processing as records (issue 19): a ledger of decisions on versioned
texts, asked at registration, added from the card (with the paper's scan), never
edited; the outbox asks it at send time."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app import consents, notifications
from app.extensions import db
from app.models import (
    Channel,
    ConsentMethod,
    ConsentPurpose,
    ConsentText,
    Customer,
    CustomerFile,
    Message,
    MessageStatus,
    MessageType,
    NotificationConsent,
    ProcessingConsent,
)
from tests import factories
from tests.conftest import user_id
from tests.test_files import pdf


def ledger(app, customer_id) -> list[tuple]:
    with app.app_context():
        rows = (
            db.session.query(ProcessingConsent)
            .filter_by(customer_id=customer_id)
            .order_by(ProcessingConsent.id)
            .all()
        )
        return [
            (r.purpose, r.given, r.consent_text.version, r.method, r.file_id, r.employee_id) for r in rows
        ]


def stored_files(app) -> list[Path]:
    folder = Path(app.config["INSTANCE_DIR"]) / "files"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture(autouse=True)
def no_files_left(app):
    yield
    for path in stored_files(app):
        path.unlink()


@pytest.fixture
def customer_id(app):
    with app.app_context():
        return factories.customer().id


NEW_CUSTOMER = {
    "last_name": "Новикова",
    "first_name": "Ирина",
    "customer_type": "individual",
    "status": "active",
    "phone": "+79035550000",
    "discount": "0",
}


@pytest.mark.parametrize("method", ["screen", "paper"])
def test_the_registration_form_asks_for_the_treatment_consent(app, login_as, method):
    client = login_as("reception")
    form = client.get("/customerview/add").get_data(as_text=True)
    assert "Согласие на обработку персональных данных для лечения" in form
    response = client.post("/customerview/add", data={**NEW_CUSTOMER, "consent_treatment": method})
    assert response.status_code == 302
    with app.app_context():
        customer = db.session.query(Customer).filter_by(last_name="Новикова").one()
    assert ledger(app, customer.id) == [
        (ConsentPurpose.TREATMENT, True, 1, ConsentMethod(method), None, user_id(app, "reception"))
    ]


def test_a_registration_without_the_consent_records_none(app, login_as):
    client = login_as("reception")
    assert client.post("/customerview/add", data=NEW_CUSTOMER).status_code == 302
    with app.app_context():
        assert db.session.query(ProcessingConsent).count() == 0


def test_a_withdrawal_is_a_new_record_and_the_tab_shows_the_history(app, login_as, customer_id):
    client = login_as("manager")
    url = f"/customerview/{customer_id}/consents"
    assert (
        client.post(url, data={"purpose": "marketing", "decision": "give", "method": "screen"}).status_code
        == 302
    )
    first = ledger(app, customer_id)
    assert client.post(url, data={"purpose": "marketing", "decision": "withdraw"}).status_code == 302
    rows = ledger(app, customer_id)
    assert rows[0] == first[0]  # kept as it was
    assert rows[1] == (ConsentPurpose.MARKETING, False, 1, None, None, user_id(app, "manager"))
    with app.app_context():
        assert consents.state(db.session, customer_id, ConsentPurpose.MARKETING) is False
    card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    tab = card.split('data-tab="processing"')[1].split('role="tabpanel"')[0]
    assert '<td class="col-given">Нет</td>' in tab and '<td class="col-given">Да</td>' in tab
    assert "Реклама и рассылки" in tab


def test_a_refusal_before_any_consent_is_recorded_and_no_message_goes(app, ctx, redis, login_as, customer_id):
    """At the reception a customer who never consented says «не присылайте мне ничего»:
    the refusal of «Уведомления» was turned down («отзывать нечего»), nothing was
    recorded, and the reminders went on. It is a decision of the ledger now (when, by
    whom), and the worker sends them nothing."""
    from rq import SimpleWorker

    from app import worker

    ctx.get(Customer, customer_id).phone = "+79161230077"
    ctx.commit()
    client = login_as("reception")
    url = f"/customerview/{customer_id}/consents"
    assert client.post(url, data={"purpose": "notifications", "decision": "withdraw"}).status_code == 302
    assert ledger(app, customer_id) == [
        (ConsentPurpose.NOTIFICATIONS, False, 1, None, None, user_id(app, "reception"))
    ]
    card = client.get(f"/customerview/show/{customer_id}").get_data(as_text=True)
    tab = card.split('data-tab="processing"')[1].split('role="tabpanel"')[0]
    assert '<td class="col-given">Нет</td>' in tab and "Reception Тестовый" in tab
    # a second «no» has nothing to add, and says since when
    again = client.post(url, data={"purpose": "notifications", "decision": "withdraw"})
    assert again.status_code == 422 and "Отказ от этого согласия уже записан" in again.get_data(as_text=True)
    assert len(ledger(app, customer_id)) == 1
    # a message from the card, and the event's reminder, are not sent
    client.post(
        f"/customerview/{customer_id}/message",
        data={"channel": "sms", "message_type": "manual", "text": "Ждём вас"},
    )
    with app.test_request_context():
        notifications.queue_notification(
            ctx, ctx.get(Customer, customer_id), MessageType.MANUAL, (Channel.SMS,), text="Напоминание"
        )
        ctx.commit()
    with app.app_context():
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)
    ctx.expire_all()
    sent = ctx.query(Message).filter_by(customer_id=customer_id).all()
    assert sent and {m.status for m in sent} == {MessageStatus.CANCELLED}


def test_the_reception_is_told_a_refusal_was_recorded_not_a_consent(app, login_as, customer_id):
    """Week: «Отказ или отзыв согласия» on «Уведомления» answered «Согласие записано.»,
    as if the customer had agreed to what they had just refused."""
    client = login_as("reception")
    url = f"/customerview/{customer_id}/consents"
    refused = client.post(
        url, data={"purpose": "notifications", "decision": "withdraw"}, follow_redirects=True
    )
    page = refused.get_data(as_text=True)
    assert "Отказ от согласия «Уведомления» записан." in page
    assert "Согласие записано" not in page
    given = client.post(
        url, data={"purpose": "treatment", "decision": "give", "method": "screen"}, follow_redirects=True
    )
    assert "Согласие «Лечение и медицинские услуги» записано." in given.get_data(as_text=True)


def test_the_reception_is_warned_a_message_to_a_customer_who_refused_will_not_go(app, login_as, customer_id):
    """Week: a customer refused «Уведомления» at the desk; a message typed on their card
    then said only «Сообщение поставлено в очередь на отправку.», and the worker cancelled
    it: the receptionist believed the customer was told."""
    client = login_as("reception")
    assert (
        client.post(
            f"/customerview/{customer_id}/consents", data={"purpose": "notifications", "decision": "withdraw"}
        ).status_code
        == 302
    )
    sent = client.post(
        f"/customerview/{customer_id}/message",
        data={"channel": "sms", "message_type": "manual", "text": "Ваши анализы готовы."},
        follow_redirects=True,
    )
    page = sent.get_data(as_text=True)
    assert "не будет отправлено: Клиент отказался от таких сообщений" in page


def test_a_paper_consent_keeps_its_scan_among_the_files(app, login_as, customer_id):
    client = login_as("reception")
    response = client.post(
        f"/customerview/{customer_id}/consents",
        data={"purpose": "third_parties", "decision": "give", "file": (io.BytesIO(pdf()), "согласие.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with app.app_context():
        scan = db.session.query(CustomerFile).one()
        assert scan.name == "согласие.pdf"
    assert ledger(app, customer_id) == [
        (ConsentPurpose.THIRD_PARTIES, True, 1, ConsentMethod.PAPER, scan.id, user_id(app, "reception"))
    ]
    assert len(stored_files(app)) == 1


def test_a_refused_scan_stores_neither_the_consent_nor_the_file(app, login_as, customer_id):
    client = login_as("reception")
    response = client.post(
        f"/customerview/{customer_id}/consents",
        data={
            "purpose": "treatment",
            "decision": "give",
            "file": (io.BytesIO(b"MZ" + b"\x00" * 100), "скан.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Формат файла (exe) не поддерживается" in response.get_data(as_text=True)
    assert ledger(app, customer_id) == []
    assert stored_files(app) == []


@pytest.mark.parametrize("role", ["doctor", "auditor", "sysadmin"])
def test_roles_that_only_read_the_ledger_cannot_add_to_it(app, login_as, customer_id, role):
    with app.app_context():
        factories.order(customer=db.session.get(Customer, customer_id), specialist_id=user_id(app, "doctor"))
    client = login_as(role)
    response = client.post(
        f"/customerview/{customer_id}/consents",
        data={"purpose": "treatment", "decision": "give", "method": "screen"},
    )
    assert response.status_code == 403
    assert ledger(app, customer_id) == []


def test_texts_are_versioned_and_kept(app, login_as, customer_id):
    client = login_as("manager")
    url = f"/customerview/{customer_id}/consents"
    assert (
        client.post(url, data={"purpose": "treatment", "decision": "give", "method": "screen"}).status_code
        == 302
    )
    response = client.post(
        "/consenttextview/add", data={"purpose": "treatment", "text": "Новая редакция согласия."}
    )
    assert response.status_code == 302
    assert (
        client.post(url, data={"purpose": "treatment", "decision": "give", "method": "paper"}).status_code
        == 302
    )
    assert [row[2] for row in ledger(app, customer_id)] == [1, 2]
    with app.app_context():
        versions = db.session.query(ConsentText.version, ConsentText.text).order_by(ConsentText.version).all()
    assert [v for v, _ in versions] == [1, 2] and versions[1][1] == "Новая редакция согласия."
    with app.app_context():
        text_id = db.session.query(ConsentText.id).filter_by(version=1).scalar()
    assert client.post(f"/consenttextview/edit/{text_id}", data={"text": "x"}).status_code == 404
    assert client.post(f"/consenttextview/delete/{text_id}").status_code == 404


def test_the_outbox_asks_the_ledger_at_send_time(app, customer_id):
    with app.app_context():
        session = db.session
        customer = session.get(Customer, customer_id)
        allows = notifications.consent_allows
        # never asked: service messages go, marketing does not
        assert allows(session, customer_id, MessageType.MANUAL, Channel.SMS)
        assert not allows(session, customer_id, MessageType.MARKETING, Channel.SMS)
        consents.record(session, customer, ConsentPurpose.MARKETING, given=True, method="screen")
        session.commit()
        assert allows(session, customer_id, MessageType.MARKETING, Channel.SMS)
        # the per-type opt-out stays as it is
        notifications.set_consent(session, customer, MessageType.MARKETING, Channel.SMS, False)
        session.commit()
        assert not allows(session, customer_id, MessageType.MARKETING, Channel.SMS)
        # a per-type yes does not outlive a withdrawal in the ledger
        session.query(NotificationConsent).update({"allowed": True})
        consents.record(session, customer, ConsentPurpose.MARKETING, given=False)
        session.commit()
        assert not allows(session, customer_id, MessageType.MARKETING, Channel.SMS)
        # a queued message is cancelled at send time when notifications were withdrawn
        (message,) = notifications.queue_notification(
            session, customer, MessageType.MANUAL, (Channel.SMS,), text="Ваш визит завтра"
        )
        session.commit()
        consents.record(session, customer, ConsentPurpose.NOTIFICATIONS, given=True, method="screen")
        consents.record(session, customer, ConsentPurpose.NOTIFICATIONS, given=False)
        session.commit()
        notifications.deliver(session, message.id)
        session.expire_all()
        assert session.get(Message, message.id).status == MessageStatus.CANCELLED


def test_the_notifications_consent_names_its_channels_in_russian(app, login_as, customer_id):
    """The text a customer signs for «Уведомления» said «…и push.»: an English word a
    customer need not know; it names the app the push messages go to."""
    client = login_as("manager")
    url = f"/customerview/{customer_id}/consents"
    given = {"purpose": "notifications", "decision": "give", "method": "screen"}
    assert client.post(url, data=given).status_code == 302
    texts = client.get("/consenttextview/list/").get_data(as_text=True)
    assert "по SMS, электронной почте и в мобильном приложении." in texts
    assert "push" not in texts.lower()
