"""Bulk mail's fast path: a message rendered once, each reader's copy made as bytes.

Building a Flask-Mail ``Message`` per reader costs most of the time a send takes
(docs/architecture.md). A ``Rendered`` message holds its text and HTML with a few
placeholders (the reader's name and links); its MIME body is compiled once into the
CRLF UTF-8 bytes SMTP wants, cut where the placeholders go, and ``build_bytes`` makes
each reader's copy by joining those bytes with the reader's values and headers.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from functools import lru_cache
from urllib.parse import urlsplit

import css_inline
from flask import current_app
from markupsafe import escape

from shop.install import scoped_key
from shop.mail.addresses import header_address

# Placeholders: plain ASCII words that survive Jinja escaping and CSS inlining. NAME is
# the reader's name with the space before it, or nothing for a reader without one, so that
# "Hello{{ name }}," reads "Hello Nina," or "Hello,": never a piece of the address.
NAME = "XXBSNAMEXX"
UNSUB = "XXBSUNSUBXX"
PREFS = "XXBSPREFSXX"
# The delivery's tracking token, in tracked links and the open pixel (shop.sending.tracking).
TRACK = "XXBSTRACKXX"

BOUNDARY = "=_broadsheet_digest_boundary"
MAX_LINE = 998
WRAP_AT = 200

PLACEHOLDER = re.compile(f"({NAME}|{UNSUB}|{PREFS}|{TRACK})")

# What a body is compiled into: UTF-8 bytes with CRLF line ends, cut where a
# placeholder goes; a placeholder's key is its name, prefixed "h" in the HTML part.
BodyParts = list[bytes | str]
TEXT_HEAD = (
    f"\r\n--{BOUNDARY}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
).encode("ascii")
HTML_HEAD = (
    f"\r\n--{BOUNDARY}\r\nContent-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
).encode("ascii")
END = f"\r\n--{BOUNDARY}--\r\n".encode("ascii")


@dataclass
class Rendered:
    """A distinct message: subject, and bodies with placeholders."""

    subject: str
    text: str
    html: str
    # What the message lists (a digest's stories): recorded for the reader once it is sent.
    article_ids: tuple[int, ...] = ()
    # The URLs its HTML tracks (shop.sending.tracking), stored for the run as it goes.
    links: tuple[str, ...] = ()
    _compiled: tuple[str, str, BodyParts] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def body_parts(self) -> BodyParts:
        """The MIME body as CRLF bytes cut at the placeholders, built once per message."""
        # Keyed by the bodies themselves: a caller may still replace them.
        if (
            self._compiled is None
            or self._compiled[0] is not self.text
            or self._compiled[1] is not self.html
        ):
            self._compiled = (self.text, self.html, compile_body(self.text, self.html))
        return self._compiled[2]

    def set_compiled(self, parts: BodyParts) -> None:
        """Give the message the body parts its texts compile to, made another way."""
        self._compiled = (self.text, self.html, parts)


_inliner_instance: css_inline.CSSInliner | None = None


def inliner() -> css_inline.CSSInliner:
    """The CSS inliner: built once, it keeps no <style> and loads nothing remote."""
    global _inliner_instance
    if _inliner_instance is None:
        _inliner_instance = css_inline.CSSInliner(
            keep_style_tags=False, load_remote_stylesheets=False
        )
    return _inliner_instance


def inline(html: str) -> str:
    """Inline a message's CSS so mail clients that drop <style> still show it."""
    return str(inliner().inline(html))


def _break_line(line: str, limit: int) -> list[str]:
    """One line broken at spaces into pieces of at most ``limit`` characters."""
    out: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        out.append(line[:cut])
        line = line[cut:].lstrip(" ")
    out.append(line)
    return out


def wrap_lines(text: str, limit: int = WRAP_AT) -> str:
    """Break lines longer than ``limit`` at spaces, so no line nears SMTP's 998."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(_break_line(line, limit))
    return "\n".join(out) + "\n"


def wrap_long_lines(text: str, limit: int = WRAP_AT) -> str:
    """Like wrap_lines, but leaves every short line and the ends as they are."""
    # Pieces wrapped this way can be joined without wrapping the whole again.
    lines = text.split("\n")
    if all(len(line) <= limit for line in lines):
        return text
    return "\n".join("\n".join(_break_line(line, limit)) for line in lines)


@lru_cache(maxsize=16)
def _domain(site_url: str) -> str:
    return urlsplit(site_url).hostname or "localhost"


def message_id(run_id: int, run_created_at: datetime | None, delivery_id: int, user_id: int) -> str:
    """The Message-ID of a delivery: the same on every attempt, so repeats can be dropped.

    It carries the install's id and the run's creation time (``shop/install.py``): two
    installs, or one restored from a backup whose new rows reuse the old ids, never
    share one. The reader's id tells apart a delivery id reused within a restored run.
    """
    config = current_app.config
    # The run's part is the same for all its messages: worked out once per run.
    head = _run_key(run_id, run_created_at, config["SECRET_KEY"], config.get("INSTALL_ID"))
    return f"<{head}-delivery{delivery_id}-u{user_id}@{_domain(config['SITE_URL'])}>"


@lru_cache(maxsize=64)
def _run_key(run_id: int, created_at: datetime | None, secret: str, configured: str | None) -> str:
    # Keyed by the settings install_id() reads, so a changed setting gets a new key.
    # Naive UTC as stored; made aware so every machine, whatever its zone, agrees.
    created = created_at.replace(tzinfo=UTC) if created_at else None
    return str(scoped_key("run", run_id, created))


def list_id() -> str:
    """The List-Id header's value."""
    domain = _domain(current_app.config["SITE_URL"])
    name = current_app.config["PUBLICATION_NAME"].replace('"', "")
    return f'"{name} digest" <digest.{domain}>'


