"""Bulk and single-record actions answered as every other route is: a role without the
action's permission gets 403, an action the view does not have 404.

Flask-AppBuilder's ``action``/``action_post`` answered an unknown name with a 500
(``None.func``) and a refused one with a redirect to the start page and its English
«Access is Denied» (a receptionist's bulk «Заблокировать» landed on «/»). Mixed into
every model view Kartoteka registers, the security screens included."""

from __future__ import annotations

from flask import abort, request
from flask_appbuilder import expose


class GuardedActions:
    def _runnable_action(self, name):
        found = self.actions.get(name or "")
        if found is None:
            abort(404)
        if not self.appbuilder.sm.has_access(
            self.get_action_permission_name(name), self.class_permission_name
        ):
            abort(403)
        return found

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        self._runnable_action(name)
        return super().action(name, pk)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        self._runnable_action(request.form.get("action"))
        return super().action_post()
