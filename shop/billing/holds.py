"""Stock held for open checkouts: taken atomically, given back when an order closes."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update

from shop.accounts.models import User
from shop.billing.errors import BillingError
from shop.cart.models import Order, OrderLine, OrderStatus
from shop.catalogue.models import Product
from shop.clock import utcnow
from shop.extensions import db


def reserve(order: Order) -> None:
    """Take each one-off line's quantity from stock, atomically, or refuse."""
    for line in order.lines:
        product = db.session.get(Product, line.product_id)
        if product is None or product.stock is None:
            continue
        # One UPDATE that checks and takes: two buyers of the last unit cannot both win.
        # An UPDATE's result is a CursorResult (with rowcount); Session.execute's type says
        # only Result.
        taken = db.session.execute(
            update(Product)
            .where(Product.id == line.product_id, Product.stock >= line.quantity)
            .values(stock=Product.stock - line.quantity)
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", taken).rowcount != 1:
            db.session.rollback()
            raise BillingError(
                f"Sorry, “{line.name}” sold out while you were shopping. "
                "Change the quantity or remove it, then check out again."
            )
        line.reserved = line.quantity


def release(order: Order) -> None:
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


def close_order(order_id: int, status: str) -> bool:
    """Move a pending order to abandoned or failed, releasing its reservation, once."""
    updated = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PENDING)
        .values(status=status, closed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    moved = cast("CursorResult[Any]", updated).rowcount
    if moved:
        order = db.session.get(Order, order_id)
        assert order is not None  # the UPDATE above has just matched its row
        db.session.refresh(order)
        release(order)
    return bool(moved)


def units_held(user: User) -> int:
    """Limited-stock units reserved for the reader's open checkouts."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(OrderLine.reserved), 0))
            .join(Order, OrderLine.order_id == Order.id)
            .where(Order.user_id == user.id, Order.status == OrderStatus.PENDING)
        )
        or 0
    )
