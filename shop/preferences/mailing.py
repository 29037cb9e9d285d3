"""What every mailing to readers shares: who may be mailed, their links, their bounces.

Digests, instant notices and newsletters all go to readers with a preference row;
their content (``shop.sending.content.Content``) takes its links and its bounce
handling from ``ReaderMail`` here.
"""

from __future__ import annotations

from datetime import date

from flask import current_app
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy import ColumnElement, or_, select

from shop.accounts.models import User
from shop.clock import utcnow
from shop.extensions import db
from shop.preferences import tokens
from shop.preferences.models import DigestPreference
from shop.urls import external_url

# Where an unsubscribe link takes the reader's token.
LINK_SLOT = "XXBSTOKENXX"


def reachable() -> tuple[ColumnElement[bool], ...]:
    """Conditions on (preference, user): consented, confirmed, not unsubscribed or bounced."""
    return (
        DigestPreference.unsubscribed_at.is_(None),
        DigestPreference.suppressed_at.is_(None),
        User.confirmed_at.is_not(None),
        User.digest_consent_at.is_not(None),
    )


def not_paused(day: date) -> ColumnElement[bool]:
    """Condition on a preference: no pause covers the publication's local ``day``."""
    return or_(DigestPreference.paused_until.is_(None), DigestPreference.paused_until < day)


class UnsubscribeLinks:
    """The run's one-click unsubscribe links, signed per reader at little cost."""

    def __init__(self) -> None:
        serializer = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=tokens.SALT)
        signer = serializer.make_signer()
        # Derived once: Signer.sign derives the key again for every signature.
        self._key, self._algorithm, self._sep = signer.derive_key(), signer.algorithm, signer.sep
        self._around = external_url("readers.unsubscribe", token=LINK_SLOT).split(LINK_SLOT)

    def url(self, user_id: int) -> str:
        """The reader's unsubscribe URL, the same as ``tokens.unsubscribe_url`` makes."""
        # {"u": id} is too short for the serializer to compress, so this is the payload
        # its dumps() writes; building it directly saves most of the cost (a test
        # checks that the two agree).
        payload = base64_encode(b'{"u":%d}' % user_id)
        signature = base64_encode(self._algorithm.get_signature(self._key, payload))
        return (payload + self._sep + signature).decode("ascii").join(self._around)


def count_hard_bounce(user_id: int) -> None:
    """One more hard bounce for the reader; enough of them suppress the address."""
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user_id))
    if pref is not None:
        pref.hard_bounces += 1
        if pref.hard_bounces >= current_app.config["MAIL_BOUNCE_LIMIT"] and not pref.suppressed_at:
            pref.suppressed_at = utcnow()


class ReaderMail:
    """The part of a run's content every mailing to readers shares: links and bounces."""

    def __init__(self) -> None:
        self.links = UnsubscribeLinks()
        self.preferences_url = external_url("readers.preferences")

    def unsubscribe_url(self, user_id: int) -> str:
        """The reader's one-click unsubscribe link."""
        return self.links.url(user_id)

    def bounced(self, user_id: int) -> None:
        """A hard bounce counts against the reader's address."""
        count_hard_bounce(user_id)
