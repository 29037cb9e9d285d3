"""Checkout: the reader's cart becomes a pending order, its stock held, and a Stripe
Checkout Session; coming back without paying ends it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, select

from shop.accounts.models import User
from shop.billing import gateway, holds, offers
from shop.billing.catalogue import push_product
from shop.billing.customers import stripe_customer_id
from shop.billing.errors import BillingError
from shop.billing.models import Subscription
from shop.cart import limits
from shop.cart import services as carts
from shop.cart.models import Cart, Order, OrderLine, OrderStatus
from shop.catalogue import services as catalogue
from shop.catalogue.models import Product
from shop.clock import utcnow
from shop.extensions import db
from shop.forms import MAX_ROW_ID
from shop.install import scoped_key
from shop.shipping import services as shipping
from shop.urls import external_url, safe_next

PLAN_AND_POSTED = (
    "A plan and items we post are checked out separately, because Stripe cannot add "
    "postage to a subscription. Remove one of them from your cart, check out, then add it "
    "back: your cart keeps everything else."
)

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
# The cart version of an order made by a plan's own button (the paywall's), not from the
# cart: carts start at version 1, so such an order never matches a cart, and paying it
# leaves the cart as it is.
NO_CART_VERSION = 0
HAS_PLAN = "You already have a plan. Change or cancel it from your account's billing page."


def checkout_key(order: Order, cart_version: int) -> str:
    """The idempotency key of an order's Checkout Session, for that version of the cart."""
    return scoped_key("checkout", order.id, order.created_at, f"cart-v{cart_version}")


STRIPE_DOWN_EARLIER = (
    "We could not reach the payment provider to close your earlier checkout, so no new one "
    "was started. Nothing was charged and your cart is just as you left it: please try again "
    "in a moment."
)


def guest_key_hash(key: str) -> str:
    """What an order keeps of a guest browser's checkout key: its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def owned_by(user: User | None, guest_key: str | None) -> ColumnElement[bool]:
    """The orders of this reader, or of this guest browser."""
    if user is not None:
        return Order.user_id == user.id
    assert guest_key, "a guest checkout needs its browser's key"
    return and_(Order.user_id.is_(None), Order.guest_key_hash == guest_key_hash(guest_key))


def _replace_open_checkouts(
    user: User | None, keep: Order | None = None, guest_key: str | None = None
) -> None:
    """Expire the reader's (or guest browser's) other open sessions; a new one replaces them.

    Raises BillingError when Stripe cannot be reached: the older session may still be
    paid, so its order (and the stock it holds) stays as it is, and no new one starts.
    """
    pending = db.session.scalars(
        select(Order).where(owned_by(user, guest_key), Order.status == OrderStatus.PENDING)
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
        holds.close_order(order.id, OrderStatus.ABANDONED)
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


def _check_account_cap(user: User, cart: Cart, lines: list[carts.CartLine]) -> None:
    """Refuse a checkout that would take the reader's held units over MAX_UNITS_PER_ACCOUNT."""
    wanted = carts.held_units(lines)
    if not wanted:
        return
    # One checkout per reader at a time (PostgreSQL): two tabs cannot both pass the count.
    db.session.execute(select(Cart.id).where(Cart.id == cart.id).with_for_update())
    held, cap = holds.units_held(user), limits.max_units_per_account()
    if held + wanted > cap:
        db.session.rollback()
        raise BillingError(limits.cap_message(cap, wanted, held))


def _holds_plan(user: User) -> bool:
    return (
        db.session.scalar(
            select(Subscription.id).where(
                Subscription.user_id == user.id, Subscription.status.in_(HOLDING_STATUSES)
            )
        )
        is not None
    )


def _ensure_stripe_prices(lines: list[carts.CartLine]) -> None:
    """Push any product that never reached Stripe, so every line has a Stripe price."""
    for line in lines:
        if not line.checked_price().stripe_price_id:
            push_product(line.product)


