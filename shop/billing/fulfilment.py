"""Fulfilment: a paid Checkout Session's order is marked paid exactly once and its
receipt mailed; a failed or expired one is closed and its stock given back.

An order moves out of ``pending`` with one conditional UPDATE that only one caller can
win, so a webhook delivered twice, late, or racing the success page changes nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts import links
from shop.accounts.models import ROLE_READER, User
from shop.accounts.services import (
    AccountError,
    clean_display_name,
    find_user_by_email,
    normalise_email,
)
from shop.billing import customers, gateway, gifts, holds, sync
from shop.billing.checkout import guest_key_hash
from shop.cart import services as carts
from shop.cart.models import Cart, Order, OrderStatus
from shop.clock import utcnow
from shop.extensions import db
from shop.mail import send_email
from shop.shipping import services as shipping
from shop.shipping.address import Address
from shop.urls import external_url

log = logging.getLogger(__name__)

# How long after expires_at the sweep waits for Stripe's own checkout.session.expired.
SWEEP_GRACE = timedelta(minutes=5)
# Orders made before expires_at was set: Stripe's default session lifetime.
DEFAULT_SESSION_LIFETIME = timedelta(hours=24)
# A completed session's payment statuses that settle it: paid, or nothing to pay today
# (a plan's free trial, or a discount of everything).
SETTLED = ("paid", "no_payment_required")


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
            Order.status == OrderStatus.PENDING,
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
        if holds.close_order(order_id, OrderStatus.ABANDONED):
            released += 1
        db.session.commit()
    return released


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
    if session.payment_status not in SETTLED:
        return False
    order = order_for_session(session)
    if order is None:
        log.warning("Paid checkout session %s has no order here", session.id)
        return False
    # An UPDATE's result is a CursorResult (with rowcount); Session.execute's type says only
    # Result.
    updated = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == OrderStatus.PENDING)
        .values(
            status=OrderStatus.PAID,
            paid_at=utcnow(),
            stripe_checkout_session_id=session.id,
            stripe_subscription_id=session.subscription,
            stripe_payment_intent_id=session.payment_intent,
            stripe_invoice_id=session.invoice,
        )
        .execution_options(synchronize_session=False)
    )
    won = cast("CursorResult[Any]", updated).rowcount
    if not won:
        return False
    db.session.refresh(order)
    if order.user_id is None:
        _guest_reader(order, session)
    for line in order.lines:
        line.reserved = 0  # the reservation is now a sale
    gifts.mark_paid(order)  # a gift's order: the gift is scheduled for its date
    posted = shipping.is_posted(line.product for line in order.lines if line.product is not None)
    if posted or session.shipping is not None:
        shipment = shipping.record_shipment(order, _with_rate_name(session))
        # The order's total is what the reader paid: its lines and the postage.
        order.total = sum(line.amount for line in order.lines) + shipment.amount
    user = db.session.get(User, order.user_id) if order.user_id is not None else None
    cart = db.session.get(Cart, order.cart_id) if order.cart_id else carts.find_cart(user, None)
    if cart is not None and cart.version == order.cart_version:
        carts.clear_cart(cart, commit=False)
    if session.subscription:
        sync.sync_subscription(session.subscription)
    if session.invoice:
        sync.record_invoice_payment(gateway.retrieve_invoice(session.invoice))
    elif session.payment_intent:
        sync.upsert_payment(
            stripe_payment_intent_id=session.payment_intent,
            user_id=order.user_id,
            order_id=order.id,
            amount=session.amount_total if session.amount_total is not None else order.total,
            currency=session.currency or order.currency,
        )
    return True


def _guest_reader(order: Order, session: gateway.CheckoutSession) -> None:
    """A guest paid: the order becomes the reader's whose email Checkout collected, made
    now (no password: they log in by mailed links) when the address has no account yet."""
    email = normalise_email(session.customer_email or "")
    if not email:
        log.error("Guest order %s was paid without an email; left without a reader", order.id)
        return
    user = find_user_by_email(email)
    if user is None:
        try:
            name = clean_display_name(session.customer_name)
        except AccountError:
            name = None  # the name on a card is not always one to show
        try:
            with db.session.begin_nested():
                user = User(email=email, role=ROLE_READER, display_name=name)
                user.clear_password()
                db.session.add(user)
        except IntegrityError:
            user = find_user_by_email(email)  # made a moment ago by another payment
        else:
            order.guest_made_reader = True
    assert user is not None
    order.user_id = user.id
    customers.adopt_customer(user, session.customer)


def _with_rate_name(session: gateway.CheckoutSession) -> Address | None:
    """The address a session collected, with its rate's name as the reader saw it."""
    if session.shipping is None or not session.shipping_rate:
        return session.shipping
    try:
        name = gateway.shipping_rate_name(session.shipping_rate)
    except gateway.GatewayError:
        # The order is paid and its address known: a name missing from the label is
        # better than a payment left unfulfilled until Stripe answers.
        log.warning(
            "Shipping rate %s could not be read; kept without its name", session.shipping_rate
        )
        return session.shipping
    return replace(session.shipping, rate_name=name)


