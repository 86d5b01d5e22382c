"""The role matrix and the one access policy that reads it.

Every view and its API share a ``class_permission_name`` (a *resource* below)
and map their methods onto four permissions: ``can_read``, ``can_write``,
``can_delete`` and ``can_export``, plus named actions (``can_status``…).
The default matrix is seeded into FAB's roles by :func:`sync_roles`; an
administrator may then change a role in FAB's roles screen, and a restart does
not overwrite that change (``flask kartoteka roles --reset`` restores it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache

from flask import current_app
from flask.globals import _cv_app, _cv_request
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

# Resources: one per view + API pair (the FAB "view menu" name).
CUSTOMERS = "Customers"
DOCUMENTS = "Documents"
ORDERS = "Orders"
RETURNS = "Returns"
REVIEWS = "Reviews"
NOTES = "Notes"
ANAMNESIS = "Anamnesis"
REFERENCE = "Reference"  # branches, categories, tags, the catalog
JOURNAL = "AccessJournal"  # who revealed, exported what
HISTORY = "ChangeHistory"  # who changed which field, old -> new
MESSAGES = "Messages"  # the outbox / delivery log, consents, sending
TEMPLATES = "MessageTemplates"  # notification texts
SIGN_INS = "SignIns"  # open sessions and login waits: seen and ended by the administrator
QUEUE = "NotificationQueue"  # the delivery queue at a glance; pausing a channel

NONE, READ, WRITE = "none", "read", "write"

# View method -> permission. Shared by every Kartoteka view and API.
METHOD_PERMISSIONS = {
    "list": "read",
    "show": "read",
    "get": "read",
    "get_list": "read",
    "info": "read",
    "add": "write",
    "post": "write",
    "edit": "write",
    "put": "write",
    "add_note": "read",
    "add_order": "read",
    "delete": "delete",
    "download": "export",
    "export": "export",
    "export_xlsx": "export",  # the same rows as a workbook
    "import_file": "import",  # «Загрузить из файла» (app/admin/imports.py)
    "import_sample": "import",
    "change_status": "status",
    "reveal": "read",
    "lookup": "read",
    "send_message": "write",
    "preview_message": "write",
    "bulk_message": "write",
    "bulk_message_action": "write",  # «Отправить сообщение» on the ticked rows of the list
    "resend": "write",
    "pause": "write",
    "resume": "write",
    "status_active": "status",
    "status_verified": "status",
    "status_problem": "status",
    "status_blocked": "block",  # blocking (and unblocking) is a right of its own
    "end_session": "write",
    "lift_wait": "write",
}

# Actions beyond read/write: the FAB permission each one is stored as.
ACTIONS = {
    "delete": "can_delete",
    "export": "can_export",
    "status": "can_status",  # set «Активен», «Проверен», «Проблемный»
    "block": "can_block",  # set or lift «Заблокирован» (no new orders)
    "import": "can_import",  # many new records at once, from a spreadsheet
}
# A permission new in a version that an older one used to include: existing roles
# holding the older one get it on upgrade (blocking was part of «смена статуса»).
SPLIT_FROM = {("can_block", "Customers"): ("can_status", "Customers")}

# What a role's staff do for customers, beyond what they may see: the «Специалист»
# of an order lists the staff who see patients, «Менеджер» of a customer the staff
# who look after customers (both selects listed every active user, the auditor and
# the system administrator included).
SPECIALIST = ("can_serve", "Orders")
MANAGER = ("can_manage", "Customers")
CAPACITIES = {"specialist": SPECIALIST, "manager": MANAGER}


@dataclass(frozen=True)
class RoleSpec:
    name: str
    label: object
    resources: dict[str, str]
    actions: frozenset[str] = field(default_factory=frozenset)
    security: bool = False  # manages users and roles
    capacities: frozenset[str] = frozenset()  # keys of CAPACITIES
    # resources the role exports though it only reads them (``actions`` apply to what it
    # writes): the auditor hands an extract of the journals to an inspection
    exports: frozenset[str] = frozenset()


# The default matrix (DESIGN.md «Who uses it»).
ROLES: dict[str, RoleSpec] = {
    "sysadmin": RoleSpec(
        name="Администратор системы",
        label=_l("Администратор системы"),
        resources={
            CUSTOMERS: READ,
            ORDERS: READ,
            REFERENCE: WRITE,
            JOURNAL: READ,
            HISTORY: READ,
            TEMPLATES: WRITE,
            SIGN_INS: WRITE,
            QUEUE: WRITE,
        },
        actions=frozenset({"delete"}),
        security=True,
    ),
    "manager": RoleSpec(
        name="Управляющий",
        label=_l("Управляющий"),
        resources={
            CUSTOMERS: WRITE,
            DOCUMENTS: WRITE,
            ORDERS: WRITE,
            RETURNS: WRITE,
            REVIEWS: WRITE,
            NOTES: WRITE,
            REFERENCE: WRITE,
            HISTORY: READ,
            MESSAGES: WRITE,
            TEMPLATES: READ,
            QUEUE: READ,
        },
        actions=frozenset({"delete", "export", "status", "block", "import"}),
        capacities=frozenset({"manager"}),
    ),
    "reception": RoleSpec(
        name="Администратор (ресепшн)",
        label=_l("Администратор (ресепшн)"),
        resources={
            CUSTOMERS: WRITE,
            # the passport for the contract of paid services is entered at the front
            # desk; once saved, its number is masked for them (FIELDS, «enter»)
            DOCUMENTS: WRITE,
            ORDERS: WRITE,
            RETURNS: READ,
            REVIEWS: READ,
            NOTES: WRITE,
            REFERENCE: READ,
            MESSAGES: WRITE,
        },
        # flags a customer «Проблемный», never «Заблокирован» (DESIGN.md)
        actions=frozenset({"status"}),
    ),
    "doctor": RoleSpec(
        name="Специалист",
        label=_l("Специалист (врач, мастер)"),
        resources={
            CUSTOMERS: READ,
            ORDERS: READ,
            NOTES: READ,
            ANAMNESIS: WRITE,
            REVIEWS: READ,
            REFERENCE: READ,
        },
        capacities=frozenset({"specialist"}),
    ),
    "auditor": RoleSpec(
        name="Аудитор",
        label=_l("Аудитор"),
        resources={
            CUSTOMERS: READ,
            DOCUMENTS: READ,
            ORDERS: READ,
            RETURNS: READ,
            REVIEWS: READ,
            NOTES: READ,
            REFERENCE: READ,
            JOURNAL: READ,
            HISTORY: READ,
            MESSAGES: READ,
        },
        # internal control under 152-FZ (art. 18.1) is the auditor's: who opened, exported
        # or changed a customer's data goes to the inspection or the data protection
        # officer as a file, written by the same export as every list (its row and field
        # policy; the export itself is a row of the journal). Nothing else: a read-only
        # role does not take the customer base out in bulk.
        exports=frozenset({JOURNAL, HISTORY}),
    ),
}

# FAB's two roles of its own are in the matrix too (they were created outside it):
# the administrator role FAB gives the first user (``flask fab create-admin``,
# AUTH_ROLE_ADMIN in config.py) is the clinic's «Администратор системы» above, and
# the role of a visitor who has not signed in («Public», AUTH_ROLE_PUBLIC) may do
# nothing: the login page, the language switch and the static files need no permission.
PUBLIC = RoleSpec(name="Public", label=_l("Без входа"), resources={})
# A role's name is a stored key, written in Russian; the screens show the matrix's roles
# in the reader's language (the English users list read «Роль: Управляющий»). A role an
# administrator made or renamed is shown as stored.
ROLE_TITLES = {
    ROLES["sysadmin"].name: _l("Администратор системы"),
    ROLES["manager"].name: _l("Управляющий"),
    ROLES["reception"].name: _l("Администратор (ресепшн)"),
    ROLES["doctor"].name: _l("Специалист"),
    ROLES["auditor"].name: _l("Аудитор"),
    PUBLIC.name: PUBLIC.label,
}


def role_title(role) -> str:
    """A role (or its stored name) as the screens name it."""
    name = getattr(role, "name", role)
    return str(ROLE_TITLES.get(name, name))


# FAB's former administrator role: every permission FAB has, outside the matrix
# (0 customers, yet write rights on documents and anamnesis). sync_roles moves its
# users to «Администратор системы» and removes it.
LEGACY_ADMIN = "Admin"


def matrix_role_names() -> set[str]:
    """Every role the matrix defines, FAB's anonymous role included."""
    return {spec.name for spec in ROLES.values()} | {PUBLIC.name}


