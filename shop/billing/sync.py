"""Stripe's word, mirrored: subscriptions, payments (first or renewal) and refunds.

Subscriptions are upserted from Stripe's current state, never an event's copy, so an
event that arrives late or out of order changes nothing it should not.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from shop.billing import gateway, gifts
from shop.billing.customers import user_for_customer
from shop.billing.models import Payment, PaymentStatus, Subscription, SubscriptionChange
from shop.cart.models import Order, OrderStatus
from shop.catalogue.models import Price
from shop.clock import utcnow
from shop.extensions import db
from shop.mail import send_email
from shop.urls import external_url

log = logging.getLogger(__name__)


def sync_subscription(stripe_subscription_id: str) -> Subscription | None:
    """Upsert a subscription from Stripe's current state; record a status change."""
    state = gateway.retrieve_subscription(stripe_subscription_id)
    user = user_for_customer(state.customer)
    if user is None:
        log.warning("Subscription %s belongs to an unknown customer", state.id)
        return None
    price = (
        db.session.scalar(select(Price).where(Price.stripe_price_id == state.price_id))
        if state.price_id
        else None
    )
    sub = db.session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == state.id)
    )
    old_status = None
    if sub is None:
        sub = Subscription(
            user_id=user.id,
            stripe_subscription_id=state.id,
            stripe_customer_id=state.customer,
            status=state.status,
        )
        db.session.add(sub)
    else:
        old_status = sub.status
    changed = old_status != state.status or (sub.cancel_at_period_end != state.cancel_at_period_end)
    sub.status = state.status
    sub.cancel_at_period_end = state.cancel_at_period_end
    sub.current_period_end = state.current_period_end
    sub.canceled_at = state.canceled_at
    sub.trial_end = state.trial_end
    sub.stripe_price_id = state.price_id
    if price is not None:
        sub.product_id = price.product_id
    if changed:
        sub.changes.append(
            SubscriptionChange(
                old_status=old_status,
                status=state.status,
                cancel_at_period_end=state.cancel_at_period_end,
            )
        )
    db.session.flush()
    return sub


def end_subscription(state: gateway.SubscriptionState) -> Subscription | None:
    """Mark a subscription Stripe has deleted as ended, from the deletion event's copy."""
    sub = db.session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == state.id)
    )
    if sub is None:
        return None
    old_status = sub.status
    sub.status = "canceled"
    sub.cancel_at_period_end = False
    sub.canceled_at = state.canceled_at or sub.canceled_at or utcnow()
    if old_status != "canceled":
        sub.changes.append(SubscriptionChange(old_status=old_status, status="canceled"))
    db.session.flush()
    return sub


def upsert_payment(**values) -> Payment:
    """Insert or update a payment, keyed by its invoice or PaymentIntent."""
    payment = None
    if values.get("stripe_invoice_id"):
        payment = db.session.scalar(
            select(Payment).where(Payment.stripe_invoice_id == values["stripe_invoice_id"])
        )
    if payment is None and values.get("stripe_payment_intent_id"):
        payment = db.session.scalar(
            select(Payment).where(
                Payment.stripe_payment_intent_id == values["stripe_payment_intent_id"]
            )
        )
    if payment is None:
        payment = Payment(status=PaymentStatus.PAID)
        db.session.add(payment)
    for key, value in values.items():
        if value is not None:
            setattr(payment, key, value)
    db.session.flush()
    return payment


def record_invoice_payment(invoice: gateway.InvoiceInfo) -> Payment | None:
    """Store a paid invoice, first or renewal, with its amount and period."""
    user = user_for_customer(invoice.customer)
    sub = None
    if invoice.subscription:
        sub = sync_subscription(invoice.subscription)
    order = db.session.scalar(select(Order).where(Order.stripe_invoice_id == invoice.id))
    if order is None and invoice.subscription and invoice.billing_reason == "subscription_create":
        order = db.session.scalar(
            select(Order).where(Order.stripe_subscription_id == invoice.subscription)
        )
    return upsert_payment(
        stripe_invoice_id=invoice.id,
        stripe_payment_intent_id=invoice.payment_intent,
        user_id=user.id if user else None,
        subscription_id=sub.id if sub else None,
        order_id=order.id if order else None,
        amount=invoice.amount_paid,
        currency=invoice.currency,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
    )


def payment_failed(invoice: gateway.InvoiceInfo) -> None:
    """A renewal failed: mirror the subscription (past due) and tell the reader."""
    if invoice.subscription:
        sync_subscription(invoice.subscription)
    user = user_for_customer(invoice.customer)
    if user is None:
        return
    send_email(
        user.email,
        "Your payment did not go through",
        "payment_failed",
        amount=invoice.amount_due,
        currency=invoice.currency,
        account_url=external_url("accounts.account"),
    )


def trial_ending(stripe_subscription_id: str) -> bool:
    """Stripe says a free trial ends soon: tell the reader when, and what it will then cost,
    so no charge comes as a surprise; True if they were told. Not for a trial that is set
    to cancel at its end, nor one that is over."""
    sub = sync_subscription(stripe_subscription_id)
    if sub is None or sub.status != "trialing" or sub.cancel_at_period_end:
        return False
    price = db.session.scalar(select(Price).where(Price.stripe_price_id == sub.stripe_price_id))
    send_email(
        sub.user.email,
        "Your free trial ends soon",
        "trial_ending",
        plan=sub.product.name if sub.product else "your plan",
        ends=sub.trial_end or sub.current_period_end,
        price=price,
        account_url=external_url("accounts.account"),
    )
    return True


def record_refund(charge: gateway.ChargeInfo) -> Payment | None:
    """Settle a payment's refund state, and its order's, from the charge."""
    if not charge.payment_intent:
        return None
    payment = db.session.scalar(
        select(Payment).where(Payment.stripe_payment_intent_id == charge.payment_intent)
    )
    if payment is None:
        log.warning("Refunded charge %s matches no payment here", charge.id)
        return None
    payment.amount_refunded = charge.amount_refunded
    full = charge.amount_refunded >= payment.amount
    payment.status = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    if payment.order_id is not None:
        order = db.session.get(Order, payment.order_id)
        assert order is not None  # orders are never deleted (and the key is ON DELETE SET NULL)
        order.amount_refunded = charge.amount_refunded
        order.status = OrderStatus.REFUNDED if full else OrderStatus.PARTIALLY_REFUNDED
        if full:
            # A gift refunded before it was redeemed is taken back: its link stops working.
            gifts.revoke_for_refund(order.id)
    db.session.flush()
    return payment
