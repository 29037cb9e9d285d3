"""The cart pages, the cart widget on every page, and the merge at login: thin views."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    after_this_request,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, user_logged_in
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.local import LocalProxy

from shop import money
from shop.cart import limits, services, widget
from shop.cart.cookie import CART_COOKIE, CART_COOKIE_MAX_AGE
from shop.cart.services import CartError, CartSummary
from shop.catalogue.services import max_quantity
from shop.extensions import db
from shop.urls import is_safe_next

bp = Blueprint("cart", __name__)

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def current_cart_summary() -> CartSummary:
    """The summary of this request's cart (the reader's, or the cookie's), once per request.

    Never creates a cart. A database failure shows an empty widget rather than turning
    a page, or the error page itself, into a second failure.
    """
    if not has_request_context():
        return CartSummary(currency=money.currency())
    summary = g.get("_cart_summary")
    if summary is None:
        try:
            summary = widget.widget_summary(current_user, request.cookies.get(CART_COOKIE))
        except SQLAlchemyError:
            current_app.logger.exception("Could not read the cart for the cart widget")
            db.session.rollback()
            summary = CartSummary(currency=money.currency())
        g._cart_summary = summary
    return summary


def holds_items() -> bool:
    """Whether this request's cart (the reader's, or the cookie's) has anything in it.

    A cart cookie outlives the cart's contents (a paid order, a removed line): a reader
    whose cart is empty sees the same header as anyone, so their pages may be shared.
    """
    return not current_cart_summary().is_empty


@bp.app_context_processor
def cart_widget() -> dict[str, object]:
    """Feed the cart widget in the page header; looked up only if a template reads it."""
    return {"cart": LocalProxy(current_cart_summary)}


def _number(name: str, missing: str, default: int | None = None) -> int:
    """A whole number from the posted form, or a CartError a reader can act on."""
    raw = (request.form.get(name) or "").strip()
    if not raw and default is not None:
        return default
    if not raw:
        raise CartError(missing, name)
    # Only ASCII digits: int() would also take "٣" or " 1_000 ".
    if not _WHOLE_NUMBER.fullmatch(raw):
        if name == "quantity":
            raise CartError("Choose a quantity as a whole number, such as 1 or 2.", name)
        raise CartError("That is not a product from the shop.", name)
    return int(raw)


def _back():
    """Back to the cart, or to a ``next`` on this site; 303 so the browser GETs it."""
    target = request.form.get("next") or request.args.get("next")
    return redirect(target if is_safe_next(target) else url_for("cart.cart"), code=303)


def _cookie_value() -> str | None:
    return request.cookies.get(CART_COOKIE)


def _set_cart_cookie(response, value: str) -> None:
    response.set_cookie(
        CART_COOKIE,
        value,
        max_age=CART_COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SITE_URL"].startswith("https://"),
    )


@bp.route("/cart")
def cart():
    """The cart: lines, quantities, subtotal and the way to checkout."""
    found = services.find_cart(current_user, _cookie_value())
    lines = services.cart_lines(found)
    wanted, cap = services.held_units(lines), limits.max_units_per_account()
    summary = services.cart_summary(found, lines)
    # The header's widget shows this same cart: it is not read a second time.
    g._cart_summary = summary
    return render_template(
        "cart/cart.html",
        lines=lines,
        summary=summary,
        max_quantity=max_quantity,
        cap_notice=limits.cap_message(cap, wanted) if wanted > cap else None,
    )


@bp.route("/cart/add", methods=["POST"])
def cart_add():
    """Put a product into the cart (creating the cart and its cookie if need be)."""
    new_cookie = None
    try:
        product_id = _number("product_id", "Choose a product to add.")
        quantity = _number("quantity", "Choose how many you want.", default=1)
        found, new_cookie = services.get_or_create_cart(current_user, _cookie_value())
        notice = services.add_item(found, product_id, quantity)
    except CartError as error:
        flash(str(error), "error")
    else:
        flash(notice or "Added to your cart.", "info" if notice else "success")
    response = _back()
    if new_cookie:
        _set_cart_cookie(response, new_cookie)
    return response


@bp.route("/cart/update", methods=["POST"])
def cart_update():
    """Change a line's quantity; 0 removes it."""
    try:
        product_id = _number("product_id", "Choose a product in your cart.")
        quantity = _number("quantity", "Choose a quantity, or 0 to remove it.")
        found = services.find_cart(current_user, _cookie_value())
        if found is None:
            raise CartError("Your cart is empty.")
        services.update_item(found, product_id, quantity)
    except CartError as error:
        flash(str(error), "error")
    else:
        flash("Your cart is updated.", "success")
    return _back()


@bp.route("/cart/remove", methods=["POST"])
def cart_remove():
    """Take a product out of the cart."""
    try:
        product_id = _number("product_id", "Choose a product in your cart.")
        found = services.find_cart(current_user, _cookie_value())
        removed = services.remove_item(found, product_id) if found is not None else None
    except CartError as error:
        flash(str(error), "error")
    else:
        if removed is None:
            flash("That was not in your cart.", "info")
        else:
            flash(f"Removed “{removed.name}” from your cart.", "success")
    return _back()


@user_logged_in.connect
def merge_cart_at_login(sender, user, **extra) -> None:
    """At login, move the browser's anonymous cart into the reader's and drop its cookie."""
    if not has_request_context() or "cart" not in current_app.blueprints:
        return
    cookie = _cookie_value()
    if not cookie:
        return
    try:
        anonymous = services.find_cart(None, cookie)
        notices = services.merge_carts(anonymous, user) if anonymous is not None else []
    except (CartError, SQLAlchemyError):
        # Logging in matters more than the cart: keep going without the merge.
        current_app.logger.exception("Could not merge the anonymous cart at login")
        db.session.rollback()
        return
    for notice in notices:
        flash(notice, "info")

    @after_this_request
    def drop_cart_cookie(response):
        response.delete_cookie(
            CART_COOKIE,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SITE_URL"].startswith("https://"),
        )
        return response
