"""Builders: one Stripe object each, of exactly the fixture's shape, with real values.

Each starts from :func:`shapes.blank` and sets its values with :func:`shapes.fill`. Values
the emulator does not model are ``None`` (or ``[]``/``{}``/``False`` where Stripe never
answers ``null``). Timestamps are unix seconds; amounts are integers in the currency's
smallest unit.
"""

from __future__ import annotations

from typing import Any

from .shapes import blank, fill, new_id

LIVEMODE = False


def list_object(data: list[dict], url: str, has_more: bool = False) -> dict[str, Any]:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


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
) -> dict:
    """An open Checkout Session."""
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
        shipping_address_collection=None,
        shipping_cost=None,
        shipping_options=[],
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


def subscription_item(
    *,
    object_id: str,
    now: int,
    subscription_id: str,
    price_obj: dict,
    quantity: int,
    period_start: int,
    period_end: int,
) -> dict:
    """A subscription item; its period is where API 2025-03-31 and later put it."""
    return fill(
        blank("subscription_item"),
        id=object_id,
        object="subscription_item",
        created=now,
        discounts=[],
        metadata={},
        price=price_obj,
        quantity=quantity,
        subscription=subscription_id,
        tax_rates=[],
        plan=plan_from_price(price_obj),
        current_period_end=period_end,
        current_period_start=period_start,
        billing_thresholds=None,
    )


