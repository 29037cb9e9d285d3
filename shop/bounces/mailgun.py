"""Mailgun's webhook: HMAC-signed ``event-data``, one event a request."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from shop.bounces.services import Report, SignatureError, first_use

# Mailgun's own advice: refuse a signature whose timestamp is older than this.
MAX_AGE_SECONDS = 300


def check_signature(signature: Any, key: str) -> None:
    """Mailgun's HMAC-SHA256 of timestamp + token, fresh and never seen before."""
    if not isinstance(signature, dict):
        raise SignatureError("no signature object")
    timestamp, token, given = (
        str(signature.get(k, "")) for k in ("timestamp", "token", "signature")
    )
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not token or not hmac.compare_digest(expected, given):
        raise SignatureError("signature does not match")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        raise SignatureError("timestamp too old")
    if not first_use("mailgun-token", token, 2 * MAX_AGE_SECONDS):
        raise SignatureError("token already used")


def report(event: Any) -> Report | None:
    """The report one Mailgun ``event-data`` makes, None for an event that stops nothing."""
    if not isinstance(event, dict):
        return None
    email = str(event.get("recipient") or "")
    message = event.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = str(headers.get("message-id") or "") if isinstance(headers, dict) else ""
    name = event.get("event")
    if name == "complained":
        return Report("complaint", email, message_id)
    if name == "failed":
        permanent = event.get("severity") == "permanent"
        return Report("bounce" if permanent else "transient", email, message_id)
    return None
