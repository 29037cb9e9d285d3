"""Digest preference rules: consent, tags, frequency, pause, unsubscribe and resubscribe."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, overload
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.articles.models import Tag
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.preferences.models import DEFAULT_FREQUENCY, DigestPreference, Frequency
from shop.preferences.tokens import TokenError, user_id_from_token
from shop.sending import tracking

log = logging.getLogger(__name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NOT_VALID = "This unsubscribe link is not valid."


class PreferenceError(RuleError):
    """A digest preference rule was broken."""


@dataclass
class PreferenceInput:
    """What the preferences form sends, as plain values."""

    frequency: str
    weekday: int
    # Everything (True) or only the chosen tags (False); None when neither was chosen.
    follow_all: bool | None
    tag_ids: list[int] = field(default_factory=list)
    paused_until: date | None = None


def local_today() -> date:
    """Today's date where the publication is (PUBLICATION_TIMEZONE)."""
    return datetime.now(ZoneInfo(current_app.config["PUBLICATION_TIMEZONE"])).date()


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _find(user: User) -> DigestPreference | None:
    return db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user.id))


def _consented_frequency(user: User) -> str:
    """The frequency a consenting reader chose at registration, or the default."""
    return user.digest_frequency or DEFAULT_FREQUENCY


def _find_or_add(user: User) -> DigestPreference:
    """The reader's preference row, inserted (not committed) on first need."""
    pref = _find(user)
    if pref is not None:
        return pref
    pref = DigestPreference(
        user=user,
        frequency=_consented_frequency(user) if user.digest_consent_at else Frequency.OFF,
        follow_all=True,
        covered_until=utcnow(),
    )
    db.session.add(pref)
    try:
        db.session.flush()
    except IntegrityError:
        # Another request (a mail client's double one-click POST) inserted it first.
        db.session.rollback()
        pref = _find(user)
        if pref is None:
            raise
    return pref


# Created on need, the preference is always there; told not to create it, it may not be.
@overload
def get_preference(user: User, create: Literal[True] = True) -> DigestPreference: ...
@overload
def get_preference(user: User, create: bool) -> DigestPreference | None: ...
def get_preference(user: User, create: bool = True) -> DigestPreference | None:
    """The reader's digest preference; created from their consent on first need."""
    pref = _find(user)
    if pref is None and create:
        pref = _find_or_add(user)
        db.session.commit()
    return pref


def create_missing_preferences() -> int:
    """Give every consenting reader without a preference row one; return how many were made.

    Registration stores consent on the user (accounts cannot import this floor), and the
    digest selection joins on preference rows: without this, a reader who opted in but never
    opened their preferences would get nothing. Their digest covers stories from consenting on.
    """
    for _ in range(2):  # a second pass, should a reader's own request insert theirs meanwhile
        missing = list(
            db.session.scalars(
                select(User).where(
                    User.digest_consent_at.is_not(None),
                    ~exists().where(DigestPreference.user_id == User.id),
                )
            )
        )
        for user in missing:
            db.session.add(
                DigestPreference(
                    user=user,
                    frequency=_consented_frequency(user),
                    follow_all=True,
                    covered_until=user.digest_consent_at,
                )
            )
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            continue
        return len(missing)
    return 0


def is_mailable(pref: DigestPreference) -> bool:
    """Whether digests may go to this reader at all (pauses aside)."""
    user = pref.user
    return (
        user.is_confirmed
        and user.digest_consent_at is not None
        and pref.unsubscribed_at is None
        and pref.suppressed_at is None
        and pref.frequency != Frequency.OFF
    )


def is_paused(pref: DigestPreference, local_date: date) -> bool:
    """Whether the reader paused digests up to and including ``local_date``."""
    return pref.paused_until is not None and local_date <= pref.paused_until


def _give_consent(user: User, pref: DigestPreference) -> None:
    """Record consent once, and resubscribe; a fresh start covers no older stories."""
    now = utcnow()
    was_mailable = is_mailable(pref)
    if user.digest_consent_at is None:
        user.digest_consent_at = now
    if pref.unsubscribed_at is not None:
        log.info("Reader %s resubscribed to digests", user.id)
        pref.unsubscribed_at = None
    if not was_mailable:
        # Coming back after a pause of months must not mail months of stories.
        pref.covered_until = now


def _require_confirmed(user: User) -> None:
    if not user.is_confirmed:
        raise PreferenceError("Confirm your email address before choosing your digests.")


