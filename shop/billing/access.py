"""Who may read what: the paywall's one rule."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, literal, or_, select, union, union_all

from shop.accounts.models import User
from shop.billing.models import (
    ACCESS_STATUSES,
    ComplimentaryAccess,
    Gift,
    Payment,
    Subscription,
)
from shop.clock import utcnow
from shop.extensions import db


def paying_clause():
    """SQL condition: a subscription that gives paid access now (past due within grace).

    The grace is for readers who have paid: a subscription past due because its free
    trial ended and the first payment failed was never paid for, so it gives none (Stripe
    has already moved its period on past the trial, so the period's end says nothing).
    """
    grace = timedelta(days=current_app.config["PAYWALL_GRACE_DAYS"])
    paid_before = exists().where(Payment.subscription_id == Subscription.id, Payment.amount > 0)
    return or_(
        Subscription.status.in_(ACCESS_STATUSES),
        and_(
            Subscription.status == "past_due",
            Subscription.current_period_end >= utcnow() - grace,
            or_(Subscription.trial_end.is_(None), paid_before),
        ),
    )


def gift_clause():
    """SQL condition: a redeemed gift that gives access now."""
    return and_(Gift.redeemed_by_id.is_not(None), Gift.access_until > utcnow())


def complimentary_clause():
    """SQL condition: complimentary access that runs now (no end date: for good)."""
    return or_(ComplimentaryAccess.until.is_(None), ComplimentaryAccess.until > utcnow())


def has_paid_access(user) -> bool:
    """Whether the reader's subscription is active, trialing, or (once paid) past due within
    grace, or a gift they redeemed still runs."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    # One query, asked on every paid story a reader opens.
    paying = exists().where(Subscription.user_id == user.id, paying_clause())
    gifted = exists().where(Gift.redeemed_by_id == user.id, gift_clause())
    comped = exists().where(ComplimentaryAccess.user_id == user.id, complimentary_clause())
    return bool(db.session.scalar(select(or_(paying, gifted, comped))))


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


def paid_access_ends(user) -> datetime | None:
    """When the first of the reader's access by the clock lapses, unless a webhook comes first:
    a gift's or complimentary access's end, a past-due subscription's grace. None: no such end.
    """
    grace = timedelta(days=current_app.config["PAYWALL_GRACE_DAYS"])
    moments = union_all(
        select(Gift.access_until.label("moment"), literal(False).label("overdue")).where(
            Gift.redeemed_by_id == user.id
        ),
        select(ComplimentaryAccess.until, literal(False)).where(
            ComplimentaryAccess.user_id == user.id
        ),
        select(Subscription.current_period_end, literal(True)).where(
            Subscription.user_id == user.id, Subscription.status == "past_due"
        ),
    )
    now = utcnow()
    ends = [
        moment + grace if overdue else moment
        for moment, overdue in db.session.execute(select(moments.subquery())).all()
        if moment is not None
    ]
    return min((end for end in ends if end > now), default=None)


def paying_users_select():
    """A SELECT of the ids of readers with paid access now, to use inside other queries."""
    return union(
        select(Subscription.user_id).where(paying_clause()),
        select(Gift.redeemed_by_id).where(gift_clause()),
        select(ComplimentaryAccess.user_id).where(complimentary_clause()),
    )


def paying_user_ids() -> set[int]:
    """Every reader with paid access now, in one query (for sending to many at once)."""
    return set(db.session.scalars(paying_users_select()))


def paying_among(user_ids: list[int]) -> set[int]:
    """Which of these readers have paid access now, in one query."""
    if not user_ids:
        return set()
    query = select(User.id).where(User.id.in_(user_ids), User.id.in_(paying_users_select()))
    return set(db.session.scalars(query))


def full_readers_among(users: list, access: str) -> set[int]:
    """Which of these readers may read an article of this access in full (``can_read``, in
    one query for the lot)."""
    if access == "public":
        return {u.id for u in users}
    paying = paying_among([u.id for u in users])
    return {
        u.id
        for u in users
        if u.id in paying
        or getattr(u, "is_admin", False)
        or (access == "members" and bool(u.is_confirmed))
    }
