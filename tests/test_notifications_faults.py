"""The fault suite: PostgreSQL, a Redis of the test's own, real workers and a real sweeper.

Each test runs both worker classes (RQ's SimpleWorker, the default, and its forking
Worker) as the deployment runs them: two ``flask worker`` processes and a ``flask
kartoteka sweeper`` sweeping every second, restarted when they die (systemd's
Restart=always), never touched by the test otherwise. The processes of a class are
started once for the module's tests of that class (as a deployment's keep running from
one fault to the next); the gateway, the mail server and the counts of restarts and
kills start from zero for each test. The receiving side counts what
reached the customer per delivery key (tests/fault_harness.py): the SMS gateway ignores
Idempotency-Key, so a second send shows as a duplicate. After every fault each message
ends «Отправлено», «Ошибка», «Отменено» or «Просрочено», with no process restarted by hand.

Windows are shortened by configuration (a lease of 5 s, retries after 0.2, 0.5 and 1 s)
so that the suite runs in about a minute; the bench (``bench/notifications.py --faults``)
prints the same faults with 1 and 4 workers.
"""

from __future__ import annotations

import os

import pytest

from app.extensions import db
from app.models import AttemptOutcome, Message, MessageStatus
from tests.conftest import RedisServer, empty_domain_tables
from tests.fault_harness import (
    Cluster,
    Sinks,
    gateway_down,
    redis_restarted_empty,
    tally,
    wait_until_final,
    workers_killed_in_the_send,
)

WORKER_CLASSES = ["simple", "fork"]


@pytest.fixture(scope="module")
def postgresql(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the fault suite runs on PostgreSQL (production's database)")
    return database_url


@pytest.fixture(scope="module")
def private_redis(app, postgresql, tmp_path_factory):
    """A Redis of this module's own: killing it touches no other test."""
    server = RedisServer(tmp_path_factory.mktemp("faults-redis"))
    server.start()
    saved = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = server.url
    yield server
    app.config["REDIS_URL"] = saved
    server.stop()


@pytest.fixture(scope="module")
def module_sinks(app, postgresql):
    saved = {k: app.config[k] for k in ("NOTIFY_CHANNELS", "SMS_GATEWAY_URL", "SMTP_PORT", "SMTP_FROM")}
    s = Sinks()
    s.configure(app)
    yield s
    s.close()
    app.config.update(saved)


@pytest.fixture
def sinks(module_sinks, private_redis):
    """The module's gateway and mail server, counting from zero for this test."""
    module_sinks.reset()
    return module_sinks


@pytest.fixture(scope="module", params=WORKER_CLASSES)
def worker_class(request):
    return request.param


@pytest.fixture(scope="module")
def running_cluster(app, postgresql, private_redis, module_sinks, worker_class, tmp_path_factory):
    """Two workers of the class and a sweeper, started once for the module's tests of that
    class: each start is three app processes, ~8 s on the loaded 2-CPU machine before the
    first send. Every test uses the same shortened windows (RETRY_BACKOFF_SECONDS
    0.2,0.5,1), and the processes live on through the faults (a killed one is restarted,
    as systemd would, by the harness)."""
    env = {
        "DATABASE_URL": postgresql,
        "REDIS_URL": private_redis.url,
        "RETRY_BACKOFF_SECONDS": "0.2,0.5,1",
        **module_sinks.env(),
    }
    c = Cluster(tmp_path_factory.mktemp(f"faults-{worker_class}"), env, worker_class).start()
    yield c
    c.stop()
    with app.app_context():  # what a sweep wrote after the last test's clean-up goes too
        empty_domain_tables()


@pytest.fixture
def cluster(running_cluster, sinks):
    running_cluster.begin()
    yield running_cluster
    print(running_cluster.log()[-6000:])  # shown when the test failed


def assert_every_message_reached_once(app, ids, sinks):
    counted = tally(app, ids, sinks)
    assert counted["stuck"] == 0, counted
    assert counted["statuses"] == {"sent": len(ids)}, counted
    assert counted["delivered"] == len(ids) and counted["duplicated"] == 0, counted
    return counted


def test_redis_killed_and_restarted_empty_mid_batch(app, private_redis, sinks, cluster):
    """200 messages (SMS and e-mail) while the workers are busy: Redis is killed, comes back
    empty two seconds later, and nobody touches anything: the workers wait for it (they
    do not exit), the sweeper enqueues what Redis lost, each message arrives once."""
    workers = cluster
    ids, _ = redis_restarted_empty(app, private_redis, sinks, 200)
    assert wait_until_final(app, ids, timeout=90) is not None, tally(app, ids, sinks)
    assert_every_message_reached_once(app, ids, sinks)
    assert workers.restarts == 0  # nobody restarted: the workers rode it out
    log = workers.log()
    assert "Redis unavailable" in log and "Redis is back" in log


def test_gateway_down_longer_than_the_old_retry_window(app, private_redis, sinks, cluster):
    """The gateway answers 503 and the mail server 451 for 10 s, far longer than the four
    attempts the old schedule allowed (retries after 0.2, 0.5 and 1 s here): messages whose
    horizon outlasts the outage are sent once it ends, each once; those whose horizon is
    shorter become «Просрочено», none is lost. One that was tried says the provider's
    reason; one the busy queue never reached before its deadline says so (on a loaded
    machine a forking worker may not reach all of them in 5 s, and that is the truth)."""
    lasting, short, _ = gateway_down(app, sinks, 10, outage=10, short=6, short_horizon=5.0)
    assert wait_until_final(app, lasting + short, timeout=60) is not None, tally(app, lasting + short, sinks)
    assert_every_message_reached_once(app, lasting, sinks)
    with app.app_context():
        retried = db.session.query(Message).filter(Message.id.in_(lasting), Message.attempts > 4).count()
        assert retried > 0  # beyond the old limit of four attempts
        expired = db.session.query(Message).filter(Message.id.in_(short)).all()
        assert {m.status for m in expired} == {MessageStatus.EXPIRED}
        tried = [m for m in expired if m.attempts]
        assert tried, "no short-lived message was tried before its deadline"
        for message in expired:
            assert message.last_error.startswith("Не отправлено до ")
            if message.attempts:
                reason = (
                    "Шлюз временно не принял сообщение (503)"
                    if message.channel.value == "sms"
                    else "Почтовый сервер временно не принял письмо (451)"
                )
            else:
                reason = "очередь не дошла до сообщения"
            assert reason in message.last_error, (message.attempts, message.last_error)
            assert {a.outcome for a in message.attempt_log} <= {AttemptOutcome.RETRY, AttemptOutcome.EXPIRED}
        db.session.remove()
    assert tally(app, short, sinks)["delivered"] == 0


def test_worker_killed_inside_the_provider_call(app, private_redis, sinks, cluster):
    """Three times the process waiting on the gateway (the worker, or with --fork its work
    horse) is SIGKILLed after the gateway took the message. Its message is handed out again
    only after the lease; the gateway ignores the key, so the customer gets that message
    twice: the only duplicates, each marked «Отправлено повторно после сбоя»."""
    workers = cluster
    ids, _ = workers_killed_in_the_send(app, sinks, workers, 60, kills=3)
    assert wait_until_final(app, ids, timeout=90) is not None, tally(app, ids, sinks)
    counted = tally(app, ids, sinks)
    assert counted["statuses"] == {"sent": len(ids)} and counted["lost"] == 0, counted
    assert counted["delivered"] == len(ids)
    assert counted["duplicated"] <= workers.kills == 3, counted
    assert counted["duplicated_unmarked"] == 0, counted  # every duplicate says so on the card
    with app.app_context():
        crashed = db.session.query(Message).filter(Message.id.in_(ids), Message.after_crash.is_(True)).all()
        assert len(crashed) == 3
        for message in crashed:
            outcomes = [a.outcome for a in message.attempt_log]
            assert outcomes[0] == AttemptOutcome.INTERRUPTED and outcomes[-1] == AttemptOutcome.SENT
            assert message.delivery == "Отправлено повторно после сбоя"
        db.session.remove()


def test_a_forked_work_horse_never_uses_the_parents_database_connection(app, postgresql):
    """RQ's Worker forks a horse per job; the horse must open its own connection (the
    shared socket hung horses and gave one query another's rows)."""
    from sqlalchemy import text

    from app import worker

    worker._job_app["app"] = app
    worker.install_fork_safety()
    with app.app_context():
        with db.engine.connect() as conn:
            parent = conn.execute(text("SELECT pg_backend_pid()")).scalar()  # back in the pool after this
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: what a work horse does
            try:
                with db.engine.connect() as conn:
                    os.write(write, str(conn.execute(text("SELECT pg_backend_pid()")).scalar()).encode())
            finally:
                os._exit(0)
        os.close(write)
        child = int(os.read(read, 64))
        os.waitpid(pid, 0)
        with db.engine.connect() as conn:  # the child closed nothing of the parent's
            assert conn.execute(text("SELECT 1")).scalar() == 1
    assert child != parent
