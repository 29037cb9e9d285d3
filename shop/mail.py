"""Build and send one account email: a text and an HTML part from a template pair.

With ``MAIL_SERVER`` set, messages go to that relay through Flask-Mail. With no
relay (the embedded default) they are written to the local outbox, one ``.eml``
file each, so a laptop install never loses a confirmation link.
"""

from __future__ import annotations

import os
import uuid
from email import message_from_bytes
from email.message import Message as EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message

from shop.extensions import mail
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
