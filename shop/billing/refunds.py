"""Refunds from the back office: what is left to refund, and asking Stripe for it.

Nothing is written here: Stripe's ``charge.refunded`` webhook settles the payment and
its order (``sync.record_refund``), so the local state is always Stripe's.
"""

from __future__ import annotations

import logging
import re

from shop import money
from shop.accounts.models import User
from shop.billing import gateway
from shop.billing.errors import BillingError
from shop.billing.models import Payment, PaymentStatus
from shop.cart.models import OrderStatus
from shop.install import scoped_key

log = logging.getLogger(__name__)

REFUNDABLE_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
REFUNDABLE_PAYMENT_STATUSES = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
_ATTEMPT = re.compile(r"[A-Za-z0-9_-]{8,64}")


def refundable_amount(payment: Payment) -> int:
    """What is left to refund of a payment, in minor units; 0 if it cannot be refunded."""
    if payment.status not in REFUNDABLE_PAYMENT_STATUSES or not payment.stripe_payment_intent_id:
        return 0
    if payment.order is not None and payment.order.status not in REFUNDABLE_ORDER_STATUSES:
        return 0
    return max(payment.amount - payment.amount_refunded, 0)


def parse_refund_amount(text: str | None, currency_code: str | None = None) -> int:
    """An amount typed in major units ("5", "5.00", "£5.00") as minor units; BillingError if bad."""
    try:
        amount = money.parse_money(
            text, currency_code, what="the amount to refund", example="5 or 5.00"
        )
    except money.MoneyError as error:
        raise BillingError(str(error), "amount") from None
    if amount <= 0:
        raise BillingError("The amount to refund must be more than zero.", "amount")
    return amount


def refund_payment(
    payment: Payment, amount: int | None, actor: User, attempt: str | None = None
) -> int:
    """Ask Stripe to refund ``amount`` (minor units) of a payment, or all that is left.

    Returns the amount asked for. Nothing is written here: Stripe's ``charge.refunded``
    webhook settles the payment and its order through ``record_refund``, so the local
    state is always Stripe's, even when this request dies after Stripe said yes.
    ``attempt`` is a token the refund form carries: sending the same form twice (a
    double-click, the browser's "resend") asks Stripe for the same refund, not a second.
    """
    if payment.order is not None and payment.order.status not in REFUNDABLE_ORDER_STATUSES:
        raise BillingError(f"Order {payment.order.id} is not paid, so there is nothing to refund.")
    if payment.status not in REFUNDABLE_PAYMENT_STATUSES:
        raise BillingError("This payment has already been refunded in full.")
    if not payment.stripe_payment_intent_id:
        raise BillingError(
            "This payment has no Stripe PaymentIntent, so it can only be refunded in Stripe."
        )
    left = refundable_amount(payment)
    if left <= 0:
        raise BillingError("Nothing is left to refund on this payment.")
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise BillingError(
                "The amount to refund must be a whole number of cents or pence.", "amount"
            )
        if amount <= 0:
            raise BillingError("The amount to refund must be more than zero.", "amount")
        if amount > left:
            raise BillingError(
                f"At most {money.format_money(left, payment.currency)} is left to refund "
                "on this payment.",
                "amount",
            )
    # Stripe answers a repeated key with the refund it already made, never a second one.
    # Without the form's token, what was refunded before stands in for it: a retry before
    # the webhook lands is then the same request (two equal refunds in that gap count as
    # one, the safe way round).
    if attempt and _ATTEMPT.fullmatch(attempt):
        key = refund_key(payment, amount, f"attempt-{attempt}")
    else:
        key = refund_key(payment, amount, f"after-{payment.amount_refunded}")
    try:
        refund_id = gateway.refund(payment.stripe_payment_intent_id, amount, idempotency_key=key)
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc
    asked = left if amount is None else amount
    log.info(
        "%s asked Stripe for refund %s: %s of payment %s",
        actor.email,
        refund_id,
        money.format_money(asked, payment.currency),
        payment.id,
    )
    return asked


def refund_key(payment: Payment, amount: int | None, attempt: str) -> str:
    """The idempotency key of one refund request of a payment (``attempt`` tells them apart)."""
    # paid_at is the payment row's creation time (it is written once, on insert).
    return scoped_key("refund", payment.id, payment.paid_at, amount or "rest", attempt)
