"""What a save does besides storing: the page it lands on and the history it writes."""

from __future__ import annotations

from app import access, audit
from app.models import ChangeLog
from tests import factories
from tests.conftest import user_id
from tests.html_forms import form_fields
from tests.test_access import seed


def editable_tracked_views(app):
    """Every registered view whose records the change history tracks and that has an edit form."""
    from app.views import KartotekaModelView

    for view in app.appbuilder.baseviews:
        if (
            isinstance(view, KartotekaModelView)
            and view.datamodel.obj in audit.TRACKED
            and "edit" not in view.exclude_route_methods
            and "can_write" in view.base_permissions
        ):
            yield view


def writer(resource):
    return next(key for key, spec in access.ROLES.items() if spec.resources.get(resource) == access.WRITE)


def test_an_edit_that_changes_nothing_writes_no_history(app, ctx, login_as):
    """Saving a form as it was opened wrote «Город: — → (пусто)» and the like for
    every blank field (None became "")."""
    customer = seed(ctx)
    factories.order(ctx, customer, specialist_id=user_id(app, "doctor"))  # in every role's scope
    checked = []
    for view in editable_tracked_views(app):
        row = ctx.query(view.datamodel.obj).order_by(view.datamodel.obj.id).first()
        client = login_as(writer(view.class_permission_name))
        page = client.get(f"{view.route_base}/edit/{row.id}")
        assert page.status_code == 200, view.route_base
        before = ctx.query(ChangeLog).filter_by(action="update").count()
        saved = client.post(f"{view.route_base}/edit/{row.id}", data=form_fields(page.get_data(as_text=True)))
        assert saved.status_code == 302, (view.route_base, saved.get_data(as_text=True)[:3000])
        ctx.expire_all()
        written = [
            (c.entity, c.field, c.old_value, c.new_value)
            for c in ctx.query(ChangeLog).filter_by(action="update")
        ]
        assert len(written) == before, (view.route_base, written)
        checked.append(view.route_base)
    assert len(checked) >= 7, checked


def test_a_real_change_is_still_written_once(ctx, login_as):
    customer = seed(ctx)
    client = login_as("manager")
    data = form_fields(client.get(f"/customerview/edit/{customer.id}").get_data(as_text=True))
    data["city"] = "Тула"
    assert client.post(f"/customerview/edit/{customer.id}", data=data).status_code == 302
    ctx.expire_all()
    changes = [(c.field, c.old_value, c.new_value) for c in ctx.query(ChangeLog).filter_by(action="update")]
    assert changes == [("city", None, "Тула")]
