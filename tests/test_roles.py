"""Every role that exists is in the matrix, FAB's own included; the README's
production path makes the clinic's «Администратор системы»."""

from __future__ import annotations

from app import access
from app.models import Customer
from tests import factories
from tests.conftest import Auth

NEW_ADMIN = "first-admin"
NEW_PASSWORD = "первый-администратор-клиники"


def test_every_role_in_the_database_is_in_the_matrix(app, ctx):
    sm = app.appbuilder.sm
    names = {role.name for role in sm.get_all_roles()}
    assert names == access.matrix_role_names()
    assert sm.find_role(access.PUBLIC.name).permissions == []


def test_create_admin_makes_the_clinics_system_administrator(app, ctx, client):
    """`flask fab create-admin` gave FAB's «Admin»: 0 customers visible, yet write
    rights on documents and anamnesis."""
    factories.customer(ctx)
    ctx.commit()
    sm = app.appbuilder.sm
    from flask_appbuilder.cli import create_admin

    result = app.test_cli_runner().invoke(
        create_admin,
        ["--username", NEW_ADMIN, "--firstname", "Первый", "--lastname", "Админ"]
        + ["--email", "first@clinic.example", "--password", NEW_PASSWORD],
    )
    try:
        assert result.exit_code == 0, result.output
        user = sm.find_user(username=NEW_ADMIN)
        assert [role.name for role in user.roles] == [access.ROLES["sysadmin"].name]
        Auth(client).login(NEW_ADMIN, NEW_PASSWORD)
        listing = client.get("/customerview/list/")
        assert listing.status_code == 200
        customer = ctx.query(Customer).one()
        assert customer.last_name in listing.get_data(as_text=True)
        assert client.get("/medicalrecordview/list/").status_code == 403
        assert client.get("/customerdocumentview/list/").status_code == 403
    finally:
        ctx.rollback()
        user = sm.find_user(username=NEW_ADMIN)
        if user is not None:
            ctx.delete(user)
            ctx.commit()


def test_fabs_former_admin_role_is_retired_into_the_matrix(app, ctx):
    """An install made before this version has «Admin» with every permission;
    its users become system administrators and the role goes."""
    sm = app.appbuilder.sm
    legacy = sm.add_role(access.LEGACY_ADMIN)
    legacy.permissions = sm.session.query(sm.permissionview_model).all()
    user = sm.add_user(
        "legacy-admin", "Старый", "Админ", "legacy@clinic.example", [legacy], password=NEW_PASSWORD
    )
    ctx.commit()
    try:
        access.sync_roles()
        ctx.expire_all()
        assert sm.find_role(access.LEGACY_ADMIN) is None
        assert [role.name for role in sm.find_user(username="legacy-admin").roles] == [
            access.ROLES["sysadmin"].name
        ]
    finally:
        ctx.delete(sm.find_user(username="legacy-admin"))
        ctx.commit()
        del user
