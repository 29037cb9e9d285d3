"""Cart rules: what goes into a cart, how it is priced, and whether it can be paid.

Each function owns its transaction. Money is integer minor units in the publication's
one currency. Billing reads carts through ``check_cart_for_checkout``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from shop import money
from shop.cart import limits
from shop.cart.cookie import CART_COOKIE_MAX_AGE, sign_cart_token, token_from_cookie
from shop.cart.limits import CartError
from shop.cart.models import Cart, CartItem
from shop.catalogue.models import Price, Product
from shop.catalogue.services import MAX_QUANTITY, max_quantity, sale_problem
from shop.clock import utcnow
from shop.extensions import db

# An anonymous cart untouched for as long as its cookie lives can no longer be reached.
STALE_CART_DAYS = CART_COOKIE_MAX_AGE // (24 * 3600)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CartSummary:
    """What the cart widget shows on every page."""

    count: int = 0  # units, not lines
    subtotal: int = 0  # minor units, in ``currency``
    currency: str = ""

    @property
    def is_empty(self) -> bool:
        """Whether the cart holds nothing."""
        return self.count == 0


@dataclass(frozen=True)
class CartLine:
    """One line of a cart with its product's current price; ``problem`` blocks checkout."""

    product: Product
    price: Price | None
    quantity: int
    amount: int  # minor units: price x quantity (0 without a price)
    problem: str | None = None

    def checked_price(self) -> Price:
        """The price of a line without a problem (a missing price is a problem)."""
        assert self.price is not None  # _line_problem names a missing price
        return self.price


def is_reader(user: Any) -> bool:
    """Whether ``user`` is a logged-in account (not None, not Flask-Login's anonymous)."""
    return (
        user is not None
        and not getattr(user, "is_anonymous", False)
        and getattr(user, "id", None) is not None
    )


def find_cart(user: Any, cookie_value: str | None) -> Cart | None:
    """The reader's cart, or the anonymous cart a signed cookie names; never creates one."""
    if is_reader(user):
        return db.session.scalar(select(Cart).where(Cart.user_id == user.id))
    token = token_from_cookie(cookie_value)
    if token is None:
        return None
    return db.session.scalar(select(Cart).where(Cart.token == token, Cart.user_id.is_(None)))


def _create_user_cart(user: Any) -> Cart:
    cart = Cart(user_id=user.id)
    db.session.add(cart)
    try:
        db.session.commit()
    except IntegrityError:
        # Another request made it a moment ago: use that one.
        db.session.rollback()
        theirs = db.session.scalar(select(Cart).where(Cart.user_id == user.id))
        if theirs is None:
            raise
        return theirs
    return cart


def get_or_create_cart(user: Any, cookie_value: str | None) -> tuple[Cart, str | None]:
    """The current cart, made if need be; the second value is a new cookie to set, if any."""
    cart = find_cart(user, cookie_value)
    if cart is not None:
        return cart, None
    if is_reader(user):
        return _create_user_cart(user), None
    token = secrets.token_urlsafe(32)
    cart = Cart(token=token)
    db.session.add(cart)
    db.session.commit()
    return cart, sign_cart_token(token)


def _bump(cart: Cart) -> None:
    """Record a change: checkout keys its attempts by the cart's version."""
    # In SQL, so that two concurrent changes both count.
    cart.version = Cart.version + 1


def _check_quantity(quantity: Any) -> int:
    if not _is_int(quantity):
        raise CartError("Choose a quantity as a whole number.", "quantity")
    return quantity


def _product_for_cart(product_id: Any) -> Product:
    """The product behind an id from a form, if it may go into a cart."""
    if not _is_int(product_id) or product_id < 1:
        raise CartError("Choose a product from the shop.", "product_id")
    product = db.session.get(Product, product_id)
    if product is None:
        raise CartError("That product does not exist. Choose one from the shop.", "product_id")
    problem = sale_problem(product)
    if problem is not None:
        raise CartError(problem, "product_id")
    return product


def held_units(lines: list[CartLine]) -> int:
    """Units of limited-stock items in these lines: what a checkout of them would reserve."""
    return sum(line.quantity for line in lines if limits.is_limited(line.product))


def _line(cart: Cart, product_id: int) -> CartItem | None:
    return next((item for item in cart.items if item.product_id == product_id), None)


def _commit_cart_change() -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        # The same cart changed in another tab at the same moment.
        db.session.rollback()
        raise CartError("Your cart changed in another window. Try again.") from error


