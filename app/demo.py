"""Realistic Russian demo data, inserted in bulk (executemany / COPY-sized batches)."""

from __future__ import annotations

import datetime as dt
import enum
import random
import secrets
from decimal import Decimal
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import func, insert, or_, select, update

from .access import ROLES
from .customers import fold, name_search_key
from .database import refresh_statistics
from .extensions import db
from .models import (
    Account,
    AccountOperation,
    AttemptOutcome,
    AttributeKind,
    Branch,
    CatalogItem,
    CatalogKind,
    Channel,
    ConsentMethod,
    ConsentPurpose,
    Customer,
    CustomerAttribute,
    CustomerAttributeValue,
    CustomerCategory,
    CustomerDocument,
    CustomerStatus,
    CustomerType,
    DocumentKind,
    FileCategory,
    Gender,
    MedicalRecord,
    Message,
    MessageAttempt,
    MessageStatus,
    MessageType,
    ModerationStatus,
    Note,
    NotificationConsent,
    OperationKind,
    Order,
    OrderItem,
    OrderKind,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ProcessingConsent,
    Return,
    ReturnStatus,
    Review,
    Tag,
    customer_tag,
    utcnow,
)

MALE_FIRST = [
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Артём",
    "Илья",
    "Кирилл",
    "Михаил",
    "Никита",
    "Иван",
    "Егор",
    "Роман",
    "Павел",
    "Олег",
    "Владимир",
    "Николай",
]
FEMALE_FIRST = [
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Екатерина",
    "Татьяна",
    "Ирина",
    "Светлана",
    "Юлия",
    "Анастасия",
    "Дарья",
    "Ксения",
    "Виктория",
    "Полина",
    "Алина",
    "Вера",
    "Людмила",
]
LAST_STEMS = [
    ("Иванов", "Иванова"),
    ("Смирнов", "Смирнова"),
    ("Кузнецов", "Кузнецова"),
    ("Попов", "Попова"),
    ("Васильев", "Васильева"),
    ("Петров", "Петрова"),
    ("Соколов", "Соколова"),
    ("Михайлов", "Михайлова"),
    ("Новиков", "Новикова"),
    ("Фёдоров", "Фёдорова"),
    ("Морозов", "Морозова"),
    ("Волков", "Волкова"),
    ("Алексеев", "Алексеева"),
    ("Лебедев", "Лебедева"),
    ("Семёнов", "Семёнова"),
    ("Егоров", "Егорова"),
    ("Павлов", "Павлова"),
    ("Козлов", "Козлова"),
    ("Степанов", "Степанова"),
    ("Николаев", "Николаева"),
    ("Орлов", "Орлова"),
    ("Андреев", "Андреева"),
    ("Макаров", "Макарова"),
    ("Никитин", "Никитина"),
    ("Захаров", "Захарова"),
]
PATRONYMICS = [
    ("Александрович", "Александровна"),
    ("Дмитриевич", "Дмитриевна"),
    ("Сергеевич", "Сергеевна"),
    ("Андреевич", "Андреевна"),
    ("Алексеевич", "Алексеевна"),
    ("Михайлович", "Михайловна"),
    ("Иванович", "Ивановна"),
    ("Николаевич", "Николаевна"),
    ("Владимирович", "Владимировна"),
    ("Петрович", "Петровна"),
]
CITIES = [
    "Москва",
    "Санкт-Петербург",
    "Казань",
    "Новосибирск",
    "Екатеринбург",
    "Нижний Новгород",
    "Самара",
    "Краснодар",
    "Тула",
    "Воронеж",
]
SOURCES = [
    "Сайт",
    "Рекомендация",
    "Instagram",
    "ВКонтакте",
    "Яндекс.Карты",
    "2ГИС",
    "Вывеска",
    "Повторный визит",
]
CATALOG = [
    ("Первичная консультация терапевта", CatalogKind.SERVICE, "1500.00", 30),
    ("Повторная консультация", CatalogKind.SERVICE, "1200.00", 20),
    ("УЗИ брюшной полости", CatalogKind.SERVICE, "2300.00", 30),
    ("Общий анализ крови", CatalogKind.SERVICE, "650.00", 10),
    ("Чистка лица", CatalogKind.SERVICE, "3500.00", 60),
    ("Маникюр с покрытием", CatalogKind.SERVICE, "1800.00", 90),
    ("Стрижка женская", CatalogKind.SERVICE, "2200.00", 60),
    ("Массаж спины", CatalogKind.SERVICE, "2500.00", 45),
    ("Пилинг", CatalogKind.SERVICE, "4200.00", 45),
    ("Крем увлажняющий", CatalogKind.PRODUCT, "1290.50", None),
    ("Сыворотка с витамином C", CatalogKind.PRODUCT, "2450.00", None),
    ("Шампунь профессиональный", CatalogKind.PRODUCT, "990.00", None),
]
BRANCHES = [
    ("Центральный филиал", "Москва, ул. Тверская, д. 12", "+74951234567"),
    ("Филиал на Садовой", "Санкт-Петербург, ул. Садовая, д. 5", "+78125550011"),
    ("Филиал «Южный»", "Москва, Варшавское ш., д. 87", None),  # a blank phone, as in life
]
CATEGORIES = [
    ("Постоянный клиент", "5.00"),
    ("VIP", "10.00"),
    ("Новый клиент", "0.00"),
    ("Сотрудник", "20.00"),
]
TAGS = [
    ("аллергик", "#d9534f"),
    ("VIP", "#f0ad4e"),
    ("любит утро", "#5bc0de"),
    ("не звонить", "#777777"),
    ("ребёнок", "#5cb85c"),
]
NOTES = [
    "Просит звонить после 18:00.",
    "Предпочитает запись к одному и тому же специалисту.",
    "Оплатил депозит на следующий визит.",
    "Не любит громкую музыку в кабинете.",
    "Напомнить о повторном визите через месяц.",
    "Приходит с ребёнком, нужна детская зона.",
]
REVIEWS = [
    "Всё понравилось, спасибо!",
    "Очень внимательный специалист.",
    "Пришлось подождать 20 минут.",
    "Отличный сервис, приду ещё.",
    "Дороговато, но качественно.",
]
ALLERGIES = ["Пенициллин", "Лидокаин", "Латекс", "Пыльца берёзы", "нет", "Орехи"]
CONDITIONS = [
    "Гипертония I ст.",
    "Сахарный диабет 2 типа",
    "Бронхиальная астма",
    "нет",
    "Гастрит",
]
MEDICATIONS = [
    "Эналаприл 10 мг",
    "Метформин 500 мг",
    "нет",
    "Сальбутамол по требованию",
]
CONTRA = ["Беременность", "нет", "Кардиостимулятор", "Склонность к келоидам"]

TRANSLIT = str.maketrans(
    {
        "а": "a",
        "б": "b",
        "в": "v",
        "г": "g",
        "д": "d",
        "е": "e",
        "ё": "e",
        "ж": "zh",
        "з": "z",
        "и": "i",
        "й": "y",
        "к": "k",
        "л": "l",
        "м": "m",
        "н": "n",
        "о": "o",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ф": "f",
        "х": "h",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "sch",
        "ъ": "",
        "ы": "y",
        "ь": "",
        "э": "e",
        "ю": "yu",
        "я": "ya",
    }
)

COMPANIES = [
    "ООО «Ромашка»",
    "АО «Северное сияние»",
    "ООО «Медтехника»",
    "ООО «Бьюти Лаб»",
    "ЗАО «Вектор»",
    "ООО «Здоровый офис»",
]
# What a new clinic's week looks like, not only a tidy register: some customers
# leave optional fields blank, some are legal entities or sole proprietors with
# the extra fields an administrator defined for them (drawn from a random stream
# of their own, so that the rest of the data stays as the same seed always gave).
BLANK_SHARE, LEGAL_SHARE, SOLE_SHARE = 0.15, 0.04, 0.03
ATTRIBUTES = [
    (CustomerType.LEGAL, "ИНН", AttributeKind.TEXT, True),
    (CustomerType.LEGAL, "Дата договора", AttributeKind.DATE, False),
    (CustomerType.SOLE, "ОГРНИП", AttributeKind.TEXT, True),
    (CustomerType.INDIVIDUAL, "Рост, см", AttributeKind.NUMBER, False),
]

BATCH = 5000

# How many orders / notes a customer gets: drawn from these, then scaled to the
# density asked for. The demo's density is the lists' own mean (2 and 0.75).
ORDER_COUNTS = (0, 1, 1, 2, 3, 5)
NOTE_COUNTS = (0, 0, 1, 2)
DEMO_ORDERS_PER_CUSTOMER = sum(ORDER_COUNTS) / len(ORDER_COUNTS)
DEMO_NOTES_PER_CUSTOMER = sum(NOTE_COUNTS) / len(NOTE_COUNTS)


