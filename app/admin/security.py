"""Kartoteka's security manager.

FAB asks the database once per permission check (one EXISTS per menu item and
row button). We load the user's whole permission set once per request and
answer every check from it; a permission changed in the UI takes effect on the
user's next request.
"""

from __future__ import annotations

from functools import cached_property
from urllib.parse import urlsplit

from flask import abort, flash, g, has_request_context, redirect, request, url_for
from flask.globals import _cv_app, _cv_request
from flask_appbuilder import action, expose, has_access
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
from flask_appbuilder.models.sqla.filters import FilterNotEqual
from flask_appbuilder.security.forms import ResetPasswordForm, UserInfoEdit
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import Permission, ViewMenu
from flask_appbuilder.security.views import (
    ResetMyPasswordView,
    ResetPasswordView,
    RoleModelView,
    UserDBModelView,
    UserGroupModelView,
    UserInfoEditView,
    UserStatsChartView,
)
from flask_appbuilder.validators import PasswordComplexityValidator
from flask_appbuilder.widgets import ListWidget, RenderTemplateWidget, ShowWidget
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .. import access
from ..formatting import datetime_short
from .actions import GuardedActions
from .fields import PlainText, start_filters_empty
from .permissions import permissions_of, role_permissions, unpack
from .sessions import session_user

MIN_PASSWORD_LENGTH = 12


def _detached(user) -> bool:
    """FAB's _is_user_detached: a user object no longer in a session (not an ORM object: no)."""
    try:
        return sa_inspect(user).detached
    except Exception:  # noqa: BLE001 - as FAB: whatever cannot be inspected is not detached
        return False


def signed_in(user):
    """``user`` itself where it is Flask-Login's current_user proxy (FAB's ``g.user``):
    every attribute read through the proxy is ~12 Python calls."""
    if user is current_user:
        found = _cv_app.get().g.__dict__.get("_login_user")
        return found if found is not None else current_user._get_current_object()
    return user


def permissions_summary(permission_views) -> Markup:
    """A role's permissions in words, grouped: «Клиенты: просмотр, выгрузка»."""
    items = (
        Markup("<li><strong>{}:</strong> {}</li>").format(group, ", ".join(labels))
        for group, labels in access.describe_permissions(permission_views).items()
    )
    return Markup('<ul class="list-unstyled kartoteka-permissions">{}</ul>').format(Markup("").join(items))


def permission_option(permission_view) -> str:
    _order, group, item = access.permission_label(
        permission_view.permission.name, permission_view.view_menu.name
    )
    return f"{group}: {item}"


# A name of spaces only («   ») or with a control character was saved on the users,
# roles and groups screens: FAB's forms are not Kartoteka's generated ones
# (app/admin/base.py).
STAFF_TEXT = [DataRequired(message=lazy_gettext("Заполните это поле.")), PlainText()]


def stripped(value):
    """A typed name without the spaces around it: «Стажёр  » was saved beside «Стажёр»."""
    return value.strip() if isinstance(value, str) else value


class _ListsCopied(dict):
    """Validators per column, each list handed out as a copy (FreshValidatorLists)."""

    def get(self, key, default=None):
        found = super().get(key, default)
        return list(found) if isinstance(found, list) else found


class FreshValidatorLists:
    """FAB's form converter appends its own validators (Length, InputRequired, Unique) to
    the view's ``validators_columns`` lists themselves, once for the add form and again
    for the edit form, which share them: a login another user held was refused with
    «Уже существует. Уже существует.». Each form gets lists of its own."""

    def _init_forms(self):
        self.validators_columns = _ListsCopied(self.validators_columns or {})
        super()._init_forms()


class StrippedNames:
    """The names typed on FAB's users, roles and groups screens (``stripped_columns``)
    are saved without the spaces around them."""

    stripped_columns: tuple[str, ...] = ()

    def _init_forms(self):
        super()._init_forms()
        for form_class in (self.add_form, self.edit_form):
            for name in self.stripped_columns:
                unbound = getattr(form_class, name, None)
                if unbound is not None:
                    unbound.kwargs["filters"] = [*unbound.kwargs.get("filters", ()), stripped]


class RoleTitles:
    """The roles box of the users and groups screens names the matrix's roles in the
    reader's language (access.role_title): the English form offered «Управляющий»."""

    def _init_forms(self):
        super()._init_forms()
        for form_class in (self.add_form, self.edit_form, self.search_form):
            unbound = getattr(form_class, "roles", None)
            if unbound is not None:
                unbound.kwargs["get_label"] = access.role_title


class NameFree:
    """A role's name that no other role has in any capitals or with spaces around it:
    «Стажёр» beside «стажёр  » are one role to whoever assigns them (compared in
    Python, ``str.casefold``, as holder_in_other_capitals does)."""

    def __call__(self, form, field):
        from flask import current_app
        from wtforms.validators import ValidationError

        sm = current_app.appbuilder.sm
        folded = (field.data or "").strip().casefold()
        own_id = getattr(form, "_id", "")
        with sm.session.no_autoflush:
            for role_id, name in sm.session.query(sm.role_model.id, sm.role_model.name):
                if name and name.strip().casefold() == folded and str(role_id) != str(own_id):
                    raise ValidationError(
                        gettext("Роль «%(name)s» уже есть: выберите другое название.", name=name)
                    )


