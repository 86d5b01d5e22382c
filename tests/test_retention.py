"""The periodic retention job (issue 19, item 6): the sweeper enqueues it once a day;
it tells the managers how many customers are past the retention period and erases
nobody; a customer with medical records is kept for the medical period (25 years)."""

from __future__ import annotations

import datetime as dt
import html

from rq import SimpleWorker
from sqlalchemy import select

from app import subjects, worker
from app.extensions import db
from app.models import Customer, MedicalRecord, RetentionReview
from tests import factories


def years_ago(years: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=round(365.25 * years))


def plant(app) -> dict[str, int]:
    """A customer past the period, one past it but with an anamnesis, one recent, one past 25 years."""
    with app.app_context():
        old = factories.customer(last_name="Давняя", phone="+79160000021")
        patient = factories.customer(last_name="Пациентка", phone="+79160000022")
        recent = factories.customer(last_name="Недавняя", phone="+79160000023")
        ancient = factories.customer(last_name="Старинная", phone="+79160000024")
        old.last_visit_at = years_ago(6)
        patient.last_visit_at = years_ago(10)
        recent.last_visit_at = years_ago(0.1)
        ancient.last_visit_at = years_ago(26)
        db.session.add(MedicalRecord(customer=patient, allergies="пенициллин"))
        db.session.add(MedicalRecord(customer=ancient, allergies="нет"))
        db.session.commit()
        return {c.last_name: c.id for c in (old, patient, recent, ancient)}


def test_the_sweeper_queues_the_review_once_a_day_and_it_erases_nobody(app, redis):
    ids = plant(app)
    with app.app_context():
        worker.sweep_once()
        assert not worker.queue_retention_review()  # the day's job is queued already
        SimpleWorker([worker.queue()], connection=worker.connection()).work(burst=True)
        (review,) = db.session.query(RetentionReview).all()
        assert (review.due, review.kept_medical) == (2, 1)  # «Давняя» and «Старинная»; «Пациентка» kept
        assert all(db.session.get(Customer, pk).phone for pk in ids.values()), "the job erased someone"
        tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        assert worker.queue_retention_review(tomorrow)


def test_a_notice_is_written_when_the_count_changes(app):
    ids = plant(app)
    with app.app_context():
        first = subjects.review_retention(db.session)
        db.session.commit()
        assert first is not None and first.due == 2
        assert subjects.review_retention(db.session) is None  # nothing new: no second notice
        db.session.get(Customer, ids["Недавняя"]).last_visit_at = years_ago(7)
        db.session.commit()
        again = subjects.review_retention(db.session)
        db.session.commit()
        assert again is not None and (again.due, again.kept_medical) == (3, 1)


def test_nobody_past_retention_leaves_no_notice(app):
    with app.app_context():
        factories.customer()
        assert subjects.review_retention(db.session) is None


def test_a_customer_with_medical_records_is_kept_for_the_medical_period(app, login_as):
    ids = plant(app)
    manager = login_as("manager")
    listing = html.unescape(manager.get("/customerview/list/?_flt_0_last_visit_at=1").get_data(as_text=True))
    assert "Давняя" in listing and "Старинная" in listing
    assert "Пациентка" not in listing and "Недавняя" not in listing
    manager.post(
        "/customerview/action_post", data={"action": "erase_expired", "rowid": [str(ids["Пациентка"])]}
    )
    with app.app_context():
        assert db.session.get(Customer, ids["Пациентка"]).phone == "+79160000022"  # refused: kept


def test_the_managers_read_the_notices_and_open_the_list_from_them(app, login_as):
    plant(app)
    with app.app_context():
        subjects.review_retention(db.session)
        db.session.commit()
    page = html.unescape(login_as("manager").get("/retentionreviewview/list/").get_data(as_text=True))
    assert "Сроки хранения" in page and "Ждут решения об уничтожении" in page
    assert "/customerview/list/?_flt_0_last_visit_at=1" in page and "Открыть список" in page
    auditor = login_as("auditor").get("/retentionreviewview/list/")
    assert auditor.status_code == 200 and "Открыть список" not in auditor.get_data(as_text=True)
    assert login_as("reception").get("/retentionreviewview/list/").status_code in (302, 403)


