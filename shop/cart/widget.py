"""The header's cart link on every page: its units and subtotal, in one statement.

Kept apart from ``services.py`` (the cart's rules) because it is read on every page and
must stay one aggregate: the full cart (``cart_lines``) is for the cart page and checkout.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select

from shop import money
from shop.cart.cookie import token_from_cookie
from shop.cart.models import Cart, CartItem
from shop.cart.services import CartSummary, is_reader
from shop.catalogue.models import Price
from shop.extensions import db


def widget_summary(user: Any, cookie_value: str | None) -> CartSummary:
    """The header widget's units and subtotal in one statement (none with no cart at all).

    The same sums as ``cart_summary``: every line's units, and the subtotal of the lines
    whose newest active price is in the shop's currency.
    """
    code = money.currency()
    if is_reader(user):
        owner = Cart.user_id == user.id
    else:
        token = token_from_cookie(cookie_value)
        if token is None:
            return CartSummary(currency=code)
        owner = and_(Cart.token == token, Cart.user_id.is_(None))
    newest_price = (
        select(func.max(Price.id))
        .where(Price.product_id == CartItem.product_id, Price.active.is_(True))
        .correlate(CartItem)
        .scalar_subquery()
    )
    in_currency = case(
        (func.lower(Price.currency) == code, Price.amount * CartItem.quantity), else_=0
    )
    count, subtotal = db.session.execute(
        select(
            func.coalesce(func.sum(CartItem.quantity), 0), func.coalesce(func.sum(in_currency), 0)
        )
        .select_from(CartItem)
        .join(Cart, Cart.id == CartItem.cart_id)
        .outerjoin(Price, Price.id == newest_price)
        .where(owner)
    ).one()
    return CartSummary(count=int(count), subtotal=int(subtotal), currency=code)