def _ensure_reference() -> dict:
    session = db.session
    if not session.scalar(select(func.count(Branch.id))):
        session.execute(
            insert(Branch),
            [
                {
                    "name": n,
                    "address": a,
                    "phone": p,
                    "created_on": utcnow(),
                    "changed_on": utcnow(),
                }
                for n, a, p in BRANCHES
            ],
        )
        session.execute(
            insert(CustomerCategory),
            [
                {
                    "name": n,
                    "discount": Decimal(d),
                    "created_on": utcnow(),
                    "changed_on": utcnow(),
                }
                for n, d in CATEGORIES
            ],
        )
        session.execute(
            insert(Tag),
            [{"name": n, "color": c, "created_on": utcnow(), "changed_on": utcnow()} for n, c in TAGS],
        )
        session.execute(
            insert(CatalogItem),
            [
                {
                    "name": n,
                    "kind": k,
                    "price": Decimal(p),
                    "duration_min": d,
                    "active": True,
                    "created_on": utcnow(),
                    "changed_on": utcnow(),
                }
                for n, k, p, d in CATALOG
            ],
        )
        session.commit()
    if not session.scalar(select(func.count(CustomerAttribute.id))):
        session.execute(
            insert(CustomerAttribute),
            [
                {
                    "customer_type": kind,
                    "label": label,
                    "kind": value_kind,
                    "required": required,
                    "position": position,
                    "created_on": utcnow(),
                    "changed_on": utcnow(),
                }
                for position, (kind, label, value_kind, required) in enumerate(ATTRIBUTES)
            ],
        )
        session.commit()
    return {
        "attributes": {
            (kind, label): pk
            for pk, kind, label in session.execute(
                select(CustomerAttribute.id, CustomerAttribute.customer_type, CustomerAttribute.label)
            )
        },
        # in one order (by id): PostgreSQL returns rows as its pages hold them, which an
        # update or a deletion reshuffles, and the same seed drew other prices
        "branches": session.scalars(select(Branch.id).order_by(Branch.id)).all(),
        "categories": session.scalars(select(CustomerCategory.id).order_by(CustomerCategory.id)).all(),
        "tags": session.scalars(select(Tag.id).order_by(Tag.id)).all(),
        # a visit books services, a sale sells products (the order kinds as the front desk uses them)
        **{
            key: session.execute(
                select(CatalogItem.id, CatalogItem.name, CatalogItem.price)
                .where(CatalogItem.kind == kind)
                .order_by(CatalogItem.id)
            ).all()
            for key, kind in (("services", CatalogKind.SERVICE), ("products", CatalogKind.PRODUCT))
        },
    }


def _staff_ids(role_key: str) -> list[int]:
    sm = current_app.appbuilder.sm
    role = sm.find_role(ROLES[role_key].name)
    return [u.id for u in role.user] if role is not None and hasattr(role, "user") else []


def _flush(table_or_model, rows: list[dict]) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if db.engine.dialect.name == "postgresql":
        _copy(getattr(table_or_model, "__table__", table_or_model), rows)
    else:
        for i in range(0, len(rows), BATCH):
            db.session.execute(insert(table_or_model), rows[i : i + BATCH])
    rows.clear()


def _copy(table, rows: list[dict]) -> None:
    columns = list(rows[0])
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [v.value if isinstance(v, enum.Enum) else v for v in (row[c] for c in columns)]
                )


def _how_many(rng: random.Random, counts: tuple[int, ...], scale: float) -> int:
    """A count drawn from ``counts``, times ``scale``, rounded at random so the mean is exact.

    At scale 1 it draws exactly what it always did, so the demo data stays the same.
    """
    exact = rng.choice(counts) * scale
    whole = int(exact)
    if exact > whole and rng.random() < exact - whole:
        whole += 1
    return whole


