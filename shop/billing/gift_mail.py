"""A gift's mail and its days: mailed on its date (or again from the back office),
a reminder a week before it ends, expiry when it was never redeemed.

Buying, paying for and redeeming a gift are ``gifts.py``'s; the tick calls these.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update

from shop.accounts.models import User
from shop.billing.gifts import (
    REDEEM_DAYS,
    GiftError,
    current_gift_end,
    has_subscription,
    local_today,
    period_words,
    token_hash,
)
from shop.billing.models import Gift, GiftStatus
from shop.clock import utcnow
from shop.extensions import db
from shop.mail import MailUnavailableError, send_email
from shop.urls import external_url

log = logging.getLogger(__name__)

# The recipient is reminded this long before their gift ends.
REMINDER_BEFORE = timedelta(days=7)


def mail_gift(gift: Gift) -> bool:
    """Mail the recipient a new redeem link, replacing any earlier one (False: refused)."""
    token = secrets.token_urlsafe(32)
    gift.token_hash = token_hash(token)
    return send_email(
        gift.recipient_email,
        f"{gift.giver_name} gave you {period_words(gift.months)} of "
        f"{current_app.config['PUBLICATION_NAME']}",
        "gift",
        gift=gift,
        buyer=gift.giver_name,
        period=period_words(gift.months),
        link=external_url("billing.gift_redeem", token=token),
        redeem_days=REDEEM_DAYS,
    )


def send_due_gifts(today: date | None = None) -> int:
    """Mail every paid gift whose day has come; how many went. One that cannot go now
    (the relay is down, the address refused) waits for the next tick; the others go."""
    today = today or local_today()
    due = db.session.scalars(
        select(Gift.id).where(Gift.status == GiftStatus.SCHEDULED, Gift.send_on <= today)
    ).all()
    sent = 0
    for gift_id in due:
        gift = db.session.get(Gift, gift_id)
        if gift is None:
            continue
        try:
            delivered = mail_gift(gift)
        except MailUnavailableError:
            db.session.rollback()
            log.warning("Gift %s could not be mailed now; next tick", gift_id)
            continue
        if not delivered:
            # The address refuses mail for good: the gift waits, flagged in the back
            # office, where its giver's order can be refunded or the mail sent again.
            db.session.rollback()
            continue
        gift.status = GiftStatus.SENT
        gift.sent_at = utcnow()
        db.session.commit()
        sent += 1
    return sent


def send_reminders(now: datetime | None = None) -> int:
    """Tell readers whose gift ends within a week how to keep reading; once each."""
    now = now or utcnow()
    due = db.session.scalars(
        select(Gift).where(
            Gift.status == GiftStatus.REDEEMED,
            Gift.reminder_sent_at.is_(None),
            Gift.access_until > now,
            Gift.access_until <= now + REMINDER_BEFORE,
        )
    ).all()
    sent = 0
    for gift in due:
        reader = db.session.get(User, gift.redeemed_by_id) if gift.redeemed_by_id else None
        ends = gift.access_until
        if reader is None or ends is None:
            continue
        if (current_gift_end(reader) or now) > ends or has_subscription(reader):
            continue  # a later gift follows this one, or they subscribed: nothing to remind
        try:
            send_email(
                reader.email,
                f"Your gift of {current_app.config['PUBLICATION_NAME']} ends soon",
                "gift_ending",
                gift=gift,
                buyer=gift.giver_name,
                ends=gift.access_until,
                shop_url=external_url("catalogue.catalogue"),
            )
        except MailUnavailableError:
            db.session.rollback()
            continue
        gift.reminder_sent_at = now
        db.session.commit()
        sent += 1
    return sent


def expire_unredeemed(now: datetime | None = None) -> int:
    """Sent gifts never redeemed within a year expire; how many."""
    now = now or utcnow()
    result = db.session.execute(
        update(Gift)
        .where(Gift.status == GiftStatus.SENT, Gift.sent_at < now - timedelta(days=REDEEM_DAYS))
        .values(status=GiftStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def resend(gift_id: int) -> Gift:
    """Mail a sent gift's recipient a new link (the old one stops working)."""
    gift = db.session.get(Gift, gift_id)
    if gift is None:
        raise GiftError("There is no such gift.")
    if gift.status != GiftStatus.SENT:
        raise GiftError(
            f"Only a sent, unredeemed gift can be sent again; this one is {gift.status}."
        )
    try:
        delivered = mail_gift(gift)
    except MailUnavailableError as exc:
        db.session.rollback()
        raise GiftError(str(exc)) from exc
    if not delivered:
        db.session.rollback()
        raise GiftError(f"{gift.recipient_email} refuses mail: nothing was sent.")
    gift.sent_at = utcnow()
    db.session.commit()
    return gift
