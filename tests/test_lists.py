"""Lists survive malformed parameters; every role reaches its own profile page."""

from __future__ import annotations

import pytest

from tests import factories, matrix

MALFORMED = [
    {"_oc_CustomerView": "bogus", "_od_CustomerView": "asc"},
    {"page_CustomerView": "abc"},
    {"psize_CustomerView": "x"},
    {"psize_CustomerView": "100000"},
    {"_flt_9_status": "active"},
    {"_flt_x_status": "active"},
    {"_od_CustomerView": "sideways", "_oc_CustomerView": "id"},
]


@pytest.mark.parametrize("params", MALFORMED, ids=[",".join(p) for p in MALFORMED])
def test_malformed_list_parameters_give_the_plain_list(ctx, login_as, params):
    factories.customer(ctx, last_name="Видимая")
    client = login_as("manager")
    response = client.get("/customerview/list/", query_string={**params, "q": "видимая"})
    assert response.status_code == 302
    assert "q=" in response.headers["Location"]
    bad = [k for k, v in params.items() if v not in ("asc", "id")]  # valid halves stay
    for key in bad:
        assert key not in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Видимая" in page


def test_page_beyond_the_end_says_nothing_found(ctx, login_as):
    factories.customer(ctx)
    page = login_as("manager").get("/customerview/list/?page_CustomerView=500").get_data(as_text=True)
    assert "Ничего не найдено" in page


@pytest.mark.parametrize("role", ["sysadmin", "manager", "reception", "doctor", "auditor"])
def test_every_role_opens_own_profile_and_password_pages(login_as, role):
    client = login_as(role)
    assert client.get("/users/userinfo/").status_code == 200
    assert client.get("/resetmypassword/form").status_code == 200


def test_list_count_is_capped_for_large_tables(app, ctx, login_as):
    from app.demo import seed_demo

    seed_demo(customers=30)
    app.config["KARTOTEKA_COUNT_CAP"] = 25
    try:
        page = login_as("manager").get("/customerview/list/").get_data(as_text=True)
        assert "более 25" in page
        searched = login_as("manager").get("/customerview/list/", query_string={"_flt_0_status": "blocked"})
        assert "более" not in searched.get_data(as_text=True)
    finally:
        app.config["KARTOTEKA_COUNT_CAP"] = 10000


LINK_ARGS = [
    "",
    "?q=Иван+Петров",
    "?_oc_CustomerView=phone&_od_CustomerView=asc&page_CustomerView=3",
    "?_od_CustomerView=desc&_oc_CustomerView=email&psize_CustomerView=40&_flt_0_status=verified",
    "?q=a%26b%3Dc&_flt_2_registered_at=2026-11-01",
]


@pytest.mark.parametrize("query", LINK_ARGS)
def test_list_links_are_the_addresses_fab_builds(app, query):
    """The sort, page and page-size links (app/rendering.py) equal what FAB's own
    filters build with url_for, argument for argument."""
    fab = app.appbuilder.template_filters
    ours = app.jinja_env.filters
    assert {ours[name].__module__ for name in ("link_order", "link_page", "link_page_size")} == {
        "app.admin.rendering"
    }
    for path in ("/customerview/list/", "/customerview/show/7"):
        with app.test_request_context(path + query):
            app.preprocess_request()
            for column in ("phone", "email", "last_name"):
                assert ours["link_order"](column, "CustomerView") == fab.link_order_filter(
                    column, "CustomerView"
                )
            for page in (0, 1, 12):
                assert ours["link_page"](page, "OrderTab") == fab.link_page_filter(page, "OrderTab")
            for size in (20, 100):
                assert ours["link_page_size"](size, "CustomerView") == fab.link_page_size_filter(
                    size, "CustomerView"
                )


def test_templates_see_environment_globals_and_keep_their_own(app):
    """app/rendering.Environment: templates read the environment's globals
    directly; one loaded with globals of its own keeps them to itself."""
    env = app.jinja_env
    env.globals["kartoteka_probe"] = "before"
    try:
        plain = env.from_string("{{ kartoteka_probe }}")
        assert plain.render() == "before"
        env.globals["kartoteka_probe"] = "after"
        assert plain.render() == "after"
        env.get_template("kartoteka/error.html")  # cached without globals first
        own = env.get_template("kartoteka/error.html", globals={"kartoteka_own": 1})
        assert own.globals["kartoteka_own"] == 1
        assert "kartoteka_own" not in env.globals
    finally:
        env.globals.pop("kartoteka_probe", None)


