"""Billing: checkout, webhooks, subscriptions, the customer portal and access."""

from flask import Blueprint

bp = Blueprint("billing", __name__)


@bp.app_context_processor
def billing_globals() -> dict[str, bool]:
    """Tell pages whether payments go to the Stripe emulator, so they can say so."""
    from shop.billing.gateway import uses_emulator

    return {"stripe_emulator": uses_emulator()}


from shop.billing import views  # noqa: E402,F401  (routes register on import)