def start_checkout(
    user: User | None, cart_cookie: str | None = None, guest_key: str | None = None
) -> str:
    """Turn the reader's cart into a pending order and a Checkout Session; return its URL.

    A visitor with no account checks out as a guest (``user`` None): the cart their signed
    cookie names, an order that belongs to their browser's ``guest_key`` until it is paid, and a
    session that asks Stripe to collect the email. Fulfilment then finds or makes the
    reader by that email.
    """
    if not gateway.is_configured():
        raise BillingError("Payments are not set up on this site yet.")
    cart = carts.find_cart(user, cart_cookie if user is None else None)
    if cart is None:
        raise BillingError("Your cart is empty.")
    lines = carts.check_cart_for_checkout(cart)
    has_plan = any(line.product.is_plan for line in lines)
    posted = shipping.is_posted(line.product for line in lines)
    if has_plan and posted:
        raise BillingError(PLAN_AND_POSTED)
    if has_plan and user is not None and _holds_plan(user):
        raise BillingError(HAS_PLAN)

    # The same cart, unchanged, checked out again: the same order and session.
    existing = db.session.scalar(
        select(Order).where(
            owned_by(user, guest_key),
            Order.status == OrderStatus.PENDING,
            Order.cart_version == cart.version,
            Order.checkout_url.is_not(None),
        )
    )
    if existing is not None:
        # The session's id and URL are stored together, and the query asked for a URL.
        session_id, url = existing.stripe_checkout_session_id, existing.checkout_url
        assert session_id is not None and url is not None
        try:
            session = gateway.retrieve_checkout_session(session_id)
        except gateway.MissingObjectError:
            session = None  # Stripe has no such session: nobody can pay it; replace it
        except gateway.GatewayError as exc:
            raise BillingError(str(exc) + " Your cart is just as you left it.") from exc
        ending = existing.checkout_expires_at is not None and (
            existing.checkout_expires_at - REUSE_MARGIN <= utcnow()
        )
        if session is not None and session.status == "open" and not ending:
            _replace_open_checkouts(user, keep=existing, guest_key=guest_key)
            return url
    _replace_open_checkouts(user, guest_key=guest_key)

    try:
        _ensure_stripe_prices(lines)
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc
    currency = lines[0].checked_price().currency
    plan = next((line.product for line in lines if line.product.is_plan), None)
    trial_days = offers.trial_days_for(user, plan) if plan is not None else None
    order = Order(
        user_id=user.id if user is not None else None,
        guest_key_hash=guest_key_hash(guest_key) if user is None and guest_key else None,
        cart_id=cart.id,
        status=OrderStatus.PENDING,
        mode="subscription" if has_plan else "payment",
        currency=currency,
        # What is charged today: a plan in its free trial is not.
        total=sum(line.amount for line in lines if not (trial_days and line.product.is_plan)),
        cart_version=cart.version,
        trial_days=trial_days,
        lines=[_order_line(line) for line in lines],
    )
    if user is not None:
        _check_account_cap(user, cart, lines)
    db.session.add(order)
    db.session.flush()
    holds.reserve(order)
    if any(line.reserved for line in order.lines):
        # Held stock comes back when the session ends, so it must end soon.
        order.checkout_expires_at = _hold_until(utcnow())
    db.session.commit()

    return _open_session(user, order, posted=posted)


def _open_session(user: User | None, order: Order, *, posted: bool) -> str:
    """Create the committed pending order's Checkout Session; its URL.

    When Stripe refuses or cannot be reached, the order is abandoned (its stock given
    back) and BillingError raised.
    """
    try:
        params: dict[str, Any] = {
            "mode": order.mode,
            "client_reference_id": str(order.id),
            "metadata": {"order_id": str(order.id)},
            "line_items": [
                {"price": line.stripe_price_id, "quantity": line.quantity} for line in order.lines
            ],
            "allow_promotion_codes": True,
            "success_url": external_url("billing.success") + "?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": external_url("billing.cancel", order=order.id),
        }
        if user is not None:
            params["customer"] = stripe_customer_id(user)
            params["metadata"]["user_id"] = str(user.id)
        elif order.mode == "payment":
            # A guest: Stripe asks for the email, and keeps a customer for the receipt.
            params["customer_creation"] = "always"
        if order.mode == "subscription":
            params["subscription_data"] = {"metadata": {"order_id": str(order.id)}}
            if order.trial_days:
                params["subscription_data"]["trial_period_days"] = order.trial_days
        else:
            params["payment_intent_data"] = {"metadata": {"order_id": str(order.id)}}
        if posted:
            params.update(shipping.checkout_fields())
        if order.checkout_expires_at is not None:
            params["expires_at"] = _unix(order.checkout_expires_at)
        session = gateway.create_checkout_session(
            params, idempotency_key=checkout_key(order, order.cart_version)
        )
    except gateway.GatewayError as exc:
        holds.close_order(order.id, OrderStatus.ABANDONED)
        db.session.commit()
        raise BillingError(str(exc)) from exc
    # A new session is open, and an open hosted session has a URL to send the reader to.
    assert session.url is not None
    order.stripe_checkout_session_id = session.id
    order.checkout_url = session.url
    db.session.commit()
    return session.url