def test_total_is_right_on_every_page_and_past_the_end(app, ctx, login_as):
    """The capped total matches the rows on every page, and past the last one."""
    import re

    from app.demo import seed_demo

    seed_demo(customers=30)
    client = login_as("manager")

    def shown(query):
        page = client.get("/customerview/list/" + query).get_data(as_text=True)
        total = re.search(r"Всего записей:</strong>\s*([\d\s\xa0]+)<", page).group(1)
        return int(re.sub(r"\D", "", total)), page.count('class="col-phone"')

    assert shown("") == (30, 20)
    assert shown("?page_CustomerView=1") == (30, 10)
    assert shown("?page_CustomerView=7") == (30, 0)
    assert shown("?_flt_0_status=blocked&page_CustomerView=3")[1] == 0


def test_filters_start_empty(login_as):
    """FAB prefilled a date filter with its column's default: the UTC time the
    filter widget was first drawn, microseconds included."""
    import json
    import re

    page = login_as("manager").get("/customerview/list/").get_data(as_text=True)
    fields = json.loads(
        re.search(r"new AdminFilters\(\s*'#filter_form',\s*\{.*?\},\s*(\{.*?\}),\s*\{", page, re.S)[1]
    )
    assert re.search(r'name="registered_at"[^>]*value=""', fields["registered_at"])
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", page)
    users = login_as("sysadmin").get("/users/list/").get_data(as_text=True)
    fields = json.loads(
        re.search(r"new AdminFilters\(\s*'#filter_form',\s*\{.*?\},\s*(\{.*?\}),\s*\{", users, re.S)[1]
    )
    assert 'name="created_on" type="text" value=""' in fields["created_on"]
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", users)


@pytest.mark.parametrize("role", ["manager", "reception", "doctor"])
@pytest.mark.parametrize("url", ["/customerview/list/", "/orderview/list/", "/noteview/list/"])
def test_lists_read_as_values_show_what_objects_show(app, ctx, login_as, role, url):
    """The main lists read their columns as plain values (KartotekaModelView.list_sql);
    the table must be the one the same rows loaded as objects give: names, a
    manager or specialist, the customer link, amounts and the debt, masked fields."""
    import re

    from app import views
    from app.models import Note
    from tests.conftest import user_id

    manager = user_id(app, "manager")
    anna = factories.customer(ctx, last_name="Орлова", middle_name=None, manager_id=manager)
    bob = factories.customer(ctx, last_name="Зуев", first_name="Борис", phone="+79161112233")
    factories.order(ctx, customer=anna, paid="500.00", specialist_id=user_id(app, "doctor"))
    factories.order(ctx, customer=bob)
    ctx.add(Note(customer=anna, text="Позвонить в пятницу", created_by_fk=manager))
    ctx.commit()
    client = login_as(role)

    def table():
        response = client.get(url)
        assert response.status_code == 200
        found = re.search(
            r"<table class=\"table table-bordered.*?</table>", response.get_data(as_text=True), re.S
        )
        return found[0] if found else ""

    as_values = table()
    original = views.KartotekaModelView.values_plan
    views.KartotekaModelView.values_plan = lambda self, columns: None
    try:
        as_objects = table()
    finally:
        views.KartotekaModelView.values_plan = original
    assert as_values == as_objects
    assert ("Позвонить в пятницу" if url == "/noteview/list/" else "Орлова Анна") in as_values


def test_export_has_plain_text_not_the_list_links(app, ctx, login_as):
    """The list shows the ID and the customer as links to the card; the CSV file
    must hold the number and the name, not the HTML of the link."""
    import csv
    import io

    anna = factories.customer(ctx, last_name="Орлова", first_name="Анна", middle_name="Ивановна")
    factories.order(ctx, customer=anna)
    client = login_as("manager")
    customers = list(
        csv.reader(io.StringIO(client.get("/customerview/export.csv").get_data(as_text=True)), delimiter=";")
    )
    orders = list(
        csv.reader(io.StringIO(client.get("/orderview/export.csv").get_data(as_text=True)), delimiter=";")
    )
    assert customers[1][0] == str(anna.id)
    assert customers[1][customers[0].index("ФИО")] == "Орлова Анна Ивановна"
    assert orders[1][orders[0].index("Клиент")] == "Орлова Анна Ивановна"
    assert "<a" not in repr(customers + orders)


