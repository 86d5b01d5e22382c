"""A beauty salon's week played in a Russian browser from an empty database: what the
manager and the receptionist saw that did not match what they typed."""

from __future__ import annotations

from decimal import Decimal

from app import payments
from app.models import AccountOperation, CustomerCategory, OperationKind, PaymentMethod
from tests import factories


def test_a_bonus_accrual_names_its_percentage_as_typed_not_in_exponent_notation(ctx, login_as):
    """The category «Постоянный клиент» earns «10» % bonuses; after a cash payment the card's
    «Счета» tab said «1E+1% от оплаты» beside the accrual instead of «10 % от оплаты»."""
    category = CustomerCategory(name="Постоянный клиент", discount=Decimal("5"), bonus_percent=Decimal("10"))
    ctx.add(category)
    ctx.commit()
    customer = factories.customer(ctx, category_id=category.id)
    order = factories.order(ctx, customer, items=(("Стрижка женская", "1500.50", 1),))
    payments.take_payment(ctx, order, "1000.00", PaymentMethod.CASH)
    ctx.commit()
    accrual = ctx.query(AccountOperation).filter_by(kind=OperationKind.ACCRUAL).one()
    assert accrual.comment == "10\u00a0% от оплаты"
    card = login_as("manager").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "10\u00a0% от оплаты" in card
    assert "1E+1" not in card


def test_a_return_of_a_visit_paid_by_a_subscription_tells_of_the_visit_back_not_of_money(ctx, login_as):
    """A haircut paid by one visit of «Абонемент 5 стрижек» is returned: the subscription
    got its visit back (5 of 5), but the customer's SMS read «Деньги возвращены: 1 380,46 ₽,
    возвращены на ваш сертификат или абонемент», and the manager read «1 380,46 ₽ на
    сертификат или абонемент клиента»: money that went nowhere."""
    from app.models import Certificate, Message, MessageType, Order, Return
    from tests.test_certificates import kind, sold, stored

    haircut = factories.catalog_item(ctx, "Стрижка женская", "1380.46")
    customer = factories.customer(ctx)
    subscription = sold(
        ctx, customer, kind(ctx, "Абонемент 5 стрижек", price="6000", visits=5, services=[haircut])
    )
    visit = factories.order(ctx, customer, items=(("Стрижка женская", "1380.46", 1),))
    payments.take_payment(ctx, visit, "1380.46", PaymentMethod.CERTIFICATE, certificate=subscription)
    ctx.commit()
    manager = login_as("manager")
    asked = {"order": str(visit.id), "amount": "1 380,46", "reason": "Клиентка отменила визит"}
    assert manager.post(f"/returnview/add?_flt_0_customer={customer.id}", data=asked).status_code == 302
    ret = ctx.query(Return).order_by(Return.id.desc()).one()
    manager.post(f"/returnview/edit/{ret.id}", data={**asked, "status": "approved"})
    saved = manager.post(
        f"/returnview/edit/{ret.id}", data={**asked, "status": "refunded"}, follow_redirects=True
    )
    assert stored(ctx, subscription.id)[0].visits_left == 5
    code = ctx.get(Certificate, subscription.id).code
    page = saved.get_data(as_text=True).replace("\xa0", " ")
    assert f"визит возвращён на абонемент №{code} клиента, заказ №{visit.id}" in page
    assert "на сертификат или абонемент клиента" not in page
    sent = [
        m.body
        for m in ctx.query(Message).filter_by(order_id=visit.id, message_type=MessageType.RETURN_STATUS)
    ]
    assert sent and all(f"Визит возвращён на ваш абонемент №{code}." in body for body in sent)
    assert not any("Деньги возвращены" in body for body in sent)
    assert ctx.get(Order, visit.id).debt == 0


