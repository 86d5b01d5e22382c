"""The queue on Redis: its connection, and putting messages' ids on it.

The web enqueues after a commit and the sweeper enqueues what was left behind;
workers (app/worker.py) take the jobs. Nothing personal goes to Redis: a job
carries a message's id only. Without ``REDIS_URL`` the queue is an in-process
Redis-compatible store (fakeredis), worked by run.py's embedded worker thread.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus

log = logging.getLogger("app.worker")

_embedded: dict[str, object] = {}
# One client per address and settings in a process: one connection pool, reused by
# every request and job (a client made per call opened a new connection each time).
# redis-py's pool starts afresh in a forked child; app/worker.py resets it as well.
_clients: dict[tuple, Redis] = {}
_clients_lock = threading.Lock()

# A job under these states will still run: enqueueing its id again would be a duplicate.
LIVE_JOB = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}


def connection(*, patient: bool = False) -> Redis:
    """The process's client for REDIS_URL (or the embedded store). A page's fails at once
    when Redis does not answer: redis-py retries three times by default, and a form would
    wait out every try. A worker's (``patient``) retries as redis-py does, and RQ lengthens
    its socket timeout for its blocking pop, which a page's client must not inherit."""
    config = current_app.config
    url = config.get("REDIS_URL")
    if url:
        key = (url, patient, config["REDIS_CONNECT_TIMEOUT"], config["REDIS_SOCKET_TIMEOUT"])
        client = _clients.get(key)
        if client is None:
            with _clients_lock:
                client = _clients.get(key)
                if client is None:
                    retry = {} if patient else {"retry": Retry(NoBackoff(), 0)}
                    client = _clients[key] = Redis.from_url(
                        url, socket_connect_timeout=key[2], socket_timeout=key[3], **retry
                    )
        return client
    if "redis" not in _embedded:
        import fakeredis

        _embedded["redis"] = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return _embedded["redis"]  # type: ignore[return-value]


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=connection())


class RedisWatch:
    """Says once when Redis goes away and once when it is back (one per process), and
    lets a page do without it for a moment after it failed (``available``)."""

    def __init__(self):
        self.lost_at: float | None = None
        self.failed_at: float | None = None
        self._lock = threading.Lock()

    def lost(self, error: Exception) -> bool:
        with self._lock:
            first, self.lost_at = self.lost_at is None, self.lost_at or time.monotonic()
            self.failed_at = time.monotonic()
        if first:
            log.warning("Redis unavailable (%s: %s); waiting for it", type(error).__name__, error)
        return first

    def available(self) -> bool:
        """Whether a page should ask Redis now: not within REDIS_RETRY_AFTER_SECONDS of a
        failure. An unreachable Redis made each use wait out its timeouts (redis-py
        retries a refused or silent connection three times), and a form's save used it
        three times: its double-submit check, the messages' enqueue and the check's
        settling. Workers and the sweeper ask regardless: they are what notices it back."""
        failed_at = self.failed_at
        if failed_at is None:
            return True
        return time.monotonic() - failed_at >= float(current_app.config["REDIS_RETRY_AFTER_SECONDS"])

    def ok(self) -> bool:
        if self.lost_at is None:
            return False
        with self._lock:
            lost_at, self.lost_at = self.lost_at, None
        if lost_at is None:
            return False
        self.failed_at = None
        log.warning("Redis is back after %.0f s", time.monotonic() - lost_at)
        return True


REDIS = RedisWatch()


def delivery_timeout() -> int:
    """RQ's time limit for one send, inside the sending lease: a send RQ had not ended
    by the lease's end was handed out again while it still ran (RQ's default limit,
    180 s, against a lease of 120 s), and two workers sent the same SMS. The limit ends
    a quarter of the lease (at least 10 s) before it, so the sweeper finds it ended."""
    lease = float(current_app.config["SENDING_LEASE_SECONDS"])
    return max(1, int(min(Queue.DEFAULT_TIMEOUT, lease - max(10.0, lease / 4))))


def enqueue(ids: list[int]) -> list[int]:
    """Put the messages' ids on the queue; a Redis outage is logged, not raised.

    The rows stay «в очереди» and the sweeper enqueues them once Redis is back: the
    user's save never fails because of Redis. Job arguments are ids only. A job id is
    the message and its attempt count: a live job under it is left alone (the web's
    enqueue after a commit and the sweeper may meet), a dead one (failed before it
    could claim the message, say while the database was down) is replaced.
    """
    from sqlalchemy import select, update

    from .extensions import db
    from .models import Message, utcnow

    if not ids:
        return []
    if current_app.config.get("REDIS_URL") and not REDIS.available():
        log.info("message(s) %s stay queued for the sweeper: Redis failed moments ago", ids_text(ids))
        return []
    done = []
    try:
        client = connection()
        q = Queue(current_app.config["RQ_QUEUE"], connection=client)
        # Called right after a commit: the ORM session may not emit SQL there, a connection may.
        with db.engine.connect() as conn:
            attempts = dict(
                conn.execute(select(Message.id, Message.attempts).where(Message.id.in_(ids))).all()
            )
        job_ids = {message_id: f"message-{message_id}-{attempts.get(message_id, 0)}" for message_id in ids}
        with client.pipeline(transaction=False) as pipe:
            for job_id in job_ids.values():
                pipe.hget(Job.key_for(job_id), "status")
            states = dict(zip(job_ids.values(), pipe.execute(), strict=True))
        dead = [Job.key_for(j) for j, state in states.items() if state and state.decode() not in LIVE_JOB]
        if dead:
            client.delete(*dead)
        for message_id, job_id in job_ids.items():
            try:
                q.enqueue(
                    "app.worker.deliver_job",
                    message_id,
                    job_id=job_id,
                    unique=True,
                    job_timeout=delivery_timeout(),
                    result_ttl=0,
                    failure_ttl=3600,
                    description=f"message {message_id}",
                )
                done.append(message_id)
            except DuplicateJobError:
                continue
    except RedisError as e:
        REDIS.lost(e)
        left = [i for i in ids if i not in done]
        log.warning("message(s) %s stay queued for the sweeper: Redis unavailable (%s)", ids_text(left), e)
        return done
    REDIS.ok()
    if done:
        with db.engine.begin() as conn:
            conn.execute(update(Message).where(Message.id.in_(done)).values(enqueued_at=utcnow()))
    return done


def ids_text(ids: list[int]) -> str:
    """Message ids for a log line: all of a few, the first twenty of many."""
    shown = ", ".join(map(str, ids[:20]))
    return shown if len(ids) <= 20 else f"{shown} and {len(ids) - 20} more"
