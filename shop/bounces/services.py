"""What a provider's bounce or complaint report does: the same as the relay's own 5xx.

A permanent bounce counts against the address exactly as a 5xx from the relay does
(``preferences.mailing.count_hard_bounce``: enough of them suppress it); a complaint
suppresses it at once; a transient bounce changes nothing, since the engine retries.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from limits import parse as parse_limit
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.clock import utcnow
from shop.extensions import db, limiter
from shop.preferences.mailing import count_hard_bounce
from shop.preferences.services import get_preference
from shop.sending import tracking
from shop.sending.models import EventKind

log = logging.getLogger(__name__)

# Mailgun's own advice: refuse a signature whose timestamp is older than this.
MAX_AGE_SECONDS = 300
# The user id the sending engine writes into each delivery's Message-ID (mail.bulk).
MESSAGE_ID_USER = re.compile(r"-delivery(\d+)-u(\d+)@")


class SignatureError(Exception):
    """The report is not signed by the provider, or its signature is stale or replayed."""


@dataclass(frozen=True)
class Report:
    """One event of a provider's report: what happened to which address and message."""

    kind: str  # "bounce", "transient" or "complaint"
    email: str
    message_id: str = ""


def check_mailgun_signature(signature: Any, key: str) -> None:
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
    if not _first_use(token):
        raise SignatureError("token already used")


def _first_use(token: str) -> bool:
    """Remember the token in the limiter's storage (shared by workers); False if seen."""
    if not limiter.enabled:
        return True
    item = parse_limit(f"1 per {2 * MAX_AGE_SECONDS} seconds")
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    return bool(limiter.limiter.hit(item, prefix, "mailgun-token", token))


def mailgun_report(event: Any) -> Report | None:
    """The report one Mailgun ``event-data`` makes, None for an event that stops nothing."""
    if not isinstance(event, dict):
        return None
    email = str(event.get("recipient") or "")
    headers = (event.get("message") or {}).get("headers") or {}
    message_id = str(headers.get("message-id") or "") if isinstance(headers, dict) else ""
    name = event.get("event")
    if name == "complained":
        return Report("complaint", email, message_id)
    if name == "failed":
        permanent = event.get("severity") == "permanent"
        return Report("bounce" if permanent else "transient", email, message_id)
    return None


def _reader(email: str, message_id: str) -> User | None:
    """The reader the report is about: by the delivery's Message-ID, else by address."""
    match = MESSAGE_ID_USER.search(message_id)
    if match and len(match.group(2)) < 10:
        user = db.session.get(User, int(match.group(2)))
        if user is not None and user.email.lower() == email.lower():
            return user
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def _count_on_run(kind: EventKind, message_id: str, user: User) -> None:
    """Count the report on the run of the delivery its Message-ID names, if it is this reader's."""
    # The delivery is named in the Message-ID (mail.bulk.message_id); a number too long
    # for a row id was not written by us.
    match = MESSAGE_ID_USER.search(message_id)
    if match and len(match.group(1)) < 10:
        tracking.record_for_reader(kind, int(match.group(1)), user.id)


def _record_complaint(message_id: str, user: User) -> None:
    """A reader marked a message as spam: no more mail to the address."""
    _count_on_run(EventKind.COMPLAINT, message_id, user)
    pref = get_preference(user)
    assert pref is not None
    if pref.suppressed_at is None:
        pref.suppressed_at = utcnow()


def apply(report: Report) -> str:
    """Act on one report and commit; what was done, in a word."""
    if report.kind == "transient":
        return "ignored"
    user = _reader(report.email, report.message_id)
    if user is None:
        return "unknown"
    if report.kind == "complaint":
        _record_complaint(report.message_id, user)
    else:
        get_preference(user)  # a reader who never chose still gets a row to count on
        count_hard_bounce(user.id)
        # The relay took it, the receiver bounced it later: the run's page counts it so.
        _count_on_run(EventKind.BOUNCE, report.message_id, user)
    db.session.commit()
    return report.kind