def test_migration_0027_rewrites_the_accruals_written_in_exponent_notation(tmp_path):
    """Accruals written before the fix keep «1E+1% от оплаты» on the card unless rewritten;
    0027 rewrites them and leaves the others as they were."""
    from sqlalchemy import text

    from app.extensions import db
    from tests.test_schema import database_at, insert_customer

    now = "2026-11-20 09:00:00"
    with database_at(tmp_path, "0026") as upgrade:
        insert_customer(now=now)
        for pk, comment in ((1, "1E+1% от оплаты"), (2, "2E+1% от оплаты"), (3, "15% от оплаты"), (4, None)):
            db.session.execute(
                text(
                    "INSERT INTO account_operation (id, customer_id, account, kind, amount, comment, created_on, "
                    "changed_on) VALUES (:id, 1, 'bonus', 'accrual', 10, :comment, :now, :now)"
                ),
                {"id": pk, "comment": comment, "now": now},
            )
        db.session.commit()
        upgrade()
        rows = db.session.execute(text("SELECT comment FROM account_operation ORDER BY id")).scalars().all()
        assert rows == ["10\u00a0% от оплаты", "20\u00a0% от оплаты", "15% от оплаты", None]


def test_system_comments_are_stored_in_one_language_and_read_in_each_readers(ctx, login_as):
    """A manager working in English took a payment and cancelled a subscription: the
    accrual's and the refund's comments were stored as «12.5 % of the payment» and
    «Subscription no. … cancelled: …», and a Russian colleague read them so on the card
    (its accounts and its change history), the list and the CSV. Stored in Russian;
    each reader reads them in their language."""
    from app.models import Certificate
    from tests.test_certificates import kind, sold

    category = CustomerCategory(
        name="Постоянный клиент", discount=Decimal("0"), bonus_percent=Decimal("12.5")
    )
    ctx.add(category)
    ctx.commit()
    customer = factories.customer(ctx, category_id=category.id)
    order = factories.order(ctx, customer, items=(("Стрижка женская", "1000.00", 1),))
    massage = factories.catalog_item(ctx, "Массаж спины", "1200.00")
    subscription = sold(ctx, customer, kind(ctx, "Курс массажа", price="6000", visits=5, services=[massage]))
    code = ctx.get(Certificate, subscription.id).code
    manager = login_as("manager")
    manager.get("/lang/en")
    try:
        paid = manager.post(
            f"/paymentview/add?_flt_0_order={order.id}", data={"amount": "1000", "method": "cash"}
        )
        assert paid.status_code == 302
        cancelled = manager.post(f"/certificateview/cancel/{subscription.id}", data={"reason": "Переезд"})
        assert cancelled.status_code == 302
        ctx.expire_all()
        comments = {
            op.kind: op.comment
            for op in ctx.query(AccountOperation).filter(
                AccountOperation.kind.in_((OperationKind.ACCRUAL, OperationKind.CERTIFICATE_REFUND))
            )
        }
        assert comments == {
            OperationKind.ACCRUAL: "12,5\u00a0% от оплаты",
            OperationKind.CERTIFICATE_REFUND: f"Абонемент №{code} аннулирован: Переезд",
        }
        for url in (f"/customerview/show/{customer.id}", "/accountoperationview/list/"):
            english = manager.get(url).get_data(as_text=True)
            assert "12.5\u00a0% of the payment" in english, url
            assert f"Subscription no. {code} cancelled: Переезд" in english, url
            # (the customer's own message «…абонемент № аннулирован» is in the clinic's language)
            assert "от оплаты" not in english and f"Абонемент №{code} аннулирован" not in english, url
        english = manager.get("/accountoperationview/export.csv").get_data(as_text=True)
        assert "12.5\u00a0% of the payment" in english and "от оплаты" not in english
    finally:
        manager.get("/lang/ru")
    russian = login_as("auditor").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert "12,5\u00a0% от оплаты" in russian and f"Абонемент №{code} аннулирован: Переезд" in russian
    assert "of the payment" not in russian
    csv = login_as("manager").get("/accountoperationview/export.csv").get_data(as_text=True)
    assert "12,5\u00a0% от оплаты" in csv and f"Абонемент №{code} аннулирован: Переезд" in csv


def test_staff_comments_and_older_english_ones_are_shown_as_written(app):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        assert payments.comment_label("Скидка от оплаты") == "Скидка от оплаты"
        assert payments.comment_label("10\u00a0% of the payment") == "10\u00a0% of the payment"
        assert payments.comment_label("Срок бонусов истёк") == "The bonuses have expired"
        assert payments.comment_label(None) is None
