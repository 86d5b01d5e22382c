"""A form sent twice is saved once.

Every form a page posts carries a token of its own (``_submission``, added by
app/static/kartoteka.js when the form is sent). The first POST with a token claims
it in Redis; once it has saved (its answer is a redirect) the token remembers where
it led. The same form sent again (a double click or a second Enter on a slow
answer, a page restored by «Назад» and sent again, a retried request) saves nothing:
it is told so and led where the first one went, after waiting for it if it is still
running. A POST whose answer is not a redirect saved nothing (a refused form is
drawn again with its messages), so its token is released and may be sent again.

The token is random and names nothing personal. Where Redis is unreachable, forms
are saved as they were before: a double submit is possible there, a lost payment
form is not.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, abort, flash, g, redirect, request
from flask_babel import gettext as _
from flask_login import current_user
from redis.exceptions import RedisError

FIELD = "_submission"
PREFIX = "kartoteka:submission:"
KEEP_SECONDS = 24 * 3600
PENDING = b"-"
WAIT_SECONDS = 10.0
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")

log = logging.getLogger("kartoteka.submissions")


def _key(token: str) -> str:
    who = current_user.get_id() if current_user and current_user.is_authenticated else "anonymous"
    return f"{PREFIX}{who}:{token}"


def _connection():
    """Redis, or None for a moment after it failed (the form is saved unchecked)."""
    from ..queue import REDIS, connection

    return connection() if REDIS.available() else None


def _lost(error) -> None:
    from ..queue import REDIS

    REDIS.lost(error)


def claim():
    """Before the view: a token seen before answers without running it again."""
    if request.method != "POST" or request.path.startswith("/api/"):
        return None
    token = request.form.get(FIELD, "")
    if not _TOKEN.fullmatch(token):
        return None
    key = _key(token)
    try:
        redis = _connection()
        if redis is None:
            return None
        if redis.set(key, PENDING, nx=True, ex=KEEP_SECONDS):
            g.kartoteka_submission = key
            return None
        deadline = time.monotonic() + WAIT_SECONDS
        led_to = redis.get(key)
        while led_to == PENDING and time.monotonic() < deadline:
            time.sleep(0.1)
            led_to = redis.get(key)
    except RedisError as error:
        _lost(error)
        log.warning("the form's token could not be checked (%s); the form is saved unchecked", error)
        return None
    if led_to and led_to != PENDING:
        flash(_("Эта форма уже отправлена и сохранена: повторная отправка ничего не изменила."), "warning")
        return redirect(led_to.decode())
    if led_to is None:  # the first one saved nothing and released its token meanwhile
        return None
    abort(409)


def settle(response):
    """After the view: a redirect saved, and the token remembers where it led; any
    other answer saved nothing, and the form may be sent again."""
    key = g.pop("kartoteka_submission", None)
    if key is None:
        return response
    try:
        redis = _connection()
        if redis is None:
            return response
        if 300 <= response.status_code < 400 and response.location:
            redis.set(key, response.location, ex=KEEP_SECONDS)
        else:
            redis.delete(key)
    except RedisError as error:
        _lost(error)
        log.warning("the form's token could not be settled (%s)", error)
    return response


def release(exc) -> None:
    """A request that ended in an exception no handler answered saved nothing."""
    key = g.pop("kartoteka_submission", None)
    redis = _connection() if key is not None else None
    if redis is not None:
        try:
            redis.delete(key)
        except RedisError as error:
            _lost(error)


def install(app: Flask) -> None:
    app.before_request(claim)
    app.after_request(settle)
    app.teardown_request(release)
