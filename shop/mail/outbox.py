"""The local outbox: one ``.eml`` file per message written while no relay is set.

The outbox transport (``shop.mail.transport``) writes here; the back office reads
here, a page of summaries at a time, or one message whole.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message as ParsedMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

from flask import current_app

from shop.clock import utcnow
from shop.pagination import Page

# The names write_to_outbox gives: a UTC timestamp to the microsecond, a random suffix.
OUTBOX_NAME = re.compile(r"(\d{8}T\d{12})-[0-9a-f]{8}\.eml")


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


def _parse(data: bytes) -> ParsedMessage:
    """A message's bytes, parsed with the modern policy (``get_body``, ``get_content``)."""
    return message_from_bytes(data, policy=default_policy)


def read_outbox() -> list[ParsedMessage]:
    """Parse every message in the local outbox, oldest first."""
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    return [_parse(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


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
    return _parse(data)


def message_headers(message: ParsedMessage, names: list[str]) -> list[tuple[str, str]]:
    """The named headers a message has, as (name, value) pairs in the order asked."""
    return [(name, _header(message, name)) for name in names if name in message]


def message_bodies(message: ParsedMessage) -> tuple[str | None, str | None]:
    """A message's text and HTML parts as strings; None for a part it does not have."""
    return body_of(message, "plain"), body_of(message, "html")


def body_of(message: ParsedMessage, subtype: str) -> str | None:
    """The message's ``text/<subtype>`` part as a string; None if it has none."""
    part = message.get_body(preferencelist=(subtype,))  # type: ignore[attr-defined]
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError, KeyError):  # an unknown charset or broken encoding
        payload = part.get_payload(decode=True) or b""
        return bytes(payload).decode("utf-8", errors="replace")


def html_of_bytes(data: bytes) -> str:
    """The HTML part of a serialised message (a preview shows what would be sent)."""
    return body_of(_parse(data), "html") or ""
