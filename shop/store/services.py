"""Catalogue and cart rules; each function owns its transaction.

Money is integer minor units in the publication's one currency (``CURRENCY``). The
store never talks to Stripe: billing reads carts through ``check_cart_for_checkout``
and pushes products from the admin's save hook.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.store.models import (
    INTERVALS,
    KIND_ITEM,
    KIND_PLAN,
    KINDS,
    ORDER_PENDING,
    Cart,
    CartItem,
    Order,
    OrderLine,
    Price,
    Product,
)
from shop.text import slugify, unique_slug

CART_COOKIE = "cart"
CART_COOKIE_SALT = "broadsheet.store.cart"
CART_COOKIE_MAX_AGE = 30 * 24 * 3600  # seconds
MAX_QUANTITY = 99  # per line: more is a typo or a reseller
MAX_AMOUNT = 100_000_000  # minor units: 1,000,000.00
MAX_STOCK = 1_000_000
NAME_MAX = 120
DESCRIPTION_MAX = 2000
LOW_STOCK = 10  # the catalogue says "n left" at or below this
DEFAULT_MAX_UNITS_PER_ACCOUNT = 10  # limited-stock units one reader may hold at once

CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


class StoreError(RuleError):
    """A catalogue or cart rule was broken."""


def currency() -> str:
    """The publication's one currency, lower-case as Stripe writes it."""
    return current_app.config["CURRENCY"].lower()


def format_money(amount: int | None, currency_code: str | None = None) -> str:
    """Minor units as readers write money: $12.00, €1,250.00, 12.00 CHF."""
    if amount is None:
        return ""
    code = (currency_code or currency()).lower()
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    number = f"{whole:,}.{cents:02d}"
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code.upper()}"


def format_major(amount: int) -> str:
    """Minor units as a plain decimal for a form field: 1250 -> "12.50"."""
    whole, cents = divmod(int(amount), 100)
    return f"{whole}.{cents:02d}"


_MONEY = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,2}))?")


def parse_amount(text: str | None) -> int:
    """A price typed in major units ("12", "12.5", "12.50") in minor units."""
    match = _MONEY.fullmatch((text or "").strip())
    if match is None:
        raise StoreError("Write the price as a number such as 12 or 12.50.", "amount")
    whole, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(cents)


# --- catalogue -----------------------------------------------------------------------


def _catalogue_order():
    plans_first = case((Product.kind == KIND_PLAN, 0), else_=1)
    return (plans_first, func.lower(Product.name), Product.id)


def active_products() -> list[Product]:
    """Products on the shelf: plans first, then items, each by name."""
    query = (
        select(Product)
        .where(Product.active.is_(True))
        .options(selectinload(Product.prices))
        .order_by(*_catalogue_order())
    )
    return list(db.session.scalars(query))


def all_products() -> list[Product]:
    """Every product, active or not, for the back office."""
    query = select(Product).options(selectinload(Product.prices)).order_by(*_catalogue_order())
    return list(db.session.scalars(query))


def get_product(slug: str) -> Product | None:
    """The product with this slug."""
    return db.session.scalar(select(Product).where(Product.slug == slug))


def product_by_id(product_id: int) -> Product | None:
    """The product with this id."""
    return db.session.get(Product, product_id)


def sale_problem(product: Product) -> str | None:
    """Why the product cannot go into a cart now, or None if it can (stock aside)."""
    if not product.active:
        return f"“{product.name}” is no longer on sale."
    price = product.price
    if price is None:
        return f"“{product.name}” has no price yet, so it cannot be bought."
    if price.currency.lower() != currency():
        return (
            f"“{product.name}” is priced in {price.currency.upper()}, but this shop sells in "
            f"{currency().upper()}: mixed currencies cannot be paid together."
        )
    return None


def is_on_sale(product: Product) -> bool:
    """Whether the product is active and has a price in the shop's currency."""
    return sale_problem(product) is None


