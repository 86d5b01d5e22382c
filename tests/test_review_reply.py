"""The clinic's reply to a review reaches its author: answered on the screen, it was read
only by the site's visitors."""

from __future__ import annotations

from app.models import Message, MessageType, ModerationStatus, Review
from tests import factories


def replies(ctx, customer):
    ctx.expire_all()
    return [
        m.body
        for m in ctx.query(Message)
        .filter_by(customer_id=customer.id, message_type=MessageType.REVIEW_REPLY)
        .order_by(Message.id)
    ]


def test_a_reply_is_sent_once_written_and_again_once_reworded(ctx, login_as):
    customer = factories.customer(ctx)
    review = Review(
        customer=customer, rating=2, text="Ждала 20 минут.", moderation_status=ModerationStatus.PENDING
    )
    ctx.add(review)
    ctx.commit()
    manager = login_as("manager")
    form = {
        "customer": str(customer.id),
        "rating": "2",
        "text": "Ждала 20 минут.",
        "moderation_status": "published",
    }
    assert manager.post(f"/reviewview/edit/{review.id}", data=form).status_code == 302
    assert replies(ctx, customer) == []  # published, not answered: nothing to tell
    answered = {**form, "reply": "Анна, простите за ожидание: мы изменили расписание."}
    assert manager.post(f"/reviewview/edit/{review.id}", data=answered).status_code == 302
    said = (
        "Анна, спасибо за отзыв! Ответ клиники: Анна, простите за ожидание: мы изменили расписание. Картотека"
    )
    assert replies(ctx, customer) == [said]  # by SMS: the customer has no e-mail
    assert manager.post(f"/reviewview/edit/{review.id}", data={**answered, "rating": "3"}).status_code == 302
    assert len(replies(ctx, customer)) == 1  # the same reply saved again is not sent again
    reworded = {**answered, "reply": "Анна, ждём вас снова: первый визит со скидкой."}
    assert manager.post(f"/reviewview/edit/{review.id}", data=reworded).status_code == 302
    assert replies(ctx, customer)[1:] == [
        "Анна, спасибо за отзыв! Ответ клиники: Анна, ждём вас снова: первый визит со скидкой. Картотека"
    ]
