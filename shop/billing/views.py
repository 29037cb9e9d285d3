"""Checkout, its return pages, the Stripe webhook, the billing portal and the reader's
account page: thin views."""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user

from shop import money
from shop.accounts import sessions
from shop.accounts.models import User
from shop.accounts.views import bp as accounts_bp
from shop.billing import account, fulfilment, gateway, gifts, leaving, webhooks
from shop.billing import checkout as checkouts
from shop.billing.errors import BillingError
from shop.billing.forms import GiftForm
from shop.cart.cookie import CART_COOKIE
from shop.cart.services import CartError
from shop.clock import format_day
from shop.extensions import csrf, db, limiter
from shop.forms import ActionForm, parse_row_id, require_action, show_error
from shop.urls import safe_next

log = logging.getLogger(__name__)

bp = Blueprint("billing", __name__)

# The session key of a browser's guest checkouts: an order is this browser's until paid.
GUEST_KEY = "guest_checkout_key"


@bp.app_context_processor
def billing_globals() -> dict[str, bool]:
    """Tell pages whether payments go to the Stripe emulator, so they can say so."""
    return {"stripe_emulator": gateway.uses_emulator()}


# On the accounts blueprint, so the page keeps its endpoint ("accounts.account") and
# every link to it, while accounts itself knows nothing of billing: the page shows the
# reader's plan and orders, so it lives with them.
@accounts_bp.route("/account", endpoint="account")
@login_required
def account_page():
    """The reader's account page: their address, plan, orders and settings."""
    return render_template(
        "accounts/account.html",
        action_form=ActionForm(),
        billing=account.overview(current_user),
    )


@bp.route("/checkout", methods=["POST"])
def checkout():
    """Start Stripe Checkout for the reader's cart; 303 to Stripe's page.

    A visitor with no account checks out as a guest: Checkout asks for their email.
    """
    require_action()
    try:
        if current_user.is_authenticated:
            url = checkouts.start_checkout(current_user)
        else:
            # The cart's signed cookie, as the cart pages read it.
            url = checkouts.start_checkout(None, request.cookies.get(CART_COOKIE), _guest_key())
    except (BillingError, CartError) as error:
        flash(str(error), "error")
        return redirect(url_for("cart.cart"))
    return redirect(url, code=303)


@bp.route("/checkout/plan/<int:product_id>", methods=["POST"])
def plan_checkout(product_id: int):
    """Start Stripe Checkout for one plan alone (the paywall's buttons); 303 to Stripe.

    ``next`` is where the reader was (the story that asked): back there after logging in,
    after an error, and after paying. The cart is left as it is.
    """
    back = safe_next(request.form.get("next"))
    require_action()
    try:
        if current_user.is_authenticated:
            url = checkouts.start_plan_checkout(current_user, product_id, back)
        else:
            # A visitor pays as a guest: Stripe asks for the email.
            url = checkouts.start_plan_checkout(None, product_id, back, _guest_key())
    except BillingError as error:
        flash(str(error), "error")
        return redirect(back or url_for("catalogue.catalogue"))
    return redirect(url, code=303)


def _guest_key() -> str:
    """This browser's key for guest checkouts, kept in its session cookie."""
    key = session.get(GUEST_KEY)
    if not key:
        key = session[GUEST_KEY] = secrets.token_urlsafe(32)
    return key


def _guest_success():
    """A guest back from paying: their order, and this browser logged in as the reader the
    payment made (a reader who had an account is mailed a link to log in instead)."""
    order = fulfilment.confirm_return(None, request.args.get("session_id"), session.get(GUEST_KEY))
    if order is None:
        abort(404, description="We could not find that checkout in this browser.")
    reader = fulfilment.welcome_guest(order) if order.status == "paid" else None
    if reader is not None:
        sessions.log_in(reader)
        back = safe_next(order.return_path)
        if back:
            flash("Thank you! You are logged in on this browser: enjoy the story.", "success")
            return redirect(back, code=303)
    reader = db.session.get(User, order.user_id) if order.user_id is not None else None
    return render_template(
        "billing/success.html",
        order=order,
        back=None,
        guest=True,
        order_email=reader.email if reader is not None else None,
    )


@bp.route("/checkout/success")
def success():
    """Where Stripe sends the buyer back: the order's real state, never the URL's word.

    A paid checkout started from a story goes straight back to that story.
    """
    if not current_user.is_authenticated:
        return _guest_success()
    order = fulfilment.confirm_return(current_user, request.args.get("session_id"))
    if order is None:
        abort(404, description="We could not find that checkout.")
    back = safe_next(order.return_path)
    if back and order.status == "paid":
        if order.trial_days:
            flash(
                f"Your {order.trial_days}-day free trial has started: enjoy the story. "
                f"We have mailed a receipt to {current_user.email}.",
                "success",
            )
        else:
            flash(
                f"Thank you! Your subscription is active: enjoy the story. "
                f"We have mailed a receipt to {current_user.email}.",
                "success",
            )
        return redirect(back, code=303)
    return render_template("billing/success.html", order=order, back=back)


