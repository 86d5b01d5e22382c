"""Side doors a scanner tries: a list asked to filter or sort by a value the role
sees masked or not at all, and page numbers no list has.

A filter answers which rows hold the value asked and an order where a row's value
falls against another's: either is the value, found by bisection, whatever the
page shows of it. So a list may be filtered and sorted only by what the role reads.

Generated, not listed: the lists are every registered screen with a list (its CSV
export included) and every REST resource (app.api.PolicyApi), the values every
column under a field rule (app.access.FIELDS) on the list's model and through its
relations («customer.phone»), the roles and what each may read from the rights
pinned in tests/matrix.py. A list or a field rule added later is tried without
editing this file. A role that reads the value is asked the same, as a control:
its answers must tell the values apart, or the probe would prove nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import quote

import prison
import pytest
from flask import url_for
from sqlalchemy import inspect

from app import access
from app.api import PolicyApi
from app.views import KartotekaModelView
from tests import matrix
from tests.test_walk import PLANTED, STRANGER_NAME, plant
from tests.test_walk import readable as as_read

PATIENT_NAME = "Пациентова"


@pytest.fixture
def planted(app):
    with app.app_context():
        return plant(app)


def ruled_paths(model) -> dict[str, str]:
    """The values under a field rule a list of ``model`` could be asked by: its own
    columns and those of the models it points at, path -> field key."""
    found = {}
    targets = [("", model)] + [
        (f"{name}.", rel.mapper.class_) for name, rel in inspect(model).relationships.items()
    ]
    for prefix, target in targets:
        for spec in access.FIELDS.values():
            for model_name, column in spec.columns:
                if model_name == target.__name__:
                    found[prefix + column] = spec.key
    return found


def values_of(path: str):
    """The patient's current value at ``path`` and one nobody holds, or None."""
    column = path.rsplit(".", 1)[-1]
    value = PLANTED["patient"].get(column, (None, None))[1]
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value, dt.date(1901, 2, 3)
    if isinstance(value, Decimal):
        return value, Decimal("0.01")
    return value, "+79990000000" if str(value).startswith("+7") else "000000"


def names(response) -> list[str]:
    """The rows a list answered, as the order of its customers' names."""
    return re.findall(f"{PATIENT_NAME}|{STRANGER_NAME}", as_read(response))


def typed(model) -> list[tuple[str, str, str]]:
    """(field key, the patient's value as staff type it into a search box, one nobody
    holds) for every value under a rule of ``model``: what a box that finds
    customers by their contacts could be asked."""
    found = []
    for path, key in ruled_paths(model).items():
        values = values_of(path) if "." not in path else None
        if values is None:
            continue
        value, other = values
        if isinstance(value, dt.date):
            found.append((key, screen_text(value), screen_text(other)))
        elif isinstance(value, str) and value.startswith("+7"):
            found.append((key, value[-7:], other[-7:]))  # a fragment, as the box finds one
        elif isinstance(value, str):
            found.append((key, value, "nobody@example.ru" if "@" in value else other))
    return found


def api_ids(response):
    return response.get_json().get("ids") if response.status_code == 200 else response.status_code


def screen_text(value) -> str:
    return value.strftime("%d.%m.%Y") if isinstance(value, dt.date) else str(value)


def lists(app):
    """(view, its model) of every screen with a list (an endpoint of the URL map)."""
    found = []
    for view in app.appbuilder.baseviews:
        if isinstance(view, KartotekaModelView) and f"{view.endpoint}.list" in app.view_functions:
            found.append((view, view.datamodel.obj))
    return found


def exposed(view) -> tuple[set[str], dict[str, list[str]]]:
    """What a list or a resource says it may be sorted by, and filtered by with
    which operations (FAB ignores the rest): its order columns, its search filters."""
    searched = view._filters.get_search_filters()
    return set(view.order_columns or ()), {c: [f.arg_name for f in fs] for c, fs in searched.items()}


