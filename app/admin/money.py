"""The screens of the customer's money: a payment's reversal (a form with the reason),
the «Принять оплату» link of an order owing money, and the accounts' operations.

What they declare is in app/views.py (PaymentView, AccountOperationView); the rules
are app/payments.py."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import action, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from .. import access, certificates, formatting, models, orders, payments
from ..errors import ValidationFailed
from ..extensions import db
from ..forms import CancelCertificateForm, GiveCertificateForm, ReverseForm, TransferForm
from ..models import Customer
from .base import KartotekaModelView


def pay_link(order_id) -> Markup | str:
    """«Принять оплату» in an order's row, for an order owing money and a user who may take it."""
    return _pay_links()(order_id)


def owing(pk, total, paid, status, refunded=None) -> int | None:
    """Order.pay of plain values: the order's number where something is owed."""
    return pk if models.debt(total, paid, status, refunded) > 0 else None


def _pay_links():
    """pay_link for the rows of one page: the right, the address and the text looked up once."""
    if not access.may("can_write", access.PAYMENTS) or g.get("kartoteka_erased"):
        return _no_link  # (an erased customer's card takes no payment: there is nobody to pay)
    head = escape(url_for("PaymentView.add", tab="orders", _flt_0_order=0)[:-1])  # back to «Заказы»
    tail = f'"><i class="fa fa-rub" aria-hidden="true"></i> {escape(_("Принять оплату"))}</a>'

    def link(order_id) -> Markup | str:
        if not order_id:  # a paid order (its value read as blank by the tab)
            return ""
        return Markup(f'<a class="btn btn-xs btn-success kartoteka-pay" href="{head}{escape(order_id)}{tail}')

    return link


def _no_link(order_id) -> str:
    return ""


pay_link.bind = _pay_links


class PaymentScreen(KartotekaModelView):
    """Payments are added and read, never edited or deleted; «Сторнировать» asks for a
    reason and writes the reversing payment (the manager's right, access.REFUND)."""

    exclude_route_methods = {"edit", "delete"}

    def prepare(self, item, is_new):
        payments.prepare_payment(self.datamodel.session, item, is_new)

    def _bound_order(self):
        """The order «Принять оплату» was opened for (``?_flt_0_order=N``), if any,
        read once a request."""
        if "kartoteka_pay_order" not in g:
            g.kartoteka_pay_order = self.bound_records().get("order")
        return g.kartoteka_pay_order

    def add_page_title(self) -> str:
        """«Принять оплату» says for what and how much is owed: the receptionist saw a
        bare form and went back to the card to read the debt."""
        order = self._bound_order()
        if order is None:
            return self.add_title
        return _(
            "Принять оплату: заказ №%(id)s, %(name)s. Долг: %(debt)s",
            id=order.id,
            name=order.customer.full_name,
            debt=formatting.money(order.debt),
        )

    def added_message(self, item) -> str:
        """The payment as taken and what is still owed («Запись добавлена» said neither)."""
        order = item.order
        if order is None:
            return self.add_row_message
        return _(
            "Оплата %(amount)s по заказу №%(id)s принята. Долг: %(debt)s",
            amount=formatting.money(item.amount),
            id=order.id,
            debt=formatting.money(order.debt),
        )

    def prefill_add_form(self, form) -> None:
        """The amount starts as the order's debt: most visits are paid in full; a part
        is typed over it."""
        order = self._bound_order()
        if order is not None and "amount" in form and order.debt > 0:
            form.amount.data = order.debt

    @action("reverse", _l("Сторнировать"), "", "fa-undo", multiple=False, single=True)
    def reverse(self, item):
        item = item[0] if isinstance(item, list) else item
        return redirect(url_for(".reverse_payment", pk=item.id))

    @expose("/reverse/<int:pk>", methods=["GET", "POST"])
    @has_access
    def reverse_payment(self, pk):
        payment = self.datamodel.get(pk, self._base_filters)
        if payment is None:
            abort(404)
        form = ReverseForm()
        status = 200
        if request.method == "POST":
            if form.validate():
                try:
                    reversal = payments.reverse_payment(db.session, payment, form.reason.data)
                    db.session.commit()
                except ValidationFailed as e:
                    db.session.rollback()
                    payment = self.datamodel.get(pk, self._base_filters)
                    for text in e.errors.values():
                        form.reason.errors = [*form.reason.errors, text]
                else:
                    flash(orders.reversal_message(reversal), "success")
                    return redirect(url_for(".show", pk=reversal.id))
            status = 422
        return (
            self.render_template(
                "kartoteka/reverse_payment.html",
                payment=payment,
                form=form,
                title=_("Сторнировать платёж №%(id)s", id=payment.id),
            ),
            status,
        )


