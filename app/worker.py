"""RQ on Redis: the queue, the job, the worker command and the embedded default.

With ``REDIS_URL`` set the web process only enqueues and ``flask worker`` (any
number of them) delivers. Without it, ``run.py`` starts an in-process
Redis-compatible store (fakeredis) and a worker thread running the same RQ
code, so notifications flow on a laptop with nothing else installed.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

log = logging.getLogger(__name__)

_embedded: dict[str, object] = {}
_job_app: dict[str, Flask] = {}


def connection() -> Redis:
    url = current_app.config.get("REDIS_URL")
    if url:
        return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    if "redis" not in _embedded:
        import fakeredis

        _embedded["redis"] = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return _embedded["redis"]  # type: ignore[return-value]


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=connection())


def enqueue(ids: list[int], force: bool = False) -> list[int]:
    """Put the messages' ids on the queue; a Redis outage is logged, not raised.

    The rows stay «в очереди» and the sweeper enqueues them once Redis is back:
    the user's save never fails because of Redis. Job arguments are ids only.
    """
    from sqlalchemy import select, update

    from .extensions import db
    from .models import Message, utcnow

    if not ids:
        return []
    retries = current_app.config["DELIVERY_RETRIES"]
    done = []
    try:
        q = queue()
        # Called right after a commit: the ORM session may not emit SQL there, a connection may.
        with db.engine.connect() as conn:
            attempts = dict(
                conn.execute(select(Message.id, Message.attempts).where(Message.id.in_(ids))).all()
            )
        for message_id in ids:
            try:
                q.enqueue(
                    "app.worker.deliver_job",
                    message_id,
                    job_id=f"message-{message_id}-{attempts.get(message_id, 0)}",
                    unique=True,
                    retry=Retry(max=len(retries), interval=retries),
                    result_ttl=0,
                    failure_ttl=3600,
                    description=f"message {message_id}",
                )
                done.append(message_id)
            except DuplicateJobError:
                continue
    except RedisError as e:
        log.warning("Redis unavailable, %d message(s) left for the sweeper: %s", len(ids), type(e).__name__)
        return done
    if done:
        with db.engine.begin() as conn:
            conn.execute(update(Message).where(Message.id.in_(done)).values(enqueued_at=utcnow()))
    return done


def job_app() -> Flask:
    """The application a job runs in: the embedded worker's, or one made once per worker process."""
    if "app" not in _job_app:
        from . import create_app

        _job_app["app"] = create_app()
    return _job_app["app"]


def deliver_job(message_id: int) -> str:
    """The RQ job: one message id in, the row's final status out."""
    from . import notifications
    from .extensions import db

    with job_app().app_context():
        try:
            return notifications.deliver(db.session, message_id)
        finally:
            db.session.remove()


def run_worker(burst: bool = False, with_scheduler: bool = True, simple: bool = False) -> None:
    """``flask worker``: an RQ worker on REDIS_URL with the scheduler (retries).

    By default RQ's Worker, which forks a work horse per job (isolation, ~30 ms a job on
    its own); ``simple`` runs jobs in this process (RQ's SimpleWorker, several times the
    rate). Either way a worker that dies mid-send leaves the row «отправляется» and the
    sweeper hands it out again after SENDING_LEASE_SECONDS.
    """
    from rq import SimpleWorker, Worker

    _job_app["app"] = current_app._get_current_object()
    worker = (SimpleWorker if simple else Worker)([queue()], connection=connection())
    worker.work(burst=burst, with_scheduler=with_scheduler)


def sweep_once() -> list[int]:
    from . import notifications
    from .extensions import db

    return notifications.sweep(db.session)


def start_embedded_worker(app: Flask, interval: float = 1.0) -> threading.Event | None:
    """run.py without Redis: a thread that works the in-process queue and sweeps periodically.

    Returns an event that stops the thread when set.
    """
    if app.config.get("REDIS_URL"):
        return None
    from rq import SimpleWorker
    from rq.timeouts import TimerDeathPenalty

    class ThreadWorker(SimpleWorker):
        """SimpleWorker in a thread: signals work only in the main thread, so no signal
        handlers, and job time limits by a timer rather than SIGALRM."""

        death_penalty_class = TimerDeathPenalty

        def _install_signal_handlers(self):
            pass

    _job_app["app"] = app
    stop = threading.Event()
    with app.app_context():
        store = connection()  # bound once: the thread never follows a later REDIS_URL

    def loop():
        last_sweep = 0.0
        while not stop.is_set():
            try:
                with app.app_context():
                    if not app.config.get("REDIS_URL"):
                        if time.monotonic() - last_sweep > app.config["SWEEP_INTERVAL_SECONDS"]:
                            sweep_once()
                            last_sweep = time.monotonic()
                        jobs = Queue(app.config["RQ_QUEUE"], connection=store)
                        ThreadWorker([jobs], connection=store).work(burst=True, with_scheduler=False)
            except Exception:  # noqa: BLE001 - the loop must survive one bad round
                log.exception("embedded worker round failed")
            stop.wait(interval)

    threading.Thread(target=loop, name="kartoteka-worker", daemon=True).start()
    return stop


def start_sweeper(app: Flask) -> threading.Thread:
    """With a real Redis: a thread in the worker process that sweeps every SWEEP_INTERVAL_SECONDS."""

    def loop():
        while True:
            time.sleep(app.config["SWEEP_INTERVAL_SECONDS"])
            try:
                with app.app_context():
                    sweep_once()
            except Exception:  # noqa: BLE001
                log.exception("sweep failed")

    thread = threading.Thread(target=loop, name="kartoteka-sweeper", daemon=True)
    thread.start()
    return thread
