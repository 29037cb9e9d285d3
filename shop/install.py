"""This installation's id: what keeps keys and Message-IDs apart across installs and restores."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from flask import current_app


def install_id() -> str:
    """A short id for this installation: ``INSTALL_ID``, or derived from ``SECRET_KEY``."""
    configured = current_app.config.get("INSTALL_ID")
    if configured:
        return str(configured)
    # Every machine of one install shares SECRET_KEY, so they agree on the id without
    # storing it; two installs have different keys, so their ids differ.
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"broadsheet install id", hashlib.sha256).hexdigest()[:12]


def row_stamp(created_at: datetime | None) -> str:
    """A row's creation time in microseconds, base 36: tells a restored row id's reuse apart."""
    # After a database restore, new rows reuse ids that were already sent to Stripe or
    # to mail servers; the creation time of the new row differs from the lost one's.
    if created_at is None:
        return "0"
    if created_at.tzinfo is None:
        # Columns store naive UTC (shop/timeutil.py); read them as UTC, never as local time,
        # so machines in other time zones compute the same stamp.
        created_at = created_at.replace(tzinfo=UTC)
    micros = int(created_at.timestamp() * 1_000_000)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while micros:
        micros, rem = divmod(micros, 36)
        out = digits[rem] + out
    return out or "0"


def scoped_key(kind: str, row_id: int, created_at: datetime | None, *parts: object) -> str:
    """An idempotency key or id unique to this install, this row and its creation time."""
    tail = "".join(f"-{part}" for part in parts)
    return f"{install_id()}-{kind}-{row_id}-{row_stamp(created_at)}{tail}"