# What every signed-in staff member needs: their own profile and password (FAB keeps
# these on the users view, so without them the user menu leads to a 403 page).
SELF_SERVICE_VIEWS = {"UserInfoEditView", "ResetMyPasswordView", "LocaleView", "MenuApi"}
SELF_SERVICE = {
    ("can_get", "OpenApi"),  # the API's OpenAPI document (app/api.py KartotekaOpenApi)
    ("can_userinfo", "UserDBModelView"),
    ("can_end_my_sessions", "UserDBModelView"),
    ("can_keep_alive", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("userinfoedit", "UserDBModelView"),
}


def role_permissions(spec: RoleSpec, all_pvms: set[tuple[str, str]], menu_resources: dict[str, set[str]]):
    """The (permission, view) pairs a role gets by default, from the matrix."""
    wanted: set[tuple[str, str]] = set()
    for resource, level in spec.resources.items():
        if level in (READ, WRITE):
            wanted.add(("can_read", resource))
        if level == WRITE:
            wanted.add(("can_write", resource))
            for action in spec.actions:
                wanted.add((ACTIONS[action], resource))
        if resource in spec.exports and level in (READ, WRITE):
            wanted.add((ACTIONS["export"], resource))
    wanted |= {CAPACITIES[key] for key in spec.capacities}
    for perm, view in all_pvms:
        if view in SELF_SERVICE_VIEWS or (perm, view) in SELF_SERVICE:
            wanted.add((perm, view))
    readable = {r for r, level in spec.resources.items() if level != NONE}
    if spec.security:
        readable.add("security")
    for menu, resources in menu_resources.items():
        if resources & readable:
            wanted.add(("menu_access", menu))
    if spec.security:
        for perm, view in all_pvms:
            if view in security_views():
                wanted.add((perm, view))
    return wanted & all_pvms


def is_security_view(view) -> bool:
    """FAB's users, roles and permissions screens, Kartoteka's subclasses of them
    included (the roles screen is one: checked by its own module it was not
    counted, and the system administrator got 403 on it)."""
    return any(cls.__module__.startswith("flask_appbuilder.security") for cls in type(view).__mro__)


def security_views() -> set[str]:
    appbuilder = current_app.appbuilder
    return {
        v.class_permission_name
        for v in appbuilder.baseviews
        if is_security_view(v) and v.class_permission_name not in SELF_SERVICE_VIEWS
    }


def _register_permissions(appbuilder) -> None:
    """FAB's ``add_permissions``, once per resource rather than once per view.

    A page view and its API share a permission name but expose different methods,
    and the matrix adds its own to the same name (menus, rows, fields, capacities);
    given each view in turn, FAB tries to drop every permission the view does not
    declare (and, finding it held by a role, logs a warning for each at every start).
    """
    declared: dict[str, set[str]] = {}
    for permission, name in all_policy_permissions():
        declared.setdefault(name, set()).add(permission)
    for view in appbuilder.baseviews:
        declared.setdefault(view.class_permission_name, set()).update(view.base_permissions or ())
    for category in appbuilder.menu.get_list():
        for item in (category, *category.childs):
            if item.name != "-":
                declared.setdefault(item.name, set()).add("menu_access")
    held: dict[str, set[str]] = {}
    for permission, name in _pvm_index(appbuilder.sm):
        held.setdefault(name, set()).add(permission)
    _add_resources(appbuilder.sm, {name: p for name, p in declared.items() if name not in held})
    for name, permissions in declared.items():
        # A resource whose stored permissions are the declared ones is left alone: FAB
        # would only grant each of them to the administrator role again (sync_roles puts
        # that role's own set back), a few statements a permission, ~550 at every sync.
        if name in held and held[name] != permissions:
            appbuilder.sm.add_permissions_view(sorted(permissions), name)


def _add_resources(sm, resources: dict[str, set[str]]) -> None:
    """What FAB's ``add_permissions_view`` does for a resource with no permission yet (a
    first install, a screen new in this version), in one transaction: FAB looked up
    and committed each permission and its grant to the administrator role one by one
    (2,600 statements, ~6 s on PostgreSQL, at a first ``flask kartoteka init``). That
    grant is left out: sync_roles puts the administrator role's own set back anyway."""
    if not resources:
        return
    session = sm.session
    permissions = {p.name: p for p in session.query(sm.permission_model)}
    views = {v.name: v for v in session.query(sm.viewmenu_model)}
    for name, wanted in resources.items():
        view = views.get(name)
        if view is None:
            view = views[name] = sm.viewmenu_model(name=name)
            session.add(view)
        for permission_name in sorted(wanted):
            permission = permissions.get(permission_name)
            if permission is None:
                permission = permissions[permission_name] = sm.permission_model(name=permission_name)
                session.add(permission)
            session.add(sm.permissionview_model(permission=permission, view_menu=view))
    session.commit()


def sync_roles(reset: bool = False) -> list[str]:
    """Create every permission and the default roles; idempotent.

    A role that already exists keeps the permissions an administrator gave it,
    unless ``reset`` is true. Returns the names of roles created or reset.
    """
    appbuilder = current_app.appbuilder
    sm = appbuilder.sm
    created = set()
    for spec in (*ROLES.values(), PUBLIC):
        if sm.find_role(spec.name) is None:
            sm.add_role(spec.name)
            created.add(spec.name)
    # FAB grants its administrator role (ours, AUTH_ROLE_ADMIN) every permission it
    # registers; the matrix decides instead, so the role's own set is put back.
    admin = sm.find_role(sm.auth_role_admin)
    kept = [pv.id for pv in admin.permissions] if admin is not None else []
    existing_before = set(_pvm_index(sm))
    _register_permissions(appbuilder)
    if admin is not None:
        admin.permissions = (
            sm.session.query(sm.permissionview_model).filter(sm.permissionview_model.id.in_(kept)).all()
        )
        sm.session.commit()
    _retire_legacy_admin(sm)
    index = _pvm_index(sm)
    all_pvms = set(index)
    new_policy = all_policy_permissions() - existing_before
    menu_resources = _menu_resources(appbuilder)
    touched = []
    public = sm.find_role(PUBLIC.name)
    if public.name in created or reset:
        public.permissions = []
        sm.session.commit()
        touched.append(PUBLIC.name)
    for key, spec in ROLES.items():
        role = sm.find_role(spec.name)
        if spec.name not in created and not reset:
            # A field rule new in this version starts at its default levels in
            # existing roles (or every role would lose sight of the field).
            added = (field_permissions(key) | {CAPACITIES[c] for c in spec.capacities}) & new_policy
            held = {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}
            added |= {
                new for new, old in SPLIT_FROM.items() if new not in existing_before and old in held
            } & all_pvms
            # a self-service page new in this version reaches every role
            added |= {pv for pv in SELF_SERVICE if pv in all_pvms and pv not in existing_before}
            # so does a screen new in this version, at the role's default level (the
            # notification queue reached no existing role without --reset)
            added |= {
                pv for pv in role_permissions(spec, all_pvms, menu_resources) if pv not in existing_before
            }
            if spec.security:  # the system administrator always keeps the security screens
                screens = security_views() | {
                    m for m, resources in menu_resources.items() if "security" in resources
                }
                added |= {pv for pv in role_permissions(spec, all_pvms, menu_resources) if pv[1] in screens}
                added -= {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}
            if added:
                role.permissions = [
                    *role.permissions,
                    *(index[perm, view] for perm, view in sorted(added)),
                ]
                sm.session.commit()
            continue
        wanted = role_permissions(spec, all_pvms, menu_resources) | field_permissions(key)
        role.permissions = [index[perm, view] for perm, view in sorted(wanted)]
        sm.session.commit()
        touched.append(spec.name)
    return touched


def _retire_legacy_admin(sm) -> None:
    """Users of FAB's former «Admin» role become «Администратор системы»; the role goes."""
    legacy = sm.find_role(LEGACY_ADMIN)
    if legacy is None or legacy.name in matrix_role_names():
        return
    sysadmin = sm.find_role(sm.auth_role_admin)
    for user in sm.session.query(sm.user_model).filter(sm.user_model.roles.contains(legacy)):
        user.roles = [role for role in user.roles if role is not legacy] + (
            [] if sysadmin in user.roles else [sysadmin]
        )
    for group in list(getattr(legacy, "groups", None) or ()):
        group.roles = [role for role in group.roles if role is not legacy] + (
            [] if sysadmin in group.roles else [sysadmin]
        )
    legacy.permissions = []
    sm.session.delete(legacy)
    sm.session.commit()


def _all_pvms(sm) -> set[tuple[str, str]]:
    return set(_pvm_index(sm))


def _pvm_index(sm) -> dict[tuple[str, str], object]:
    """Every stored (permission, view) pair and its row, read in one statement (with
    its permission and view: a role's rows then name theirs without a query each)."""
    from sqlalchemy.orm import joinedload

    model = sm.permissionview_model
    rows = sm.session.query(model).options(joinedload(model.permission), joinedload(model.view_menu))
    return {(pv.permission.name, pv.view_menu.name): pv for pv in rows if pv.permission and pv.view_menu}


def _menu_resources(appbuilder) -> dict[str, set[str]]:
    """Menu item or category name -> the resources that make it visible."""
    result: dict[str, set[str]] = {}

    def resource_of(view) -> str:
        if is_security_view(view):
            return "security"
        return view.class_permission_name

    for category in appbuilder.menu.get_list():
        if category.baseview is not None:
            result.setdefault(category.name, set()).add(resource_of(category.baseview))
        for item in category.childs:
            if item.name == "-" or item.baseview is None:
                continue
            resource = resource_of(item.baseview)
            result.setdefault(item.name, set()).add(resource)
            result.setdefault(category.name, set()).add(resource)
    return result


# ---------------------------------------------------------------------------
# Fields: hidden / masked / read / write, per role; stored as FAB permissions
# on the view menu "Field:<key>" so that an administrator can change them.
# ---------------------------------------------------------------------------

HIDE, MASK = "hide", "mask"
FIELD_LEVELS = (HIDE, MASK, READ, WRITE)
FIELD_PREFIX = "Field:"


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: object
    columns: tuple[tuple[str, str], ...]  # (model class name, column)
    defaults: dict[str, str]  # role key -> level (absent: hidden)
    reveal: frozenset[str] = frozenset()  # role keys that may reveal a masked value
    # role keys that may type the value into a new record though they see it
    # masked once saved (the front desk enters the passport)
    enter: frozenset[str] = frozenset()
    # a value as stored, whose mask the roles screen shows beside «видит скрытым»
    example: object = None


FIELDS: dict[str, FieldSpec] = {
    spec.key: spec
    for spec in (
        FieldSpec(
            "customer.phone",
            _l("Телефон"),
            (("Customer", "phone"), ("Customer", "phone_extra")),
            {"sysadmin": MASK, "manager": WRITE, "reception": WRITE, "doctor": MASK, "auditor": MASK},
            reveal=frozenset({"doctor", "auditor"}),
            example="+79161234567",
        ),
        FieldSpec(
            "customer.email",
            _l("Эл. почта"),
            (("Customer", "email"),),
            {"sysadmin": MASK, "manager": WRITE, "reception": WRITE, "auditor": MASK},
            reveal=frozenset({"auditor"}),
            example="anna.petrova@example.ru",
        ),
        FieldSpec(
            "customer.birth_date",
            _l("Дата рождения"),
            (("Customer", "birth_date"), ("Customer", "age")),
            {"manager": WRITE, "reception": WRITE, "doctor": READ, "auditor": MASK},
            example=dt.date(1990, 3, 15),
        ),
        FieldSpec(
            # «finances beyond their own orders» are not a specialist's: the
            # card's order figures are theirs, the customer's balances are not
            "customer.balances",
            _l("Бонусы и депозит"),
            (("Customer", "bonus_balance"), ("Customer", "deposit_balance")),
            {"sysadmin": READ, "manager": READ, "reception": READ, "auditor": READ},
        ),
        FieldSpec(
            "document.number",
            _l("Серия и номер документа"),
            (("CustomerDocument", "series"), ("CustomerDocument", "number")),
            {"manager": WRITE, "reception": MASK, "auditor": MASK},
            reveal=frozenset({"auditor"}),
            enter=frozenset({"reception"}),
            example="123456",
        ),
    )
}
COLUMN_FIELDS = {column: spec.key for spec in FIELDS.values() for column in spec.columns}
# Who sees every customer; without it a role sees only customers it has an order with.
ALL_ROWS = "can_all_rows"
ALL_ROWS_ROLES = {"sysadmin", "manager", "reception", "auditor"}


def field_permissions(role_key: str) -> set[tuple[str, str]]:
    wanted = set()
    for spec in FIELDS.values():
        level = spec.defaults.get(role_key, HIDE)
        view = FIELD_PREFIX + spec.key
        if level in (MASK, READ, WRITE):
            wanted.add(("can_mask", view))
        if level in (READ, WRITE):
            wanted.add(("can_read", view))
        if level == WRITE:
            wanted.add(("can_write", view))
        if role_key in spec.reveal:
            wanted.add(("can_reveal", view))
        if role_key in spec.enter:
            wanted.add(("can_enter", view))
    if role_key in ALL_ROWS_ROLES:
        wanted.add((ALL_ROWS, CUSTOMERS))
    return wanted


def all_policy_permissions() -> set[tuple[str, str]]:
    pvms = {(ALL_ROWS, CUSTOMERS), *CAPACITIES.values()}
    for spec in FIELDS.values():
        for perm in ("can_mask", "can_read", "can_write", "can_reveal", "can_enter"):
            pvms.add((perm, FIELD_PREFIX + spec.key))
    return pvms


def _perms() -> frozenset:
    ctx = _cv_app.get(None)
    if ctx is None:  # outside an application: let current_app say so
        return current_app.appbuilder.sm.user_permissions(None)
    # The application context directly: a page asks for its levels hundreds of
    # times, and each LocalProxy hop (current_app, g) is four Python calls. The
    # answer is kept for the user object of this context (the security manager
    # keeps it per request too; this skips its lookups).
    known = ctx.g.__dict__
    user = known.get("user")
    cached = known.get("_kartoteka_perms_of")
    if cached is not None and cached[0] is user:
        return cached[1]
    perms = ctx.app.appbuilder.sm.user_permissions(user)
    if _cv_request.get(None) is not None:
        known["_kartoteka_perms_of"] = (user, perms)
    return perms


def current_permissions() -> frozenset:
    """The current user's (permission, view) pairs."""
    return _perms()


def field_level(key: str) -> str:
    return _field_level(_perms(), key)


def reads_every_field() -> bool:
    """Does the current user read every field rule's value in full (a subject's export holds them all)?"""
    return all(field_level(key) in (READ, WRITE) for key in FIELDS)


@lru_cache(maxsize=4096)
def _field_level(perms: frozenset, key: str) -> str:
    """The level a permission set gives on a field (a frozenset hashes once)."""
    view = FIELD_PREFIX + key
    for perm, level in (("can_write", WRITE), ("can_read", READ), ("can_mask", MASK)):
        if (perm, view) in perms:
            return level
    return HIDE


def column_level(model, column: str) -> str:
    """The current user's level for a column; columns without a rule are writable."""
    key = COLUMN_FIELDS.get((getattr(model, "__name__", model), column))
    return WRITE if key is None else field_level(key)


def column_readable(model, path: str) -> bool:
    """May the current user read the value at ``path`` of ``model`` («number», or
    through relations «customer.phone»): what a list may be filtered or sorted by.
    A filter or an order on a value the user sees masked or not at all answers by
    that value (bisection), so only a value the user reads may be one."""
    from sqlalchemy import inspect as sa_inspect

    *relations, column = path.split(".")
    for name in relations:
        relation = sa_inspect(model).relationships.get(name)
        if relation is None:
            return False  # not a relation of this model: nothing it may be asked by
        model = relation.mapper.class_
    return column_level(model, column) in (READ, WRITE)


def column_field(model, column: str) -> str | None:
    return COLUMN_FIELDS.get((getattr(model, "__name__", model), column))


def may_enter(key: str) -> bool:
    return ("can_enter", FIELD_PREFIX + key) in _perms()


def column_writable(model, column: str, new: bool) -> bool:
    """May the current user write ``column``: always where the level is write; on a
    new record also where the user may enter what they will see masked."""
    if column_level(model, column) == WRITE:
        return True
    key = column_field(model, column)
    return new and key is not None and may_enter(key)


def users_with(permission: tuple[str, str], user_model):
    """The SQL condition for users one of whose roles holds ``permission`` (directly
    or through a group): who is listed as a specialist, or as a manager."""
    from flask_appbuilder.security.sqla.models import (
        Permission,
        PermissionView,
        ViewMenu,
        assoc_group_role,
        assoc_permissionview_role,
        assoc_user_group,
        assoc_user_role,
    )
    from sqlalchemy import select, union

    roles = (
        select(assoc_permissionview_role.c.role_id)
        .join(PermissionView, PermissionView.id == assoc_permissionview_role.c.permission_view_id)
        .join(Permission, Permission.id == PermissionView.permission_id)
        .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)
        .where(Permission.name == permission[0], ViewMenu.name == permission[1])
    )
    users = union(
        select(assoc_user_role.c.user_id).where(assoc_user_role.c.role_id.in_(roles)),
        select(assoc_user_group.c.user_id)
        .join(assoc_group_role, assoc_group_role.c.group_id == assoc_user_group.c.group_id)
        .where(assoc_group_role.c.role_id.in_(roles)),
    )
    return user_model.id.in_(users)


