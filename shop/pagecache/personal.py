"""A logged-in reader's public pages: one shared body, with this reader's parts filled in.

A public page shows a reader two kinds of things: what every reader of their *kind*
sees (the stories, the thread, the paywall or the story's body, the forms they may
use) and what is theirs alone (their name in the header, their cart, a notice, their
forms' CSRF token). The first kind is the *body*: rendered once per kind of reader and
kept (``shop/caching.py``) under the page's address, the generation and the reader's
*variant* (``ReaderCard.variant``). The second kind are *holes* in that body, markers
the page is rendered with (``hole``) and that are filled afresh for every request
(``fill``): the reader's links (``_reader_nav.html``), the cart widget, the notices
(``_flashes.html``) and every ``csrf_token()``.

What the variant must say is everything a public page's body reads of the reader:
logged in or not, an admin, a confirmed address, paid access, a display name, and their
own comments still open to editing (``shop/articles/comments.py``'s edit window). A
view that shows anything else of the reader (a paywall's offers, which depend on the
reader's past trials) calls ``caching.mark_personal()``, and that page is never kept.

The *card* (``ReaderCard``) holds what the variant and the holes need, so that a page
found in the cache costs no statement at all. It is kept under the session's login
(or the cart cookie) and the *reader generation*, which any commit writing a reader's
tables bumps (``caching.READER_TABLES``: logins, accounts, carts, access, comments),
and lives no longer than the first moment it could be wrong by the clock alone (an
edit window or a gift that ends) and, with the in-process cache, ``CARD_MEMORY_TTL``
seconds, since another worker's bump does not reach this one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, get_flashed_messages, request, session
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from shop import caching
from shop.articles.comments import edit_window
from shop.articles.models import Comment
from shop.billing import access
from shop.cart.cookie import CART_COOKIE
from shop.cart.services import CartSummary, is_reader
from shop.cart.views import current_cart_summary
from shop.clock import utcnow
from shop.edge import page_csrf_token
from shop.extensions import db

log = logging.getLogger(__name__)

NAV, CART, FLASHES, CSRF = "reader-nav", "cart", "flashes", caching.CSRF_HOLE
# With PAGE_CACHE=memory a logout or a lapsed plan bumps only the worker that saw it:
# another worker's card of that reader must not outlive this.
CARD_MEMORY_TTL = 10
USER_KEY = "_user_id"


@dataclass(frozen=True)
class CardUser:
    """What the header's links read of ``current_user``, from the card."""

    is_authenticated: bool
    is_admin: bool


@dataclass(frozen=True)
class ReaderCard:
    """A reader as public pages see them: their kind, their header, until when it holds."""

    signed_in: bool = False
    admin: bool = False
    confirmed: bool = False
    paying: bool = False
    named: bool = False
    changeable: tuple[int, ...] = ()
    held: tuple[int, ...] = ()  # their comments awaiting approval, shown to them alone
    cart: CartSummary = field(default_factory=CartSummary)
    until: float = 0.0  # a time.time(): the card is made again from then on
    # The header's links and cart widget as this reader sees them, rendered once with the
    # CSRF hole's marker in place of a token (each request fills its own in).
    nav: bytes = b""
    widget: bytes = b""

    @property
    def variant(self) -> str:
        """The part of a page's key that says which body this reader is shown."""
        if not self.signed_in:
            return "visitor"
        flags = "".join(
            "1" if flag else "0" for flag in (self.admin, self.confirmed, self.paying, self.named)
        )
        editable, held = ".".join(map(str, self.changeable)), ".".join(map(str, self.held))
        return f"reader-{flags}-e{editable}-h{held}"


def card_key() -> str:
    """The card's key: the session's login (or the cart cookie) in the reader generation."""
    if "_reader_card_key" not in g:
        g._reader_card_key = _card_key()
    return str(g._reader_card_key)


def _card_key() -> str:
    who = session.get(USER_KEY) or ""
    cart = request.cookies.get(CART_COOKIE) or ""
    if not who and not cart:
        return ""
    current = caching.generation(caching.READER_GENERATION_KEY)
    prices = caching.generation()
    if not current or not prices:
        return ""
    # The cart's subtotal follows the prices, which bump the page generation.
    revision = session.get(caching.READER_REVISION) or ""
    seed = f"{who}\0{cart}\0{revision}"
    return f"card:{current}:{prices}:{caching.digest(seed)}"