def seed_demo(
    customers: int = 300,
    seed: int = 1,
    now: dt.datetime | None = None,
    *,
    orders_per_customer: float = DEMO_ORDERS_PER_CUSTOMER,
    notes_per_customer: float = DEMO_NOTES_PER_CUSTOMER,
) -> str:
    """Insert ``customers`` customers with documents, orders, returns, reviews, notes.

    ``orders_per_customer`` and ``notes_per_customer`` are the averages (the
    benchmark asks for 5 and 1); the same seed and densities give the same data.
    """
    if orders_per_customer < 0 or notes_per_customer < 0:
        raise ValueError("densities cannot be negative")
    requested = customers
    # the variety set (_variety) is part of the customers asked for, once per database: the
    # benchmark's chunks and its «--reuse» count them
    with_variety = customers >= VARIETY_FROM and not _variety_seeded()
    if with_variety:
        customers -= VARIETY_CUSTOMERS
    order_scale = orders_per_customer / DEMO_ORDERS_PER_CUSTOMER
    note_scale = notes_per_customer / DEMO_NOTES_PER_CUSTOMER
    rng = random.Random(seed)
    now = now or utcnow()
    ref = _ensure_reference()
    session = db.session
    managers = _staff_ids("manager") + _staff_ids("reception") or [None]
    specialists = _staff_ids("doctor") or [None]
    # Notes are written by the front desk, managers and doctors.
    note_authors = _staff_ids("reception") + _staff_ids("manager") + _staff_ids("doctor") or [None]
    start_id = (session.scalar(select(func.max(Customer.id))) or 0) + 1
    start_order = (session.scalar(select(func.max(Order.id))) or 0) + 1
    used_phones = set(session.scalars(select(Customer.phone)).all())
    rows_c, rows_t, rows_d, rows_o, rows_i, rows_r, rows_v, rows_n, rows_m, rows_a = ([] for _ in range(10))
    variety = random.Random(seed * 7919 + 17)  # blanks and customer types: a stream of their own
    money = random.Random(seed * 104729 + 18)  # payments and accounts: a stream of their own
    papers = random.Random(seed * 15485863 + 19)  # documents' kinds and blanks: a stream of their own
    rows_p, rows_x = [], []
    order_id = start_order
    counts = dict.fromkeys(("orders", "items", "returns", "reviews", "notes", "documents"), 0)
    for n in range(customers):
        cid = start_id + n
        female = rng.random() < 0.6
        first = rng.choice(FEMALE_FIRST if female else MALE_FIRST)
        last = rng.choice(LAST_STEMS)[1 if female else 0]
        middle = rng.choice(PATRONYMICS)[1 if female else 0]
        while True:
            phone = "+79" + "".join(rng.choice("0123456789") for _ in range(9))
            if phone not in used_phones:
                used_phones.add(phone)
                break
        email = f"{first.lower().translate(TRANSLIT)}.{last.lower().translate(TRANSLIT)}{cid}@example.ru"
        registered = now - dt.timedelta(days=rng.randint(0, 1500), minutes=rng.randint(0, 1440))
        birth = dt.date(rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28))
        status = rng.choices(CustomerStatus.settable(), weights=[80, 12, 5, 3])[0]
        rows_c.append(
            {
                "id": cid,
                "last_name": last,
                "first_name": first,
                "middle_name": middle,
                "name_search": f" {fold(last)} {fold(first)} {fold(middle)}",
                "customer_type": CustomerType.INDIVIDUAL,
                "company_name": None,
                "phone": phone,
                "email": email,
                "gender": Gender.FEMALE if female else Gender.MALE,
                "birth_date": birth,
                "city": rng.choice(CITIES),
                "category_id": rng.choice(ref["categories"]),
                "source": rng.choice(SOURCES),
                "card_number": f"K{cid:08d}",
                "discount": Decimal(0),
                "manager_id": rng.choice(managers),
                "status": status,
                "registered_at": registered,
                "last_visit_at": None,
                "last_visit_ip": None,
                "bonus_balance": Decimal(rng.choice([0, 0, 150, 300, 1200])),
                "deposit_balance": Decimal(rng.choice([0, 0, 0, 5000])),
                "version": 1,
                "created_on": registered,
                "changed_on": registered,
            }
        )
        _vary(variety, rows_c[-1], rows_a, ref["attributes"], registered)
        _accounts(rows_x, rows_c[-1], managers)
        for tag in rng.sample(ref["tags"], rng.choice([0, 0, 1, 2])):
            rows_t.append({"customer_id": cid, "tag_id": tag})
        if rng.random() < 0.5:
            issue = birth + dt.timedelta(days=365 * 20 + rng.randint(0, 3000))
            issue = min(issue, now.date() - dt.timedelta(days=30))
            passport = {
                "customer_id": cid,
                "kind": DocumentKind.PASSPORT_RF,
                "series": f"{rng.randint(1000, 9999)}",
                "number": f"{rng.randint(100000, 999999)}",
                "issued_by": "ГУ МВД России по г. Москве",
                "issue_date": issue,
                "division_code": f"{rng.randint(100, 999)}-{rng.randint(100, 999)}",
                "address": None,
                "citizenship": "Российская Федерация",
                "created_on": registered,
                "changed_on": registered,
            }
            rows_d.append(_document(papers, passport, counts["documents"], birth))
            counts["documents"] += 1
        last_visit = None
        for _ in range(_how_many(rng, ORDER_COUNTS, order_scale)):
            created = registered + dt.timedelta(days=rng.randint(0, max(1, (now - registered).days)))
            created = min(created, now)
            kind = OrderKind.VISIT if rng.random() < 0.8 else OrderKind.SALE
            pool = (ref["services"] if kind == OrderKind.VISIT else ref["products"]) or ref["services"] + ref[
                "products"
            ]
            items = rng.sample(pool, min(len(pool), rng.choice([1, 1, 2, 3])))
            total = Decimal(0)
            for item_id, name, price in items:
                qty = 1 if rng.random() < 0.85 else 2
                amount = Decimal(price) * qty
                total += amount
                rows_i.append(
                    {
                        "order_id": order_id,
                        "catalog_item_id": item_id,
                        "name": name,
                        "quantity": qty,
                        "price": price,
                        "amount": amount,
                    }
                )
                counts["items"] += 1
            paid = rng.choice([total, total, total, Decimal(0), (total / 2).quantize(Decimal("0.01"))])
            order_status = (
                OrderStatus.REVIEW
                if status == CustomerStatus.PROBLEM
                else rng.choice(
                    [
                        OrderStatus.COMPLETED,
                        OrderStatus.COMPLETED,
                        OrderStatus.CONFIRMED,
                        OrderStatus.NEW,
                        OrderStatus.CANCELLED,
                    ]
                )
            )
            payment = (
                PaymentStatus.PAID
                if paid >= total
                else PaymentStatus.UNPAID
                if paid == 0
                else PaymentStatus.PARTIAL
            )
            rows_o.append(
                {
                    "id": order_id,
                    "customer_id": cid,
                    "kind": kind,
                    "branch_id": rng.choice(ref["branches"]),
                    # a sale is made at the desk: no specialist, no visit time
                    "specialist_id": rng.choice(specialists) if kind == OrderKind.VISIT else None,
                    "visit_at": created if kind == OrderKind.VISIT else None,
                    "status": order_status,
                    "payment_status": payment,
                    "total": total,
                    "paid": paid,
                    "comment": None,
                    # marked «Выполнен» as the visit ended («Последний визит» reads it)
                    "completed_at": created + dt.timedelta(minutes=45)
                    if kind == OrderKind.VISIT and order_status == OrderStatus.COMPLETED
                    else None,
                    "created_on": created,
                    "changed_on": created,
                }
            )
            counts["orders"] += 1
            _payments(money, rows_p, rows_o[-1], managers)
            if rows_o[-1]["kind"] == OrderKind.VISIT and order_status == OrderStatus.COMPLETED:
                last_visit = max(last_visit or created, created)  # the last completed visit
            if paid > 0 and rng.random() < 0.05:
                rows_r.append(
                    {
                        "customer_id": cid,
                        "order_id": order_id,
                        "amount": min(paid, Decimal(items[0][2])),
                        "reason": "Клиент недоволен результатом",
                        "status": rng.choice(list(ReturnStatus)),
                        "created_on": created,
                        "changed_on": created,
                    }
                )
                counts["returns"] += 1
            if rng.random() < 0.2:
                rows_v.append(
                    {
                        "customer_id": cid,
                        "order_id": order_id,
                        "specialist_id": rows_o[-1]["specialist_id"],
                        "rating": rng.choice([5, 5, 5, 4, 4, 3, 2, 1]),
                        "text": rng.choice(REVIEWS),
                        "moderation_status": rng.choice(list(ModerationStatus)),
                        "reply": None,
                        "created_on": created,
                        "changed_on": created,
                    }
                )
                counts["reviews"] += 1
            order_id += 1
        rows_c[-1]["last_visit_at"] = last_visit
        rows_c[-1]["last_visit_ip"] = (
            f"95.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" if last_visit else None
        )
        for _ in range(_how_many(rng, NOTE_COUNTS, note_scale)):
            written = registered + (now - registered) * rng.random()
            rows_n.append(
                {
                    "customer_id": cid,
                    "text": rng.choice(NOTES),
                    "pinned": rng.random() < 0.1,
                    "created_by_fk": rng.choice(note_authors),
                    "created_on": written,
                    "changed_on": written,
                }
            )
            counts["notes"] += 1
        if rng.random() < 0.3:
            rows_m.append(
                {
                    "customer_id": cid,
                    "allergies": rng.choice(ALLERGIES),
                    "conditions": rng.choice(CONDITIONS),
                    "medications": rng.choice(MEDICATIONS),
                    "contraindications": rng.choice(CONTRA),
                    "text": None,
                    "created_by_fk": rng.choice(specialists),
                    "changed_by_fk": None,
                    "created_on": registered,
                    "changed_on": registered,
                }
            )
        if len(rows_c) >= BATCH:
            _flush_all(rows_c, rows_t, rows_d, rows_o, rows_i, rows_r, rows_v, rows_n, rows_m, rows_a)
            _flush(Payment, rows_p)
            _flush(AccountOperation, rows_x)
    _flush_all(rows_c, rows_t, rows_d, rows_o, rows_i, rows_r, rows_v, rows_n, rows_m, rows_a)
    _flush(Payment, rows_p)
    _flush(AccountOperation, rows_x)
    _refunds(session, start_order)
    _fix_sequences()
    codes = random.Random(seed * 15485863 + 4)  # the certificates' numbers: a stream of their own
    _certificates(session, start_id, customers, now, _staff_ids("reception") or managers, codes)
    _messages_consents_files(session, start_id, customers, now)
    if with_variety:
        _variety(session, now)
    session.commit()
    from .subjects import discard_contents

    discard_contents(session)  # the erased customer's files, from the disk
    _variety_jobs(session)
    # the planner's statistics for what was just written (autovacuum comes too late)
    refresh_statistics(session, SEEDED_TABLES)
    return (
        f"customers: {requested}, orders: {counts['orders']} ({counts['items']} items), "
        f"documents: {counts['documents']}, "
        f"returns: {counts['returns']}, reviews: {counts['reviews']}, notes: {counts['notes']}"
    )


PAYMENT_COMMENTS = ("Оплата на ресепшн", "Предоплата по телефону", None, None, None)


def _payments(money: random.Random, rows_p: list, order: dict, staff: list) -> None:
    """What was paid for an order as payments: one, or (a third of the time) two parts
    by different methods; some without a comment, as a front desk leaves them."""
    paid = order["paid"]
    if paid <= 0:
        return
    first = paid
    if paid >= 2 and money.random() < 0.33:
        first = (paid * Decimal(money.choice(["0.3", "0.5", "0.7"]))).quantize(Decimal("0.01"))
    methods = [PaymentMethod.CASH, PaymentMethod.CARD, PaymentMethod.CARD, PaymentMethod.TRANSFER]
    for part, shift in ((first, 0), (paid - first, 1)):
        if part <= 0:
            continue
        at = order["created_on"] + dt.timedelta(days=shift, minutes=money.randint(0, 90))
        rows_p.append(
            {
                "order_id": order["id"],
                "customer_id": order["customer_id"],
                "amount": part,
                "method": money.choice(methods),
                "paid_at": at,
                "comment": money.choice(PAYMENT_COMMENTS),
                "reverses_id": None,
                "return_id": None,
                "created_by_fk": money.choice(staff),
                "changed_by_fk": None,
                "created_on": at,
                "changed_on": at,
            }
        )


def _accounts(rows_x: list, customer: dict, staff: list) -> None:
    """A balance the demo gives a customer is the sum of its operations: a deposit paid
    in advance, welcome bonuses."""
    for account, kind, column, comment in (
        (Account.DEPOSIT, OperationKind.TOP_UP, "deposit_balance", "Предоплата за курс процедур"),
        (Account.BONUS, OperationKind.ACCRUAL, "bonus_balance", "Приветственные бонусы"),
    ):
        if customer[column] > 0:
            rows_x.append(
                {
                    "customer_id": customer["id"],
                    "account": account,
                    "kind": kind,
                    "amount": customer[column],
                    "payment_id": None,
                    "comment": comment,
                    "expires_at": None,
                    "created_by_fk": staff[0],
                    "changed_by_fk": None,
                    "created_on": customer["registered_at"],
                    "changed_on": customer["registered_at"],
                }
            )