def refused_with_422(answer):
    """A form posted and shown again (refused) answers 422, as Kartoteka's own forms do
    (app/admin/base.py): FAB's answered 200, and a script or a monitor took it for a save."""
    if request.method == "POST" and isinstance(answer, str):
        return answer, 422
    return answer


class OwnReturn:
    """FAB's own screens (users, roles, groups) land a save on the previous page of the
    session's history, whatever it was: a form opened by its address after the
    customers list saved back to that list. They land on the previous page only if it
    is one of theirs (the list as filtered, the record's page), else on their list."""

    def get_redirect(self):
        back = super().get_redirect()
        path = urlsplit(back).path[len(request.script_root) :]
        if path.startswith(self.route_base + "/") and not any(
            part in path for part in ("/add", "/edit/", "/delete/", "/action")
        ):
            return back
        return url_for(f"{type(self).__name__}.list")

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        return refused_with_422(super().add())

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        return refused_with_422(super().edit(pk))


class KartotekaRoleModelView(FreshValidatorLists, StrippedNames, OwnReturn, GuardedActions, RoleModelView):
    """FAB's roles screen, in words: it listed a role's permissions as FAB stores
    them («can mask on Field:customer.phone», «menu access on Journal»), one
    Python list per role. Its groups filter had no translated label."""

    label_columns = {
        **RoleModelView.label_columns,
        "groups": lazy_gettext("Groups"),
        "user": lazy_gettext("Users"),
    }
    formatters_columns = {"permissions": permissions_summary, "name": access.role_title}
    validators_columns = {"name": [*STAFF_TEXT, NameFree()]}
    stripped_columns = ("name",)
    # FAB's role widgets print the permissions themselves, past any formatter
    # (they show FAB_ROLES' built-in roles, which Kartoteka does not use).
    list_widget = ListWidget
    show_widget = ShowWidget

    def _init_forms(self):
        super()._init_forms()
        for form_class in (self.add_form, self.edit_form, self.search_form):
            unbound = getattr(form_class, "permissions", None)
            if unbound is None:
                continue
            query_func = unbound.kwargs["query_func"]
            unbound.kwargs["get_label"] = permission_option
            unbound.kwargs["query_func"] = lambda query_func=query_func: sorted(
                query_func(), key=lambda pv: access.permission_label(pv.permission.name, pv.view_menu.name)
            )
            if form_class is not self.search_form:
                unbound.kwargs["widget"] = GroupedPermissionsWidget()


class GroupedPermissionsWidget:
    """A role's permissions as boxes to tick, grouped as the matrix is («Клиенты»,
    «Поле «Телефон»», «Пользователи и роли»…): the form was one select of a hundred
    and more options in FAB's names."""

    def __call__(self, field, **kwargs):
        chosen = {pv.id for pv in field.data or ()}
        groups: dict[str, list] = {}
        for _pk, pv in field._get_object_list():
            _order, group, item = access.permission_label(pv.permission.name, pv.view_menu.name)
            groups.setdefault(group, []).append((pv.id, item))
        parts = [f'<div class="kartoteka-permission-groups" id="{escape(field.id)}">']
        for group, items in groups.items():
            parts.append(f'<fieldset class="kartoteka-permission-group"><legend>{escape(group)}</legend>')
            for pk, item in items:
                checked = " checked" if pk in chosen else ""
                parts.append(
                    f'<label class="checkbox-inline"><input type="checkbox" name="{escape(field.name)}" '
                    f'value="{pk}"{checked}> {escape(item)}</label>'
                )
            parts.append("</fieldset>")
        parts.append("</div>")
        return Markup("".join(parts))


def yes_no(value) -> str:
    return gettext("Да") if value else gettext("Нет")


def names(items) -> str:
    """Roles or groups as their names, not as a Python list («[Аудитор]», «[]»)."""
    return ", ".join(str(item) for item in items or ()) or "—"


def role_names(roles) -> str:
    """A user's or a group's roles, each in the reader's language."""
    return ", ".join(access.role_title(role) for role in roles or ()) or "—"


def session_label(row) -> str:
    from .sessions import TOKEN, browser_label

    return gettext("Токен API") if row.kind == TOKEN else browser_label(row.user_agent)


def holder_in_other_capitals(sm, column: str, typed: str | None, own_id=None, exactly_too=False):
    """The other user whose login or e-mail (``column``) is ``typed`` in other capitals
    (the same value exactly is FAB's own «Уже существует.», unless ``exactly_too``), or None.

    Compared in Python (``str.casefold``), not with SQL ``lower()``: SQLite's folds
    ASCII only and PostgreSQL's follows the server's locale (none under «C»), so
    «Ольга@клиника.рф» beside «ольга@клиника.рф» was saved. A clinic has tens of staff."""
    typed = (typed or "").strip()
    if not typed:
        return None
    attribute = getattr(sm.user_model, column)
    folded = typed.casefold()
    with sm.session.no_autoflush:
        for user_id, value in sm.session.query(sm.user_model.id, attribute):
            if (
                value
                and (exactly_too or value != typed)
                and value.strip().casefold() == folded
                and str(user_id) != str(own_id)
            ):
                return sm.session.get(sm.user_model, user_id)
    return None


