"""SMTP faults from the sink: retry a 4xx, bounce a 5xx, survive a dropped connection.

A fault in one message's transaction counts against that delivery; a relay that then
cannot be reached at all counts against nobody (tests/faults/test_smtp.py has more).
"""

from __future__ import annotations

import threading
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from shop.digests import runs as digest
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.sending.models import Delivery
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import free_port


class FaultyHandler:
    """Answers each recipient from a script: "451 ...", "550 ...", "drop", "gone", or accept.

    "gone" drops the connection and stops listening: the relay went away mid-message.
    """

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = {}
        self.accepted: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Follow the script for the recipient, else accept."""
        to = envelope.rcpt_tos[0]
        with self.lock:
            steps = self.script.get(to) or []
            step = steps.pop(0) if steps else None
            if step is None:
                self.accepted.append((to, envelope.content))
        if step == "gone" and self.controller is not None:
            self.controller.server.close()  # no new connections from here on
        if step in ("drop", "gone"):
            server.transport.close()
            return "421 closing"
        return step or "250 OK"

    def to(self, email: str) -> list:
        """Messages accepted for one recipient."""
        with self.lock:
            return [message_from_bytes(c, policy=default) for t, c in self.accepted if t == email]


@pytest.fixture
def faulty(app_config):
    """A sink that misbehaves on cue; the app sends to it, retrying at once."""
    handler = FaultyHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.controller = controller
    app_config.update(MAIL_PORT=controller.port, MAIL_RETRY_SECONDS=0, MAIL_BOUNCE_LIMIT=2)
    yield handler
    controller.stop()


def _pref(user) -> DigestPreference:
    db.session.expire_all()
    return db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user.id))


def test_451_then_250_is_retried_and_delivered_once(faulty, app):
    tag = TagFactory(name="Climate")
    subscriber("later@example.org")
    subscriber("fine@example.org")
    article("Glaciers retreat", [tag])
    faulty.script["later@example.org"] = ["451 4.3.0 Try again later"]
    result = digest.run_digest("daily")
    assert result.summary.sent == 2 and result.summary.retried == 1
    assert len(faulty.to("later@example.org")) == 1
    delivery = db.session.scalar(select(Delivery).join(Delivery.user).where(Delivery.attempts == 2))
    assert delivery.status == "sent"


def test_550_bounces_and_repeated_bounces_suppress(faulty, app):
    tag = TagFactory(name="Climate")
    gone = subscriber("gone@example.org")
    subscriber("fine@example.org")
    article("One", [tag], hours_before_cutoff=30)
    faulty.script["gone@example.org"] = ["550 5.1.1 No such user"] * 2
    result = digest.run_digest("daily", _day(-1))
    assert result.summary.bounced == 1 and result.summary.sent == 1
    assert _pref(gone).hard_bounces == 1 and _pref(gone).suppressed_at is None
    article("Two", [tag], hours_before_cutoff=1)
    digest.run_digest("daily")
    assert _pref(gone).hard_bounces == 2 and _pref(gone).suppressed_at is not None
    assert faulty.to("gone@example.org") == []
    assert len(faulty.to("fine@example.org")) == 2


def test_a_dropped_connection_reconnects_and_misses_nobody(faulty, app):
    tag = TagFactory(name="Climate")
    for n in range(5):
        subscriber(f"r{n}@example.org")
    article("Glaciers retreat", [tag])
    faulty.script["r2@example.org"] = ["drop"]
    result = digest.run_digest("daily")
    assert result.summary.sent == 5
    for n in range(5):
        assert len(faulty.to(f"r{n}@example.org")) == 1, n


def test_a_relay_gone_mid_message_charges_that_message_alone(faulty, app):
    tag = TagFactory(name="Climate")
    for n in range(4):
        subscriber(f"r{n}@example.org")
    article("Glaciers retreat", [tag])
    faulty.script["r1@example.org"] = ["gone"]
    result = digest.run_digest("daily")
    assert result.summary.sent == 1 and result.summary.failed == 0
    db.session.expire_all()
    ledger = {
        d.user.email: (d.status, d.attempts)
        for d in db.session.scalars(select(Delivery).order_by(Delivery.id))
    }
    assert ledger == {
        "r0@example.org": ("sent", 1),
        "r1@example.org": ("queued", 1),  # its transaction broke: one attempt, as before
        "r2@example.org": ("queued", 0),  # the relay was gone: nobody's attempt
        "r3@example.org": ("queued", 0),
    }
    assert [to for to, _ in faulty.accepted] == ["r0@example.org"]


def test_a_transient_failure_gives_up_after_the_limit(faulty, app):
    tag = TagFactory(name="Climate")
    subscriber("never@example.org")
    article("Glaciers retreat", [tag])
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    faulty.script["never@example.org"] = ["451 busy"] * 5
    result = digest.run_digest("daily")
    assert result.summary.failed == 1 and result.summary.sent == 0
    assert db.session.scalar(select(Delivery)).status == "failed"


def _day(offset: int):
    from datetime import timedelta

    from shop import clock
    from shop.clock import utcnow

    return clock.local_date(utcnow()) + timedelta(days=offset)
