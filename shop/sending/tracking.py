"""Opens and clicks: each delivery's signed token, trackable links, and what readers did.

A message is made trackable once per distinct content, never once per reader: its HTML
links become ``SITE_URL/t/c/<token>/<link key>`` and a 1x1 image ``SITE_URL/t/o/<token>.gif``
is put before ``</body>``, with the token left as a placeholder (``shop.mail.bulk.TRACK``)
that the engine fills in for each delivery, as it fills in the reader's name. A click
leads only to a link stored for the delivery's run: the address never comes from the
request, so the redirect cannot be turned to another site. With ``MAIL_TRACKING`` off
nothing here touches a message.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from collections.abc import Iterable
from typing import cast

from flask import current_app
from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import base64_encode
from sqlalchemy import Table, insert, literal, select

from shop.clock import utcnow
from shop.extensions import db
from shop.mail.bulk import TRACK
from shop.sending.ledger import insert_ignoring
from shop.sending.models import Delivery, EventKind, MailEvent, RunLink, TrackedLink

SALT = "mail.tracking"
MAX_TOKEN = 80
KEY_LENGTH = 16
KEY = re.compile(r"[0-9a-f]{16}")
# An <a> tag's href, as the CSS inliner writes it (double quotes, entities escaped).
_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.IGNORECASE)
# The site's pages that act on the reader's account or settings: never rewritten, so a
# forwarded copy's click is not counted as the reader's, and the links work unchanged.
UNTRACKED_PATHS = ("/unsubscribe", "/account", "/signin", "/login", "/subscribe/confirm", "/t/")


def enabled() -> bool:
    """Whether messages get tracked links and the open pixel (``MAIL_TRACKING``)."""
    return bool(current_app.config["MAIL_TRACKING"])


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=SALT)


class Tokens:
    """Each delivery's tracking token, signed at little cost: the key is derived once."""

    def __init__(self) -> None:
        signer = _signer()
        self._key = signer.derive_key()
        self._algorithm = signer.algorithm

    def token(self, delivery_id: int) -> str:
        """The delivery's token, the same as ``Signer.sign`` makes (a test checks)."""
        value = b"%d" % delivery_id
        signature = base64_encode(self._algorithm.get_signature(self._key, value))
        return (value + b"." + signature).decode("ascii")


def delivery_of(token: str) -> int | None:
    """The delivery a token was signed for; None for one not made here."""
    if len(token) > MAX_TOKEN:
        return None
    try:
        value = _signer().unsign(token)
    except BadSignature:
        return None
    return int(value) if value.isdigit() else None


def link_key(url: str) -> str:
    """A link's key in its tracked URL: made from the URL alone, so pieces can be cached."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def register_links(run_id: int, urls: Iterable[str]) -> None:
    """Store these links as the run's: the only places its clicks may lead (no commit)."""
    rows = [{"key": link_key(url), "url": url} for url in sorted(set(urls))]
    if not rows:
        return
    # Another worker may add the same link at the same moment: its row is kept.
    db.session.execute(insert_ignoring(TrackedLink, ["key"]), rows)
    found = select(literal(run_id), TrackedLink.id).where(
        TrackedLink.key.in_([row["key"] for row in rows])
    )
    db.session.execute(
        insert_ignoring(RunLink, ["run_id", "link_id"]).from_select(["run_id", "link_id"], found)
    )


def _tracked(url: str, base: str) -> bool:
    """Whether a link is rewritten: web links, but not the reader's own settings pages."""
    if not url.startswith(("https://", "http://")):
        return False  # mailto:, tel:, anchors, and the reader's placeholders
    if url.startswith(base):
        path = url[len(base) :]
        if path.startswith(UNTRACKED_PATHS):
            return False
    return True


def track(html: str, *, pixel: bool = True) -> tuple[str, tuple[str, ...]]:
    """HTML with its links made trackable (and the open pixel); the URLs it tracks.

    The token stays a placeholder, filled in for each delivery when its bytes are made;
    the links are stored when a run first sends them (``register_links``).
    """
    base = current_app.config["SITE_URL"].rstrip("/")
    urls: set[str] = set()

    def rewrite(match: re.Match[str]) -> str:
        url = html_lib.unescape(match.group(2))
        if not _tracked(url, base):
            return match.group(0)
        urls.add(url)
        return f"{match.group(1)}{base}/t/c/{TRACK}/{link_key(url)}{match.group(3)}"

    html = _HREF.sub(rewrite, html)
    if pixel:
        image = (
            f'<img src="{base}/t/o/{TRACK}.gif" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0">'
        )
        end = html.rfind("</body>")
        html = html[:end] + image + html[end:] if end >= 0 else html + image
    return html, tuple(sorted(urls))


def _record(
    kind: EventKind, delivery_id: int, *, link_id: int | None = None, user_id: int | None = None
) -> None:
    """One event row, in one statement: nothing when there is no such delivery (or reader)."""
    found = select(Delivery.id, literal(str(kind)), literal(link_id), literal(utcnow())).where(
        Delivery.id == delivery_id
    )
    if user_id is not None:
        found = found.where(Delivery.user_id == user_id)
    table = cast("Table", MailEvent.__table__)
    db.session.execute(insert(table).from_select(["delivery_id", "kind", "link_id", "at"], found))


def record_open(token: str) -> bool:
    """Count an open of the token's delivery and commit; False for a token not made here."""
    delivery_id = delivery_of(token)
    if delivery_id is None:
        return False
    _record(EventKind.OPEN, delivery_id)
    db.session.commit()
    return True


def click_target(token: str, key: str) -> str | None:
    """Count a click and commit; where it leads, or None unless it is a link of that run."""
    delivery_id = delivery_of(token)
    if delivery_id is None or not KEY.fullmatch(key):
        return None
    found = db.session.execute(
        select(TrackedLink.id, TrackedLink.url)
        .join(RunLink, RunLink.link_id == TrackedLink.id)
        .join(Delivery, Delivery.run_id == RunLink.run_id)
        .where(Delivery.id == delivery_id, TrackedLink.key == key)
    ).first()
    # Only web links are ever stored; checked again so nothing else is ever a target.
    if found is None or not found.url.startswith(("https://", "http://")):
        return None
    _record(EventKind.CLICK, delivery_id, link_id=found.id)
    db.session.commit()
    return str(found.url)


def record_for_reader(kind: EventKind, delivery_id: int, user_id: int) -> None:
    """Count an unsubscribe or complaint against the reader's delivery (no commit)."""
    _record(kind, delivery_id, user_id=user_id)


def record_unsubscribe(token: str | None, user_id: int) -> None:
    """Count an unsubscribe against the delivery whose link was used, if its token is ours."""
    delivery_id = delivery_of(token) if token else None
    if delivery_id is not None:
        _record(EventKind.UNSUBSCRIBE, delivery_id, user_id=user_id)