def _refunds(session, start_order: int) -> None:
    """A return the demo marks «Деньги возвращены» is refunded as a payment of its own."""
    from sqlalchemy import update

    from .payments import payment_status

    refunded = session.execute(
        select(
            Return.id, Return.order_id, Return.customer_id, Return.amount, Return.reason, Return.created_on
        )
        .where(Return.order_id >= start_order, Return.status == ReturnStatus.REFUNDED)
        .order_by(Return.id)
    ).all()
    for return_id, order_id, customer_id, amount, reason, at in refunded:
        total, paid, given = session.execute(
            select(Order.total, Order.paid, Order.refunded).where(Order.id == order_id)
        ).one()
        amount = min(amount, paid)
        if amount <= 0:
            continue
        session.execute(
            insert(Payment).values(
                order_id=order_id,
                customer_id=customer_id,
                amount=-amount,
                method=PaymentMethod.CARD,
                paid_at=at,
                comment=reason,
                return_id=return_id,
                created_on=at,
                changed_on=at,
            )
        )
        session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(
                paid=paid - amount,
                refunded=given + amount,
                payment_status=payment_status(total, paid - amount, given + amount),
            )
        )


CERTIFICATE_KINDS = [
    # (name, type, price, nominal, visits, services, days)
    ("Подарочный сертификат 5 000 ₽", "sum", "5000.00", None, None, (), 365),
    ("Подарочный сертификат 3 000 ₽", "sum", "2700.00", "3000.00", None, (), 180),
    ("Абонемент: 5 массажей спины", "visits", "11000.00", None, 5, ("Массаж спины",), 90),
]


def _certificates(
    session, start_id: int, customers: int, now: dt.datetime, staff: list, codes: random.Random
) -> None:
    """The kinds, and three sold: a certificate partly spent on a visit, a subscription
    with two visits written off, and a certificate that expired unused. Each balance
    is the sum of its operations, as the rules of app/certificates.py keep it."""
    from .models import (
        Certificate,
        CertificateKind,
        CertificateOperation,
        CertificateOperationKind,
        CertificateType,
    )

    if not session.scalar(select(func.count(CertificateKind.id))):
        catalog = {item.name: item for item in session.scalars(select(CatalogItem))}
        for name, kind_type, price, amount, visits, services, days in CERTIFICATE_KINDS:
            session.add(
                CertificateKind(
                    name=name,
                    type=CertificateType(kind_type),
                    price=Decimal(price),
                    amount=Decimal(amount) if amount else None,
                    visits=visits,
                    services=[catalog[s] for s in services if s in catalog],
                    valid_days=days,
                    active=True,
                )
            )
        session.flush()
    if customers < 3:
        return
    kinds = {k.name: k for k in session.scalars(select(CertificateKind))}
    seller = staff[0] if staff else None
    catalog = {item.name: item for item in session.scalars(select(CatalogItem))}

    def new_code():
        while True:
            code = f"{codes.randrange(10**4):04d}-{codes.randrange(10**4):04d}"
            if session.scalar(select(Certificate.id).where(Certificate.code == code)) is None:
                return code

    def sell(customer_id, kind, days_ago):
        sold_at = now - dt.timedelta(days=days_ago)
        certificate = Certificate(
            code=new_code(),
            kind=kind,
            customer_id=customer_id,
            buyer_id=customer_id,  # what certificates.sell sets: who paid
            type=kind.type,
            price=kind.price,
            method=PaymentMethod.CARD,
            sold_at=sold_at,
            valid_until=sold_at + dt.timedelta(days=kind.valid_days),
            created_by_fk=seller,
            created_on=sold_at,
            changed_on=sold_at,
        )
        issue = CertificateOperation(
            certificate=certificate,
            kind=CertificateOperationKind.ISSUE,
            created_by_fk=seller,
            created_on=sold_at,
        )
        if kind.type == CertificateType.SUM:
            certificate.amount = certificate.balance = issue.amount = kind.amount or kind.price
        else:
            certificate.visits_total = certificate.visits_left = issue.visits = kind.visits
        certificate.services = list(kind.services)  # the kind's terms, copied at the sale
        session.add_all([certificate, issue])
        return certificate

    def visit(customer_id, certificate, service, days_ago):
        """A completed visit for ``service``, paid in full by ``certificate``."""
        at = now - dt.timedelta(days=days_ago)
        item = catalog[service]
        order = Order(
            customer_id=customer_id,
            kind=OrderKind.VISIT,
            visit_at=at,
            status=OrderStatus.COMPLETED,
            payment_status=PaymentStatus.PAID,
            total=item.price,
            paid=item.price,
            created_on=at,
            changed_on=at,
        )
        order.items.append(
            OrderItem(
                catalog_item_id=item.id, name=item.name, quantity=1, price=item.price, amount=item.price
            )
        )
        payment = Payment(
            order=order,
            customer_id=customer_id,
            amount=item.price,
            method=PaymentMethod.CERTIFICATE,
            certificate=certificate,
            paid_at=at,
            created_by_fk=seller,
            created_on=at,
        )
        spent = CertificateOperation(
            certificate=certificate,
            kind=CertificateOperationKind.PAYMENT,
            payment=payment,
            created_by_fk=seller,
            created_on=at,
        )
        if certificate.type == CertificateType.SUM:
            certificate.balance -= item.price
            spent.amount = -item.price
        else:
            certificate.visits_left -= 1
            spent.visits = -1
        session.add_all([order, payment, spent])
        session.flush()
        session.execute(  # «Последний визит» is the last completed visit
            update(Customer)
            .where(
                Customer.id == customer_id,
                or_(Customer.last_visit_at.is_(None), Customer.last_visit_at < at),
            )
            .values(last_visit_at=at)
        )

    gift = sell(start_id, kinds["Подарочный сертификат 5 000 ₽"], 30)
    visit(start_id, gift, "Первичная консультация терапевта", 10)
    course = sell(start_id + 1, kinds["Абонемент: 5 массажей спины"], 20)
    for days_ago in (14, 7):
        visit(start_id + 1, course, "Массаж спины", days_ago)
    sell(start_id + 2, kinds["Подарочный сертификат 3 000 ₽"], 400)  # expired unused
    session.flush()


DEMO_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# a 1×1 lossless WebP: a before/after photo as a phone sends it
DEMO_WEBP = bytes.fromhex("524946461a000000574542505650384c0d0000002f00000010071011118888fe0700")
DEMO_MESSAGES = (
    # status, attempts' outcomes, last error (in the clinic's language); none «Отправляется»:
    # a send lasts seconds, and one seeded in flight has no worker, so the first run.py
    # handed it out again with a warning and sent a week-old «ждём вас завтра»
    (MessageStatus.QUEUED, (), None),
    (MessageStatus.SENT, (AttemptOutcome.SENT,), None),
    (
        MessageStatus.FAILED,
        (AttemptOutcome.RETRY, AttemptOutcome.FAILED),
        "Номер не обслуживается оператором",
    ),
    (MessageStatus.CANCELLED, (AttemptOutcome.CANCELLED,), None),
    (
        MessageStatus.EXPIRED,
        (AttemptOutcome.RETRY, AttemptOutcome.EXPIRED),
        "Сообщение не отправлено вовремя",
    ),
    # a worker died mid-send, and one whose answer came after its message was handed to
    # another: each sent again («Отправлено повторно после сбоя»)
    (MessageStatus.SENT, (AttemptOutcome.INTERRUPTED, AttemptOutcome.SENT), None),
    (MessageStatus.SENT, (AttemptOutcome.SUPERSEDED, AttemptOutcome.SENT), None),
)
AFTER_CRASH = (AttemptOutcome.INTERRUPTED, AttemptOutcome.SUPERSEDED)
INTERRUPTED_REASON = "Обработчик не ответил за 120 с; сообщение будет отправлено повторно"


PROVIDER_ANSWERS = {
    AttemptOutcome.SENT: '{"status": "accepted", "cost": "3.20"}',
    AttemptOutcome.RETRY: "503 Service Temporarily Unavailable",
    AttemptOutcome.FAILED: '{"error": "number is not served by the operator", "code": 7}',
}


