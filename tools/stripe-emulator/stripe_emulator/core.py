"""The emulator: its state (:mod:`.store`), the control API and every ``/v1`` resource, together.

Each resource is a mixin in :mod:`stripe_emulator.api`; the routes in :mod:`.app` name the
methods they call (``create_customer``, ``list_invoices``...) on :class:`Emulator`.
"""

from __future__ import annotations

from .api.catalog import Catalog
from .api.checkout import Checkout
from .api.customers import Customers
from .api.events import Events
from .api.invoices import Invoices
from .api.payments import Payments
from .api.portal import Portal
from .api.refunds import Refunds
from .api.shipping import ShippingRates
from .api.subscriptions import Subscriptions
from .common import API_VERSION, add_interval, format_money
from .control import Control
from .store import Store

__all__ = ["API_VERSION", "Emulator", "add_interval", "format_money"]


class Emulator(
    Control,
    Customers,
    Catalog,
    Checkout,
    ShippingRates,
    Subscriptions,
    Invoices,
    Payments,
    Refunds,
    Events,
    Portal,
    Store,
):
    """Stripe's API, hosted pages and webhooks, in memory, for tests and local development."""
