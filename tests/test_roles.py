"""Every role that exists is in the matrix, FAB's own included; the README's
production path makes the clinic's «Администратор системы»."""

from __future__ import annotations

import pytest

from app import access
from app.models import Customer
from tests import factories, matrix
from tests.conftest import Auth, count_queries

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
    auditor = sm.find_role(matrix.NAMES["auditor"])
    both = sm.add_user(
        "legacy-both",
        "Старый",
        "Аудитор",
        "both@clinic.example",
        [sm.find_role(matrix.NAMES["sysadmin"]), legacy],
        password=NEW_PASSWORD,
    )
    group = sm.add_group("Старые админы", "Старые админы", "", [auditor, legacy])
    ctx.commit()
    try:
        access.sync_roles()
        ctx.expire_all()
        assert sm.find_role(access.LEGACY_ADMIN) is None
        assert [role.name for role in sm.find_user(username="legacy-admin").roles] == [
            matrix.NAMES["sysadmin"]
        ]
        assert [role.name for role in sm.find_user(username="legacy-both").roles] == [
            matrix.NAMES["sysadmin"]
        ]
        assert sorted(role.name for role in sm.find_group("Старые админы").roles) == sorted(
            [matrix.NAMES["auditor"], matrix.NAMES["sysadmin"]]
        )
        auditors = [u.username for u in sm.get_all_users() if auditor in u.roles]
        assert auditors == ["auditor"]  # nobody else became an auditor
    finally:
        ctx.rollback()
        for name in ("legacy-admin", "legacy-both"):
            ctx.delete(sm.find_user(username=name))
        ctx.delete(sm.find_group("Старые админы"))
        ctx.commit()
        del user, both, group


# -- the default matrix, against the rights pinned by hand in tests/matrix.py --------


def kartoteka_views(app):
    """Kartoteka's own screens and APIs (FAB's security screens aside), from the app."""
    return [
        view
        for view in app.appbuilder.baseviews
        if type(view).__module__.startswith("app.") and not access.is_security_view(view)
    ]


def held(app, role_key) -> set[tuple[str, str]]:
    sm = app.appbuilder.sm
    role = sm.find_role(matrix.NAMES[role_key])
    assert role is not None, f"no role named {matrix.NAMES[role_key]!r}"
    return {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}


def resource_level(perms, resource) -> str:
    if ("can_write", resource) in perms:
        return matrix.W
    return matrix.R if ("can_read", resource) in perms else matrix.N


def field_level(perms, key) -> str:
    view = "Field:" + key
    for perm, level in (("can_write", matrix.W), ("can_read", matrix.R), ("can_mask", matrix.MASK)):
        if (perm, view) in perms:
            return level
    return matrix.HIDE