def plan_offer() -> Product | None:
    """The plan to offer at the paywall: the cheapest monthly plan on sale, else any plan."""
    plans = [p for p in active_products() if p.is_plan and is_on_sale(p)]
    if not plans:
        return None
    return min(plans, key=lambda p: (p.price.interval != "month", p.price.amount, p.id))


def max_quantity(product: Product) -> int:
    """The most one cart line may hold: 1 for plans, else the stock left, at most 99."""
    if product.is_plan:
        return 1
    if product.stock is None:
        return MAX_QUANTITY
    return max(0, min(MAX_QUANTITY, product.stock))


@dataclass
class ProductInput:
    """What an admin submits for a product; ``amount`` is in minor units."""

    name: str
    description: str = ""
    kind: str = KIND_ITEM
    active: bool = True
    stock: int | None = None
    amount: int = 0
    interval: str | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_product_input(data: ProductInput, product: Product | None) -> ProductInput:
    """Validate everything before anything changes; return the cleaned input."""
    name = (data.name or "").strip()
    if not name:
        raise StoreError("Give the product a name.", "name")
    if len(name) > NAME_MAX:
        raise StoreError(f"Keep the name under {NAME_MAX} characters.", "name")
    if not slugify(name):
        raise StoreError("Use at least one letter or digit in the name.", "name")
    description = (data.description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise StoreError(
            f"Keep the description under {DESCRIPTION_MAX:,} characters.", "description"
        )
    if data.kind not in KINDS:
        raise StoreError("Choose whether this is a plan or a one-off item.", "kind")
    if product is not None and product.kind != data.kind:
        raise StoreError(
            "A product cannot change between plan and one-off item (Stripe bills them "
            "differently). Make a new product instead.",
            "kind",
        )
    interval = data.interval or None
    stock = data.stock
    if data.kind == KIND_PLAN:
        if interval not in INTERVALS:
            raise StoreError("Choose how often the plan bills: monthly or yearly.", "interval")
        if stock is not None:
            raise StoreError("Plans have no stock: leave it empty.", "stock")
    else:
        if interval is not None:
            raise StoreError(
                "One-off items have no billing interval: choose “one-off”.", "interval"
            )
        if stock is not None and (not _is_int(stock) or stock < 0 or stock > MAX_STOCK):
            raise StoreError(
                f"Stock is a whole number from 0 to {MAX_STOCK:,}, or empty for unlimited.",
                "stock",
            )
    amount = data.amount
    if not _is_int(amount) or amount < 0:
        raise StoreError("The price cannot be negative.", "amount")
    if amount > MAX_AMOUNT:
        raise StoreError(f"That price is too high: at most {format_money(MAX_AMOUNT)}.", "amount")
    return ProductInput(
        name=name,
        description=description,
        kind=data.kind,
        active=bool(data.active),
        stock=stock,
        amount=amount,
        interval=interval,
    )


def save_product(data: ProductInput, product: Product | None = None) -> Product:
    """Create or edit a product; a changed amount or interval retires the old price.

    Prices are immutable once Stripe has them, so a change deactivates the current
    Price row and adds a new one; the old row stays for the orders that used it.
    """
    with db.session.no_autoflush:
        clean = _check_product_input(data, product)
        if product is None:
            product = Product(kind=clean.kind, slug=unique_slug(Product, slugify(clean.name)))
            db.session.add(product)
        product.name = clean.name
        product.description = clean.description
        product.active = clean.active
        product.stock = clean.stock
        current = product.price
        code = currency()
        if (
            current is None
            or current.amount != clean.amount
            or current.interval != clean.interval
            or current.currency.lower() != code
        ):
            for price in product.prices:
                price.active = False
            product.prices.append(
                Price(amount=clean.amount, currency=code, interval=clean.interval, active=True)
            )
    try:
        db.session.commit()
    except IntegrityError as error:
        # Two admins creating the same name at once: the slug's unique index decides.
        db.session.rollback()
        raise StoreError("A product with that name was just added. Try again.", "name") from error
    return product


# --- carts ---------------------------------------------------------------------------


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


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=CART_COOKIE_SALT)