class FreeInAnyCapitals:
    """A login or an e-mail no other user holds in any capitals (``message`` names the
    value typed and the user who holds it), and no other user's e-mail or login
    (``across``, ``message_across``): the sign-in takes either, so user A's login
    «b@clinic.ru» beside user B's e-mail «b@clinic.ru» signed A in where B typed
    their address."""

    column = ""
    across = ""

    def message(self, typed: str, other) -> str:
        raise NotImplementedError

    def message_across(self, typed: str, other) -> str:
        raise NotImplementedError

    def refusal(self, sm, typed: str, own_id=None) -> str | None:
        """Why ``typed`` is refused (in the reader's language), or None."""
        other = holder_in_other_capitals(sm, self.column, typed, own_id)
        if other is not None:
            return self.message(typed, other)
        other = holder_in_other_capitals(sm, self.across, typed, own_id, exactly_too=True)
        if other is not None:
            return self.message_across(typed, other)
        return None

    def __call__(self, form, field):
        from flask import current_app
        from wtforms.validators import ValidationError

        refusal = self.refusal(
            current_app.appbuilder.sm, (field.data or "").strip(), getattr(form, "_id", "")
        )
        if refusal is not None:
            raise ValidationError(refusal)


class LoginFree(FreeInAnyCapitals):
    """A login no other user holds in any capitals: the sign-in matches logins without
    regard to them (AUTH_USERNAME_CI), and a second «Olga» beside «olga» was saved and
    locked both out («Неверное имя пользователя или пароль»)."""

    column = "username"
    across = "email"

    def message(self, typed, other):
        return gettext(
            "Логин «%(login)s» уже занят: %(name)s. Заглавные и строчные буквы в логинах не различаются.",
            login=typed,
            name=str(other),
        )

    def message_across(self, typed, other):
        return gettext(
            "Логин «%(login)s» совпадает с адресом электронной почты сотрудника %(name)s, а входят и по "
            "логину, и по адресу: выберите другой логин.",
            login=typed,
            name=str(other),
        )


class EmailFree(FreeInAnyCapitals):
    """An e-mail no other user holds in any capitals: «Ivanova@clinic.ru» beside
    «ivanova@clinic.ru» is one mailbox, and two staff accounts shared it (a password
    reset, a notice went to whichever came first)."""

    column = "email"
    across = "username"

    def message(self, typed, other):
        return gettext(
            "Адрес «%(email)s» уже указан у сотрудника %(name)s. Заглавные и строчные буквы в адресах "
            "электронной почты не различаются.",
            email=typed,
            name=str(other),
        )

    def message_across(self, typed, other):
        return gettext(
            "Адрес «%(email)s» совпадает с логином сотрудника %(name)s, а входят и по логину, и по "
            "адресу: укажите другой адрес.",
            email=typed,
            name=str(other),
        )


class StaffEmail:
    """An e-mail address as the customers' forms check it (app/customers.py): «not-an-email»
    was saved as a staff member's address, where a password reset would go."""

    def __call__(self, form, field):
        from wtforms.validators import ValidationError

        from ..customers import normalize_email
        from ..errors import ValidationFailed

        try:
            normalize_email(field.data)
        except ValidationFailed as e:
            raise ValidationError(str(e)) from None


