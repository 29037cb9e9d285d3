"""Building the next message while the relay answers the last; several connections.

The sink below takes its time over each DATA, as a distant relay does. Order is
observed, never time: how many messages the engine had built when the sink answered.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from shop.accounts.models import User
from shop.digests import runs as digest
from shop.digests.models import MailedArticle
from shop.extensions import db
from shop.sending import engine
from shop.sending.models import Delivery
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import free_port


class SlowHandler:
    """Waits before each DATA reply; notes the connection, and the engine's builds then."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.built: list[str] = []  # readers whose message the engine built, in order
        self.answers: list[tuple[str, int]] = []  # (recipient, messages built by then)
        self.sessions: Counter[int] = Counter()
        self.refuse_first = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Wait, then accept (or refuse the very first message, when told to)."""
        await asyncio.sleep(self.delay)
        to = envelope.rcpt_tos[0]
        with self.lock:
            first = not self.answers
            self.answers.append((to, len(self.built)))
            self.sessions[id(session)] += 1
        if first and self.refuse_first:
            return "550 5.1.1 No such user"
        return "250 OK"


@pytest.fixture
def slow(app_config, monkeypatch):
    """A slow sink, and the engine's builds noted as they happen."""
    handler = SlowHandler(delay=0.2)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app_config.update(MAIL_PORT=controller.port, MAIL_RETRY_SECONDS=0)
    render = engine._Sending._render

    def noting(self, run, content, delivery, user):
        built = render(self, run, content, delivery, user)
        with handler.lock:
            handler.built.append(user.email)
        return built

    monkeypatch.setattr(engine._Sending, "_render", noting)
    yield handler
    controller.stop()


def _ledger() -> dict[str, str]:
    db.session.expire_all()
    return {d.user.email: d.status for d in db.session.scalars(select(Delivery))}


def test_the_next_message_is_built_while_the_relay_answers(slow, app):
    tag = TagFactory(name="Climate")
    for n in range(4):
        subscriber(f"r{n}@example.org")
    article("Glaciers retreat", [tag])
    result = digest.run_digest("daily")
    assert result.summary.sent == 4
    # When the relay answered the first message, a second was built already.
    assert slow.answers[0][1] >= 2


def test_a_refused_message_is_not_marked_sent_though_the_next_was_built(slow, app):
    tag = TagFactory(name="Climate")
    for n in range(3):
        subscriber(f"r{n}@example.org")
    article("Glaciers retreat", [tag])
    slow.refuse_first = True
    result = digest.run_digest("daily")
    refused, built_then = slow.answers[0]
    assert built_then >= 2, "the next message was built before the refusal came"
    assert result.summary.bounced == 1 and result.summary.sent == 2
    ledger = _ledger()
    assert ledger.pop(refused) == "bounced"
    assert set(ledger.values()) == {"sent"}
    mailed = set(
        db.session.scalars(select(User.email).join(MailedArticle, MailedArticle.user_id == User.id))
    )
    assert refused not in mailed and mailed == set(ledger)


def test_two_connections_send_every_delivery_once(slow, app):
    app.config["MAIL_CONNECTIONS"] = 2
    tag = TagFactory(name="Climate")
    emails = {f"r{n}@example.org" for n in range(8)}
    for email in sorted(emails):
        subscriber(email)
    article("Glaciers retreat", [tag])
    result = digest.run_digest("daily")
    assert result.summary.sent == 8
    assert len(slow.sessions) == 2, "both connections carried messages"
    received = Counter(to for to, _ in slow.answers)
    assert set(received) == emails and set(received.values()) == {1}
    assert set(_ledger().values()) == {"sent"}


def test_what_was_loaded_is_kept_from_the_collector_during_a_send_only(app, mailbox, monkeypatch):
    import gc

    tag = TagFactory(name="Climate")
    subscriber("r0@example.org")
    article("Glaciers retreat", [tag])
    frozen: list[int] = []
    render = engine._Sending._render

    def noting(self, run, content, delivery, user):
        frozen.append(gc.get_freeze_count())
        return render(self, run, content, delivery, user)

    monkeypatch.setattr(engine._Sending, "_render", noting)
    assert digest.run_digest("daily").summary.sent == 1
    assert frozen and frozen[0] > 0, "the objects loaded before sending were frozen"
    assert gc.get_freeze_count() == 0, "and given back to the collector afterwards"
