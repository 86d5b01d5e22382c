"""The «Файлы» tab's machinery: upload from the card, download through the policy,
delete with the content. The rules (what is accepted, who may download) live in
app/files.py; app/views.py declares the screen."""

from __future__ import annotations

from flask import abort, flash, g, redirect, send_file, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy import inspect as sa_inspect

from .. import access, disclosure, files
from ..errors import Forbidden, ValidationFailed
from ..extensions import db
from ..models import AccessAction, CustomerFile
from .base import KartotekaModelView


def download_link(value) -> Markup:
    """The list's «Скачать» cell: a link for a role that may download a file of its
    category, else a dash. A list reads the cell as (id, category) (``file_cell``); a
    list of objects gives the id, whose row the session already holds."""
    if isinstance(value, tuple):
        pk, category = value
    else:
        pk = value
        item = db.session.get(CustomerFile, pk) if pk is not None else None
        category = item.category if item is not None else None
    if pk is None or not files.may_download(g.get("user")) or not access.file_category_readable(category):
        return Markup("—")
    url, label = url_for("CustomerFileView.fetch", pk=pk), escape(_("Скачать"))
    return Markup(f'<a href="{escape(url)}" download><i class="fa fa-download"></i> {label}</a>')


def file_cell(pk, category) -> tuple:
    """What the «Скачать» cell is made of: the file and what it is (whether the role
    may open it). Read with the row: asking for every unreadable file's id once a
    request read the whole table on every card."""
    return pk, category


def export_link(request_id) -> Markup:
    """A subject export's «Скачать ZIP» cell, for those who run subject requests."""
    if not request_id or not access.may("can_write", access.SUBJECTS):
        return Markup("—")
    url, label = url_for("CustomerView.fetch_export", rid=request_id), escape(_("Скачать ZIP"))
    return Markup(f'<a href="{escape(url)}"><i class="fa fa-download"></i> {label}</a>')


def category_action(category):
    """A bulk action of the files list: the ticked files are ``category`` («Отметить
    как «Медицинский документ»»: migration 0031 made every stored file an identity
    document, sorted one form at a time)."""

    def handler(self, items):
        return self.recategorize(items, category)

    handler.__name__ = f"category_{category.value}"
    label = _l("Отметить как «%(kind)s»", kind=category.label)
    confirmation = _l("Отметить выбранные файлы как «%(kind)s»?", kind=category.label)
    return action(handler.__name__, label, confirmation, "fa-tag", multiple=True, single=False)(handler)


class FileViewBase(KartotekaModelView):
    """A customer's files: listed as any tab, added by upload only (no generic form)."""

    exclude_route_methods = {"add", "download"}  # edited: what the file is, nothing else

    def check_form_opens(self, item) -> None:
        super().check_form_opens(item)
        files.check_recategorize(item.category)

    def prepare(self, item, is_new: bool) -> None:
        """A file's kind is changed only by a role that may open it as it was: the front
        desk, who sees a passport masked, cannot make its scan «Прочее» for everyone."""
        before = sa_inspect(item).attrs.category.history.deleted
        files.check_recategorize(before[0] if before else item.category)

    def recategorize(self, items, category):
        """The files ticked, read again through the user's rows, become ``category``
        where the rule allows; the others are named with why (app/files.py)."""
        picked = [item.id for item in (items if isinstance(items, list) else [items]) if item is not None]
        rows = [
            row for row in (self.datamodel.get(pk, self._base_filters) for pk in picked) if row is not None
        ]
        changed, refused = files.recategorize(rows, category)
        db.session.commit()
        for reason, kept in refused.items():
            # a file's name is free text: named as the list shows it (a number in it masked)
            shown = (disclosure.row(CustomerFile, {"name": item.name}, item=item)["name"] for item in kept)
            names = ", ".join(f"«{name}»" for name in shown)
            text = ngettext(
                "Не изменён: %(names)s. %(reason)s",
                "Не изменены: %(names)s. %(reason)s",
                len(kept),
                names=names,
                reason=reason,
            )
            flash(text, "warning")
        if changed or not refused:
            count = len(changed)
            flash(ngettext("Вид изменён у %(num)d файла.", "Вид изменён у %(num)d файлов.", count), "success")
        from .security import referrer_or

        return redirect(referrer_or(url_for(".list")))

    @expose("/fetch/<int:pk>", methods=["GET"])
    @has_access
    def fetch(self, pk):
        """The file, as an attachment of its stored type; the download is journaled."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        try:
            path = files.open_for_download(item, g.get("user"))
        except Forbidden:
            abort(403)
        except ValidationFailed:
            abort(404)
        access.journal(item.customer_id, AccessAction.DOWNLOAD, detail=f"{item.id}: {item.kind}")
        response = send_file(
            path,
            mimetype=item.content_type,
            as_attachment=True,
            download_name=item.name,
            max_age=0,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def post_delete(self, item):
        if sa_inspect(item).was_deleted:
            files.discard(item)
        g.kartoteka_file_card = item.customer_id

    def post_delete_redirect(self):
        """Back to the card's «Файлы» tab the file was deleted from."""
        customer_id = g.pop("kartoteka_file_card", None)
        if customer_id is None:
            return super().post_delete_redirect()
        return redirect(f"{url_for('CustomerView.show', pk=customer_id)}#files")


def retention_list_link(_pk) -> Markup:
    """A retention notice's «Открыть список» cell: the customers list filtered to those
    past the period, where a manager confirms their erasure (or a dash for a reader)."""
    if not access.may("can_erase", access.CUSTOMERS):
        return Markup("—")
    url = url_for("CustomerView.list") + "?_flt_0_last_visit_at=1"
    label = escape(_("Открыть список"))
    return Markup(f'<a href="{escape(url)}"><i class="fa fa-list"></i> {label}</a>')
