"""The default roles' rights, pinned by hand from DESIGN.md «Who uses it» and the
README's «Roles: the default matrix» — not read from app/access.py, so that a slip
in the matrix (or in the code that seeds it) fails the tests instead of moving
their expectations with it.

A resource or a field rule the app declares and this table does not name fails
tests/test_roles.py: adding one means deciding here, by hand, who may do what.
"""

from __future__ import annotations

ROLE_KEYS = ("sysadmin", "manager", "reception", "doctor", "auditor")
R, W, N = "read", "write", "none"

# resource -> level per role, in ROLE_KEYS order («—» in the README is N)
RESOURCES: dict[str, tuple[str, str, str, str, str]] = {
    #                   sysadmin manager reception doctor auditor
    "Customers": (R, W, W, R, R),
    "Documents": (N, W, W, N, R),
    "Orders": (R, W, W, R, R),
    "Returns": (N, W, R, N, R),
    "Reviews": (N, W, R, R, R),
    "Notes": (N, W, W, R, R),
    "Anamnesis": (N, N, N, W, N),
    "Messages": (N, W, W, N, R),
    "MessageTemplates": (W, R, N, N, N),
    "NotificationQueue": (W, R, N, N, N),
    "AccessJournal": (R, N, N, N, R),
    "ChangeHistory": (R, R, N, N, R),
    "Reference": (W, W, R, R, R),
    "SignIns": (W, N, N, N, N),
    # the customer's money (README «The customer's money»)
    "Payments": (N, W, W, N, R),
    "Accounts": (N, W, W, N, R),
    "Certificates": (N, W, W, N, R),  # sold certificates and subscriptions; their kinds are Reference
    # personal data (README «Personal data»): files, consents to processing, subject requests
    "Files": (N, W, W, R, R),
    "ProcessingConsents": (N, W, W, R, R),
    "SubjectRequests": (N, W, N, N, R),
}
# rights of their own beyond a resource's level, and who holds them
OWN_RIGHTS: dict[tuple[str, str], frozenset[str]] = {
    ("can_refund", "Payments"): frozenset({"manager"}),  # reverse a payment
    ("can_adjust", "Accounts"): frozenset({"manager"}),  # refund to a deposit, write off, accrue by hand
    ("can_sell", "Certificates"): frozenset({"manager", "reception"}),  # sell a certificate or a subscription
    ("can_cancel", "Certificates"): frozenset({"manager"}),  # cancel one, its rest refunded to the deposit
    ("can_download", "Files"): frozenset({"manager", "reception", "doctor"}),  # never the auditor
    # a before/after photo: who treats the customer and the manager, not the front desk or the auditor
    ("can_see_photos", "Files"): frozenset({"manager", "doctor"}),
    ("can_add_photos", "Files"): frozenset({"doctor"}),  # a photo only; the others add any file
    ("can_erase", "Customers"): frozenset({"manager"}),  # a subject's erasure, retention
    ("can_discount", "Orders"): frozenset({"manager"}),  # a discount given by hand on the booking form
    # the journals' extract for an inspection: the auditor exports what it only reads
    ("can_export", "AccessJournal"): frozenset({"auditor"}),
    ("can_export", "ChangeHistory"): frozenset({"auditor"}),
}

# the README's «actions» row: what a role may do beyond reading and writing
ACTIONS: dict[str, frozenset[str]] = {
    "sysadmin": frozenset({"delete"}),
    "manager": frozenset({"delete", "export", "status", "block"}),
    "reception": frozenset({"status"}),  # flags «Проблемный», never «Заблокирован»
    "doctor": frozenset(),
    "auditor": frozenset(),
}

HIDE, MASK = "hide", "mask"
# field rule -> level per role, in ROLE_KEYS order
FIELDS: dict[str, tuple[str, str, str, str, str]] = {
    #                       sysadmin manager reception doctor auditor
    "customer.phone": (MASK, W, W, MASK, MASK),
    "customer.email": (MASK, W, W, HIDE, MASK),
    "customer.birth_date": (HIDE, W, W, R, MASK),
    "customer.balances": (R, R, R, HIDE, R),
    "document.number": (HIDE, W, MASK, HIDE, MASK),
}
# «masked, may reveal»
REVEAL: dict[str, frozenset[str]] = {
    "customer.phone": frozenset({"doctor", "auditor"}),
    "customer.email": frozenset({"auditor"}),
    "customer.birth_date": frozenset(),
    "customer.balances": frozenset(),
    "document.number": frozenset({"auditor"}),
}
# «enters into a new document, then masked»
ENTER: dict[str, frozenset[str]] = {"document.number": frozenset({"reception"})}

# who sees every customer (the specialist only those they have an order with)
ALL_ROWS = frozenset({"sysadmin", "manager", "reception", "auditor"})
# «listed as»: «Менеджер» of a customer, «Специалист» of an order
LISTED_AS = {"manager": "manager", "doctor": "specialist"}
# the users, roles and security screens
SECURITY = frozenset({"sysadmin"})


def level(role_key: str, resource: str) -> str:
    """The pinned level; a resource the table does not name fails the test that asks."""
    assert resource in RESOURCES, f"resource {resource!r} is not in tests/matrix.py: pin who may use it"
    return RESOURCES[resource][ROLE_KEYS.index(role_key)]


def field_level(role_key: str, key: str) -> str:
    assert key in FIELDS, f"field rule {key!r} is not in tests/matrix.py: pin who sees it"
    return FIELDS[key][ROLE_KEYS.index(role_key)]


def may(role_key: str, action: str) -> bool:
    return action in ACTIONS[role_key]


def reads(role_key: str, resource: str) -> bool:
    return level(role_key, resource) in (R, W)


def writes(role_key: str, resource: str) -> bool:
    return level(role_key, resource) == W


def exports(role_key: str, resource: str) -> bool:
    """The export of what the role writes (the «actions» row), or of what it was given
    the export of on its own (the auditor's journals)."""
    own = role_key in OWN_RIGHTS.get(("can_export", resource), ())
    return own or (may(role_key, "export") and writes(role_key, resource))


# the roles' names, as DESIGN.md and the roles screen call them
NAMES = {
    "sysadmin": "Администратор системы",
    "manager": "Управляющий",
    "reception": "Администратор (ресепшн)",
    "doctor": "Специалист",
    "auditor": "Аудитор",
}
# screens of Kartoteka's own that every signed-in user has (the start page, the API's document)
EVERY_ROLE = frozenset({"HomeView", "OpenApi"})
