"""Build and send one account email: a text and an HTML part from a template pair.

With ``MAIL_SERVER`` set, messages go to that relay over Flask-Mail's connection. With
no relay (the embedded default) they are written to the local outbox, one ``.eml``
file each, so a laptop install never loses a confirmation link.

Every address that goes into an SMTP envelope or a header passes through here
(``envelope_address``, ``header_address``): an internationalised domain becomes its
A-label (IDNA 2008), and a non-ASCII local part goes only to a relay that offers
SMTPUTF8 (RFC 6531); anything else is refused with an ``AddressError`` that says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import smtplib
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.header import Header
from email.message import EmailMessage
from email.message import Message as ParsedMessage
from email.parser import BytesParser
from email.policy import SMTP, SMTPUTF8
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import idna
from flask import current_app, render_template
from flask_mail import Connection

from shop.clock import utcnow
from shop.pagination import Page

log = logging.getLogger(__name__)

# Characters that make a display name a quoted string (RFC 5322 "specials").
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


class MailUnavailableError(RuntimeError):
    """The relay could not be reached, or failed the message: the sender may try later."""


class AddressError(smtplib.SMTPException):
    """An address no message can be sent to as it stands; the text says why."""

    # An SMTPException (so an OSError), because it is raised where the message is handed
    # to SMTP: callers that report "could not be sent" report this too. It is permanent:
    # sending the same message to the same address again cannot succeed.


def _parts(address: str) -> tuple[str, str, str]:
    """(display name, local part, domain) of ``Name <local@domain>`` or ``local@domain``."""
    if "\r" in address or "\n" in address:
        raise AddressError(f"{address!r} is not an email address: it holds a line break")
    name, addr_spec = parseaddr(address)
    local, at, domain = addr_spec.rpartition("@")
    if not (at and local and domain):
        raise AddressError(f"{address!r} is not an email address")
    return name, local, domain


@lru_cache(maxsize=4096)
def ascii_domain(domain: str) -> str:
    """The domain as every mail server takes it: each non-ASCII label as its A-label."""
    if domain.isascii():
        return domain
    try:
        # IDNA 2008 with the UTS 46 mapping (what browsers and mail providers use):
        # Python's own "idna" codec is IDNA 2003, which turns faß.example into
        # fass.example, somebody else's domain.
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressError(
            f"the domain {domain!r} is not a valid internationalised domain name ({exc})"
        ) from exc


def needs_smtputf8(address: str) -> bool:
    """Whether the address's local part is non-ASCII, which only SMTPUTF8 can carry."""
    local = parseaddr(address)[1].rpartition("@")[0]
    return not local.isascii()


def envelope_address(address: str, *, smtputf8: bool = False) -> str:
    """The address for MAIL FROM or RCPT TO: the A-label domain; UTF-8 only with SMTPUTF8."""
    _, local, domain = _parts(address)
    if not local.isascii() and not smtputf8:
        raise AddressError(
            f"{local}@{domain} has non-ASCII characters before the @: only a mail server "
            "that offers SMTPUTF8 takes it, and this one does not"
        )
    return f"{local}@{ascii_domain(domain)}"


def header_address(address: str) -> str:
    """The address for a To or From header (RFC 5322): RFC 2047 name, A-label domain.

    A non-ASCII local part stays UTF-8 (RFC 6532); such a message is sent only over
    SMTPUTF8, which ``envelope_address`` decides. A domain with no A-label is kept as
    written here and refused by ``envelope_address`` when the message is sent.
    """
    if address.isascii() and "\r" not in address and "\n" not in address:
        return address  # the common case, left exactly as configured or typed
    name, local, domain = _parts(address)
    with contextlib.suppress(AddressError):
        domain = ascii_domain(domain)
    addr_spec = f"{local}@{domain}"
    if not name:
        return addr_spec
    if not name.isascii():
        shown = Header(name, "utf-8").encode()  # an RFC 2047 encoded word
    elif _SPECIALS.search(name):
        shown = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    else:
        shown = name
    # Not formataddr: it refuses the UTF-8 local part that RFC 6532 allows.
    return f"{shown} <{addr_spec}>"