def _plan_to_buy(product_id: int) -> Product:
    """The plan a paywall's button names, if it can be bought now; else BillingError."""
    # Beyond a column's range is no product; PostgreSQL would refuse to even look.
    product = catalogue.product_by_id(product_id) if 0 < product_id <= MAX_ROW_ID else None
    if product is None:
        raise BillingError("We could not find that plan. Choose one in the shop.")
    if not product.is_plan:
        raise BillingError(
            f"“{product.name}” is not a subscription plan: add it to your cart in the shop."
        )
    problem = catalogue.sale_problem(product)
    if problem is not None:
        raise BillingError(problem + " Choose another plan in the shop.")
    return product


def _reusable_plan_checkout(
    user: User | None, price_id: int, guest_key: str | None = None
) -> Order | None:
    """The reader's open one-plan checkout of this price, if its session can still be paid.

    A second press of the same button (or a reload) goes back to the same page rather
    than opening another session.
    """
    order = db.session.scalar(
        select(Order)
        .where(
            owned_by(user, guest_key),
            Order.status == OrderStatus.PENDING,
            Order.cart_version == NO_CART_VERSION,
            Order.checkout_url.is_not(None),
        )
        .order_by(Order.id.desc())
        .limit(1)
    )
    if order is None or [line.price_id for line in order.lines] != [price_id]:
        return None
    assert order.stripe_checkout_session_id is not None  # stored with the URL
    try:
        session = gateway.retrieve_checkout_session(order.stripe_checkout_session_id)
    except gateway.MissingObjectError:
        return None
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc
    created = order.created_at or utcnow()
    # Stripe's default lifetime: 24 hours; replaced a little before the end.
    ending = created + timedelta(hours=24) - REUSE_MARGIN <= utcnow()
    return order if session.status == "open" and not ending else None


def start_plan_checkout(
    user: User | None,
    product_id: int,
    return_path: str | None = None,
    guest_key: str | None = None,
) -> str:
    """Checkout for one plan alone (the paywall's button); the Checkout Session's URL.

    The cart is not read nor changed. ``return_path``, if a safe path on this site, is
    kept on the order so that the success page takes the reader back to it. A visitor
    with no account (``user`` None) pays as a guest, as in :func:`start_checkout`.
    """
    if not gateway.is_configured():
        raise BillingError("Payments are not set up on this site yet.")
    product = _plan_to_buy(product_id)
    if user is not None and _holds_plan(user):
        raise BillingError(HAS_PLAN)
    price = product.price
    assert price is not None  # _plan_to_buy checked it is on sale
    existing = _reusable_plan_checkout(user, price.id, guest_key)
    if existing is not None:
        _replace_open_checkouts(user, keep=existing, guest_key=guest_key)
        assert existing.checkout_url is not None  # the query asked for one
        return existing.checkout_url
    _replace_open_checkouts(user, guest_key=guest_key)
    try:
        if not price.stripe_price_id:
            push_product(product)
    except gateway.GatewayError as exc:
        raise BillingError(str(exc)) from exc
    trial_days = offers.trial_days_for(user, product)
    order = Order(
        user_id=user.id if user is not None else None,
        guest_key_hash=guest_key_hash(guest_key) if user is None and guest_key else None,
        status=OrderStatus.PENDING,
        mode="subscription",
        currency=price.currency,
        total=0 if trial_days else price.amount,
        cart_version=NO_CART_VERSION,
        trial_days=trial_days,
        return_path=safe_next(return_path),
        lines=[
            OrderLine(
                product_id=product.id,
                price_id=price.id,
                name=product.name,
                unit_amount=price.amount,
                quantity=1,
                interval=price.interval,
                stripe_price_id=price.stripe_price_id,
            )
        ],
    )
    db.session.add(order)
    db.session.commit()
    return _open_session(user, order, posted=False)


def _order_line(line: carts.CartLine) -> OrderLine:
    """The order's copy of a checked cart line, at its price now."""
    price = line.checked_price()
    return OrderLine(
        product_id=line.product.id,
        price_id=price.id,
        name=line.product.name,
        unit_amount=price.amount,
        quantity=line.quantity,
        interval=price.interval,
        stripe_price_id=price.stripe_price_id,
    )
