"""The store: the catalogue, the cart and its widget on every page, and the money filter."""

from __future__ import annotations

from flask import Blueprint, current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.local import LocalProxy

from shop.extensions import db
from shop.store import services
from shop.store.services import CartSummary

bp = Blueprint("store", __name__)

__all__ = ["CartSummary", "bp", "current_cart_summary"]


def current_cart_summary() -> CartSummary:
    """The summary of this request's cart (the reader's, or the cookie's), once per request.

    Never creates a cart. A database failure shows an empty widget rather than turning
    a page, or the error page itself, into a second failure.
    """
    if not has_request_context():
        return CartSummary(currency=services.currency())
    summary = g.get("_cart_summary")
    if summary is None:
        try:
            cart = services.find_cart(current_user, request.cookies.get(services.CART_COOKIE))
            summary = services.cart_summary(cart)
        except SQLAlchemyError:
            current_app.logger.exception("Could not read the cart for the cart widget")
            db.session.rollback()
            summary = CartSummary(currency=services.currency())
        g._cart_summary = summary
    return summary


@bp.app_context_processor
def cart_widget() -> dict[str, object]:
    """Feed the cart widget in the page header; looked up only if a template reads it."""
    return {"cart": LocalProxy(current_cart_summary)}


@bp.app_template_filter("money")
def money(amount: int | None, currency: str | None = None) -> str:
    """Minor units with the currency: 1200 -> $12.00 (usd), €12.00, £12.00, 12.00 CHF."""
    return services.format_money(amount, currency)


from shop.store import views  # noqa: E402,F401  (routes register on import)
