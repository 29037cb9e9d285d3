"""Checkout, fulfilment, subscriptions and payments: the billing rules.

Every state change that a Stripe event can cause is written so that running it twice,
or for an event that arrives late or out of order, changes nothing more: orders move
out of ``pending`` with one conditional UPDATE that only one caller can win, and
subscriptions are upserted from Stripe's current state rather than an event's copy.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.billing import gateway
from shop.billing.models import (
    PAYMENT_PAID,
    PAYMENT_PARTIALLY_REFUNDED,
    PAYMENT_REFUNDED,
    Customer,
    Payment,
    Subscription,
    SubscriptionChange,
)
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.install import scoped_key
from shop.mail import send_email
from shop.store import services as store
from shop.store.models import (
    ORDER_ABANDONED,
    ORDER_FAILED,
    ORDER_PAID,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_PENDING,
    ORDER_REFUNDED,
    Cart,
    Order,
    OrderLine,
    Price,
    Product,
)
from shop.urls import external_url

log = logging.getLogger(__name__)

# Statuses in which a reader already holds a plan and should manage it, not buy another.
HOLDING_STATUSES = ("active", "trialing", "past_due", "incomplete")

# Stripe lets a Checkout Session live 30 minutes to 24 hours. Sessions that hold stock
# live CHECKOUT_HOLD_MINUTES, kept in 30-60 so that stock comes back soon.
HOLD_MINUTES_MIN = 30
HOLD_MINUTES_MAX = 60
# Stripe measures the 30 minutes from when it receives the request, on its own clock.
EXPIRY_SLACK = timedelta(minutes=2)
# A session this close to its end is replaced rather than handed out again.
REUSE_MARGIN = timedelta(minutes=5)
# How long after expires_at the sweep waits for Stripe's own checkout.session.expired.
SWEEP_GRACE = timedelta(minutes=5)
# Orders made before expires_at was set: Stripe's default session lifetime.
DEFAULT_SESSION_LIFETIME = timedelta(hours=24)


class BillingError(RuleError):
    """A billing rule was broken, or Stripe could not do what was asked."""


# --- customers -----------------------------------------------------------------------


def customer_key(user: User) -> str:
    """The idempotency key of the user's Stripe Customer: this install, this account row."""
    # The row's creation time tells a restored database's reused user id apart.
    return scoped_key("customer", user.id, user.created_at)


def checkout_key(order: Order, cart_version: int) -> str:
    """The idempotency key of an order's Checkout Session, for that version of the cart."""
    return scoped_key("checkout", order.id, order.created_at, f"cart-v{cart_version}")


def refund_key(payment: Payment, amount: int | None, attempt: str) -> str:
    """The idempotency key of one refund request of a payment (``attempt`` tells them apart)."""
    # paid_at is the payment row's creation time (it is written once, on insert).
    return scoped_key("refund", payment.id, payment.paid_at, amount or "rest", attempt)


def stripe_customer_id(user: User, create: bool = True) -> str | None:
    """The user's Stripe Customer id, created once and stored."""
    customer = db.session.scalar(select(Customer).where(Customer.user_id == user.id))
    if customer is not None:
        return customer.stripe_customer_id
    if not create:
        return None
    stripe_id = gateway.create_customer(user.email, user.id, idempotency_key=customer_key(user))
    db.session.add(Customer(user_id=user.id, stripe_customer_id=stripe_id))
    try:
        db.session.commit()
    except IntegrityError:
        # Another request created it first; the idempotency key gave both the same id.
        db.session.rollback()
    return stripe_id


def user_for_customer(stripe_customer: str | None) -> User | None:
    """The user a Stripe Customer belongs to."""
    if not stripe_customer:
        return None
    return db.session.scalar(
        select(User).join(Customer).where(Customer.stripe_customer_id == stripe_customer)
    )


# --- checkout ------------------------------------------------------------------------


