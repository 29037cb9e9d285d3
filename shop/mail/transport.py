"""Where messages go: the SMTP relay through Flask-Mail, or the local outbox.

This is the one module that speaks to smtplib and Flask-Mail. With ``MAIL_SERVER``
set, messages go to that relay over Flask-Mail's connection; with no relay (the
embedded default) they are written to the local outbox, so a laptop install never
loses a confirmation link. Both are a ``Transport``: open, send bytes, close.
"""

from __future__ import annotations

import contextlib
import smtplib
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from flask import current_app
from flask_mail import Connection, Mail

from shop.mail import dkim
from shop.mail.addresses import AddressError, envelope_address, needs_smtputf8
from shop.mail.outbox import write_to_outbox

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

# The app's Flask-Mail: its settings (MAIL_SERVER, MAIL_PORT, TLS, login) are Flask-Mail's.
mailer = Mail()

# The exceptions a relay raises about one message or the connection (OSErrors all).
SMTPResponseError = smtplib.SMTPResponseException
RecipientsRefusedError = smtplib.SMTPRecipientsRefused


class RelayUnreachableError(Exception):
    """The relay could not be reached at all: nothing was said about any one message."""

    # Connection refused, a host name that does not resolve, no answer within
    # MAIL_TIMEOUT, a 421 greeting, a failed STARTTLS or login: the relay's fault (or
    # its settings'), not the reader's, so it costs no delivery an attempt. Not an
    # OSError, so that no handler for a dropped connection takes it by mistake.

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class Transport(Protocol):
    """Where messages go; one is opened for a batch (or one message) and closed after."""

    sender: str

    def open(self) -> None:
        """Get ready to send; ``RelayUnreachableError`` if the relay cannot be reached."""

    def send(self, to: str, data: bytes) -> str:
        """Hand one serialised message over; the server's reply, or an exception.

        An address no server could take (see ``envelope_address``) raises
        ``AddressError`` before anything is sent.
        """

    def close(self) -> None:
        """Say goodbye, ignoring a connection that is already gone."""

    def abort(self) -> None:
        """Drop the connection after a fault, without a goodbye that could wait again."""


def reply_code(exc: BaseException) -> int | None:
    """The SMTP reply code a relay's refusal carries, if it carries one."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return int(next(iter(exc.recipients.values()))[0])
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code)
    return None


def smtp_timeout() -> float:
    """Seconds any one SMTP step (connect, a command, a read) may take: ``MAIL_TIMEOUT``."""
    # At least a second: a timeout of 0 would make the socket non-blocking, and every
    # read would fail at once instead of waiting.
    return max(1.0, float(current_app.config.get("MAIL_TIMEOUT") or 30))


def dot_stuffed(data: bytes) -> bytes:
    """The message as DATA carries it: a dot doubled where a line begins with one."""
    # What smtplib's regular expression (?m)^\. does, in a fraction of its time.
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\n.", b"\n..")


def _quick_data(smtp: smtplib.SMTP, msg: ReadableBuffer | str) -> tuple[int, bytes]:
    """smtplib's DATA for bytes, with the dots stuffed by ``dot_stuffed``."""
    if not isinstance(msg, bytes):
        return smtplib.SMTP.data(smtp, msg)
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    quoted = dot_stuffed(msg)
    smtp.send(quoted + (b".\r\n" if quoted.endswith(b"\r\n") else b"\r\n.\r\n"))
    return smtp.getreply()


# The rest of the conversation is smtplib's own: sendmail's MAIL, RCPT and their errors.
# Only DATA changes, whose regular expression over every byte of every message was the
# largest part of a send's own work.
class QuickSMTP(smtplib.SMTP):
    """smtplib.SMTP with a quicker DATA."""

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        """Send a message after DATA; the server's reply, as smtplib's own."""
        return _quick_data(self, msg)