def probes(app, role_key):
    """(what, first address, second address, how to read an answer, readable) for
    every list and every value under a rule it may be asked by: an order asc and
    desc, a filter with the patient's value and with one nobody holds."""
    with app.app_context():
        apis = [
            a
            for a in app.appbuilder.baseviews
            if isinstance(a, PolicyApi) and matrix.reads(role_key, a.class_permission_name)
        ]
        screens = [(v, m) for v, m in lists(app) if matrix.reads(role_key, v.class_permission_name)]
    for api in apis:
        ordered, filtered = exposed(api)
        for path, key in ruled_paths(api.datamodel.obj).items():
            readable = matrix.field_level(role_key, key) in (matrix.R, matrix.W)
            base = f"{api.route_base}/?q="
            if path in ordered:
                order = [
                    base + quote(prison.dumps({"order_column": path, "order_direction": d}))
                    for d in ("asc", "desc")
                ]
                yield f"GET {order[0]}", order[0], order[1], api_ids, readable
            values = values_of(path)
            for opr in filtered.get(path, ()) if values else ():
                asked = [
                    base + quote(prison.dumps({"filters": [{"col": path, "opr": opr, "value": str(v)}]}))
                    for v in values
                ]
                yield f"GET {asked[0]}", asked[0], asked[1], api_ids, readable
    for view, model in screens:
        name = type(view).__name__
        ordered, filtered = exposed(view)
        for path, key in ruled_paths(model).items():
            readable = matrix.field_level(role_key, key) in (matrix.R, matrix.W)
            for address in (f"{view.route_base}/list/", f"{view.route_base}/export.csv"):
                if path in ordered:
                    order = [f"{address}?_oc_{name}={path}&_od_{name}={d}" for d in ("asc", "desc")]
                    yield f"GET {order[0]}", order[0], order[1], names, readable
                values = values_of(path)
                for index in range(len(filtered.get(path, ()))) if values else ():
                    asked = [f"{address}?_flt_{index}_{path}={quote(screen_text(v))}" for v in values]
                    yield f"GET {asked[0]}", asked[0], asked[1], names, readable
        # a relation's filter typed as text («Клиент»: a name, a phone, an e-mail)
        relations = inspect(model).relationships
        for column, operations in filtered.items():
            target = relations[column].mapper.class_ if column in relations else None
            for key, value, other in typed(target) if target is not None else ():
                readable = matrix.field_level(role_key, key) in (matrix.R, matrix.W)
                for index in range(len(operations)):
                    asked = [
                        f"{view.route_base}/list/?_flt_{index}_{column}={quote(v)}" for v in (value, other)
                    ]
                    yield f"GET {asked[0]}", asked[0], asked[1], names, readable
    # the search boxes and the choices found as one types
    with app.test_request_context():
        boxes = [
            (url_for(endpoint), view.datamodel.obj)
            for endpoint in app.view_functions
            if endpoint.endswith((".lookup", ".list"))
            and (view := getattr(app.view_functions[endpoint], "__self__", None)) is not None
            and isinstance(view, KartotekaModelView)
            and matrix.reads(role_key, view.class_permission_name)
        ]
    for address, model in boxes:
        for target in {model, *(r.mapper.class_ for r in inspect(model).relationships.values())}:
            for key, value, other in typed(target):
                readable = matrix.field_level(role_key, key) in (matrix.R, matrix.W)
                asked = [f"{address}?q={quote(v)}" for v in (value, other)]
                yield f"GET {asked[0]}", asked[0], asked[1], names, readable


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_no_list_filters_or_sorts_by_a_value_the_role_may_not_read(app, login_as, planted, role_key):
    client = login_as(role_key)
    oracles, errors, controls, tried = [], [], 0, 0
    for what, first, second, answer, readable in probes(app, role_key):
        one, other = client.get(first), client.get(second)
        if max(one.status_code, other.status_code) >= 500:
            errors.append((what, one.status_code, other.status_code))
            continue
        if one.status_code >= 400 and one.status_code == other.status_code:
            continue  # refused (400) or not the role's (403): nothing told
        tried += 1
        told = answer(one) != answer(other)
        if readable:
            controls += told
        elif told:
            oracles.append(what)
    print(f"\n{role_key}: {tried} probes answered, {controls} controls told the values apart")
    assert errors == []
    assert oracles == [], "a list answers by a value the role may not read:\n" + "\n".join(oracles)
    if role_key == "manager":  # reads every ruled value: the probes must see a filter and an order work
        assert controls > 10


def test_a_refused_order_says_why_in_russian(app, login_as, planted):
    """The front desk enters a passport and sees it masked once saved; sorting the
    documents by their number placed every customer's number against one the
    desk typed, and now answers 400 in Russian."""
    client = login_as("reception")
    answer = client.get("/api/v1/documents/?q=(order_column:number,order_direction:asc)")
    assert (answer.status_code, answer.get_json()["message"]) == (400, "По полю number не сортируют.")
    assert client.get("/api/v1/documents/?q=(order_column:issue_date,order_direction:asc)").status_code == 200


HUGE = 10**20  # past any 64-bit OFFSET


REFUSED = (401, 403)


def broadest_first() -> list[str]:
    """The roles, those that see every row first, each by how much it may read and write
    (tests/matrix.py): the manager, who opens most addresses, then the others."""
    return sorted(
        matrix.ROLE_KEYS,
        key=lambda k: (
            k not in matrix.ALL_ROWS,
            -sum(matrix.reads(k, r) + matrix.writes(k, r) for r in matrix.RESOURCES),
        ),
    )


