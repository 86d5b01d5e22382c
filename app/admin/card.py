"""The customer card («Карточка клиента»): the customer's record, their KPI and the
tabs their role may read, the inline forms (note, order, message), a masked value's
reveal, status changes from the card and the list, and the customer's form (the
fields of the customer type chosen, the extra fields an administrator defined).

A screen declares the card's columns, labels and tabs (app/views.py CustomerView);
the rules it calls live in app/customers.py, app/orders.py, app/notifications.py."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_appbuilder import action, expose, has_access
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.urltools import get_order_args, get_page_args, get_page_size_args
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from redis.exceptions import RedisError
from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import contains_eager, joinedload
from wtforms import SelectField, StringField
from wtforms.validators import Optional

from .. import (
    access,
    certificates,
    consents,
    customers,
    disclosure,
    files,
    formatting,
    notifications,
    orders,
    payments,
    subjects,
)
from ..disclosure import Masked
from ..errors import Forbidden, ValidationFailed
from ..extensions import db
from ..forms import TREATMENT_CHOICES, ConsentForm, MessageForm, NoteInlineForm, OrderInlineForm, StatusForm
from ..models import (
    AccessAction,
    Branch,
    CatalogItem,
    Channel,
    ConsentMethod,
    ConsentPurpose,
    Customer,
    CustomerAttribute,
    CustomerAttributeValue,
    CustomerStatus,
    DiscountRule,
    FileCategory,
    MessageType,
    MoneyRules,
    Note,
    Order,
    SubjectRequest,
    SubjectRequestKind,
    Tag,
    customer_tag,
    kopecks,
    record_id,
    utcnow,
)
from . import journal, lookups, rendering
from .base import KartotekaModelView
from .fields import LocalDecimalField, TypedDateWidget
from .imports import ImportMixin
from .links import skip_masked
from .options import option_rows, options_of
from .security import csrf_token


class CsrfField:
    """A blank form's CSRF field, as WTForms draws Flask-WTF's: the request's token."""

    def __init__(self, name: str, token: str):
        self.name, self.current_token = name, token

    def __html__(self) -> str:
        name = escape(self.name)
        return f'<input id="{name}" name="{name}" type="hidden" value="{escape(self.current_token)}">'

    __str__ = __html__


class BlankForm:
    """An inline form of the card on a GET. Blank, its HTML is the same on every card
    of a language (and, for the order form, of its options): the templates keep it
    in fragments, so the form (~130 Python calls a form, five a card) is built only
    when a template reads it outside a kept fragment. Its CSRF field needs no form.
    Other attributes (``prices``, ``cache_key``) are given."""

    def __init__(self, factory, **attributes):
        self._factory = factory
        self._form = None
        self.__dict__.update(attributes)

    def __getattr__(self, name):
        if name == "csrf_token":
            return csrf_field()  # AttributeError (undefined in a template) without CSRF
        if self._form is None:
            self._form = self._factory()
        return getattr(self._form, name)


def csrf_field() -> CsrfField:
    """The CSRF field a FlaskForm would have now; AttributeError where forms have none."""
    config = current_app.config
    if not config.get("WTF_CSRF_ENABLED", True):
        raise AttributeError("csrf_token")
    return CsrfField(config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), csrf_token())


_ORDER_OPTIONS: dict = {}  # (language, currency, option rows) -> (options, prices)


def order_options(models: dict, rows) -> tuple[dict, dict]:
    """The order form's options and the prices of its services (kartoteka.js shows
    price, discount and total as the service is chosen)."""
    options = options_of(models, rows)
    prices = {
        str(o.id): str(kopecks(o.price)) for o in options.get("catalog_item", ()) if o.price is not None
    }
    return options, prices


def order_form(options: dict) -> OrderInlineForm:
    form = OrderInlineForm()
    for name, choices in options.items():
        form[name].query_func = lambda c=choices: c
    return form


class CustomerTab:
    """A tab of the card: its label, its view and an optional inline form."""

    def __init__(self, key, label, view, inline=None):
        self.key, self.label, self.view, self.inline = key, label, view, inline
        # its pane's opening tag, written once (two escapes a tab in the template)
        self.pane = Markup(
            f'<div role="tabpanel" class="tab-pane" id="{escape(key)}" data-tab="{escape(key)}">'
        )
        if view.card_tab is None:  # a form opened from this tab saves back to it, not to «Основное»
            view.card_tab = key


def status_action(status, label, icon):
    """A bulk action of the customers list that sets ``status`` on the selected rows."""

    def handler(self, items):
        return self._bulk_status(items, status)

    handler.__name__ = f"status_{status.value}"
    return action(handler.__name__, label, "", icon, multiple=True, single=False)(handler)


