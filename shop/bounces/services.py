"""What a provider's bounce or complaint report does: the same as the relay's own 5xx.

A permanent bounce counts against the address exactly as a 5xx from the relay does
(``preferences.mailing.count_hard_bounce``: enough of them suppress it); a complaint
suppresses it at once; a transient bounce changes nothing, since the engine retries.
Every provider's module (mailgun, ses, postmark, sendgrid) turns its own format into
``Report``s; ``apply_each`` acts on them, each event once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr

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

# The user id the sending engine writes into each delivery's Message-ID (mail.bulk).
MESSAGE_ID_USER = re.compile(r"-delivery(\d+)-u(\d+)@")
# Providers retry a failed report for up to a day (SendGrid); an event id is kept longer.
EVENT_MEMORY_SECONDS = 2 * 24 * 3600


class SignatureError(Exception):
    """The report is not signed by the provider, or its signature is stale or replayed."""


@dataclass(frozen=True)
class Report:
    """One event of a provider's report: what happened to which address and message."""

    kind: str  # "bounce", "transient" or "complaint"
    email: str
    message_id: str = ""
    # The provider's own id of the event: a second report with it changes nothing.
    event_id: str = ""


def first_use(namespace: str, key: str, seconds: int) -> bool:
    """Claim ``key`` in the limiter's storage (shared by workers) for a while; False if taken."""
    if not limiter.enabled:
        return True
    item = parse_limit(f"1 per {seconds} seconds")
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    return bool(limiter.limiter.hit(item, prefix, namespace, key))


def _forget(namespace: str, key: str, seconds: int) -> None:
    """Give a claimed key back, so the provider's retry of a failed event is taken."""
    if limiter.enabled:
        prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
        limiter.limiter.clear(parse_limit(f"1 per {seconds} seconds"), prefix, namespace, key)


def _reader(email: str, message_id: str) -> User | None:
    """The reader the report is about: by the delivery's Message-ID, else by address."""
    # Some providers write "Name <address>" where others write the address alone.
    address = parseaddr(email)[1] or email
    match = MESSAGE_ID_USER.search(message_id)
    if match and len(match.group(2)) < 10:
        user = db.session.get(User, int(match.group(2)))
        if user is not None and user.email.lower() == address.lower():
            return user
    return db.session.scalar(select(User).where(func.lower(User.email) == address.lower()))


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


def apply_each(provider: str, reports: Iterable[Report]) -> tuple[list[str], bool]:
    """Apply every report once (by its event id), a failing one never stopping the rest.

    Returns each report's outcome ("duplicate" for an event seen before) and whether one
    failed, in which case the caller answers 500 so that the provider sends them again.
    """
    namespace = f"{provider}-event"
    outcomes: list[str] = []
    failed = False
    for report in reports:
        if report.event_id and not first_use(namespace, report.event_id, EVENT_MEMORY_SECONDS):
            outcomes.append("duplicate")
            continue
        try:
            outcomes.append(apply(report))
        except Exception:
            db.session.rollback()
            if report.event_id:
                _forget(namespace, report.event_id, EVENT_MEMORY_SECONDS)
            log.exception("%s report for %s failed; it will be retried", provider, report.email)
            outcomes.append("failed")
            failed = True
    return outcomes, failed