def may_reveal(key: str) -> bool:
    return ("can_reveal", FIELD_PREFIX + key) in _perms()


def may(permission: str, resource: str) -> bool:
    return (permission, resource) in _perms()


def mask_value(value) -> str:
    """Keep the last digits only: ``+7 *** ***-45-67``, ``** ** ******67``; a date
    keeps its day, written as Russian dates are (``15.**.****``: ISO's ``****-**-15``
    read as a broken value on a card where every date is «15.03.1990»)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"{value.day:02d}.**.****"
    text = str(value)
    if text.startswith("+7") and len(text) == 12:
        return f"+7 *** ***-{text[-4:-2]}-{text[-2:]}"
    if "@" in text:
        name, _, domain = text.rpartition("@")  # the domain follows the last «@»
        return f"{name[:1]}***@{domain}"
    digits = sum(ch.isdigit() for ch in text)
    if digits >= 4:
        keep = 2
        out, seen = [], 0
        for ch in reversed(text):
            if ch.isdigit() and seen >= keep:
                out.append("*")
            else:
                out.append(ch)
            seen += ch.isdigit()
        return "".join(reversed(out))
    return "***"


# A customer's file of these categories is the value of a protected field: a role
# that does not see the field does not see the file (not listed, not in the API or
# exports), one that sees it masked sees the row but does not download it.
FILE_CATEGORY_FIELDS = {"identity": "document.number"}
# A file of these categories belongs to the resource: a medical document is medical
# history, opened by a role that reads the anamnesis (the front desk, the manager, the
# auditor and the system administrator never see medical history, DESIGN.md); the
# others list its row, as uploaded, without a link.
FILE_CATEGORY_RESOURCES = {"medical": ANAMNESIS}
# A file of these categories is opened by the roles given the capacity (filled in with
# the files' rights below): a photo of a face is personal data that names the person
# by itself, seen by who treats them and by the manager.
FILE_CATEGORY_CAPACITIES: dict[str, tuple[str, str]] = {}


def file_category_readable(category) -> bool:
    """May the current user open (download) a file of ``category``?"""
    value = getattr(category, "value", category)
    key = FILE_CATEGORY_FIELDS.get(value)
    if key is not None and field_level(key) not in (READ, WRITE):
        return False
    capacity = FILE_CATEGORY_CAPACITIES.get(value)
    if capacity is not None and not may(*capacity):
        return False
    resource = FILE_CATEGORY_RESOURCES.get(value)
    return resource is None or may("can_read", resource)


def _file_scope(model):
    if getattr(model, "__tablename__", None) != "customer_file":
        return None
    hidden = [c for c, key in FILE_CATEGORY_FIELDS.items() if field_level(key) == HIDE]
    return model.category.not_in(hidden) if hidden else None


def row_scope(model):
    """The SQL condition limiting ``model`` rows for the current user, or None for all."""
    owner, kind = _owner_scope(model), _file_scope(model)
    if owner is None or kind is None:
        return kind if owner is None else owner
    return owner & kind


def _owner_scope(model):
    from flask import g
    from sqlalchemy import select

    from .models import Customer, Order

    if may(ALL_ROWS, CUSTOMERS):
        return None
    user = g.get("user")
    uid = getattr(user, "id", None) or -1
    own_customers = select(Order.customer_id).where(Order.specialist_id == uid)
    if model is Customer:
        return Customer.id.in_(own_customers)
    if model is Order:
        return Order.specialist_id == uid
    columns = model.__table__.columns  # a column, not a property named so (a certificate operation's)
    if "customer_id" in columns:
        return model.customer_id.in_(own_customers)
    if "order_id" in columns:
        return model.order_id.in_(select(Order.id).where(Order.specialist_id == uid))
    return _scope_through(model)


def _scope_through(model, seen: frozenset = frozenset()):
    """A row of ``model`` that belongs to a customer through another record (a
    message's delivery attempt through its message) is the user's as that record
    is: left unscoped, a role given the resource in the roles screen read every
    customer's. None where no relation leads to a customer's record."""
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import select
    from sqlalchemy.orm import MANYTOONE

    for relation in sa_inspect(model).relationships:
        target = relation.mapper.class_
        if relation.direction is not MANYTOONE or target in seen or target is model:
            continue
        columns = target.__table__.columns
        if "customer_id" in columns or "order_id" in columns or target.__name__ in ("Customer", "Order"):
            inner = row_scope(target)
        else:
            inner = _scope_through(target, seen | {model})
        if inner is not None:
            local, remote = relation.local_remote_pairs[0]
            return local.in_(select(remote).where(inner))
    return None


def record_access(customer_id, action, field=None, detail=None) -> None:
    """Write a row of the personal-data access journal (in the caller's transaction)."""
    from flask import g, request

    from .extensions import db
    from .models import AccessLog

    user = g.get("user")
    db.session.add(
        AccessLog(
            user_id=getattr(user, "id", None),
            customer_id=customer_id,
            action=action,
            field=field,
            ip=request.remote_addr if request else None,
            user_agent=(request.user_agent.string or None) if request else None,
            detail=detail,
        )
    )


# ---------------------------------------------------------------------------
# The roles screen in words: FAB lists a role's permissions by their stored
# names («can mask on Field:customer.phone», «menu access on Journal»).
# ---------------------------------------------------------------------------

RESOURCE_LABELS = {
    CUSTOMERS: _l("Клиенты"),
    DOCUMENTS: _l("Документы"),
    ORDERS: _l("Заказы"),
    RETURNS: _l("Возвраты"),
    REVIEWS: _l("Отзывы"),
    NOTES: _l("Примечания"),
    ANAMNESIS: _l("Анамнез"),
    REFERENCE: _l("Справочники"),
    JOURNAL: _l("Журнал доступа"),
    HISTORY: _l("История изменений"),
    MESSAGES: _l("Сообщения"),
    TEMPLATES: _l("Шаблоны уведомлений"),
    SIGN_INS: _l("Сеансы и ограничения входа"),
    QUEUE: _l("Очередь уведомлений"),
}
PERMISSION_LABELS = {
    "can_read": _l("просмотр"),
    "can_write": _l("добавление и изменение"),
    "can_delete": _l("удаление"),
    "can_export": _l("выгрузка"),
    "can_status": _l("смена статуса"),
    "can_block": _l("блокировка и снятие блокировки"),
    "can_import": _l("загрузка из файла"),
    "can_serve": _l("ведёт приём (в списке «Специалист»)"),
    "can_manage": _l("ведёт клиентов (в списке «Менеджер»)"),
    ALL_ROWS: _l("все клиенты, а не только свои"),
}
FIELD_PERMISSION_LABELS = {
    "can_mask": _l("видит скрытым"),
    "can_read": _l("видит полностью"),
    "can_write": _l("видит и изменяет"),
    "can_reveal": _l("может показать скрытое (с записью в журнал)"),
    "can_enter": _l("вводит в новую запись, потом видит скрытым"),
}
# A field's levels include one another (see field_permissions): the strongest is said.
FIELD_LEVEL_PERMISSIONS = ("can_mask", "can_read", "can_write")


def permission_label(permission: str, view: str) -> tuple[tuple[int, int], str, str]:
    """(order, group, item) of one stored permission, in the user's language:
    (…, «Клиенты», «просмотр»), (…, «Поле «Телефон»», «видит скрытым…»)."""
    resources = list(RESOURCE_LABELS)
    if view in RESOURCE_LABELS and permission in PERMISSION_LABELS:
        order = (resources.index(view), list(PERMISSION_LABELS).index(permission))
        return order, str(RESOURCE_LABELS[view]), str(PERMISSION_LABELS[permission])
    spec = FIELDS.get(view[len(FIELD_PREFIX) :]) if view.startswith(FIELD_PREFIX) else None
    if spec is not None and permission in FIELD_PERMISSION_LABELS:
        order = (
            len(resources) + list(FIELDS).index(spec.key),
            list(FIELD_PERMISSION_LABELS).index(permission),
        )
        said = str(FIELD_PERMISSION_LABELS[permission])
        if permission == "can_mask" and spec.example is not None:  # each field's own mask
            said = gettext("видит скрытым (%(example)s)", example=mask_value(spec.example))
        return order, gettext("Поле «%(field)s»", field=spec.label), said
    rank = len(resources) + len(FIELDS)
    menu_labels, screens = _screens(current_app.appbuilder)
    if permission == "menu_access":
        return (rank, 0), gettext("Пункты меню"), str(menu_labels.get(view, view))
    if view in SELF_SERVICE_VIEWS or (permission, view) in SELF_SERVICE:
        return (rank + 1, 0), gettext("Свой профиль, пароль и язык"), _raw(permission, view)
    if view in screens:
        return (rank + 2, 0), gettext("Пользователи и роли"), _raw(permission, view)
    return (rank + 3, 0), gettext("Прочее"), _raw(permission, view)


# Flask-AppBuilder's own screens and what their permissions allow, in words (the
# role form listed «this form get · UserInfoEditView» and the like).
FAB_SCREEN_LABELS = {
    "UserDBModelView": _l("Пользователи"),
    "KartotekaRoleModelView": _l("Роли"),
    "RoleModelView": _l("Роли"),
    "UserGroupModelView": _l("Группы"),
    "UserStatsChartView": _l("Статистика входов"),
    "UserInfoEditView": _l("Свой профиль"),
    "ResetMyPasswordView": _l("Смена своего пароля"),
    "ResetPasswordView": _l("Смена пароля пользователя"),
    "MenuApi": _l("Меню"),
    "LocaleView": _l("Язык интерфейса"),
    "OpenApi": _l("Описание API (OpenAPI)"),
}
FAB_PERMISSION_WORDS = {
    "can_list": _l("список"),
    "can_show": _l("просмотр записи"),
    "can_add": _l("добавление"),
    "can_edit": _l("изменение"),
    "can_delete": _l("удаление"),
    "can_download": _l("скачивание"),
    "copyrole": _l("копирование роли"),
    "can_get": _l("чтение"),
    "can_index": _l("открыть"),
    "can_chart": _l("график"),
    "can_this_form_get": _l("открыть форму"),
    "can_this_form_post": _l("отправить форму"),
    "can_userinfo": _l("свой профиль"),
    "userinfoedit": _l("изменение своего профиля"),
    "resetmypassword": _l("смена своего пароля"),
    "resetpasswords": _l("смена пароля пользователя"),
    "can_end_my_sessions": _l("завершение своих сеансов"),
    "can_keep_alive": _l("продление своего сеанса, пока заполняется форма"),
    "end_sessions": _l("завершение сеансов пользователя"),
}


def _raw(permission: str, view: str) -> str:
    """A permission of FAB's own screens in words («Пользователи: список»), or, for
    one Kartoteka does not know, as FAB names it, minus «can»."""
    screen, word = FAB_SCREEN_LABELS.get(view), FAB_PERMISSION_WORDS.get(permission)
    if screen is not None and word is not None:
        return f"{screen}: {word}"
    return f"{permission.removeprefix('can_').replace('_', ' ')} · {view}"


@lru_cache(maxsize=8)
def _screens(appbuilder) -> tuple[dict[str, object], frozenset[str]]:
    """The menu's labels by item name and the security screens of the current app
    (``appbuilder``, the cache's key), read once: the roles screen labels a few
    hundred permissions a page."""
    labels = {}
    for category in appbuilder.menu.get_list():
        labels[category.name] = category.label or category.name
        for item in category.childs:
            labels[item.name] = item.label or item.name
    return labels, frozenset(security_views())


def describe_permissions(permission_views) -> dict[str, list[str]]:
    """A role's permissions grouped in words, groups in the matrix's order: a
    field says its strongest level only, and the profile, password and language
    that every role has are one «да»."""
    pairs = {(pv.permission.name, pv.view_menu.name) for pv in permission_views}
    weaker = {
        (weak, view)
        for perm, view in pairs
        if view.startswith(FIELD_PREFIX) and perm in FIELD_LEVEL_PERMISSIONS
        for weak in FIELD_LEVEL_PERMISSIONS[: FIELD_LEVEL_PERMISSIONS.index(perm)]
    }
    labelled = sorted(permission_label(perm, view) for perm, view in pairs - weaker)
    groups: dict[str, list[str]] = {}
    profile = gettext("Свой профиль, пароль и язык")
    for _order, group, item in labelled:
        if group == profile:
            groups[group] = [gettext("да")]
        else:
            groups.setdefault(group, []).append(item)
    return groups


def journal_detail(text: str | None) -> str:
    """A journal row's detail in the reader's language, saying what its number is.
    Stored in one language, as codes:

    - «Customers: 300»: how many records a restricted list showed or an export wrote,
      shown «Клиенты: 300 записей»;
    - «SubjectRequests #5» («Anamnesis #5», its medical part): the download of subject
      request № 5's export (:func:`request_detail`; it was stored «Anamnesis: 5» and
      read as five records of the anamnesis);
    - «12: pdf»: the download of file № 12, a PDF."""
    text = text or ""
    found = re.fullmatch(r"(\w+): (\d+)", text)
    if found is not None and found[1] in RESOURCE_LABELS:
        rows = ngettext("%(num)d запись", "%(num)d записей", int(found[2]))
        return f"{RESOURCE_LABELS[found[1]]}: {rows}"
    found = re.fullmatch(r"(\w+) #(\d+)", text)
    if found is not None and found[1] == ANAMNESIS:
        return gettext("Медицинская часть выгрузки по запросу субъекта № %(id)s", id=found[2])
    if found is not None and found[1] == SUBJECTS:
        return gettext("Выгрузка данных по запросу субъекта № %(id)s", id=found[2])
    found = re.fullmatch(r"(\d+): (\w+)", text)
    if found is not None:
        return gettext("Файл № %(id)s (%(kind)s)", id=found[1], kind=found[2])
    return text


def request_detail(request_id: int, medical: bool = False) -> str:
    """The journal's detail of a subject export's download (its medical part with
    ``medical``): the request's number, which :func:`journal_detail` never reads as a count."""
    return f"{ANAMNESIS if medical else SUBJECTS} #{request_id}"


# ---------------------------------------------------------------------------
# The customer's money (issue 18): payments, and the deposit and bonus accounts.
# Taking a payment and topping up a deposit (selling) is the front desk's; giving
# money back (reversing a payment) and adjusting a balance is the manager's; the
# auditor reads it all; the specialist and the system administrator none of it.
# A payment is never edited or deleted, by any role: its screen has no such route.
# ---------------------------------------------------------------------------

PAYMENTS = "Payments"
ACCOUNTS = "Accounts"
REFUND = ("can_refund", PAYMENTS)  # reverse a payment (a return's refund is the return's «Деньги возвращены»)
ADJUST = ("can_adjust", ACCOUNTS)  # refund to a deposit, write off, accrue bonuses by hand
CAPACITIES["refund"] = REFUND
CAPACITIES["adjust"] = ADJUST
METHOD_PERMISSIONS["reverse"] = METHOD_PERMISSIONS["reverse_payment"] = "refund"
for _role, _levels in {
    "manager": {PAYMENTS: WRITE, ACCOUNTS: WRITE},
    "reception": {PAYMENTS: WRITE, ACCOUNTS: WRITE},
    "auditor": {PAYMENTS: READ, ACCOUNTS: READ},
}.items():
    ROLES[_role].resources.update(_levels)
ROLES["manager"] = RoleSpec(
    **{**vars(ROLES["manager"]), "capacities": ROLES["manager"].capacities | {"refund", "adjust"}}
)
RESOURCE_LABELS[PAYMENTS] = _l("Платежи")
RESOURCE_LABELS[ACCOUNTS] = _l("Счета клиентов (депозит, бонусы)")
PERMISSION_LABELS["can_refund"] = _l("сторно платежей")
PERMISSION_LABELS["can_adjust"] = _l("изменение остатков счетов")


def may_refund() -> bool:
    return may(*REFUND)


def may_adjust() -> bool:
    return may(*ADJUST)


# Personal data (issue 19): the customer's files. Reading the list is «Файлы: просмотр»;
# downloading a file is a right of its own («скачивание»), not the auditor's by
# default and never the system administrator's (app/files.py refuses them whatever
# their role was given), and a specialist's within their own customers only.
# ---------------------------------------------------------------------------

FILES = "Files"
DOWNLOAD = ("can_download", FILES)
CAPACITIES["download_files"] = DOWNLOAD
METHOD_PERMISSIONS["fetch"] = "download"
# the files list's «Отметить как …» (app/admin/files.py category_action): what a file is, as its form
for _category in ("identity", "medical", "consent", "photo", "other"):
    METHOD_PERMISSIONS[f"category_{_category}"] = "write"
# a file is added from the card the role reads: «Файлы: изменение», or a photo with
# «добавление фото» (app/files.py upload_categories)
METHOD_PERMISSIONS["upload"] = "read"
# Before/after photos (a face, a body) are personal data that identify the customer by
# themselves, taken and compared by the specialist who treats them: the specialist adds
# them from the card of their own customers (a photo, nothing else: the files' kinds and
# the other files stay the front desk's and the manager's) and opens them; so does the
# manager, who answers a complaint about a result. The front desk, who uploads a photo
# sent to the clinic's phone, and the auditor list its row without a link (the auditor
# exports only the journals, never a file's content). Both are rights of their own, so an
# upgraded installation's specialists and managers get them with the category.
PHOTOS = ("can_see_photos", FILES)
ADD_PHOTOS = ("can_add_photos", FILES)
CAPACITIES["photos"] = PHOTOS
CAPACITIES["add_photos"] = ADD_PHOTOS
FILE_CATEGORY_CAPACITIES["photo"] = PHOTOS
ROLES["manager"].resources[FILES] = WRITE
ROLES["reception"].resources[FILES] = WRITE
ROLES["doctor"].resources[FILES] = READ
ROLES["auditor"].resources[FILES] = READ
for _key, _given in (
    ("manager", {"download_files", "photos"}),
    ("reception", {"download_files"}),
    ("doctor", {"download_files", "photos", "add_photos"}),
):
    ROLES[_key] = RoleSpec(**{**ROLES[_key].__dict__, "capacities": ROLES[_key].capacities | _given})
RESOURCE_LABELS[FILES] = _l("Файлы")
PERMISSION_LABELS["can_download"] = _l("скачивание файлов")
PERMISSION_LABELS["can_see_photos"] = _l("просмотр фото клиентов")
PERMISSION_LABELS["can_add_photos"] = _l("добавление фото")
# The tabs whose opening is a row of the access journal (besides the card itself).
RESTRICTED_TABS = {"documents", "anamnesis", "files"}


def journal(customer_id, action, field=None, detail=None) -> None:
    """A row of the access journal, written with the others of this request in one
    INSERT at its end (app/admin/journal.py), in the request's transaction."""
    from flask import g

    rows = g.setdefault("kartoteka_journal", [])
    rows.append({"customer_id": customer_id, "action": action, "field": field, "detail": detail})


TAB_LABELS = {"documents": _l("Документы"), "anamnesis": _l("Анамнез"), "files": _l("Файлы")}


def journal_field(key):
    """The journal's «Поле» column in words: a field under a rule, or a card's tab."""
    if key in FIELDS:
        return FIELDS[key].label
    return TAB_LABELS.get(key, key)


# Consents to processing (issue 19): a ledger the front desk and the manager add to
# (never edit), the specialist and the auditor read; the texts' versions are reference
# data (a new wording is a new version, written by the manager or the administrator).
PROCESSING = "ProcessingConsents"
ROLES["manager"].resources[PROCESSING] = WRITE
ROLES["reception"].resources[PROCESSING] = WRITE
ROLES["doctor"].resources[PROCESSING] = READ
ROLES["auditor"].resources[PROCESSING] = READ
RESOURCE_LABELS[PROCESSING] = _l("Согласия на обработку")
METHOD_PERMISSIONS["add_consent"] = "read"  # on the card; the route checks write on the ledger


# Subject requests (issue 19): the manager starts an export or an erasure from the card;
# the auditor reads the requests and the acts.
SUBJECTS = "SubjectRequests"
ROLES["manager"].resources[SUBJECTS] = WRITE
ROLES["auditor"].resources[SUBJECTS] = READ
RESOURCE_LABELS[SUBJECTS] = _l("Запросы субъектов ПД")
METHOD_PERMISSIONS["subject_export"] = "read"  # on the card; the route checks write on SUBJECTS
METHOD_PERMISSIONS["subject_erase"] = "read"
METHOD_PERMISSIONS["fetch_export"] = "read"
# the export's medical part: the route checks read on ANAMNESIS (the manager never has it)
METHOD_PERMISSIONS["fetch_medical_export"] = "read"


# The restricted screens whose every opening is journaled: their resource -> the tab key.
JOURNALED = {DOCUMENTS: "documents", ANAMNESIS: "anamnesis", FILES: "files"}
# Erasing the customers past the retention period, in bulk from the list: the manager's.
ERASE = ("can_erase", CUSTOMERS)
CAPACITIES["erase"] = ERASE
METHOD_PERMISSIONS["erase_expired"] = "erase"
ROLES["manager"] = RoleSpec(
    **{**ROLES["manager"].__dict__, "capacities": ROLES["manager"].capacities | {"erase"}}
)
PERMISSION_LABELS["can_erase"] = _l("уничтожение данных клиентов с истёкшим сроком хранения")


# Certificates and subscriptions (issue 18, item 4): their kinds are reference data
# (the administrator's and the manager's, REFERENCE); selling one is the front desk's
# and the manager's own right («продажа»), reading the sold ones the auditor's too;
# the specialist and the system administrator see none of them. A sold certificate is
# never edited or deleted: its screen has no such route.
CERTIFICATES = "Certificates"
SELL = ("can_sell", CERTIFICATES)
CAPACITIES["sell"] = SELL
ROLES["manager"].resources[CERTIFICATES] = WRITE
ROLES["reception"].resources[CERTIFICATES] = WRITE
ROLES["auditor"].resources[CERTIFICATES] = READ
for _key in ("manager", "reception"):
    ROLES[_key] = RoleSpec(**{**ROLES[_key].__dict__, "capacities": ROLES[_key].capacities | {"sell"}})
RESOURCE_LABELS[CERTIFICATES] = _l("Сертификаты и абонементы")
PERMISSION_LABELS["can_sell"] = _l("продажа сертификатов и абонементов")


def may_sell() -> bool:
    return may(*SELL)


# Passing a sold one to another customer (a present: the friend it was bought for) is
# the seller's: a role that may not sell certificates may not give them away.
METHOD_PERMISSIONS["give_certificate"] = METHOD_PERMISSIONS["give_sold"] = "sell"  # the form, the action


# Cancelling a sold certificate or subscription refunds what was left of it to the
# customer's deposit: giving money back is the manager's, as a payment's reversal is.
CANCEL = ("can_cancel", CERTIFICATES)
CAPACITIES["cancel_certificates"] = CANCEL
METHOD_PERMISSIONS["cancel_certificate"] = METHOD_PERMISSIONS["cancel_sold"] = (
    "cancel"  # the form, the action
)
ROLES["manager"] = RoleSpec(
    **{**ROLES["manager"].__dict__, "capacities": ROLES["manager"].capacities | {"cancel_certificates"}}
)
PERMISSION_LABELS["can_cancel"] = _l("аннулирование сертификатов и абонементов с возвратом остатка")


def may_cancel() -> bool:
    return may(*CANCEL)


# The customer's money, second part (issue 18): a discount given by hand on an order
# (the booking form's «Скидка вручную, %») is the manager's right; the receptionist books
# at the discount the rule gives. Moving a deposit to another customer's (a relative's)
# is writing on the accounts: the front desk does it at the customer's request.
DISCOUNT = ("can_discount", ORDERS)
CAPACITIES["discount"] = DISCOUNT
METHOD_PERMISSIONS["transfer"] = "write"
ROLES["manager"] = RoleSpec(
    **{**ROLES["manager"].__dict__, "capacities": ROLES["manager"].capacities | {"discount"}}
)
PERMISSION_LABELS["can_discount"] = _l("скидка на заказ вручную")


def may_discount() -> bool:
    return may(*DISCOUNT)