def test_card_leaves_the_organisation_off_a_private_persons_card(ctx, login_as):
    from app.models import CustomerType

    person = factories.customer(ctx)
    company = factories.customer(
        ctx,
        last_name="Петров",
        phone="+79162223344",
        customer_type=CustomerType.LEGAL,
        company_name="ООО «Ромашка»",
    )
    client = login_as("reception")
    assert "Наименование организации" not in client.get(f"/customerview/show/{person.id}").get_data(
        as_text=True
    )
    card = client.get(f"/customerview/show/{company.id}").get_data(as_text=True)
    assert "Наименование организации" in card and "ООО «Ромашка»" in card


def test_a_card_tabs_export_holds_only_that_customers_rows(ctx, login_as):
    import csv
    import io
    import re

    anna = factories.customer(ctx, last_name="Орлова")
    bob = factories.customer(ctx, last_name="Зуев", phone="+79161112233")
    mine = [factories.order(ctx, customer=anna).id for _ in range(2)]
    factories.order(ctx, customer=bob)
    client = login_as("manager")
    card = client.get(f"/customerview/show/{anna.id}").get_data(as_text=True)
    (link,) = re.findall(r'href="(/ordertab/export\.csv[^"]*)"', card)
    rows = list(
        csv.reader(io.StringIO(client.get(link.replace("&amp;", "&")).get_data(as_text=True)), delimiter=";")
    )
    assert sorted(int(row[0]) for row in rows[1:]) == sorted(mine)
    assert client.get("/ordertab/export.csv?_rel_customer=abc").status_code == 404
    assert client.get("/ordertab/export.csv?_rel_customer=99999999999999999999").status_code == 404
    assert client.get("/ordertab/export.csv?_rel_items=1").status_code == 404


def test_a_filtered_list_shows_its_filters(ctx, login_as):
    """A list opened with a filter (a link, a bookmark) must not look like the whole list."""
    factories.customer(ctx)
    client = login_as("manager")
    plain = client.get("/customerview/list/").get_data(as_text=True)
    assert "kartoteka-active-filters" not in plain and 'class="panel-collapse collapse">' in plain
    page = client.get("/customerview/list/?_flt_0_status=active&_flt_0_gender=female").get_data(as_text=True)
    assert 'kartoteka-active-filters">2</span>' in page
    assert 'class="panel-collapse collapse in">' in page


def test_bulk_actions_show_only_with_rows_to_tick(ctx, login_as):
    factories.customer(ctx, last_name="Видимая")
    client = login_as("manager")
    found = client.get("/customerview/list/", query_string={"q": "Видимая"}).get_data(as_text=True)
    assert "status_blocked_menu_item" in found
    empty = client.get("/customerview/list/", query_string={"q": "Несуществующая"}).get_data(as_text=True)
    assert "Ничего не найдено" in empty and "status_blocked_menu_item" not in empty


def test_the_customers_name_opens_the_card(ctx, login_as):
    anna = factories.customer(ctx, last_name="Орлова", first_name="Анна", middle_name="Ивановна")
    page = login_as("reception").get("/customerview/list/").get_data(as_text=True)
    assert f'<a href="/customerview/show/{anna.id}">Орлова Анна Ивановна</a>' in page


def test_relation_filters_are_named_as_a_receptionist_would(login_as):
    """FAB's Russian names them «Отношение», «Нет связи», «Связь многие ко многим»."""
    import json
    import re

    page = login_as("manager").get("/customerview/list/").get_data(as_text=True)
    operators = json.loads(
        re.search(r"new AdminFilters\(\s*'#filter_form',\s*\{.*?\},\s*\{.*?\},\s*(\{.*?\}),", page, re.S)[1]
    )
    assert operators["manager"] == ["Равно", "Не равно"]
    assert operators["tags"] == ["Включает"]
    assert not {"Отношение", "Нет связи", "Связь многие ко многим"} & {
        o for ops in operators.values() for o in ops
    }


