"""The back office's page of one reader: account, preferences, subscriptions, deliveries
and orders, each read in one query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.billing.access import has_paid_access
from shop.billing.models import ComplimentaryAccess, Subscription
from shop.cart.models import Order
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.preferences.services import get_preference, is_mailable
from shop.reports.subscribers import frequency_label, plan_name
from shop.sending.models import Delivery, DeliveryStatus, Run

DETAIL_LIMIT = 50  # deliveries and orders shown on a reader's page


@dataclass(frozen=True)
class SubscriptionLine:
    """A subscription and the name of its plan."""

    subscription: Subscription
    plan: str | None


@dataclass(frozen=True)
class DeliveryLine:
    """A delivery and the run it belongs to."""

    delivery: Delivery
    run: Run


@dataclass
class SubscriberDetail:
    """Everything the back office shows about one reader."""

    user: User
    preference: DigestPreference | None
    paying: bool
    last_digest: datetime | None
    subscriptions: list[SubscriptionLine] = field(default_factory=list)
    deliveries: list[DeliveryLine] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    # Paid access given for nothing (an imported comp plan), running or not.
    complimentary: ComplimentaryAccess | None = None

    @property
    def frequency_label(self) -> str:
        """How often they get the digest, with the weekday for weekly ones."""
        pref = self.preference
        return frequency_label(pref.frequency, pref.weekday) if pref else ""

    @property
    def mailable(self) -> bool:
        """Whether digests may go to them at all (pauses aside)."""
        return self.preference is not None and is_mailable(self.preference)

    @property
    def can_unsuppress(self) -> bool:
        """Whether there is a suppression or bounce count to clear."""
        pref = self.preference
        return pref is not None and (pref.suppressed_at is not None or pref.hard_bounces > 0)


def subscriber_detail(user: User) -> SubscriberDetail:
    """One reader's account, preferences, subscriptions, latest deliveries and orders."""
    plan, plan_joins = plan_name(Subscription.product_id, Subscription.stripe_price_id)
    subs_query = select(Subscription, plan).where(Subscription.user_id == user.id)
    for target, on in plan_joins:
        subs_query = subs_query.outerjoin(target, on)
    subscriptions = [
        SubscriptionLine(sub, name)
        for sub, name in db.session.execute(
            subs_query.order_by(Subscription.created_at.desc(), Subscription.id.desc())
        )
    ]
    deliveries = [
        DeliveryLine(delivery, run)
        for delivery, run in db.session.execute(
            select(Delivery, Run)
            .join(Run, Run.id == Delivery.run_id)
            .where(Delivery.user_id == user.id)
            .order_by(Delivery.id.desc())
            .limit(DETAIL_LIMIT)
        )
    ]
    orders = list(
        db.session.scalars(
            select(Order)
            .where(Order.user_id == user.id)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(DETAIL_LIMIT)
        )
    )
    last_digest = db.session.scalar(
        select(func.max(Delivery.sent_at)).where(
            Delivery.user_id == user.id, Delivery.status == DeliveryStatus.SENT
        )
    )
    return SubscriberDetail(
        user=user,
        preference=get_preference(user, create=False),
        paying=has_paid_access(user),
        last_digest=last_digest,
        subscriptions=subscriptions,
        complimentary=db.session.scalar(
            select(ComplimentaryAccess).where(ComplimentaryAccess.user_id == user.id)
        ),
        deliveries=deliveries,
        orders=orders,
    )
