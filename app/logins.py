"""Every door to sign in under one policy: growing delays per account and per address.

The login form, the token API's login and any later door call :func:`guard`
around the password check (``KartotekaSecurityManager.auth_user_db``), so they
share one count. Failures are counted in the database, which every web worker
(gunicorn's processes, several machines) already shares, on the embedded SQLite
default as on PostgreSQL; Redis is not needed.

- An account gets ``KARTOTEKA_LOGIN_ACCOUNT_FREE`` (5) failures in a row; then
  each further failure makes it wait longer: 1 minute, 2, 4, 8, then 15 at most
  (``KARTOTEKA_LOGIN_MAX_DELAY_MINUTES``). Its right password signs in again as
  soon as the wait is over; a success starts the count again.
- An address (a clinic's one public IP, an IPv6 /64) gets
  ``KARTOTEKA_LOGIN_ADDRESS_FREE`` (20) failures, whatever the accounts, and then
  waits the same way, but only for accounts that have never signed in from it:
  the clinic's staff keep signing in while someone there guesses (the per-account
  count limits the guessing on each of their accounts).
- While a door waits, it does not check the password at all (nothing is learnt,
  nothing more is counted) and answers 429 with the time to wait.
- A count nobody added to for a day is forgotten.

An unknown login is counted exactly like a known one, so the answers do not tell
which logins exist. The administrator sees the accounts and addresses that wait
(«Безопасность → Ограничения входа») and lifts a wait there.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math

from flask import current_app, request
from flask_babel import ngettext
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import TooManyRequests

from .extensions import db
from .models import LoginThrottle, ThrottleKind, utcnow

FORGET_AFTER = dt.timedelta(days=1)
FIRST_DELAY = dt.timedelta(minutes=1)
KNOWN_FOR = dt.timedelta(days=90)  # an account that signed in from an address is «known» there


class TooManyAttempts(TooManyRequests):
    """A door refused without checking the password; ``retry_after`` in seconds."""

    def __init__(self, wait: dt.timedelta):
        self.retry_after = max(1, math.ceil(wait.total_seconds()))
        minutes = max(1, math.ceil(self.retry_after / 60))
        super().__init__(
            description=ngettext(
                "Слишком много неудачных попыток входа. Повторите через %(num)d минуту.",
                "Слишком много неудачных попыток входа. Повторите через %(num)d минут.",
                minutes,
            )
        )

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("Retry-After", str(self.retry_after))]


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def delay_after(failures: int, free: int) -> dt.timedelta | None:
    """How long a subject waits after its ``failures``-th failure in a row."""
    if failures < free:
        return None
    ceiling = dt.timedelta(minutes=_setting("KARTOTEKA_LOGIN_MAX_DELAY_MINUTES", 15))
    return min(ceiling, FIRST_DELAY * 2 ** min(failures - free, 16))


def client_address() -> str:
    """The client's address as counted: an IPv6 address by its /64 (one household
    or office gets a whole /64). Behind a proxy this is the forwarded address only
    where KARTOTEKA_TRUSTED_PROXIES says how many proxies to trust (ProxyFix)."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def account_subject(login: str) -> tuple[str, str]:
    """(the key an account is counted under, the label shown): a user's id, so that
    their login and e-mail share one count; for an unknown login, the login itself."""
    typed = (login or "").strip()
    sm = current_app.appbuilder.sm
    # the user the sign-in itself finds (FAB's auth_user_db: the login without regard
    # to capitals, AUTH_USERNAME_CI, else the e-mail): «Auditor» was counted as an
    # unknown login beside «auditor», which doubled the guesses before a wait
    found = sm.find_user(username=typed) or sm.find_user(email=typed)
    if found is not None:
        return f"user:{found.id}", found.username
    return f"login:{typed.casefold()[:240]}", typed[:255]


def _row(kind: ThrottleKind, subject: str) -> LoginThrottle | None:
    return db.session.execute(
        select(LoginThrottle).where(LoginThrottle.kind == kind, LoginThrottle.subject == subject)
    ).scalar_one_or_none()


