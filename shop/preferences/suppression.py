"""Suppressing an address (no more digests) and lifting it: the back office's actions."""

from __future__ import annotations

from shop.accounts.models import User
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.preferences.services import get_preference, is_mailable


class SuppressionError(RuleError):
    """A suppression that cannot be set or lifted, in words for the admin."""


def suppress(user: User) -> DigestPreference:
    """Stop every digest to this address until an admin lifts it."""
    pref = get_preference(user)  # a reader who never chose still gets a row to hold it
    assert pref is not None
    if pref.suppressed_at is not None:
        raise SuppressionError(f"{user.email} is already suppressed.")
    pref.suppressed_at = utcnow()
    db.session.commit()
    return pref


def unsuppress(user: User) -> DigestPreference:
    """Lift a suppression and forget the address's hard bounces."""
    pref = get_preference(user, create=False)
    if pref is None or (pref.suppressed_at is None and pref.hard_bounces == 0):
        raise SuppressionError(f"{user.email} is not suppressed and has no bounces to clear.")
    was_mailable = is_mailable(pref)
    pref.suppressed_at = None
    pref.hard_bounces = 0
    if not was_mailable and is_mailable(pref):
        # As on resubscribing: months of suppression must not come back as months of stories.
        pref.covered_until = utcnow()
    db.session.commit()
    return pref