def _messages_consents_files(session, start_id: int, customers: int, now: dt.datetime) -> None:
    """A message in every status (with its attempts), notification consents given and
    refused, processing consents on paper (with the scan in «Файлы»), on screen and
    withdrawn, and files of two kinds: the screens that show them are never empty."""
    from .consents import record
    from .files import add_file

    if customers < 4:
        return
    first = session.get(Customer, start_id + 3)
    second = session.get(Customer, start_id + 4) if customers > 4 else first
    scan = add_file(session, first, "Согласие на обработку ПДн.pdf", DEMO_PDF, FileCategory.CONSENT)
    add_file(
        session,
        second,
        "Направление.txt",
        "Направление на анализы: ОАК, биохимия.\n".encode(),
        FileCategory.MEDICAL,
    )
    session.flush()
    record(session, first, ConsentPurpose.TREATMENT, given=True, method=ConsentMethod.PAPER, file_id=scan.id)
    record(session, first, ConsentPurpose.MARKETING, given=True, method=ConsentMethod.SCREEN)
    record(session, second, ConsentPurpose.NOTIFICATIONS, given=True, method=ConsentMethod.SCREEN)
    session.flush()
    record(session, second, ConsentPurpose.NOTIFICATIONS, given=False)
    desk = (_staff_ids("reception") or [None])[0]  # who took them at the desk
    session.execute(
        update(ProcessingConsent).where(ProcessingConsent.employee_id.is_(None)).values(employee_id=desk)
    )
    session.add_all(
        [
            NotificationConsent(
                customer=first, message_type=MessageType.MARKETING, channel=Channel.SMS, allowed=False
            ),
            NotificationConsent(
                customer=second, message_type=MessageType.VISIT_REMINDER, channel=Channel.EMAIL, allowed=True
            ),
        ]
    )
    for n, (status, outcomes, error) in enumerate(DEMO_MESSAGES):
        customer = first if n % 2 else second
        at = now - dt.timedelta(days=len(DEMO_MESSAGES) - n, hours=n)
        message = Message(
            customer=customer,
            channel=Channel.EMAIL if n % 3 == 0 else Channel.SMS,
            # a reminder names its visit: the worker cancels one that has none, so those still
            # under way are a staff member's message
            message_type=MessageType.MANUAL,
            subject="Сообщение клиники" if n % 3 == 0 else None,
            body=f"{customer.first_name or ''}, ждём вас в клинике завтра в 10:00.".lstrip(", "),
            status=status,
            attempts=len(outcomes),
            after_crash=any(outcome in AFTER_CRASH for outcome in outcomes),
            last_error=error,
            send_after=now + dt.timedelta(days=1) if status == MessageStatus.QUEUED else at,
            enqueued_at=at,
            started_at=at + dt.timedelta(seconds=1) if outcomes else None,
            sent_at=at + dt.timedelta(seconds=2) if status == MessageStatus.SENT else None,
            provider_id=f"smsc-{48213 + n}" if status == MessageStatus.SENT else None,
            created_on=at,
            changed_on=at,
        )
        session.add(message)
        for number, outcome in enumerate(outcomes, start=1):
            started = at + dt.timedelta(seconds=number - 1)
            session.add(
                MessageAttempt(
                    message=message,
                    number=number,
                    started_at=started,
                    finished_at=None if outcome is None else started + dt.timedelta(seconds=2),
                    worker=f"kartoteka-clinic-{4311 + number}",
                    outcome=outcome,
                    reason=error
                    if outcome in (AttemptOutcome.FAILED, AttemptOutcome.RETRY)
                    else INTERRUPTED_REASON
                    if outcome == AttemptOutcome.INTERRUPTED
                    else None,
                    # the gateway's own words and id, as they came
                    provider_answer=PROVIDER_ANSWERS.get(outcome),
                    provider_id=f"smsc-{48213 + n}" if outcome == AttemptOutcome.SENT else None,
                )
            )
    session.flush()


# every kind of document a clinic is shown, and how often; the first of the demo's documents
# take each kind in turn, so that even a small demo holds them all
DOCUMENT_KINDS = (
    (DocumentKind.PASSPORT_RF, 60),
    (DocumentKind.PASSPORT_FOREIGN, 10),
    (DocumentKind.BIRTH_CERTIFICATE, 6),
    (DocumentKind.FOREIGN_ID, 8),
    (DocumentKind.DRIVER_LICENSE, 10),
    (DocumentKind.OTHER, 6),
)
FOREIGN_CITIZENSHIPS = ("Республика Беларусь", "Республика Казахстан", "Республика Узбекистан", None)
OTHER_ISSUERS = ("Военный комиссариат г. Москвы", "Отдел по вопросам миграции", None)


def _document(papers: random.Random, row: dict, index: int, birth: dt.date) -> dict:
    """The customer's document ``row`` (an RF passport's fields drawn) made a document of
    its kind, valid by app/documents.py's rules, with the blanks staff leave in the
    optional fields: the demo held RF passports only, each field filled."""
    kinds = [kind for kind, _weight in DOCUMENT_KINDS]
    kind = kinds[index] if index < len(kinds) else papers.choices(kinds, [w for _k, w in DOCUMENT_KINDS])[0]

    def digits(n: int) -> str:
        return "".join(papers.choice("0123456789") for _ in range(n))

    if kind == DocumentKind.PASSPORT_RF:
        # the registration address on some; the rest leave it blank
        if papers.random() < 0.5:
            row["address"] = f"г. {papers.choice(CITIES)}, ул. Ленина, д. {papers.randint(1, 120)}"
        return row
    row.update(kind=kind, division_code=None, address=None)
    if kind == DocumentKind.PASSPORT_FOREIGN:
        row.update(series=digits(2), number=digits(7), issued_by=f"МВД {digits(5)}")
        if papers.random() < 0.3:
            row["issued_by"] = None
    elif kind == DocumentKind.BIRTH_CERTIFICATE:
        row.update(
            series=f"{papers.choice(['I', 'II', 'III', 'IV', 'V', 'VI'])}-{papers.choice(['МЮ', 'ЛО', 'АГ', 'ЕР'])}",
            number=digits(6),
            issued_by="Отдел ЗАГС",
            issue_date=birth + dt.timedelta(days=papers.randint(1, 60)),
        )
    elif kind == DocumentKind.FOREIGN_ID:
        row.update(
            series=None,
            number=f"{papers.choice(['MP', 'N', 'FA'])}{digits(7)}",
            issued_by=None,
            issue_date=None if papers.random() < 0.5 else row["issue_date"],
            citizenship=papers.choice(FOREIGN_CITIZENSHIPS),
        )
    elif kind == DocumentKind.DRIVER_LICENSE:
        row.update(
            series=f"{digits(2)}{papers.choice(['АВ', 'МК', '12', 'ОС'])}",
            number=digits(6),
            issued_by=f"ГИБДД {digits(4)}",
            citizenship=None,
        )
    else:
        row.update(
            series=None,
            number=digits(8),
            issued_by=papers.choice(OTHER_ISSUERS),
            issue_date=None,
            citizenship=None,
        )
    return row


def _vary(variety: random.Random, row: dict, rows_a: list, attributes: dict, registered) -> None:
    """Blank optional fields, legal entities and sole proprietors among the customers."""
    draw = variety.random()
    if draw < LEGAL_SHARE:
        row["customer_type"] = CustomerType.LEGAL
        row["company_name"] = variety.choice(COMPANIES)
        if variety.random() < 0.5:  # no contact person given
            row["last_name"] = row["first_name"] = row["middle_name"] = row["gender"] = row["birth_date"] = (
                None
            )
        inn = "77" + "".join(variety.choice("0123456789") for _ in range(8))
        signed = (registered + dt.timedelta(days=variety.randint(0, 30))).date().isoformat()
        rows_a.append(
            {"customer_id": row["id"], "attribute_id": attributes[(CustomerType.LEGAL, "ИНН")], "value": inn}
        )
        rows_a.append(
            {
                "customer_id": row["id"],
                "attribute_id": attributes[(CustomerType.LEGAL, "Дата договора")],
                "value": signed,
            }
        )
    elif draw < LEGAL_SHARE + SOLE_SHARE:
        row["customer_type"] = CustomerType.SOLE
        row["company_name"] = f"ИП {row['last_name']} {row['first_name'][0]}. {row['middle_name'][0]}."
        ogrnip = "3" + "".join(variety.choice("0123456789") for _ in range(14))
        rows_a.append(
            {
                "customer_id": row["id"],
                "attribute_id": attributes[(CustomerType.SOLE, "ОГРНИП")],
                "value": ogrnip,
            }
        )
    elif variety.random() < 0.3:
        height = variety.randint(150, 195)
        rows_a.append(
            {
                "customer_id": row["id"],
                "attribute_id": attributes[(CustomerType.INDIVIDUAL, "Рост, см")],
                "value": str(height),
            }
        )
    if variety.random() < BLANK_SHARE:  # what staff leave empty at the desk
        for column in ("middle_name", "email", "city", "source", "card_number", "gender", "birth_date"):
            if variety.random() < 0.7:
                row[column] = None
        row["category_id"] = None
        row["manager_id"] = None
    row["name_search"] = name_search_key(SimpleNamespace(**row))


SEEDED_TABLES = (
    "customer",
    "customer_tag",
    "customer_attribute_value",
    "customer_document",
    "customer_order",
    "order_item",
    "customer_return",
    "review",
    "note",
    "medical_record",
    "payment",
    "account_operation",
)


def _flush_all(rows_c, rows_t, rows_d, rows_o, rows_i, rows_r, rows_v, rows_n, rows_m, rows_a) -> None:
    _flush(Customer, rows_c)
    _flush(CustomerAttributeValue, rows_a)
    _flush(customer_tag, rows_t)
    _flush(CustomerDocument, rows_d)
    _flush(Order, rows_o)
    _flush(OrderItem, rows_i)
    _flush(Return, rows_r)
    _flush(Review, rows_v)
    _flush(Note, rows_n)
    _flush(MedicalRecord, rows_m)