def add_item(cart: Cart, product_id: int, quantity: int = 1) -> str | None:
    """Put a product into the cart; return a notice when something else changed too.

    At most one plan per cart: adding a plan replaces the one there, and says so.
    """
    product = _product_for_cart(product_id)
    quantity = _check_quantity(quantity)
    existing = _line(cart, product.id)
    if product.is_plan:
        if quantity != 1:
            raise CartError("A plan is one per cart: its quantity is always 1.", "quantity")
        if existing is not None:
            return f"“{product.name}” is already in your cart."
        replaced = [item for item in cart.items if item.product.is_plan]
        notice = None
        if replaced:
            old = ", ".join(f"“{item.product.name}”" for item in replaced)
            notice = f"“{product.name}” replaced {old} in your cart: one plan at a time."
        for item in replaced:
            cart.items.remove(item)
        cart.items.append(CartItem(product_id=product.id, quantity=1))
        _bump(cart)
        _commit_cart_change()
        return notice
    if quantity < 1:
        raise CartError("Choose a quantity of at least 1.", "quantity")
    in_cart = existing.quantity if existing is not None else 0
    limits.check_limit(
        product, in_cart + quantity, in_cart, limits.own_holds(cart).get(product.id, 0)
    )
    limits.check_cap(cart, product, in_cart + quantity)
    if existing is not None:
        existing.quantity = in_cart + quantity
    else:
        cart.items.append(CartItem(product_id=product.id, quantity=quantity))
    _bump(cart)
    _commit_cart_change()
    return None


def update_item(cart: Cart, product_id: int, quantity: int) -> None:
    """Set a line's quantity; 0 removes it."""
    quantity = _check_quantity(quantity)
    if not _is_int(product_id):
        raise CartError("Choose a product in your cart.", "product_id")
    existing = _line(cart, product_id)
    if existing is None:
        raise CartError("That product is not in your cart.", "product_id")
    if quantity == 0:
        cart.items.remove(existing)
        _bump(cart)
        _commit_cart_change()
        return
    if quantity < 0:
        raise CartError("Choose a quantity of at least 1, or 0 to remove it.", "quantity")
    product = existing.product
    problem = sale_problem(product)
    if problem is not None:
        raise CartError(f"{problem} Remove it from your cart.", "product_id")
    if product.is_plan:
        if quantity != 1:
            raise CartError("A plan is one per cart: its quantity is always 1.", "quantity")
    else:
        limits.check_limit(product, quantity, own=limits.own_holds(cart).get(product.id, 0))
        if quantity > existing.quantity:
            limits.check_cap(cart, product, quantity)
    if existing.quantity == quantity:
        return
    existing.quantity = quantity
    _bump(cart)
    _commit_cart_change()


def remove_item(cart: Cart, product_id: int) -> Product | None:
    """Take a product out of the cart; return it, or None if it was not there."""
    existing = _line(cart, product_id) if _is_int(product_id) else None
    if existing is None:
        return None
    product = existing.product
    cart.items.remove(existing)
    _bump(cart)
    _commit_cart_change()
    return product


def clear_cart(cart: Cart, commit: bool = True) -> None:
    """Empty the cart (after a purchase); ``commit=False`` joins the caller's transaction."""
    if cart.items:
        cart.items.clear()
        _bump(cart)
    if commit:
        db.session.commit()


def merge_carts(anonymous_cart: Cart, user: Any) -> list[str]:
    """At login, move an anonymous cart's lines into the reader's cart; return notices.

    Quantities add up, capped by the stock left; the anonymous cart's plan wins, being
    the newest choice; the anonymous cart is deleted.
    """
    if anonymous_cart.user_id is not None or not is_reader(user):
        return []
    target = find_cart(user, None) or _create_user_cart(user)
    notices: list[str] = []
    incoming = list(anonymous_cart.items)
    new_plan = next((item.product for item in incoming if item.product.is_plan), None)
    if new_plan is not None:
        dropped = [i for i in target.items if i.product.is_plan and i.product_id != new_plan.id]
        for item in dropped:
            target.items.remove(item)
            notices.append(
                f"“{new_plan.name}” replaced “{item.product.name}” in your cart: "
                "one plan at a time."
            )
    for item in incoming:
        product = item.product
        if product.is_plan and product is not new_plan:
            continue  # an old cart with two plans: keep the first
        existing = _line(target, product.id)
        if product.is_plan:
            if existing is None:
                target.items.append(CartItem(product_id=product.id, quantity=1))
            continue
        wanted = item.quantity + (existing.quantity if existing is not None else 0)
        allowed = min(wanted, max_quantity(product))
        if allowed < wanted:
            notices.append(
                f"Sorry, “{product.name}” is sold out."
                if allowed == 0
                else f"Only {allowed} of “{product.name}” could stay in your cart."
            )
        if allowed == 0:
            if existing is not None:
                target.items.remove(existing)
        elif existing is not None:
            existing.quantity = allowed
        else:
            target.items.append(CartItem(product_id=product.id, quantity=allowed))
    db.session.delete(anonymous_cart)
    _bump(target)
    _commit_cart_change()
    return notices


