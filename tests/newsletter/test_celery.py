"""Celery: runs fanned out to real workers over Redis, and a worker killed mid-batch.

The workers are real ``celery worker`` processes talking to the Redis on
127.0.0.1:6379, in a Redis database of the test's own. What reached readers is
asserted from the SMTP sink, not from the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shop import background, create_app, scheduler
from shop.digests import runs as digest
from shop.extensions import db
from shop.sending import dispatch as jobs
from shop.sending.models import Delivery, DeliveryStatus, Run
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, many_subscribers
from tests.newsletter.helpers import leases_held
from tests.support import REDIS_HOST, REDIS_PORT, claimed_redis_db

# Celery worker processes read and write the database: real commits.
pytestmark = [pytest.mark.real_commits, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
READERS = 300
COMMIT_EVERY = 10
LEASE_SECONDS = 3


def wait_until(condition, timeout: float, message: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, message
        time.sleep(interval)


@pytest.fixture
def redis_db():
    """An empty Redis database (1-15) of this test's own, flushed afterwards."""
    with claimed_redis_db() as client:
        yield client


@pytest.fixture
def broker(redis_db, app_config) -> str:
    """Point this test's app at its Redis database (request it before ``app``)."""
    number = redis_db.connection_pool.connection_kwargs["db"]
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
    app_config["CELERY_BROKER_URL"] = url
    return url


@dataclass
class Worker:
    """One ``celery worker`` process (a parent and its one pool process)."""

    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        """Everything the worker logged so far."""
        return self.log.read_text(errors="replace")

    def sent(self) -> int:
        """Messages this worker's finished tasks sent, read from its log."""
        return sum(int(n) for n in re.findall(r"'sent': (\d+)", self.output()))

    def owns(self, pid: int) -> bool:
        """Whether ``pid`` is this worker or one of its pool processes."""
        if pid == self.process.pid:
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid

    def kill(self) -> None:
        """SIGKILL the worker and its pool process at once, as a lost machine would."""
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def workers(app, broker, app_config, tmp_path):
    """Start real Celery workers on the test's database, sink and Redis; kill them after."""
    started: list[Worker] = []

    def start(count: int, **settings) -> list[Worker]:
        env = {
            **os.environ,
            "SECRET_KEY": app_config["SECRET_KEY"],
            "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
            "SITE_URL": app_config["SITE_URL"],
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(app_config["MAIL_PORT"]),
            "MAIL_DEFAULT_SENDER": app_config["MAIL_DEFAULT_SENDER"],
            "CELERY_BROKER_URL": broker,
            "BROADSHEET_INSTANCE": str(tmp_path / "instance"),
            **{name: str(value) for name, value in settings.items()},
        }
        env.pop("FLASK_DEBUG", None)
        new = []
        for _ in range(count):
            name = f"test-{uuid.uuid4().hex[:8]}"
            log = tmp_path / f"{name}.log"
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "celery", "-A", "shop.celery_worker", "worker"),
                    *("--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO"),
                    *("--hostname", f"{name}@%h"),
                    # Quiet, quick start: no cluster chatter between test workers.
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                ],
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: the pool dies with it
            )
            new.append(Worker(process, log))
        started.extend(new)
        for worker in new:
            wait_until(
                lambda w=worker: " ready." in w.output() or w.process.poll() is not None,
                60,
                "a Celery worker did not start",
            )
            assert worker.process.poll() is None, worker.output()
        return new

    yield start
    for worker in started:
        worker.kill()


def logs(pool: list[Worker]) -> str:
    """The workers' logs, for a failure's message."""
    return "".join(f"\n--- worker {w.process.pid}:\n{w.output()}" for w in pool)


def received(mailbox) -> dict[str, list[str]]:
    """Message-IDs received per recipient."""
    ids: dict[str, list[str]] = defaultdict(list)
    for message in mailbox.messages:
        ids[message["To"]].append(message["Message-ID"])
    return ids


def queued(run_id: int) -> int:
    """The run's deliveries still queued, as committed by the workers."""
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).where(
            Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED
        )
    )


def settle(mailbox, redis_db, quiet: float = 1.5) -> None:
    """Wait until no task is waiting and no mail has arrived for ``quiet`` seconds."""
    wait_until(lambda: redis_db.llen("celery") == 0, 30, "tasks are still queued")
    last = {"count": -1, "at": time.monotonic()}

    def quiet_now() -> bool:
        count = len(mailbox.handler.messages)
        if count != last["count"]:
            last.update(count=count, at=time.monotonic())
        return time.monotonic() - last["at"] >= quiet

    wait_until(quiet_now, 60, "mail kept arriving", interval=0.1)


def test_a_run_fanned_out_to_two_workers_reaches_every_reader_once(
    broker, app, workers, runner, mailbox, redis_db, monkeypatch
):
    app.config["MAIL_BATCH_SIZE"] = 20
    emails = set(many_subscribers(READERS))
    article("Glaciers retreat", [TagFactory(name="Climate")])
    pool = workers(2, MAIL_BATCH_SIZE=20)
    # The command watches the ledger until the workers are done; bound the wait.
    monkeypatch.setattr(
        jobs, "watch_run", functools.partial(jobs.watch_run, poll_seconds=0.2, timeout=120)
    )

    result = runner.invoke(args=["digest", "send", "--frequency", "daily"])

    assert result.exit_code == 0, result.output + logs(pool)
    assert f": sent {READERS}, skipped 0, failed 0, bounced 0" in result.output, logs(pool)
    settle(mailbox, redis_db)
    ids = received(mailbox)
    assert set(ids) == emails, "every due reader got the digest"
    assert max(len(i) for i in ids.values()) == 1, "and nobody got it twice"
    assert all(worker.sent() > 0 for worker in pool), "both workers sent part of the run"
    assert sum(worker.sent() for worker in pool) == READERS
    db.session.rollback()
    run = db.session.scalar(select(Run).where(Run.period.startswith("daily:")))
    assert run.finished_at is not None


