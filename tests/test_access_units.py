"""The access policy's functions one by one, as each default role (app/access.py):
what a masked value looks like, who may write, reveal or enter a field, whose rows a
role sees, who is listed as a specialist or a manager, what the roles screen and the
journal say. Expectations are written here by hand (tests/matrix.py for the levels);
these are the tests `make mutation` runs against app/access.py, so each is quick."""

from __future__ import annotations

import contextlib

import pytest
from flask import g

from app import access
from app.models import AccessLog, Customer, CustomerDocument, Note, Order, OrderItem
from tests import factories, matrix
from tests.conftest import user_id


@contextlib.contextmanager
def signed_in(app, role_key):
    """A request of ``role_key``'s user (None: a visitor who has not signed in)."""
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        sm = app.appbuilder.sm
        g.user = sm.load_user(user_id(app, role_key)) if role_key else None
        yield


@pytest.mark.parametrize(
    "value, shown",
    [
        (None, ""),
        ("", ""),
        ("+79161234567", "+7 *** ***-45-67"),
        ("anna.petrova@example.ru", "a***@example.ru"),
        ('"anna@home"@example.ru', '"***@example.ru'),  # a quoted name may hold an «@»: nothing of it shows
        ("4510 123456", "**** ****56"),
        ("770-001", "***-*01"),
        ("+7916", "+**16"),
        ("123", "***"),
        ("абв", "***"),
        (987654, "****54"),
    ],
)
def test_a_masked_value_keeps_only_its_last_digits(value, shown):
    assert access.mask_value(value) == shown


@pytest.mark.parametrize(
    "stored, shown",
    [
        ("Customers: 1", "Клиенты: 1 запись"),
        ("Orders: 3", "Заказы: 3 записи"),
        ("Customers: 300", "Клиенты: 300 записей"),
        ("Unknown: 3", "Unknown: 3"),
        ("Customers: три", "Customers: три"),
        ("x Customers: 3", "x Customers: 3"),
        ("", ""),
        (None, ""),
    ],
)
def test_the_journal_says_an_export_in_words(app, stored, shown):
    with app.test_request_context("/"):
        assert access.journal_detail(stored) == shown


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_field_levels_reveal_and_enter_follow_the_pinned_table(app, role_key):
    with signed_in(app, role_key):
        for key in matrix.FIELDS:
            assert access.field_level(key) == matrix.field_level(role_key, key), key
            assert access.may_reveal(key) == (role_key in matrix.REVEAL[key]), key
            assert access.may_enter(key) == (role_key in matrix.ENTER.get(key, ())), key
        phone = matrix.field_level(role_key, "customer.phone")
        assert access.column_level(Customer, "phone") == phone
        assert access.column_level("Customer", "phone_extra") == phone
        assert access.column_level(Customer, "city") == matrix.W  # no rule: the resource decides
        assert access.column_field(Customer, "bonus_balance") == "customer.balances"
        assert access.column_field(Customer, "city") is None
        assert (
            access.column_field("CustomerDocument", "number") == "document.number"
        )  # a model's name will do
        number = matrix.field_level(role_key, "document.number")
        enters = role_key in matrix.ENTER["document.number"]
        assert access.column_writable(CustomerDocument, "number", new=False) == (number == matrix.W)
        assert access.column_writable(CustomerDocument, "series", new=True) == (number == matrix.W or enters)
        assert access.column_writable(Customer, "city", new=False) is True
        assert access.column_writable(Customer, "email", new=True) == (
            matrix.field_level(role_key, "customer.email") == matrix.W
        )
        for resource in matrix.RESOURCES:
            assert access.may("can_read", resource) == matrix.reads(role_key, resource), resource
            assert access.may("can_write", resource) == matrix.writes(role_key, resource), resource


def test_a_visitor_who_has_not_signed_in_may_nothing(app):
    with signed_in(app, None):
        assert access.field_level("customer.phone") == access.HIDE
        assert not access.may("can_read", "Customers")
        assert not access.may_reveal("customer.phone") and not access.may_enter("document.number")


def test_field_levels_are_read_from_the_strongest_permission():
    view = access.FIELD_PREFIX + "customer.phone"
    assert access._field_level(frozenset(), "customer.phone") == access.HIDE
    assert access._field_level(frozenset({("can_mask", view)}), "customer.phone") == access.MASK
    assert access._field_level(frozenset({("can_read", view)}), "customer.phone") == access.READ
    every = frozenset({("can_mask", view), ("can_read", view), ("can_write", view)})
    assert access._field_level(every, "customer.phone") == access.WRITE
    assert (
        access._field_level(frozenset({("can_write", "Field:customer.email")}), "customer.phone")
        == access.HIDE
    )


