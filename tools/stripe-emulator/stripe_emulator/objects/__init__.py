"""Builders: one Stripe object each, of exactly the fixture's shape, with real values.

Each starts from :func:`shapes.blank` and sets its values with :func:`shapes.fill`. Values
the emulator does not model are ``None`` (or ``[]``/``{}``/``False`` where Stripe never
answers ``null``). Timestamps are unix seconds; amounts are integers in the currency's
smallest unit.

One module per group of resources; every builder is importable from here.
"""

from .billing import invoice, invoice_line, invoice_payment, subscription, subscription_item
from .catalog import customer, plan_from_price, price, product
from .checkout import (
    ADDRESS_KEYS,
    checkout_item,
    checkout_session,
    collected_information,
    customer_details,
    portal_configuration,
    portal_session,
    shipping_cost,
    shipping_option,
    shipping_rate,
)
from .envelopes import LIVEMODE, event, list_object
from .payments import charge, payment_intent, refund

__all__ = [
    "ADDRESS_KEYS",
    "LIVEMODE",
    "charge",
    "checkout_item",
    "checkout_session",
    "collected_information",
    "customer",
    "customer_details",
    "event",
    "invoice",
    "invoice_line",
    "invoice_payment",
    "list_object",
    "payment_intent",
    "plan_from_price",
    "portal_configuration",
    "portal_session",
    "price",
    "product",
    "refund",
    "shipping_cost",
    "shipping_option",
    "shipping_rate",
    "subscription",
    "subscription_item",
]