class AccountScreen(KartotekaModelView):
    """A customer's deposit and bonus operations: written, never edited or deleted."""

    exclude_route_methods = {"edit", "delete"}

    def prepare(self, item, is_new):
        payments.prepare_operation(self.datamodel.session, item, is_new, may_adjust=access.may_adjust())

    def restrict_form(self, form, new=False, item=None):
        """The accounts and operations the user may type: the front desk was offered
        «Списание» and the bonus account's «Начисление», each refused at «Сохранить»."""
        super().restrict_form(form, new, item)
        offered = payments.manual_operations(may_adjust=access.may_adjust())
        kinds = {k.value for account_kinds in offered.values() for k in account_kinds}
        for name, values in (("account", {a.value for a in offered}), ("kind", kinds)):
            field = form._fields.get(name)
            if hasattr(field, "offer"):
                field.offer(values)

    def added_message(self, item) -> str:
        """What the operation did and the balance it left («Запись добавлена» said neither:
        the front desk took 5 000 ₽ and could not tell the customer what was on the deposit)."""
        customer = item.customer
        balance = formatting.money(getattr(customer, payments.BALANCE_COLUMNS[item.account].key))
        if item.account == models.Account.DEPOSIT and item.kind == models.OperationKind.TOP_UP:
            return _(
                "Депозит клиента %(name)s пополнен на %(amount)s. Баланс депозита: %(balance)s.",
                name=customer.full_name,
                amount=formatting.money(item.amount),
                balance=balance,
            )
        return _(
            "«%(kind)s» на %(amount)s записано на счёт «%(account)s» клиента %(name)s. Остаток: %(balance)s.",
            kind=item.kind.label,
            amount=formatting.money(abs(item.amount)),
            account=item.account.label,
            name=customer.full_name,
            balance=balance,
        )

    @expose("/transfer/<int:pk>", methods=["GET", "POST"])
    @has_access
    def transfer(self, pk):
        """«Перевести с депозита»: from customer ``pk``'s deposit to another customer's
        (a relative's), chosen by typing; both operations are written, linked."""
        source = _customer_in_scope(pk)
        form = TransferForm()
        form.target.exclude = source.id  # not offered their own deposit
        status = 200
        if request.method == "POST":
            if form.validate():
                try:
                    out, _into = payments.transfer_deposit(
                        db.session, source, form.target.data, form.amount.data, form.comment.data
                    )
                    db.session.commit()
                except ValidationFailed as e:
                    db.session.rollback()
                    source = _customer_in_scope(pk)
                    for name, text in e.errors.items():
                        field = form[name] if name in form else form.amount
                        field.errors = [*field.errors, text]
                else:
                    flash(
                        _(
                            "Переведено %(amount)s на депозит клиента %(name)s.",
                            amount=formatting.money(-out.amount),
                            name=form.target.data.full_name,
                        ),
                        "success",
                    )
                    return redirect(url_for("CustomerView.show", pk=source.id) + "#accounts")
            status = 422
        return (
            self.render_template(
                "kartoteka/transfer.html",
                customer=source,
                form=form,
                title=_("Перевод с депозита клиента %(name)s", name=source.full_name),
            ),
            status,
        )


def _customer_in_scope(pk) -> Customer:
    """The customer ``pk`` if the user may see them (their row scope), else 404."""
    from sqlalchemy import select

    statement = select(Customer).where(Customer.id == pk)
    condition = access.row_scope(Customer)
    if condition is not None:
        statement = statement.where(condition)
    customer = db.session.scalars(statement).first()
    if customer is None:
        abort(404)
    return customer


