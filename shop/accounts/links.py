"""Mailed links: single-use, expiring links that sign a reader in, or confirm an
email-only subscription, without a password.

A link is a random token; only its SHA-256 is kept (``MailedLink``). Opening it shows a
page with a button, and only pressing the button uses it up: mail scanners that fetch
every link in a message must not burn it, nor sign anyone in. The page names the address,
so nobody is signed in to an account they did not expect.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, delete, or_, select, update

from shop.accounts.models import LINK_SIGN_IN, LINK_SUBSCRIBE, MailedLink, User
from shop.accounts.services import (
    AccountError,
    check_address,
    find_user_by_email,
    mail_allowed,
    normalise_email,
    send_account_mail,
)
from shop.clock import utcnow
from shop.extensions import db
from shop.urls import external_url, safe_next

WHAT = {LINK_SIGN_IN: "sign-in link", LINK_SUBSCRIBE: "confirmation link"}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in_minutes() -> int:
    """How long a sign-in link works: ``SIGN_IN_LINK_MINUTES`` (15 by default)."""
    return int(current_app.config["SIGN_IN_LINK_MINUTES"])


def issue(
    purpose: str,
    email: str,
    lifetime: timedelta,
    *,
    user: User | None = None,
    next_url: str | None = None,
    topic: str | None = None,
) -> str:
    """Store a new link and return its token (the only copy: it goes into the mail)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        MailedLink(
            token_hash=_hash(token),
            purpose=purpose,
            email=email,
            user_id=user.id if user is not None else None,
            next_url=safe_next(next_url),
            topic=topic,
            expires_at=utcnow() + lifetime,
        )
    )
    db.session.commit()
    return token


def _problem(link: MailedLink | None, purpose: str) -> str | None:
    """Why a link cannot be used, in the reader's words; None when it can."""
    what = WHAT.get(purpose, "link")
    if link is None or link.purpose != purpose:
        return f"This {what} is not valid. Ask for a new one."
    if link.used_at is not None:
        return f"This {what} has already been used. Ask for a new one."
    if link.expires_at <= utcnow():
        return f"This {what} has expired. Ask for a new one."
    return None


def peek(token: str, purpose: str) -> MailedLink:
    """The link a token names, if it can still be used; AccountError saying why not."""
    link = db.session.scalar(select(MailedLink).where(MailedLink.token_hash == _hash(token)))
    problem = _problem(link, purpose)
    if problem:
        raise AccountError(problem)
    assert link is not None  # _problem names a missing link
    return link


def use(token: str, purpose: str) -> MailedLink:
    """Use a link up, once: of two presses at the same moment only one gets it."""
    link = peek(token, purpose)
    result = db.session.execute(
        update(MailedLink)
        .where(
            MailedLink.id == link.id,
            MailedLink.used_at.is_(None),
            MailedLink.expires_at > utcnow(),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    # An UPDATE's result is a CursorResult (with rowcount); Session.execute's type says Result.
    if not cast("CursorResult[Any]", result).rowcount:
        db.session.rollback()
        raise AccountError(_problem(link, purpose) or "This link has already been used.")
    db.session.commit()
    db.session.refresh(link)
    return link


def request_sign_in_link(email: str, next_url: str | None = None) -> str:
    """Mail a sign-in link to an account's address; return the address as normalised.

    An address with no account gets a message saying so, with the way to subscribe: the
    same work either way (one mail), and the same answer on the page, so the form cannot
    tell who has an account here. Past ``SIGN_IN_RATE_LIMIT_ADDRESS`` nothing more is
    mailed to that address, silently.
    """
    email = normalise_email(email)
    check_address(email)
    if not mail_allowed("sign-in", email, "SIGN_IN_RATE_LIMIT_ADDRESS"):
        return email
    user = find_user_by_email(email)
    publication = current_app.config["PUBLICATION_NAME"]
    if user is None:
        send_account_mail(
            email,
            f"Signing in to {publication}",
            "sign_in_unknown",
            subscribe_url=external_url("articles.index") + "#subscribe",
        )
        return email
    mail_sign_in_link(user, next_url)
    return email


def mail_sign_in_link(user: User, next_url: str | None, reason: str = "") -> None:
    """Mail one sign-in link to a reader (``reason`` says why, when they did not ask)."""
    minutes = sign_in_minutes()
    token = issue(
        LINK_SIGN_IN, user.email, timedelta(minutes=minutes), user=user, next_url=next_url
    )
    send_account_mail(
        user.email,
        f"Your sign-in link for {current_app.config['PUBLICATION_NAME']}",
        "sign_in",
        link=external_url("accounts.sign_in_link", token=token),
        minutes=minutes,
        reason=reason,
    )


def sign_in_with(token: str) -> tuple[User, str | None]:
    """Use a sign-in link: the reader it was mailed to, and where to go next.

    Opening the link proves the inbox, so an unconfirmed address becomes confirmed.
    """
    link = use(token, LINK_SIGN_IN)
    user = db.session.get(User, link.user_id) if link.user_id is not None else None
    if user is None or normalise_email(user.email) != normalise_email(link.email):
        # The account's address changed since the link was mailed: it was for the old one.
        raise AccountError("This sign-in link is not valid any more. Ask for a new one.")
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
        db.session.commit()
    return user, safe_next(link.next_url)


# Used or expired links are kept this long (for a support question), then deleted.
KEEP_OLD_LINKS = timedelta(days=30)


def delete_old_links(now: datetime | None = None) -> int:
    """Delete links that ended (used or expired) over a month ago; how many."""
    cutoff = (now or utcnow()) - KEEP_OLD_LINKS
    result = db.session.execute(
        delete(MailedLink).where(or_(MailedLink.expires_at < cutoff, MailedLink.used_at < cutoff))
    )
    db.session.commit()
    return int(cast("CursorResult[Any]", result).rowcount or 0)