def _line_problem(product: Product, price: Price | None, quantity: int, own: int = 0) -> str | None:
    if not product.active:
        return "No longer on sale."
    if price is None:
        return "Not for sale at the moment."
    if price.currency.lower() != money.currency():
        return f"Priced in {price.currency.upper()}: mixed currencies cannot be paid together."
    if product.is_plan:
        return None if quantity == 1 else "A plan is one per cart."
    left = product.stock + own if product.stock is not None else None
    if left is not None and quantity > left:
        return "Sold out." if left == 0 else f"Only {left} left."
    if quantity > MAX_QUANTITY:
        return f"At most {MAX_QUANTITY} of one product."
    return None


def cart_lines(cart: Cart | None, fresh: bool = False) -> list[CartLine]:
    """The cart's lines with each product's current active price, oldest line first."""
    if cart is None or cart.id is None:
        return []
    query = (
        select(CartItem)
        .where(CartItem.cart_id == cart.id)
        .options(selectinload(CartItem.product).selectinload(Product.prices))
        .order_by(CartItem.id)
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    holds = limits.own_holds(cart)
    lines = []
    for item in db.session.scalars(query):
        price = item.product.price
        lines.append(
            CartLine(
                product=item.product,
                price=price,
                quantity=item.quantity,
                amount=price.amount * item.quantity if price is not None else 0,
                problem=_line_problem(
                    item.product, price, item.quantity, holds.get(item.product_id, 0)
                ),
            )
        )
    return lines


def cart_summary(cart: Cart | None, lines: list[CartLine] | None = None) -> CartSummary:
    """Units and subtotal (lines priced in the shop's currency) for the widget and cart."""
    code = money.currency()
    if lines is None:
        lines = cart_lines(cart)
    return CartSummary(
        count=sum(line.quantity for line in lines),
        subtotal=sum(
            line.amount
            for line in lines
            if line.price is not None and line.price.currency.lower() == code
        ),
        currency=code,
    )


def check_cart_for_checkout(cart: Cart) -> list[CartLine]:
    """Re-check the whole cart against the catalogue now; raise CartError if it can't be paid."""
    lines = cart_lines(cart, fresh=True)
    if not lines:
        raise CartError("Your cart is empty.")
    for line in lines:
        if line.problem is not None:
            raise CartError(
                f"“{line.product.name}”: {line.problem} Change your cart, then check out again."
            )
    if sum(1 for line in lines if line.product.is_plan) > 1:
        raise CartError("Your cart holds more than one plan. Keep one, then check out again.")
    if len({line.checked_price().currency.lower() for line in lines}) > 1:
        raise CartError("Your cart mixes currencies, which cannot be paid together.")
    wanted, cap = held_units(lines), limits.max_units_per_account()
    if wanted > cap:
        raise CartError(limits.cap_message(cap, wanted))
    return lines


def delete_stale_carts(days: int = STALE_CART_DAYS, now: datetime | None = None) -> int:
    """Delete anonymous carts untouched for ``days`` (their cookie has expired); return how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    stale = select(Cart.id).where(Cart.user_id.is_(None), Cart.updated_at < cutoff)
    # Lines first: SQLite does not enforce ON DELETE CASCADE unless told to.
    db.session.execute(delete(CartItem).where(CartItem.cart_id.in_(stale)))
    result = db.session.execute(delete(Cart).where(Cart.id.in_(stale)))
    db.session.commit()
    # A DELETE's result is a CursorResult (with rowcount); Session.execute's type says only
    # Result.
    return cast("CursorResult[Any]", result).rowcount or 0