SELF_SERVICE = {
    ("can_get", "OpenApi"),
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("userinfoedit", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("can_this_form_get", "UserInfoEditView"),
}


def menu_readable(role_key, view) -> bool:
    if access.is_security_view(view):
        return role_key in matrix.SECURITY
    return matrix.reads(role_key, view.class_permission_name)


ACTION_PERMISSIONS = {
    "can_delete": "delete",
    "can_export": "export",
    "can_status": "status",
    "can_block": "block",
}


@pytest.mark.parametrize(
    "reset", [False, "restart", True], ids=["as-started", "after-restart", "after-reset"]
)
def test_the_default_roles_hold_exactly_the_pinned_rights(app, ctx, reset):
    """Every resource a Kartoteka view declares, every field rule, every action, the
    row scope and the «listed as» capacities, as each role holds them in the
    database (what sync_roles seeded; `flask kartoteka roles --reset` gives the
    same), against the table written by hand from DESIGN.md and the README."""
    sm = app.appbuilder.sm
    if reset == "restart":  # what every start runs: nothing to create, nothing reset
        assert access.sync_roles() == []
        ctx.expire_all()
    elif reset:
        public = sm.find_role("Public")
        public.permissions = [sm.find_permission_view_menu("can_read", "Customers")]  # someone's slip
        sm.session.commit()
        assert access.sync_roles(reset=True) == ["Public", *(matrix.NAMES[k] for k in matrix.ROLE_KEYS)]
        ctx.expire_all()
    assert sm.find_role("Public").permissions == []  # a visitor who has not signed in may nothing
    declared = {view.class_permission_name for view in kartoteka_views(app)} - matrix.EVERY_ROLE
    unpinned = declared - matrix.RESOURCES.keys()
    assert unpinned == set(), f"resources with no row in tests/matrix.py: {sorted(unpinned)}"
    rules = {vm.name[len("Field:") :] for vm in sm.get_all_view_menu() if vm.name.startswith("Field:")}
    assert rules == set(matrix.FIELDS), "field rules differ from those pinned in tests/matrix.py"
    wrong = []
    for role_key in matrix.ROLE_KEYS:
        perms = held(app, role_key)
        for resource in matrix.RESOURCES:
            if resource_level(perms, resource) != matrix.level(role_key, resource):
                wrong.append((role_key, resource, resource_level(perms, resource)))
        actions = {  # an own right (the auditor's export of the journals) is checked below
            ACTION_PERMISSIONS[perm]
            for perm, view in perms
            if perm in ACTION_PERMISSIONS and (perm, view) not in matrix.OWN_RIGHTS
        }
        if actions != matrix.ACTIONS[role_key]:
            wrong.append((role_key, "actions", sorted(actions)))
        if matrix.writes(role_key, "Customers"):
            on_customers = {name for perm, name in ACTION_PERMISSIONS.items() if (perm, "Customers") in perms}
            if on_customers != matrix.ACTIONS[role_key]:
                wrong.append((role_key, "actions on Customers", sorted(on_customers)))
        for key in matrix.FIELDS:
            if field_level(perms, key) != matrix.field_level(role_key, key):
                wrong.append((role_key, key, field_level(perms, key)))
            if (("can_reveal", "Field:" + key) in perms) != (role_key in matrix.REVEAL[key]):
                wrong.append((role_key, key, "reveal"))
            if (("can_enter", "Field:" + key) in perms) != (role_key in matrix.ENTER.get(key, ())):
                wrong.append((role_key, key, "enter"))
        if (("can_all_rows", "Customers") in perms) != (role_key in matrix.ALL_ROWS):
            wrong.append((role_key, "all rows"))
        listed = {"manager": ("can_manage", "Customers"), "specialist": ("can_serve", "Orders")}
        for capacity, pair in listed.items():
            if (pair in perms) != (matrix.LISTED_AS.get(role_key) == capacity):
                wrong.append((role_key, "listed as", capacity))
        for pair, holders in matrix.OWN_RIGHTS.items():
            if (pair in perms) != (role_key in holders):
                wrong.append((role_key, "own right", pair))
        if (("can_list", "UserDBModelView") in perms) != (role_key in matrix.SECURITY):
            wrong.append((role_key, "users screen"))
        if (("can_list", "KartotekaRoleModelView") in perms) != (role_key in matrix.SECURITY):
            wrong.append((role_key, "roles screen"))
        # every signed-in user: their profile, password, language, the API's document
        for pair in SELF_SERVICE:
            if pair not in perms:
                wrong.append((role_key, "self-service", pair))
        # a menu item shows where the role reads its screen, a category where it reads any item
        for category in app.appbuilder.menu.get_list():
            items = [i for i in category.childs if i.name != "-" and i.baseview is not None]
            seen = [menu_readable(role_key, i.baseview) for i in items]
            for item, shown in zip(items, seen, strict=True):
                if (("menu_access", item.name) in perms) != shown:
                    wrong.append((role_key, "menu", item.name))
            if items and (("menu_access", category.name) in perms) != any(seen):
                wrong.append((role_key, "menu category", category.name))
    assert wrong == []
    assert {role.name for role in sm.get_all_roles()} == {*matrix.NAMES.values(), "Public"}


def entry_addresses(app, view) -> list[str]:
    """A view's addresses that take no argument: its list, the API's collection, a screen's index."""
    name = type(view).__name__
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".", 1)[0] != name or rule.arguments or "GET" not in rule.methods:
            continue
        if rule.endpoint.rsplit(".", 1)[1] in ("list", "get_list", "index"):
            found.append(rule.rule)
    return found


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_every_screen_and_api_answers_each_role_as_pinned(app, ctx, login_as, role_key):
    """Generated from the registered views (a screen added later is walked without
    editing this test), answered from the pinned table: 200 where the role reads
    the view's resource, 403 (or the login page) where it does not. A resource the
    table does not name fails."""
    client = login_as(role_key)
    walked, wrong = 0, []
    for view in kartoteka_views(app):
        resource = view.class_permission_name
        if resource in matrix.EVERY_ROLE:
            continue
        allowed = matrix.reads(role_key, resource)
        for url in entry_addresses(app, view):
            response = client.get(url)
            walked += 1
            refused = response.status_code == 403 or (
                response.status_code == 302 and "/login" in response.headers["Location"]
            )
            if (response.status_code == 200) != allowed or (not allowed and not refused):
                wrong.append((url, resource, response.status_code))
    assert walked >= 30
    assert wrong == []


