"""How much one reader may hold: the stock left, 99 a line, and a cap per reader.

Stock is shared by every reader, so limited-stock items also count against
``MAX_UNITS_PER_ACCOUNT``: one account cannot hold all of it in carts and checkouts.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from shop.cart.models import Cart, Order, OrderLine, OrderStatus
from shop.catalogue.models import Product
from shop.catalogue.services import MAX_QUANTITY
from shop.errors import RuleError
from shop.extensions import db

DEFAULT_MAX_UNITS_PER_ACCOUNT = 10  # limited-stock units one reader may hold at once


class CartError(RuleError):
    """A cart rule was broken."""


def own_holds(cart: Cart | None) -> dict[int, int]:
    """Units each product has reserved for the cart owner's open checkouts, by product id.

    They count as left for that reader: a new checkout replaces the old one (or reuses
    it for the same cart), so its units come back to them first.
    """
    if cart is None or cart.user_id is None:
        return {}
    rows = db.session.execute(
        select(OrderLine.product_id, func.sum(OrderLine.reserved))
        .join(Order, OrderLine.order_id == Order.id)
        .where(
            Order.user_id == cart.user_id,
            Order.status == OrderStatus.PENDING,
            OrderLine.reserved > 0,
            OrderLine.product_id.is_not(None),
        )
        .group_by(OrderLine.product_id)
    )
    # The query leaves out lines without a product; the check repeats it for the type checker.
    return {product_id: int(units) for product_id, units in rows if product_id is not None}


def check_limit(product: Product, total: int, in_cart: int = 0, own: int = 0) -> None:
    """Refuse a line total above the stock left (``own``: held for this reader) or 99."""
    if total < 1:
        raise CartError("Choose a quantity of at least 1.", "quantity")
    left = product.stock + own if product.stock is not None else None
    if left is not None and total > left:
        if left == 0:
            raise CartError(f"Sorry, “{product.name}” is sold out.", "quantity")
        held = f" and your cart already holds {in_cart}" if in_cart else ""
        raise CartError(
            f"Only {left} of “{product.name}” {'is' if left == 1 else 'are'} "
            f"left{held}. Choose a smaller quantity.",
            "quantity",
        )
    if total > MAX_QUANTITY:
        raise CartError(
            f"You can have at most {MAX_QUANTITY} of one product in your cart.", "quantity"
        )


def max_units_per_account() -> int:
    """How many units of limited-stock items one reader may hold at once (at least 1)."""
    configured = current_app.config.get("MAX_UNITS_PER_ACCOUNT", DEFAULT_MAX_UNITS_PER_ACCOUNT)
    return max(1, int(configured))


def is_limited(product: Product) -> bool:
    """Whether the product is a one-off item with a stock count (what checkout reserves)."""
    return not product.is_plan and product.stock is not None


def cap_message(cap: int, wanted: int, held: int = 0) -> str:
    """Why a reader may not hold ``wanted`` more limited-stock units, ``held`` being held."""
    items = "item" if cap == 1 else "items"
    if held:
        return (
            f"You can hold at most {cap} limited-stock {items} at once, and {held} "
            f"{'is' if held == 1 else 'are'} already held for a checkout of yours that is "
            "waiting for payment. Finish or cancel that checkout, or lower a quantity."
        )
    return (
        f"You can hold at most {cap} limited-stock {items} at once; your cart would hold "
        f"{wanted}. Lower a quantity, then try again."
    )


def check_cap(cart: Cart, product: Product, total: int) -> None:
    """Refuse a line total that takes the cart's limited-stock units over the per-reader cap."""
    if not is_limited(product):
        return
    others = sum(
        item.quantity
        for item in cart.items
        if item.product_id != product.id and is_limited(item.product)
    )
    cap = max_units_per_account()
    if others + total > cap:
        # Stock is shared by every reader: one account cannot hold all of it.
        raise CartError(cap_message(cap, others + total), "quantity")
