"""One message from a template pair: ``email/<name>.txt`` and ``.html``, as MIME bytes.

Account mail (confirmations, resets, receipts...) is composed here; each HTML template
extends ``email/layout.html``, the one layout digests and newsletters extend too.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template

from shop.mail.addresses import header_address
from shop.mail.bulk import inline


def site_domain() -> str:
    """The host name of ``SITE_URL``, used in Message-IDs."""
    return urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"


def build_message(
    to: str,
    subject: str,
    template: str,
    *,
    headers: Mapping[str, str] | None = None,
    **context: object,
) -> EmailMessage:
    """Render ``email/<template>.txt`` and ``.html`` into a multipart message.

    ``headers`` adds headers of the caller's (a thread's List-Unsubscribe, say).
    """
    context.setdefault("site_url", current_app.config["SITE_URL"])
    context.setdefault("publication", current_app.config["PUBLICATION_NAME"])
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = header_address(current_app.config["MAIL_DEFAULT_SENDER"])
    msg["To"] = header_address(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=site_domain())
    for name, value in (headers or {}).items():
        # The email package refuses a value with a line break, so none can add a header.
        msg[name] = value
    # The email package picks each part's encoding: quoted-printable for long lines,
    # so no line reaches SMTP's 998 characters.
    msg.set_content(render_template(f"email/{template}.txt", **context))
    # The layout's styles, inlined: many mail clients drop a <style> element.
    html = inline(render_template(f"email/{template}.html", **context))
    msg.add_alternative(html, subtype="html")
    return msg


def message_bytes(msg: EmailMessage, *, utf8: bool = False) -> bytes:
    """A built message as SMTP wants it, CRLF line ends; ``utf8`` for RFC 6532 headers."""
    # Without utf8 a non-ASCII subject or name goes out as RFC 2047 encoded words, which
    # every server takes; with it (an address that needs SMTPUTF8) headers stay UTF-8.
    return msg.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)
