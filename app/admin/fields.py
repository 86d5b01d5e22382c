"""Form fields and widgets that read what the user's language writes: numbers, dates,
times on the clinic's clock, enum selects, and the generated forms' adjustments."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from babel.numbers import NumberFormatError, format_decimal, get_group_symbol, parse_decimal
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import (
    BS3TextFieldWidget,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from markupsafe import Markup
from wtforms import (
    DateField,
    DateTimeField,
    DecimalField,
    IntegerField,
    SelectField,
)
from wtforms.fields.core import UnboundField
from wtforms.validators import ValidationError
from wtforms.widgets import html_params

from ..formatting import date_short, numeric_date_pattern, typed_date, typed_datetime, typed_datetime_value


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
        except NumberFormatError:
            self.data = None
        if "e" in typed.lower():  # «1e5» was read as 100 000 and put on the deposit
            self.data = None
        if self.data is None or not self.data.is_finite():  # «NaN», «Infinity» parse as numbers
            self.data = None
            example = format_decimal(Decimal("1500.50"), format="0.00", locale=locale)
            raise ValueError(_("Введите число, например %(example)s.", example=example))
        if self.places is not None and -self.data.as_tuple().exponent > self.places:
            # «1,111» was rounded to 1,11 and saved with «Изменения сохранены»
            self.data = None
            raise ValueError(
                ngettext(
                    "Не больше %(num)d знака после запятой.",
                    "Не больше %(num)d знаков после запятой.",
                    self.places,
                )
            )


class LocalIntegerField(IntegerField):
    """A whole number as staff type it («1 000» with a space read as 1000). WTForms'
    refusal of «4,5» or «30 дней» read «Неверное целое число.» («invalid integer»)."""

    widget = BS3TextFieldWidget()

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            return super().process_formdata(valuelist)
        typed = "".join(valuelist[0].split())
        if not re.fullmatch(r"[+-]?[0-9]+", typed):
            self.data = None
            raise ValueError(_("Введите целое число, без дробной части."))
        self.data = int(typed)


def _date_example() -> str:
    return date_short(dt.date(1986, 7, 12))


class TypedDateWidget:
    """A box for a date (and time) typed as the page's language writes it, with a
    calendar button beside it. The calendar writes the chosen day into the box and
    nothing else ever rewrites it: FAB's picker, formatted ``yyyy-mm-dd`` whatever the
    language, turned a typed «15.03.1990» into another date on blur, and its filter
    twin called a function that was never loaded. A refused value comes back as typed."""

    def __init__(self, with_time: bool = False):
        self.with_time = with_time

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("name", field.name)
        css = " ".join(filter(None, ("form-control kartoteka-date-text", kwargs.pop("class", ""))))
        placeholder = date_placeholder(self.with_time)
        box = html_params(
            type="text",
            value=field._value(),
            placeholder=placeholder,
            autocomplete="off",
            inputmode="numeric" if not self.with_time else "text",
            title=placeholder,
            **{"class": css},
            **kwargs,
        )
        group = html_params(
            **{
                "class": "input-group kartoteka-date",
                "data-format": calendar_format(),
                "data-time": "1" if self.with_time else "",
            }
        )
        label = _("Выбрать в календаре")
        return Markup(
            f"<div {group}><input {box}>"
            '<span class="input-group-btn"><button type="button" class="btn btn-default kartoteka-calendar" '
            f'tabindex="-1" title="{label}" aria-label="{label}"><i class="fa fa-calendar"></i></button>'
            "</span></div>"
        )


def _date_parts() -> list[str]:
    """The tokens of the page language's numeric date: «dd», «.», «MM», «.», «y»."""
    return re.findall(r"d+|M+|y+|[^dMy]+", numeric_date_pattern(get_locale()))


def date_placeholder(with_time: bool = False) -> str:
    """«дд.мм.гггг», «дд.мм.гггг чч:мм»; «mm/dd/yyyy» in English."""
    words = {"d": _("дд"), "M": _("мм"), "y": _("гггг")}
    text = "".join(words.get(token[0], token) for token in _date_parts())
    time = _("чч:мм")
    return f"{text} {time}" if with_time else text


def calendar_format() -> str:
    """The same date in the calendar's own notation: «dd.mm.yyyy», «m/d/yyyy»."""
    names = {"d": "d", "dd": "dd", "M": "m", "MM": "mm", "y": "yyyy", "yyyy": "yyyy"}
    return "".join(names.get(token, token) for token in _date_parts())


