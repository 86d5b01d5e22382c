"""Redis unreachable while the front desk works: a form is saved, and waits for Redis at
most once. A silent Redis (a network that drops packets, a server that hangs) made
each use wait out redis-py's timeouts and its three retries, and a form's save used it
three times (its double-submit check, the messages' enqueue, the check's settling)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from app import queue
from app.models import Note
from tests import factories


@pytest.fixture
def silent_redis(app):
    """A server that takes connections and never answers; counts the connections."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    saved = {k: app.config[k] for k in ("REDIS_URL", "REDIS_SOCKET_TIMEOUT", "REDIS_RETRY_AFTER_SECONDS")}
    app.config.update(
        REDIS_URL=f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
        REDIS_SOCKET_TIMEOUT=0.2,
        REDIS_RETRY_AFTER_SECONDS=60.0,
    )
    queue.REDIS.failed_at = queue.REDIS.lost_at = None
    yield accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()
    app.config.update(saved)
    queue.REDIS.failed_at = queue.REDIS.lost_at = None


def test_a_silent_redis_costs_the_front_desk_one_wait_not_one_per_use(app, ctx, login_as, silent_redis):
    customer = factories.customer(ctx)
    client = login_as("reception")

    def note(text, token):
        started = time.monotonic()
        response = client.post(
            f"/customerview/{customer.id}/notes", data={"text": text, "_submission": token * 20}
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return time.monotonic() - started

    note("Перезвонить после 18:00", "a")
    first = len(silent_redis)
    assert first >= 1  # the form's check asked Redis once, and gave up
    second = note("Просит СМС, не звонить", "b")
    assert len(silent_redis) == first  # the next form did not ask again
    assert second < 0.2  # less than one socket timeout: it did not wait for Redis
    assert queue.enqueue([1]) == []  # a message stays queued for the sweeper, at once
    assert len(silent_redis) == first
    assert sorted(n.text for n in ctx.query(Note).all()) == [
        "Перезвонить после 18:00",
        "Просит СМС, не звонить",
    ]


def test_redis_is_asked_again_once_the_pause_is_over(app, ctx, login_as, silent_redis):
    customer = factories.customer(ctx)
    client = login_as("reception")
    client.post(f"/customerview/{customer.id}/notes", data={"text": "Первая", "_submission": "c" * 20})
    first = len(silent_redis)
    app.config["REDIS_RETRY_AFTER_SECONDS"] = 0.0
    client.post(f"/customerview/{customer.id}/notes", data={"text": "Вторая", "_submission": "d" * 20})
    assert len(silent_redis) > first


def test_one_client_and_pool_serve_every_request_and_the_worker_has_its_own(app, redis):
    with app.app_context():
        page = queue.connection()
        assert page is queue.connection()
        assert queue.connection(patient=True) is not page  # RQ lengthens the worker's socket timeout
        assert page.get_retry()._retries == 0  # a page does not wait out three more tries
