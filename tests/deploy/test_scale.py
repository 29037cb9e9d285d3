"""The Procfile's whole shape under honcho: a 20,000-reader digest through two workers.

nginx in front of two gunicorn instances, two Celery workers and beat on Redis, all
started by ``honcho start`` exactly as docs/deploy.md tells an operator to, on a
PostgreSQL database and a Redis database of the test's own. One digest run is started
by the real command (``flask digest send``), fans out to the workers, and one worker's
pool process is SIGKILLed mid-batch. What reached readers is read from an SMTP sink;
what was recorded, from the ledger.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from shop import create_app
from shop.accounts.models import User
from shop.extensions import db
from shop.sending.models import Delivery, DeliveryStatus, Run
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, many_subscribers
from tests.newsletter.helpers import leases_held
from tests.support import REDIS_HOST, REDIS_PORT, claimed_redis_db, free_port, service_missing

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deploy-scale")]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READERS = 20_000
BATCH = 250
COMMIT_EVERY = 50
# Short leases: the killed worker's batch is free again seconds after the kill.
LEASE_SECONDS = 4
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class LeanSink:
    """An aiosmtpd handler that keeps only each message's recipient and Message-ID."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Note who got which message, and accept it."""
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        for rcpt in envelope.rcpt_tos:
            self.received.append((rcpt, found.group(1) if found else b""))
        return "250 Message accepted for delivery"


@pytest.fixture
def sink():
    """An SMTP sink on 127.0.0.1 for this test alone."""
    handler = LeanSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, handler
    controller.stop()


@pytest.fixture
def redis_url():
    """A Redis database (1-15) of this test's own, flushed afterwards."""
    with claimed_redis_db() as client:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{client.connection_pool.connection_kwargs['db']}"


def need_nginx() -> None:
    """nginx and honcho are what the recipe runs; scripts/test installs both."""
    if not (Path("/usr/sbin/nginx").exists() or shutil.which("nginx")):
        service_missing("nginx is not installed (apt-get install nginx)")
    if not (BIN / "honcho").exists():
        service_missing("honcho is not installed (pip install -e '.[dev]')")


