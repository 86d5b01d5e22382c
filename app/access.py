"""The role matrix and the one access policy that reads it.

Every view and its API share a ``class_permission_name`` (a *resource* below)
and map their methods onto four permissions: ``can_read``, ``can_write``,
``can_delete`` and ``can_export``, plus named actions (``can_status``…).
The default matrix is seeded into FAB's roles by :func:`sync_roles`; an
administrator may then change a role in FAB's roles screen, and a restart does
not overwrite that change (``flask kartoteka roles --reset`` restores it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
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
    "change_status": "status",
    "status_active": "status",
    "status_verified": "status",
    "status_problem": "status",
    "status_blocked": "status",
}

# Actions beyond read/write: the FAB permission each one is stored as.
ACTIONS = {
    "delete": "can_delete",
    "export": "can_export",
    "status": "can_status",
}


@dataclass(frozen=True)
class RoleSpec:
    name: str
    label: object
    resources: dict[str, str]
    actions: frozenset[str] = field(default_factory=frozenset)
    security: bool = False  # manages users and roles


# The default matrix (DESIGN.md «Who uses it»).
ROLES: dict[str, RoleSpec] = {
    "sysadmin": RoleSpec(
        name="Администратор системы",
        label=_l("Администратор системы"),
        resources={CUSTOMERS: READ, ORDERS: READ, REFERENCE: WRITE},
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
        },
        actions=frozenset({"delete", "export", "status"}),
    ),
    "reception": RoleSpec(
        name="Администратор (ресепшн)",
        label=_l("Администратор (ресепшн)"),
        resources={
            CUSTOMERS: WRITE,
            ORDERS: WRITE,
            RETURNS: READ,
            REVIEWS: READ,
            NOTES: WRITE,
            REFERENCE: READ,
        },
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
        },
    ),
}

# Views every signed-in staff member needs: their own profile, password, language.
SELF_SERVICE_VIEWS = {"UserInfoEditView", "ResetMyPasswordView", "LocaleView"}


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
    for perm, view in all_pvms:
        if view in SELF_SERVICE_VIEWS:
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


def security_views() -> set[str]:
    appbuilder = current_app.appbuilder
    return {
        v.class_permission_name
        for v in appbuilder.baseviews
        if type(v).__module__.startswith("flask_appbuilder.security")
        and v.class_permission_name not in SELF_SERVICE_VIEWS
    }


def sync_roles(reset: bool = False) -> list[str]:
    """Create every permission and the default roles; idempotent.

    A role that already exists keeps the permissions an administrator gave it,
    unless ``reset`` is true. Returns the names of roles created or reset.
    """
    appbuilder = current_app.appbuilder
    sm = appbuilder.sm
    sm.add_role(sm.auth_role_admin)
    sm.add_role(sm.auth_role_public)
    appbuilder.add_permissions(update_perms=True)
    all_pvms = _all_pvms(sm)
    menu_resources = _menu_resources(appbuilder)
    touched = []
    for spec in ROLES.values():
        role = sm.find_role(spec.name)
        if role is not None and not reset:
            continue
        if role is None:
            role = sm.add_role(spec.name)
        wanted = role_permissions(spec, all_pvms, menu_resources)
        role.permissions = [sm.find_permission_view_menu(perm, view) for perm, view in sorted(wanted)]
        sm.session.commit()
        touched.append(spec.name)
    return touched


def _all_pvms(sm) -> set[tuple[str, str]]:
    return {(pv.permission.name, pv.view_menu.name) for pv in sm.session.query(sm.permissionview_model)}


def _menu_resources(appbuilder) -> dict[str, set[str]]:
    """Menu item or category name -> the resources that make it visible."""
    result: dict[str, set[str]] = {}

    def resource_of(view) -> str:
        if type(view).__module__.startswith("flask_appbuilder.security"):
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
