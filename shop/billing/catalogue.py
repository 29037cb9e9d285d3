"""Push the catalogue to Stripe: products, and a new Price whenever an amount changes."""

from __future__ import annotations

from sqlalchemy import select

from shop.billing import gateway
from shop.catalogue.models import Price, Product
from shop.extensions import db
from shop.install import scoped_key


def price_key(price: Price, stripe_product_id: str) -> str:
    """The idempotency key of a Stripe Price: this install, this price row, that product."""
    # A restored database reuses price ids; the row's creation time tells them apart.
    return scoped_key("price", price.id, price.created_at, stripe_product_id)


def push_product(product: Product) -> None:
    """Create or update the product in Stripe and give every active price a Stripe Price."""
    product.stripe_product_id = gateway.upsert_product(
        product.stripe_product_id, product.name, product.description, product.active
    )
    for price in product.prices:
        if price.active and not price.stripe_price_id:
            price.stripe_price_id = gateway.create_price(
                product.stripe_product_id,
                price.amount,
                price.currency,
                price.interval,
                price.id,
                idempotency_key=price_key(price, product.stripe_product_id),
            )
        elif not price.active and price.stripe_price_id:
            # Stripe prices are immutable: a changed amount retired this one.
            gateway.deactivate_price(price.stripe_price_id)
    db.session.commit()


def sync_all() -> int:
    """Push the whole catalogue; return how many products were pushed."""
    products = db.session.scalars(select(Product).order_by(Product.id)).all()
    for product in products:
        push_product(product)
    return len(products)


def push_if_configured(product: Product) -> None:
    """The admin's save hook: push when Stripe is configured, else do nothing."""
    if gateway.is_configured():
        push_product(product)