class Shape:
    """``honcho start`` running the Procfile; its output, and its processes' pids."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [str(BIN / "honcho"), "--env", os.devnull, "start"],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """Everything the processes printed so far, each line prefixed by its name."""
        return self.log.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """Each Procfile process's pid (honcho starts each in a session of its own)."""
        found = re.findall(r"\| (\w+)\.1 started \(pid=(\d+)\)", self.output())
        return {name: int(pid) for name, pid in found}

    def lines(self, name: str) -> list[str]:
        """What one process printed."""
        return [line for line in self.output().splitlines() if f" {name}.1 " in line[:40]]

    def stop(self) -> None:
        """SIGTERM honcho (which stops its processes), then SIGKILL whatever is left."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        for pid in [*self.pids().values(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def wait_until(condition, timeout: float, message, interval: float = 0.2):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(interval)


def get(url: str) -> tuple[int, str]:
    """GET ``url``: status and body (an HTTP error is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  (127.0.0.1 only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError:
        return 0, ""


def kept(url: str, host: str) -> tuple[str | None, str]:
    """The X-Page-Cache header of a GET of ``url`` for the site at ``host``, and its body."""
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  (127.0.0.1 only)
        return response.headers.get("X-Page-Cache"), response.read().decode()


def encoding(url: str) -> str | None:
    """The Content-Encoding a gzip-accepting GET of ``url`` comes back with."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  (127.0.0.1 only)
        response.read()
        return response.headers.get("Content-Encoding")


def count(run_id: int, *conditions) -> int:
    """The run's deliveries matching ``conditions``, as the workers committed them."""
    db.session.rollback()
    return db.session.scalar(select(func.count()).where(Delivery.run_id == run_id, *conditions))


def leased_to(run_id: int, owner: str) -> set[int]:
    """The users whose queued deliveries ``owner`` holds: what it may have sent unrecorded."""
    db.session.rollback()
    return set(
        db.session.scalars(
            select(Delivery.user_id).where(
                Delivery.run_id == run_id,
                Delivery.lease_owner == owner,
                Delivery.status == DeliveryStatus.QUEUED,
            )
        )
    )


def victim(run_id: int) -> tuple[int, str] | None:
    """A pool process mid-batch (one commit group sent, more leased): its pid and lease name."""
    for owner, held in leases_held(run_id):
        if COMMIT_EVERY <= held <= BATCH - COMMIT_EVERY:
            return int(owner.split(":")[1]), owner  # host:pid:suffix (ledger.worker_name)
    return None


def parent_of(pid: int) -> int:
    """A process's parent pid."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_the_procfile_shape_sends_a_20000_reader_digest_once_through_a_killed_worker(
    postgres_url, redis_url, sink, tmp_path
):
    need_nginx()
    sink_port, received = sink
    proxy, web1, web2 = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),  # this checkout, whatever the virtualenv has installed
        "SECRET_KEY": "scale-test-secret-key-" + "x" * 32,
        "DATABASE_URL": postgres_url,
        "SITE_URL": f"http://127.0.0.1:{proxy}",
        "PROXY_HOPS": "1",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink_port),
        "MAIL_DEFAULT_SENDER": "Broadsheet <news@example.org>",
        "MAIL_BATCH_SIZE": str(BATCH),
        "MAIL_COMMIT_EVERY": str(COMMIT_EVERY),
        "MAIL_LEASE_SECONDS": str(LEASE_SECONDS),
        "CELERY_BROKER_URL": redis_url,
        # The pages kept in the same Redis (their keys have a prefix of their own), so
        # that both gunicorns share them and every change empties them for both.
        "PAGE_CACHE": "redis",
        "PAGE_CACHE_REDIS_URL": redis_url,
        "BROADSHEET_INSTANCE": str(tmp_path / "instance"),
        "BROADSHEET_RUN_DIR": str(tmp_path / "run"),
        "BROADSHEET_PORT": str(proxy),
        "WEB1_PORT": str(web1),
        "WEB2_PORT": str(web2),
        "WEB_WORKERS": "1",
    }
    for name in ("FLASK_DEBUG", "TEST_DATABASE_URL", "RATELIMIT_STORAGE_URI"):
        env.pop(name, None)

    # The schema by the recipe's own command, then the readers and a new article.
    migrate = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    seeding = create_app(
        {"TESTING": True, "SECRET_KEY": env["SECRET_KEY"], "SQLALCHEMY_DATABASE_URI": postgres_url}
    )
    with seeding.app_context():
        emails = set(many_subscribers(READERS, prefix="scale"))
        article("Glaciers retreat", [TagFactory(name="Climate")])
        user_email = dict(db.session.execute(select(User.id, User.email)).all())

    shape = Shape(env, tmp_path / "honcho.log")
    try:
        # Each gunicorn answers; then, through nginx, both answer the health check.
        for port in (web1, web2):
            wait_until(
                lambda p=port: get(f"http://127.0.0.1:{p}/healthz")[0] == 200,
                90,
                lambda: "a gunicorn never answered:\n" + shape.output()[-4000:],
            )
        wait_until(
            lambda: all(get(f"http://127.0.0.1:{proxy}/healthz")[0] == 200 for _ in range(6)),
            30,
            lambda: "the site did not answer through nginx:\n" + shape.output()[-4000:],
        )
        status, body = get(f"http://127.0.0.1:{proxy}/healthz")
        assert status == 200 and '"broker":"ok"' in body.replace(" ", ""), body
        # nginx's log names the gunicorn that answered each request: both did.
        proxied = (tmp_path / "run" / "access.log").read_text().splitlines()
        for port in (web1, web2):
            answered = [
                line
                for line in proxied
                if "GET /healthz " in line and f"upstream=127.0.0.1:{port} time=" in line
            ]
            assert answered, "\n".join(proxied)
        # One gunicorn keeps the home page in Redis; the other serves that copy (asked
        # for the site's own host, as nginx asks each of them).
        site = f"127.0.0.1:{proxy}"
        (made, page), (served, again) = (
            kept(f"http://127.0.0.1:{web1}/", site),
            kept(f"http://127.0.0.1:{web2}/", site),
        )
        assert (made, served) == ("miss", "hit") and again == page
        # nginx compresses pages; the gunicorns behind it leave that to nginx.
        assert encoding(f"http://127.0.0.1:{proxy}/") == "gzip"
        assert encoding(f"http://127.0.0.1:{web1}/") is None
        for worker in ("worker1", "worker2"):
            wait_until(
                lambda w=worker: any(" ready." in line for line in shape.lines(w)),
                90,
                lambda: "a Celery worker did not start:\n" + shape.output()[-4000:],
            )

        # One digest run, by the command an operator types.
        send = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "digest", "send", "--frequency", "daily"],
            cwd=ROOT,
            env=env,
            # A file, not a pipe: a progress bar nobody reads must not fill a pipe and stall.
            stdout=(tmp_path / "digest-send.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            with seeding.app_context():
                run_id = wait_until(
                    lambda: (
                        db.session.rollback()
                        or db.session.scalar(select(Run.id).where(Run.period.startswith("daily:")))
                    ),
                    60,
                    "the digest run was never planned",
                )
                wait_until(lambda: count(run_id) == READERS, 60, "the run was not planned for all")
                # An eighth in, a pool process caught between two commit groups.
                wait_until(
                    lambda: count(run_id, Delivery.status == DeliveryStatus.SENT) >= READERS // 8,
                    120,
                    lambda: "the workers sent little:\n" + shape.output()[-4000:],
                )
                pid, owner = wait_until(
                    lambda: victim(run_id), 60, "no worker was caught mid-batch", 0.005
                )
                pids = shape.pids()
                killed = next(n for n in ("worker1", "worker2") if pids[n] == parent_of(pid))
                os.kill(pid, signal.SIGKILL)
                # Its lease outlives it by seconds: what it holds is all it can have sent
                # without recording it.
                leased = leased_to(run_id, owner)

                send.wait(timeout=150)
                out = (tmp_path / "digest-send.log").read_text(errors="replace")
                assert send.returncode == 0, out
                assert "daily digest" in out and "failed 0, bounced 0" in out, out
                wait_until(
                    lambda: count(run_id, Delivery.status == DeliveryStatus.QUEUED) == 0,
                    90,
                    "deliveries are still queued",
                )

                # The ledger: every reader's delivery once, every one sent.
                assert count(run_id) == READERS
                assert count(run_id, Delivery.status == DeliveryStatus.SENT) == READERS
                per_user = db.session.execute(
                    select(Delivery.user_id, func.count())
                    .where(Delivery.run_id == run_id)
                    .group_by(Delivery.user_id)
                ).all()
                assert len(per_user) == READERS and {n for _, n in per_user} == {1}
                run_finished = wait_until(
                    lambda: db.session.rollback() or db.session.get(Run, run_id).finished_at,
                    30,
                    "the run was never marked finished",
                )
                assert run_finished is not None
        finally:
            if send.poll() is None:
                send.kill()
                send.wait(timeout=10)

        # The sink: each reader got the digest; repeats only of the killed batch's
        # last commit group, with the first copy's Message-ID.
        wait_until(lambda: len(received.received) >= READERS, 30, "mail is still arriving")
        time.sleep(1)
        ids: dict[str, list[bytes]] = defaultdict(list)
        for rcpt, message_id in list(received.received):
            ids[rcpt].append(message_id)
        assert set(ids) == emails, "every reader got the digest"
        repeated = {rcpt for rcpt, got in ids.items() if len(got) > 1}
        assert sum(len(ids[r]) - 1 for r in repeated) <= COMMIT_EVERY
        assert repeated <= {user_email[u] for u in leased}, "only the killed batch repeats"
        assert all(len(set(ids[r])) == 1 for r in repeated), "a repeat keeps its Message-ID"

        # Both workers sent part of the run; the killed one's pool came back and went on.
        sent_by = Counter()
        for worker in ("worker1", "worker2"):
            for line in shape.lines(worker):
                for n in re.findall(r"'sent': (\d+)", line):
                    sent_by[worker] += int(n)
        # For a run with -s: what the kill cost.
        print(f"killed {killed}'s pool process; repeats {len(repeated)}; sent by {dict(sent_by)}")
        assert sent_by["worker1"] > 0 and sent_by["worker2"] > 0, (killed, sent_by)
        assert sum(sent_by.values()) <= READERS
    finally:
        shape.stop()
        with seeding.app_context():
            db.engine.dispose()  # before the database is dropped
    assert all(
        not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        for pid in shape.pids().values()
    ), "every process of the shape was stopped"
