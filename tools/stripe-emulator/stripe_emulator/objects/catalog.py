"""Customers, products and prices (and the legacy ``plan`` view of a price)."""

from __future__ import annotations

from ..shapes import blank, fill, new_id
from .envelopes import LIVEMODE


def customer(
    *,
    object_id: str,
    now: int,
    email: str | None,
    name: str | None,
    description: str | None,
    phone: str | None,
    metadata: dict,
) -> dict:
    """A customer."""
    obj = blank("customer")
    return fill(
        obj,
        id=object_id,
        object="customer",
        address=None,
        balance=0,
        created=now,
        currency=None,
        default_source=None,
        delinquent=False,
        description=description,
        discount=None,
        email=email,
        invoice_prefix=new_id("x", 8)[2:].upper(),
        invoice_settings={
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        livemode=LIVEMODE,
        metadata=metadata,
        name=name,
        next_invoice_sequence=1,
        phone=phone,
        preferred_locales=[],
        shipping=None,
        tax_exempt="none",
        test_clock=None,
    )


def product(
    *,
    object_id: str,
    now: int,
    name: str,
    description: str | None,
    active: bool,
    metadata: dict,
) -> dict:
    """A product."""
    return fill(
        blank("product"),
        id=object_id,
        object="product",
        active=active,
        created=now,
        default_price=None,
        description=description,
        images=[],
        livemode=LIVEMODE,
        marketing_features=[],
        metadata=metadata,
        name=name,
        package_dimensions=None,
        shippable=None,
        statement_descriptor=None,
        tax_code=None,
        unit_label=None,
        updated=now,
        url=None,
        type="service",
    )


def price(
    *,
    object_id: str,
    now: int,
    product_id: str,
    currency: str,
    unit_amount: int,
    interval: str | None,
    interval_count: int,
    active: bool,
    metadata: dict,
    nickname: str | None,
) -> dict:
    """A price: one-off, or recurring every ``interval_count`` ``interval`` s."""
    recurring = None
    if interval:
        recurring = {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        }
    return fill(
        blank("price"),
        id=object_id,
        object="price",
        active=active,
        billing_scheme="per_unit",
        created=now,
        currency=currency,
        custom_unit_amount=None,
        livemode=LIVEMODE,
        lookup_key=None,
        metadata=metadata,
        nickname=nickname,
        product=product_id,
        recurring=recurring,
        tax_behavior="unspecified",
        tiers_mode=None,
        transform_quantity=None,
        type="recurring" if interval else "one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
    )


def plan_from_price(price_obj: dict) -> dict:
    """The legacy ``plan`` view of a recurring price, as subscription items still carry."""
    recurring = price_obj["recurring"] or {}
    return fill(
        blank("plan"),
        active=price_obj["active"],
        amount=price_obj["unit_amount"],
        amount_decimal=price_obj["unit_amount_decimal"],
        billing_scheme="per_unit",
        created=price_obj["created"],
        currency=price_obj["currency"],
        id=price_obj["id"],
        interval=recurring.get("interval"),
        interval_count=recurring.get("interval_count"),
        livemode=LIVEMODE,
        metadata=dict(price_obj["metadata"]),
        meter=None,
        nickname=price_obj["nickname"],
        object="plan",
        product=price_obj["product"],
        tiers_mode=None,
        transform_usage=None,
        trial_period_days=None,
        usage_type="licensed",
    )
