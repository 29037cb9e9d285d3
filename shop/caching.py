"""The rendered-page cache for anonymous readers, and the generation that empties it.

Flask-Caching holds the pages: in this process (``PAGE_CACHE=memory``, the default), in
Redis (``PAGE_CACHE=redis``, shared by every worker and machine) or nowhere (``off``).
Every key starts with the current *generation*, a number kept in the same cache; any
change to what a public page shows bumps it, so every page made before is never read
again (and falls out at its TTL). Nothing has to know which pages a change touched.

Who bumps: a commit that wrote a row of a table a public page shows (``PAGE_TABLES``:
articles and their tags, comments, the catalogue, pictures) bumps it by itself, through
a SQLAlchemy session event, so no service can forget; the tick bumps it when a scheduled
article has gone live (``bump()`` may be called from any floor). With the in-process
cache, a bump reaches only the process that made the change: another gunicorn worker
serves its own copy until ``PAGE_CACHE_TTL`` runs out (docs/architecture.md).

This module decides nothing about who may be served a cached page: the edge does
(``shop/pagecache.py``). A cache that fails (Redis away) is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, has_app_context, has_request_context
from flask import session as flask_session
from flask_caching import Cache
from markupsafe import Markup
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from shop.config import ConfigError

log = logging.getLogger(__name__)

cache = Cache()

MODES = ("off", "memory", "redis")
BACKENDS = {"off": "NullCache", "memory": "SimpleCache", "redis": "RedisCache"}
GENERATION_KEY = "generation"
# The tables whose rows public pages show: a commit that writes one of them bumps the
# generation. tests/http/test_page_cache.py checks that each still exists.
PAGE_TABLES = frozenset(
    {"articles", "article_tags", "tags", "comments", "products", "prices", "images"}
)
# The tables whose rows a reader's card holds (shop/pagecache/personal.py): who is logged
# in, with which login, what they may read, their cart, their own recent comments.
READER_TABLES = frozenset(
    {
        "users",
        "login_sessions",
        "carts",
        "cart_items",
        "subscriptions",
        "payments",
        "gifts",
        "complimentary_access",
        "comments",
        "prices",
    }
)
READER_GENERATION_KEY = "reader-generation"
# In the session: changed by every request of this reader that writes a reader's table, so
# that their own change (a cart, a comment, a login) shows on the next page whichever
# worker answers it, though the in-process cache of another worker never saw the bump.
READER_REVISION = "_reader_rev"
_SESSION_TABLES = "page_cache_tables"
# Set on g while a public page renders as a shared body: the reader's parts become holes.
HOLES_FLAG = "_page_holes"
CSRF_HOLE = "csrf"
PERSONAL_FLAG = "_page_personal"


@dataclass(frozen=True)
class CachedPage:
    """One rendered page as it was sent: its body, type, ETag and Last-Modified (a timestamp)."""

    body: bytes
    content_type: str
    etag: str
    made_at: float
    headers: tuple[tuple[str, str], ...] = ()


def settings(app: Flask) -> dict[str, Any]:
    """Flask-Caching's settings for ``PAGE_CACHE``; a clear error for a bad mode."""
    mode = str(app.config.get("PAGE_CACHE") or "memory").strip().lower()
    if mode not in MODES:
        raise ConfigError(f"PAGE_CACHE must be one of {', '.join(MODES)}, not {mode!r}.")
    app.config["PAGE_CACHE"] = mode
    ttl = int(app.config.get("PAGE_CACHE_TTL", 60))
    if ttl < 1:
        raise ConfigError("PAGE_CACHE_TTL must be a whole number of seconds, at least 1.")
    entries = int(app.config.get("PAGE_CACHE_ENTRIES", 2000))
    if entries < 1:
        raise ConfigError("PAGE_CACHE_ENTRIES must be a whole number, at least 1.")
    options: dict[str, Any] = {
        "CACHE_TYPE": BACKENDS[mode],
        "CACHE_DEFAULT_TIMEOUT": ttl,
        "CACHE_KEY_PREFIX": app.config.get("PAGE_CACHE_PREFIX") or "broadsheet:page:",
        "CACHE_THRESHOLD": entries,
        # "off" is a choice, not a mistake to warn of.
        "CACHE_NO_NULL_WARNING": True,
    }
    if mode == "redis":
        url = app.config.get("PAGE_CACHE_REDIS_URL") or ""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                "PAGE_CACHE=redis needs PAGE_CACHE_REDIS_URL, e.g. redis://127.0.0.1:6379/1."
            )
        timeout = app.config.get("HEALTH_CHECK_TIMEOUT", 2)
        options["CACHE_REDIS_URL"] = url
        # A Redis that hangs would hang every public page: fail fast, serve uncached.
        options["CACHE_OPTIONS"] = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    return options


def init_app(app: Flask) -> None:
    """Bind the page cache to this app, and watch commits for changes to public pages."""
    cache.init_app(app, config=settings(app))
    if not event.contains(Session, "after_flush", _note_tables):
        event.listen(Session, "after_flush", _note_tables)
        event.listen(Session, "do_orm_execute", _note_statement_tables)
        event.listen(Session, "after_commit", _bump_after_commit)
        event.listen(Session, "after_rollback", _forget_tables)


def enabled() -> bool:
    """Whether pages are kept at all (``PAGE_CACHE`` is not ``off``)."""
    return has_app_context() and current_app.config.get("PAGE_CACHE", "off") != "off"


