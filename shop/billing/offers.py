"""What a reader is offered: every plan on sale, the yearly saving, and the free trial.

The trial rule, as Ghost has it (one trial per member) and a little stricter: a reader
gets a plan's free trial only if they have never held a subscription here, of any plan,
trialing or paid. So nobody gets a second trial, of the same plan or another one, and
nobody who has paid before gets a trial on coming back. A subscription that never
started (``incomplete_expired``: its first payment failed) does not count: it gave no
reading. A paid subscription checkout whose webhook has not arrived yet counts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shop import money
from shop.billing.models import Subscription
from shop.cart.models import Order, OrderStatus
from shop.catalogue import services as catalogue
from shop.catalogue.models import Price, Product
from shop.extensions import db

# Statuses of subscriptions that never began: they use up no trial.
NEVER_STARTED = ("incomplete_expired",)
# Orders of a subscription checkout that went through (Stripe has made the subscription).
COMPLETED_ORDERS = (OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED)


def had_a_plan(user: Any) -> bool:
    """Whether the reader has ever held a subscription here (trialing, paid or ended)."""
    sub = db.session.scalar(
        select(Subscription.id)
        .where(Subscription.user_id == user.id, Subscription.status.not_in(NEVER_STARTED))
        .limit(1)
    )
    if sub is not None:
        return True
    order = db.session.scalar(
        select(Order.id)
        .where(
            Order.user_id == user.id,
            Order.mode == "subscription",
            Order.status.in_(COMPLETED_ORDERS),
        )
        .limit(1)
    )
    return order is not None


def trial_days_for(user: Any, product: Product) -> int | None:
    """The free trial a checkout of ``product`` gives this reader, in days; None for none."""
    if not product.is_plan or not product.trial_days:
        return None
    if user is not None and getattr(user, "is_authenticated", False) and had_a_plan(user):
        return None
    return product.trial_days


@dataclass
class PlanOffer:
    """One plan as the paywall offers it, worded for this reader."""

    product: Product
    price: Price
    trial_days: int | None
    saving: int | None  # a yearly plan's saving against twelve monthly payments

    @property
    def price_words(self) -> str:
        """ "$8 a month"."""
        return catalogue.price_words(self.price)

    @property
    def trial_words(self) -> str | None:
        """ "14 days free, then $8 a month", when this reader gets the trial."""
        return catalogue.trial_words(self.product, self.trial_days or 0)

    @property
    def saving_words(self) -> str | None:
        """ "save $16 a year", for a yearly plan cheaper than twelve monthly payments."""
        if self.saving is None:
            return None
        return f"save {money.format_money_short(self.saving, self.price.currency)} a year"


def plan_offers(user: Any) -> list[PlanOffer]:
    """Every plan on sale for this reader (anonymous readers are offered the trials)."""
    plans = catalogue.plans_on_sale()
    monthly = next((p for p in plans if p.price is not None and p.price.interval == "month"), None)
    offers = []
    for plan in plans:
        price = plan.price
        assert price is not None  # plans on sale have a price
        offers.append(
            PlanOffer(
                product=plan,
                price=price,
                trial_days=trial_days_for(user, plan),
                saving=catalogue.yearly_saving(plan, monthly),
            )
        )
    return offers
