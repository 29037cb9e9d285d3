"""What a send did: its counts and reasons, the one place a delivery fails, a relay outage."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app

from shop.mail import AddressError, RelayUnreachableError
from shop.mail.transport import RecipientsRefusedError, SMTPResponseError, reply_code
from shop.sending import ledger
from shop.sending.content import Content
from shop.sending.models import Delivery

# The engine's logger: a failed delivery is logged where sending is.
log = logging.getLogger("shop.sending.engine")


@dataclass
class Summary:
    """What a send did."""

    sent: int = 0
    failed: int = 0
    bounced: int = 0
    retried: int = 0
    skipped: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    # Set when the send stopped because the relay could not be reached at all: why.
    relay_error: str | None = None

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0


# A summary keeps this many reasons; the ledger keeps every delivery's own.
MAX_ERRORS = 100


def describe(exc: BaseException) -> str:
    """An exception as a reason: its type and message."""
    return f"{type(exc).__name__}: {exc}"


def fail(
    delivery: Delivery, summary: Summary, reason: str, exc: BaseException | None = None
) -> None:
    """Fail one delivery for good, with its reason in the ledger (the run page shows it)."""
    if exc is not None:
        log.error("Delivery %s of run %s: %s", delivery.id, delivery.run_id, reason, exc_info=exc)
    ledger.mark_failed(delivery, reason)
    summary.failed += 1
    if len(summary.errors) < MAX_ERRORS:
        summary.errors.append(f"delivery {delivery.id}: {reason}")


def retry_later(delivery: Delivery, summary: Summary, reason: str) -> None:
    """Count a transient fault against one delivery: retried later, or failed at the limit."""
    if ledger.mark_transient(delivery, reason):
        summary.failed += 1
    else:
        summary.retried += 1


def relay_outage(run_id: int, worker: str, summary: Summary, exc: RelayUnreachableError) -> None:
    """Stop a run's sending until the relay can be reached: say why, keep every attempt."""
    waiting, until = ledger.wait_for_relay(
        run_id, worker, f"not sent, the mail relay could not be reached: {exc}"
    )
    config = current_app.config
    log.warning(
        "Run %s: the mail relay %s:%s could not be reached (%s); %d deliveries of the "
        "batch wait for it until %s UTC, no attempt counted",
        run_id,
        config.get("MAIL_SERVER"),
        config.get("MAIL_PORT"),
        exc,
        waiting,
        f"{until:%H:%M:%S}",
    )
    summary.relay_error = str(exc)
    summary.errors.append(
        f"the mail relay {config.get('MAIL_SERVER')}:{config.get('MAIL_PORT')} could not be "
        f"reached ({exc}): sending stopped; what is left waits for it, with no attempt "
        f"counted, and the next tick tries again after {config['MAIL_RETRY_SECONDS']} s"
    )


def not_accepted(delivery: Delivery, content: Content, summary: Summary, exc: Exception) -> None:
    """Record why the transport did not take a message: failed, bounced or retried later."""
    # The order matters: an AddressError is an OSError too.
    if isinstance(exc, AddressError):
        # No server could take it as it stands: retrying cannot help.
        fail(delivery, summary, f"not sent: {exc}")
    elif isinstance(exc, (SMTPResponseError, RecipientsRefusedError)):
        code = reply_code(exc) or 400
        if code >= 500:
            ledger.mark_bounced(delivery, f"{code} {exc}")
            content.bounced(delivery.user_id)
            summary.bounced += 1
        else:
            retry_later(delivery, summary, f"{code} {exc}")
    elif isinstance(exc, OSError):
        # A dropped connection, or no answer within MAIL_TIMEOUT, during this
        # message (smtplib's errors are OSErrors too, hence the order): reconnect
        # for the next message (its sender did) and retry this one later.
        retry_later(delivery, summary, f"connection lost: {exc}")
    else:
        # Anything else (smtplib refusing what it was given, a bug) fails this
        # delivery alone. The conversation may have stopped half-way through the
        # message, so its sender opens a fresh connection for the next one.
        fail(delivery, summary, f"not sent: {describe(exc)}", exc)
