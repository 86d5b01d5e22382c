"""RQ on Redis: the queue, the job, the workers, the sweeper and the embedded default.

With ``REDIS_URL`` set the web process only enqueues; ``flask worker`` (any number of
them) delivers and ``flask kartoteka sweeper`` (one is enough, two do no harm) hands out
again what was left behind. Without it, ``run.py`` starts an in-process
Redis-compatible store (fakeredis) and a worker thread running the same RQ code, so
notifications flow on a laptop with nothing else installed.

Workers and the sweeper ride out a Redis outage: they say so in the log once, wait
with growing delays (never exit) and say so again when Redis is back; whatever Redis
lost meanwhile is still «в очереди» in the database, and the sweeper enqueues it again.

The worker class. ``simple`` (the default) is RQ's SimpleWorker: jobs run in the worker's
own process, so no connection is ever shared across a fork, and it delivers about four
times the rate of ``fork`` (bench/notifications.py). ``fork`` is RQ's Worker, which forks a
work horse per job: a job that leaks memory or crashes the interpreter takes only its
horse with it. Both pass the same fault suite (tests/test_notifications_faults.py); a
worker that dies either way is restarted by its supervisor (deploy/) and its message is
handed out again after SENDING_LEASE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker, worker_registration
from rq.timeouts import TimerDeathPenalty

from .queue import REDIS, _clients, _embedded, connection, enqueue, queue  # noqa: F401  (the worker's queue)

log = logging.getLogger(__name__)

_job_app: dict[str, Flask] = {}


class NotConfigured(RuntimeError):
    """A worker or the sweeper started without DATABASE_URL or REDIS_URL."""


def job_app() -> Flask:
    """The application a job runs in: the worker's or the embedded worker thread's."""
    app = _job_app.get("app")
    if app is None:  # a job runs in a worker `flask worker` started, which sets it
        raise NotConfigured("a job runs in a worker started by `flask worker` or run.py")
    return app


def worker_label() -> str:
    from rq import get_current_job

    job = get_current_job()
    if job is not None and job.worker_name:
        return job.worker_name
    return f"{socket.gethostname()}-{os.getpid()}"


def deliver_job(message_id: int) -> str:
    """The RQ job: one message id in, the row's final status out."""
    from . import notifications
    from .extensions import db

    with job_app().app_context():
        try:
            return notifications.deliver(db.session, message_id, worker=worker_label())
        finally:
            db.session.remove()


def expire_bonuses_job() -> int:
    """The RQ job that burns bonuses past their expiry (app/payments.py expire_bonuses):
    the sweeper enqueues it once an hour; its messages go out through the outbox."""
    from . import payments
    from .extensions import db

    with job_app().app_context():
        try:
            burnt = payments.expire_bonuses(db.session)
            db.session.commit()
            return len(burnt)
        finally:
            db.session.remove()


def subject_export_job(request_id: int) -> str:
    """The RQ job of a subject's export (app/subjects.py): a request id in."""
    from . import subjects
    from .admin.history import ScreensNaming
    from .extensions import db

    with job_app().app_context():
        try:
            return subjects.build_export(db.session, request_id, ScreensNaming())
        finally:
            db.session.remove()


def queue_bonus_expiry(now=None) -> bool:
    """Enqueue the hour's bonus expiry once (a unique job id per hour); False when it is
    already queued or Redis is away (the next round tries again)."""
    from redis.exceptions import RedisError
    from rq.exceptions import DuplicateJobError

    from .models import utcnow

    hour = (now or utcnow()).strftime("%Y%m%d%H")
    try:
        queue().enqueue(
            "app.worker.expire_bonuses_job",
            job_id=f"bonus-expiry-{hour}",
            unique=True,
            result_ttl=3600,
            failure_ttl=86400,
            description="bonus expiry",
        )
    except (DuplicateJobError, RedisError):
        return False
    return True


def review_retention_job() -> int | None:
    """The RQ job that counts the customers past the retention period and leaves the
    managers a notice when the count changed (app/subjects.py review_retention); it
    erases nobody. Returns the count of those waiting for a manager's decision."""
    from . import subjects
    from .extensions import db

    with job_app().app_context():
        try:
            review = subjects.review_retention(db.session)
            db.session.commit()
            return None if review is None else review.due
        finally:
            db.session.remove()


def queue_retention_review(now=None) -> bool:
    """Enqueue the day's retention review once (a unique job id per day); False when it
    is already queued or Redis is away (the next round tries again)."""
    from redis.exceptions import RedisError
    from rq.exceptions import DuplicateJobError

    from .models import utcnow

    day = (now or utcnow()).strftime("%Y%m%d")
    try:
        queue().enqueue(
            "app.worker.review_retention_job",
            job_id=f"retention-review-{day}",
            unique=True,
            result_ttl=86400,
            failure_ttl=86400,
            description="retention review",
        )
    except (DuplicateJobError, RedisError):
        return False
    return True


# ---------------------------------------------------------------------------
# Fork safety
# ---------------------------------------------------------------------------


def _fresh_connections_in_child() -> None:
    """In a forked child (RQ's work horse): never use a connection of the parent's.

    The horse inherited the parent's SQLAlchemy pool and Redis pools, sockets included;
    two processes talking over one PostgreSQL socket hung horses and gave one query
    another's rows. The pools are emptied without closing what they held (closing would
    end the parent's sessions): the child opens its own (SQLAlchemy documents
    ``engine.dispose(close=False)`` for this).
    """
    from .extensions import db

    app = _job_app.get("app")
    if app is not None:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)
    for client in list(_clients.values()):
        client.connection_pool.reset()


_fork_hook = {"installed": False}


def install_fork_safety() -> None:
    if not _fork_hook["installed"]:
        os.register_at_fork(after_in_child=_fresh_connections_in_child)
        _fork_hook["installed"] = True


# ---------------------------------------------------------------------------
# Workers that ride out Redis
# ---------------------------------------------------------------------------


class _RidesOutRedis:
    """Mixed into RQ's workers: the heartbeat (sent before every dequeue and after every
    job) tells when Redis went away and came back; back, the worker registers again
    (Redis may have come back empty, and the health report counts registered workers)."""

    max_connection_wait_time = 15.0  # RQ's own wait between reconnects grows up to this (60)
    stop_requested = False  # SIGTERM or SIGINT: RQ finishes the job in hand and ends its loop

    def request_stop(self, signum, frame):
        self.stop_requested = True
        super().request_stop(signum, frame)

    def unsubscribe(self):
        """RQ's, with its pubsub thread stopped first. RQ unsubscribes, then stops the
        thread: woken by Redis's answer before the stop, the thread went back to wait
        (up to 60 s) for a subscription, and RQ's join and then _quiet's each waited
        out their 1 s timeout: ``flask worker --burst`` ended 2 s after its work.
        Stopped first, the answer ends the thread and the joins return at once."""
        if self.pubsub_thread is not None:
            self.pubsub_thread.stop()
        super().unsubscribe()

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        try:
            result = super().heartbeat(timeout, pipeline)
        except RedisError as e:
            REDIS.lost(e)
            raise
        if REDIS.ok():
            worker_registration.register(self)
        return result


class SimpleDeliveryWorker(_RidesOutRedis, SimpleWorker):
    pass


class ForkingDeliveryWorker(_RidesOutRedis, Worker):
    def setup_work_horse_signals(self):
        """The horse leaves SIGTERM to its worker. systemd stops a unit by signalling every
        process in it (KillMode=control-group, the default): RQ's horse took SIGTERM's
        default and died in the middle of the send, and each restart left its message
        «отправляется» until the lease, then sent it again. The worker's warm stop waits
        for the horse; its cold stop and systemd's final SIGKILL still end it."""
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


WORKER_CLASSES = {"simple": SimpleDeliveryWorker, "fork": ForkingDeliveryWorker}


