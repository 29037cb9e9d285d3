"""Coming back from Checkout without paying: the reader's (or guest browser's) open
checkout, and ending it so its stock comes back at once."""

from __future__ import annotations

from sqlalchemy import select

from shop.accounts.models import User
from shop.billing import checkout, gateway, holds
from shop.cart.models import Order, OrderStatus
from shop.extensions import db


def _own_pending(user: User | None, order_id: int | None, guest_key: str | None) -> Order | None:
    """The order, if it is this reader's (or this guest browser's) and still waits to be paid."""
    if order_id is None or (user is None and not guest_key):
        return None
    return db.session.scalar(
        select(Order).where(
            Order.id == order_id,
            checkout.owned_by(user, guest_key),
            Order.status == OrderStatus.PENDING,
        )
    )


def cancel_checkout(user: User | None, order_id: int, guest_key: str | None = None) -> None:
    """The reader came back from Checkout without paying: end the session, keep the cart."""
    order = _own_pending(user, order_id, guest_key)
    if order is None:
        return
    if order.stripe_checkout_session_id:
        try:
            if gateway.expire_checkout_session(order.stripe_checkout_session_id) is None:
                return  # paid after all, or already expired: the webhook settles it
        except gateway.GatewayError:
            return  # the reservation is released when Stripe expires the session
    holds.close_order(order.id, OrderStatus.ABANDONED)
    db.session.commit()


def pending_checkout(
    user: User | None, order_id: int | None, guest_key: str | None = None
) -> Order | None:
    """The reader's (or guest browser's) order ``order_id`` if it still waits for payment."""
    return _own_pending(user, order_id, guest_key)
