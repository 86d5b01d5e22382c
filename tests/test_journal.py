"""The access journal, complete and append-only (issue 19).

Opening a card and its restricted tabs, reveals, exports, downloads and API
reads each write a row (who, whose, what, when, IP, user agent), in one INSERT at
the end of the request; refused requests write nothing. No route of the app (the
URL map, walked) and no ORM statement changes or deletes a row. The auditor
filters it by employee, customer, action and period; the front desk cannot read it.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, update

from app import access
from app.errors import Forbidden
from app.extensions import db
from app.models import AccessAction, AccessLog, Customer, CustomerFile, MedicalRecord
from tests import factories
from tests.conftest import count_queries, user_id

UA = "Mozilla/5.0 (X11; Linux x86_64) KartotekaTest/1.0"


def rows(app, **where) -> list[tuple]:
    with app.app_context():
        query = db.session.query(AccessLog).order_by(AccessLog.id)
        for key, value in where.items():
            query = query.filter(getattr(AccessLog, key) == value)
        return [
            (r.user_id, r.customer_id, r.action, r.field, r.ip, r.user_agent, r.detail) for r in query.all()
        ]


@pytest.fixture
def patient(app):
    with app.app_context():
        customer = factories.customer()
        factories.order(customer=customer, specialist_id=user_id(app, "doctor"))
        db.session.add(MedicalRecord(customer=customer, allergies="Латекс"))
        db.session.commit()
        return customer.id


@pytest.mark.parametrize(
    "role, tabs",
    [
        ("manager", ["documents", "files"]),
        ("reception", ["documents", "files"]),
        ("doctor", ["anamnesis", "files"]),
        ("auditor", ["documents", "files"]),
    ],
)
def test_opening_a_card_journals_the_card_and_each_restricted_tab_in_one_insert(
    app, login_as, patient, role, tabs
):
    client = login_as(role)
    with count_queries(app) as executed:
        response = client.get(f"/customerview/show/{patient}", headers={"User-Agent": UA})
    assert response.status_code == 200
    inserts = [s for s in executed if s.lstrip().upper().startswith("INSERT INTO ACCESS_LOG")]
    assert len(inserts) == 1, inserts
    uid = user_id(app, role)
    expected = [(uid, patient, AccessAction.CARD, None, "127.0.0.1", UA, None)] + [
        (uid, patient, AccessAction.TAB, tab, "127.0.0.1", UA, None) for tab in tabs
    ]
    assert rows(app) == expected


def test_a_refused_card_writes_nothing(app, login_as, patient):
    with app.app_context():
        stranger = factories.customer(last_name="Чужая", phone="+79160000009").id
    client = login_as("doctor")
    assert client.get(f"/customerview/show/{stranger}").status_code == 404
    assert rows(app) == []


def test_reveal_export_and_api_reads_are_rows(app, login_as, patient):
    client = login_as("doctor")
    assert client.post(f"/customerview/{patient}/reveal/phone", headers={"User-Agent": UA}).status_code == 200
    assert rows(app, action=AccessAction.REVEAL)[0][:6] == (
        user_id(app, "doctor"),
        patient,
        AccessAction.REVEAL,
        "customer.phone",
        "127.0.0.1",
        UA,
    )
    client = login_as("manager")
    assert client.get(f"/noteview/export.csv?_rel_customer={patient}").status_code == 200
    assert len(rows(app, action=AccessAction.EXPORT)) == 1
    assert client.get(f"/api/v1/customers/{patient}").status_code == 200
    assert client.get("/api/v1/customers/").status_code == 200
    api = rows(app, action=AccessAction.API_READ)
    assert [(r[1], r[6]) for r in api] == [(patient, "customers"), (patient, "customers")]


def test_the_front_desk_cannot_read_the_journal(login_as):
    client = login_as("reception")
    assert client.get("/accesslogview/list/").status_code == 403
    assert client.get("/accesslogtab/list/").status_code == 403


def test_no_route_writes_to_the_journal(app):
    """Generated from the URL map: every rule served by a journal screen or API
    answers GET only; none adds, edits, deletes or runs an action on its rows."""
    journal_rules = []
    for rule in app.url_map.iter_rules():
        view = getattr(app.view_functions[rule.endpoint], "__self__", None)
        if getattr(view, "class_permission_name", None) == access.JOURNAL or "accesslog" in rule.rule:
            journal_rules.append(rule)
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
            assert not any(word in rule.endpoint for word in ("add", "edit", "delete", "action")), rule
    assert {r.endpoint for r in journal_rules} >= {"AccessLogView.list", "AccessLogView.show"}


@pytest.mark.parametrize("role", [*access.ROLES])
def test_no_role_can_change_a_row_through_any_route(app, login_as, patient, role):
    with app.app_context():
        db.session.add(AccessLog(customer_id=patient, action=AccessAction.REVEAL, field="customer.phone"))
        db.session.commit()
        row_id = db.session.query(AccessLog.id).scalar()
    before = rows(app)
    client = login_as(role)
    for rule in app.url_map.iter_rules():
        if "accesslog" not in rule.rule:
            continue
        url = rule.rule.replace("<pk>", str(row_id)).replace("<int:pk>", str(row_id))
        if "<" in url:
            continue
        for method in ("POST", "PUT", "DELETE"):
            response = client.open(url, method=method, data={"action": "export", "detail": "x"})
            assert response.status_code in (403, 404, 405), (role, method, url)
    after = [r for r in rows(app) if r[2] not in (AccessAction.CARD, AccessAction.TAB)]
    assert after == before


def test_the_orm_refuses_to_change_or_delete_a_row(app, patient):
    with app.app_context():
        row = AccessLog(customer_id=patient, action=AccessAction.REVEAL)
        db.session.add(row)
        db.session.commit()
        row.detail = "подчищено"
        with pytest.raises(Forbidden):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(AccessLog, row.id))
        with pytest.raises(Forbidden):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(Forbidden):
            db.session.execute(update(AccessLog).values(detail="x"))
        db.session.rollback()
        assert db.session.get(AccessLog, row.id).detail is None


def test_the_auditor_filters_by_employee_customer_action_and_period(app, login_as, patient):
    with app.app_context():
        other = factories.customer(last_name="Сидорова", first_name="Ольга", phone="+79160000002").id
    login_as("manager").get(f"/customerview/show/{other}")
    login_as("doctor").get(f"/customerview/show/{patient}")
    with app.app_context():  # an old row, a year back
        db.session.add(
            AccessLog(customer_id=patient, action=AccessAction.EXPORT, at=dt.datetime(2025, 1, 10, 12, 0))
        )
        db.session.commit()
    auditor = login_as("auditor")

    def listed(query):
        page = auditor.get(f"/accesslogview/list/?{query}&psize_AccessLogView=100")
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        return body.count("<tr>") - 1, body

    doctor = user_id(app, "doctor")
    count, body = listed(f"_flt_0_user={doctor}")
    assert count == 3 and "Сидорова" not in body  # card, anamnesis, files
    count, body = listed("_flt_1_customer=Сидорова")
    assert count == 3 and "Иванова" not in body  # the manager's card, documents, files
    count, _ = listed(f"_flt_0_customer={patient}")
    assert count == 4
    count, _ = listed("_flt_0_action=export")
    assert count == 1
    count, _ = listed("_flt_1_at=01.01.2025&_flt_2_at=31.01.2025")
    assert count == 1


def test_a_restricted_record_or_list_opened_outside_the_card_is_a_row(app, login_as, patient):
    from app.models import CustomerDocument

    with app.app_context():
        document = CustomerDocument(customer_id=patient, kind="other", number="123456")
        db.session.add(document)
        db.session.commit()
        document_id = document.id
    doctor = login_as("doctor")
    with app.app_context():
        record = db.session.query(MedicalRecord.id).scalar()
    assert doctor.get(f"/medicalrecordview/show/{record}", headers={"User-Agent": UA}).status_code == 200
    assert rows(app, action=AccessAction.TAB) == [
        (user_id(app, "doctor"), patient, AccessAction.TAB, "anamnesis", "127.0.0.1", UA, None)
    ]
    manager = login_as("manager")
    assert manager.get(f"/customerdocumentview/show/{document_id}").status_code == 200
    assert manager.get("/customerdocumentview/list/").status_code == 200
    documents = [r for r in rows(app, action=AccessAction.TAB) if r[3] == "documents"]
    assert [(r[1], r[6]) for r in documents] == [(patient, None), (None, "Documents: 1")]
    journal = login_as("auditor").get("/accesslogview/list/").get_data(as_text=True)
    assert "Документы: 1 запись" in journal


def test_deleting_a_customer_leaves_their_journal_rows_as_they_were(app, login_as, patient):
    """The journal says whose data was read after the customer is gone (the database
    emptied its rows' customer on a deletion: an alteration by the delete route)."""
    login_as("manager").get(f"/customerview/show/{patient}")
    before = rows(app)
    assert before and all(r[1] == patient for r in before)
    assert login_as("manager").post(f"/customerview/delete/{patient}").status_code == 302
    with app.app_context():
        assert db.session.get(Customer, patient) is None
    assert rows(app) == before
    listing = login_as("auditor").get(f"/accesslogview/list/?_flt_0_customer={patient}")
    assert listing.status_code == 200


def test_the_journals_detail_says_what_its_number_is(app, login_as, patient):
    """The journal's «Подробности» wrote every number as a count: the specialist's
    download of the medical part of subject request № N read «Анамнез: N записей»,
    the manager's ZIP «Запросы субъектов ПД: N записей», a file's download «12: pdf».
    Each now says what its number is: a request's, a file's, or how many records a
    list showed or an export wrote (a plural)."""
    import html
    import io

    from app import subjects
    from app.models import SubjectRequestKind

    with app.app_context():
        customer = db.session.get(Customer, patient)
        for basis in ("Заявление № 1", "Заявление № 2", "Заявление № 3"):  # the request's number is not 1
            request = subjects.start(db.session, customer, SubjectRequestKind.EXPORT, basis)
        db.session.commit()
        rid = request.id
        assert subjects.build_export(db.session, rid) == "done"
    manager = login_as("manager")
    assert manager.get(f"/customerview/subject/{rid}/download").status_code == 200
    upload = manager.post(
        f"/customerview/{patient}/files",
        data={"file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "Справка.pdf"), "category": "other"},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    with app.app_context():
        (scan,) = db.session.scalars(select(CustomerFile.id)).all()
    assert manager.get(f"/customerfileview/fetch/{scan}").status_code == 200
    doctor = login_as("doctor")
    assert doctor.get(f"/customerview/subject/{rid}/medical").status_code == 200
    assert doctor.get("/medicalrecordview/list/").status_code == 200
    auditor = login_as("auditor")
    journal = html.unescape(auditor.get("/accesslogview/list/").get_data(as_text=True))
    said = {
        f"Выгрузка данных по запросу субъекта № {rid}",
        f"Медицинская часть выгрузки по запросу субъекта № {rid}",
        f"Файл № {scan} (pdf)",
        "Анамнез: 1 запись",
    }
    for text in said:
        assert text in journal
    assert f"{rid} записи" not in journal and f"{rid} записей" not in journal
    with app.app_context():
        details = dict(
            db.session.execute(
                select(AccessLog.id, AccessLog.detail).where(AccessLog.detail.isnot(None))
            ).all()
        )
    for pk in details:  # each row's own page says it as the list does
        shown = html.unescape(auditor.get(f"/accesslogview/show/{pk}").get_data(as_text=True))
        assert any(text in shown for text in said), (pk, details[pk])
    with app.test_request_context(), force_locale("en"):
        assert (
            access.journal_detail(f"{access.ANAMNESIS} #{rid}")
            == f"Medical part of the export for subject request No. {rid}"
        )


def shown_and_journaled(app, client, method, url, data=None) -> tuple[int, list, list]:
    """What a card's answer draws (its restricted tabs) and what the journal wrote for it."""
    with app.app_context():
        before = set(db.session.scalars(select(AccessLog.id)))
    response = client.open(url, method=method, data=data)
    drawn = sorted(
        set(re.findall(r'data-tab="(\w+)"', response.get_data(as_text=True))) & access.RESTRICTED_TABS
    )
    with app.app_context():
        written = db.session.query(AccessLog).filter(AccessLog.id.notin_(before)).order_by(AccessLog.id).all()
        journaled = [(r.action, r.field) for r in written]
    return response.status_code, drawn, journaled


@pytest.mark.parametrize("role", ["manager", "reception", "doctor", "auditor"])
def test_the_journal_says_which_tabs_a_card_showed_no_more_no_less(app, login_as, patient, role):
    """The card drawn again under a refused form (a blank note: 422) or a refused status
    (the front desk blocking: 403) shows the same tabs, the passport's and the files
    among them, and the journal wrote nothing of it: a POST read the card unseen. Each
    answer that draws the card is now a row, with the restricted tabs it drew and no
    other; a tab the clinic took from the role is neither drawn nor journaled."""
    from app.access import DOCUMENTS, ROLES

    client = login_as(role)
    card = f"/customerview/show/{patient}"
    asked = [("GET", card, None, 200)]
    if role in ("manager", "reception"):
        asked += [
            ("POST", f"/customerview/{patient}/notes", {"text": "   "}, 422),
            ("POST", f"/customerview/{patient}/status", {"status": "nonsense"}, 422),
        ]
    if role == "reception":
        asked.append(("POST", f"/customerview/{patient}/status", {"status": "blocked"}, 403))
    for method, url, data, status in asked:
        answer, drawn, journaled = shown_and_journaled(app, client, method, url, data)
        assert answer == status, (method, url, answer)
        assert drawn, (method, url)  # the card shows restricted tabs to every such role
        expected = [(AccessAction.CARD, None)] + [(AccessAction.TAB, tab) for tab in drawn]
        assert sorted(journaled, key=str) == sorted(expected, key=str), (method, url, journaled)
    if role != "reception":
        return
    with app.app_context():  # the clinic took the documents from the front desk
        sm = app.appbuilder.sm
        pvm = sm.find_permission_view_menu("can_read", DOCUMENTS)
        sm.del_permission_role(sm.find_role(ROLES["reception"].name), pvm)
    try:
        for method, url, data, _status in asked:
            _answer, drawn, journaled = shown_and_journaled(app, client, method, url, data)
            assert "documents" not in drawn and (AccessAction.TAB, "documents") not in journaled
            assert sorted(journaled, key=str) == sorted(
                [(AccessAction.CARD, None)] + [(AccessAction.TAB, t) for t in drawn], key=str
            )
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            sm.add_permission_role(sm.find_role(ROLES["reception"].name), pvm)


def test_the_journals_customer_filters_read_digits_as_the_lists_do(app, login_as, patient):
    """The journal read «4567» typed in its one «Клиент» box as customer № 4567, while
    every list's search reads digits as a phone's end. Now it has the lists' two
    conditions, each named for what it reads: «Номер клиента» takes a number (a
    deleted customer's rows are still found by theirs), the typed one a name — the
    journal's readers see phones masked, so digits typed there say they are not searched."""
    with app.app_context():
        other = factories.customer(last_name="Сидорова", first_name="Ольга", phone="+79160004567").id
        gone = factories.customer(last_name="Ушедшая", phone="+79160007777").id
    for customer_id in (patient, other, gone):
        login_as("manager").get(f"/customerview/show/{customer_id}")
    assert login_as("manager").post(f"/customerview/delete/{gone}").status_code == 302
    auditor = login_as("auditor")

    def whose(query):
        page = auditor.get(f"/accesslogview/list/?{query}&psize_AccessLogView=100")
        assert page.status_code == 200
        body = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), page.get_data(as_text=True))
        return body, {int(n) for n in re.findall(r'href="/customerview/show/(\d+)"', body)}

    body, _ = whose("")
    assert "Номер клиента" in body and "Найти (ФИО)" in body
    body, found = whose("_flt_1_customer=Сидорова")
    assert found == {other}
    body, found = whose("_flt_1_customer=4567")  # a phone's end, not a number
    assert found == set() and "не ищет по ним: найдите клиента по ФИО" in body
    body, found = whose(f"_flt_0_customer={other}")
    assert found == {other}
    body, found = whose("_flt_0_customer=4567")  # nobody has № 4567
    assert found == set()
    body, _ = whose("_flt_0_customer=Сидорова")
    assert "«Сидорова» — не номер клиента" in body
    with app.app_context():
        kept = db.session.scalar(select(func.count()).where(AccessLog.customer_id == gone))
    body, _ = whose(f"_flt_0_customer={gone}")
    assert kept and body.count("<tr>") - 1 == kept