def _fix_sequences() -> None:
    """Explicit ids were inserted: move PostgreSQL's sequences past them."""
    if db.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    for table in ("customer", "customer_order"):
        db.session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )
        )


DEMO_LOGINS = [
    ("admin", "sysadmin", "Анна", "Админова"),
    ("manager", "manager", "Марина", "Управляева"),
    ("reception", "reception", "Ольга", "Регистратурова"),
    ("doctor", "doctor", "Игорь", "Лекарев"),
    ("auditor", "auditor", "Виктор", "Проверкин"),
]


def create_demo_users(password: str | None = None) -> tuple[str, list[tuple[str, str]]]:
    """One demo user per role, sharing ``password`` (random when not given). A password
    the policy refuses raises PasswordComplexityValidationError with the reason: the
    security manager refuses to make users with it, and the logins printed were none."""
    from .admin.security import password_policy

    sm = current_app.appbuilder.sm
    password = password or current_app.config.get("KARTOTEKA_DEMO_PASSWORD") or secrets.token_urlsafe(12)
    password_policy(password)
    logins = []
    for login, role_key, first, last in DEMO_LOGINS:
        role = sm.find_role(ROLES[role_key].name)
        user = sm.find_user(username=login)
        if user is None:
            sm.add_user(
                login,
                first,
                last,
                f"{login}@kartoteka.example",
                [role],
                password=password,
            )
        else:
            sm.reset_password(user.id, password)
        logins.append((login, ROLES[role_key].name))
    return password, logins


# ---------------------------------------------------------------------------
# The variety set: a few dozen customers whose records went through the domain
# functions (the desk's, the manager's, the administrator's and the jobs'), so that
# every kind of record, every status and every blank the screens can show is there,
# and consistent: balances are the sums of their operations, an erased customer is
# erased as app/subjects.py erases. The same few records whatever the demo's size
# (the benchmark seeds a million customers and stays as fast).
# ---------------------------------------------------------------------------

VARIETY_MARK = "ksenia.belova@example.ru"  # the set's first customer: seeded once
VARIETY_CUSTOMERS = 7  # how many customers _variety registers
VARIETY_FROM = 20  # a demo this large holds them (the tests' small seeds stay as they were)
VARIETY_CARD = "P-000417"  # its regular customer (a card of the old program), who asked for their data
DESK_ADDRESS = "95.165.10.20"
DESK_BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


class _Staff:
    """Who does what in the variety set, as the request's user (created_by / changed_by,
    the change history, the access journal); None where the demo has no such user."""

    def __init__(self):
        sm = current_app.appbuilder.sm
        self.by_role = {}
        for key in ("sysadmin", "manager", "reception", "doctor"):
            ids = _staff_ids(key)
            self.by_role[key] = db.session.get(sm.user_model, ids[0]) if ids else None

    def __getattr__(self, key):
        return self.by_role[key]

    def acting(self, user, *, address=DESK_ADDRESS, browser=DESK_BROWSER):
        """A request of ``user`` from the desk's computer (the caller's session and app context)."""
        from contextlib import contextmanager

        from flask import g

        @contextmanager
        def request():
            environ = {"REMOTE_ADDR": address, "HTTP_USER_AGENT": browser}
            before = g.get("user")  # g is the application context's: given back as it was
            with current_app.test_request_context("/", environ_base=environ):
                g.user = user
                try:
                    yield
                finally:
                    if before is None:
                        g.pop("user", None)
                    else:
                        g.user = before

        return request()


def _variety_seeded() -> bool:
    return db.session.scalar(select(Customer.id).where(Customer.email == VARIETY_MARK)) is not None


def _free_phone(session, phone: str) -> str:
    """``phone``, or the next number no customer of the bulk part holds."""
    while session.scalar(select(Customer.id).where(Customer.phone == phone)) is not None:
        phone = f"+{int(phone[1:]) + 1}"
    return phone


def _variety(session, now: dt.datetime) -> None:
    from .customers import register_customer
    from .notifications import install_default_templates
    from .orders import add_item, prepare_order

    install_default_templates(session.connection())  # the migrations' rows, where a test emptied them
    staff = _Staff()
    past = min(now, utcnow())  # what the domain refuses in the future (a payment) is in the past
    with staff.acting(staff.sysadmin):
        reference = _variety_reference(session, staff)
    catalog = {item.name: item for item in session.scalars(select(CatalogItem))}
    branches = session.scalars(select(Branch).order_by(Branch.id)).all()

    def customer(**fields) -> Customer:
        fields.setdefault("registered_at", past - dt.timedelta(days=200))
        row = Customer(**fields)
        if row.phone:
            row.phone = _free_phone(session, row.phone)
        register_customer(session, row)
        session.add(row)
        session.flush()
        return row

    def order(who, kind, items, days_ago, *, status=OrderStatus.NEW, comment=None, specialist=None):
        at = past - dt.timedelta(days=days_ago)
        row = Order(
            customer=who,
            kind=kind,
            branch=branches[0],
            specialist_id=specialist if kind == OrderKind.VISIT else None,
            visit_at=at if kind == OrderKind.VISIT else None,
            status=status,
            comment=comment,
            created_on=at - dt.timedelta(days=2 if kind == OrderKind.VISIT else 0),
        )
        for name in items:
            add_item(row, catalog[name])
        prepare_order(session, row, is_new=True)
        if row.completed_at is not None:  # marked «Выполнен» as the visit ended
            row.completed_at = at + dt.timedelta(minutes=catalog[items[0]].duration_min or 30)
        session.flush()
        return row

    doctor = staff.doctor.id if staff.doctor is not None else None
    with staff.acting(staff.reception):
        people = _variety_customers(session, staff, customer, order, doctor, past, reference)
    with staff.acting(staff.manager):
        _variety_manager(session, people, staff, past)
    with staff.acting(staff.doctor):
        _variety_doctor(session, people)
    with staff.acting(staff.manager):
        _variety_erasure(session, people, order, past)
    session.flush()


def _variety_reference(session, staff) -> dict:
    """The administrator's first week: a row added to each reference list and one
    corrected, the money rules chosen, a template reworded, a consent text added."""
    from .certificates import check_kind
    from .consents import current_text, new_text_version
    from .customers import prepare_branch, prepare_category
    from .models import CertificateKind, CertificateType, ConsentText, DiscountRule, MessageTemplate
    from .orders import prepare_catalog_item, set_discount_rule

    set_discount_rule(session, DiscountRule.LARGER)
    branch = Branch(name="Выездная служба", address=None, phone="8 (495) 765-43-21")
    prepare_branch(branch)
    session.add(branch)
    first = session.scalars(select(Branch).order_by(Branch.id)).first()
    first.phone = "+74951234568"  # the desk's new number
    item = CatalogItem(
        name="Консультация косметолога", kind=CatalogKind.SERVICE, price=Decimal("2000.00"), duration_min=30
    )
    prepare_catalog_item(item)
    session.add(item)
    blood = session.scalars(select(CatalogItem).where(CatalogItem.name == "Общий анализ крови")).first()
    if blood is not None:
        blood.price = Decimal("700.00")
    regular = session.scalars(
        select(CustomerCategory).where(CustomerCategory.name == "Постоянный клиент")
    ).first()
    if regular is not None:
        regular.bonus_percent = Decimal("5.00")  # bonuses on what regulars pay
    pensioner = CustomerCategory(name="Пенсионер", discount=Decimal("7.00"), bonus_percent=Decimal("3.00"))
    prepare_category(pensioner)
    session.add(pensioner)
    session.add(Tag(name="беременность", color="#e83e8c"))
    quiet = session.scalars(select(Tag).where(Tag.name == "не звонить")).first()
    if quiet is not None:
        quiet.color = "#343a40"
    session.add(
        CustomerAttribute(
            customer_type=CustomerType.INDIVIDUAL,
            label="Полис ОМС",
            kind=AttributeKind.TEXT,
            required=False,
            position=10,
        )
    )
    height = session.scalars(select(CustomerAttribute).where(CustomerAttribute.label == "Рост, см")).first()
    if height is not None:
        height.position = 11
    cosmetology = CertificateKind(
        name="Абонемент: 3 консультации косметолога",
        type=CertificateType.VISITS,
        price=Decimal("5400.00"),
        visits=3,
        valid_days=120,
        services=[item],
        active=True,
    )
    session.add(check_kind(cosmetology))
    gift = session.scalars(
        select(CertificateKind).where(CertificateKind.name == "Подарочный сертификат 5 000 ₽")
    ).first()
    if gift is not None:
        gift.valid_days = 180  # the clinic shortened it
    template = session.scalars(
        select(MessageTemplate).where(
            MessageTemplate.message_type == MessageType.WELCOME, MessageTemplate.channel == Channel.SMS
        )
    ).first()
    if template is not None:
        template.subject = None  # an SMS has no subject
        template.body = (
            "{{ customer.first_name }}, добро пожаловать в {{ clinic }}! Запись: +7 495 123-45-68."
        )
    current_text(session, ConsentPurpose.THIRD_PARTIES)
    lab = ConsentText(
        purpose=ConsentPurpose.THIRD_PARTIES,
        text="Согласен на передачу моих персональных данных и биоматериала в лабораторию "
        "ООО «Инвитро» для выполнения анализов.",
    )
    session.add(new_text_version(session, lab))
    session.flush()
    return {"cosmetology": cosmetology, "pensioner": pensioner}


