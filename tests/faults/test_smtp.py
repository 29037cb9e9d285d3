"""The mail relay is down or hangs during a digest run: the run resumes and misses nobody.

tests/newsletter/test_faults.py covers a 4xx, a 5xx and a dropped connection; these cover
a relay that refuses connections, turns them away, refuses the login, or stops answering:
the relay's fault, which costs no reader an attempt, and which no send waits on forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select, update

from shop import scheduler
from shop.clock import utcnow
from shop.digests import runs as digest
from shop.extensions import db
from shop.mail import MailUnavailableError, send_email
from shop.preferences.models import DigestPreference
from shop.sending.models import Delivery, DeliveryStatus, Run
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import Mailbox, SinkHandler, free_port

READERS = [f"r{n}@example.org" for n in range(5)]


def _statuses() -> list[str]:
    db.session.expire_all()
    return sorted(d.status for d in db.session.scalars(select(Delivery)))


@pytest.fixture
def relay(app_config):
    """A relay port that nothing answers on yet; ``relay.start()`` brings a sink up there."""
    relay = Relay(free_port())
    app_config.update(MAIL_PORT=relay.port)
    yield relay
    relay.stop()


class Relay:
    """An SMTP sink that starts on a fixed port when the test says so."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = SinkHandler()
        self.mailbox = Mailbox(self.handler)
        self.controller: Controller | None = None

    def start(self) -> None:
        """Begin accepting mail on the port."""
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stop accepting mail."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def readers(app):
    """Five daily readers and one article for today's digest."""
    for email in READERS:
        subscriber(email)
    article("Harbour dredging resumes")
    return READERS


def _received(relay: Relay) -> dict[str, int]:
    return {email: len(relay.mailbox.to(email)) for email in READERS}


def test_relay_refusing_connections_then_back_resumes_and_mails_each_once(
    relay, app, runner, readers
):
    app.config.update(MAIL_RETRY_SECONDS=1)
    down = digest.run_digest("daily")
    assert down.summary.sent == 0
    assert _statuses() == [DeliveryStatus.QUEUED] * len(readers)  # kept for a retry, not dropped

    relay.start()
    time.sleep(1.2)  # the retry becomes due
    result = runner.invoke(args=["digest", "send", "--frequency", "daily"])
    assert result.exit_code == 0, result.output
    assert _statuses() == [DeliveryStatus.SENT] * len(readers)
    assert _received(relay) == dict.fromkeys(readers, 1)


def test_a_relay_outage_does_not_use_up_each_readers_attempts(relay, app, runner, readers):
    # MAIL_RETRY_SECONDS=0 squeezes a long outage (with the defaults, 5 attempts over
    # about 15 minutes) into one call: the relay being down is nobody's bad address.
    app.config.update(MAIL_RETRY_SECONDS=0, MAIL_MAX_ATTEMPTS=3)
    digest.run_digest("daily")
    assert DeliveryStatus.SENT not in _statuses()

    relay.start()
    result = runner.invoke(args=["digest", "send", "--frequency", "daily"])
    assert result.exit_code == 0, result.output
    assert DeliveryStatus.FAILED not in _statuses()
    assert _received(relay) == dict.fromkeys(readers, 1)


