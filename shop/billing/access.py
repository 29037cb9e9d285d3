"""Who may read what: the paywall's one rule."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from shop.billing.models import ACCESS_STATUSES, Subscription
from shop.extensions import db
from shop.timeutil import utcnow


def has_paid_access(user) -> bool:
    """Whether the reader's subscription is active, trialing, or past due within grace."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    subs = db.session.scalars(select(Subscription).where(Subscription.user_id == user.id)).all()
    grace = timedelta(days=current_app.config["PAYWALL_GRACE_DAYS"])
    now = utcnow()
    for sub in subs:
        if sub.status in ACCESS_STATUSES:
            return True
        if (
            sub.status == "past_due"
            and sub.current_period_end is not None
            and now <= sub.current_period_end + grace
        ):
            return True
    return False


def can_read(user, access: str) -> bool:
    """Whether the reader may read an article with this access level in full."""
    if access == "public":
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_admin", False):
        return True
    if access == "members":
        return bool(user.is_confirmed)
    return has_paid_access(user)


def paying_user_ids() -> set[int]:
    """Every reader with paid access now, in one query (for sending to many at once)."""
    grace = timedelta(days=current_app.config["PAYWALL_GRACE_DAYS"])
    now = utcnow()
    rows = db.session.scalars(
        select(Subscription.user_id).where(
            or_(
                Subscription.status.in_(ACCESS_STATUSES),
                and_(
                    Subscription.status == "past_due",
                    Subscription.current_period_end >= now - grace,
                ),
            )
        )
    )
    return set(rows)