def _own_comments(user: Any) -> tuple[tuple[int, ...], tuple[int, ...], float | None]:
    """The reader's comments that pages show them alone: those still in their edit window
    (the same rule as ``comments.can_change``), those held for approval (``conversation``
    shows a held comment to its author); and when the first edit window closes."""
    window = edit_window()
    since = utcnow() - window
    rows = db.session.execute(
        select(Comment.id, Comment.created_at, Comment.held, Comment.hidden)
        .where(
            Comment.author_id == user.id,
            Comment.deleted_at.is_(None),
            or_(Comment.created_at >= since, Comment.held.is_(True)),
        )
        .order_by(Comment.id)
    ).all()
    editable = [(row.id, row.created_at) for row in rows if row.created_at >= since]
    held = tuple(row.id for row in rows if row.held and not row.hidden)
    if not editable:
        return (), held, None
    closes = min(created + window for _, created in editable)
    return tuple(comment_id for comment_id, _ in editable), held, _timestamp(closes)


def _timestamp(moment: datetime) -> float:
    """A naive UTC datetime (the database's) as a time.time() value."""
    return moment.replace(tzinfo=UTC).timestamp()


def make_card() -> ReaderCard:
    """This request's reader as a card, read from the database (five statements at most)."""
    ttl = int(current_app.config.get("PAGE_CACHE_TTL", 60))
    if current_app.config.get("PAGE_CACHE") == "memory":
        ttl = min(ttl, CARD_MEMORY_TTL)
    until = time.time() + ttl
    cart = current_cart_summary()
    user = current_user._get_current_object()
    if not is_reader(user):
        return ReaderCard(cart=cart, until=until)
    paying = access.has_paid_access(user)
    ends = access.paid_access_ends(user) if paying else None
    if ends is not None:
        until = min(until, _timestamp(ends))
    changeable, held, closes = _own_comments(user)
    if closes is not None:
        until = min(until, closes)
    return ReaderCard(
        signed_in=True,
        admin=bool(user.is_admin),
        confirmed=bool(user.is_confirmed),
        paying=paying,
        named=bool(user.display_name),
        changeable=changeable,
        held=held,
        cart=cart,
        until=until,
    )


def with_header(card: ReaderCard) -> ReaderCard:
    """The card with its header's parts rendered, their CSRF tokens left as holes."""
    env = current_app.jinja_env
    was = g.get(caching.HOLES_FLAG)
    setattr(g, caching.HOLES_FLAG, True)
    try:
        user = CardUser(card.signed_in, card.admin)
        nav = env.get_template("_reader_nav.html").render(current_user=user)
        widget = env.get_template("cart/_cart_widget.html").render(cart=card.cart)
    finally:
        setattr(g, caching.HOLES_FLAG, was)
    return replace(card, nav=nav.encode(), widget=widget.encode())


def reader_card() -> ReaderCard | None:
    """This request's card, from the cache or made now; None when it can't be had."""
    cached = g.get("_reader_card")
    if cached is not None:
        return cached
    key = card_key()
    if not key:
        return None
    found = caching.lookup_value(key)
    if isinstance(found, ReaderCard) and found.until > time.time():
        card = found
    else:
        try:
            card = with_header(make_card())
        except SQLAlchemyError:
            # The page is rendered whole instead, as if no cache were there.
            log.exception("could not read the reader's card")
            db.session.rollback()
            return None
        caching.store(key, card, timeout=max(1, int(card.until - time.time())))
    g._reader_card = card
    return card


def fill(body: bytes, card: ReaderCard) -> bytes:
    """The shared body with this reader's links, cart, notices and CSRF token in its holes.

    Only the holes the body has are filled: a redirect's notices stay for the next page.
    """
    # From here on csrf_token() is this reader's again, not the hole's marker.
    g.pop(caching.HOLES_FLAG, None)
    for name, part in ((NAV, card.nav), (CART, card.widget)):
        body = body.replace(_held(name), part)
    marker = _held(FLASHES)
    if marker in body:
        notices = get_flashed_messages(with_categories=True)
        template = current_app.jinja_env.get_template("_flashes.html")
        body = body.replace(marker, template.render(messages=notices).encode() if notices else b"")
    token = _held(CSRF)
    if token in body:
        body = body.replace(token, page_csrf_token().encode())
    return body


def _held(name: str) -> bytes:
    """A hole as the body's bytes hold it."""
    return caching.hole_text(name).encode()
