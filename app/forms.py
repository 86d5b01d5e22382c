"""Forms beyond the generated ones: enum selects, the card's inline forms."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from babel.numbers import NumberFormatError, format_decimal, get_group_symbol, parse_decimal
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import (
    BS3TextFieldWidget,
    DatePickerWidget,
    DateTimePickerWidget,
    Select2Widget,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import (
    BooleanField,
    DateField,
    DateTimeField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    TextAreaField,
)
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional, ValidationError
from wtforms.widgets import html_params

from .extensions import db
from .formatting import date_short, typed_date
from .models import Branch, CatalogItem, Channel, CustomerStatus, MessageType, OrderKind


class LocalDecimalField(DecimalField):
    """A number as the user's language writes it: «1 500,50» in Russian (and
    «1500.50» as well), shown back the same way («0,00», not «0.00»). FAB's
    fields took only «1500.50» and refused what a Russian receptionist types."""

    widget = BS3TextFieldWidget()

    def _value(self):
        if self.raw_data or not isinstance(self.data, Decimal):
            return super()._value()
        pattern = "0.##########" if self.places is None else "0." + "0" * self.places
        return format_decimal(self.data, format=pattern, locale=get_locale())

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            return super().process_formdata(valuelist)
        locale = get_locale()
        typed = valuelist[0].strip()
        if get_group_symbol(locale).isspace():  # «1 500,50» with whatever space was typed
            typed = "".join(typed.split())
        try:  # strict: in English «1500,50» is refused, not read as 150050
            self.data = parse_decimal(typed, locale=locale, strict=True)
        except NumberFormatError as error:
            self.data = None
            example = format_decimal(Decimal("1500.50"), format="0.00", locale=locale)
            raise ValueError(_("Введите число, например %(example)s.", example=example)) from error


def _date_example() -> str:
    return date_short(dt.date(1986, 7, 12))


class TypedPickerWidget:
    """FAB's calendar widgets, showing what was typed when the form comes back
    refused (FAB's show the field's data: a refused date vanished)."""

    def __init__(self, picker):
        self.picker = picker

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("name", field.name)
        return Markup(
            self.picker.data_template % {"text": html_params(type="text", value=field._value(), **kwargs)}
        )


class LocalDateField(DateField):
    """A date typed as the user's language writes it: FAB's date fields took only
    «1986-07-12» and refused the «12.07.1986» a receptionist types."""

    widget = TypedPickerWidget(DatePickerWidget)

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            return super().process_formdata(valuelist)
        self.data = typed_date(valuelist[0].strip())
        if self.data is None:
            raise ValueError(_("Введите дату, например %(example)s.", example=_date_example()))


class LocalDateTimeField(DateTimeField):
    """A date and time typed as the user's language writes them («12.07.2026 10:30»)
    or as the calendar widget writes them (2026-07-12 10:30:00)."""

    widget = TypedPickerWidget(DateTimePickerWidget)

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            return super().process_formdata(valuelist)
        date_text, _space, time_text = valuelist[0].strip().replace(",", " ").partition(" ")
        day = typed_date(date_text)
        moment = None
        for pattern in ("%H:%M", "%H:%M:%S"):
            try:
                moment = dt.datetime.strptime(time_text.strip() or "00:00", pattern).time()
                break
            except ValueError:
                continue
        if day is None or moment is None:
            self.data = None
            raise ValueError(_("Введите дату и время, например %(example)s 10:30.", example=_date_example()))
        self.data = dt.datetime.combine(day, moment)


def start_filters_empty(search_form) -> None:
    """FAB gives a filter its column's default: a date filter opened showing the
    UTC time its widget was first drawn («2026-12-02 10:23:23.296944»)."""
    for value in vars(search_form).values():
        if isinstance(value, UnboundField) and "default" in value.kwargs:
            value.kwargs["default"] = None


class FitsColumn:
    """A number its column can hold. A larger one reached the database, which
    refused it (PostgreSQL: numeric field overflow, integer out of range) and
    the page answered 500."""

    def __init__(self, limit):
        self.limit = limit

    def __call__(self, form, field):
        value = field.data
        if isinstance(value, str):  # a number typed into a text field («12,5»)
            try:
                value = Decimal(value.replace(",", ".").replace(" ", "").replace("\u00a0", ""))
            except InvalidOperation:
                return  # not a number: the field's own validators say so
        if (
            isinstance(value, int | float | Decimal)
            and not isinstance(value, bool)
            and abs(value) > self.limit
        ):
            from .formatting import number

            raise ValidationError(_("Слишком большое число: не больше %(max)s.", max=number(self.limit)))


class LabeledEnumField(SelectField):
    """A select over a LabeledEnum: stores members, shows translated labels."""

    def __init__(self, enum_class, label=None, validators=None, allow_blank=False, **kwargs):
        self.enum_class = enum_class
        choices = [(m.value, m.label) for m in enum_class]
        if allow_blank:
            choices = [("", "—"), *choices]

        def coerce(value):
            if value in (None, ""):
                return None
            if isinstance(value, enum_class):
                return value
            return enum_class(value)

        kwargs.setdefault("render_kw", {"class": "form-control"})
        super().__init__(label=label, validators=validators, coerce=coerce, choices=choices, **kwargs)

    def iter_choices(self):
        for value, label in self.choices:
            selected = self.data is not None and self.coerce(value) == self.data
            if value == "" and self.data is None:
                selected = True
            yield (value, label, selected, {})

    def pre_validate(self, form):
        if self.data is None:
            return
        super().pre_validate(form)

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = self.coerce(valuelist[0])
            except ValueError:
                self.data = None
                raise ValueError(self.gettext("Not a valid choice.")) from None


def _pk(obj):
    return obj.id


def _users():
    from flask import current_app

    user_model = current_app.appbuilder.sm.user_model
    return db.session.query(user_model).filter(user_model.active.is_(True)).order_by(user_model.last_name)


class NoteInlineForm(FlaskForm):
    text = TextAreaField(
        _l("Текст примечания"),
        validators=[DataRequired(message=_l("Введите текст примечания."))],
    )
    pinned = BooleanField(_l("Закрепить"))


class OrderInlineForm(FlaskForm):
    kind = LabeledEnumField(OrderKind, _l("Тип"), default=OrderKind.VISIT)
    catalog_item = QuerySelectField(
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
    specialist = QuerySelectField(
        _l("Специалист"),
        query_func=_users,
        get_pk_func=_pk,
        allow_blank=True,
        blank_text="—",
        widget=Select2Widget(),
    )
    branch = QuerySelectField(
        _l("Филиал"),
        query_func=lambda: db.session.query(Branch).order_by(Branch.name),
        get_pk_func=_pk,
        allow_blank=True,
        blank_text="—",
        widget=Select2Widget(),
    )
    visit_at = DateTimeLocalField(_l("Дата и время визита"), validators=[Optional()])
    paid = DecimalField(
        _l("Оплачено"),
        places=2,
        default=0,
        validators=[
            Optional(),
            NumberRange(min=0, message=_l("Оплата не может быть отрицательной.")),
        ],
    )
    comment = TextAreaField(_l("Комментарий"), validators=[Optional()])


class StatusForm(FlaskForm):
    status = LabeledEnumField(CustomerStatus, _l("Статус"), validators=[InputRequired()])


class MessageForm(FlaskForm):
    """«Отправить сообщение»: a channel, a template (or free text), a preview, then send."""

    channel = LabeledEnumField(Channel, _l("Канал"), default=Channel.SMS, validators=[InputRequired()])
    message_type = LabeledEnumField(
        MessageType, _l("Шаблон"), default=MessageType.MANUAL, validators=[InputRequired()]
    )
    text = TextAreaField(_l("Текст сообщения"), validators=[Optional()])

    def validate_text(self, field):
        from wtforms.validators import ValidationError

        if (
            self.message_type.data in (MessageType.MANUAL, MessageType.MARKETING)
            and not (field.data or "").strip()
        ):
            raise ValidationError(_l("Введите текст сообщения."))


# FAB's generated fields and the ones that read what the user's language writes
LOCAL_FIELDS = {DecimalField: LocalDecimalField, DateField: LocalDateField, DateTimeField: LocalDateTimeField}