def sign_cart_token(token: str) -> str:
    """The cookie value that carries an anonymous cart's token."""
    return _serializer().dumps(token)


def _token_from_cookie(cookie_value: str | None) -> str | None:
    """The token in a signed cookie, or None if it is missing, forged or malformed."""
    if not cookie_value or len(cookie_value) > 200:
        return None
    try:
        token = _serializer().loads(cookie_value)
    except BadSignature:
        return None
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        return None
    return token


def _is_reader(user: Any) -> bool:
    """Whether ``user`` is a logged-in account (not None, not Flask-Login's anonymous)."""
    return (
        user is not None
        and not getattr(user, "is_anonymous", False)
        and getattr(user, "id", None) is not None
    )


def find_cart(user: Any, cookie_value: str | None) -> Cart | None:
    """The reader's cart, or the anonymous cart a signed cookie names; never creates one."""
    if _is_reader(user):
        return db.session.scalar(select(Cart).where(Cart.user_id == user.id))
    token = _token_from_cookie(cookie_value)
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
        cart = db.session.scalar(select(Cart).where(Cart.user_id == user.id))
        if cart is None:
            raise
    return cart


def get_or_create_cart(user: Any, cookie_value: str | None) -> tuple[Cart, str | None]:
    """The current cart, made if need be; the second value is a new cookie to set, if any."""
    cart = find_cart(user, cookie_value)
    if cart is not None:
        return cart, None
    if _is_reader(user):
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
        raise StoreError("Choose a quantity as a whole number.", "quantity")
    return quantity


def _product_for_cart(product_id: Any) -> Product:
    """The product behind an id from a form, if it may go into a cart."""
    if not _is_int(product_id) or product_id < 1:
        raise StoreError("Choose a product from the shop.", "product_id")
    product = db.session.get(Product, product_id)
    if product is None:
        raise StoreError("That product does not exist. Choose one from the shop.", "product_id")
    problem = sale_problem(product)
    if problem is not None:
        raise StoreError(problem, "product_id")
    return product


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
            Order.status == ORDER_PENDING,
            OrderLine.reserved > 0,
            OrderLine.product_id.is_not(None),
        )
        .group_by(OrderLine.product_id)
    )
    return {product_id: int(units) for product_id, units in rows}


def _check_limit(product: Product, total: int, in_cart: int = 0, own: int = 0) -> None:
    """Refuse a line total above the stock left (``own``: held for this reader) or 99."""
    if total < 1:
        raise StoreError("Choose a quantity of at least 1.", "quantity")
    left = product.stock + own if product.stock is not None else None
    if left is not None and total > left:
        if left == 0:
            raise StoreError(f"Sorry, “{product.name}” is sold out.", "quantity")
        held = f" and your cart already holds {in_cart}" if in_cart else ""
        raise StoreError(
            f"Only {left} of “{product.name}” {'is' if left == 1 else 'are'} "
            f"left{held}. Choose a smaller quantity.",
            "quantity",
        )
    if total > MAX_QUANTITY:
        raise StoreError(
            f"You can have at most {MAX_QUANTITY} of one product in your cart.", "quantity"
        )


def max_units_per_account() -> int:
    """How many units of limited-stock items one reader may hold at once (at least 1)."""
    configured = current_app.config.get("MAX_UNITS_PER_ACCOUNT", DEFAULT_MAX_UNITS_PER_ACCOUNT)
    return max(1, int(configured))


def _limited(product: Product) -> bool:
    """Whether the product is a one-off item with a stock count (what checkout reserves)."""
    return not product.is_plan and product.stock is not None


def held_units(lines: list[CartLine]) -> int:
    """Units of limited-stock items in these lines: what a checkout of them would reserve."""
    return sum(line.quantity for line in lines if _limited(line.product))


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


