"""The mail pipeline: addresses, composing, MIME bytes, and the transport.

The small interface everything that mails uses:

- ``send_email(to, subject, template, **context)``: one account message (a
  confirmation, a reset, a receipt) from a template pair, to the relay or the outbox.
- ``open_transport()``: a ``Transport`` (the relay, or the outbox) that takes
  serialised messages one after another, for the sending engine and test sends.
- ``Rendered`` and ``build_bytes``: a message rendered once for many readers, and
  one reader's bytes of it (``shop.mail.bulk``).

Every address that goes into an SMTP envelope or a header passes through
``shop.mail.addresses``: IDNA 2008 domains, SMTPUTF8 only where the relay offers it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, current_app

from shop import palette
from shop.mail import dkim
from shop.mail.addresses import AddressError, envelope_address, header_address, needs_smtputf8
from shop.mail.bulk import Rendered, build_bytes, list_id, message_id
from shop.mail.compose import build_message, message_bytes
from shop.mail.outbox import (
    outbox_dir,
    outbox_message,
    outbox_messages,
    read_outbox,
    write_to_outbox,
)
from shop.mail.transport import RelayUnreachableError, Transport, mailer, open_transport

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Give the app its Flask-Mail state, and the email templates the palette."""
    mailer.init_app(app)
    # A DKIM key that cannot sign stops the start here, not at the first message.
    dkim.init_app(app)
    # Every email template (layout.html and what extends it) reads its colours here.
    app.jinja_env.globals["palette"] = palette


class MailUnavailableError(RuntimeError):
    """The relay could not be reached, or failed the message: the sender may try later."""


def send_email(
    to: str,
    subject: str,
    template: str,
    *,
    headers: Mapping[str, str] | None = None,
    **context: object,
) -> bool:
    """Build and deliver one message to the relay, or to the outbox without one.

    ``headers`` are added to the message as they are (List-Unsubscribe, for one).

    False (and an error in the log) when the address cannot be sent to at all; a
    relay that cannot be reached or fails the message raises MailUnavailableError.
    """
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    msg = build_message(to, subject, template, headers=headers, **context)
    data = message_bytes(msg, utf8=needs_smtputf8(to) or needs_smtputf8(sender))
    transport = open_transport()
    try:
        transport.send(to, data)
    except AddressError as exc:
        # A permanent fault of this one address: the caller's work (a registration,
        # a paid order's webhook) goes on; the log says which message did not go.
        transport.close()
        log.error("Mail %r to %s was not sent: %s", subject, to, exc)
        return False
    except (RelayUnreachableError, OSError) as exc:
        # The relay is down, slow past MAIL_TIMEOUT, or refused the message: a fault of
        # the moment, which the caller turns into words (or a retry), never a 500.
        transport.abort()
        log.error("Mail %r to %s could not be sent now: %s", subject, to, exc)
        raise MailUnavailableError(
            "We could not send the email just now. Please try again in a few minutes."
        ) from exc
    transport.close()
    return True


__all__ = [
    "AddressError",
    "MailUnavailableError",
    "RelayUnreachableError",
    "Rendered",
    "Transport",
    "build_bytes",
    "build_message",
    "envelope_address",
    "header_address",
    "init_app",
    "list_id",
    "message_bytes",
    "message_id",
    "needs_smtputf8",
    "open_transport",
    "outbox_dir",
    "outbox_message",
    "outbox_messages",
    "read_outbox",
    "send_email",
    "write_to_outbox",
]