def send_receipt(order_id: int) -> None:
    """Mail the receipt of a paid order, once."""
    order = db.session.get(Order, order_id)
    if order is None or order.status != OrderStatus.PAID or order.receipt_sent_at is not None:
        return
    if order.user_id is None:
        return  # a guest order paid without an email: there is no one to mail
    user = db.session.get(User, order.user_id)
    assert user is not None  # every order has a reader, and accounts are never deleted
    shipment = shipping.shipment_for(order.id)
    gift = gifts.gift_for_order(order.id)
    send_email(
        user.email,
        f"Your receipt from {current_app.config['PUBLICATION_NAME']} (order {order.id})",
        "receipt",
        order=order,
        shipment=shipment,
        address=shipping.address_lines(shipment) if shipment is not None else [],
        gift=gift,
        gift_period=gifts.period_words(gift.months) if gift is not None else "",
        account_url=external_url("accounts.account"),
    )
    order.receipt_sent_at = utcnow()
    db.session.commit()


def fail_order(session: gateway.CheckoutSession) -> bool:
    """A delayed payment failed: the order fails and its reservation is released."""
    order = order_for_session(session)
    return order is not None and holds.close_order(order.id, OrderStatus.FAILED)


def abandon_order(session: gateway.CheckoutSession) -> bool:
    """The session expired unpaid: the order is abandoned and its reservation released."""
    order = order_for_session(session)
    return order is not None and holds.close_order(order.id, OrderStatus.ABANDONED)


def confirm_return(
    user: User | None, session_id: str | None, guest_key: str | None = None
) -> Order | None:
    """The success page: the reader's order for that session (a guest's: the order this
    browser started), fulfilled if Stripe says paid.

    The query string is only a hint: the order must be the reader's own (or this guest
    browser's; another browser holding the URL finds nothing), and its state comes from
    our database, or from Stripe when the webhook has not arrived yet.
    """
    if not session_id or (user is None and not guest_key):
        return None
    order = db.session.scalar(
        select(Order).where(
            Order.stripe_checkout_session_id == session_id,
            Order.user_id == user.id
            if user is not None
            else Order.guest_key_hash == guest_key_hash(guest_key or ""),
        )
    )
    if order is None or order.status != OrderStatus.PENDING:
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


def welcome_guest(order: Order) -> User | None:
    """Once per guest order: the reader its browser may be logged in as (made by this
    payment), or None when the email belongs to an account made before, whose owner is
    mailed a sign-in link instead of being logged in by whoever typed their address."""
    if order.user_id is None or order.guest_welcomed_at is not None:
        return None
    user = db.session.get(User, order.user_id)
    assert user is not None  # accounts are never deleted
    order.guest_welcomed_at = utcnow()
    db.session.commit()
    publication = current_app.config["PUBLICATION_NAME"]
    reason = (
        f"Thank you for your order at {publication}. This link logs you in on any device."
        if order.guest_made_reader
        else f"Your order at {publication} is in your account: log in with this link to see it."
    )
    try:
        links.mail_sign_in_link(user, "/account", reason=reason)
    except AccountError:
        log.warning("The sign-in link for guest order %s could not be mailed now", order.id)
    return user if order.guest_made_reader else None