def _buyer():
    """The logged-in reader, or None for a guest (whose orders are their browser's)."""
    return current_user._get_current_object() if current_user.is_authenticated else None


@bp.route("/checkout/cancel")
def cancel():
    """The buyer left Checkout: say the cart is intact and offer to end that checkout.

    A GET changes nothing: any site can send a reader's browser here.
    """
    # ASCII digits within a column's range: "٣" or 2**63 would reach the database.
    order_id = parse_row_id(request.args.get("order", ""))
    order = leaving.pending_checkout(_buyer(), order_id, session.get(GUEST_KEY))
    return render_template("billing/cancel.html", order=order)


@bp.route("/checkout/cancel", methods=["POST"])
def cancel_confirm():
    """End the reader's open checkout (the cancel page's button) and release its stock."""
    require_action()
    order_id = parse_row_id(request.form.get("order", ""))
    if order_id is not None:
        leaving.cancel_checkout(_buyer(), order_id, session.get(GUEST_KEY))
    flash("Checkout cancelled. Your cart is just as you left it.", "info")
    return redirect(url_for("cart.cart"), code=303)


@bp.route("/webhooks/stripe", methods=["POST"])
@csrf.exempt
@limiter.exempt
def stripe_webhook():
    """Stripe events: signature first (400 if bad), then exactly-once handling."""
    payload = request.get_data(cache=False)
    try:
        event = gateway.verify_event(payload, request.headers.get("Stripe-Signature"))
    except gateway.SignatureError as error:
        log.warning("Stripe webhook refused: %s", error)
        return {"error": "invalid signature"}, 400
    except gateway.MalformedEventError as error:
        log.warning("Stripe webhook refused: %s", error)
        return {"error": "malformed payload"}, 400
    try:
        outcome = webhooks.process(event)
    except gateway.MalformedEventError as error:
        log.warning("Stripe event %s (%s) refused: %s", event.id, event.type, error)
        return {"error": "malformed payload"}, 400
    except Exception:
        log.exception("Stripe event %s (%s) failed; Stripe will retry", event.id, event.type)
        return {"error": "handler failed"}, 500
    log.info("Stripe event %s (%s): %s", event.id, event.type, outcome)
    return {"received": True, "outcome": outcome}, 200


@bp.route("/account/billing", methods=["POST"])
@login_required
def billing_portal():
    """Send the reader to Stripe's customer portal."""
    require_action()
    try:
        url = account.portal_url(current_user)
    except BillingError as error:
        flash(str(error), "error")
        return redirect(url_for("accounts.account"))
    return redirect(url, code=303)


# --- gifts ---------------------------------------------------------------------------------


def _gift_form() -> GiftForm:
    form = GiftForm()
    form.product_id.choices = [
        (
            p.id,
            f"{p.name}: {gifts.period_words(gifts.MONTHS[p.price.interval])} "
            f"({money.format_money(p.price.amount, p.price.currency)})",
        )
        for p in gifts.gift_plans()
        if p.price is not None and p.price.interval is not None
    ]
    if request.method == "GET":
        form.send_on.data = gifts.local_today()
        form.giver_name.data = current_user.display_name or ""
        wanted = parse_row_id(request.args.get("plan", ""))
        if wanted is not None:
            form.product_id.data = wanted
    return form


@bp.route("/gifts/new", methods=["GET", "POST"])
@login_required
def gift_new():
    """Give a subscription: the recipient, a message, the day it is mailed; then Checkout."""
    form = _gift_form()
    if form.validate_on_submit():
        data = gifts.GiftInput(
            product_id=form.product_id.data,
            recipient_name=form.recipient_name.data or "",
            recipient_email=form.recipient_email.data or "",
            message=form.message.data or "",
            send_on=form.send_on.data,
            giver_name=form.giver_name.data or "",
        )
        try:
            url = gifts.start_gift_checkout(current_user._get_current_object(), data)
        except gifts.GiftError as error:
            show_error(form, error)
        else:
            return redirect(url, code=303)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "billing/gift_new.html", form=form, plans=form.product_id.choices
    ), status


@bp.route("/gifts/redeem/<token>", methods=["GET", "POST"])
def gift_redeem(token: str):
    """The recipient's link: GET shows the gift, the button (POST) redeems it and logs in."""
    form = ActionForm()
    try:
        gift = gifts.gift_for_token(token)
    except gifts.GiftError as error:
        return render_template("billing/gift_redeem.html", problem=str(error), gift=None), 410
    if request.method == "POST" and form.validate_on_submit():
        try:
            user, gift = gifts.redeem(token)
        except gifts.GiftError as error:
            return render_template("billing/gift_redeem.html", problem=str(error), gift=None), 410
        if current_user.is_authenticated and current_user.id != user.id:
            logout_user()
        if not current_user.is_authenticated:
            sessions.log_in(user)
        flash(
            f"Your gift is redeemed: you read everything until "
            f"{format_day(gift.access_until)}. No card, nothing renews.",
            "success",
        )
        return redirect(url_for("accounts.account"))
    return render_template(
        "billing/gift_redeem.html",
        gift=gift,
        form=form,
        buyer=gift.giver_name,
        period=gifts.period_words(gift.months),
    )
