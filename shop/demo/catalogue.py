"""The demo shop: two supporter plans (the monthly one with a 14-day free trial), two
posted items and two shipping rates, loaded idempotently."""

from __future__ import annotations

from shop import money
from shop.catalogue import admin as products
from shop.catalogue import services as catalogue
from shop.catalogue.models import KIND_ITEM, KIND_PLAN
from shop.extensions import db
from shop.shipping import services as shipping
from shop.shipping.models import ShippingRate
from shop.text import slugify

PRODUCTS: list[dict] = [
    {
        "name": "Supporter, monthly",
        "description": "Every story, every digest, and our thanks each month. Cancel any time.",
        "kind": KIND_PLAN,
        "amount": 800,
        "interval": "month",
        "stock": None,
        # The Quick start's emulator runs trials end to end: the paywall, Checkout, and
        # reading while trialing (ending one is the emulator's end_trial control call).
        "trial_days": 14,
    },
    {
        "name": "Supporter, yearly",
        "description": "A year of independent reporting for the price of ten months.",
        "kind": KIND_PLAN,
        "amount": 8000,
        "interval": "year",
        "stock": None,
    },
    {
        "name": "The printed annual",
        "description": "The year's best reporting, bound in 240 pages and posted to your door.",
        "kind": KIND_ITEM,
        "amount": 2500,
        "interval": None,
        "stock": 40,
        "needs_shipping": True,
    },
    {
        "name": "Tote bag",
        "description": "Heavy organic cotton, our masthead on one side. Carries a week of papers.",
        "kind": KIND_ITEM,
        "amount": 1800,
        "interval": None,
        "stock": 25,
        "needs_shipping": True,
    },
]

# Postage the demo offers at checkout: (name, minor units).
RATES = [("Standard post", 350), ("Tracked, two working days", 695)]

# Sold by earlier demos as a one-off item with a mailed code nothing sent: taken off
# sale where an earlier demo left it. Gifts are given through the gift form instead.
RETIRED = ("gift-a-month",)


def load_catalogue() -> int:
    """Create the demo products that are missing (matched by slug); return how many."""
    created = 0
    for spec in PRODUCTS:
        existing = catalogue.get_product(slugify(spec["name"]))
        if existing is not None:
            # An earlier demo sold these as posted without asking for an address.
            if spec.get("needs_shipping") and not existing.needs_shipping:
                existing.needs_shipping = True
            # Earlier demos had no trials.
            if spec.get("trial_days") and existing.trial_days is None:
                existing.trial_days = spec["trial_days"]
            continue
        products.save_product(products.ProductInput(active=True, **spec))
        created += 1
    if not shipping.all_rates():
        for name, amount in RATES:
            db.session.add(
                ShippingRate(name=name, amount=amount, currency=money.currency(), active=True)
            )
    for slug in RETIRED:
        retired = catalogue.get_product(slug)
        if retired is not None:
            retired.active = False
    db.session.commit()
    return created
