"""«Загрузить из файла»: a new clinic's customers from the spreadsheet it kept, as the
manager loads them: checked first (nothing written), then loaded in one go."""

from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.models import Customer, Gender
from tests import factories


def customers(app) -> list[Customer]:
    with app.app_context():
        rows = db.session.scalars(select(Customer).order_by(Customer.id)).all()
        db.session.expunge_all()
        return rows


def check(client, name: str, data: bytes):
    return client.post(
        "/customerview/import/", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def token_of(page: bytes) -> str:
    found = re.search(rb'name="token" value="([^"]+)"', page)
    assert found, page.decode()[:3000]
    return found.group(1).decode()


STAFF_CSV = (
    "Фамилия;Имя;Отчество;Телефон;Эл. почта;Пол;Дата рождения;Город;Теги\r\n"
    "Смирнова;Анна;;8 916 123-45-67;;Женский;15.03.1990;;VIP\r\n"
    ";;;;;;;;\r\n"
    "Петров;Иван;Сергеевич;+7 (903) 555-12-34;ivan@example.ru;;;Москва;\r\n"
)


def test_the_manager_loads_customers_typed_as_staff_type_them(app, login_as):
    with app.app_context():
        from app.models import Tag

        db.session.add(Tag(name="VIP"))
        db.session.commit()
    client = login_as("manager")
    assert "Загрузить из файла" in client.get("/customerview/list/").get_data(as_text=True)

    checked = check(client, "клиенты.csv", STAFF_CSV.encode("cp1251"))  # as Excel saves «CSV» in Russian

    page = checked.get_data(as_text=True)
    assert checked.status_code == 200, page
    assert "Файл проверен: 2 строки, ошибок нет." in page
    assert customers(app) == []  # the check writes nothing
    loaded = client.post("/customerview/import/", data={"token": token_of(checked.data)})
    assert loaded.status_code == 302
    assert "Загружены 2 записи." in client.get(loaded.location).get_data(as_text=True)

    anna, ivan = customers(app)
    assert (anna.last_name, anna.first_name, anna.middle_name) == ("Смирнова", "Анна", None)
    assert anna.phone == "+79161234567" and anna.email is None and anna.city is None
    assert anna.gender == Gender.FEMALE and anna.birth_date == dt.date(1990, 3, 15)
    with app.app_context():
        assert [t.name for t in db.session.get(Customer, anna.id).tags] == ["VIP"]
    assert (ivan.phone, ivan.email, ivan.city, ivan.gender) == (
        "+79035551234",
        "ivan@example.ru",
        "Москва",
        None,
    )

    # the same file again: the confirmation is spent, and every row is now a duplicate
    again = client.post("/customerview/import/", data={"token": token_of(checked.data)})
    assert again.status_code == 302 and len(customers(app)) == 2
    refused = check(client, "клиенты.csv", STAFF_CSV.encode("utf-8-sig"))
    assert refused.status_code == 422
    assert 'name="token"' not in refused.get_data(as_text=True)


def test_a_file_with_bad_rows_is_refused_line_by_line_and_nothing_is_written(app, login_as):
    with app.app_context():
        factories.customer(last_name="Уже-есть", phone="+79160000001")
    client = login_as("manager")
    rows = [
        ["Фамилия", "Имя", "Телефон", "Дата рождения", "Пол", "Цвет глаз"],
        ["Верная", "Ольга", "89161112233", "01.02.1985", "", "карие"],
        ["", "Без фамилии", "89162223344", "", "", ""],
        ["Кривой", "Телефон", "12", "", "", ""],
        ["Нет", "", "8 916 000", "31.02.1990", "", ""],  # a bad date hides no other mistake
        ["Странный", "Пол", "89164445566", "", "М/Ж", ""],
        ["Двойник", "Существующего", "8 916 000-00-01", "", "", ""],
        ["Двойник", "Строки", "89161112233", "", "", ""],
    ]
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)

    response = check(client, "список.xlsx", out.getvalue())

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Файл не загружен: ошибки в 6 строках из 7" in page
    assert "Цвет глаз" in page  # an unknown column is said, not guessed
    lines = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", page)
    assert sorted({int(n) for n, _label in lines}) == [3, 4, 5, 6, 7, 8]
    assert ("6", "Пол") in lines and ("4", "Телефон") in lines
    assert {("5", "Дата рождения"), ("5", "Имя"), ("5", "Телефон")} <= set(lines)
    assert "«М/Ж» нет среди вариантов этого поля" in page
    assert 'name="token"' not in page
    assert [c.last_name for c in customers(app)] == ["Уже-есть"]