class StallingHandler:
    """Accepts mail, except that the first message to ``stall_for`` gets no answer."""

    def __init__(self, stall_for: str, hold_seconds: float) -> None:
        self.stall_for = stall_for
        self.hold_seconds = hold_seconds
        self.released = threading.Event()
        self.stalled = 0
        self.accepted: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Hold the first message to the chosen reader unanswered, then refuse it."""
        to = envelope.rcpt_tos[0]
        with self.lock:
            stall = to == self.stall_for and self.stalled == 0
            if stall:
                self.stalled += 1
        if stall:
            deadline = time.monotonic() + self.hold_seconds
            while not self.released.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return "451 4.4.2 Timed out"  # never accepted: a retry is no duplicate
        with self.lock:
            self.accepted.append(to)
        return "250 OK"


@pytest.fixture
def stalling(app_config):
    """A relay that leaves the first message to r1 unanswered for a minute."""
    handler = StallingHandler(stall_for="r1@example.org", hold_seconds=60)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    # MAIL_TIMEOUT: how long a send waits for the relay before giving up on that message.
    app_config.update(MAIL_PORT=controller.port, MAIL_RETRY_SECONDS=0, MAIL_TIMEOUT=2)
    yield handler
    handler.released.set()
    controller.stop()


# The run sends from a thread of its own: real commits.
@pytest.mark.real_commits
def test_a_relay_that_stops_answering_times_out_and_the_run_misses_nobody(stalling, app, readers):
    handler = stalling
    finished = threading.Event()

    def send() -> None:
        with app.app_context():
            digest.run_digest("daily")
            db.session.remove()
        finished.set()

    worker = threading.Thread(target=send, name="digest-run", daemon=True)
    worker.start()
    try:
        assert finished.wait(20), "the run is still waiting on a relay that stopped answering"
    finally:
        handler.released.set()
        worker.join(timeout=30)
    assert handler.stalled == 1
    assert sorted(handler.accepted) == readers  # each once, the stalled one on its retry
    assert _statuses() == [DeliveryStatus.SENT] * len(readers)


class ScriptedRelay:
    """A TCP listener standing in for a broken relay: it greets with ``greeting``.

    ``None`` says nothing at all (a relay that accepts and hangs); a 421 greeting
    followed by a hang-up is a relay that turns every connection away. It counts
    the connections it was asked for.
    """

    def __init__(self, greeting: bytes | None, hang_up: bool = False) -> None:
        self.greeting = greeting
        self.hang_up = hang_up
        self.connections = 0
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, name="scripted-relay", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self.lock:
                self.connections += 1
                self.open.append(conn)
            if self.greeting is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(self.greeting)
            if self.hang_up:
                conn.close()

    def close(self) -> None:
        """Stop listening and drop every connection, so a client still waiting wakes."""
        self.listener.close()
        with self.lock:
            for conn in self.open:
                with contextlib.suppress(OSError):
                    conn.close()


@pytest.fixture
def silent_relay(app_config):
    """A relay that accepts connections and never says a word; MAIL_TIMEOUT is 1 s."""
    relay = ScriptedRelay(greeting=None)
    app_config.update(MAIL_PORT=relay.port, MAIL_TIMEOUT=1, MAIL_RETRY_SECONDS=60)
    yield relay
    relay.close()


@pytest.fixture
def busy_relay(app_config):
    """A relay that answers every connection with 421 and hangs up."""
    relay = ScriptedRelay(greeting=b"421 4.3.2 Service not available\r\n", hang_up=True)
    app_config.update(MAIL_PORT=relay.port, MAIL_RETRY_SECONDS=60)
    yield relay
    relay.close()


def _deliveries() -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


def _in_thread(app, work, seconds: float):
    """Run ``work()`` in an app context of its own; (finished in time, result or error)."""
    outcome: dict = {}
    done = threading.Event()

    def target() -> None:
        with app.app_context():
            try:
                outcome["result"] = work()
            except Exception as exc:  # noqa: BLE001  (handed back to the test)
                outcome["error"] = exc
            finally:
                db.session.remove()
                done.set()

    threading.Thread(target=target, name="mail-work", daemon=True).start()
    return done.wait(seconds), outcome


def test_an_outage_is_reported_charges_nobody_and_the_next_tick_after_the_backoff_sends(
    relay, app, runner, readers, client, auth, admin
):
    # A backoff far longer than the test, ended below by moving the ledger's clock: a busy
    # machine must not let it run out between the two ticks.
    app.config.update(MAIL_RETRY_SECONDS=600)
    result = runner.invoke(args=["digest", "send", "--frequency", "daily"])
    # The operator is told why nothing went, and that nothing is lost.
    assert "could not be reached" in result.output
    assert "ConnectionRefusedError" in result.output
    deliveries = _deliveries()
    assert [d.status for d in deliveries] == [DeliveryStatus.QUEUED] * len(readers)
    assert [d.attempts for d in deliveries] == [0] * len(readers)
    run = db.session.scalar(select(Run))
    assert run.finished_at is None  # left for tick to resume
    # The run page lists each delivery's last reply: the reason shows there too.
    auth.login(admin.email)
    page = client.get(f"/admin/runs/{run.id}").get_data(as_text=True)
    assert "could not be reached" in page

    relay.start()
    scheduler.tick()  # within the backoff: the relay is not tried again yet
    assert _received(relay) == dict.fromkeys(readers, 0)
    waiting = db.session.scalars(select(Delivery)).all()
    assert all(d.next_attempt_at > utcnow() + timedelta(minutes=5) for d in waiting)
    # The backoff has passed.
    db.session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    scheduler.tick()
    assert _statuses() == [DeliveryStatus.SENT] * len(readers)
    assert _received(relay) == dict.fromkeys(readers, 1)
    db.session.expire_all()
    assert db.session.scalar(select(Run)).finished_at is not None


def test_a_relay_turning_connections_away_is_tried_once_per_backoff_not_once_per_reader(
    busy_relay, app, readers
):
    result = digest.run_digest("daily")
    assert result.summary.sent == 0
    assert busy_relay.connections == 1
    scheduler.tick()  # a minute's tick during the backoff leaves the relay alone
    assert busy_relay.connections == 1
    assert [(d.status, d.attempts) for d in _deliveries()] == [(DeliveryStatus.QUEUED, 0)] * len(
        readers
    )


class Gate:
    """An aiosmtpd authenticator that refuses every login until the relay is fixed."""

    def __init__(self) -> None:
        self.open = False
        self.refused: set[int] = set()  # the sessions turned away

    def __call__(self, server, session, envelope, mechanism, auth_data):
        """Accept the login only once ``open`` is set; else answer 535."""
        if not self.open:
            self.refused.add(id(session))
        # handled=False: aiosmtpd itself answers "535 5.7.8 Authentication credentials
        # invalid" (with True it would leave the client waiting for an answer).
        return AuthResult(success=self.open, handled=False)


@pytest.fixture
def locked_relay(app_config):
    """A sink that asks for a login and refuses it (a relay account that was locked)."""
    gate = Gate()
    handler = SinkHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=gate,
        auth_require_tls=False,
    )
    controller.start()
    app_config.update(
        MAIL_PORT=controller.port,
        MAIL_USERNAME="broadsheet",
        MAIL_PASSWORD="secret",
        MAIL_RETRY_SECONDS=0,
    )
    yield gate, Mailbox(handler)
    controller.stop()


def test_a_refused_login_neither_bounces_nor_suppresses_the_readers(locked_relay, app, readers):
    gate, mailbox = locked_relay
    result = digest.run_digest("daily")
    assert result.summary.bounced == 0 and result.summary.sent == 0
    assert len(gate.refused) == 1  # one connection, not one per reader
    assert [(d.status, d.attempts) for d in _deliveries()] == [(DeliveryStatus.QUEUED, 0)] * len(
        readers
    )
    assert all(p.hard_bounces == 0 for p in db.session.scalars(select(DigestPreference)))

    gate.open = True  # the relay's account is unlocked
    scheduler.tick()
    assert _statuses() == [DeliveryStatus.SENT] * len(readers)
    assert sorted(m["To"].addresses[0].addr_spec for m in mailbox.messages) == readers


# The work runs in a thread of its own: real commits.
@pytest.mark.real_commits
def test_a_relay_that_never_greets_times_out_and_charges_nobody(silent_relay, app, readers):
    finished, outcome = _in_thread(app, lambda: digest.run_digest("daily").summary, 15)
    assert finished, "the run is still waiting for a relay that never answered"
    assert "error" not in outcome, outcome
    assert outcome["result"].sent == 0
    assert silent_relay.connections == 1
    assert [(d.status, d.attempts) for d in _deliveries()] == [(DeliveryStatus.QUEUED, 0)] * len(
        readers
    )


def test_account_mail_to_a_relay_that_never_answers_gives_up_after_mail_timeout(silent_relay, app):
    started = time.monotonic()
    finished, outcome = _in_thread(
        app,
        lambda: send_email("reader@example.org", "Confirm your address", "confirm", link="x"),
        10,
    )
    assert finished, "sending one account email is still waiting for the relay"
    assert time.monotonic() - started < 5
    # Turned into words for the reader by the caller, as for any relay that fails.
    assert isinstance(outcome.get("error"), MailUnavailableError)