def slow_sink(monkeypatch, handler, seconds: float) -> None:
    """Make the SMTP sink take ``seconds`` per message, so a kill lands mid-batch."""
    accept = handler.handle_DATA

    async def slow(server, session, envelope):
        await asyncio.sleep(seconds)
        return await accept(server, session, envelope)

    monkeypatch.setattr(handler, "handle_DATA", slow, raising=False)


def mid_batch_owner(run_id: int, batch: int) -> int | None:
    """The pid of a process holding a batch it has sent at least one group of."""
    for owner, held in leases_held(run_id):
        if held <= batch - COMMIT_EVERY:
            return int(owner.split(":")[1])  # host:pid:suffix (ledger.worker_name)
    return None


@pytest.mark.parametrize("victim", ["pool process", "whole worker"])
def test_a_worker_killed_mid_batch_leaves_nobody_missed_and_few_repeats(
    victim, broker, app, workers, mailbox, redis_db, smtp_sink, monkeypatch
):
    settings = {
        "MAIL_BATCH_SIZE": 50,
        "MAIL_COMMIT_EVERY": COMMIT_EVERY,
        "MAIL_LEASE_SECONDS": LEASE_SECONDS,
    }
    app.config.update(settings)
    emails = set(many_subscribers(READERS))
    article("Glaciers retreat", [TagFactory(name="Climate")])
    slow_sink(monkeypatch, smtp_sink[1], 0.01)
    pool = workers(2, **settings)

    run_id = digest.run_digest("daily").run.id  # plans, then fans out to the workers
    pid = wait_until(
        lambda: mid_batch_owner(run_id, 50), 60, "no worker was caught mid-batch", 0.005
    )
    # Into the next commit group, so that some sent messages are not recorded yet.
    time.sleep(random.Random(8058).uniform(0.03, 0.09))
    if victim == "pool process":
        # Its worker sees the loss and puts the task back on the queue at once.
        os.kill(pid, signal.SIGKILL)
    else:
        # The task stays unacknowledged on the broker; the lease frees its batch.
        next(w for w in pool if w.owns(pid)).kill()
    killed_at = time.monotonic()

    # The surviving worker goes on. Once the dead batch's lease has run out, a tick
    # (what beat sends every minute; here every second) dispatches what is left.
    deadline = time.monotonic() + 90
    last_tick = 0.0
    while queued(run_id):
        assert time.monotonic() < deadline, "the run did not finish after the kill" + logs(pool)
        if time.monotonic() - killed_at > LEASE_SECONDS and time.monotonic() - last_tick > 1:
            background.enqueue(background.TICK_JOB)
            last_tick = time.monotonic()
        time.sleep(0.1)
    settle(mailbox, redis_db)

    ids = received(mailbox)
    assert set(ids) == emails, "every due reader got the digest"
    repeats = sum(len(i) - 1 for i in ids.values())
    assert repeats <= COMMIT_EVERY, "a kill repeats at most one commit group"
    for message_ids in ids.values():
        assert len(set(message_ids)) == 1, "a repeat carries the first copy's Message-ID"
    if victim == "pool process":
        # acks_late + reject_on_worker_lost: the interrupted task was delivered again.
        deliveries = Counter(re.findall(r"send_batch\[([0-9a-f-]+)\] received", logs(pool)))
        assert max(deliveries.values()) == 2, logs(pool)
    wait_until(
        lambda: db.session.rollback() or db.session.get(Run, run_id).finished_at,
        30,
        "the run was never marked finished",
        0.2,
    )


def test_beat_sends_tick_every_minute_and_the_tick_task_runs_the_tick(app_config, monkeypatch):
    # A broker that nothing listens on: building the app must not connect to it.
    app_config.update(CELERY_BROKER_URL="redis://127.0.0.1:1/0", MAIL_LEASE_SECONDS=2400)
    celery_app = create_app(app_config).extensions["celery"]
    conf = celery_app.conf

    entry = conf.beat_schedule[background.TICK_JOB]
    assert entry["task"] == "tick"
    assert entry["schedule"] == 60
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert not conf.task_always_eager
    # Above the longest batch: at least an hour, and two leases when those are longer.
    assert conf.broker_transport_options["visibility_timeout"] == 4800

    calls = []
    monkeypatch.setattr(scheduler, "tick", lambda: calls.append("tick") or scheduler.TickResult())
    outcome = celery_app.tasks["tick"].apply()  # runs here, as a worker would run it
    assert outcome.successful(), outcome.traceback
    assert calls == ["tick"]


def test_without_a_broker_jobs_run_in_process(app, monkeypatch):
    assert not background.broker_configured()
    assert app.extensions["celery"].conf.task_always_eager
    monkeypatch.setitem(background._jobs, "test.double", lambda n: 2 * n)
    assert background.enqueue("test.double", n=21) == 42
    assert background.enqueue_many("test.double", [{"n": 1}, {"n": 2}]) == 2
    with pytest.raises(LookupError):
        background.enqueue("test.no-such-job")