def site_domain() -> str:
    """The host name of ``SITE_URL``, used in Message-IDs."""
    return urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"


def build_message(to: str, subject: str, template: str, **context: object) -> EmailMessage:
    """Render ``email/<template>.txt`` and ``.html`` into a multipart message."""
    context.setdefault("site_url", current_app.config["SITE_URL"])
    context.setdefault("publication", current_app.config["PUBLICATION_NAME"])
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = header_address(current_app.config["MAIL_DEFAULT_SENDER"])
    msg["To"] = header_address(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=site_domain())
    # The email package picks each part's encoding: quoted-printable for long lines,
    # so no line reaches SMTP's 998 characters.
    msg.set_content(render_template(f"email/{template}.txt", **context))
    msg.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return msg


def message_bytes(msg: EmailMessage, *, utf8: bool = False) -> bytes:
    """A built message as SMTP wants it, CRLF line ends; ``utf8`` for RFC 6532 headers."""
    # Without utf8 a non-ASCII subject or name goes out as RFC 2047 encoded words, which
    # every server takes; with it (an address that needs SMTPUTF8) headers stay UTF-8.
    return msg.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)


def send_email(to: str, subject: str, template: str, **context: object) -> bool:
    """Build and deliver one message to the relay, or to the outbox without one.

    False (and an error in the log) when the address cannot be sent to at all; a
    relay that cannot be reached or fails the message raises MailUnavailableError.
    """
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    msg = build_message(to, subject, template, **context)
    data = message_bytes(msg, utf8=needs_smtputf8(to) or needs_smtputf8(sender))
    try:
        if not current_app.config.get("MAIL_SERVER"):
            # The outbox keeps what a relay with SMTPUTF8 would take.
            envelope_address(to, smtputf8=True)
            write_to_outbox(data)
            return True
        with connect() as connection:
            host = connection.host
            if host is None:  # MAIL_SUPPRESS_SEND
                return True
            send_over(host, sender, to, data)
    except AddressError as exc:
        # A permanent fault of this one address: the caller's work (a registration,
        # a paid order's webhook) goes on; the log says which message did not go.
        log.error("Mail %r to %s was not sent: %s", subject, to, exc)
        return False
    except (smtplib.SMTPException, OSError) as exc:
        # The relay is down, slow past MAIL_TIMEOUT, or refused the message: a fault of
        # the moment, which the caller turns into words (or a retry), never a 500.
        log.error("Mail %r to %s could not be sent now: %s", subject, to, exc)
        raise MailUnavailableError(
            "We could not send the email just now. Please try again in a few minutes."
        ) from exc
    return True


def smtp_timeout() -> float:
    """Seconds any one SMTP step (connect, a command, a read) may take: ``MAIL_TIMEOUT``."""
    # At least a second: a timeout of 0 would make the socket non-blocking, and every
    # read would fail at once instead of waiting.
    return max(1.0, float(current_app.config.get("MAIL_TIMEOUT") or 30))


class TimedConnection(Connection):
    """Flask-Mail's connection, whose SMTP socket gives up after ``MAIL_TIMEOUT``."""

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
            host = smtplib.SMTP_SSL(settings.server, settings.port, timeout=timeout)
        else:
            host = smtplib.SMTP(settings.server, settings.port, timeout=timeout)
        try:
            host.set_debuglevel(int(settings.debug))
            if settings.use_tls:
                host.starttls()
            if settings.username and settings.password:
                host.login(settings.username, settings.password)
        except BaseException:
            host.close()  # no QUIT to a relay that just failed us: only the socket
            raise
        return host


def connect() -> TimedConnection:
    """A connection to the relay for ``with``: every SMTP connection the app opens."""
    return TimedConnection(current_app.extensions["mail"])


