"""The money part of the reader's account page: their plan, orders and billing portal."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from shop.accounts.models import User
from shop.billing import gateway
from shop.billing.customers import stripe_customer_id
from shop.billing.errors import BillingError
from shop.billing.models import Subscription
from shop.cart.models import Order, OrderStatus
from shop.extensions import db
from shop.urls import external_url


@dataclass
class BillingOverview:
    """What the account page shows about money."""

    subscription: Subscription | None
    orders: list[Order]
    has_customer: bool


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
    )


def portal_url(user: User) -> str:
    """A Stripe customer portal session for the reader."""
    customer = stripe_customer_id(user, create=False)
    if customer is None:
        raise BillingError("You have no billing account yet: nothing has been bought.")
    try:
        return gateway.create_portal_session(customer, external_url("accounts.account"))
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc
