"""«Загрузить из файла»: a list's records from a spreadsheet, through the list's own
«new record» form.

Each row is typed into the view's add form (the fields the user's role may write, the
same extra fields), validated by it and saved by the same pipeline as «Сохранить»
(``populate``, the domain's ``prepare``, ``check_unique``), a refused row leaving
nothing behind, so a row says exactly what the form would have said, with its line in
the file. The file is checked first and nothing is written; only a file whose every row passes is loaded, in
one transaction, after the user confirms. The file waits on the server for that
confirmation (in the instance folder, named for its user, for an hour), so it is not
chosen twice. A view gets it by inheriting :class:`ImportMixin`; the permission is
``can_import`` (app/access.py).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from flask import current_app, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import expose, has_access
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField

from .. import imports, spreadsheet
from ..database import refresh_statistics
from ..errors import ValidationFailed
from .security import csrf_token

KEEP_SECONDS = 3600
YES = {"да", "yes", "y", "true", "1", "+", "x", "✓"}
NO = {"нет", "no", "n", "false", "0", "-", ""}


@dataclass
class RowResult:
    line: int
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field's label, message)


@dataclass
class Checked:
    rows: int
    refused: list[RowResult]
    unknown: list[str]
    columns: list[str]


def _choice_value(form_field, text: str):
    """A select's value for the label typed in the file («Женский» → its key), or the
    text itself when it is a key already; None when it is neither."""
    wanted = imports.normalise(text)
    for value, label, *_rest in form_field.iter_choices():
        if wanted in (imports.normalise(label), imports.normalise(value)):
            return value
    return None


class ImportMixin:
    import_template = "kartoteka/import.html"

    def import_form_class(self):
        return self.with_extra_fields(self.add_form, None)

    def import_form(self, formdata=None, like=None):
        """The add form, as the role may fill it. ``like``: a form of the same file whose
        class and selects' options the row's form takes, so that a row does not read the
        extra fields and every select's options again (~4 statements a row)."""
        form_class = type(like) if like is not None else self.import_form_class()
        form = form_class(formdata=formdata, meta={"csrf": False})
        self.restrict_form(form, new=True)  # a field the role may not write is not offered
        for name, form_field in form._fields.items() if like is not None else ():
            if hasattr(form_field, "_object_list") and name in like._fields:
                form_field._object_list = like[name]._get_object_list()
        return form

    def import_fields(self, form) -> list:
        """The form's fields in the order its page shows them (its fieldsets)."""
        named = [n for _title, spec in (self.add_fieldsets or []) for n in spec.get("fields", [])]
        order = [n for n in named if n in form._fields] + [n for n in form._fields if n not in named]
        return [form._fields[n] for n in order]

    def import_labels(self, form) -> dict[str, list[str]]:
        """Each field's label in every language the app speaks: a file with the Russian
        header or the English one is read alike."""
        labels: dict[str, list[str]] = {name: [] for name in form._fields}
        for language in current_app.config.get("LANGUAGES", {}) or ("ru", "en"):
            with force_locale(language):
                for name, form_field in form._fields.items():
                    labels[name].append(str(form_field.label.text))
                    labels[name].append(str(self.label_columns.get(name, name)))
        return labels

    def formdata(self, form, values: dict[str, str]) -> tuple[MultiDict, list[tuple[str, str]]]:
        data, errors = MultiDict(), []
        for name, text in values.items():
            form_field = form._fields.get(name)
            if form_field is None or not text:
                continue  # a blank cell is a field left empty
            if isinstance(form_field, BooleanField):
                if imports.normalise(text) in YES:
                    data.add(name, "y")
                elif imports.normalise(text) not in NO:
                    errors.append((str(form_field.label.text), _("ожидается «Да» или «Нет»")))
                continue
            if hasattr(form_field, "iter_choices"):
                parts = [text]
                if "Multiple" in type(form_field).__name__:  # tags: «VIP, Постоянный»
                    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
                for part in parts:
                    value = _choice_value(form_field, part)
                    if value is None:
                        errors.append(
                            (
                                str(form_field.label.text),
                                _("«%(value)s» нет среди вариантов этого поля", value=part.strip()),
                            )
                        )
                    else:
                        data.add(name, str(value))
                continue
            data.add(name, text)
        # what the file leaves blank is what the form opens with (a new customer's type
        # and status; an unticked box its default): posted data would have left them empty
        for name, form_field in form._fields.items():
            if name in data:
                continue
            if isinstance(form_field, BooleanField):
                if form_field.data:
                    data.add(name, "y")
            elif hasattr(form_field, "iter_choices"):
                for value, _label, selected, *_rest in form_field.iter_choices():
                    if selected and value not in (None, "", "__None"):
                        data.add(name, str(value))
            elif form_field._value():
                data.add(name, form_field._value())
        return data, errors

    def import_rows(self, header, body, apply: bool) -> Checked:
        session = self.datamodel.session
        blank = self.import_form()
        labels = self.import_labels(blank)
        columns, unknown = imports.match_columns(header, labels)
        refused: list[RowResult] = []
        try:
            for line, cells in body:
                result = RowResult(line)
                form_data, result.errors = self.formdata(blank, imports.row_values(columns, cells))
                form = self.import_form(form_data, like=blank)
                if not form.validate():
                    for name, messages in form.errors.items():
                        label = str(form[name].label.text) if name in form._fields else ""
                        result.errors += [(label, str(m)) for m in messages]
                if result.errors:
                    # the rules of the fields that were read are still checked, so the file
                    # is corrected in one round (a bad date did not hide a missing name)
                    for name in {*form.errors, *(n for n in form._fields if n in dict(result.errors))}:
                        if name in form._fields:
                            del form[name]
                    self._save_row(session, form, result, keep=False)
                    carry_on = True
                else:
                    carry_on = self._save_row(session, form, result)
                if result.errors:
                    refused.append(result)
                if not carry_on:
                    break
        except Exception:
            session.rollback()
            raise
        if apply and not refused:
            session.commit()
            refresh_statistics(session, (self.datamodel.obj.__tablename__,))
        else:
            session.rollback()
        return Checked(len(body), refused, unknown, [labels[name][0] for name in columns.values()])

    def prepare_imported(self, item) -> None:
        """The domain's rules for a new record from a file (a screen may differ from its
        form's: an imported customer is not welcomed as a new one)."""
        self.prepare(item, True)

    def _save_row(self, session, form, result: RowResult, keep: bool = True) -> bool:
        """The row's record, written in the import's transaction (no savepoint: the
        embedded SQLite's driver commits at a released one). A refused row leaves
        nothing in the session; a conflict the database finds ends the check."""
        self.process_form(form, True)
        item = self.datamodel.obj()
        before = set(session.new)
        try:
            with session.no_autoflush:
                self.populate(form, item)
                self.prepare_imported(item)
                self.check_unique(item)
                self.save_extra_fields(form, item)
            if not keep:  # a row already refused: its other fields' rules only
                for pending in set(session.new) - before:
                    session.expunge(pending)
                return True
            session.add(item)
            session.flush()
        except ValidationFailed as e:
            for pending in set(session.new) - before:
                session.expunge(pending)
            for name, message in e.errors.items():
                label = str(form[name].label.text) if name and name in form._fields else ""
                result.errors.append((label, message))
        except IntegrityError:
            session.rollback()
            result.errors.append(
                ("", _("Запись противоречит уже сохранённым; проверка остановлена на этой строке."))
            )
            return False
        return True

    # -- the waiting file ------------------------------------------------------------

    def _import_dir(self) -> Path:
        folder = Path(current_app.config["INSTANCE_DIR"]) / "imports"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in folder.iterdir():  # an hour, then the file is asked for again
            if old.stat().st_mtime < time.time() - KEEP_SECONDS:
                old.unlink(missing_ok=True)
        return folder

    def _keep(self, filename: str, data: bytes) -> str:
        token = f"{g.user.id}-{secrets.token_hex(16)}{Path(filename).suffix.lower()}"
        (self._import_dir() / token).write_bytes(data)
        return token

    def _kept(self, token: str) -> Path | None:
        name = Path(token or "").name
        if not name.startswith(f"{g.user.id}-") or name != token:
            return None
        path = self._import_dir() / name
        return path if path.is_file() else None

    # -- the page ------------------------------------------------------------------

    @expose("/import/", methods=["GET", "POST"])
    @has_access
    def import_file(self):
        checked, token, status = None, None, 200
        if request.method == "POST":
            kept = self._kept(request.form.get("token", "")) if request.form.get("token") else None
            upload = request.files.get("file")
            if request.form.get("token") and kept is None:
                flash(
                    _("Файл больше не ждёт загрузки (прошёл час или он уже загружен): выберите его снова."),
                    "danger",
                )
                return redirect(url_for(".import_file"))
            try:
                if kept is not None:
                    header, body = imports.read_table(kept.name, kept.read_bytes())
                else:
                    if upload is None or not upload.filename:
                        raise ValidationFailed({"file": _("Выберите файл.")})
                    data = upload.read()
                    header, body = imports.read_table(upload.filename, data)
                checked = self.import_rows(header, body, apply=kept is not None)
            except ValidationFailed as e:
                for message in e.errors.values():
                    flash(message, "danger")
                status = 422
            else:
                if kept is not None and not checked.refused:
                    kept.unlink(missing_ok=True)
                    flash(
                        ngettext("Загружена %(num)d запись.", "Загружено %(num)d записей.", checked.rows),
                        "success",
                    )
                    return redirect(url_for(".list"))
                if checked.refused:
                    status = 422
                elif kept is None:
                    token = self._keep(upload.filename, data)
        form = self.import_form()
        return self.render_template(
            self.import_template,
            title=_("Загрузка из файла: %(list)s", list=self.list_title),
            checked=checked,
            token=token,
            fields=[f"«{f.label.text}»" for f in self.import_fields(form)],
            list_url=url_for(".list"),
            sample_url=url_for(".import_sample"),
            csrf=csrf_token(),
        ), status

    @expose("/import/sample.xlsx")
    @has_access
    def import_sample(self):
        """An empty workbook whose header is the form's fields this role may fill."""
        book = spreadsheet.Workbook(str(self.list_title))
        book.row([book.cell(str(f.label.text)) for f in self.import_fields(self.import_form())])
        return send_file(
            BytesIO(book.data()),
            mimetype=spreadsheet.Workbook.mimetype,
            as_attachment=True,
            download_name=_("образец.xlsx"),
        )
