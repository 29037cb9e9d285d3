"""The money part of the reader's account page: their plan, orders and billing portal."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from shop.accounts.models import User
from shop.billing import gateway, gifts
from shop.billing.access import complimentary_clause
from shop.billing.customers import stripe_customer_id
from shop.billing.errors import BillingError
from shop.billing.models import ComplimentaryAccess, Gift, Subscription
from shop.cart.models import Order, OrderStatus
from shop.catalogue import services as catalogue
from shop.clock import utcnow
from shop.extensions import db
from shop.urls import external_url


@dataclass
class PlanState:
    """A subscription's state in the reader's words: "active, renews on" and a date."""

    words: str
    on: datetime | None = None


# Stripe's other statuses as a reader would say them; any not here reads as itself.
_STATUS_WORDS = {
    "past_due": "payment overdue",
    "unpaid": "unpaid: reading is paused until a payment goes through",
    "incomplete": "waiting for the first payment",
    "incomplete_expired": "never started: the first payment did not go through",
}


def plan_state(sub: Subscription, now: datetime | None = None) -> PlanState:
    """What the account page says of a subscription, true for every status."""
    now = now or utcnow()
    end = sub.current_period_end
    if sub.status == "canceled":
        # Ended at the period's end, or earlier when it was cancelled at once (Stripe
        # keeps the unused period's end on an immediately cancelled subscription).
        ended = end if end is not None and end <= now else sub.canceled_at or end
        return PlanState("ended on", ended) if ended else PlanState("ended")
    if sub.status in ("trialing", "active"):
        if sub.status == "trialing" and sub.trial_end is not None:
            end = sub.trial_end  # the trial's end is its first period's end
        name = "free trial" if sub.status == "trialing" else "active"
        if end is None:
            return PlanState(name)
        if sub.status == "trialing":
            next_step = "ends on" if sub.cancel_at_period_end else "first payment on"
        else:
            next_step = "cancels on" if sub.cancel_at_period_end else "renews on"
        return PlanState(f"{name}, {next_step}", end)
    return PlanState(_STATUS_WORDS.get(sub.status, sub.status.replace("_", " ")))


@dataclass
class BillingOverview:
    """What the account page shows about money."""

    subscription: Subscription | None
    orders: list[Order]
    has_customer: bool
    # A gift the reader redeemed that still runs, and who gave it.
    gift: Gift | None = None
    # Access given for nothing (an imported member's comp plan), while it runs.
    complimentary: ComplimentaryAccess | None = None

    @property
    def plan(self) -> PlanState | None:
        """The subscription's state in words, if there is one."""
        return plan_state(self.subscription) if self.subscription else None


def overview(user: User) -> BillingOverview:
    """The reader's current subscription and orders, newest first."""
    sub = db.session.scalar(
        select(Subscription)
        .where(Subscription.user_id == user.id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        .limit(1)
    )
    orders = db.session.scalars(
        select(Order)
        .where(Order.user_id == user.id, Order.status != OrderStatus.ABANDONED)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(50)
    ).all()
    return BillingOverview(
        subscription=sub,
        orders=list(orders),
        has_customer=stripe_customer_id(user, create=False) is not None,
        gift=gifts.current_gift(user),
        complimentary=db.session.scalar(
            select(ComplimentaryAccess).where(
                ComplimentaryAccess.user_id == user.id, complimentary_clause()
            )
        ),
    )


def portal_url(user: User) -> str:
    """A Stripe customer portal session for the reader."""
    customer = stripe_customer_id(user, create=False)
    if customer is None:
        raise BillingError("You have no billing account yet: nothing has been bought.")
    try:
        configuration = _portal_configuration()
        return gateway.create_portal_session(
            customer, external_url("accounts.account"), configuration
        )
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc


def _portal_configuration() -> str | None:
    """The portal configuration for the plans on sale now, so a reader can switch between
    them (monthly and yearly) there; None when no plan is in Stripe yet."""
    plans = [
        (product.stripe_product_id, [price.stripe_price_id])
        for product in catalogue.plans_on_sale()
        if product.stripe_product_id
        and (price := product.price) is not None
        and price.stripe_price_id
    ]
    if not plans:
        return None
    # Named by what it offers: a new price or plan makes a new configuration.
    key = hashlib.sha256(repr(sorted(plans)).encode()).hexdigest()[:32]
    return gateway.portal_configuration(key, plans)