def _reserve(order: Order) -> None:
    """Take each one-off line's quantity from stock, atomically, or refuse."""
    for line in order.lines:
        product = db.session.get(Product, line.product_id)
        if product is None or product.stock is None:
            continue
        # One UPDATE that checks and takes: two buyers of the last unit cannot both win.
        taken = db.session.execute(
            update(Product)
            .where(Product.id == line.product_id, Product.stock >= line.quantity)
            .values(stock=Product.stock - line.quantity)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            db.session.rollback()
            raise BillingError(
                f"Sorry, “{line.name}” sold out while you were shopping. "
                "Change the quantity or remove it, then check out again."
            )
        line.reserved = line.quantity


def _release(order: Order) -> None:
    """Give reserved units back to stock."""
    for line in order.lines:
        if line.reserved and line.product_id is not None:
            db.session.execute(
                update(Product)
                .where(Product.id == line.product_id, Product.stock.is_not(None))
                .values(stock=Product.stock + line.reserved)
                .execution_options(synchronize_session=False)
            )
            line.reserved = 0


def _close_order(order_id: int, status: str) -> bool:
    """Move a pending order to abandoned or failed, releasing its reservation, once."""
    moved = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == ORDER_PENDING)
        .values(status=status, closed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        order = db.session.get(Order, order_id)
        db.session.refresh(order)
        _release(order)
    return bool(moved)


STRIPE_DOWN_EARLIER = (
    "We could not reach the payment provider to close your earlier checkout, so no new one "
    "was started. Nothing was charged and your cart is just as you left it: please try again "
    "in a moment."
)


def _replace_open_checkouts(user: User, keep: Order | None = None) -> None:
    """Expire the reader's other open sessions; a new checkout replaces them.

    Raises BillingError when Stripe cannot be reached: the older session may still be
    paid, so its order (and the stock it holds) stays as it is, and no new one starts.
    """
    pending = db.session.scalars(
        select(Order).where(Order.user_id == user.id, Order.status == ORDER_PENDING)
    ).all()
    for order in pending:
        if keep is not None and order.id == keep.id:
            continue
        if order.stripe_checkout_session_id:
            try:
                expired = gateway.expire_checkout_session(order.stripe_checkout_session_id)
            except gateway.GatewayError as exc:
                db.session.rollback()
                raise BillingError(STRIPE_DOWN_EARLIER) from exc
            if expired is None:
                # Not open any more: it may have been paid a moment ago. Its webhook
                # settles it; abandoning it here could undo a real payment.
                continue
        _close_order(order.id, ORDER_ABANDONED)
        # Stripe has expired it: keep that even if a later session fails to expire.
        db.session.commit()
    db.session.commit()


def hold_minutes() -> int:
    """How long a Checkout Session that holds stock stays open: CHECKOUT_HOLD_MINUTES, 30-60."""
    configured = int(current_app.config.get("CHECKOUT_HOLD_MINUTES", HOLD_MINUTES_MIN))
    return min(max(configured, HOLD_MINUTES_MIN), HOLD_MINUTES_MAX)


def _hold_until(now: datetime) -> datetime:
    """When a session made now that holds stock expires, whole seconds, within Stripe's range."""
    shortest = timedelta(minutes=HOLD_MINUTES_MIN) + EXPIRY_SLACK
    hold = max(timedelta(minutes=hold_minutes()), shortest)
    return (now + hold).replace(microsecond=0)


def _unix(moment: datetime) -> int:
    """A naive UTC datetime as the Unix time Stripe takes."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def units_held(user: User) -> int:
    """Limited-stock units reserved for the reader's open checkouts."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(OrderLine.reserved), 0))
            .join(Order, OrderLine.order_id == Order.id)
            .where(Order.user_id == user.id, Order.status == ORDER_PENDING)
        )
        or 0
    )


def _check_account_cap(user: User, cart: Cart, lines: list) -> None:
    """Refuse a checkout that would take the reader's held units over MAX_UNITS_PER_ACCOUNT."""
    wanted = store.held_units(lines)
    if not wanted:
        return
    # One checkout per reader at a time (PostgreSQL): two tabs cannot both pass the count.
    db.session.execute(select(Cart.id).where(Cart.id == cart.id).with_for_update())
    held, cap = units_held(user), store.max_units_per_account()
    if held + wanted > cap:
        db.session.rollback()
        raise BillingError(store.cap_message(cap, wanted, held))


def _holds_plan(user: User) -> bool:
    return (
        db.session.scalar(
            select(Subscription.id).where(
                Subscription.user_id == user.id, Subscription.status.in_(HOLDING_STATUSES)
            )
        )
        is not None
    )


def _ensure_stripe_prices(lines: list) -> None:
    """Push any product that never reached Stripe, so every line has a Stripe price."""
    from shop.billing.catalogue import push_product

    for line in lines:
        if not line.price.stripe_price_id:
            push_product(line.product)


def start_checkout(user: User) -> str:
    """Turn the reader's cart into a pending order and a Checkout Session; return its URL."""
    if not gateway.is_configured():
        raise BillingError("Payments are not set up on this site yet.")
    cart = store.find_cart(user, None)
    if cart is None:
        raise BillingError("Your cart is empty.")
    lines = store.check_cart_for_checkout(cart)
    has_plan = any(line.product.is_plan for line in lines)
    if has_plan and _holds_plan(user):
        raise BillingError(
            "You already have a plan. Change or cancel it from your account's billing page."
        )

    # The same cart, unchanged, checked out again: the same order and session.
    existing = db.session.scalar(
        select(Order).where(
            Order.user_id == user.id,
            Order.status == ORDER_PENDING,
            Order.cart_version == cart.version,
            Order.checkout_url.is_not(None),
        )
    )
    if existing is not None:
        try:
            session = gateway.retrieve_checkout_session(existing.stripe_checkout_session_id)
        except gateway.MissingObjectError:
            session = None  # Stripe has no such session: nobody can pay it; replace it
        except gateway.GatewayError as exc:
            raise BillingError(str(exc) + " Your cart is just as you left it.") from exc
        ending = existing.checkout_expires_at is not None and (
            existing.checkout_expires_at - REUSE_MARGIN <= utcnow()
        )
        if session is not None and session.status == "open" and not ending:
            _replace_open_checkouts(user, keep=existing)
            return existing.checkout_url
    _replace_open_checkouts(user)

    try:
        _ensure_stripe_prices(lines)
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc
    currency = lines[0].price.currency
    order = Order(
        user_id=user.id,
        status=ORDER_PENDING,
        mode="subscription" if has_plan else "payment",
        currency=currency,
        total=sum(line.amount for line in lines),
        cart_version=cart.version,
        lines=[
            OrderLine(
                product_id=line.product.id,
                price_id=line.price.id,
                name=line.product.name,
                unit_amount=line.price.amount,
                quantity=line.quantity,
                interval=line.price.interval,
                stripe_price_id=line.price.stripe_price_id,
            )
            for line in lines
        ],
    )
    _check_account_cap(user, cart, lines)
    db.session.add(order)
    db.session.flush()
    _reserve(order)
    if any(line.reserved for line in order.lines):
        # Held stock comes back when the session ends, so it must end soon.
        order.checkout_expires_at = _hold_until(utcnow())
    db.session.commit()

    try:
        customer = stripe_customer_id(user)
        params = {
            "mode": order.mode,
            "customer": customer,
            "client_reference_id": str(order.id),
            "metadata": {"order_id": str(order.id), "user_id": str(user.id)},
            "line_items": [
                {"price": line.stripe_price_id, "quantity": line.quantity} for line in order.lines
            ],
            "allow_promotion_codes": True,
            "success_url": external_url("billing.success") + "?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": external_url("billing.cancel", order=order.id),
        }
        if order.mode == "subscription":
            params["subscription_data"] = {"metadata": {"order_id": str(order.id)}}
        else:
            params["payment_intent_data"] = {"metadata": {"order_id": str(order.id)}}
        if order.checkout_expires_at is not None:
            params["expires_at"] = _unix(order.checkout_expires_at)
        session = gateway.create_checkout_session(
            params, idempotency_key=checkout_key(order, order.cart_version)
        )
    except gateway.GatewayError as exc:
        _close_order(order.id, ORDER_ABANDONED)
        db.session.commit()
        raise BillingError(str(exc)) from exc
    order.stripe_checkout_session_id = session.id
    order.checkout_url = session.url
    db.session.commit()
    return session.url


def cancel_checkout(user: User, order_id: int) -> None:
    """The reader came back from Checkout without paying: end the session, keep the cart."""
    order = db.session.get(Order, order_id)
    if order is None or order.user_id != user.id or order.status != ORDER_PENDING:
        return
    if order.stripe_checkout_session_id:
        try:
            if gateway.expire_checkout_session(order.stripe_checkout_session_id) is None:
                return  # paid after all, or already expired: the webhook settles it
        except gateway.GatewayError:
            return  # the reservation is released when Stripe expires the session
    _close_order(order.id, ORDER_ABANDONED)
    db.session.commit()


def pending_checkout(user: User, order_id: int | None) -> Order | None:
    """The reader's own order ``order_id`` if its checkout is still waiting for payment."""
    if order_id is None:
        return None
    order = db.session.get(Order, order_id)
    if order is None or order.user_id != user.id or order.status != ORDER_PENDING:
        return None
    return order


def release_expired_checkouts(now: datetime | None = None) -> int:
    """Close pending orders whose Checkout Session has ended, releasing their stock; how many.

    For ``tick``: the ``checkout.session.expired`` webhook normally does this, but a
    webhook can be lost. Stripe is asked about each session first, so a payment made
    just before the end (its webhook late) is fulfilled rather than undone. Safe to run
    twice; a session Stripe cannot be asked about now is left for the next run.
    """
    now = now or utcnow()
    due = db.session.scalars(
        select(Order.id)
        .where(
            Order.status == ORDER_PENDING,
            or_(
                Order.checkout_expires_at < now - SWEEP_GRACE,
                and_(
                    Order.checkout_expires_at.is_(None),
                    Order.created_at < now - DEFAULT_SESSION_LIFETIME - SWEEP_GRACE,
                ),
            ),
        )
        .order_by(Order.id)
    ).all()
    released = 0
    for order_id in due:
        order = db.session.get(Order, order_id)
        session_id = order.stripe_checkout_session_id if order is not None else None
        if session_id:
            try:
                session = gateway.retrieve_checkout_session(session_id)
            except gateway.MissingObjectError:
                session = None  # Stripe never had it or forgot it: nobody can pay it
            except gateway.GatewayError:
                log.warning("Checkout sweep: Stripe unreachable for order %s; next time", order_id)
                continue
            if session is not None and session.status == "complete":
                try:
                    paid = fulfil(session)  # paid; the webhook is late
                except gateway.GatewayError:
                    db.session.rollback()
                    continue
                if paid:
                    db.session.commit()
                    send_receipt(order_id)
                # Unpaid: a bank debit is settling, and its own webhook decides.
                continue
            if session is not None and session.status == "open":
                # Past its time but not yet expired by Stripe: end it so it cannot be paid.
                try:
                    if gateway.expire_checkout_session(session_id) is None:
                        continue  # paid or expired meanwhile: the next run sees which
                except gateway.GatewayError:
                    continue
        # Expired at Stripe, or no session at all (its creation failed, or the request
        # died before storing it: the reader never reached a payment page). Unpayable.
        if _close_order(order_id, ORDER_ABANDONED):
            released += 1
        db.session.commit()
    return released


# --- fulfilment ----------------------------------------------------------------------


def order_for_session(session: gateway.CheckoutSession) -> Order | None:
    """The order a Checkout Session was created for."""
    order = db.session.scalar(select(Order).where(Order.stripe_checkout_session_id == session.id))
    if order is None and session.order_id is not None:
        # The webhook can beat our own commit of the session id onto the order.
        order = db.session.get(Order, session.order_id)
    return order


