"""The signed-in user's permissions as one aggregated string column.

Stock FAB loads the user, their roles and each role's permissions as ORM
objects and asks the database once per check. Kartoteka packs every
(permission, view) pair of the user's roles into one string in the same
statement that loads the user (with the session's row: app/admin/sessions.py),
and answers every check of the request from it (app/admin/security.py).
"""

from __future__ import annotations

from functools import lru_cache

from flask_appbuilder.security.sqla.models import (
    Permission,
    PermissionView,
    ViewMenu,
    assoc_group_role,
    assoc_permissionview_role,
    assoc_user_group,
    assoc_user_role,
)
from sqlalchemy import func, select, union

_PAIR, _ITEM = "\x1e", "\x1f"  # separators no permission or view name contains


def permissions_of(user_id):
    """A scalar subquery: every (permission, view) of the roles of the user with id
    ``user_id`` (a bound parameter, not a correlation: nested in a UNION, a
    correlation is not applied and every user's roles would count), direct or
    through groups, packed into one string by the database."""
    role_ids = union(
        select(assoc_user_role.c.role_id).where(assoc_user_role.c.user_id == user_id),
        select(assoc_group_role.c.role_id)
        .join(assoc_user_group, assoc_user_group.c.group_id == assoc_group_role.c.group_id)
        .where(assoc_user_group.c.user_id == user_id),
    )
    packed = func.aggregate_strings(Permission.name + _PAIR + ViewMenu.name, _ITEM)
    return role_permissions(packed, role_ids=role_ids).scalar_subquery()


def role_permissions(*columns, role_ids):
    """SELECT ``columns`` over the (permission, view) pairs granted to ``role_ids``."""
    return (
        select(*columns)
        .select_from(PermissionView)
        .join(Permission, PermissionView.permission_id == Permission.id)
        .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
        .join(
            assoc_permissionview_role,
            assoc_permissionview_role.c.permission_view_id == PermissionView.id,
        )
        .where(assoc_permissionview_role.c.role_id.in_(role_ids))
    )


@lru_cache(maxsize=64)
def unpack(packed: str) -> frozenset[tuple[str, str]]:
    return frozenset(tuple(item.split(_PAIR, 1)) for item in packed.split(_ITEM) if item)
