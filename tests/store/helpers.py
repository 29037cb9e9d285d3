"""Store test helpers: a shopper who posts the real cart forms with CSRF tokens."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from shop.cart.models import Cart
from shop.extensions import db

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Shopper:
    """Post the shop's forms the way a browser does, and read pages back as text."""

    def __init__(self, client) -> None:
        self.client = client

    def token(self) -> str:
        """A CSRF token for this client's session, from a page every visitor can open."""
        for path in ("/shop", "/cart", "/login"):
            match = CSRF.search(self.client.get(path).get_data(as_text=True))
            if match:
                return match.group(1)
        raise AssertionError("no page with a CSRF token")

    def post(self, path: str, **data):
        """POST a form with a valid CSRF token; values are sent as given (strings)."""
        payload = {k: str(v) for k, v in data.items() if v is not None}
        return self.client.post(path, data={**payload, "csrf_token": self.token()})

    def add(self, product_id, quantity=None, **extra):
        """Press "Add to cart"."""
        return self.post("/cart/add", product_id=product_id, quantity=quantity, **extra)

    def update(self, product_id, quantity, **extra):
        """Change a line's quantity on the cart page."""
        return self.post("/cart/update", product_id=product_id, quantity=quantity, **extra)

    def remove(self, product_id, **extra):
        """Press "Remove" on the cart page."""
        return self.post("/cart/remove", product_id=product_id, **extra)

    def page(self, path: str = "/cart") -> str:
        """A page's HTML with entities decoded, for plain-text assertions."""
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return html.unescape(response.get_data(as_text=True))

    def lines(self, cart: Cart | None = None) -> dict[str, int]:
        """{product name: quantity} of a cart, read from the database."""
        cart = cart or only_cart()
        db.session.refresh(cart)
        return {item.product.name: item.quantity for item in cart.items}


def only_cart() -> Cart:
    """The one cart in the database."""
    carts = db.session.scalars(select(Cart)).all()
    assert len(carts) == 1, carts
    return carts[0]


def all_carts() -> list[Cart]:
    """Every cart, oldest first."""
    return list(db.session.scalars(select(Cart).order_by(Cart.id)))