class QuickSMTPSSL(smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL with a quicker DATA."""

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        """Send a message after DATA; the server's reply, as smtplib's own."""
        return _quick_data(self, msg)


class TimedConnection(Connection):
    """Flask-Mail's connection, whose SMTP socket gives up after ``MAIL_TIMEOUT``.

    The smtplib object it opens is kept as ``smtp``, ours to read: the transport needs it
    for EHLO's extensions, an SMTPUTF8 send and dropping a link that failed, and does not
    read Flask-Mail's own attributes for them. ``None`` until opened, and with
    ``MAIL_SUPPRESS_SEND`` (Flask-Mail then opens nothing).
    """

    smtp: smtplib.SMTP | None = None

    def configure_host(self) -> smtplib.SMTP:
        """Flask-Mail's own steps (SSL or not, debug level, STARTTLS, login), with a timeout."""
        # Flask-Mail 0.10 builds smtplib.SMTP(server, port) with no timeout and has no
        # setting for one, and smtplib connects and reads the greeting inside that
        # constructor: a timeout set on the object afterwards comes too late for a relay
        # that accepts and never greets. So this one method is Flask-Mail's, with the
        # timeout passed in; nothing else of Flask-Mail is changed, nor anything global
        # (socket.setdefaulttimeout would reach every socket of the process).
        settings = self.mail
        timeout = smtp_timeout()
        host: smtplib.SMTP
        if settings.use_ssl:
            host = QuickSMTPSSL(settings.server, settings.port, timeout=timeout)
        else:
            host = QuickSMTP(settings.server, settings.port, timeout=timeout)
        try:
            host.set_debuglevel(int(settings.debug))
            if settings.use_tls:
                host.starttls()
            if settings.username and settings.password:
                host.login(settings.username, settings.password)
        except BaseException:
            host.close()  # no QUIT to a relay that just failed us: only the socket
            raise
        self.smtp = host
        return host


class SmtpTransport:
    """The relay, over one Flask-Mail connection kept open for a batch."""

    def __init__(self) -> None:
        self.sender: str = current_app.config["MAIL_DEFAULT_SENDER"]
        self._stack: contextlib.ExitStack | None = None
        self._connection: TimedConnection | None = None
        self._smtputf8 = False

    def open(self) -> None:
        """Connect and greet; ``RelayUnreachableError`` if the relay cannot be reached."""
        if self._connection is not None:
            return
        connection = TimedConnection(current_app.extensions["mail"])
        stack = contextlib.ExitStack()
        try:
            # The connection's own context: QUIT when the stack closes. (Flask-Mail 0.10
            # annotates __exit__'s arguments as never None, which a with statement
            # passes; hence the ignore.)
            stack.enter_context(connection)  # type: ignore[arg-type]
            host = connection.smtp
            if host is not None:  # None: MAIL_SUPPRESS_SEND
                # EHLO now rather than with the first message: a relay that fails it
                # fails every message, and no reader is to blame for that.
                host.ehlo_or_helo_if_needed()
                self._smtputf8 = bool(host.has_extn("smtputf8"))
        except Exception as exc:
            # Mostly OSErrors (smtplib's and ssl's errors, timeouts, DNS); anything
            # else here (a server name that is not a host name) is the settings'
            # fault, and no reader's either. No QUIT to a relay that failed us.
            stack.pop_all()
            if connection.smtp is not None:
                connection.smtp.close()
            raise RelayUnreachableError(exc) from exc
        self._stack, self._connection = stack, connection

    def send(self, to: str, data: bytes) -> str:
        """Hand one message to the relay; "250 accepted", or smtplib's exception."""
        self.open()
        # Signed here, the last step every message takes, so every kind is signed.
        data = dkim.sign(data)
        connection = self._connection
        assert connection is not None
        utf8 = needs_smtputf8(to) or _sender_needs_smtputf8(self.sender)
        envelope_from = _sender_envelope(self.sender, self._smtputf8)
        envelope_to = envelope_address(to, smtputf8=self._smtputf8)
        # Straight to the connection's smtplib object, as Flask-Mail's own send would
        # hand it: the addresses are envelope_address's already (Flask-Mail would parse
        # them again, and its formataddr refuses the non-ASCII local part SMTPUTF8 is
        # for), and the bytes are built. None with MAIL_SUPPRESS_SEND: nothing goes.
        if connection.smtp is not None:
            # A refused recipient raises (SMTPRecipientsRefused): there is only one.
            connection.smtp.sendmail(
                envelope_from, [envelope_to], data, ["SMTPUTF8"] if utf8 else []
            )
        return "250 accepted"

    def close(self) -> None:
        """QUIT, ignoring a connection that is already gone."""
        if self._stack is not None:
            with contextlib.suppress(OSError):  # smtplib's errors are OSErrors
                self._stack.close()
        self._stack = None
        self._connection = None

    def abort(self) -> None:
        """Drop the connection after a fault, without a QUIT that could wait once more."""
        # After a timeout or a half-sent message the relay may never answer a QUIT, and
        # waiting MAIL_TIMEOUT again for it would only hold the run up.
        if self._connection is not None and self._connection.smtp is not None:
            self._connection.smtp.close()
        if self._stack is not None:
            self._stack.pop_all()
        self._stack = None
        self._connection = None


@lru_cache(maxsize=8)
def _sender_needs_smtputf8(sender: str) -> bool:
    # The same sender for every message of a run: parsed once, not once per message.
    return needs_smtputf8(sender)


@lru_cache(maxsize=8)
def _sender_envelope(sender: str, smtputf8: bool) -> str:
    # Cached like the above; a refusal (AddressError) is not cached, so every message
    # from such a sender is refused with its reason, as it was before.
    return envelope_address(sender, smtputf8=smtputf8)


class OutboxTransport:
    """The local outbox: each message a file, for a laptop install with no relay."""

    def __init__(self) -> None:
        self.sender: str = current_app.config["MAIL_DEFAULT_SENDER"]

    def open(self) -> None:
        """Nothing to open: the folder is made with the first message."""

    def send(self, to: str, data: bytes) -> str:
        """Write one message to the outbox."""
        # The outbox keeps what a relay with SMTPUTF8 would take, and no more.
        envelope_address(to, smtputf8=True)
        write_to_outbox(dkim.sign(data))
        return "250 written to the outbox"

    def close(self) -> None:
        """Nothing to close."""

    def abort(self) -> None:
        """Nothing to drop."""


def open_transport() -> Transport:
    """The transport the settings choose: the relay with ``MAIL_SERVER``, else the outbox."""
    if current_app.config.get("MAIL_SERVER"):
        return SmtpTransport()
    return OutboxTransport()


__all__ = [
    "AddressError",
    "OutboxTransport",
    "RecipientsRefusedError",
    "RelayUnreachableError",
    "SMTPResponseError",
    "SmtpTransport",
    "Transport",
    "mailer",
    "open_transport",
    "reply_code",
]
