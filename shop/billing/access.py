"""Who may read what: the paywall's one rule."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from shop.billing.models import ACCESS_STATUSES, Subscription
from shop.clock import utcnow
from shop.extensions import db


def paying_clause():
    """SQL condition: a subscription that gives paid access now (past due within grace)."""
    grace = timedelta(days=current_app.config["PAYWALL_GRACE_DAYS"])
    return or_(
        Subscription.status.in_(ACCESS_STATUSES),
        and_(
            Subscription.status == "past_due",
            Subscription.current_period_end >= utcnow() - grace,
        ),
    )


def has_paid_access(user) -> bool:
    """Whether the reader's subscription is active, trialing, or past due within grace."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    query = select(Subscription.id).where(Subscription.user_id == user.id, paying_clause())
    return db.session.scalar(query.limit(1)) is not None


def can_read(user, access: str) -> bool:
    """Whether the reader may read an article with this access level in full."""
    if access == "public":
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_admin", False):
        return True
    if access == "members":
        # One rule for both walls: a payer reads everything a member may, confirmed or not.
        return bool(user.is_confirmed) or has_paid_access(user)
    return has_paid_access(user)


def paying_users_select():
    """A SELECT of the ids of readers with paid access now, to use inside other queries."""
    return select(Subscription.user_id).where(paying_clause())


def paying_user_ids() -> set[int]:
    """Every reader with paid access now, in one query (for sending to many at once)."""
    return set(db.session.scalars(paying_users_select()))
