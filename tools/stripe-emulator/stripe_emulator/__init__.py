"""A Stripe-compatible HTTP emulator for tests and local development (test mode only).

It answers the parts of Stripe's v1 API that Broadsheet uses, as the official ``stripe``
library calls them, with objects of exactly the shape of Stripe's own (built from Stripe's
``fixtures3.json``, API version 2026-10-28.endive); serves hosted Checkout and customer
portal pages; and delivers signed webhooks. It never takes real payments and refuses live
keys.

    from stripe_emulator.testing import EmulatorServer

    with EmulatorServer(webhook_url=..., webhook_secret="whsec_...") as server:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})
        ...
        server.emulator.pay(session.id)
"""

from .app import create_app
from .core import API_VERSION, Emulator, add_interval
from .errors import EmulatorError
from .webhooks import signature_header

__all__ = [
    "API_VERSION",
    "Emulator",
    "EmulatorError",
    "add_interval",
    "create_app",
    "signature_header",
]