def _variety_customers(session, staff, customer, order, doctor, past, reference) -> dict:
    """The desk's work: customers with what the bulk part never has (an e-mail only, a
    second phone, a service comment), their visits and sales, payments of every kind,
    a deposit, a certificate, files and consents."""
    from .certificates import find, give
    from .consents import record
    from .files import add_file, recategorize
    from .models import Certificate, CertificateKind
    from .notifications import queue_notification, schedule_reminder, set_consent
    from .orders import notify_order, prepare_order
    from .payments import (
        _move,
        add_operation,
        expire_bonuses,
        sell_certificate,
        take_payment,
        transfer_deposit,
    )

    regular = session.scalars(
        select(CustomerCategory).where(CustomerCategory.name == "Постоянный клиент")
    ).first()
    people = {}
    # a customer who gave an e-mail and no phone
    people["email_only"] = belova = customer(
        last_name="Белова",
        first_name="Ксения",
        middle_name="Игоревна",
        email=VARIETY_MARK,
        gender=Gender.FEMALE,
        city="Москва",
        source="Сайт",
    )
    visit = order(belova, OrderKind.VISIT, ["Консультация косметолога"], 12)
    for step in (OrderStatus.CONFIRMED, OrderStatus.COMPLETED):  # confirmed (she is told), then done
        visit.status = step
        prepare_order(session, visit, is_new=False)
        session.flush()
    visit.completed_at = visit.visit_at + dt.timedelta(minutes=35)
    take_payment(session, visit, visit.total, PaymentMethod.TRANSFER, paid_at=visit.visit_at)
    # a second phone and what the staff must know before calling
    people["regular"] = gromov = customer(
        last_name="Громов",
        first_name="Аркадий",
        middle_name="Петрович",
        phone="+79161234501",
        phone_extra="8 (495) 700-11-22",
        service_comment="Плохо слышит: говорить громче, время визита дублировать SMS.",
        gender=Gender.MALE,
        birth_date=dt.date(1948, 3, 9),
        city="Москва",
        category=regular,
        card_number=VARIETY_CARD,
        registered_at=past - dt.timedelta(days=900),
    )
    # a visit more than a year ago: its bonuses burnt unspent (the nightly job, nobody's request)
    old = order(
        gromov, OrderKind.VISIT, ["Массаж спины"], 420, status=OrderStatus.COMPLETED, specialist=doctor
    )
    take_payment(session, old, old.total, PaymentMethod.CASH, paid_at=old.visit_at)
    session.flush()  # 5 % of it accrued as bonuses, for BONUS_LIFETIME_DAYS
    lifetime = dt.timedelta(days=int(current_app.config["BONUS_LIFETIME_DAYS"]))
    with staff.acting(None):
        expire_bonuses(session, old.visit_at + lifetime + dt.timedelta(days=1))
    first = order(
        gromov,
        OrderKind.VISIT,
        ["Массаж спины"],
        40,
        status=OrderStatus.COMPLETED,
        comment="Просит кабинет на первом этаже.",
        specialist=doctor,
    )
    take_payment(
        session, first, first.total, PaymentMethod.CASH, paid_at=first.visit_at, comment="Оплата на ресепшн"
    )
    session.flush()  # and of this one, spent on a cream
    cream = order(gromov, OrderKind.SALE, ["Крем увлажняющий"], 20, status=OrderStatus.COMPLETED)
    by_bonus = min(Decimal(gromov.bonus_balance or 0), cream.total)
    take_payment(session, cream, by_bonus, PaymentMethod.BONUS, paid_at=cream.created_on)
    take_payment(session, cream, cream.total - by_bonus, PaymentMethod.CARD, paid_at=cream.created_on)
    # a deposit carried over from the old program, topped up, spent, shared with a daughter
    people["deposit"] = lavrova = customer(
        last_name="Лаврова",
        first_name="Елена",
        middle_name="Викторовна",
        phone="+79031234502",
        email="e.lavrova@example.ru",
        gender=Gender.FEMALE,
        birth_date=dt.date(1975, 11, 2),
        city="Москва",
    )
    people["daughter"] = daughter = customer(
        last_name="Лаврова",
        first_name="Дарья",
        middle_name="Андреевна",
        phone="+79031234503",
        gender=Gender.FEMALE,
        birth_date=dt.date(2008, 6, 15),
        city="Москва",
        source="Рекомендация",
    )
    _move(
        session,
        lavrova.id,
        Account.DEPOSIT,
        OperationKind.OPENING,
        Decimal("3000.00"),
        comment="Остаток из прежней программы учёта на 01.01.2024",
    )
    add_operation(
        session,
        lavrova,
        Account.DEPOSIT,
        OperationKind.TOP_UP,
        "10000",
        "Внесено наличными",
        may_adjust=False,
    )
    peel = order(lavrova, OrderKind.VISIT, ["Пилинг"], 30, status=OrderStatus.COMPLETED, specialist=doctor)
    take_payment(session, peel, peel.total, PaymentMethod.DEPOSIT, paid_at=peel.visit_at)
    transfer_deposit(session, lavrova, daughter, "2000", "Мама оплачивает визиты дочери")
    cleaning = order(daughter, OrderKind.VISIT, ["Чистка лица"], 10, status=OrderStatus.COMPLETED)
    take_payment(session, cleaning, Decimal("2000.00"), PaymentMethod.DEPOSIT, paid_at=cleaning.visit_at)
    take_payment(session, cleaning, cleaning.total - 2000, PaymentMethod.CASH, paid_at=cleaning.visit_at)
    kind = reference["cosmetology"]
    course = Certificate(customer=lavrova, kind=kind, method=PaymentMethod.DEPOSIT)
    sell_certificate(session, course, may_sell=True)
    # certificates sold for cash and by transfer; one paying a visit, reversed later
    people["certificate"] = tikhonov = customer(
        last_name="Тихонов",
        first_name="Игорь",
        middle_name="Семёнович",
        phone="+79261234504",
        email="tikhonov.is@example.ru",
        gender=Gender.MALE,
        city="Санкт-Петербург",
    )
    gift_kind = session.scalars(
        select(CertificateKind).where(CertificateKind.name == "Подарочный сертификат 5 000 ₽")
    ).first()
    gift = Certificate(
        customer=tikhonov, kind=gift_kind, method=PaymentMethod.CASH, comment="Подарок жене на 8 Марта"
    )
    sell_certificate(session, gift, may_sell=True)
    spare = Certificate(customer=tikhonov, kind=gift_kind, method=PaymentMethod.TRANSFER)
    sell_certificate(session, spare, may_sell=True)
    session.flush()
    massage = order(tikhonov, OrderKind.VISIT, ["Массаж спины"], 3, status=OrderStatus.COMPLETED)
    people["gift_payment"] = take_payment(
        session,
        massage,
        massage.total,
        PaymentMethod.CERTIFICATE,
        paid_at=past,
        certificate=find(session, gift.code),
    )
    people["spare"] = spare
    # a customer who reads the clinic's app: push for everything, no advertising by SMS
    people["push"] = orlova = customer(
        last_name="Орлова",
        first_name="Вера",
        middle_name="Николаевна",
        phone="+79851234505",
        email="vera.orlova@example.ru",
        gender=Gender.FEMALE,
        city="Казань",
        category=reference["pensioner"],
    )
    for message_type in MessageType:
        if message_type.customer_facing:
            set_consent(session, orlova, message_type, Channel.PUSH, True)
    set_consent(session, orlova, MessageType.MARKETING, Channel.SMS, False)
    record(session, orlova, ConsentPurpose.MARKETING, given=True, method=ConsentMethod.SCREEN)
    record(session, orlova, ConsentPurpose.THIRD_PARTIES, given=True, method=ConsentMethod.SCREEN)
    queue_notification(
        session,
        orlova,
        MessageType.MARKETING,
        (Channel.PUSH, Channel.EMAIL),
        text="Вера Николаевна, в апреле скидка 15 % на курс массажа. Запись в приложении клиники.",
    )
    # a certificate bought as a present for her, passed to her card («Передать другому клиенту»)
    present = Certificate(customer=tikhonov, kind=gift_kind, method=PaymentMethod.CARD)
    sell_certificate(session, present, may_sell=True)
    session.flush()
    give(session, present, orlova, "Подарок от коллеги", may_sell=True)
    ahead = order(orlova, OrderKind.VISIT, ["Повторная консультация"], 0, specialist=doctor)
    # booked ahead, in three days at 11:00: reminded the day before (a reminder is only for a
    # visit still to come, so the day follows the clock where the demo's «now» is past)
    day = max(past, utcnow()).replace(hour=11, minute=0, second=0, microsecond=0)
    ahead.visit_at = day + dt.timedelta(days=3)
    schedule_reminder(session, ahead)
    session.flush()
    # then moved an hour later at the customer's request: told at once, reminded at the new time
    ahead.visit_at = ahead.visit_at + dt.timedelta(hours=1)
    notify_order(session, ahead, is_new=False)
    # papers: a passport scan, a photo before the procedure, a letter of guarantee, a
    # discharge summary filed as «Прочее» first
    add_file(session, orlova, "Паспорт, разворот.pdf", DEMO_PDF, FileCategory.IDENTITY)
    add_file(session, orlova, "До процедуры.webp", DEMO_WEBP, FileCategory.PHOTO)
    add_file(session, tikhonov, "Гарантийное письмо.pdf", DEMO_PDF, FileCategory.OTHER)
    summary = add_file(session, gromov, "Выписка из стационара.pdf", DEMO_PDF, FileCategory.OTHER)
    session.flush()
    recategorize([summary], FileCategory.MEDICAL)
    return people