class KartotekaUserDBModelView(
    FreshValidatorLists, RoleTitles, StrippedNames, OwnReturn, GuardedActions, UserDBModelView
):
    """FAB's users screen and the profile page: «Активен?» said True or False,
    and roles and groups were shown as Python lists. The profile lists the user's
    open sessions; the administrator ends a user's sessions from the list."""

    class_permission_name = "UserDBModelView"  # FAB's own permissions, as the roles have them
    formatters_columns = {
        "active": yes_no,
        "roles": role_names,
        "groups": names,
        # a user never signed in, or created from the command line, showed «None»
        "last_login": lambda value: datetime_short(value) if value else "—",
        "created_on": lambda value: datetime_short(value) if value else "—",
        "changed_on": lambda value: datetime_short(value) if value else "—",
        "created_by": lambda value: str(value) if value else "—",
        "changed_by": lambda value: str(value) if value else "—",
        # a user who has not signed in yet: «Количество входов None»
        "login_count": lambda value: value or 0,
        "fail_login_count": lambda value: value or 0,
    }
    show_template = "kartoteka/userinfo.html"
    validators_columns = {
        **UserDBModelView.validators_columns,
        "first_name": STAFF_TEXT,
        "last_name": STAFF_TEXT,
        "username": [*STAFF_TEXT, LoginFree()],
        "email": [*STAFF_TEXT, StaffEmail(), EmailFree()],
    }
    # « olga » was stored with its spaces: not the login its user signs in with
    stripped_columns = ("first_name", "last_name", "username", "email")
    # The anonymous visitor's role is nobody's to hold: the roles box offered «Public»,
    # in English, beside the staff roles.
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "roles": [["name", FilterNotEqual, access.PUBLIC.name]]
    }

    def render_template(self, template, **kwargs):
        if template == self.show_template:
            from . import sessions

            # the profile lists the user's own sessions (and ends the others); a user's page,
            # the system administrator's, lists that user's: it said «Открытые сеансы» over
            # an empty table while the user was signed in
            own = request.endpoint.endswith(".userinfo")
            pk = str(kwargs.get("pk", ""))  # FAB's show route passes it as typed in the address
            user_id = getattr(g.get("user"), "id", None) if own else (int(pk) if pk.isdigit() else None)
            kwargs.setdefault("user_sessions", sessions.sessions_of(user_id) if user_id else [])
            kwargs.setdefault("own_profile", own)
            kwargs.setdefault("current_sid", sessions.current_session_id())
            kwargs.setdefault("session_label", session_label)
            kwargs.setdefault("view_name", type(self).__name__)
        return super().render_template(template, **kwargs)

    def _delete(self, pk):
        """FAB's deletion of a user, with its refusal said: a user whose name is on
        records (who registered a customer, took a payment…) cannot be deleted, and FAB
        flashed the database error's text, which is empty: an alert with only its ×."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        name = str(item)
        try:
            self.pre_delete(item)
            self.datamodel.delete(item)
        except DatabaseException:
            flash(
                gettext(
                    "Сотрудник %(name)s уже вносил записи в Картотеку, поэтому его не удалить: чтобы он "
                    "больше не мог войти, откройте его и снимите галочку «Активен?», его записи останутся.",
                    name=name,
                ),
                "danger",
            )
        else:
            self.post_delete(item)
            flash(self.delete_row_message, "success")
        self.update_redirect()

    @expose("/userinfo/sessions/end", methods=["POST"])
    @has_access
    def end_my_sessions(self):
        """«Завершить все остальные сеансы»: the user's other browsers and API tokens."""
        from . import sessions

        ended = sessions.end_sessions(g.user.id, keep=sessions.current_session_id())
        flash(ngettext("Завершён %(num)d сеанс.", "Завершено %(num)d сеансов.", ended), "success")
        return redirect(url_for(".userinfo"))

    @expose("/userinfo/alive")
    @has_access
    def keep_alive(self):
        """Typing on a page is being there: kartoteka.js asks this while a form is being
        filled in, so the idle timeout ends only sessions nobody works in (the request
        slides the session, in ``idle_timeout``). It answers the session's CSRF token
        (another site's page cannot read it): a form opened before a new sign-in in
        another tab is sent with the new session's token and saves."""
        from flask import jsonify
        from flask_wtf.csrf import generate_csrf

        return jsonify({"csrf": generate_csrf()})

    @action(
        "end_sessions",
        lazy_gettext("Завершить все сеансы"),
        lazy_gettext("Завершить все сеансы выбранных сотрудников? Им придётся войти снова."),
        "fa-sign-out",
        multiple=True,
        single=True,
    )
    def end_sessions(self, items):
        from . import sessions

        items = items if isinstance(items, list) else [items]
        ended = sum(sessions.end_sessions(user.id) for user in items if user is not None)
        flash(ngettext("Завершён %(num)d сеанс.", "Завершено %(num)d сеансов.", ended), "success")
        return redirect(referrer_or(url_for(".list")))

    def _init_forms(self):
        super()._init_forms()
        start_filters_empty(self.search_form)


class StatsTableWidget(RenderTemplateWidget):
    """The statistics as a table (FAB's chart loads Google's script, refused by the CSP)."""

    template = "kartoteka/widgets/stats_table.html"