def send_over(host: smtplib.SMTP, sender: str, to: str, data: bytes) -> dict:
    """Hand one serialised message to an open SMTP connection; smtplib's refusals."""
    host.ehlo_or_helo_if_needed()
    utf8 = needs_smtputf8(to) or needs_smtputf8(sender)
    offered = bool(host.has_extn("smtputf8"))
    envelope_from = envelope_address(sender, smtputf8=offered)
    envelope_to = envelope_address(to, smtputf8=offered)
    options = ["SMTPUTF8"] if utf8 else []
    return host.sendmail(envelope_from, [envelope_to], data, mail_options=options)


def outbox_dir() -> Path:
    """The folder of the local outbox."""
    return Path(current_app.config["MAIL_OUTBOX_DIR"])


def write_to_outbox(data: bytes) -> Path:
    """Write a serialised message to the local outbox atomically, returning its file."""
    folder = outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    tmp = folder / (name + ".tmp")
    tmp.write_bytes(data)
    # A rename is atomic, so a reader of the outbox never sees half a message.
    os.replace(tmp, folder / name)
    return folder / name


def read_outbox() -> list[ParsedMessage]:
    """Parse every message in the local outbox, oldest first."""
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    return [
        message_from_bytes(path.read_bytes(), policy=default_policy)
        for path in sorted(folder.glob("*.eml"))
    ]


# The names write_to_outbox gives: a UTC timestamp to the microsecond, a random suffix.
OUTBOX_NAME = re.compile(r"(\d{8}T\d{12})-[0-9a-f]{8}\.eml")


@dataclass
class OutboxSummary:
    """One message in the outbox, as a list shows it: no body is read."""

    name: str
    written_at: datetime | None
    to: str
    subject: str


def _written_at(name: str) -> datetime | None:
    match = OUTBOX_NAME.fullmatch(name)
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f") if match else None
    except ValueError:
        return None


def _header(message: ParsedMessage, name: str) -> str:
    # A malformed header in someone's message must not take the whole list down.
    try:
        return str(message.get(name) or "")
    except (ValueError, TypeError, IndexError, LookupError):
        return "(unreadable)"


def _summary(path: Path) -> OutboxSummary:
    try:
        with path.open("rb") as fp:
            headers = BytesParser(policy=default_policy).parse(fp, headersonly=True)
    except OSError:  # deleted between listing and reading
        return OutboxSummary(path.name, _written_at(path.name), "", "(gone)")
    return OutboxSummary(
        path.name, _written_at(path.name), _header(headers, "To"), _header(headers, "Subject")
    )


def outbox_messages(page: int = 1, per_page: int = 50) -> Page:
    """A page of the outbox's messages, newest first, read as summaries."""
    folder = outbox_dir()
    names = (
        sorted(
            (p.name for p in folder.iterdir() if OUTBOX_NAME.fullmatch(p.name)),
            reverse=True,  # the names start with their time, so this is newest first
        )
        if folder.is_dir()
        else []
    )
    chosen = names[(page - 1) * per_page : page * per_page]
    return Page(
        items=[_summary(folder / name) for name in chosen],
        page=page,
        per_page=per_page,
        total=len(names),
    )


def outbox_message(name: str) -> ParsedMessage | None:
    """The outbox message with this file name, parsed; None for any other name."""
    # Only a bare name of the outbox's own pattern: no separators, no "..", no other file.
    if not OUTBOX_NAME.fullmatch(name):
        return None
    folder = outbox_dir().resolve()
    path = folder / name
    try:
        # A link planted in the outbox under an outbox name may not lead out of it.
        if path.is_symlink() or not path.is_file() or path.resolve().parent != folder:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return message_from_bytes(data, policy=default_policy)


def message_headers(message: ParsedMessage, names: list[str]) -> list[tuple[str, str]]:
    """The named headers a message has, as (name, value) pairs in the order asked."""
    return [(name, _header(message, name)) for name in names if name in message]


def message_bodies(message: ParsedMessage) -> tuple[str | None, str | None]:
    """A message's text and HTML parts as strings; None for a part it does not have."""
    return _body(message, "plain"), _body(message, "html")


def _body(message: ParsedMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError, KeyError):  # an unknown charset or broken encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")