def _check(data: PreferenceInput) -> list[Tag]:
    """Apply the rules to the form's values; return the chosen tags."""
    if data.frequency not in tuple(Frequency):
        raise PreferenceError("Choose how often you want the digest.", "frequency")
    if not isinstance(data.weekday, int) or not 0 <= data.weekday <= 6:
        raise PreferenceError("Choose a day of the week.", "weekday")
    if data.paused_until is not None:
        today = local_today()
        if data.paused_until < today:
            raise PreferenceError("Choose today or a later date to pause until.", "paused_until")
        if data.paused_until > _one_year_after(today):
            raise PreferenceError("You can pause for at most a year.", "paused_until")
    wanted = set(data.tag_ids)
    tags = list(db.session.scalars(select(Tag).where(Tag.id.in_(wanted)))) if wanted else []
    if len(tags) != len(wanted):
        raise PreferenceError("One of those topics no longer exists. Choose again.", "tag_ids")
    if data.follow_all is None:
        raise PreferenceError("Choose everything, or only the topics you tick.", "stories")
    if not data.follow_all and not tags:
        raise PreferenceError("Choose at least one tag, or follow everything.", "tag_ids")
    return tags


def save_preferences(user: User, data: PreferenceInput) -> DigestPreference:
    """Store a confirmed reader's choices; any frequency but "off" gives consent."""
    _require_confirmed(user)
    tags = _check(data)
    pref = _find_or_add(user)
    if data.frequency != Frequency.OFF:
        _give_consent(user, pref)
    # "Off" keeps the consent on record and simply sends nothing.
    pref.frequency = data.frequency
    pref.weekday = data.weekday
    pref.follow_all = bool(data.follow_all)
    # Ticked topics are kept even under "everything", so choosing "only the topics I
    # tick" again brings them back.
    pref.tags = tags
    pref.paused_until = data.paused_until
    db.session.commit()
    return pref


def record_consent_at_registration(
    user: User, consent: bool, frequency: str = DEFAULT_FREQUENCY
) -> DigestPreference:
    """Store the digest consent given (or not) when the account was made."""
    if consent:
        if frequency not in tuple(Frequency) or frequency == Frequency.OFF:
            raise PreferenceError("Choose how often you want the digest.", "digest_frequency")
        if user.digest_consent_at is None:
            user.digest_consent_at = utcnow()
        user.digest_frequency = frequency
    pref = _find_or_add(user)
    if consent:
        pref.frequency = frequency
        pref.covered_until = utcnow()
    db.session.commit()
    return pref


def user_for_token(token: str) -> User:
    """The reader an unsubscribe token names; TokenError if it is bad or they are gone."""
    user = db.session.get(User, user_id_from_token(token))
    if user is None:
        raise TokenError(NOT_VALID)
    return user


def unsubscribe(user_id: int, mail_token: str | None = None) -> User:
    """Stop all digests to a reader at once; doing it again changes nothing.

    ``mail_token`` is the tracking token of the message whose link was used: the
    unsubscribe is counted on that message's run.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise TokenError(NOT_VALID)
    pref = _find_or_add(user)
    if pref.unsubscribed_at is None:
        pref.unsubscribed_at = utcnow()
        log.info("Reader %s unsubscribed from digests", user.id)
        tracking.record_unsubscribe(mail_token, user.id)
    db.session.commit()
    return user


def resubscribe(user: User) -> DigestPreference:
    """Undo an unsubscribe; a reader whose frequency was "off" gets their chosen one."""
    _require_confirmed(user)
    pref = _find_or_add(user)
    _give_consent(user, pref)
    if pref.frequency == Frequency.OFF:
        pref.frequency = _consented_frequency(user)
    db.session.commit()
    return pref


def start_subscription(user: User, topic: Tag | None) -> DigestPreference:
    """A new member who subscribed by email alone: consent, and the stories they asked for.

    From a tag page that tag only, otherwise everything, at the default frequency; the
    preferences page they land on says so and changes it. The caller commits.
    """
    pref = _find_or_add(user)
    _give_consent(user, pref)
    if pref.frequency == Frequency.OFF:
        pref.frequency = _consented_frequency(user)
    pref.follow_all = topic is None
    pref.tags = [topic] if topic is not None else []
    return pref


@dataclass(frozen=True)
class FollowOutcome:
    """What following a topic did, in the reader's words."""

    changed: bool
    message: str
    # Whether the reader must change something in their preferences for it to count.
    see_preferences: bool = False


def follow_topic(user: User, tag: Tag) -> FollowOutcome:
    """Add a topic to a member's digest, never turning "everything" or "off" into something
    else behind their back: those cases send them to choose, the topic ticked for them."""
    _require_confirmed(user)
    pref = _find_or_add(user)
    db.session.commit()
    if not is_mailable(pref):
        return FollowOutcome(
            False,
            f"Your digest is off, so following {tag.name} sends you nothing yet. We ticked it "
            "below: choose how often you want the digest, then save.",
            see_preferences=True,
        )
    if pref.follow_all:
        return FollowOutcome(
            False,
            f"Your digest already has every topic, {tag.name} among them. To get only some "
            "topics, choose them below.",
            see_preferences=True,
        )
    if tag in pref.tags:
        return FollowOutcome(False, f"You already follow {tag.name}.")
    pref.tags.append(tag)
    db.session.commit()
    return FollowOutcome(True, f"You follow {tag.name} now: its stories join your digest.")
