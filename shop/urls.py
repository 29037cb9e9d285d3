"""Absolute URLs on SITE_URL, for mail, feeds and Stripe, inside a request or not."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flask import current_app

# Longer than any page of ours; a huge value is an attack or a mistake, not a destination.
MAX_NEXT_LENGTH = 2048
# What browsers remove from a URL before they resolve it (WHATWG URL standard).
_STRIPPED_BY_BROWSERS = re.compile(r"[\t\n\r]")
# A link or an image on this site, as rendered HTML writes it: href="/x", src="/x".
_RELATIVE_LINK = re.compile(r'(href|src)="/(?!/)')


def external_url(endpoint: str, **values: object) -> str:
    """An absolute URL for an endpoint, built on ``SITE_URL`` (works outside requests)."""
    base = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)


def absolute_links(html: str) -> str:
    """Make the site's own links and images absolute: in a mail client "/x" leads nowhere."""
    base = current_app.config["SITE_URL"].rstrip("/")
    return _RELATIVE_LINK.sub(lambda m: f'{m.group(1)}="{base}/', html)


def _stays_on_site(path: str) -> bool:
    """Tell whether a browser would resolve ``path`` against this site's origin."""
    # Browsers drop tabs and newlines and read "\" as "/": "/\t/x" and "/\x" mean "//x".
    cleaned = _STRIPPED_BY_BROWSERS.sub("", path).replace("\\", "/")
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return False
    parts = urlsplit(cleaned)
    return not parts.scheme and not parts.netloc


def is_safe_next(target: str | None) -> bool:
    """Tell whether ``target`` may be written as-is to ``Location``: a path on this site."""
    if not target or len(target) > MAX_NEXT_LENGTH:
        return False
    # Only printable ASCII, no backslash: the header then says exactly what we checked,
    # with nothing a browser or a proxy could reinterpret.
    if any(not 32 < ord(c) < 127 for c in target) or "\\" in target:
        return False
    # Check the value as sent and as a proxy or another redirect may decode it
    # ("/%2F%2Fx" becomes "///x"), until decoding changes nothing.
    value = target
    for _ in range(4):
        if not _stays_on_site(value):
            return False
        decoded = unquote(value)
        if decoded == value:
            return True
        value = decoded
    return False  # still changing after four rounds of decoding: no real page looks so


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (see is_safe_next), else None."""
    return target if is_safe_next(target) else None