class CustomerCardView(ImportMixin, KartotekaModelView):
    """The machinery of the customer card; CustomerView declares what it shows."""

    tabs: list = []  # CustomerTab, in the card's order; each tab's view is a related view
    # the labels a customer type gives some fields ({type: {column: label}}): a legal
    # entity's person fields are its contact person's; the card and the form say so
    labels_by_type: dict = {}
    fields_by_type: dict = {}

    def __init__(self, **kwargs):
        self.related_views = [tab.view for tab in self.tabs]
        super().__init__(**kwargs)

    def prepare(self, item, is_new):
        if is_new:
            customers.register_customer(self.datamodel.session, item)
        else:
            subjects.check_not_erased(self.datamodel.session, item)
            before = sa_inspect(item).attrs.status.history.deleted
            customers.check_status_change(
                before[0] if before else item.status, item.status, may_block=self.may_block()
            )
            customers.prepare_customer(self.datamodel.session, item)

    def added_message(self, item) -> str:
        """Whom the front desk has just registered («Запись добавлена» said nothing)."""
        return _("Клиент %(name)s добавлен в картотеку.", name=item.full_name)

    def prepare_imported(self, item) -> None:
        """A customer from the clinic's old list is not new to it: no welcome message."""
        customers.prepare_customer(self.datamodel.session, item)

    def may_block(self) -> bool:
        return self.appbuilder.sm.has_access("can_block", access.CUSTOMERS)

    def settable_statuses(self, current) -> list[CustomerStatus]:
        """The statuses this user may give a customer now: all, or (without the right
        to block) all but «Заблокирован», and none for a blocked customer."""
        if self.may_block():
            return CustomerStatus.settable()
        if current == CustomerStatus.BLOCKED:
            return []
        return [s for s in CustomerStatus.settable() if s != CustomerStatus.BLOCKED]

    def extra_fields(self, item):
        """The extra fields of every customer type; the form shows those of the type
        chosen (kartoteka.js, by ``data-customer-types``), the domain rule keeps them."""
        fields = {}
        if item is None and self.appbuilder.sm.has_access("can_write", access.PROCESSING):
            # the registration asks for the consent to processing for treatment
            fields["consent_treatment"] = SelectField(
                _l("Согласие на обработку персональных данных для лечения"),
                choices=TREATMENT_CHOICES,
                validators=[Optional()],
                description=_l("Бумажный экземпляр отсканируйте во вкладку «Файлы» карточки."),
                render_kw={"class": "form-control"},  # styled as the form's other selects
            )
        if item is None and access.may_adjust():
            # a clinic's customers come from its old program with what they had there
            for name, label, description in (
                (
                    "opening_deposit",
                    _l("Депозит на начало учёта"),
                    _l("Сколько было на депозите в прежней программе учёта, ₽. Вносится один раз."),
                ),
                (
                    "opening_bonus",
                    _l("Бонусы на начало учёта"),
                    _l("Бонусы из прежней программы учёта. Не сгорают."),
                ),
            ):
                fields[name] = LocalDecimalField(
                    label, places=2, validators=[Optional()], description=description
                )
        for attribute in customers.attributes(self.datamodel.session):
            # Text inputs: the domain rule (customers.set_attributes) reads numbers and
            # dates as the user's language writes them and answers in Russian.
            widget = TypedDateWidget() if attribute.kind.value == "date" else BS3TextFieldWidget()
            fields[f"attr_{attribute.id}"] = StringField(
                attribute.label,
                validators=[Optional()],
                widget=widget,
                render_kw={"data-customer-types": attribute.customer_type.value},
            )
        return fields

    def save_extra_fields(self, form, item):
        values = {
            int(name[5:]): field.data for name, field in form._fields.items() if name.startswith("attr_")
        }
        customers.set_attributes(self.datamodel.session, item, values)
        payments.open_balances(
            self.datamodel.session,
            item,
            {name: form[name].data for name in payments.OPENING_FIELDS if name in form._fields},
            may_adjust=access.may_adjust(),
        )
        treatment = form._fields.get("consent_treatment")
        if treatment is not None and treatment.data:
            consents.record(
                self.datamodel.session, item, ConsentPurpose.TREATMENT, given=True, method=treatment.data
            )

    def _init_forms(self):
        super()._init_forms()
        for form_class in (self.add_form, self.edit_form):
            for name, kinds in self.fields_by_type.items():
                unbound = getattr(form_class, name, None)
                if unbound is not None:  # shown for the types that have it (an organisation, a birthday)
                    render_kw = unbound.kwargs.setdefault("render_kw", {})
                    render_kw["data-customer-types"] = " ".join(kind.value for kind in kinds)
            for kind, labels in self.labels_by_type.items():
                for name, label in labels.items():
                    unbound = getattr(form_class, name, None)
                    if unbound is not None:  # kartoteka.js relabels the field when the type is chosen
                        render_kw = unbound.kwargs.setdefault("render_kw", {})
                        render_kw["data-label"] = self.label_columns.get(name, name)
                        render_kw[f"data-label-{kind.value}"] = label

    def restrict_form(self, form, new=False, item=None):
        super().restrict_form(form, new=new, item=item)
        # Status changes are an action of their own in the matrix, not a form field.
        if "status" in form._fields and not self.appbuilder.sm.has_access("can_status", access.CUSTOMERS):
            del form["status"]
        if "status" in form._fields:
            allowed = self.settable_statuses(item.status if item is not None else None)
            if not allowed:
                del form["status"]
            else:
                form["status"].choices = [(s.value, s.label) for s in allowed]
        # the labels of the record's type (the form without JavaScript says them too)
        kind = item.customer_type if item is not None else None
        for name, label in self.labels_by_type.get(kind, {}).items():
            if name in form._fields:
                form[name].label.text = label

    def prefill_form(self, form, pk):
        for name in ("phone", "phone_extra"):
            if name in form._fields and form[name].data:
                form[name].data = formatting.phone(form[name].data)
        item = self.datamodel.get(pk)
        for value in item.attribute_values if item is not None else []:
            field = form._fields.get(f"attr_{value.attribute_id}")
            if field is not None and field.data in (None, ""):
                field.process_data(customers.attribute_text(value.attribute, value.value))

    def _extra_fieldset(self, form, fieldsets):
        names = [n for n in form._fields if n.startswith("attr_")]
        fieldsets = [*fieldsets, (_l("Дополнительные сведения"), {"fields": names})] if names else fieldsets
        if "consent_treatment" in form._fields:
            fieldsets = [*fieldsets, (_l("Согласия"), {"fields": ["consent_treatment"]})]
        opening = [n for n in payments.OPENING_FIELDS if n in form._fields]
        if opening:
            fieldsets = [*fieldsets, (_l("Счета"), {"fields": opening})]
        return fieldsets

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_add_widget(form, exclude_cols, widgets)
        args = widgets["add"].template_args
        args["fieldsets"] = self._extra_fieldset(form, args["fieldsets"])
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_edit_widget(form, exclude_cols, widgets)
        args = widgets["edit"].template_args
        args["fieldsets"] = self._extra_fieldset(form, args["fieldsets"])
        return widgets

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = super()._get_show_widget(pk, item, widgets, actions, show_fieldsets)
        labels = self.labels_by_type.get(item.customer_type)
        if labels:
            args = widgets["show"].template_args
            args["label_columns"] = {**args["label_columns"], **labels}
        values = [v for v in item.attribute_values if v.attribute.customer_type == item.customer_type]
        if values:
            args = widgets["show"].template_args
            names = [f"attr_{v.attribute_id}" for v in values]
            args["include_columns"] = [*args["include_columns"], *names]
            args["value_columns"] = [
                *args["value_columns"],
                *(customers.attribute_text(v.attribute, v.value) for v in values),
            ]
            args["label_columns"] = {
                **args["label_columns"],
                **{n: v.attribute.label for n, v in zip(names, values, strict=True)},
            }
            args["fieldsets"] = [*args["fieldsets"], (_l("Дополнительные сведения"), {"fields": names})]
        return widgets

    def check_lock(self, form, item):
        if "version" in form._fields:
            customers.check_version(item, form.version.data)

    def visible_tabs(self):
        allowed = {type(v) for v in self.visible_related_views()}
        views = {type(v): v for v in self._related_views}
        return [(tab, views[tab.view]) for tab in self.tabs if tab.view in allowed]

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return self.render_card(pk)

    @expose("/lookup")
    @has_access
    def lookup(self):
        """Choices for a customer field as the user types (app/lookups.py)."""
        exclude = record_id(request.args.get("exclude", ""))
        return jsonify(results=lookups.find_customers(request.args.get("q", ""), exclude=exclude))

    def render_card(self, pk, active_tab=None):
        """The card. From a refused inline form (POST) it shows the form again with
        what the user typed, on the tab they were on."""
        customer, kpi = self.load_card(pk)
        if customer is None:
            abort(404)
        pk = customer.id
        widgets = self._get_show_widget(pk, customer)
        widgets = self._get_related_views_widgets(
            customer,
            orders=get_order_args(),
            pages=get_page_args(),
            page_sizes=get_page_size_args(),
            widgets=widgets,
        )
        if request.method == "GET":  # a refused POST is not a page to come back to
            self.update_redirect()
        sm = self.appbuilder.sm
        tabs = self.visible_tabs()
        # the card is read whether it answers a GET or a refused form (its 422 or 403
        # page shows the same tabs): each showing is journaled, with the tabs it draws
        self.journal_opening(customer.id, tabs)
        journal.shown()
        blank = request.method == "GET"  # a refused POST shows its forms as the user filled them
        # an erased customer's remainder is written to by nobody (app/subjects.py): the
        # card offers no form its routes would refuse
        erased = bool(g.get("kartoteka_erased"))

        def may(permission, resource):
            return not erased and sm.has_access(permission, resource)

        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            customer=customer,
            kpi=kpi,
            header=self.header_fields(customer),
            tabs=tabs,
            tabs_key=(type(self).__name__, tuple(tab.key for tab, _view in tabs)),
            related_views=self.visible_related_views(),
            note_form=BlankForm(NoteInlineForm) if blank else NoteInlineForm(),
            message_form=(BlankForm(MessageForm) if blank else MessageForm())
            if may("can_write", access.MESSAGES)
            else None,
            order_form=self.order_form_with_options() if may("can_write", access.ORDERS) else None,
            status_form=BlankForm(StatusForm) if blank else StatusForm(),
            can_edit=may("can_write", access.CUSTOMERS),
            can_status=may("can_status", access.CUSTOMERS),
            can_add_note=may("can_write", access.NOTES),
            can_add_order=may("can_write", access.ORDERS),
            consent_form=BlankForm(ConsentForm) if blank else ConsentForm(),
            can_add_consent=may("can_write", access.PROCESSING),
            can_subject=sm.has_access("can_write", access.SUBJECTS),
            medical_exports=subjects.medical_exports(db.session, customer.id)
            if any(tab.key == "anamnesis" for tab, _view in tabs)
            else [],
            can_upload_file=may("can_write", access.FILES),
            file_categories=files.upload_categories() if not erased else [],
            statuses=self.settable_statuses(customer.status),
            active_tab=active_tab,
            show_balances=self.column_level("bonus_balance") in (access.READ, access.WRITE),
            order_discount=orders.discount_for(customer),
            discount_rule=orders.discount_rule(),
            may_discount=access.may_discount(),
            can_transfer=may("can_write", access.ACCOUNTS),
            erased=erased,
            legal_hold=g.get("kartoteka_legal_hold"),
        )

    def journal_opening(self, customer_id, tabs) -> None:
        """The card's opening and each restricted tab it draws (``tabs``, those given to
        its template) are rows of the journal: no tab it does not draw."""
        access.journal(customer_id, AccessAction.CARD)
        for tab, _view in tabs:
            if tab.key in access.RESTRICTED_TABS:
                access.journal(customer_id, AccessAction.TAB, field=tab.key)

    def order_form_with_options(self):
        """The card's order form; its three selects filled from one UNION query. The
        options and prices its rows make are kept per language and rows; a blank
        form (GET) is a BlankForm whose HTML depends only on them (and the language)."""
        models = self.order_form_options()
        rows = option_rows(self.datamodel.session, models)
        key = (str(get_locale()), current_app.config["KARTOTEKA_CURRENCY"], rows)
        options, prices = rendering.remembered(_ORDER_OPTIONS, key, lambda: order_options(models, rows))
        if request.method == "GET":
            return BlankForm(lambda: order_form(options), prices=prices, cache_key=key[1:])
        form = order_form(options)
        form.prices, form.cache_key = prices, None
        return form

    def order_form_options(self) -> dict:
        """The selects of the card's order form: active services and specialists,
        branches (kept on the view, so their UNION statement is composed once)."""
        options = self.__dict__.get("_order_form_options")
        if options is None:
            user_model = self.appbuilder.sm.user_model
            specialists = access.users_with(access.SPECIALIST, user_model)
            options = self._order_form_options = {
                "catalog_item": (CatalogItem, CatalogItem.active.is_(True)),
                "specialist": (user_model, user_model.active.is_(True) & specialists),
                "branch": Branch,
            }
        return options

    def load_card(self, pk):
        """The customer with everything the card shows, in one query, within the row scope."""
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None, None
        counted = access.may("can_read", access.CERTIFICATES)
        hidden = disclosure.secret_columns()  # what the tabs' texts must not show this user
        statement = self.card_statement(counted, hidden)
        rows = (
            self.datamodel.session.execute(statement, {"card_pk": pk, "card_now": utcnow()}).unique().all()
        )  # one customer, uniqued
        if not rows:
            return None, None
        customer, *figures, rule, held, erased = rows[0]
        g.kartoteka_legal_hold = subjects.legal_hold(held)
        g.kartoteka_erased = bool(erased)  # an anonymous card: no «Принять оплату» (app/admin/money.py)
        g.kartoteka_discount_rule = rule or DiscountRule.LARGER
        disclosure.prime(customer, *figures[len(figures) - len(hidden) :])
        figures = figures[: len(figures) - len(hidden)]
        active = figures.pop() if counted else None
        return customer, {**customers.kpi_figures(*figures), "certificates": active}

    CARD_STATEMENTS_KEPT = 256

    def card_statement(self, counted: bool, hidden: list):
        """The card's statement, the customer's key and the time its parameters:
        composed (and its cache key computed) once per row scope, certificates
        shown and hidden texts, not on every card (~1,300 Python calls)."""
        all_rows = access.may(access.ALL_ROWS, access.CUSTOMERS)
        key = (None if all_rows else getattr(g.get("user"), "id", None), counted, tuple(hidden))
        statements = self.__dict__.setdefault("_card_statements", {})
        statement = statements.get(key)
        if statement is None:
            if len(statements) >= self.CARD_STATEMENTS_KEPT:
                statements.clear()
            statement = statements[key] = self.compose_card_statement(counted, hidden)
        return statement

    def compose_card_statement(self, counted: bool, hidden: list):
        # The collections through plain LEFT JOINs: joinedload(Customer.tags) nests the
        # association in a join that SQLite materialises whole (every customer's tags,
        # tens of thousands of rows, on every card).
        query = (
            self.datamodel.session.query(Customer)
            .outerjoin(customer_tag, customer_tag.c.customer_id == Customer.id)
            .outerjoin(Tag, Tag.id == customer_tag.c.tag_id)
            .outerjoin(CustomerAttributeValue, CustomerAttributeValue.customer_id == Customer.id)
            .outerjoin(CustomerAttribute, CustomerAttribute.id == CustomerAttributeValue.attribute_id)
            .options(
                joinedload(Customer.category),
                joinedload(Customer.manager),
                contains_eager(Customer.tags),
                contains_eager(Customer.attribute_values).contains_eager(CustomerAttributeValue.attribute),
            )
            .add_columns(*customers.kpi_columns(access.row_scope(Order)))
            .filter(Customer.id == bindparam("card_pk"))
        )
        # the certificates and subscriptions still in force, for those who may read them
        if counted:
            query = query.add_columns(certificates.active_count(Customer.id, bindparam("card_now")))
        query = query.add_columns(*hidden)
        # the administrator's discount rule, for the booking form (no statement of its own)
        query = query.add_columns(
            select(MoneyRules.discount_rule).order_by(MoneyRules.id).limit(1).scalar_subquery()
        )
        # what an erasure kept under law (its last medical record), no statement of its own
        query = query.add_columns(subjects.held_record_column(), subjects.erased_column())
        return self.datamodel.apply_filters(query, self._base_filters).statement

    HEADER_FIELDS = (("phone", formatting.phone), ("email", None))

    def header_fields(self, customer):
        """The card header's contact fields as the policy lets this user see them."""
        result = []
        values = disclosure.row(Customer, {c: getattr(customer, c) for c, _ in self.HEADER_FIELDS}, customer)
        for column, formatter in self.HEADER_FIELDS:
            if column not in values:
                continue
            value = values[column]
            key = access.column_field(Customer, column)
            masked = isinstance(value, Masked)
            shown = skip_masked(formatter)(value) if formatter else value
            result.append(
                {
                    "column": column,
                    "label": self.label_columns[column],
                    "value": shown or "—",
                    "revealable": masked and bool(value) and access.may_reveal(key),
                }
            )
        return result

    @expose("/<int:pk>/reveal/<column>", methods=["POST"])
    @has_access
    def reveal(self, pk, column):
        """Show a masked value on an explicit click; the reveal is journaled."""
        key = access.column_field(Customer, column)
        if key is None or not access.may_reveal(key):
            abort(403)
        customer = self._customer_or_404(pk)
        value = getattr(customer, column)
        access.record_access(customer.id, AccessAction.REVEAL, field=key)
        db.session.commit()
        shown = formatting.phone(value) if column in ("phone", "phone_extra") else value
        return jsonify({"column": column, "value": shown or ""})

    def _message_form(self):
        """The «Отправить сообщение» form, for a user who may write messages (else 403).

        The routes live on the customers view, so FAB checks write on Customers; sending is
        the Messages permission too (a role edited in the UI may have one without the other).
        """
        if not self.appbuilder.sm.has_access("can_write", access.MESSAGES):
            abort(403)
        return MessageForm()

    @expose("/<int:pk>/message/preview", methods=["POST"])
    @has_access
    def preview_message(self, pk):
        """The text a «Отправить сообщение» would send, rendered, before sending."""
        form = self._message_form()
        customer = self._customer_or_404(pk)
        if not form.validate():
            return jsonify({"errors": [str(m) for ms in form.errors.values() for m in ms]}), 422
        try:
            _subject, body = notifications.render(
                db.session,
                form.message_type.data,
                form.channel.data,
                notifications.template_context(customer, text=form.text.data or ""),
            )
        except ValidationFailed as e:
            return jsonify({"errors": [str(m) for m in e.errors.values()]}), 422
        return jsonify({"text": body})

    @expose("/<int:pk>/message", methods=["POST"])
    @has_access
    def send_message(self, pk):
        """«Отправить сообщение» from the card: queued now, delivered by the worker."""
        form = self._message_form()
        customer = self._customer_or_404(pk)
        if not form.validate():
            return self._refused(form.errors, pk, "messages")
        if not self.queue_manual(customer, form):  # it said why
            return self.render_card(pk, active_tab="messages"), 422
        db.session.commit()
        # the consent is the worker's to check at send time; the staff member hears now
        # that this one will be cancelled (they took it for sent)
        refusal = notifications.consent_refusal(
            db.session, customer.id, MessageType(form.message_type.data), Channel(form.channel.data)
        )
        if refusal is not None:
            flash(_("Сообщение записано, но не будет отправлено: %(reason)s.", reason=refusal), "warning")
        else:
            flash(_("Сообщение поставлено в очередь на отправку."), "success")
        return self._card(pk, "messages")

    def queue_manual(self, customer, form) -> list:
        # A refusal (an erased customer, a template that cannot render) comes before this
        # customer's one message is added, and takes nothing else back: the transaction's
        # rollback it did dropped the messages queued for the customers ticked before on
        # the list, which the list still counted as queued.
        try:
            subjects.check_writable(db.session, customer)
            created = notifications.queue_notification(
                db.session, customer, form.message_type.data, (form.channel.data,), text=form.text.data or ""
            )
        except ValidationFailed as e:
            for text in e.errors.values():
                flash(text, "danger")
            return []
        if not created:
            flash(
                _(
                    "Клиенту %(name)s нельзя отправить сообщение по этому каналу: нет контакта или канал выключен.",
                    name=customer.full_name,
                ),
                "warning",
            )
        return created

    @action("send_message", _l("Отправить сообщение"), "", "fa-envelope", multiple=True, single=False)
    def bulk_message_action(self, items):
        ids = ",".join(str(c.id) for c in (items if isinstance(items, list) else [items]) if c is not None)
        return redirect(url_for(".bulk_message", ids=ids))

    @expose("/message", methods=["GET", "POST"])
    @has_access
    def bulk_message(self):
        """A message to the customers selected on the list."""
        form = self._message_form()
        ids = [n for n in map(record_id, request.values.get("ids", "").split(",")) if n is not None][:1000]
        query = self.datamodel.session.query(Customer).filter(Customer.id.in_(ids))
        selected = self.datamodel.apply_filters(query, self._base_filters).all()
        if request.method == "POST" and form.validate():
            queued = [(customer, self.queue_manual(customer, form)) for customer in selected]
            count = sum(len(created) for _customer, created in queued)
            db.session.commit()
            flash(
                ngettext(
                    "%(num)d сообщение поставлено в очередь.",
                    "%(num)d сообщений поставлено в очередь.",
                    count,
                ),
                "success",
            )
            # as on the card: the staff member hears now which of them will be cancelled
            # (a customer who withdrew the consent was counted as queued, and was not sent)
            kind, channel = MessageType(form.message_type.data), Channel(form.channel.data)
            for customer, created in queued:
                refusal = created and notifications.consent_refusal(db.session, customer.id, kind, channel)
                if refusal:
                    flash(
                        _(
                            "Клиенту %(name)s сообщение не будет отправлено: %(reason)s.",
                            name=customer.full_name,
                            reason=refusal,
                        ),
                        "warning",
                    )
            return redirect(url_for(".list"))
        return self.render_template(
            "kartoteka/bulk_message.html",
            form=form,
            customers=selected,
            ids=",".join(map(str, ids)),
            title=_("Отправить сообщение"),
        ), (422 if request.method == "POST" else 200)  # a refused form, as everywhere

    def _refused(self, errors: dict, pk, tab):
        """An inline form of the card was refused: the card again (422), its messages
        on top and the form still holding what was typed."""
        for messages in errors.values():
            for message in messages:
                flash(message, "danger")
        # each box of the inline form says its own (rendering.Refusal); the form is named
        # by its tab (the status form, on no tab, by «status»)
        g.kartoteka_refused = (tab or "status", errors)
        return self.render_card(pk, active_tab=tab), 422

    def _card(self, pk, tab=None):
        url = url_for(".show", pk=pk)
        return redirect(f"{url}#{tab}" if tab else url)

    def _customer_or_404(self, pk):
        customer = self.datamodel.get(pk, self._base_filters)
        if customer is None:
            abort(404)
        return customer

    @expose("/<int:pk>/notes", methods=["POST"])
    @has_access
    def add_note(self, pk):
        """Add a note from the card without leaving it."""
        if not self.appbuilder.sm.has_access("can_write", access.NOTES):
            abort(403)
        customer = self._customer_or_404(pk)
        form = NoteInlineForm()
        if form.validate():
            note = Note(
                customer=customer,
                text=form.text.data.strip(),
                pinned=bool(form.pinned.data),
            )
            db.session.add(note)
            db.session.commit()
            flash(_("Примечание добавлено."), "success")
            return self._card(pk, "notes")
        return self._refused(form.errors, pk, "notes")

    @expose("/<int:pk>/files", methods=["POST"])
    @has_access
    def upload(self, pk):
        """Add a file from the card's «Файлы» tab; a refused one leaves nothing on disk."""
        if not files.upload_categories():
            abort(403)
        customer = self._customer_or_404(pk)
        upload = request.files.get("file")
        try:
            item = files.add_file(
                db.session,
                customer,
                upload.filename if upload else None,
                upload.read() if upload else b"",
                files.check_upload(request.form.get("category")),
            )
        except Forbidden:
            db.session.rollback()
            abort(403)
        except ValidationFailed as e:
            db.session.rollback()
            return self._refused({name: [text] for name, text in e.errors.items()}, pk, "files")
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            files.discard(item)
            raise
        flash(_("Файл «%(name)s» добавлен.", name=item.name), "success")
        return self._card(pk, "files")

    @expose("/<int:pk>/consents", methods=["POST"])
    @has_access
    def add_consent(self, pk):
        """A consent given or withdrawn, added to the ledger from the card (with its scan)."""
        if not self.appbuilder.sm.has_access("can_write", access.PROCESSING):
            abort(403)
        customer = self._customer_or_404(pk)
        form = ConsentForm()
        if not form.validate():
            return self._refused(form.errors, pk, "processing")
        session = db.session
        upload = request.files.get("file")
        scan = None
        try:
            if upload is not None and upload.filename:
                if not self.appbuilder.sm.has_access("can_write", access.FILES):
                    abort(403)
                scan = files.add_file(session, customer, upload.filename, upload.read(), FileCategory.CONSENT)
                session.flush()
            row = consents.record(
                session,
                customer,
                form.purpose.data,
                given=form.decision.data == "give",
                method=form.method.data or (ConsentMethod.PAPER.value if scan else None),
                file_id=scan.id if scan else None,
            )
            session.commit()
        except ValidationFailed as e:
            session.rollback()
            if scan is not None:
                files.discard(scan)
            return self._refused({k: [v] for k, v in e.errors.items()}, pk, "processing")
        flash(consents.recorded_message(row), "success")
        return self._card(pk, "processing")

    def _subject_rights(self):
        if not self.appbuilder.sm.has_access("can_write", access.SUBJECTS):
            abort(403)

    @expose("/<int:pk>/subject/export", methods=["POST"])
    @has_access
    def subject_export(self, pk):
        """«Выдать данные»: the request's row now, the ZIP by the worker (its progress on the tab)."""
        self._subject_rights()
        customer = self._customer_or_404(pk)
        try:
            request_row = subjects.start(
                db.session, customer, SubjectRequestKind.EXPORT, request.form.get("basis")
            )
        except ValidationFailed as e:
            db.session.rollback()
            return self._refused({k: [v] for k, v in e.errors.items()}, pk, "requests")
        db.session.commit()
        try:
            subjects.enqueue_export(request_row.id)
        except RedisError:
            flash(_("Очередь недоступна: выгрузка начнётся, когда она вернётся."), "warning")
        flash(
            _(
                "Выгрузка данных поставлена в очередь. Срок ответа клиенту — %(date)s.",
                date=formatting.date_short(request_row.deadline),
            ),
            "success",
        )
        return self._card(pk, "requests")

    @expose("/<int:pk>/subject/erase", methods=["POST"])
    @has_access
    def subject_erase(self, pk):
        """«Уничтожить данные»: personal data destroyed, orders kept, an act written."""
        self._subject_rights()
        customer = self._customer_or_404(pk)
        if request.form.get("confirm") != "yes":
            return self._refused(
                {"confirm": [_("Подтвердите уничтожение данных: его нельзя отменить.")]}, pk, "requests"
            )
        try:
            subjects.check_not_erased_before(db.session, customer)
            done = subjects.erase(db.session, customer, request.form.get("basis"))
        except ValidationFailed as e:
            db.session.rollback()
            return self._refused({k: [v] for k, v in e.errors.items()}, pk, "requests")
        db.session.commit()  # the files' contents go after it (app/subjects.py install)
        flash(_("Персональные данные клиента уничтожены; акт № %(id)s составлен.", id=done.id), "success")
        return self._card(pk, "requests")

    @expose("/subject/<int:rid>/download", methods=["GET"])
    @has_access
    def fetch_export(self, rid):
        """The export's ZIP, for those who may run subject requests and read every field
        it holds in full (a role given the requests but shown a passport masked would
        hand out what it may not read); journaled."""
        self._subject_rights()
        if not access.reads_every_field():
            abort(403)
        return self._send_subject_zip(rid, subjects.export_path, False, "")

    @expose("/subject/<int:rid>/medical", methods=["GET"])
    @has_access
    def fetch_medical_export(self, rid):
        """The export's medical part, for a role that reads the anamnesis (its own
        customers' only, as the tab); journaled as the export is."""
        if not self.appbuilder.sm.has_access("can_read", access.ANAMNESIS):
            abort(403)
        return self._send_subject_zip(rid, subjects.medical_path, True, "-medical")

    def _send_subject_zip(self, rid, path_of, medical: bool, suffix: str):
        """A subject request's stored ZIP (``path_of`` names which: the medical part with
        ``medical``), of a customer within the user's rows; the download is journaled
        with the request's number."""
        row = db.session.get(SubjectRequest, rid)
        if row is None or row.stored_name is None or row.customer_id is None:
            abort(404)
        self._customer_or_404(row.customer_id)
        path = path_of(row)
        if not path.is_file():
            abort(404)
        access.journal(row.customer_id, AccessAction.EXPORT, detail=access.request_detail(row.id, medical))
        return send_file(
            path,
            mimetype="application/zip",
            as_attachment=True,
            download_name=f"subject-{row.customer_id}-{row.id}{suffix}.zip",
        )

    @expose("/<int:pk>/orders", methods=["POST"])
    @has_access
    def add_order(self, pk):
        """Book an order from the card without leaving it."""
        if not self.appbuilder.sm.has_access("can_write", access.ORDERS):
            abort(403)
        customer = self._customer_or_404(pk)
        form = OrderInlineForm()
        typed = bool(form.discount.raw_data and form.discount.raw_data[0].strip())
        if typed and not access.may_discount():
            abort(403)  # a discount by hand is a right of its own (access.DISCOUNT)
        if not form.validate():
            return self._refused(form.errors, pk, "orders")
        discount = form.discount.data
        session = db.session
        try:
            with session.no_autoflush:
                order = Order(
                    customer=customer,
                    kind=form.kind.data,
                    branch=form.branch.data,
                    specialist=form.specialist.data,
                    visit_at=form.visit_at.data,
                    comment=form.comment.data,
                )
                orders.add_item(order, form.catalog_item.data, form.quantity.data, discount)
                orders.prepare_order(session, order, is_new=True)
            session.add(order)
            session.commit()
        except ValidationFailed as e:
            session.rollback()
            return self._refused({name: [message] for name, message in e.errors.items()}, pk, "orders")
        flash(_("Заказ №%(id)s оформлен.", id=order.id), "success")
        return self._card(pk, "orders")

    @expose("/<int:pk>/status", methods=["POST"])
    @has_access
    def change_status(self, pk):
        customer = self._customer_or_404(pk)
        form = StatusForm()
        if not form.validate():  # it answered a redirect, as if the status had changed
            return self._refused({"status": [_("Выберите статус из списка.")]}, pk, None)
        try:
            customers.change_status(db.session, customer, form.status.data, may_block=self.may_block())
        except Forbidden as e:
            db.session.rollback()
            for text in e.errors.values():
                flash(text, "danger")
            return self.render_card(pk), 403
        db.session.commit()
        flash(
            _("Статус клиента изменён: %(status)s.", status=customer.status.label),
            "success",
        )
        return self._card(pk)

    def _bulk_status(self, items, status):
        items = items if isinstance(items, list) else [items]
        try:
            for customer in items:
                if customer is not None:
                    customers.change_status(db.session, customer, status, may_block=self.may_block())
        except Forbidden as e:
            db.session.rollback()
            for text in e.errors.values():
                flash(text, "danger")
            self.update_redirect()
            return redirect(self.get_redirect())
        db.session.commit()
        flash(
            ngettext("Статус изменён у %(num)d клиента.", "Статус изменён у %(num)d клиентов.", len(items)),
            "success",
        )
        self.update_redirect()
        return redirect(self.get_redirect())