class KartotekaUserStatsChartView(UserStatsChartView):
    """FAB's sign-in statistics, in the user's language: its chart and its series
    were titled in English («User's Statistics», «Login Count»). It is a table: the
    chart stayed blank (see StatsTableWidget)."""

    class_permission_name = "UserStatsChartView"  # FAB's own permissions, as the roles have them
    chart_widget = StatsTableWidget
    chart_title = lazy_gettext("Статистика входов")
    headings = {
        "username": lazy_gettext("Имя пользователя"),
        "login_count": lazy_gettext("Входов"),
        "fail_login_count": lazy_gettext("Неудачных попыток входа"),
    }
    label_columns = {**UserDBModelView.label_columns, **headings}  # its filters are the users screen's
    definitions = [
        {"label": lazy_gettext("Входы"), "group": "username", "series": ["login_count"]},
        {
            "label": lazy_gettext("Неудачные попытки входа"),
            "group": "username",
            "series": ["fail_login_count"],
        },
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # FAB names the grouped column after the last chart («Неудачные попытки входа») and a
        # series after its column, in English («Login Count»): the table's headings
        self.label_columns = {**self.label_columns, **self.headings}


class KartotekaUserGroupModelView(
    FreshValidatorLists, RoleTitles, StrippedNames, OwnReturn, GuardedActions, UserGroupModelView
):
    """FAB's groups screen, its columns labelled (they read «Name», «Label»)."""

    class_permission_name = "UserGroupModelView"  # FAB's own permissions, as the roles have them
    label_columns = {
        "name": lazy_gettext("Name"),
        "label": lazy_gettext("Label"),
        "description": lazy_gettext("Description"),
        "users": lazy_gettext("Users"),
        "roles": lazy_gettext("Roles"),
    }
    validators_columns = {
        "name": STAFF_TEXT,
        "label": [PlainText()],
        "description": [PlainText()],
    }
    stripped_columns = ("name", "label")


class KartotekaResetPasswordForm(ResetPasswordForm):
    """FAB's password form told the user that «this application does not check»
    the password; Kartoteka does (password_policy), and says what it asks for."""

    password = PasswordField(
        lazy_gettext("Password"),
        description=lazy_gettext(
            "Не короче %(n)s символов; распространённые и слишком простые пароли не принимаются.",
            n=MIN_PASSWORD_LENGTH,
        ),
        validators=[DataRequired(), PasswordComplexityValidator()],
        widget=BS3PasswordFieldWidget(),
    )
    # after the password: WTForms draws fields in the order they were made, and the
    # redeclared password came after FAB's confirmation, so the administrator's reset
    # form asked to repeat a password before asking for it (and Tab went there first)
    conf_password = ResetPasswordForm.conf_password.field_class(
        *ResetPasswordForm.conf_password.args, **ResetPasswordForm.conf_password.kwargs
    )


class KartotekaResetMyPasswordForm(KartotekaResetPasswordForm):
    """One's own password, changed only by who knows it: a session left open at the
    front desk changed it with the new one alone, which ended the owner's other
    sessions and locked them out of their account (OWASP ASVS 2.1.6). The current
    password is checked as a sign-in is (app/logins.py): failures count, and while
    the account waits the form answers 429."""

    current_password = PasswordField(
        lazy_gettext("Текущий пароль"), validators=[DataRequired()], widget=BS3PasswordFieldWidget()
    )
    # asked first: the fields are drawn in the order they were made
    password = KartotekaResetPasswordForm.password.field_class(
        *KartotekaResetPasswordForm.password.args, **KartotekaResetPasswordForm.password.kwargs
    )
    conf_password = ResetPasswordForm.conf_password.field_class(
        *ResetPasswordForm.conf_password.args, **ResetPasswordForm.conf_password.kwargs
    )

    def validate_current_password(self, field):
        from werkzeug.security import check_password_hash
        from wtforms.validators import ValidationError

        from .. import logins

        user = g.user

        def check(_login, password):
            return user if user.password and check_password_hash(user.password, password) else None

        if logins.guard(check, user.username, field.data) is None:
            raise ValidationError(gettext("Текущий пароль не подходит."))


class RefusedPassword:
    """A refused password (too short, too common, not repeated) or profile answers 422
    with the form, as the other forms do; FAB's answered 200."""

    @expose("/form", methods=["POST"])
    @has_access
    def this_form_post(self):
        return refused_with_422(super().this_form_post())


class KartotekaResetMyPasswordView(RefusedPassword, ResetMyPasswordView):
    class_permission_name = "ResetMyPasswordView"  # FAB's permission, as the roles have it
    form = KartotekaResetMyPasswordForm


class KartotekaResetPasswordView(RefusedPassword, ResetPasswordView):
    class_permission_name = "ResetPasswordView"
    form = KartotekaResetPasswordForm


def _name_field(label, description):
    return StringField(
        label,
        validators=[*STAFF_TEXT, Length(max=64)],  # ab_user's columns: a longer one was a 500 on PostgreSQL
        filters=[stripped],
        widget=BS3TextFieldWidget(),
        description=description,
    )


class KartotekaUserInfoEdit(UserInfoEdit):
    """The profile's name, checked as the users screen checks it: «Пётр\\x01» and a
    name of 300 letters were saved from the profile (the latter an error 500 on
    PostgreSQL, whose column holds 64)."""

    first_name = _name_field(lazy_gettext("First Name"), lazy_gettext("Write the user first name or names"))
    last_name = _name_field(lazy_gettext("Last Name"), lazy_gettext("Write the user last name"))


class KartotekaUserInfoEditView(RefusedPassword, UserInfoEditView):
    class_permission_name = "UserInfoEditView"  # FAB's permission, as the roles have it
    route_base = "/userinfoeditview"  # FAB's address, which the profile's «Изменить данные» opens
    form = KartotekaUserInfoEdit


class KartotekaSecurityManager(SecurityManager):
    rolemodelview = KartotekaRoleModelView
    userinfoeditview = KartotekaUserInfoEditView
    userdbmodelview = KartotekaUserDBModelView
    userstatschartview = KartotekaUserStatsChartView
    groupmodelview = KartotekaUserGroupModelView
    resetmypasswordview = KartotekaResetMyPasswordView
    resetpasswordview = KartotekaResetPasswordView

    @property
    def security_api(self):
        from .tokens import KartotekaSecurityApi

        return KartotekaSecurityApi

    def add_user(self, username, first_name, last_name, email, *args, **kwargs):
        """A user made outside the users screen (``flask fab create-admin``,
        ``create-user``, the demo users) keeps the screen's rules too: no login or
        e-mail that another user holds in other capitals, an e-mail that is one, and
        a password the policy accepts (``create-admin --password 123`` made the
        clinic's system administrator with «123», and ``--email admin@`` was stored),
        and the names, the login and the e-mail without the spaces around them.
        FAB's answer to a refusal is False, with the reason in the log."""
        import logging

        from ..customers import normalize_email
        from ..errors import ValidationFailed

        log = logging.getLogger(__name__)
        # stored as the users screen stores them: without the spaces around them
        username, first_name, last_name, email = (
            stripped(v) for v in (username, first_name, last_name, email)
        )
        for typed, rule in ((username, LoginFree()), (email, EmailFree())):
            refusal = rule.refusal(self, (typed or "").strip())
            if refusal is not None:
                log.error(refusal)
                return False
        password = kwargs.get("password", args[1] if len(args) > 1 else "")
        try:
            normalize_email(email)
            if password:  # none: a user who cannot sign in until a password is set
                password_policy(password)
        except (ValidationFailed, PasswordComplexityValidationError) as e:
            log.error(str(e))
            return False
        return super().add_user(username, first_name, last_name, email, *args, **kwargs)

    def find_user(self, username=None, email=None):
        """FAB's, but a login (AUTH_USERNAME_CI) or an e-mail is found in any capitals
        as Python folds them (``str.casefold``), as both are unique in any capitals
        (holder_in_other_capitals). FAB compared with SQL ``lower()``, which folds Latin
        letters only on SQLite (and on PostgreSQL under «C»): «ОЛЬГА» did not sign in
        the user «Ольга», nor «mgr@example.ru» the user whose address is
        «Mgr@Example.ru» («Неверное имя пользователя или пароль»)."""
        if username:
            if not self.auth_username_ci:
                return super().find_user(username=username)
            column, typed = self.user_model.username, username
        elif email:
            column, typed = self.user_model.email, email
        else:
            return None
        exact = self.session.query(self.user_model).filter(column == typed).one_or_none()
        if exact is not None:
            return exact
        folded = typed.strip().casefold()
        found = [
            user_id
            for user_id, value in self.session.query(self.user_model.id, column)
            if value and value.strip().casefold() == folded
        ]
        return self.session.get(self.user_model, found[0]) if len(found) == 1 else None

    # Every door that checks a password goes through app/logins.py (the login
    # form and the token API call these; a later door must too).
    def auth_user_db(self, username, password):
        from .. import logins

        return logins.guard(super().auth_user_db, username, password)

    def auth_user_ldap(self, username, password):
        from .. import logins

        return logins.guard(super().auth_user_ldap, username, password)

    def create_jwt_manager(self, app):
        from . import tokens

        jwt_manager = super().create_jwt_manager(app)
        tokens.install(app, jwt_manager)
        return jwt_manager

    def load_user(self, pk):
        """The signed-in user and their permissions, brought by the session's own
        statement (app/admin/sessions.py), or in one query of their own.

        Stock FAB spends three queries on the user and one EXISTS per permission
        check. Here the permissions come back as one aggregated string column
        (no ORM object per permission: hydrating ~150 of them cost 3 ms a
        request) and every check of the request is answered from it.
        """
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None
        row = session_user(pk)  # brought with the session's row, as a rule
        if row is None:
            row = self.session.execute(self._load_user_statement, {"pk": pk}).first()
        if row is None or not row[0].is_active:
            return None
        user, packed = row
        user._kartoteka_perms = unpack(packed or "")
        return user

    @cached_property
    def _load_user_statement(self):
        """Built once: composing it cost more than running it.

        Roles and groups are not joined: every check is answered from the
        permissions column, and the few pages that show roles (the user's
        profile) load them when they read them. Joining them made the row a
        user × roles × groups product that the ORM had to de-duplicate on every
        request (a seventh of a list page's time)."""
        User = self.user_model
        return (
            select(User, permissions_of(bindparam("pk")))
            .where(User.id == bindparam("pk"))
            .execution_options(populate_existing=True)
        )

    def user_permissions(self, user) -> frozenset[tuple[str, str]]:
        """(permission, view) pairs of the user's roles, loaded once per request."""
        user = signed_in(user)
        cache_key = ("_kartoteka_perms", getattr(user, "id", None))
        if _cv_request.get(None) is not None:  # has_request_context(), g: without proxies
            cached = getattr(_cv_app.get().g, "_kartoteka_perm_cache", None)
            if cached is not None and cached[0] == cache_key:
                return cached[1]
        if user is not None and getattr(user, "is_authenticated", False):
            perms = getattr(user, "_kartoteka_perms", None)
            if perms is None:  # a user not loaded by load_user() (the login request)
                perms = frozenset(
                    (pv.permission.name, pv.view_menu.name)
                    for role in self.get_user_roles(user)
                    for pv in role.permissions
                )
            if has_request_context():
                g._kartoteka_perm_cache = (cache_key, perms)
            return perms
        roles = [self.get_public_role()]
        role_ids = [role.id for role in roles if role is not None]
        stmt = role_permissions(Permission.name, ViewMenu.name, role_ids=role_ids)
        perms = frozenset(tuple(row) for row in self.session.execute(stmt))
        if has_request_context():
            g._kartoteka_perm_cache = (cache_key, perms)
        return perms

    def has_access(self, permission_name: str, view_name: str) -> bool:
        """FAB's check, answered from a per-request cache once the signed-in user is known.

        FAB resolves the user through three proxies on every check (a card asks
        about eighty times). The cache belongs to the user object Flask-Login
        loaded for this request: a login or logout within the request replaces
        that object, and the next check computes again.
        """
        if _cv_request.get(None) is None:  # has_request_context(), without its proxies
            return super().has_access(permission_name, view_name)
        known = _cv_app.get().g.__dict__  # g, read without its proxy (a card asks ~130 times)
        login_user = known.get("_login_user")
        cached = known.get("_kartoteka_access")
        if cached is not None and login_user is not None and cached[0] is login_user:
            return (permission_name, view_name) in cached[1]
        if known.get("user") is current_user and not known.get("_api_key_user"):
            # FAB's check for the signed-in user of this request (g.user is Flask-Login's
            # current_user), on the user object rather than through the proxy: each
            # attribute read through it was ~12 Python calls, ~100 a page
            user = current_user._get_current_object()  # loads the user, as FAB's check does
            if (
                getattr(user, "is_authenticated", False)
                and getattr(user, "is_active", False)
                and not _detached(user)  # FAB's _get_safe_user loads a detached one again
            ):
                perms = self.user_permissions(user)
                known["_kartoteka_access"] = (user, perms)
                return (permission_name, view_name) in perms
        result = super().has_access(permission_name, view_name)
        login_user = known.get("_login_user")
        if (
            login_user is not None
            and getattr(login_user, "is_authenticated", False)
            and getattr(login_user, "is_active", False)
            and not known.get("_api_key_user", False)
        ):
            known["_kartoteka_access"] = (login_user, self.user_permissions(login_user))
        return result

    def _has_view_access(self, user, permission_name: str, view_name: str) -> bool:
        return (permission_name, view_name) in self.user_permissions(user)

    def is_item_public(self, permission_name, view_name):
        return (permission_name, view_name) in self.user_permissions(None)

    def _get_user_permission_view_menus(self, user, permission_name, view_menus_name):
        perms = self.user_permissions(user)
        return {v for v in view_menus_name if (permission_name, v) in perms}


# ---------------------------------------------------------------------------
# Hardening that FAB leaves off by default
# ---------------------------------------------------------------------------

import datetime as dt  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from flask import Flask, session  # noqa: E402
from flask_appbuilder.exceptions import PasswordComplexityValidationError  # noqa: E402
from flask_babel import gettext as _  # noqa: E402
from flask_login import logout_user  # noqa: E402
from flask_wtf.csrf import CSRFProtect  # noqa: E402
from werkzeug.middleware.proxy_fix import ProxyFix  # noqa: E402

_COMMON = None


def common_passwords() -> frozenset[str]:
    global _COMMON
    if _COMMON is None:
        path = Path(__file__).with_name("common_passwords.txt")
        lines = path.read_text(encoding="utf-8").splitlines()
        _COMMON = frozenset(ln.strip().lower() for ln in lines if ln.strip() and not ln.startswith("#"))
    return _COMMON


def password_policy(password: str) -> None:
    """Length of at least 12, no composition rules, common passwords refused (NIST 800-63B)."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordComplexityValidationError(
            _("Пароль слишком короткий: нужно не меньше %(n)s символов.", n=MIN_PASSWORD_LENGTH)
        )
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) < 4:
        raise PasswordComplexityValidationError(
            _("Этот пароль слишком распространён и легко подбирается: придумайте другой.")
        )


def is_local_redirect(location: str) -> bool:
    if not location:
        return True
    if "\\" in location or location.startswith("//") or any(ord(c) < 32 for c in location):
        return False
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        # The Host header can be spoofed: only hosts configured explicitly count as ours.
        return parts.scheme in ("http", "https") and _host_allowed(parts.netloc)
    return location.startswith("/")


def referrer_or(fallback: str) -> str:
    """Where a row action lands: the page it was sent from (the Referer) if that is a
    page of this app, as a local address, else ``fallback`` (the view's list). It went
    to the Referer unchecked (the POST needs a CSRF token, but the address is the
    client's to say)."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if parts.scheme in ("http", "https") and parts.netloc == request.host:
        # this very host: kept as a local address (its filters and its #tab too)
        referrer = parts._replace(scheme="", netloc="").geturl()
    if not referrer or not is_local_redirect(referrer):
        return fallback
    path = urlsplit(referrer).path
    root = request.script_root
    if root and path != root and not path.startswith(root + "/"):
        return fallback  # another application on this host
    return referrer


def _host_allowed(host: str) -> bool:
    from flask import current_app

    return host.split(":")[0] in (current_app.config.get("KARTOTEKA_ALLOWED_HOSTS") or [])


# A session's signed CSRF token, reused (seconds): Flask-WTF signs its raw token anew
# on every request (itsdangerous: ~170 Python calls of every page with a form).
CSRF_REUSE_SECONDS = 60
CSRF_KEPT = 1024
_signed_csrf: dict[tuple, tuple[float, str]] = {}


def csrf_token() -> str:
    """Flask-WTF's generate_csrf, the signed token of this session's raw token
    reused for up to a minute (at most a sixtieth of WTF_CSRF_TIME_LIMIT).

    Each entry is keyed by the session's own raw token (and the secret), which
    only that session holds: another session can never be handed it. A reused
    token is the same token Flask-WTF would have made a moment earlier: bound to
    the session, verified on every POST as before, and it expires at most a
    minute sooner than a fresh one."""
    from flask_wtf.csrf import generate_csrf

    app_ctx = _cv_app.get()
    known = app_ctx.g.__dict__
    config = app_ctx.app.config
    field = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    signed = known.get(field)
    if signed is not None:  # signed already in this request
        return signed
    limit = config.get("WTF_CSRF_TIME_LIMIT", 3600)
    window = CSRF_REUSE_SECONDS if limit is None else min(CSRF_REUSE_SECONDS, int(limit) // 60)
    if window <= 0:
        return generate_csrf()
    secret = config.get("WTF_CSRF_SECRET_KEY") or app_ctx.app.secret_key
    user_session = _cv_request.get().session
    now = time.monotonic()
    raw = user_session.get(field)
    if raw:
        found = _signed_csrf.get((secret, raw))
        if found is not None and now - found[0] < window:
            known[field] = found[1]  # where generate_csrf keeps it for the request
            return found[1]
    signed = generate_csrf()
    raw = user_session.get(field)  # made by generate_csrf for a new session
    if raw:
        if len(_signed_csrf) >= CSRF_KEPT:
            _signed_csrf.clear()
        _signed_csrf[(secret, raw)] = (now, signed)
    return signed


# How often the idle timer is refreshed in the session (seconds); the timeout is
# minutes long, so a user is signed out at most this much earlier than set.
SEEN_STEP = 30


SAFE_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


class LoginWithoutNext(logging.Filter):
    """FAB's login form calls ``get_safe_redirect("")`` when the address names no
    ``next``, which logs «Invalid redirect detected» on every ordinary sign-in and
    reads like an attack in an IT person's log. The warning stays for a ``next``
    that was given and refused."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.msg == "Invalid redirect detected, falling back to index"
            and has_request_context()
            and not request.args.get("next")
        )


LOGIN_WITHOUT_NEXT = LoginWithoutNext()


def carries_token() -> bool:
    """The request is signed in by a bearer token (the token API), not by a cookie: a
    browser signed in by its cookie is checked whatever header it adds."""
    return request.headers.get("Authorization", "")[:7].lower() == "bearer " and "_user_id" not in session


def harden(app: Flask) -> None:
    """CSRF everywhere, server-side sessions with an idle timeout, the client's
    address behind trusted proxies, safe redirects, security headers. (Login
    limits: app/logins.py, through the security manager's password checks.)"""
    csrf = CSRFProtect(app)
    # CSRF guards what the browser's cookie signs in. A request carrying a token and
    # no signed-in cookie (the token API, KARTOTEKA_TOKEN_API) is signed in by its
    # Authorization header, which another site cannot make a browser send, and the token
    # login takes JSON credentials: both answered 400 «Запрос не понят» to every
    # integrator. Everything else is checked as before.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    from .tokens import KartotekaSecurityApi

    for view in app.appbuilder.baseviews:
        if isinstance(view, KartotekaSecurityApi):
            csrf.exempt(view.blueprint)

    @app.before_request
    def csrf_unless_token():
        if app.config["WTF_CSRF_ENABLED"] and not carries_token():
            csrf.protect(apply_exemptions=True)

    logging.getLogger("flask_appbuilder.utils.base").addFilter(LOGIN_WITHOUT_NEXT)  # once: the same filter
    app.config.setdefault("FAB_PASSWORD_COMPLEXITY_ENABLED", True)
    app.config.setdefault("FAB_PASSWORD_COMPLEXITY_VALIDATOR", password_policy)
    idle = dt.timedelta(minutes=int(app.config.get("KARTOTEKA_IDLE_MINUTES", 30)))
    app.config["PERMANENT_SESSION_LIFETIME"] = idle

    sm = app.appbuilder.sm
    trusted = int(app.config.get("KARTOTEKA_TRUSTED_PROXIES") or 0)
    if trusted:
        # The client's address (counted by the login limits, written to the
        # journals) is taken from X-Forwarded-For only behind this many proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted)
    from . import sessions

    sessions.install(app)

    @app.before_request
    def idle_timeout():
        if "_user_id" not in session:
            return None  # no session is written for a visitor who is not signed in
        now = int(time.time())
        seen = session.get("_seen")
        limit = app.permanent_session_lifetime.total_seconds()  # the session row's expiry too
        if seen is not None and now - seen > limit:
            logout_user()
            session.clear()
            # back to the page after signing in again (a form's page for a form sent),
            # and the login page says why it is shown: it opened without a word, and
            # the sign-in led to the customers list instead of the card being read
            back = request.full_path if request.method == "GET" else (request.referrer or "")
            back = back.removesuffix("?") if is_local_redirect(back) else ""
            return redirect(url_for(f"{type(sm.auth_view).__name__}.login", next=back or None, ended=1))
        # Marked at most every SEEN_STEP seconds: the session's row is written (and
        # its expiry slides) when it changes, not on every request.
        if seen is None or now - seen >= min(SEEN_STEP, limit / 4):
            session["_seen"] = now
        return None

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def form_of_an_ended_session(error):
        """A form sent after its session ended (the idle timeout, a sign-out in another
        tab) carries a token of a session that is no more: it was answered «Запрос не
        понят: проверьте адрес и форму», which sent a receptionist back from lunch looking
        for a mistake in what she typed. It is told as what it is, and nothing is saved."""
        from .errorpages import error_page, session_ended

        if "_user_id" in session:
            return error_page(error)
        return session_ended()

    @app.after_request
    def safe_headers(response):
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("Location", "")
            if not is_local_redirect(location):
                parts = urlsplit(location)
                same_path = (
                    parts.path if parts.scheme in ("http", "https") and parts.path.startswith("/") else ""
                )
                if same_path.startswith("//") or "\\" in same_path:
                    same_path = ""
                elif same_path:
                    # the same address on this host, made relative: its filters and its
                    # #tab kept (FAB's history holds absolute addresses: «Назад» to a
                    # filtered list came back unfiltered, to a card without its tab)
                    same_path += (f"?{parts.query}" if parts.query else "") + (
                        f"#{parts.fragment}" if parts.fragment else ""
                    )
                response.headers["Location"] = same_path or "/"
        headers = response.headers
        # as setdefault, in fewer Python calls: the names present looked at once
        # (each ``name in headers`` lowered every header's name again, ~11 calls)
        present = {key.lower() for key, _value in headers}
        for name, value in SAFE_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        return response
