"""Sender threads, one per SMTP connection, so that building overlaps the relay's replies.

The engine's thread builds each message and hands it over; a sender thread per
connection (``MAIL_CONNECTIONS``) gives it to the relay and waits for the reply while
the engine builds the next one. Only the engine's thread touches the database: an
outcome (the relay's reply, or why it did not take the message) comes back to it, and
a delivery is marked sent only from an outcome that says the relay accepted it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

from flask import current_app

from shop.mail import AddressError, RelayUnreachableError, Transport, open_transport
from shop.mail.transport import RecipientsRefusedError, SMTPResponseError


class NotSentError(Exception):
    """A message handed over but never offered to the relay: sending had stopped."""


@dataclass
class Outcome:
    """What became of one handed-over message: the relay's reply, or the error instead."""

    job: Any
    reply: str | None
    error: BaseException | None


def connections() -> int:
    """SMTP connections a worker sends over at once: ``MAIL_CONNECTIONS`` (at least 1)."""
    if not current_app.config.get("MAIL_SERVER"):
        return 1  # the outbox: one folder, nothing to wait for
    return max(1, int(current_app.config.get("MAIL_CONNECTIONS") or 1))


def _keeps_connection(exc: BaseException) -> bool:
    """Whether a connection is still fit for the next message after this error."""
    # A refused address or a reply code leaves the conversation where it was; anything
    # else (a dropped connection, a timeout, smtplib refusing what it was given) may
    # have stopped half-way through a message, so the next one gets a fresh connection.
    return isinstance(exc, (AddressError, SMTPResponseError, RecipientsRefusedError))


class Pipeline:
    """Messages handed to sender threads; their outcomes back, as the relay answers."""

    # Messages handed over and not yet answered, per connection: one being sent, one
    # waiting, so that a sender never waits for the engine to build the next.
    PER_CONNECTION = 2

    def __init__(self, count: int | None = None) -> None:
        self.count = count or connections()
        self.window = self.PER_CONNECTION * self.count
        self.outstanding = 0
        self._app = current_app._get_current_object()  # type: ignore[attr-defined]
        self._jobs: queue.SimpleQueue[tuple[str, bytes, Any] | None] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._halted = threading.Event()
        transports = [open_transport() for _ in range(self.count)]
        self.sender = transports[0].sender
        self._threads = [
            threading.Thread(target=self._serve, args=(t,), name=f"smtp-{n}", daemon=True)
            for n, t in enumerate(transports)
        ]
        for thread in self._threads:
            thread.start()

    def hand(self, to: str, data: bytes, job: Any) -> None:
        """Give one message to the next free connection."""
        self.outstanding += 1
        self._jobs.put((to, data, job))

    def next_outcome(self, block: bool) -> Outcome | None:
        """An answered message's outcome; None if none is in (without ``block``)."""
        if not self.outstanding:
            return None
        try:
            outcome = self._outcomes.get(block=block)
        except queue.Empty:
            return None
        self.outstanding -= 1
        return outcome

    def halt(self) -> None:
        """Offer nothing more to the relay: what is still waiting comes back not sent."""
        self._halted.set()

    def resume(self) -> None:
        """Offer messages again (a new batch after a halted one)."""
        self._halted.clear()

    def close(self) -> None:
        """Stop the senders once they are done; each says goodbye to its relay."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _serve(self, transport: Transport) -> None:
        """One sender thread: its own connection, one message after another."""
        with self._app.app_context():
            try:
                while (item := self._jobs.get()) is not None:
                    self._outcomes.put(self._send(transport, *item))
            finally:
                transport.close()

    def _send(self, transport: Transport, to: str, data: bytes, job: Any) -> Outcome:
        """Offer one message to the relay; what came of it."""
        if self._halted.is_set():
            return Outcome(job, None, NotSentError("sending had stopped"))
        try:
            return Outcome(job, transport.send(to, data), None)
        except RelayUnreachableError as exc:
            # The relay is gone for this connection: the others stop offering too.
            self._halted.set()
            return Outcome(job, None, exc)
        except Exception as exc:
            if not _keeps_connection(exc):
                transport.abort()
            return Outcome(job, None, exc)
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt: in this thread they would end it silently and
            # leave the engine waiting for an answer for ever. They go back to the engine,
            # which stops the batch as if it had met them itself; nothing more is offered.
            self._halted.set()
            transport.abort()
            return Outcome(job, None, exc)