@pytest.mark.parametrize(
    ("url", "arg"),
    [
        ("/customerview/list/", "_flt_0_status"),
        ("/orderview/list/", "_flt_0_kind"),
        ("/catalogitemview/list/", "_flt_0_active"),
        ("/users/list/", "_flt_0_login_count"),
    ],
)
@pytest.mark.parametrize("value", ["", "nope", "99999999999999999999", "1e400"])
def test_a_filter_value_its_column_cannot_take_is_dropped(login_as, url, arg, value):
    """A status filter left at «—», or a value typed into the address, reached the
    database (LookupError, invalid boolean, integer out of range) and answered 500."""
    client = login_as("sysadmin")
    response = client.get(url, query_string={arg: value})
    assert response.status_code == 302 and arg not in response.headers["Location"]
    assert client.get(response.headers["Location"]).status_code == 200


def test_the_profile_says_yes_not_true(login_as):
    import re

    page = login_as("reception").get("/users/userinfo/").get_data(as_text=True)
    assert ">True<" not in page.replace(" ", "").replace("\n", "")
    assert re.search(r"Активен\?</th>\s*<td><span[^>]*>Да</span>", page)
    users = login_as("sysadmin").get("/users/list/").get_data(as_text=True)
    assert ">True<" not in users.replace(" ", "").replace("\n", "")


def test_the_profile_and_the_users_screen_name_roles_not_python_lists(login_as):
    """«Роль» read «[Администратор (ресепшн)]» and «Группы» read «[]»; another user's
    record was headed «Ваши данные»; a filter was «Не удалось посчиать количество входов»."""
    import json
    import re

    profile = login_as("reception").get("/users/userinfo/").get_data(as_text=True)
    assert re.search(r"Роль</th>\s*<td><span[^>]*>Администратор \(ресепшн\)</span>", profile)
    assert "<title>Мой профиль — Картотека</title>" in profile
    for heading in ("Учётная запись", "Личные данные", "Сменить пароль"):
        assert heading in profile
    users = login_as("sysadmin").get("/users/list/").get_data(as_text=True)
    assert re.search(r"<td>\s*Аудитор\s*</td>\s*<td>\s*—\s*</td>", users)
    assert "[Аудитор]" not in users
    labels = re.search(r"new AdminFilters\(\s*'#filter_form',\s*(\{.*?\})", users, re.S)[1]
    assert json.loads(labels)["fail_login_count"] == "Неудачных попыток входа"


@pytest.mark.parametrize("role", ["sysadmin", "manager", "reception", "doctor", "auditor"])
def test_every_sort_link_of_every_list_and_card_opens(app, ctx, login_as, role):
    """Clicking «Долг» in the orders list answered 500: FAB offers a header link
    for every column that is not a relation, a Python property included, and
    SQL cannot order by a property. Every header link a role is shown must open
    the list, in both directions."""
    import html
    import re

    from flask_appbuilder import ModelView

    from tests.test_access import seed

    customer = seed(ctx)
    client = login_as(role)
    pages = [f"/customerview/show/{customer.id}"] + [
        f"{view.route_base}/list/" for view in app.appbuilder.baseviews if isinstance(view, ModelView)
    ]
    links = set()
    for url in pages:
        response = client.get(url)
        if response.status_code == 200:
            found = re.findall(r'href="([^"]*_oc_[^"]*)"', response.get_data(as_text=True))
            links |= {html.unescape(link) for link in found}
    assert links
    failed = {}
    for link in sorted(links):
        for sorted_link in (link, link.replace("=asc", "=desc")):
            try:  # the test app lets a server error propagate
                status = client.get(sorted_link).status_code
            except Exception as error:  # noqa: BLE001
                status = type(error).__name__
            if status != 200:
                failed[sorted_link] = status
    assert failed == {}


def test_filter_choices_follow_staff_changes(app, ctx, login_as, monkeypatch):
    """The «Менеджер» filter's choices are kept for a few seconds per process: a
    manager added through the app shows at once, one renamed by another worker
    (a write outside this process's sessions) once the interval has passed."""
    import json
    import re

    from sqlalchemy import update

    from app.admin import options
    from app.extensions import db

    def choices():
        page = client.get("/customerview/list/").get_data(as_text=True)
        fields = re.search(r"new AdminFilters\(\s*'#filter_form',\s*\{.*?\},\s*(\{.*?\}),\s*\{", page, re.S)[
            1
        ]
        return re.findall(r">([^<>]+)</option>", json.loads(fields)["manager"])

    client = login_as("manager")
    assert "Manager Тестовый" in choices()
    sm = app.appbuilder.sm
    added = sm.add_user(
        "new-manager", "Алла", "Новикова", "alla@clinic.example", [sm.find_role(matrix.NAMES["manager"])]
    )
    ctx.commit()
    try:
        assert "Алла Новикова" in choices()

        with db.engine.begin() as other_worker:
            other_worker.execute(
                update(sm.user_model.__table__).where(sm.user_model.id == added.id).values(first_name="Алина")
            )
        assert "Алла Новикова" in choices()
        later = options.clock() + options.FILTER_CHOICES_SECONDS + 1
        monkeypatch.setattr(options, "clock", lambda: later)
        fresh = choices()
        assert "Алина Новикова" in fresh and "Алла Новикова" not in fresh
    finally:
        ctx.rollback()
        ctx.delete(sm.find_user(username="new-manager"))
        ctx.commit()


