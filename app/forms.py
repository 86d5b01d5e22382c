"""The card's own forms (a note, an order, a status, a message), declared."""

from __future__ import annotations

from flask_appbuilder.fieldwidgets import (
    Select2Widget,
)
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional, ValidationError

from .admin.fields import LabeledEnumField, ListedChoice, LocalDateTimeField, LocalDecimalField, PlainText
from .admin.lookups import customer_field
from .extensions import db
from .models import (
    Branch,
    CatalogItem,
    Channel,
    ConsentMethod,
    ConsentPurpose,
    CustomerStatus,
    MessageType,
    OrderKind,
)


def _pk(obj):
    return obj.id


def _users():
    from flask import current_app

    user_model = current_app.appbuilder.sm.user_model
    return db.session.query(user_model).filter(user_model.active.is_(True)).order_by(user_model.last_name)


class NoteInlineForm(FlaskForm):
    text = TextAreaField(
        _l("Текст примечания"),
        validators=[DataRequired(message=_l("Введите текст примечания.")), PlainText()],
    )
    pinned = BooleanField(_l("Закрепить"))


class OrderInlineForm(FlaskForm):
    kind = LabeledEnumField(OrderKind, _l("Тип"), default=OrderKind.VISIT)
    catalog_item = ListedChoice(
        _l("Услуга или товар"),
        query_func=lambda: (
            db.session.query(CatalogItem).filter(CatalogItem.active.is_(True)).order_by(CatalogItem.name)
        ),
        get_label="name",
        get_pk_func=_pk,
        allow_blank=True,  # chosen by the user, not the first of the catalogue
        blank_text="—",
        widget=Select2Widget(),
        validators=[DataRequired(message=_l("Выберите услугу или товар."))],
    )
    quantity = IntegerField(
        _l("Количество"),
        default=1,
        validators=[
            InputRequired(),
            NumberRange(min=1, message=_l("Количество должно быть не меньше 1.")),
        ],
    )
    specialist = ListedChoice(
        _l("Специалист"),
        query_func=_users,
        get_pk_func=_pk,
        allow_blank=True,
        blank_text="—",
        widget=Select2Widget(),
    )
    branch = ListedChoice(
        _l("Филиал"),
        query_func=lambda: db.session.query(Branch).order_by(Branch.name),
        get_pk_func=_pk,
        allow_blank=True,
        blank_text="—",
        widget=Select2Widget(),
    )
    visit_at = LocalDateTimeField(_l("Дата и время визита"), validators=[Optional()])
    comment = TextAreaField(_l("Комментарий"), validators=[Optional(), PlainText()])
    # shown to those who may give a discount by hand (access.DISCOUNT); empty — by the rule
    discount = LocalDecimalField(
        _l("Скидка вручную, %"),
        places=2,
        validators=[
            Optional(),
            NumberRange(min=0, max=100, message=_l("Скидка — от 0 до 100 процентов.")),
        ],
    )


class TransferForm(FlaskForm):
    """A deposit moved to another customer's (a relative's), chosen by typing."""

    target = customer_field(_l("На депозит клиента"))
    amount = LocalDecimalField(
        _l("Сумма"), places=2, validators=[InputRequired(message=_l("Сумма должна быть больше нуля."))]
    )
    comment = TextAreaField(_l("Комментарий"), validators=[Optional(), PlainText()])


class GiveCertificateForm(FlaskForm):
    """«Передать другому клиенту»: a certificate or subscription given as a present,
    to the customer chosen by typing."""

    recipient = customer_field(_l("Кому передать"))
    comment = TextAreaField(_l("Комментарий"), validators=[Optional(), PlainText()])


class ReverseForm(FlaskForm):
    """«Сторнировать»: a payment is corrected by a reversing one, with a reason."""

    reason = TextAreaField(
        _l("Причина сторно"),
        validators=[DataRequired(message=_l("Укажите причину сторнирования."))],
    )


class CancelCertificateForm(FlaskForm):
    """«Аннулировать»: a sold certificate or subscription, with a reason."""

    reason = TextAreaField(
        _l("Причина аннулирования"),
        validators=[DataRequired(message=_l("Укажите причину аннулирования."))],
    )


class StatusForm(FlaskForm):
    status = LabeledEnumField(
        CustomerStatus, _l("Статус"), validators=[InputRequired()], members=CustomerStatus.settable()
    )


class MessageForm(FlaskForm):
    """«Отправить сообщение»: a channel, a template (or free text), a preview, then send."""

    channel = LabeledEnumField(Channel, _l("Канал"), default=Channel.SMS, validators=[InputRequired()])
    message_type = LabeledEnumField(
        MessageType,
        _l("Шаблон"),
        default=MessageType.MANUAL,
        validators=[InputRequired()],
        # what staff may send by hand: the texts that need no order, meant for the customer
        members=(MessageType.MANUAL, MessageType.MARKETING, MessageType.WELCOME),
    )
    text = TextAreaField(_l("Текст сообщения"), validators=[Optional(), PlainText()])

    def validate_text(self, field):

        if (
            self.message_type.data in (MessageType.MANUAL, MessageType.MARKETING)
            and not (field.data or "").strip()
        ):
            raise ValidationError(_l("Введите текст сообщения."))
        if (field.data or "").strip() and self.channel.data and self.message_type.data:
            from .notifications import uses_typed_text

            kind, channel = MessageType(self.message_type.data), Channel(self.channel.data)
            if not uses_typed_text(db.session, kind, channel):
                raise ValidationError(
                    _l(
                        "Шаблон «%(template)s» не вставляет в сообщение введённый текст: очистите поле "
                        "или выберите шаблон «Сообщение сотрудника».",
                        template=kind.label,
                    )
                )


# FAB's generated fields and the ones that read what the user's language writes


class ConsentForm(FlaskForm):
    """«Согласия»: a decision added to the ledger from the card (a scan may come with it)."""

    purpose = SelectField(
        _l("Цель"),
        choices=[(p.value, p.label) for p in ConsentPurpose],
        validators=[DataRequired(message=_l("Выберите цель согласия из списка."))],
    )
    decision = SelectField(
        _l("Решение"),
        choices=[("give", _l("Согласие дано")), ("withdraw", _l("Отказ или отзыв согласия"))],
        validators=[DataRequired(message=_l("Укажите, дано согласие или отозвано."))],
    )
    method = SelectField(
        _l("Как получено"),
        choices=[("", "—"), *((m.value, m.label) for m in ConsentMethod)],
        validators=[Optional()],
    )


# The registration form's question (app/admin/card.py adds it to the new customer's form).
TREATMENT_CHOICES = [
    ("", _l("Ещё не получено")),
    (ConsentMethod.PAPER.value, _l("Подписано на бумаге")),
    (ConsentMethod.SCREEN.value, _l("Подписано на экране")),
]