def test_a_specialist_sees_the_rows_of_their_own_patients_only(app, ctx):
    own = factories.customer(ctx, last_name="Своя", phone="+79035550001")
    stranger = factories.customer(ctx, last_name="Чужая", phone="+79035550002")
    own_order = factories.order(ctx, own, specialist_id=user_id(app, "doctor"))
    factories.order(ctx, stranger, specialist_id=user_id(app, "manager"))
    ctx.add_all([Note(customer=own, text="своя"), Note(customer=stranger, text="чужая")])
    ctx.commit()
    with signed_in(app, "doctor"):
        scoped = {
            model: ctx.query(model).filter(access.row_scope(model)).all()
            for model in (Customer, Order, Note, OrderItem)
        }
        assert [c.id for c in scoped[Customer]] == [own.id]
        assert [o.id for o in scoped[Order]] == [own_order.id]
        assert [n.text for n in scoped[Note]] == ["своя"]
        assert {i.order_id for i in scoped[OrderItem]} == {own_order.id}
        from app.models import Branch

        assert access.row_scope(Branch) is None  # reference data has no owner
    for role_key in matrix.ALL_ROWS:
        with signed_in(app, role_key):
            assert access.row_scope(Customer) is None and access.row_scope(Order) is None
    first_user = min(u.id for u in app.appbuilder.sm.get_all_users())
    factories.order(ctx, stranger, specialist_id=first_user)
    with signed_in(app, None):  # nobody signed in: nobody's rows, not even the first user's
        assert ctx.query(Customer).filter(access.row_scope(Customer)).count() == 0
        assert ctx.query(Order).filter(access.row_scope(Order)).count() == 0


def test_specialists_and_managers_are_the_staff_whose_role_holds_the_capacity(app, ctx):
    sm = app.appbuilder.sm
    User = sm.user_model

    def listed(capacity):
        return {u.username for u in ctx.query(User).filter(access.users_with(capacity, User))}

    assert listed(access.SPECIALIST) == {k for k, v in matrix.LISTED_AS.items() if v == "specialist"}
    assert listed(access.MANAGER) == {k for k, v in matrix.LISTED_AS.items() if v == "manager"}
    # the capacity is the pair: «can_serve» on another resource lists nobody
    odd = sm.add_permission_view_menu("can_serve", "Customers")
    auditor = sm.find_role(matrix.NAMES["auditor"])
    auditor.permissions.append(odd)
    ctx.commit()
    try:
        assert listed(access.SPECIALIST) == {"doctor"}
    finally:
        auditor.permissions.remove(odd)
        ctx.delete(odd)
        ctx.commit()
    # a user whose group (not role) holds the capacity is listed too
    group = sm.add_group("Врачи филиала", "Врачи филиала", "", [sm.find_role(matrix.NAMES["doctor"])])
    sm.find_user(username="auditor").groups = [group]
    ctx.commit()
    try:
        assert listed(access.SPECIALIST) == {"doctor", "auditor"}
        assert listed(access.MANAGER) == {"manager"}
    finally:
        sm.find_user(username="auditor").groups = []
        ctx.delete(group)
        ctx.commit()


def test_an_access_is_journaled_with_who_whose_what_and_where(app, ctx):
    customer = factories.customer(ctx)
    with signed_in(app, "auditor"):
        access.record_access(customer.id, "reveal", field="customer.phone", detail="подробно")
        from app.extensions import db

        db.session.commit()
    (entry,) = ctx.query(AccessLog).all()
    assert (entry.user_id, entry.customer_id, entry.action.value, entry.field, entry.ip, entry.detail) == (
        user_id(app, "auditor"),
        customer.id,
        "reveal",
        "customer.phone",
        "10.1.2.3",
        "подробно",
    )


def test_an_access_outside_a_request_is_journaled_without_user_or_address(app, ctx):
    """A job (an export's worker, the sweeper) journals what it reads: nobody is
    signed in and there is no request to take an address from."""
    customer = factories.customer(ctx)
    with app.app_context():
        from app.extensions import db

        access.record_access(customer.id, "export", detail="Customers: 1")
        db.session.commit()
    (entry,) = ctx.query(AccessLog).all()
    assert (entry.user_id, entry.ip, entry.customer_id, entry.detail) == (
        None,
        None,
        customer.id,
        "Customers: 1",
    )


