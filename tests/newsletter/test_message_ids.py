"""Message-IDs: the same on every attempt of a delivery, never shared by two installs."""

from __future__ import annotations

import threading
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from shop.digests import runs as digest
from shop.extensions import db
from shop.install import install_id
from shop.sending.engine import send_run
from shop.sending.models import Delivery, Run
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import free_port


class RecordingHandler:
    """Keeps every message it is offered, and refuses a recipient's first one if told."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, bytes]] = []
        self.refuse_once: set[str] = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Record the message; answer 451 once for a recipient in ``refuse_once``."""
        to = envelope.rcpt_tos[0]
        with self.lock:
            self.offered.append((to, envelope.content))
            if to in self.refuse_once:
                self.refuse_once.discard(to)
                return "451 4.3.0 Try again later"
        return "250 OK"

    def message_ids(self, email: str) -> list[str]:
        """The Message-ID of every copy offered for one recipient, in order."""
        with self.lock:
            raw = [c for t, c in self.offered if t == email]
        return [message_from_bytes(c, policy=default)["Message-ID"] for c in raw]


@pytest.fixture
def recorder(app_config):
    """A sink that records every attempt; the app sends to it, retrying at once."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app_config.update(MAIL_PORT=controller.port, MAIL_RETRY_SECONDS=0)
    yield handler
    controller.stop()


def _send_a_digest_to(email: str) -> Run:
    subscriber(email)
    article("Glaciers retreat", [TagFactory(name="Climate")])
    return digest.run_digest("daily").run


def _send_again(run: Run) -> None:
    """Queue the run's delivery again and send it, as a second install with these rows would."""
    delivery = db.session.scalar(select(Delivery).where(Delivery.run_id == run.id))
    delivery.status = "queued"
    db.session.get(Run, run.id).finished_at = None
    db.session.commit()
    send_run(run.id)


def test_a_retry_carries_the_same_message_id_as_the_first_attempt(recorder, app):
    recorder.refuse_once.add("later@example.org")
    run = _send_a_digest_to("later@example.org")
    ids = recorder.message_ids("later@example.org")
    assert len(ids) == 2, "refused once, then accepted"
    assert ids[0] == ids[1]
    assert ids[0].startswith(f"<{install_id()}-run-{run.id}-") and ids[0].endswith("@localhost>")


@pytest.mark.parametrize(
    "setting", [{"SECRET_KEY": "another-install-s-secret-key"}, {"INSTALL_ID": "branch-office"}]
)
def test_two_installs_with_the_same_row_ids_never_share_a_message_id(recorder, app, setting):
    run = _send_a_digest_to("reader@example.org")
    app.config.update(setting)
    _send_again(run)
    first, second = recorder.message_ids("reader@example.org")
    assert first != second


def test_a_run_restored_from_a_backup_gets_new_message_ids(recorder, app):
    # After a restore, a new run reuses the id of one that was lost, at a later time.
    run = _send_a_digest_to("reader@example.org")
    db.session.get(Run, run.id).created_at += timedelta(hours=6)
    db.session.commit()
    _send_again(run)
    first, second = recorder.message_ids("reader@example.org")
    assert first != second