@lru_cache(maxsize=2)
def _date_of_second(second: int) -> str:
    return format_datetime(datetime.fromtimestamp(second, UTC))


def _date_header() -> str:
    """The Date header's value; it has whole seconds, so it is formatted once a second."""
    return _date_of_second(int(time.time()))


def _header(value: str) -> str:
    # Subjects may hold any text: RFC 2047-encode anything that is not plain ASCII.
    if value.isascii() and "\n" not in value and "\r" not in value:
        return value
    return Header(value, "utf-8").encode()


def crlf(text: str) -> str:
    """Every line end as CRLF: SMTP wants nothing bare."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def compile_body(text: str, html: str) -> BodyParts:
    """The MIME body as bytes between placeholders; HTML placeholders get an ``h`` prefix."""
    return [
        TEXT_HEAD,
        *cut_at(text.rstrip("\n"), "", PLACEHOLDER),
        HTML_HEAD,
        *cut_at(html.rstrip("\n"), "h", PLACEHOLDER),
        END,
    ]


def cut_at(text: str, key_prefix: str, slots: re.Pattern[str]) -> BodyParts:
    """``text`` as CRLF UTF-8 bytes cut at the ``slots`` (a pattern with one group)."""
    pieces = slots.split(crlf(text))
    return [key_prefix + p if n % 2 else p.encode("utf-8") for n, p in enumerate(pieces)]


def _one_line(value: str) -> str:
    """A substituted value with no line breaks, which would be bare in the body."""
    if "\n" in value or "\r" in value:
        return value.replace("\r", " ").replace("\n", " ")
    return value


@lru_cache(maxsize=8)
def _sender_header(sender: str) -> str:
    # The same sender for a whole run: worked out once, not once per message.
    return header_address(sender)


def build_bytes(
    rendered: Rendered,
    *,
    to: str,
    name: str,
    msgid: str,
    unsubscribe_url: str,
    preferences_url: str,
    sender: str,
    tracking: str = "",
) -> bytes:
    """One reader's message, ready for ``sendmail``: CRLF line ends, 8-bit UTF-8 bodies.

    ``tracking`` is the delivery's token for a message with tracked links and pixel.
    Addresses go into the headers as ``shop.mail.addresses.header_address`` writes
    them: an IDN domain as its A-label, a non-ASCII local part in UTF-8 (sent only
    over SMTPUTF8).
    """
    name = _one_line(name).strip()
    name = f" {name}" if name else ""
    unsubscribe_url = _one_line(unsubscribe_url)
    preferences_url = _one_line(preferences_url)
    values = {
        NAME: name.encode("utf-8"),
        UNSUB: unsubscribe_url.encode("utf-8"),
        PREFS: preferences_url.encode("utf-8"),
        "h" + NAME: str(escape(name)).encode("utf-8"),
        "h" + UNSUB: str(escape(unsubscribe_url)).encode("utf-8"),
        "h" + PREFS: str(escape(preferences_url)).encode("utf-8"),
        # A token is URL-safe ASCII: the same in text and HTML.
        TRACK: tracking.encode("ascii"),
        "h" + TRACK: tracking.encode("ascii"),
    }
    # Built with \n and converted: a folded (encoded) subject has line breaks too.
    head = crlf(
        f"From: {_sender_header(sender)}\n"
        f"To: {header_address(to)}\n"
        f"Subject: {_header(rendered.subject)}\n"
        f"Date: {_date_header()}\n"
        f"Message-ID: {msgid}\n"
        f"List-Id: {list_id()}\n"
        f"List-Unsubscribe: <{unsubscribe_url}>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"\n'
    )
    parts = [head.encode("utf-8")]
    parts.extend(p if isinstance(p, bytes) else values[p] for p in rendered.body_parts())
    return b"".join(parts)