class LocalDateField(DateField):
    """A date typed as the user's language writes it: FAB's date fields took only
    «1986-07-12» and refused the «12.07.1986» a receptionist types."""

    widget = TypedDateWidget()

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return date_short(self.data) if isinstance(self.data, dt.date) else ""

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            return super().process_formdata(valuelist)
        self.data = typed_date(valuelist[0].strip())
        if self.data is None:
            raise ValueError(_("Введите дату, например %(example)s.", example=_date_example()))


class LocalDateTimeField(DateTimeField):
    """A date and time typed on the clinic's clock as the user's language writes them
    («12.07.2026 10:30»), stored as UTC and shown back on the clinic's clock: a visit
    booked for 10:30 was stored as typed, read back as UTC, and the customer was told 13:30."""

    widget = TypedDateWidget(with_time=True)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return typed_datetime_value(self.data) if isinstance(self.data, dt.datetime) else ""

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            return super().process_formdata(valuelist)
        text = valuelist[0].strip()
        # a day without its time is not a moment: a visit would silently be at midnight
        self.data = typed_datetime(text) if len(text.replace(",", " ").split()) > 1 or "T" in text else None
        if self.data is None:
            raise ValueError(_("Введите дату и время, например %(example)s 10:30.", example=_date_example()))


def start_filters_empty(search_form) -> None:
    """FAB gives a filter its column's default: a date filter opened showing the
    UTC time its widget was first drawn («2026-12-02 10:23:23.296944»)."""
    for value in vars(search_form).values():
        if isinstance(value, UnboundField) and "default" in value.kwargs:
            value.kwargs["default"] = None


def typed_day_filters(search_form) -> None:
    """Kartoteka's date filters are by the clinic's day, typed into a date box. FAB's
    picker is not loaded on a list: its filter threw, sent «10/01/1#» and the list
    came back unfiltered while the filter badge counted it."""
    for value in vars(search_form).values():
        if isinstance(value, UnboundField) and issubclass(value.field_class, DateField | DateTimeField):
            value.kwargs["widget"] = TypedDateWidget()


class PlainText:
    """Typed text holds no control characters (app/records.py control_character):
    «\\x07» in a note was stored and shown, a NUL answered 400 or 500."""

    def __call__(self, form, field):
        from ..records import control_character

        found = control_character(field.data)
        if found is not None:
            raise ValidationError(
                _(
                    "Текст содержит непечатаемый символ (код %(code)s): удалите его.",
                    code=f"U+{ord(found):04X}",
                )
            )


class ListedChoice(QuerySelectField):
    """FAB's select of related records, refusing an unlisted value in Russian: the
    card's booking form answered «Not a valid choice» (FAB's untranslated message;
    the generated forms' template translated it, the card's flash did not)."""

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError(_("Выберите значение из списка.")) from None


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
            from ..formatting import number

            raise ValidationError(_("Слишком большое число: не больше %(max)s.", max=number(self.limit)))


class LabeledEnumField(SelectField):
    """A select over a LabeledEnum: stores members, shows translated labels."""

    def __init__(self, enum_class, label=None, validators=None, allow_blank=False, members=None, **kwargs):
        self.enum_class = enum_class
        choices = [(m.value, m.label) for m in members or enum_class]
        if allow_blank:
            choices = [("", "—"), *choices]

        def coerce(value):
            if value in (None, ""):
                return None
            if isinstance(value, enum_class):
                return value
            return enum_class(value)

        # styled as the form's other boxes, whatever else a view adds to it (the customer's
        # «Пол» was drawn bare once its form marked it for the person type only)
        kwargs["render_kw"] = {"class": "form-control", **(kwargs.get("render_kw") or {})}
        super().__init__(label=label, validators=validators, coerce=coerce, choices=choices, **kwargs)

    offered: set | None = None  # the values drawn (offer); the rest stay valid input

    def offer(self, values) -> None:
        """Draw only these choices (what the user may choose); a value outside them is
        still read, so that the domain rule refuses it with its own reason."""
        self.offered = set(values)

    def iter_choices(self):
        for value, label in self.choices:
            if self.offered is not None and value not in self.offered and value != "":
                continue
            selected = self.data is not None and self.coerce(value) == self.data
            if value == "" and self.data is None:
                selected = True
            yield (value, label, selected, {})

    def pre_validate(self, form):
        # any choice is read, drawn or not (offer): a domain rule refuses what the user may not do
        if self.data is not None and self.data.value not in {value for value, _label in self.choices}:
            raise ValidationError(self.gettext("Not a valid choice."))

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = self.coerce(valuelist[0])
            except ValueError:
                self.data = None
                raise ValueError(self.gettext("Not a valid choice.")) from None


LOCAL_FIELDS = {
    DecimalField: LocalDecimalField,
    DateField: LocalDateField,
    DateTimeField: LocalDateTimeField,
    IntegerField: LocalIntegerField,
}