def generation(name: str = GENERATION_KEY) -> str:
    """The current generation: a random token, made afresh when none is stored."""
    # Random, not a counter: a generation evicted or lost (a pruned memory cache, a
    # restarted Redis) becomes a new one, so no page of an older generation is read again.
    try:
        current = cache.get(name)
        if current is None:
            # add() stores only if absent (SET NX in Redis): two workers agree on one.
            cache.add(name, secrets.token_hex(8), timeout=0)
            current = cache.get(name)
    except Exception:  # noqa: BLE001  (a cache that fails is a miss)
        log.warning("page cache unavailable", exc_info=True)
        return ""
    return str(current or "")


def bump(name: str = GENERATION_KEY) -> None:
    """Make every page cached so far stale: call after a change a public page shows."""
    if not enabled():
        return
    try:
        cache.set(name, secrets.token_hex(8), timeout=0)
    except Exception:  # noqa: BLE001
        log.warning("page cache unavailable: pages live until their TTL", exc_info=True)


def bump_readers() -> None:
    """Make every reader's card stale: call after a change to who may read or buy what."""
    bump(READER_GENERATION_KEY)


def mark_personal() -> None:
    """Say that the page being rendered shows what only this reader sees: never share it."""
    if has_request_context():
        g.setdefault(PERSONAL_FLAG, True)


def holes_on() -> bool:
    """Whether the page being rendered is a shared body with holes for the reader's parts."""
    return has_request_context() and bool(g.get(HOLES_FLAG))


def hole_marker(name: str) -> str:
    """The marker a hole is rendered as: secret to this site, so no content can forge one."""
    markers: dict[str, str] = current_app.extensions.setdefault("page_holes", {})
    marker = markers.get(name)
    if marker is None:
        secret = str(current_app.config["SECRET_KEY"]).encode()
        tag = hmac.new(secret, f"page hole {name}".encode(), hashlib.sha256).hexdigest()[:20]
        # Letters and digits only: the CSRF hole sits inside an attribute's quotes.
        marker = markers[name] = f"hole{tag}{name.replace('-', '')}"
    return marker


def hole_text(name: str) -> str:
    """A hole as a shared body holds it: a comment, or bare for the CSRF token."""
    marker = hole_marker(name)
    return marker if name == CSRF_HOLE else f"<!--{marker}-->"


def hole(name: str) -> Markup | None:
    """In a shared body, this hole as ``hole_text``; None while a page renders whole."""
    if not holes_on():
        return None
    # Letters and digits of our own making: nothing to escape.
    return Markup(hole_text(name))  # noqa: S704


def digest(text: str) -> str:
    """A short fixed-size name for text of any length (an address, a login) in a key."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def page_key(url: str) -> str:
    """The key of a page's address in the current generation ("" when the cache is away)."""
    current = generation()
    if not current:
        return ""
    return f"{current}:{digest(url)}"


def lookup(key: str) -> CachedPage | None:
    """The cached page under ``key``, or None."""
    if not key or not enabled():
        return None
    try:
        found = cache.get(key)
    except Exception:  # noqa: BLE001
        log.warning("page cache unavailable", exc_info=True)
        return None
    return found if isinstance(found, CachedPage) else None


def lookup_value(key: str) -> Any:
    """Whatever is kept under ``key`` (a reader's card), or None."""
    if not key or not enabled():
        return None
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001
        log.warning("page cache unavailable", exc_info=True)
        return None


def store(key: str, page: Any, timeout: int | None = None) -> None:
    """Keep a page (or a reader's card) for ``timeout`` or ``PAGE_CACHE_TTL`` seconds."""
    if not key or not enabled():
        return
    try:
        cache.set(key, page, timeout=timeout)
    except Exception:  # noqa: BLE001
        log.warning("page cache unavailable", exc_info=True)


def clear() -> None:
    """Forget every page and the generation (tests, and `flask` shells)."""
    try:
        cache.clear()
    except Exception:  # noqa: BLE001
        log.warning("page cache unavailable", exc_info=True)


def _note_tables(session: Session, flush_context: object) -> None:
    """Remember which tables this transaction wrote (the lists still hold the flush's rows)."""
    tables: set[str] = session.info.setdefault(_SESSION_TABLES, set())
    # One look per class, not per row: a digest run flushes hundreds of deliveries at once.
    kinds = {type(obj) for obj in (*session.new, *session.deleted)}
    # An article whose tags changed is itself modified: its table is noted.
    kinds.update(type(obj) for obj in session.dirty if session.is_modified(obj))
    for kind in kinds:
        tables.update(table.name for table in inspect(kind).tables)


def _note_statement_tables(state: ORMExecuteState) -> None:
    """Remember the table of an INSERT, UPDATE or DELETE statement run through the session.

    Statements such as ``delete(LoginSession)`` or ``update(Article)`` change rows without
    the session's lists knowing of them; they must empty the caches all the same.
    """
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name:
        state.session.info.setdefault(_SESSION_TABLES, set()).add(name)


def _bump_after_commit(session: Session) -> None:
    tables = session.info.pop(_SESSION_TABLES, set())
    if tables & PAGE_TABLES:
        bump()
    if tables & READER_TABLES:
        bump_readers()
        if has_request_context():
            flask_session[READER_REVISION] = secrets.token_hex(4)


def _forget_tables(session: Session) -> None:
    session.info.pop(_SESSION_TABLES, None)