def _check_cap(cart: Cart, product: Product, total: int) -> None:
    """Refuse a line total that takes the cart's limited-stock units over the per-reader cap."""
    if not _limited(product):
        return
    others = sum(
        item.quantity
        for item in cart.items
        if item.product_id != product.id and _limited(item.product)
    )
    cap = max_units_per_account()
    if others + total > cap:
        # Stock is shared by every reader: one account cannot hold all of it.
        raise StoreError(cap_message(cap, others + total), "quantity")


def _line(cart: Cart, product_id: int) -> CartItem | None:
    return next((item for item in cart.items if item.product_id == product_id), None)


def _commit_cart_change() -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        # The same cart changed in another tab at the same moment.
        db.session.rollback()
        raise StoreError("Your cart changed in another window. Try again.") from error


def add_item(cart: Cart, product_id: int, quantity: int = 1) -> str | None:
    """Put a product into the cart; return a notice when something else changed too.

    At most one plan per cart: adding a plan replaces the one there, and says so.
    """
    product = _product_for_cart(product_id)
    quantity = _check_quantity(quantity)
    existing = _line(cart, product.id)
    if product.is_plan:
        if quantity != 1:
            raise StoreError("A plan is one per cart: its quantity is always 1.", "quantity")
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
        raise StoreError("Choose a quantity of at least 1.", "quantity")
    in_cart = existing.quantity if existing is not None else 0
    _check_limit(product, in_cart + quantity, in_cart, own_holds(cart).get(product.id, 0))
    _check_cap(cart, product, in_cart + quantity)
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
        raise StoreError("Choose a product in your cart.", "product_id")
    existing = _line(cart, product_id)
    if existing is None:
        raise StoreError("That product is not in your cart.", "product_id")
    if quantity == 0:
        cart.items.remove(existing)
        _bump(cart)
        _commit_cart_change()
        return
    if quantity < 0:
        raise StoreError("Choose a quantity of at least 1, or 0 to remove it.", "quantity")
    product = existing.product
    problem = sale_problem(product)
    if problem is not None:
        raise StoreError(f"{problem} Remove it from your cart.", "product_id")
    if product.is_plan:
        if quantity != 1:
            raise StoreError("A plan is one per cart: its quantity is always 1.", "quantity")
    else:
        _check_limit(product, quantity, own=own_holds(cart).get(product.id, 0))
        if quantity > existing.quantity:
            _check_cap(cart, product, quantity)
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
    if anonymous_cart.user_id is not None or not _is_reader(user):
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
    if price.currency.lower() != currency():
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
    holds = own_holds(cart)
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
    code = currency()
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
    """Re-check the whole cart against the catalogue now; raise StoreError if it can't be paid."""
    lines = cart_lines(cart, fresh=True)
    if not lines:
        raise StoreError("Your cart is empty.")
    for line in lines:
        if line.problem is not None:
            raise StoreError(
                f"“{line.product.name}”: {line.problem} Change your cart, then check out again."
            )
    if sum(1 for line in lines if line.product.is_plan) > 1:
        raise StoreError("Your cart holds more than one plan. Keep one, then check out again.")
    if len({line.price.currency.lower() for line in lines}) > 1:
        raise StoreError("Your cart mixes currencies, which cannot be paid together.")
    wanted, cap = held_units(lines), max_units_per_account()
    if wanted > cap:
        raise StoreError(cap_message(cap, wanted))
    return lines


def delete_stale_carts(days: int = 30) -> int:
    """Delete anonymous carts untouched for ``days`` (their cookie has expired); return how many."""
    cutoff = utcnow() - timedelta(days=days)
    stale = select(Cart.id).where(Cart.user_id.is_(None), Cart.updated_at < cutoff)
    # Lines first: SQLite does not enforce ON DELETE CASCADE unless told to.
    db.session.execute(delete(CartItem).where(CartItem.cart_id.in_(stale)))
    result = db.session.execute(delete(Cart).where(Cart.id.in_(stale)))
    db.session.commit()
    return result.rowcount or 0
