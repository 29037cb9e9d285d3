"""Absolute URLs on SITE_URL, for mail, feeds and Stripe, inside a request or not."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def external_url(endpoint: str, **values: object) -> str:
    """An absolute URL for an endpoint, built on ``SITE_URL`` (works outside requests)."""
    base = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)


def is_safe_next(target: str | None) -> bool:
    """Tell whether a ``next`` value stays on this site (a relative path)."""
    if not target:
        return False
    target = target.strip()
    # Browsers treat backslashes like slashes, so "/\evil.com" leaves the site too.
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/")