class EmbeddedWorker(SimpleDeliveryWorker):
    """``flask worker``'s own worker (its pubsub stop included) in run.py's thread: it was
    a SimpleWorker of its own, without the pubsub fix, so a round on a busy machine waited
    out RQ's two 1 s joins and left the pubsub thread waiting 60 s, a new one every round.
    Signals reach only the main thread, so no signal handlers, and a job's time limit is
    a timer rather than SIGALRM."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass

    def procline(self, message):
        """run.py's process keeps its name: RQ renamed the web server «rq:worker:…:
        Listening on kartoteka», and ``ps`` or ``pkill -f run.py`` no longer found it."""


def work_once(cls, client: Redis, app: Flask, burst: bool, name: str | None = None, logging_level=None):
    """One RQ worker of ``cls`` on the app's queue, from its start to the end of its loop;
    returns it (None when it could not be made). ``flask worker`` and the embedded thread
    both run their workers through here. A Redis error is logged as an outage, not raised."""
    worker = None
    try:
        worker = cls([Queue(app.config["RQ_QUEUE"], connection=client)], connection=client, name=name)
        _stop_before_rq_listens(worker)
        worker.work(burst=burst, with_scheduler=False, logging_level=logging_level)
    except RedisError as e:
        REDIS.lost(e)
    finally:
        _quiet(worker)
    return worker


def _stop_before_rq_listens(worker) -> None:
    """RQ registers the worker in Redis (and subscribes) before it installs its signal
    handlers: a SIGTERM in between (systemd restarting a worker that had just started)
    killed the process with the worker still registered, and the health report counted a
    dead worker until its key expired (8 minutes). Until RQ's handlers take over, a signal
    asks the worker to stop: RQ's loop sees it before taking a job and says goodbye."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        worker.stop_requested = True
        worker._stop_requested = True  # RQ's loop checks it before every dequeue

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def require_services(app: Flask) -> None:
    """Refuse to deliver from the embedded SQLite file: a worker without DATABASE_URL
    read an empty file under instance/ («no such table: message») and wrote a stray one.
    Without REDIS_URL it would work an in-process queue nobody else writes to."""
    from config import EMBEDDED_DATABASE_URI

    if app.config["SQLALCHEMY_DATABASE_URI"] == EMBEDDED_DATABASE_URI and not os.environ.get("DATABASE_URL"):
        raise NotConfigured(
            "DATABASE_URL is not set: workers and the sweeper need the database the web uses "
            "(PostgreSQL in production). Set it, with REDIS_URL, in the environment file they "
            "all read (deploy/kartoteka.env.example); they do not fall back to the SQLite file "
            "under instance/."
        )
    if not app.config.get("REDIS_URL"):
        raise NotConfigured(
            "REDIS_URL is not set: workers and the sweeper need the Redis the web enqueues to. "
            "Set it in the environment file they all read (without Redis, `python run.py` "
            "delivers in-process)."
        )


def wait_for_redis(client: Redis, stop: threading.Event | None = None) -> None:
    """Until Redis answers: 1, 2, 4… up to 15 s between tries."""
    delay = 1.0
    while stop is None or not stop.is_set():
        try:
            client.ping()
        except RedisError as e:
            REDIS.lost(e)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
            continue
        REDIS.ok()
        return


def run_worker(burst: bool = False, worker_class: str | None = None) -> None:
    """``flask worker``: an RQ worker on REDIS_URL that never gives up on Redis.

    RQ's own loop waits out a Redis that is down while it dequeues, but quits on an
    error anywhere else (after a job, in a heartbeat): then this loop waits for Redis
    and starts a fresh worker, until the process is told to stop (SIGTERM, SIGINT).
    """
    app = current_app._get_current_object()
    require_services(app)
    _job_app["app"] = app
    install_fork_safety()
    kind = worker_class or app.config["WORKER_CLASS"]
    cls = WORKER_CLASSES[kind]
    log.info("%s worker starting (pid %s)", kind, os.getpid())
    generation = 0
    while True:
        generation += 1
        client = connection(patient=True)
        worker = work_once(
            cls,
            client,
            app,
            burst,
            name=f"kartoteka-{socket.gethostname()}-{os.getpid()}-{generation}",
            logging_level=app.config["LOG_LEVEL"].upper(),
        )
        # RQ leaves its handlers installed; between two workers a signal must stop this loop.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if burst or (worker is not None and worker.stop_requested):
            return
        time.sleep(1)
        wait_for_redis(client)
        log.warning("worker restarting after RQ's loop ended (generation %s)", generation + 1)


def _quiet(worker) -> None:
    """Stop a finished RQ worker's pubsub thread: RQ stops it in its teardown, which a lost
    Redis cuts short, and it would retry every two seconds for the life of the process."""
    thread = getattr(worker, "pubsub_thread", None)
    if thread is not None and thread.is_alive():
        thread.stop()
        thread.join(timeout=1)
    pubsub = getattr(worker, "pubsub", None)
    if pubsub is not None:
        try:
            pubsub.close()
        except RedisError:
            pass