def test_the_roles_screen_names_each_permission_in_words(app):
    with app.test_request_context("/"):
        label = access.permission_label
        assert label("can_read", "Customers") == ((0, 0), "Клиенты", "просмотр")
        assert label("can_block", "Customers")[1:] == ("Клиенты", "блокировка и снятие блокировки")
        assert label("can_all_rows", "Customers")[1:] == ("Клиенты", "все клиенты, а не только свои")
        assert label("can_write", "Orders")[0] == (2, 1)
        assert label("can_mask", "Field:customer.phone")[1:] == (
            "Поле «Телефон»",
            "видит скрытым (+7 *** ***-45-67)",
        )
        # each field says its own mask: the e-mail's was a phone's
        assert label("can_mask", "Field:customer.email")[2] == "видит скрытым (a***@example.ru)"
        assert label("can_mask", "Field:customer.birth_date")[2] == "видит скрытым (15.**.****)"
        assert label("can_mask", "Field:document.number")[2] == "видит скрытым (****56)"
        assert label("can_mask", "Field:customer.balances")[2] == "видит скрытым"
        assert label("can_enter", "Field:document.number")[1:] == (
            "Поле «Серия и номер документа»",
            "вводит в новую запись, потом видит скрытым",
        )
        fields_first = len(access.RESOURCE_LABELS)
        assert label("can_read", "Field:customer.email")[0] == (fields_first + 1, 1)
        menu = label("menu_access", "Orders")
        assert menu == ((fields_first + len(access.FIELDS), 0), "Пункты меню", "Заказы")
        # a menu item a version no longer has is named as stored
        assert label("menu_access", "Старый пункт")[2] == "Старый пункт"
        assert label("can_userinfo", "UserDBModelView")[1:] == (
            "Свой профиль, пароль и язык",
            "Пользователи: свой профиль",
        )
        assert label("can_list", "UserDBModelView")[1:] == ("Пользователи и роли", "Пользователи: список")
        assert label("can_frobnicate_it", "Нечто")[1:] == ("Прочее", "frobnicate it · Нечто")
        assert label("can_mask", "Field:nothing")[1] == "Прочее"
        assert label("can_mask", "Other:customer.phone")[1] == "Прочее"  # a field is «Field:…» only
        assert label("can_nothing", "Customers")[1] == "Прочее"
        assert label("can_frobnicate", "UserDBModelView")[2] == "frobnicate · UserDBModelView"


def test_a_roles_permissions_are_described_grouped_and_strongest_first(app):
    class PV:
        def __init__(self, perm, view):
            self.permission = type("P", (), {"name": perm})()
            self.view_menu = type("V", (), {"name": view})()

    held = [
        PV("can_read", "Orders"),
        PV("can_read", "Customers"),
        PV("can_write", "Customers"),
        PV("can_mask", "Field:customer.phone"),
        PV("can_read", "Field:customer.phone"),
        PV("can_reveal", "Field:customer.phone"),
        PV("can_mask", "Field:customer.email"),
        PV("can_userinfo", "UserDBModelView"),
        PV("resetmypassword", "UserDBModelView"),
        PV("can_frobnicate", "Нечто"),
        PV("can_list", "UserDBModelView"),
        PV("menu_access", "Orders"),
    ]
    with app.test_request_context("/"):
        assert access.describe_permissions(held) == {
            "Клиенты": ["просмотр", "добавление и изменение"],
            "Заказы": ["просмотр"],
            "Поле «Телефон»": ["видит полностью", "может показать скрытое (с записью в журнал)"],
            "Поле «Эл. почта»": ["видит скрытым (a***@example.ru)"],
            "Пункты меню": ["Заказы"],
            "Свой профиль, пароль и язык": ["да"],
            "Пользователи и роли": ["Пользователи: список"],
            "Прочее": ["frobnicate · Нечто"],
        }
        assert list(access.describe_permissions(held))[-4:] == [
            "Пункты меню",
            "Свой профиль, пароль и язык",
            "Пользователи и роли",
            "Прочее",
        ]


def test_the_matrix_knows_every_role_and_the_security_screens(app):
    assert access.matrix_role_names() == {*matrix.NAMES.values(), "Public"}
    with app.app_context():
        screens = access.security_views()
        assert {"UserDBModelView", "KartotekaRoleModelView", "UserGroupModelView"} <= screens
        assert not screens & access.SELF_SERVICE_VIEWS
        assert not screens & {"Customers", "Orders", "OpenApi"}
        views = {type(v).__name__: v for v in app.appbuilder.baseviews}
        assert access.is_security_view(views["KartotekaRoleModelView"])  # a subclass of FAB's
        assert not access.is_security_view(views["CustomerView"])
        menus = access._menu_resources(app.appbuilder)
        # a menu item is shown for its screen's resource, a category for any of its items'
        assert menus["Orders"] == {"Orders"} and menus["Consents"] == {"Messages"}
        assert menus["Journal"] == {"ChangeHistory", "AccessJournal"}
        assert menus["List Users"] == menus["List Roles"] == {"security"}
        assert menus["Security"] == {"security", "SignIns"}