def _variety_manager(session, people, staff, past) -> None:
    """The manager's work: a return refunded to the deposit, a payment reversed, a
    certificate cancelled, money paid out of a deposit, reviews answered, a document
    corrected, a customer flagged, a subject's request, and the access journal of it all."""
    from .access import record_access
    from .customers import change_status, register_customer
    from .models import AccessAction, SubjectRequestKind
    from .orders import prepare_return, prepare_review
    from .payments import add_operation, cancel_certificate, reverse_payment
    from .subjects import start

    lavrova, gromov, tikhonov = people["deposit"], people["regular"], people["certificate"]
    peel = session.scalars(
        select(Order).where(Order.customer_id == lavrova.id, Order.kind == OrderKind.VISIT).order_by(Order.id)
    ).first()
    back = Return(
        order=peel, amount=Decimal("1000.00"), reason="Покраснение после пилинга, частичный возврат"
    )
    prepare_return(session, back, lavrova.id)
    session.add(back)
    session.flush()
    for step in (ReturnStatus.APPROVED, ReturnStatus.REFUNDED):
        back.status = step
        prepare_return(session, back, lavrova.id)
        session.flush()
    reverse_payment(session, people["gift_payment"], "Оплачено не тем сертификатом, клиент заплатит картой")
    cancel_certificate(session, people["spare"], "Клиент вернул неиспользованный сертификат", may_cancel=True)
    add_operation(
        session,
        people["certificate"],
        Account.DEPOSIT,
        OperationKind.WRITE_OFF,
        session.scalar(select(Customer.deposit_balance).where(Customer.id == tikhonov.id)),
        "Выдано наличными по заявлению клиента",
        may_adjust=True,
    )
    first = session.scalars(select(Order).where(Order.customer_id == gromov.id).order_by(Order.id)).first()
    answered = Review(
        customer=gromov,
        order=first,
        rating=2,
        text="Массаж хороший, но ждал 25 минут в коридоре.",
        moderation_status=ModerationStatus.PUBLISHED,
        reply="Аркадий Петрович, приносим извинения: мы изменили расписание, чтобы вы больше не ждали.",
    )
    session.add(prepare_review(session, answered))
    silent = Review(customer=people["email_only"], rating=5, moderation_status=ModerationStatus.PENDING)
    session.add(prepare_review(session, silent))  # a rating left on the site: no visit, no text
    note = Note(customer=gromov, text="Перед массажем уточнить давление.")
    session.add(note)
    session.flush()
    note.pinned = True
    change_status(session, tikhonov, CustomerStatus.VERIFIED)
    document = CustomerDocument(
        customer=people["push"],
        kind=DocumentKind.PASSPORT_RF,
        series="9204",
        number="512376",
        issued_by="МВД по Республике Татарстан",
        issue_date=dt.date(2019, 4, 22),
        division_code="160-004",
        citizenship="Российская Федерация",
    )
    from .documents import prepare_document

    session.add(prepare_document(document))
    session.flush()
    document.issued_by = "МВД по Республике Татарстан, отдел в г. Казани"
    # one handed over (the job runs after the commit, seed_demo), one still waiting
    start(session, gromov, SubjectRequestKind.EXPORT, "Заявление от 02.04.2024 № 7, выдать копию карты")
    start(session, tikhonov, SubjectRequestKind.EXPORT, "Запрос по электронной почте от 03.04.2024")
    # a card the desk made twice: a request filed on the duplicate, which the manager then
    # deleted; its job finds nobody to hand over (_variety_jobs)
    twin = Customer(
        last_name="Громов",
        first_name="Аркадий",
        email="a.gromov48@example.ru",
        registered_at=past - dt.timedelta(days=5),
    )
    register_customer(session, twin)
    session.add(twin)
    session.flush()
    start(session, twin, SubjectRequestKind.EXPORT, "Заявление от 04.04.2024 № 9, выдать копию карты")
    session.flush()
    session.delete(twin)
    # what the manager read on the way: the journal holds each kind of access
    for customer_id, action, field, detail in (
        (people["push"].id, AccessAction.CARD, None, None),
        (people["push"].id, AccessAction.TAB, "documents", None),
        (people["push"].id, AccessAction.REVEAL, "document_number", None),
        (gromov.id, AccessAction.DOWNLOAD, None, "Выписка из стационара.pdf"),
        (None, AccessAction.EXPORT, None, "customerview: 120"),
    ):
        record_access(customer_id, action, field, detail)
    with staff.acting(staff.manager, address="10.0.0.15", browser=""):  # the accounting's script
        record_access(gromov.id, AccessAction.API_READ, detail="payment")
    session.flush()


def _variety_doctor(session, people) -> None:
    """A doctor's anamnesis in free text, the structured fields left blank."""
    from .subjects import check_record_writable

    record = MedicalRecord(
        customer=people["regular"],
        text="Жалобы на боли в пояснице после нагрузки. Массаж переносит хорошо, "
        "рекомендован курс из 10 сеансов.",
    )
    check_record_writable(session, record)
    session.add(record)
    session.flush()


def _variety_erasure(session, people, order, past) -> None:
    """A customer who asked the clinic to destroy their data, erased as app/subjects.py
    erases: the row stays as «Данные уничтожены», the orders and payments without the person."""
    from .files import add_file
    from .payments import take_payment
    from .subjects import erase

    registered = Customer(
        last_name="Стиралова",
        first_name="Вера",
        middle_name="Сергеевна",
        phone=_free_phone(session, "+79161234506"),
        email="vera.stiralova@example.ru",
        gender=Gender.FEMALE,
        city="Тула",
        registered_at=past - dt.timedelta(days=90),
    )
    from .customers import register_customer

    register_customer(session, registered)
    session.add(registered)
    session.flush()
    visit = order(registered, OrderKind.VISIT, ["Стрижка женская"], 60, status=OrderStatus.COMPLETED)
    take_payment(session, visit, visit.total, PaymentMethod.CARD, paid_at=visit.visit_at)
    session.add(Note(customer=registered, text="Просила не присылать рекламу."))
    add_file(
        session, registered, "Заявление на уничтожение данных.txt", "Прошу уничтожить мои данные.\n".encode()
    )
    session.flush()
    erase(session, registered, "Заявление Стираловой В. С. от 01.04.2024, вх. № 12")
    session.flush()  # the files' contents go after the commit (seed_demo)


def _variety_jobs(session) -> None:
    """After the commit, as the worker does: the first of the variety set's data requests
    handed over (its ZIP under instance/exports), the deleted duplicate's failed, the
    other left waiting in the queue."""
    from .models import SubjectRequest, SubjectRequestKind, SubjectRequestStatus
    from .subjects import build_export

    first = session.scalar(
        select(SubjectRequest.id)
        .join(Customer, Customer.id == SubjectRequest.customer_id)
        .where(
            Customer.card_number == VARIETY_CARD,
            SubjectRequest.kind == SubjectRequestKind.EXPORT,
            SubjectRequest.status == SubjectRequestStatus.QUEUED,
        )
        .order_by(SubjectRequest.id)
        .limit(1)
    )
    orphans = session.scalars(
        select(SubjectRequest.id).where(
            SubjectRequest.customer_id.is_(None),
            SubjectRequest.kind == SubjectRequestKind.EXPORT,
            SubjectRequest.status == SubjectRequestStatus.QUEUED,
        )
    ).all()
    for request_id in [first, *orphans] if first is not None else orphans:
        build_export(session, request_id)