def by_a_role_that_may(login_as, items, ask) -> list[tuple[str, object, object]]:
    """(role, item, answer) of each item asked once by a role that may ask it: every item
    by the broadest role, and what a role is refused (401, 403) again by the next one.

    Where a door refuses a number or a name does not depend on who asks: the check runs
    before (the address's converter, the page's arguments) or after the permission
    (the record, the filter), and a refused role never reaches it. So each address is
    asked by the first role that gets past the permission, not by every role; what only
    a role limited to its own rows reaches is asked by that role on its own."""
    answered, pending = [], list(items)
    for role_key in broadest_first():
        if not pending:
            break
        client = login_as(role_key)
        refused = []
        for item in pending:
            answer = ask(client, item)
            if answer in REFUSED:
                refused.append(item)
            else:
                answered.append((role_key, item, answer))
        pending = refused
    answered += [("nobody", item, 403) for item in pending]
    return answered


def page_addresses(app, role_key) -> list[str]:
    """Every REST resource the role reads, asked pages past what an OFFSET holds, in its
    list and in each of its relations' choices (``_info``)."""
    with app.app_context():
        apis = [
            a
            for a in app.appbuilder.baseviews
            if isinstance(a, PolicyApi)
            and (role_key is None or matrix.reads(role_key, a.class_permission_name))
        ]
        relations = {
            a.route_base: [n for n, r in inspect(a.datamodel.obj).relationships.items() if not r.uselist]
            for a in apis
        }
    found = []
    for api in apis:
        for page, size in ((HUGE, 20), (10**12, 100), (-1, 20), (0, HUGE), (0, -1)):
            found.append(f"{api.route_base}/?q=(page:{page},page_size:{size})")
            for relation in relations[api.route_base]:
                found.append(
                    f"{api.route_base}/_info?q=(add_columns:({relation}:(page:{page},page_size:{size})))"
                )
    return found


def status_of(client, url, method="GET"):
    try:
        return client.open(url, method=method, data={}).status_code
    except Exception as e:  # noqa: BLE001 - the test client raises what a server answers 500 with
        return repr(e)[:80]


@pytest.mark.parametrize("rows", ["every row", "own rows"])
def test_no_page_number_is_a_500(app, login_as, planted, rows):
    """A page past what the database's OFFSET holds answered 500 (SQLite's
    OverflowError, PostgreSQL's bigint out of range), in a list and in a
    relation's choices of ``_info``: now 400 or an empty page. Every resource is
    asked by a role that reads it, and again by each role limited to its own rows
    (its lists are read under the row scope)."""
    if rows == "every row":
        tried = by_a_role_that_may(login_as, page_addresses(app, None), status_of)
    else:
        limited = [k for k in matrix.ROLE_KEYS if k not in matrix.ALL_ROWS]
        assert limited, "a role limited to its own rows"
        tried = []
        for role_key in limited:
            client = login_as(role_key)
            tried += [(role_key, url, status_of(client, url)) for url in page_addresses(app, role_key)]
    assert tried
    assert [t for t in tried if not isinstance(t[2], int) or t[2] >= 500 or t[0] == "nobody"] == []
    role_key, url, _status = tried[0]
    huge = login_as(role_key).get(url.split("?")[0] + f"?q=(page:{HUGE})")
    assert huge.status_code == 400
    assert huge.get_json()["message"] == "Номер страницы — целое число от 0 до 1000000000."


SKIP = {"static", "appbuilder.static", "AuthDBView.logout", "LocaleView.index"}  # not a page; ends the walk


def test_no_number_past_a_key_is_a_500(app, login_as, planted):
    """A record's number past what its key column holds reached the database and
    answered 500 (SQLite's OverflowError, PostgreSQL's integer out of range): in an
    address («/customerview/subject/<number>/download»), in the ids of a message to
    selected customers, in a list's filter («Клиент» typed as a number). Every
    address of the URL map with every method it takes, and every filter of every
    list, now answers 4xx or the list without a match. Each is asked by a role that
    gets past its permission (the broadest first; what it is refused, by the next)."""
    huge = str(HUGE)
    with app.app_context():
        rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIP]
        screens = [(v, exposed(v)[1]) for v, _model in lists(app)]
    asked = []
    for rule in rules:
        try:
            path = rule.build(dict.fromkeys(rule.arguments, huge), append_unknown=False)[1]
        except Exception:  # noqa: BLE001 - a rule whose arguments take no number
            continue
        if rule.arguments:
            asked += [(method, path) for method in sorted(rule.methods - {"OPTIONS"})]
        elif "GET" in rule.methods:
            asked.append(("GET", f"{path}?ids={huge}&customer={huge}&_rel_customer={huge}"))
    for view, filtered in screens:
        for column, operations in filtered.items():
            asked += [
                ("GET", f"{view.route_base}/list/?_flt_{i}_{column}={huge}") for i in range(len(operations))
            ]
    answered = by_a_role_that_may(login_as, asked, lambda client, item: status_of(client, item[1], item[0]))
    failed = [(role, *item, s) for role, item, s in answered if not isinstance(s, int) or s >= 500]
    reached = {role for role, _item, s in answered if s not in REFUSED}
    print(f"\n{len(asked)} addresses asked, {len(answered)} answers, by {sorted(reached)}")
    assert len(answered) >= len(asked)
    assert failed == []