def test_the_period_runs_from_the_last_visit_or_order_and_from_registration_without_one(app, login_as):
    """The job, the list's filter and the erasure count from the same moment: the last
    order's visit (a visit booked ahead or a sale counts: the customer is still the
    clinic's), the registration for one who never came."""
    from app.models import OrderKind, OrderStatus

    with app.app_context():
        gone = factories.customer(last_name="Ушедшая", phone="+79160000031", registered_at=years_ago(9))
        booked = factories.customer(last_name="Записанная", phone="+79160000032", registered_at=years_ago(9))
        buyer = factories.customer(
            last_name="Покупательница", phone="+79160000033", registered_at=years_ago(9)
        )
        never = factories.customer(last_name="Непришедшая", phone="+79160000034", registered_at=years_ago(6))
        new = factories.customer(last_name="Новенькая", phone="+79160000035", registered_at=years_ago(0.2))
        for customer in (gone, booked):
            factories.order(customer=customer, visit_at=years_ago(6), status=OrderStatus.COMPLETED)
        factories.order(customer=booked, visit_at=years_ago(-0.02))  # next week
        sale = factories.order(customer=buyer, visit_at=None)
        sale.kind, sale.created_on = OrderKind.SALE, years_ago(0.1)
        db.session.commit()
        assert db.session.get(Customer, gone.id).last_visit_at is not None  # the completed visit
        ids = {c.last_name: c.id for c in (gone, booked, buyer, never, new)}
        due = set(db.session.scalars(select(Customer.last_name).where(subjects.past_retention())))
        assert due == {"Ушедшая", "Непришедшая"}
        review = subjects.review_retention(db.session)
        db.session.commit()
        assert review.due == 2
    manager = login_as("manager")
    listing = html.unescape(manager.get("/customerview/list/?_flt_0_last_visit_at=1").get_data(as_text=True))
    assert "Ушедшая" in listing and "Непришедшая" in listing
    for name in ("Записанная", "Покупательница", "Новенькая"):
        assert name not in listing, name
    manager.post(
        "/customerview/action_post",
        data={"action": "erase_expired", "rowid": [str(i) for i in ids.values()]},
    )
    with app.app_context():
        left = {c.id: (c.last_name, c.phone) for c in db.session.query(Customer)}
        assert left[ids["Ушедшая"]] == left[ids["Непришедшая"]] == ("Удалён", None)
        for name in ("Записанная", "Покупательница", "Новенькая"):
            assert left[ids[name]][0] == name and left[ids[name]][1], name


def test_the_erasure_past_the_period_is_the_lists_task_and_its_act_counts_years_in_russian(app, login_as):
    """«Уничтожить данные (срок хранения истёк)» was offered on every card (and refused
    on nearly all); an act of a three-year period read «3 лет»."""
    from app.models import SubjectRequest

    ids = plant(app)
    manager = login_as("manager")
    card = manager.get(f"/customerview/show/{ids['Давняя']}").get_data(as_text=True)
    assert "erase_expired" not in card and "Уничтожить данные (срок хранения истёк)" not in card
    assert "erase_expired" in manager.get("/customerview/list/").get_data(as_text=True)
    saved, app.config["RETENTION_YEARS"] = app.config["RETENTION_YEARS"], 3
    try:
        manager.post(
            "/customerview/action_post", data={"action": "erase_expired", "rowid": [str(ids["Давняя"])]}
        )
    finally:
        app.config["RETENTION_YEARS"] = saved
    with app.app_context():
        bases = db.session.scalars(select(SubjectRequest.basis)).all()
    assert bases == ["Истёк срок хранения: 3 года после последнего визита"]