def sweep_once() -> list[int]:
    from . import notifications, subjects
    from .extensions import db

    try:
        ids = notifications.sweep(db.session)
        subjects.sweep_exports(db.session)  # subject exports left in the queue (issue 19)
    finally:
        db.session.remove()
    queue_bonus_expiry()  # once an hour: the job burns bonuses past their expiry
    queue_retention_review()  # once a day: the managers hear of customers past retention
    return ids


def run_sweeper(once: bool = False, stop: threading.Event | None = None) -> None:
    """``flask kartoteka sweeper``: a sweep every SWEEP_INTERVAL_SECONDS, for ever.

    A process of its own: it does not depend on a busy worker, and a worker's fork
    never copies its connections. Redis down: the sweep's enqueue logs it and the rows
    wait; the database down: the round is logged and tried again, waiting longer each
    time (up to a minute)."""
    app = current_app._get_current_object()
    require_services(app)
    interval = float(app.config["SWEEP_INTERVAL_SECONDS"])
    failures = 0
    log.info("sweeper starting (pid %s), every %g s", os.getpid(), interval)
    while stop is None or not stop.is_set():
        try:
            with app.app_context():
                sweep_once()
            if failures:
                log.warning("sweeper: the database answers again after %s failed round(s)", failures)
            failures = 0
        except Exception as e:  # noqa: BLE001 - the sweeper outlives any one bad round
            failures += 1
            log.warning("sweeper: round failed (%s: %s)", type(e).__name__, e)
        if once:
            return
        wait = interval if not failures else min(interval * 2**failures, 60.0)
        if stop is not None:
            stop.wait(wait)
        else:
            time.sleep(wait)


# ---------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------


def health() -> dict:
    """What an operator (or a monitor) needs: the queue in the database and in Redis,
    the workers Redis knows, the sweeper's last round, and what looks wrong."""
    from . import notifications
    from .extensions import db

    app = current_app
    report = notifications.queue_report(db.session)
    db.session.remove()
    problems = []  # (code, what to say in the log or a terminal)
    if app.config.get("REDIS_URL"):
        try:
            client = connection()
            client.ping()
            report["redis"] = {
                "ok": True,
                "jobs_queued": Queue(app.config["RQ_QUEUE"], connection=client).count,
                "workers": Worker.count(connection=client),
            }
            if not report["redis"]["workers"]:
                problems.append(("no_workers", "no worker is connected to Redis"))
        except RedisError as e:
            report["redis"] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            problems.append(("redis", "Redis unavailable"))
    else:
        report["redis"] = {"ok": True, "embedded": True}
    interval = float(app.config["SWEEP_INTERVAL_SECONDS"])
    if report["last_sweep_seconds"] is None or report["last_sweep_seconds"] > 3 * interval + 5:
        problems.append(("sweeper", "the sweeper has not run for three of its intervals"))
    oldest = report["oldest_waiting_seconds"]
    if oldest is not None and oldest > float(app.config["HEALTH_MAX_WAIT_SECONDS"]):
        problems.append(("waiting", f"a due message has waited {oldest:.0f} s"))
    report["paused"] = [channel for channel, state in report["channels"].items() if state["paused_at"]]
    report["problems"] = [{"code": code, "text": text} for code, text in problems]
    report["ok"] = not problems
    return report


# ---------------------------------------------------------------------------
# The embedded default: run.py without Redis
# ---------------------------------------------------------------------------


def embedded_running() -> bool:
    """Whether this process runs the embedded worker thread (run.py starts it; ``flask run``
    and gunicorn without REDIS_URL do not, and then nobody sends the messages)."""
    return any(t.name == "kartoteka-worker" and t.is_alive() for t in threading.enumerate())


def start_embedded_worker(app: Flask, interval: float = 1.0) -> threading.Event | None:
    """run.py without Redis: a thread that works the in-process queue and sweeps periodically.

    Returns an event that stops the thread when set.
    """
    if app.config.get("REDIS_URL"):
        return None
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
                        # RQ's INFO lines (a worker started, done) every second would drown run.py's log
                        work_once(EmbeddedWorker, store, app, burst=True, logging_level="WARNING")
            except Exception:  # noqa: BLE001 - the loop must survive one bad round
                log.exception("embedded worker round failed")
            stop.wait(interval)

    threading.Thread(target=loop, name="kartoteka-worker", daemon=True).start()
    return stop
