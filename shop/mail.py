"""Build and send one account email: a text and an HTML part from a template pair.

With ``MAIL_SERVER`` set, messages go to that relay through Flask-Mail. With no
relay (the embedded default) they are written to the local outbox, one ``.eml``
file each, so a laptop install never loses a confirmation link.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message

from shop.extensions import mail
from shop.pagination import Page
from shop.timeutil import utcnow


def site_domain() -> str:
    """The host name of ``SITE_URL``, used in Message-IDs."""
    return urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"


def build_message(to: str, subject: str, template: str, **context: object) -> Message:
    """Render ``email/<template>.txt`` and ``.html`` into a multipart message."""
    context.setdefault("site_url", current_app.config["SITE_URL"])
    context.setdefault("publication", current_app.config["PUBLICATION_NAME"])
    msg = Message(
        subject=subject,
        recipients=[to],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )
    msg.msgId = make_msgid(domain=site_domain())
    return msg


def send_email(to: str, subject: str, template: str, **context: object) -> None:
    """Build and deliver one message to the relay, or to the outbox without one."""
    msg = build_message(to, subject, template, **context)
    if current_app.config.get("MAIL_SERVER"):
        mail.send(msg)
    else:
        write_to_outbox(msg.as_bytes())


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


def read_outbox() -> list[EmailMessage]:
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


def _header(message: EmailMessage, name: str) -> str:
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


def outbox_message(name: str) -> EmailMessage | None:
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


def message_headers(message: EmailMessage, names: list[str]) -> list[tuple[str, str]]:
    """The named headers a message has, as (name, value) pairs in the order asked."""
    return [(name, _header(message, name)) for name in names if name in message]


def message_bodies(message: EmailMessage) -> tuple[str | None, str | None]:
    """A message's text and HTML parts as strings; None for a part it does not have."""
    return _body(message, "plain"), _body(message, "html")


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError, KeyError):  # an unknown charset or broken encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")