def fulfil(session: gateway.CheckoutSession) -> bool:
    """Mark a paid session's order paid, exactly once; True if this call did it.

    The caller commits. The receipt is mailed by ``send_receipt`` after the commit.
    """
    if session.payment_status != "paid":
        return False
    order = order_for_session(session)
    if order is None:
        log.warning("Paid checkout session %s has no order here", session.id)
        return False
    won = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == ORDER_PENDING)
        .values(
            status=ORDER_PAID,
            paid_at=utcnow(),
            stripe_checkout_session_id=session.id,
            stripe_subscription_id=session.subscription,
            stripe_payment_intent_id=session.payment_intent,
            stripe_invoice_id=session.invoice,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return False
    db.session.refresh(order)
    for line in order.lines:
        line.reserved = 0  # the reservation is now a sale
    user = db.session.get(User, order.user_id)
    cart = store.find_cart(user, None)
    if cart is not None and cart.version == order.cart_version:
        store.clear_cart(cart, commit=False)
    if session.subscription:
        sync_subscription(session.subscription)
    if session.invoice:
        record_invoice_payment(gateway.retrieve_invoice(session.invoice))
    elif session.payment_intent:
        _upsert_payment(
            stripe_payment_intent_id=session.payment_intent,
            user_id=order.user_id,
            order_id=order.id,
            amount=session.amount_total if session.amount_total is not None else order.total,
            currency=session.currency or order.currency,
        )
    return True


def send_receipt(order_id: int) -> None:
    """Mail the receipt of a paid order, once."""
    order = db.session.get(Order, order_id)
    if order is None or order.status != ORDER_PAID or order.receipt_sent_at is not None:
        return
    user = db.session.get(User, order.user_id)
    send_email(
        user.email,
        f"Your receipt from {current_app.config['PUBLICATION_NAME']} (order {order.id})",
        "receipt",
        order=order,
        account_url=external_url("accounts.account"),
    )
    order.receipt_sent_at = utcnow()
    db.session.commit()


def fail_order(session: gateway.CheckoutSession) -> bool:
    """A delayed payment failed: the order fails and its reservation is released."""
    order = order_for_session(session)
    return order is not None and _close_order(order.id, ORDER_FAILED)


def abandon_order(session: gateway.CheckoutSession) -> bool:
    """The session expired unpaid: the order is abandoned and its reservation released."""
    order = order_for_session(session)
    return order is not None and _close_order(order.id, ORDER_ABANDONED)


def confirm_return(user: User, session_id: str | None) -> Order | None:
    """The success page: the reader's order for that session, fulfilled if Stripe says paid.

    The query string is only a hint: the order must be the reader's own, and its state
    comes from our database, or from Stripe when the webhook has not arrived yet.
    """
    if not session_id:
        return None
    order = db.session.scalar(
        select(Order).where(
            Order.stripe_checkout_session_id == session_id, Order.user_id == user.id
        )
    )
    if order is None or order.status != ORDER_PENDING:
        return order
    try:
        session = gateway.retrieve_checkout_session(session_id)
    except gateway.GatewayError:
        return order
    if fulfil(session):
        db.session.commit()
        send_receipt(order.id)
    db.session.refresh(order)
    return order


# --- subscriptions and payments ----------------------------------------------------


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


def _upsert_payment(**values) -> Payment:
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
        payment = Payment(status=PAYMENT_PAID)
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
    return _upsert_payment(
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
    payment.status = PAYMENT_REFUNDED if full else PAYMENT_PARTIALLY_REFUNDED
    if payment.order_id is not None:
        order = db.session.get(Order, payment.order_id)
        order.amount_refunded = charge.amount_refunded
        order.status = ORDER_REFUNDED if full else ORDER_PARTIALLY_REFUNDED
    db.session.flush()
    return payment


# --- refunds (the back office) -------------------------------------------------------

# Statuses of an order whose payments may still be refunded.
REFUNDABLE_ORDER_STATUSES = (ORDER_PAID, ORDER_PARTIALLY_REFUNDED)
REFUNDABLE_PAYMENT_STATUSES = (PAYMENT_PAID, PAYMENT_PARTIALLY_REFUNDED)
# An optional currency sign, then digits with an optional point: what an admin types.
_MAJOR_AMOUNT = re.compile(r"[£$€]?\s*([+-]?[0-9]*\.?[0-9]*)")
_ATTEMPT = re.compile(r"[A-Za-z0-9_-]{8,64}")


def refundable_amount(payment: Payment) -> int:
    """What is left to refund of a payment, in minor units; 0 if it cannot be refunded."""
    if payment.status not in REFUNDABLE_PAYMENT_STATUSES or not payment.stripe_payment_intent_id:
        return 0
    if payment.order is not None and payment.order.status not in REFUNDABLE_ORDER_STATUSES:
        return 0
    return max(payment.amount - payment.amount_refunded, 0)


def parse_refund_amount(text: str | None) -> int:
    """An amount typed in major units ("5", "5.00", "£5.00") as minor units; BillingError if bad."""
    match = _MAJOR_AMOUNT.fullmatch((text or "").strip())
    digits = match.group(1) if match else ""
    if not digits.strip("+-."):
        raise BillingError("Write the amount to refund as a number such as 5 or 5.00.", "amount")
    try:
        value = Decimal(digits)
    except InvalidOperation:
        raise BillingError(
            "Write the amount to refund as a number such as 5 or 5.00.", "amount"
        ) from None
    if value <= 0:
        raise BillingError("The amount to refund must be more than zero.", "amount")
    minor = value * 100
    if minor != minor.to_integral_value():
        raise BillingError("Use at most two decimal places, such as 5.25.", "amount")
    return int(minor)


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
                f"At most {store.format_money(left, payment.currency)} is left to refund "
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
        store.format_money(asked, payment.currency),
        payment.id,
    )
    return asked


# --- the reader's view ---------------------------------------------------------------


@dataclass
class BillingOverview:
    """What the account page shows about money."""

    subscription: Subscription | None
    orders: list[Order]
    has_customer: bool


def overview(user: User) -> BillingOverview:
    """The reader's current subscription and orders, newest first."""
    sub = db.session.scalar(
        select(Subscription)
        .where(Subscription.user_id == user.id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        .limit(1)
    )
    orders = db.session.scalars(
        select(Order)
        .where(Order.user_id == user.id, Order.status != ORDER_ABANDONED)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(50)
    ).all()
    return BillingOverview(
        subscription=sub,
        orders=list(orders),
        has_customer=stripe_customer_id(user, create=False) is not None,
    )


def portal_url(user: User) -> str:
    """A Stripe customer portal session for the reader."""
    customer = stripe_customer_id(user, create=False)
    if customer is None:
        raise BillingError("You have no billing account yet: nothing has been bought.")
    try:
        return gateway.create_portal_session(customer, external_url("accounts.account"))
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc
