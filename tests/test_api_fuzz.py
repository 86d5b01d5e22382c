"""Schemathesis against the API's own OpenAPI document, as two roles, for a bounded time.

Every operation of the document (``/api/v1/_openapi``, as a signed-in user gets
it) is called with requests generated from its schema, as the manager (who writes
most) and as the specialist (who sees a few customers, masked phones, no
documents). It fails on any 5xx and on any answer the document does not
describe: its status, its content type or its body. Bounded by
``API_FUZZ_EXAMPLES`` cases per operation and role (default 20) and
``API_FUZZ_SECONDS`` in all (default 60, each role its share); the run prints
cases, seconds, failures and the operations the time did not reach.

    API_FUZZ_EXAMPLES=200 API_FUZZ_SECONDS=900 .venv/bin/pytest -q -s tests/test_api_fuzz.py
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db
from tests import factories
from tests.conftest import user_id
from tests.test_access import seed

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))
SECONDS = float(os.environ.get("API_FUZZ_SECONDS", "60"))
ROLES = ("manager", "doctor")


def signed_in(app, client):
    """``app`` as a WSGI callable that receives every request with ``client``'s
    session cookie (Werkzeug's client drops a Cookie header it did not set)."""
    cookie = client.get_cookie("session")
    assert cookie is not None, "signed in"

    def wsgi(environ, start_response):
        environ["HTTP_COOKIE"] = f"session={cookie.value}"
        return app(environ, start_response)

    return wsgi


def describe(error, case, response) -> str:
    found = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
    what = "\n".join(f"{getattr(f, 'title', type(f).__name__)}: {getattr(f, 'message', f)}" for f in found)
    body = response.text[:500] if hasattr(response, "text") else ""
    return f"{what}\n{case.as_curl_command()}\n-> {response.status_code} {body}"


# FAB's token API (login and refresh) is a door of its own, with its own limits:
# tests/test_hardening.py tries it; generated requests would only trip its limit.
DOORS = ("/api/v1/security/",)


def fuzz(schema, deadline: float, report: dict) -> None:
    for result in schema.get_all_operations():
        if time.monotonic() > deadline:
            # Past the deadline Hypothesis would still generate every operation's
            # examples only for ``run`` to drop them (74 s of a loaded machine's run).
            report["skipped"] += 1
            continue
        operation = result.ok()
        if not operation.path.startswith(DOORS):
            fuzz_operation(operation, deadline, report)


def fuzz_operation(operation, deadline: float, report: dict) -> None:
    label = operation.label

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        if time.monotonic() > deadline:
            return
        report["cases"] += 1
        response = case.call()
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - every failure is reported
            report["failures"].setdefault(label, describe(error, case, response))

    run()


def test_the_api_answers_as_its_document_says(app, login_as):
    # No application context is kept open around the calls: each request has its
    # own, as in production (the test client's IsolatedClient does the same).
    with app.app_context():
        customer = seed(db.session)
        factories.order(db.session, customer, specialist_id=user_id(app, "doctor"))  # the specialist's
    report = {"cases": 0, "failures": {}}
    started = time.monotonic()
    for n, role in enumerate(ROLES, 1):
        # Each role has its share of the time (what one leaves is the next one's): on a
        # loaded machine the first role used to take it all and the specialist got none.
        deadline = started + SECONDS * n / len(ROLES)
        schema = schemathesis.openapi.from_wsgi("/api/v1/_openapi", signed_in(app, login_as(role)))
        fuzz(schema, deadline, report.setdefault(role, {"cases": 0, "failures": {}, "skipped": 0}))
    seconds = time.monotonic() - started
    per_role = {
        role: (report[role]["cases"], len(report[role]["failures"]), report[role]["skipped"])
        for role in ROLES
    }
    print(f"\nSchemathesis: {per_role} (cases, failing operations, operations left) in {seconds:.0f} s")
    failures = {f"{role} {label}": text for role in ROLES for label, text in report[role]["failures"].items()}
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())


pytestmark = pytest.mark.filterwarnings("ignore")
