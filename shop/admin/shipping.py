"""Back-office pages for posting orders: the queue to ship, marking one as posted (with
its tracking number), and the shipping rates checkout offers."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from shop import money
from shop.admin.blueprint import bp
from shop.audit import services as audit
from shop.extensions import db
from shop.pagination import check_page_exists, page_arg
from shop.shipping import services as shipping

SHOWN = ("to-ship", "shipped")


@bp.route("/shipping")
def shipping_queue():
    """Orders to post, oldest paid first, or those already posted; and the rates."""
    shown = request.args.get("show", "to-ship")
    if shown not in SHOWN:
        abort(404, description="The shipping list shows “to-ship” or “shipped” orders.")
    page_number = page_arg()
    page = shipping.shipped(page_number) if shown == "shipped" else shipping.to_ship(page_number)
    check_page_exists(page)
    return render_template(
        "admin/shipping.html",
        page=page,
        shown=shown,
        waiting=page.total if shown == "to-ship" else shipping.to_ship_count(),
        rates=shipping.all_rates(),
        countries=shipping.allowed_countries(),
        country_names=[shipping.country_name(code) for code in shipping.allowed_countries()],
        address_lines=shipping.address_lines,
        currency=money.currency(),
    )


def _back(fragment: str = ""):
    shown = request.form.get("show", "to-ship")
    target = url_for(".shipping_queue", show=shown if shown in SHOWN else "to-ship")
    return redirect(target + fragment)


@bp.route("/shipping/<int:order_id>/ship", methods=["POST"])
def shipping_ship(order_id: int):
    """Mark an order as posted, with an optional tracking number, and mail the reader."""
    try:
        outcome = shipping.mark_shipped(order_id, request.form.get("tracking_number"))
    except shipping.ShippingError as error:
        db.session.rollback()
        # An "error" flash keeps a refused request out of the audit log.
        flash(f"Order {order_id}: {error}", "error")
        return _back(f"#order-{order_id}")
    tracking = outcome.shipment.tracking_number
    verb = "Marked as posted" if outcome.newly_shipped else "Tracking updated"
    audit.note(
        f"{verb}: order {order_id}" + (f", tracking {tracking}" if tracking else ""),
        f"order {order_id}",
        tracking_number=tracking,
    )
    if outcome.mailed:
        flash(f"Order {order_id}: {verb.lower()}, and the reader was emailed.", "success")
    else:
        flash(
            f"Order {order_id}: {verb.lower()}, but the email to the reader could not be "
            "sent now. Save it again later to resend it.",
            "warning",
        )
    return _back()


@bp.route("/shipping/rates", methods=["POST"])
def shipping_rate_add():
    """Add a shipping rate, offered from the next checkout on."""
    try:
        rate = shipping.add_rate(request.form.get("name"), request.form.get("amount"))
    except shipping.ShippingError as error:
        db.session.rollback()
        flash(f"The rate was not added: {error}", "error")
        return redirect(url_for(".shipping_queue") + "#rates")
    amount = money.format_money(rate.amount, rate.currency)
    audit.note(f"Added shipping rate {rate.name} ({amount})", f"shipping rate {rate.id}")
    flash(f"Added “{rate.name}” at {amount}.", "success")
    return redirect(url_for(".shipping_queue") + "#rates")


@bp.route("/shipping/rates/<int:rate_id>", methods=["POST"])
def shipping_rate_toggle(rate_id: int):
    """Stop offering a rate at checkout, or offer it again."""
    active = request.form.get("active") == "1"
    try:
        rate = shipping.set_rate_active(rate_id, active)
    except shipping.ShippingError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".shipping_queue") + "#rates")
    state = "offered again" if active else "no longer offered"
    audit.note(f"Shipping rate {rate.name} {state}", f"shipping rate {rate.id}", active=active)
    flash(f"“{rate.name}” is {state} at checkout.", "success")
    return redirect(url_for(".shipping_queue") + "#rates")