@pytest.mark.parametrize("role_key", matrix.ROLE_KEYS)
def test_an_api_list_offers_the_orders_it_takes(app, login_as, planted, role_key):
    """A list's answer names the columns it may be sorted by (``order_columns``): the
    front desk's documents named «number», which it sees masked and may not sort by.
    Every column a resource offers to a role now sorts its list for that role."""
    client = login_as(role_key)
    with app.app_context():
        apis = [
            a.route_base
            for a in app.appbuilder.baseviews
            if isinstance(a, PolicyApi) and matrix.reads(role_key, a.class_permission_name)
        ]
    refused = []
    for base in apis:
        offered = client.get(f"{base}/?q=(page_size:1)").get_json()["order_columns"]
        assert offered, base
        for column in offered:
            answer = client.get(f"{base}/?q=" + quote(prison.dumps({"order_column": column, "page_size": 1})))
            if answer.status_code != 200:
                refused.append((base, column, answer.status_code))
    assert refused == []


def test_no_address_serves_a_file_of_the_servers_folder(app, login_as):
    """FAB's «/<view>/download/<filename>» (for file columns Kartoteka has none of)
    looked the name up in the process's working folder when no UPLOAD_FOLDER is
    set: «/customerview/download/README.md» answered 500 where the file is and 404
    where it is not, telling which files the server holds (and would have sent one
    from a folder set later). Every address of the URL map that takes a name, given
    the name of a file beside the running process, answers 403 or 404 (each asked by
    a role that gets past its permission: a refused one answers 403 before any lookup)."""
    import os

    names = sorted(n for n in os.listdir(".") if os.path.isfile(n))[:5] + ["README.md", "config.py"]
    with app.app_context():
        rules = [
            r
            for r in app.url_map.iter_rules()
            if r.endpoint not in SKIP and "GET" in r.methods and set(r.arguments) - {"pk", "rid", "version"}
        ]
    paths = [
        rule.build(dict.fromkeys(rule.arguments, name), append_unknown=False)[1]
        for rule in rules
        for name in names
    ]
    answered = by_a_role_that_may(login_as, paths, status_of)
    assert answered
    assert [(role, p, s) for role, p, s in answered if s not in (403, 404)] == []


def test_a_record_reached_through_another_keeps_the_customers_row_scope(app, login_as, planted):
    """A message's delivery attempts belong to a customer through the message. The
    row scope knew a record's customer or order only, so a specialist given
    «Сообщения» in the roles screen read every customer's attempts (the provider's
    answers) on /messageattempttab/list/. Now they see their patients' only; and
    every model a screen lists that leads to a customer is scoped so."""
    from app.extensions import db
    from app.models import Customer, Message, MessageAttempt

    sm = app.appbuilder.sm
    with app.app_context():
        for who in ("patient", "stranger"):
            db.session.add(
                MessageAttempt(
                    message_id=planted[Message][who], number=1, provider_answer=f"ОТВЕТ-{who.upper()}"
                )
            )
        role = sm.find_role(access.ROLES["doctor"].name)
        role.permissions.append(sm.find_permission_view_menu("can_read", access.MESSAGES))
        db.session.commit()
    try:
        page = login_as("doctor").get("/messageattempttab/list/?psize_MessageAttemptTab=100")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "ОТВЕТ-PATIENT" in text and "ОТВЕТ-STRANGER" not in text
        with app.test_request_context():
            from flask import g

            g.user = sm.find_user(username="doctor")
            unscoped = []
            for view in app.appbuilder.baseviews:
                model = getattr(getattr(view, "datamodel", None), "obj", None)
                if model is not None and leads_to(model, Customer) and access.row_scope(model) is None:
                    unscoped.append(model.__name__)
        assert unscoped == []
    finally:
        with app.app_context():
            access.sync_roles(reset=True)


def leads_to(model, target, seen=()) -> bool:
    """Does a chain of many-to-one relations lead from ``model`` to ``target``?"""
    if model is target:
        return True
    return any(
        r.direction.name == "MANYTOONE"
        and r.mapper.class_ not in seen
        and leads_to(r.mapper.class_, target, (*seen, model))
        for r in inspect(model).relationships
    )
