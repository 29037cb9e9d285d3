"""Subscribing with an email address alone, confirmed by a mailed link (double opt-in),
and following a topic from its page.

The confirmation link makes a member with digest consent and no password (they sign in
by mailed link, and may set a password later); from a tag page, that tag is their topic.
An address that already has an account gets a sign-in link to its preferences instead:
the same work and the same answer, so the box cannot tell who has an account here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.accounts import links
from shop.accounts.models import ROLE_READER, User
from shop.accounts.services import (
    AccountError,
    check_address,
    find_user_by_email,
    mail_allowed,
    normalise_email,
    send_account_mail,
)
from shop.articles.models import Tag
from shop.clock import utcnow
from shop.extensions import db
from shop.preferences import services as preferences
from shop.urls import external_url


class SubscribeError(AccountError):
    """The subscribe box was sent something it cannot use."""


def topic_named(slug: str | None) -> Tag | None:
    """The tag a subscribe box was on; SubscribeError for a slug that names none."""
    if not slug:
        return None
    tag = db.session.scalar(select(Tag).where(Tag.slug == slug))
    if tag is None:
        raise SubscribeError("That topic no longer exists: choose topics after subscribing.")
    return tag


def preferences_path(topic: Tag | None) -> str:
    """Where a subscriber lands: their preferences, with the topic named."""
    path = "/account/preferences"
    return f"{path}?topic={topic.slug}" if topic is not None else path


def request_subscription(email: str, topic_slug: str | None = None) -> str:
    """Mail a confirmation link (or, for an account, a sign-in link); the address as kept."""
    email = normalise_email(email)
    check_address(email)
    topic = topic_named(topic_slug)
    if not mail_allowed("subscribe", email, "REGISTER_RATE_LIMIT_ADDRESS"):
        return email
    publication = current_app.config["PUBLICATION_NAME"]
    user = find_user_by_email(email)
    if user is not None:
        links.mail_sign_in_link(
            user,
            preferences_path(topic),
            reason=(
                f"Someone asked to subscribe this address to {publication}. You already "
                "have an account: this link logs you in to choose your stories."
            ),
        )
        return email
    lifetime = timedelta(seconds=current_app.config["CONFIRM_TOKEN_MAX_AGE"])
    token = links.issue(links.LINK_SUBSCRIBE, email, lifetime, topic=topic.slug if topic else None)
    send_account_mail(
        email,
        f"Confirm your subscription to {publication}",
        "confirm_subscription",
        link=external_url("readers.confirm_subscription", token=token),
        topic=topic.name if topic else None,
        days=max(1, round(lifetime / timedelta(days=1))),
    )
    return email


def pending_subscription(token: str) -> tuple[str, Tag | None]:
    """The address and topic a confirmation link is for, if it still works."""
    link = links.peek(token, links.LINK_SUBSCRIBE)
    return link.email, _topic_or_none(link.topic)


def _topic_or_none(slug: str | None) -> Tag | None:
    return db.session.scalar(select(Tag).where(Tag.slug == slug)) if slug else None


@dataclass(frozen=True)
class Confirmed:
    """A used confirmation link: the member, whether they were made just now, the topic."""

    user: User
    new: bool
    topic: Tag | None

    @property
    def landing(self) -> str:
        """Their preferences; a member who was there before sees the topic picked."""
        return preferences_path(None if self.new else self.topic)


def confirm_subscription(token: str) -> Confirmed:
    """Use a confirmation link: make the member (or find the account made meanwhile)."""
    link = links.use(token, links.LINK_SUBSCRIBE)
    topic = _topic_or_none(link.topic)
    user = find_user_by_email(link.email)
    if user is None:
        user = User(email=link.email, role=ROLE_READER, confirmed_at=utcnow())
        user.clear_password()
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:
            # The address registered while the link waited: that account is theirs.
            db.session.rollback()
            user = find_user_by_email(link.email)
            if user is None:
                raise
        else:
            preferences.start_subscription(user, topic)
            db.session.commit()
            return Confirmed(user, True, topic)
    # An account already had the address (made meanwhile): the link proves the inbox.
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
    db.session.commit()
    return Confirmed(user, False, topic)


def follow(user: User, slug: str) -> tuple[Tag, preferences.FollowOutcome]:
    """Follow a topic from its page; SubscribeError for one that does not exist."""
    tag = topic_named(slug)
    if tag is None:
        raise SubscribeError("That topic no longer exists.")
    return tag, preferences.follow_topic(user, tag)