class CertificateScreen(KartotekaModelView):
    """Certificates and subscriptions: sold (the add form) and read, never edited or
    deleted; selling needs the right to sell (access.SELL); app/certificates.py and
    app/payments.py (a sale from the deposit) decide."""

    exclude_route_methods = {"edit", "delete"}

    def prepare(self, item, is_new):
        payments.prepare_sale(self.datamodel.session, item, is_new, may_sell=access.may_sell())

    @action("cancel_sold", _l("Аннулировать"), "", "fa-ban", multiple=False, single=True)
    def cancel_sold(self, item):
        item = item[0] if isinstance(item, list) else item
        return redirect(url_for(".cancel_certificate", pk=item.id))

    @expose("/cancel/<int:pk>", methods=["GET", "POST"])
    @has_access
    def cancel_certificate(self, pk):
        """«Аннулировать» (the manager's right, access.CANCEL): asks for the reason; what
        was left is refunded to the customer's deposit (app/payments.py)."""
        certificate = self.datamodel.get(pk, self._base_filters)
        if certificate is None:
            abort(404)
        form = CancelCertificateForm()
        status = 200
        if request.method == "POST":
            if form.validate():
                try:
                    refund = payments.cancel_certificate(
                        db.session, certificate, form.reason.data, may_cancel=access.may_cancel()
                    )
                    db.session.commit()
                except ValidationFailed as e:
                    db.session.rollback()
                    certificate = self.datamodel.get(pk, self._base_filters)
                    for text in e.errors.values():
                        form.reason.errors = [*form.reason.errors, text]
                else:
                    to = certificates.refunded_to(db.session, certificate)
                    flash(
                        _(
                            "%(certificate)s аннулирован, на депозит клиента %(name)s возвращено %(amount)s.",
                            certificate=certificates.name(certificate),
                            name=to.full_name,
                            amount=formatting.money(refund.amount if refund is not None else 0),
                        ),
                        "success",
                    )
                    return redirect(url_for(".show", pk=certificate.id))
            status = 422
        return (
            self.render_template(
                "kartoteka/cancel_certificate.html",
                certificate=certificate,
                refunded_to=certificates.refunded_to(db.session, certificate),
                form=form,
                title=(
                    _("Аннулировать абонемент №%(code)s", code=certificate.code)
                    if certificate.type == models.CertificateType.VISITS
                    else _("Аннулировать сертификат №%(code)s", code=certificate.code)
                ),
            ),
            status,
        )

    @action("give_sold", _l("Передать другому клиенту"), "", "fa-share", multiple=False, single=True)
    def give_sold(self, item):
        item = item[0] if isinstance(item, list) else item
        return redirect(url_for(".give_certificate", pk=item.id))

    @expose("/give/<int:pk>", methods=["GET", "POST"])
    @has_access
    def give_certificate(self, pk):
        """«Передать другому клиенту» (the right to sell, access.SELL): the certificate
        bought as a present goes to the customer chosen; app/certificates.py ``give``."""
        certificate = self.datamodel.get(pk, self._base_filters)
        if certificate is None:
            abort(404)
        form = GiveCertificateForm()
        form.recipient.exclude = certificate.customer_id  # not offered its own holder
        status = 200
        if request.method == "POST":
            if form.validate():
                try:
                    certificates.give(
                        db.session,
                        certificate,
                        form.recipient.data,
                        form.comment.data,
                        may_sell=access.may_sell(),
                    )
                    db.session.commit()
                except ValidationFailed as e:
                    db.session.rollback()
                    certificate = self.datamodel.get(pk, self._base_filters)
                    for name, text in e.errors.items():
                        field = form[name] if name in form else form.recipient
                        field.errors = [*field.errors, text]
                else:
                    flash(certificates.passed_message(certificate), "success")
                    return redirect(url_for(".show", pk=certificate.id))
            status = 422
        return (
            self.render_template(
                "kartoteka/give_certificate.html",
                certificate=certificate,
                form=form,
                title=_(
                    "Передать другому клиенту: %(certificate)s", certificate=certificates.name(certificate)
                ),
            ),
            status,
        )

    def added_message(self, item) -> str:
        """The number the customer is to be told, at once («Запись добавлена» said none)."""
        return _(
            "Продан «%(kind)s» №%(code)s, действует до %(date)s.",
            kind=item.kind.name,
            code=item.code,
            date=formatting.date_short(formatting.local_from_utc(item.valid_until).date()),
        )