def test_the_sample_is_the_form_and_loads_back(app, login_as):
    client = login_as("manager")
    sample = client.get("/customerview/import/sample.xlsx")
    assert sample.status_code == 200
    sheet = load_workbook(io.BytesIO(sample.data)).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["Фамилия", "Имя", "Отчество"] and "Телефон" in header
    column = {title: n for n, title in enumerate(header, start=1)}
    sheet.append({column["Фамилия"]: "Образцова", column["Имя"]: "Ольга", column["Телефон"]: 79165556677})
    sheet.append(
        {
            column["Фамилия"]: "Датова",
            column["Имя"]: "Дарья",
            column["Дата рождения"]: dt.datetime(1975, 1, 2),
        }
    )
    out = io.BytesIO()
    sheet.parent.save(out)

    checked = check(client, "образец.xlsx", out.getvalue())
    assert checked.status_code == 200, checked.get_data(as_text=True)
    client.post("/customerview/import/", data={"token": token_of(checked.data)})

    first, second = customers(app)
    assert (first.last_name, first.phone) == ("Образцова", "+79165556677")
    assert (second.last_name, second.birth_date) == ("Датова", dt.date(1975, 1, 2))


def test_what_is_not_a_table_is_refused_in_russian(app, login_as):
    client = login_as("manager")
    for name, data, message in [
        ("список.xlsx", b"not a zip", "не читается как книга Excel"),
        ("вирус.exe", b"MZ", "Загрузите таблицу Excel (XLSX) или CSV"),
        ("пусто.csv", b"", "В файле нет ни одной строки"),
        ("шапка.csv", "Фамилия;Имя\r\n".encode(), "только строка заголовков"),
        ("чужое.csv", "Колонка;Другая\r\nа;б\r\n".encode(), "Ни один столбец не назван как поле формы"),
    ]:
        response = check(client, name, data)
        assert response.status_code == 422, name
        assert message in response.get_data(as_text=True), name
    forged = client.post("/customerview/import/", data={"token": "1-../../secret_key"})
    assert forged.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(Customer.id))) == 0


def test_only_a_role_with_the_import_right_sees_and_reaches_it(app, login_as):
    client = login_as("reception")  # enters customers one by one; a bulk load is the manager's
    assert "Загрузить из файла" not in client.get("/customerview/list/").get_data(as_text=True)
    assert client.get("/customerview/import/").status_code in (302, 403)
    assert check(client, "клиенты.csv", STAFF_CSV.encode()).status_code in (302, 403)
    assert customers(app) == []


def test_a_row_reads_no_options_again(app, login_as):
    """Each row's form read the extra fields and every select's options again (category,
    tags, manager): about nine statements a row where about seven are the row's own rules (its
    duplicates, the insert, the history). The statements a row adds are counted."""
    from tests.conftest import count_queries

    client = login_as("manager")

    def statements(rows: int, start: int) -> int:
        text = "Фамилия;Имя;Телефон;Категория;Теги\r\n" + "".join(
            f"Ф{n};И;+7916{n:07d};;\r\n" for n in range(start, start + rows)
        )
        with count_queries(app) as issued:
            assert check(client, "клиенты.csv", text.encode()).status_code == 200
        return len(issued)

    per_row = (statements(40, 1000) - statements(20, 2000)) / 20
    assert per_row < 7.5, per_row