def test_a_default_role_deleted_in_the_ui_comes_back_at_its_defaults(app, ctx):
    """The next start creates a default role that is missing (an administrator
    deleted «Аудитор») with the rights the matrix gives it, and says so."""
    sm = app.appbuilder.sm
    auditor = sm.find_user(username="auditor")
    auditor.roles = []
    role = sm.find_role(matrix.NAMES["auditor"])
    role.permissions = []
    ctx.delete(role)
    ctx.commit()
    try:
        assert access.sync_roles() == [matrix.NAMES["auditor"]]
        ctx.expire_all()
        perms = held(app, "auditor")
        assert {r: resource_level(perms, r) for r in matrix.RESOURCES} == {
            r: matrix.level("auditor", r) for r in matrix.RESOURCES
        }
        assert {k: field_level(perms, k) for k in matrix.FIELDS} == {
            k: matrix.field_level("auditor", k) for k in matrix.FIELDS
        }
    finally:
        sm.find_user(username="auditor").roles = [sm.find_role(matrix.NAMES["auditor"])]
        ctx.commit()
        access.sync_roles(reset=True)


def test_a_restart_keeps_an_administrators_removals_but_not_from_the_security_screens(app, ctx):
    """What an administrator took away stays away at the next start (the auditor's
    API document, the system administrator's «Заказы» menu item), except the system
    administrator's users-and-roles screens and their menu, which always come back
    (or nobody could undo a mistake)."""
    sm = app.appbuilder.sm
    sysadmin = sm.find_role(matrix.NAMES["sysadmin"])
    auditor = sm.find_role(matrix.NAMES["auditor"])
    removed = {
        sysadmin: [("menu_access", "List Users"), ("menu_access", "Security"), ("menu_access", "Orders")],
        auditor: [("can_get", "OpenApi")],
    }
    for role, pairs in removed.items():
        for pair in pairs:
            role.permissions.remove(sm.find_permission_view_menu(*pair))
    ctx.commit()
    try:
        assert access.sync_roles() == []
        ctx.expire_all()
        assert ("menu_access", "List Users") in held(app, "sysadmin")
        assert ("menu_access", "Security") in held(app, "sysadmin")
        assert ("menu_access", "Orders") not in held(app, "sysadmin")
        assert ("can_get", "OpenApi") not in held(app, "auditor")
    finally:
        access.sync_roles(reset=True)


def test_an_existing_auditor_gets_the_journals_export_on_upgrade(app, ctx):
    """A clinic installed before the auditor exported the journals keeps its roles on
    upgrade (an administrator may have edited them); the export, new in the version,
    reaches its auditor at the default level and nobody else."""
    sm = app.appbuilder.sm
    for resource in ("AccessJournal", "ChangeHistory"):  # as the version before left them
        pvm = sm.find_permission_view_menu("can_export", resource)
        for role in sm.get_all_roles():
            if pvm in role.permissions:
                sm.del_permission_role(role, pvm)
        sm.del_permission_view_menu("can_export", resource)
    assert access.sync_roles() == []
    ctx.expire_all()
    for role_key in matrix.ROLE_KEYS:
        perms = held(app, role_key)
        for resource in ("AccessJournal", "ChangeHistory"):
            assert (("can_export", resource) in perms) == (role_key == "auditor"), (role_key, resource)


@pytest.mark.parametrize("reset", [False, True], ids=["restart", "reset"])
def test_a_sync_of_roles_already_in_place_writes_nothing(app, ctx, reset):
    """`flask kartoteka init` at every deploy, `roles --reset`, and the suite's own
    clean-ups: with every permission and role already as the matrix says, a sync
    changes no row. It used to grant the administrator role every permission FAB
    registers and take them back (1,650 statements on a reset, ~1 s on PostgreSQL)."""
    sm = app.appbuilder.sm
    held = {role.name: sorted(pv.id for pv in role.permissions) for role in sm.get_all_roles()}
    with count_queries(app) as issued:
        access.sync_roles(reset=reset)
    writes = [s for s in issued if s.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []
    assert len(issued) < 100, len(issued)
    ctx.expire_all()
    assert {role.name: sorted(pv.id for pv in role.permissions) for role in sm.get_all_roles()} == held


def test_a_first_install_creates_the_permissions_in_one_go(app, tmp_path):
    """`flask kartoteka init` on a new database: every permission was looked up and
    committed one by one, and granted to the administrator role only to be taken back
    (2,600 statements, ~6 s on PostgreSQL). The roles it makes are the ones this
    suite's database got (and test_the_default_roles_hold_exactly_the_pinned_rights pins)."""
    from tests.test_backup import migrated_clinic

    def held(sm):
        return {
            role.name: {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}
            for role in sm.get_all_roles()
        }

    with app.app_context():
        expected = held(app.appbuilder.sm)
    with migrated_clinic(tmp_path, "roles") as fresh:
        with count_queries(fresh) as issued:
            created = access.sync_roles()
        assert sorted(created) == sorted(["Public", *(matrix.NAMES[k] for k in matrix.ROLE_KEYS)])
        assert len(issued) < 1000, len(issued)
        assert held(fresh.appbuilder.sm) == expected