def _waiting(row: LoginThrottle | None, now: dt.datetime) -> dt.timedelta | None:
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return None
    return row.blocked_until - now


def check(account: str, address: str, now: dt.datetime) -> None:
    """Raise TooManyAttempts while the account, or the address for an account it
    does not know, waits."""
    wait = _waiting(_row(ThrottleKind.ACCOUNT, account), now)
    if wait is None:
        wait = _waiting(_row(ThrottleKind.ADDRESS, address), now)
        if wait is not None:
            known = _row(ThrottleKind.KNOWN, f"{account}|{address}")
            if known is not None and known.succeeded_at and now - known.succeeded_at < KNOWN_FOR:
                wait = None
    if wait is not None:
        raise TooManyAttempts(wait)


def _count_failure(kind: ThrottleKind, subject: str, label: str, free: int, now: dt.datetime) -> None:
    row = _row(kind, subject)
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(LoginThrottle(kind=kind, subject=subject, label=label, failures=0))
        except IntegrityError:  # another worker counted it first
            pass
        row = _row(kind, subject)
    if row.last_failure_at is not None and now - row.last_failure_at > FORGET_AFTER:
        db.session.execute(update(LoginThrottle).where(LoginThrottle.id == row.id).values(failures=0))
    # one UPDATE adds to the count, whatever another worker added meanwhile
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.id == row.id)
        .values(failures=LoginThrottle.failures + 1, last_failure_at=now, label=label)
    )
    db.session.refresh(row)
    delay = delay_after(row.failures, free)
    row.blocked_until = now + delay if delay is not None else None


def record_failure(account: str, account_label: str, address: str, now: dt.datetime) -> None:
    _count_failure(
        ThrottleKind.ACCOUNT, account, account_label, _setting("KARTOTEKA_LOGIN_ACCOUNT_FREE", 5), now
    )
    _count_failure(ThrottleKind.ADDRESS, address, address, _setting("KARTOTEKA_LOGIN_ADDRESS_FREE", 20), now)
    db.session.commit()


def record_success(account: str, account_label: str, address: str, now: dt.datetime) -> None:
    db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.kind == ThrottleKind.ACCOUNT, LoginThrottle.subject == account
        )
    )
    subject = f"{account}|{address}"
    if (
        db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.kind == ThrottleKind.KNOWN, LoginThrottle.subject == subject)
            .values(succeeded_at=now)
        ).rowcount
        == 0
    ):
        try:
            with db.session.begin_nested():
                db.session.add(
                    LoginThrottle(
                        kind=ThrottleKind.KNOWN,
                        subject=subject,
                        label=f"{account_label} · {address}"[:255],
                        failures=0,
                        succeeded_at=now,
                    )
                )
        except IntegrityError:
            pass
    db.session.commit()


def guard(check_password, login: str, password: str):
    """``check_password(login, password)`` (a door's password check: FAB's
    auth_user_db, auth_user_ldap…) under the policy above: refused without a check
    while the account or the address waits, its outcome counted."""
    if not login:
        return check_password(login, password)
    now = utcnow()
    account, label = account_subject(login)
    address = client_address()
    check(account, address, now)
    user = check_password(login, password)
    if user:
        record_success(account, label, address, now)
    else:
        record_failure(account, label, address, now)
    return user


def waiting(now: dt.datetime | None = None):
    """The accounts and addresses that wait now (the administrator's list)."""
    now = now or utcnow()
    return LoginThrottle.blocked_until > now


def lift(ids) -> int:
    """End the wait of the throttle rows ``ids`` (the administrator's «Снять ограничение»)."""
    result = db.session.execute(
        delete(LoginThrottle).where(LoginThrottle.id.in_(list(ids)), LoginThrottle.kind != ThrottleKind.KNOWN)
    )
    db.session.commit()
    return result.rowcount