def test_blocking_split_from_status_change_reaches_the_roles_that_changed_statuses(app):
    """An upgrade from the version where «смена статуса» included blocking: a role
    that held it keeps blocking, now a right of its own; one that did not, does not
    get it; an administrator's change elsewhere stays."""
    with app.app_context():
        sm = app.appbuilder.sm
        for role in sm.get_all_roles():
            role.permissions = [pv for pv in role.permissions if pv.permission.name != "can_block"]
        for pv in sm.session.query(sm.permissionview_model).all():
            if pv.permission.name == "can_block":
                sm.session.delete(pv)
        auditor = sm.find_role(matrix.NAMES["auditor"])
        journal = sm.find_permission_view_menu("can_read", "AccessJournal")
        auditor.permissions.remove(journal)  # an administrator's change
        sm.session.commit()
        try:
            assert access.sync_roles() == []  # a restart resets nobody
            blocking = {
                key
                for key, name in matrix.NAMES.items()
                if any(pv.permission.name == "can_block" for pv in sm.find_role(name).permissions)
            }
            held_status = {k for k in matrix.ROLE_KEYS if matrix.may(k, "status")}
            assert blocking == held_status
            assert journal not in sm.find_role(matrix.NAMES["auditor"]).permissions
            assert sm.find_role(matrix.NAMES["manager"]).name in access.sync_roles(reset=True)
            blocking = {
                key
                for key, name in matrix.NAMES.items()
                if any(pv.permission.name == "can_block" for pv in sm.find_role(name).permissions)
            }
            assert blocking == {k for k in matrix.ROLE_KEYS if matrix.may(k, "block")}
        finally:
            access.sync_roles(reset=True)


@pytest.mark.parametrize(
    "role_key, groups",
    [
        (
            "manager",
            ["Клиенты", "Документы", "Заказы", "Возвраты", "Отзывы", "Примечания", "Справочники"]
            + ["История изменений", "Сообщения", "Шаблоны уведомлений", "Очередь уведомлений"]
            + ["Платежи", "Счета клиентов (депозит, бонусы)", "Файлы", "Согласия на обработку"]
            + ["Запросы субъектов ПД", "Сертификаты и абонементы"]
            + ["Поле «Телефон»", "Поле «Эл. почта»", "Поле «Дата рождения»", "Поле «Бонусы и депозит»"]
            + ["Поле «Серия и номер документа»", "Пункты меню", "Свой профиль, пароль и язык"],
        ),
        (
            "sysadmin",
            ["Клиенты", "Заказы", "Справочники", "Журнал доступа", "История изменений"]
            + ["Шаблоны уведомлений", "Сеансы и ограничения входа", "Очередь уведомлений"]
            + ["Поле «Телефон»", "Поле «Эл. почта»", "Поле «Бонусы и депозит»", "Пункты меню"]
            + ["Свой профиль, пароль и язык", "Пользователи и роли"],
        ),
    ],
)
def test_the_roles_screen_lists_a_roles_groups_in_the_matrixs_order(app, role_key, groups):
    """Resources as the matrix orders them, then fields, the menu, what every user
    has, the security screens, anything else."""
    with app.test_request_context("/"):
        sm = app.appbuilder.sm
        described = access.describe_permissions(sm.find_role(matrix.NAMES[role_key]).permissions)
        assert list(described) == groups
        assert described["Свой профиль, пароль и язык"] == ["да"]
        menu = described["Пункты меню"]
        assert "Клиенты" in menu and "Customers" not in menu  # the menu's own words


def test_a_menu_entry_of_its_own_and_a_link_are_counted_by_their_screens(app):
    """A screen put in the menu without a category, a category that is a screen itself
    and a plain link (no screen): the menu is shown by the screens' resources."""
    from types import SimpleNamespace as Item

    views = {type(v).__name__: v for v in app.appbuilder.baseviews}
    menu = [
        Item(name="Orders", baseview=views["OrderView"], childs=[]),  # no category
        Item(
            name="Люди",
            baseview=views["CustomerView"],
            childs=[
                Item(name="Notes", baseview=views["NoteView"]),
                Item(name="-", baseview=None),
                Item(name="Справка", baseview=None),  # a link
                Item(name="Users", baseview=views["KartotekaUserDBModelView"]),
            ],
        ),
    ]
    builder = Item(menu=Item(get_list=lambda: menu))
    assert access._menu_resources(builder) == {
        "Orders": {"Orders"},
        "Люди": {"Customers", "Notes", "security"},
        "Notes": {"Notes"},
        "Users": {"security"},
    }