def subscription(
    *,
    object_id: str,
    now: int,
    customer_id: str,
    currency: str,
    items: list[dict],
    metadata: dict,
    automatic_tax: bool,
    payment_method: str | None,
) -> dict:
    """An active subscription."""
    return fill(
        blank("subscription"),
        id=object_id,
        object="subscription",
        application=None,
        application_fee_percent=None,
        automatic_tax={
            "enabled": automatic_tax,
            "liability": {"type": "self"} if automatic_tax else None,
            "disabled_reason": None,
        },
        billing_cycle_anchor=now,
        billing_cycle_anchor_config=None,
        cancel_at=None,
        canceled_at=None,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
        collection_method="charge_automatically",
        created=now,
        currency=currency,
        customer=customer_id,
        days_until_due=None,
        default_payment_method=payment_method,
        default_source=None,
        default_tax_rates=[],
        description=None,
        discounts=[],
        ended_at=None,
        invoice_settings={
            "account_tax_ids": None,
            "issuer": {"type": "self"},
            "custom_fields": None,
            "description": None,
            "footer": None,
        },
        items=list_object(items, f"/v1/subscription_items?subscription={object_id}"),
        latest_invoice=None,
        livemode=LIVEMODE,
        metadata=metadata,
        next_pending_invoice_item_invoice=None,
        on_behalf_of=None,
        pause_collection=None,
        payment_settings={
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        pending_invoice_item_interval=None,
        pending_setup_intent=None,
        pending_update=None,
        schedule=None,
        start_date=now,
        status="active",
        test_clock=None,
        transfer_data=None,
        trial_end=None,
        trial_settings={"end_behavior": {"missing_payment_method": "create_invoice"}},
        trial_start=None,
        cancel_at_period_end=False,
        billing_thresholds=None,
        billing_mode={"type": "classic", "flexible": None},
        customer_account=None,
        managed_payments={"enabled": False},
        billing_schedules=[],
    )


def invoice_line(
    *,
    object_id: str,
    invoice_id: str,
    price_obj: dict,
    quantity: int,
    description: str,
    period_start: int,
    period_end: int,
    subscription_id: str | None,
    subscription_item_id: str | None,
) -> dict:
    """An invoice line: a subscription item's period, or a one-off invoice item."""
    amount = price_obj["unit_amount"] * quantity
    if subscription_item_id:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
                "subscription_item": subscription_item_id,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": new_id("ii"),
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return fill(
        blank("line_item"),
        id=object_id,
        object="line_item",
        amount=amount,
        currency=price_obj["currency"],
        description=description,
        discount_amounts=[],
        discountable=True,
        discounts=[],
        invoice=invoice_id,
        livemode=LIVEMODE,
        metadata={},
        period={"end": period_end, "start": period_start},
        quantity=quantity,
        subscription=subscription_id,
        pretax_credit_amounts=[],
        taxes=[],
        parent=parent,
        pricing={"type": "price_details", "unit_amount_decimal": price_obj["unit_amount_decimal"]},
        subtotal=amount,
        quantity_decimal=str(quantity),
    )


def invoice(
    *,
    object_id: str,
    now: int,
    customer_obj: dict,
    currency: str,
    lines: list[dict],
    billing_reason: str,
    period_start: int,
    period_end: int,
    subscription_id: str,
    subscription_metadata: dict,
    automatic_tax: bool,
) -> dict:
    """A draft subscription invoice; :func:`finalize_invoice` and the payment move it on."""
    total = sum(line["amount"] for line in lines)
    return fill(
        blank("invoice"),
        id=object_id,
        object="invoice",
        account_country="US",
        account_name="Stripe emulator (test mode)",
        account_tax_ids=None,
        amount_due=total,
        amount_paid=0,
        amount_remaining=total,
        amount_shipping=0,
        application=None,
        attempt_count=0,
        attempted=False,
        auto_advance=True,
        automatic_tax={
            "enabled": automatic_tax,
            "liability": {"type": "self"} if automatic_tax else None,
            "status": "complete" if automatic_tax else None,
            "disabled_reason": None,
            "provider": "stripe" if automatic_tax else None,
        },
        billing_reason=billing_reason,
        collection_method="charge_automatically",
        created=now,
        currency=currency,
        custom_fields=None,
        customer=customer_obj["id"],
        customer_address=None,
        customer_email=customer_obj["email"],
        customer_name=customer_obj["name"],
        customer_phone=customer_obj["phone"],
        customer_shipping=None,
        customer_tax_exempt="none",
        customer_tax_ids=[],
        default_payment_method=None,
        default_source=None,
        default_tax_rates=[],
        description=None,
        discounts=[],
        due_date=None,
        effective_at=None,
        ending_balance=None,
        footer=None,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        issuer={"type": "self"},
        last_finalization_error=None,
        latest_revision=None,
        lines=list_object(lines, f"/v1/invoices/{object_id}/lines"),
        livemode=LIVEMODE,
        metadata={},
        next_payment_attempt=None,
        number=None,
        on_behalf_of=None,
        payment_settings={
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        period_end=period_end,
        period_start=period_start,
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        receipt_number=None,
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        starting_balance=0,
        statement_descriptor=None,
        status="draft",
        status_transitions={
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        subscription=None,
        subtotal=total,
        subtotal_excluding_tax=total,
        test_clock=None,
        total=total,
        total_discount_amounts=[],
        total_excluding_tax=total,
        webhooks_delivered_at=None,
        automatically_finalizes_at=None,
        total_pretax_credit_amounts=[],
        total_taxes=[],
        amount_overpaid=0,
        parent={
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription_metadata),
                "subscription": subscription_id,
            },
            "type": "subscription_details",
        },
        customer_account=None,
    )


def invoice_payment(
    *,
    object_id: str,
    now: int,
    invoice_id: str,
    payment_intent_id: str,
    amount: int,
    currency: str,
    paid: bool,
) -> dict:
    """The link between an invoice and the PaymentIntent that pays (or tried to pay) it."""
    return fill(
        blank("invoice_payment"),
        id=object_id,
        object="invoice_payment",
        amount_paid=amount if paid else None,
        amount_requested=amount,
        created=now,
        currency=currency,
        invoice=invoice_id,
        is_default=True,
        livemode=LIVEMODE,
        payment={"type": "payment_intent", "payment_intent": payment_intent_id},
        status="paid" if paid else "open",
        status_transitions={"canceled_at": None, "paid_at": now if paid else None},
    )


def payment_intent(
    *,
    object_id: str,
    now: int,
    amount: int,
    currency: str,
    customer_id: str | None,
    description: str | None,
    metadata: dict,
    status: str,
    charge_id: str | None,
    payment_method: str,
    method_type: str,
    receipt_email: str | None,
    declined: bool = False,
) -> dict:
    """A PaymentIntent: ``succeeded`` (with its charge) or ``requires_payment_method``."""
    return fill(
        blank("payment_intent"),
        id=object_id,
        object="payment_intent",
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=amount if status == "succeeded" else 0,
        application=None,
        application_fee_amount=None,
        automatic_payment_methods=None,
        canceled_at=None,
        cancellation_reason=None,
        capture_method="automatic",
        client_secret=f"{object_id}_secret_{new_id('s', 25)[2:]}",
        confirmation_method="automatic",
        created=now,
        currency=currency,
        customer=customer_id,
        description=description,
        last_payment_error={"type": "card_error"} if declined else None,
        latest_charge=charge_id,
        livemode=LIVEMODE,
        metadata=metadata,
        next_action=None,
        on_behalf_of=None,
        payment_method=payment_method,
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=[method_type],
        processing=None,
        receipt_email=receipt_email,
        review=None,
        setup_future_usage=None,
        shipping=None,
        statement_descriptor=None,
        statement_descriptor_suffix=None,
        status=status,
        transfer_data=None,
        transfer_group=None,
        source=None,
        excluded_payment_method_types=None,
        customer_account=None,
        managed_payments=None,
    )


def _card_details(now_year: int) -> dict:
    return {
        "amount_authorized": None,
        "brand": "visa",
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "exp_month": 12,
        "exp_year": now_year + 3,
        "extended_authorization": None,
        "fingerprint": new_id("f", 16)[2:],
        "funding": "credit",
        "incremental_authorization": None,
        "installments": None,
        "last4": "4242",
        "mandate": None,
        "multicapture": None,
        "network": "visa",
        "network_token": {"used": False},
        "overcapture": None,
        "three_d_secure": None,
        "wallet": None,
        "authorization_code": None,
        "regulated_status": "unregulated",
        "network_transaction_id": None,
        "transaction_link_id": None,
    }


def charge(
    *,
    object_id: str,
    now: int,
    now_year: int,
    amount: int,
    currency: str,
    customer_obj: dict | None,
    description: str | None,
    payment_intent_id: str,
    payment_method: str,
    method_type: str,
    metadata: dict,
) -> dict:
    """A succeeded, captured charge, card (``4242``) or bank debit."""
    customer_obj = customer_obj or {}
    return fill(
        blank("charge"),
        id=object_id,
        object="charge",
        amount=amount,
        amount_captured=amount,
        amount_refunded=0,
        application=None,
        application_fee=None,
        application_fee_amount=None,
        balance_transaction=None,
        billing_details={
            "address": None,
            "email": customer_obj.get("email"),
            "name": customer_obj.get("name"),
            "phone": None,
            "tax_id": None,
        },
        calculated_statement_descriptor="STRIPE EMULATOR",
        captured=True,
        created=now,
        currency=currency,
        customer=customer_obj.get("id"),
        description=description,
        disputed=False,
        failure_balance_transaction=None,
        failure_code=None,
        failure_message=None,
        fraud_details={},
        livemode=LIVEMODE,
        metadata=metadata,
        on_behalf_of=None,
        outcome={
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        paid=True,
        payment_intent=payment_intent_id,
        payment_method=payment_method,
        payment_method_details={
            "card": _card_details(now_year) if method_type == "card" else None,
            "type": method_type,
        },
        receipt_email=customer_obj.get("email"),
        receipt_number=None,
        receipt_url=None,
        refunded=False,
        refunds=list_object([], f"/v1/charges/{object_id}/refunds"),
        review=None,
        shipping=None,
        source_transfer=None,
        statement_descriptor=None,
        statement_descriptor_suffix=None,
        status="succeeded",
        transfer_data=None,
        transfer_group=None,
        source=None,
    )


def refund(
    *,
    object_id: str,
    now: int,
    amount: int,
    charge_obj: dict,
    reason: str | None,
    metadata: dict,
) -> dict:
    """A succeeded refund of (part of) a charge."""
    card = charge_obj["payment_method_details"]["type"] == "card"
    return fill(
        blank("refund"),
        id=object_id,
        object="refund",
        amount=amount,
        balance_transaction=None,
        charge=charge_obj["id"],
        created=now,
        currency=charge_obj["currency"],
        destination_details={"card": {"type": "refund"}, "type": "card"} if card else None,
        metadata=metadata,
        payment_intent=charge_obj["payment_intent"],
        reason=reason,
        receipt_number=None,
        source_transfer_reversal=None,
        status="succeeded",
        transfer_reversal=None,
        customer=charge_obj["customer"],
        customer_account=None,
        payment_method=charge_obj["payment_method"],
    )


def event(
    *,
    object_id: str,
    now: int,
    event_type: str,
    api_version: str,
    data_object: dict,
    previous_attributes: dict | None,
    pending_webhooks: int,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict:
    """An event: ``data.object`` is the object as it was when the event happened."""
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return fill(
        blank("event"),
        id=object_id,
        object="event",
        api_version=api_version,
        created=now,
        data=data,
        livemode=LIVEMODE,
        pending_webhooks=pending_webhooks,
        request={"id": request_id, "idempotency_key": idempotency_key},
        type=event_type,
    )
