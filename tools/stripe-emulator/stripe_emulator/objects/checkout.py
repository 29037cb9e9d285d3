"""Checkout Sessions (line items, customer and shipping details), shipping rates, portals."""

from __future__ import annotations

from ..shapes import blank, fill
from .envelopes import LIVEMODE

ADDRESS_KEYS = ("line1", "line2", "city", "state", "postal_code", "country")


def checkout_item(*, object_id: str, price_obj: dict, quantity: int, description: str) -> dict:
    """A Checkout Session line item (``object: "item"``)."""
    amount = price_obj["unit_amount"] * quantity
    return fill(
        blank("item"),
        id=object_id,
        object="item",
        amount_discount=0,
        amount_subtotal=amount,
        amount_tax=0,
        amount_total=amount,
        currency=price_obj["currency"],
        description=description,
        price=price_obj,
        quantity=quantity,
        metadata={},
        adjustable_quantity=None,
    )


def checkout_session(
    *,
    object_id: str,
    now: int,
    expires_at: int,
    mode: str,
    customer_id: str | None,
    customer_email: str | None,
    currency: str,
    amount: int,
    success_url: str,
    cancel_url: str | None,
    url: str,
    client_reference_id: str | None,
    metadata: dict,
    allow_promotion_codes: bool | None,
    automatic_tax: bool,
    locale: str | None,
    allowed_countries: list[str] | None = None,
    shipping_options: list[dict] | None = None,
) -> dict:
    """An open Checkout Session (``allowed_countries``: it collects a shipping address)."""
    invoice_creation = None
    if mode == "payment":
        invoice_creation = {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        }
    return fill(
        blank("checkout.session"),
        id=object_id,
        object="checkout.session",
        after_expiration=None,
        allow_promotion_codes=allow_promotion_codes,
        amount_subtotal=amount,
        amount_total=amount,
        automatic_tax={
            "enabled": automatic_tax,
            "liability": {"type": "self"} if automatic_tax else None,
            "status": "complete" if automatic_tax else None,
            "provider": "stripe" if automatic_tax else None,
        },
        billing_address_collection=None,
        cancel_url=cancel_url,
        client_reference_id=client_reference_id,
        client_secret=None,
        consent=None,
        consent_collection=None,
        created=now,
        currency=currency,
        custom_fields=[],
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        customer=customer_id,
        customer_creation="always" if mode == "subscription" and not customer_id else None,
        customer_details=None,
        customer_email=customer_email,
        expires_at=expires_at,
        invoice=None,
        invoice_creation=invoice_creation,
        livemode=LIVEMODE,
        locale=locale,
        metadata=metadata,
        mode=mode,
        payment_intent=None,
        payment_link=None,
        payment_method_collection="always",
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=["card"],
        payment_status="unpaid",
        phone_number_collection={"enabled": False},
        recovered_from=None,
        saved_payment_method_options=None,
        setup_intent=None,
        shipping_address_collection={"allowed_countries": list(allowed_countries)}
        if allowed_countries
        else None,
        shipping_cost=None,
        shipping_options=list(shipping_options or []),
        status="open",
        submit_type=None,
        subscription=None,
        success_url=success_url,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        ui_mode="hosted_page",
        url=url,
        adaptive_pricing={"enabled": False},
        discounts=[],
        collected_information=None,
        permissions=None,
        wallet_options=None,
        origin_context=None,
        currency_conversion=None,
        customer_account=None,
        integration_identifier=None,
        managed_payments={"enabled": False},
    )


def customer_details(customer_obj: dict | None, email: str | None) -> dict:
    """A Checkout Session's ``customer_details`` once the customer has paid."""
    return {
        "address": None,
        "email": (customer_obj or {}).get("email") or email,
        "name": (customer_obj or {}).get("name"),
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
        "business_name": None,
        "individual_name": None,
    }


def shipping_rate(
    *,
    object_id: str,
    now: int,
    display_name: str,
    amount: int,
    currency: str,
    metadata: dict,
) -> dict:
    """A fixed-amount shipping rate (``shr_...``)."""
    return fill(
        blank("shipping_rate"),
        id=object_id,
        object="shipping_rate",
        active=True,
        created=now,
        delivery_estimate=None,
        display_name=display_name,
        fixed_amount={"amount": amount, "currency": currency},
        livemode=LIVEMODE,
        metadata=metadata,
        tax_behavior="unspecified",
        tax_code=None,
        type="fixed_amount",
    )


def shipping_option(rate_obj: dict) -> dict:
    """One of a Checkout Session's ``shipping_options``: a rate and what it charges."""
    return {"shipping_amount": rate_obj["fixed_amount"]["amount"], "shipping_rate": rate_obj["id"]}


def collected_information(shipping: dict) -> dict:
    """A paid session's ``collected_information``: the shipping address the customer gave."""
    address = {key: shipping[key] for key in ADDRESS_KEYS}
    return {
        "shipping_details": {"name": shipping["name"], "address": address},
        "business_name": None,
        "individual_name": None,
    }


def shipping_cost(amount: int, rate_id: str | None) -> dict:
    """A paid session's ``shipping_cost`` (no tax is modelled: the total is the subtotal)."""
    return {
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "shipping_rate": rate_id,
    }


def portal_session(
    *, object_id: str, now: int, customer_id: str, return_url: str | None, url: str, config: str
) -> dict:
    """A customer portal session."""
    return fill(
        blank("billing_portal.session"),
        id=object_id,
        object="billing_portal.session",
        configuration=config,
        created=now,
        customer=customer_id,
        flow=None,
        livemode=LIVEMODE,
        locale=None,
        on_behalf_of=None,
        return_url=return_url,
        url=url,
        customer_account=None,
    )


def portal_configuration(
    *, object_id: str, now: int, features: dict, metadata: dict, is_default: bool = False
) -> dict:
    """A customer portal configuration (what the portal lets a customer change)."""
    return fill(
        blank("billing_portal.configuration"),
        id=object_id,
        object="billing_portal.configuration",
        active=True,
        application=None,
        business_profile={
            "headline": None,
            "privacy_policy_url": None,
            "terms_of_service_url": None,
        },
        created=now,
        default_return_url=None,
        features=features,
        is_default=is_default,
        livemode=LIVEMODE,
        login_page={"enabled": False, "url": None},
        metadata=metadata,
        updated=now,
        name=None,
    )
