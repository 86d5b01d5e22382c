"""Bulk and single-record actions answered as every other route is: a role without the
action's permission gets 403, an action the view does not have 404.

Flask-AppBuilder's ``action``/``action_post`` answered an unknown name with a 500
(``None.func``) and a refused one with a redirect to the start page and its English
«Access is Denied» (a receptionist's bulk «Заблокировать» landed on «/»). It also read
the ticked records by their ids alone, past the view's row scope: a role limited to its
own customers, given an action on the roles screen, ran it on anyone's by the id in the
form. The records are read through the view's base filters (its row scope), and one
outside them answers 404, as its page does. Mixed into every model view Kartoteka
registers, the security screens included."""

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

    def _scoped_item(self, pk):
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        return item

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        found = self._runnable_action(name)
        if not self.is_get_mutation_allowed():
            return super().action(name, pk)  # FAB's refusal of an action by a GET
        return found.func(self._scoped_item(pk))

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        found = self._runnable_action(request.form.get("action"))
        return found.func([self._scoped_item(pk) for pk in request.form.getlist("rowid")])
