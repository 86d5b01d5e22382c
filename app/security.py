"""Kartoteka's security manager.

FAB asks the database once per permission check (one EXISTS per menu item and
row button). We load the user's whole permission set once per request and
answer every check from it; a permission changed in the UI takes effect on the
user's next request.
"""

from __future__ import annotations

from flask import g, has_request_context
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    Permission,
    PermissionView,
    ViewMenu,
    assoc_permissionview_role,
)
from sqlalchemy import select


class KartotekaSecurityManager(SecurityManager):
    def user_permissions(self, user) -> frozenset[tuple[str, str]]:
        """(permission, view) pairs of the user's roles, loaded once per request."""
        cache_key = ("_kartoteka_perms", getattr(user, "id", None))
        if has_request_context():
            cached = g.get("_kartoteka_perm_cache")
            if cached is not None and cached[0] == cache_key:
                return cached[1]
        if user is None or not getattr(user, "is_authenticated", False):
            roles = [self.get_public_role()]
        else:
            roles = self.get_user_roles(user)
        role_ids = [role.id for role in roles if role is not None]
        stmt = (
            select(Permission.name, ViewMenu.name)
            .join(PermissionView, PermissionView.permission_id == Permission.id)
            .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
            .join(
                assoc_permissionview_role,
                assoc_permissionview_role.c.permission_view_id == PermissionView.id,
            )
            .where(assoc_permissionview_role.c.role_id.in_(role_ids))
        )
        perms = frozenset(tuple(row) for row in self.session.execute(stmt))
        if has_request_context():
            g._kartoteka_perm_cache = (cache_key, perms)
        return perms

    def _has_view_access(self, user, permission_name: str, view_name: str) -> bool:
        return (permission_name, view_name) in self.user_permissions(user)

    def is_item_public(self, permission_name, view_name):
        return (permission_name, view_name) in self.user_permissions(None)

    def _get_user_permission_view_menus(self, user, permission_name, view_menus_name):
        perms = self.user_permissions(user)
        return {v for v in view_menus_name if (permission_name, v) in perms}