def active_filters(page: str) -> list:
    """The active filters the list's filter panel opens with (the last argument of ``new AdminFilters``)."""
    import json
    import re

    script = re.search(r"new AdminFilters\((.*?)\);", page, re.S)[1]
    return json.loads(script.strip().splitlines()[-1])


# three filters of the customers list, each a different kind of filter
CUSTOMER_FILTERS = [("_flt_0_status", "verified"), ("_flt_0_name_search", "Ив"), ("_flt_0_gender", "female")]


def test_the_active_filters_are_in_the_order_of_the_address(ctx, login_as):
    """The filter panel listed the active filters in the order of a Python set of the
    address's arguments (FAB's get_filter_args), which differs per process: two
    workers showed one filtered list's filters in two orders."""
    import itertools

    client = login_as("manager")
    for order in itertools.permutations(CUSTOMER_FILTERS):
        page = client.get("/customerview/list/", query_string=list(order)).get_data(as_text=True)
        shown = [(column, value) for column, _name, value in active_filters(page)]
        assert shown == [(arg.removeprefix("_flt_0_"), [value]) for arg, value in order], order


RENDER_ACTIVE_FILTERS = """
import json, re, sys, tempfile
from app import create_app
from config import TestConfig
app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=sys.argv[1], INSTANCE_DIR=tempfile.mkdtemp(),
                 SECRET_KEY="test-secret-key")
client = app.test_client()
with app.app_context():
    assert client.post("/login/", data={"username": "manager", "password": sys.argv[2]}).status_code == 302
    page = client.get(sys.argv[3]).get_data(as_text=True)
print(re.search(r"new AdminFilters\\((.*?)\\);", page, re.S)[1].strip().splitlines()[-1])
"""


def test_two_processes_show_a_lists_active_filters_in_the_same_order(app, database_url):
    """The same address rendered by two processes of different string hashing (two
    gunicorn workers) gives the same filter panel."""
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import urlencode

    from tests.conftest import PASSWORD

    url = "/customerview/list/?" + urlencode(CUSTOMER_FILTERS)
    shown = {
        subprocess.run(
            [sys.executable, "-c", RENDER_ACTIVE_FILTERS, database_url, PASSWORD, url],
            env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)},
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2)  # two orders before the fix
    }
    assert len(shown) == 1, shown


def test_the_day_filters_count_the_clinics_day_from_its_midnight(app, ctx, login_as, monkeypatch):
    """«В день» and «По дату» began the clinic's day at the city's local mean time (pytz's
    zone used as a tzinfo): 72 minutes late in Vladivostok, 30 in Moscow, so a customer
    registered just after midnight was listed under the day before."""
    import datetime as dt

    monkeypatch.setattr(app.extensions["babel"], "default_timezone", "Asia/Vladivostok")
    # 00:20 and 23:50 in Vladivostok (UTC+10), kept as naive UTC
    factories.customer(
        ctx, last_name="Полуночная", phone="+79161110001", registered_at=dt.datetime(2026, 12, 3, 14, 20)
    )
    factories.customer(
        ctx, last_name="Вечерняя", phone="+79161110002", registered_at=dt.datetime(2026, 12, 3, 13, 50)
    )
    client = login_as("reception")
    on_the_4th = client.get("/customerview/list/?_flt_0_registered_at=04.12.2026").get_data(as_text=True)
    assert "Полуночная" in on_the_4th and "Вечерняя" not in on_the_4th
    to_the_3rd = client.get("/customerview/list/?_flt_2_registered_at=03.12.2026").get_data(as_text=True)
    assert "Вечерняя" in to_the_3rd and "Полуночная" not in to_the_3rd
