"""Back-office pages for orders: the list, one order, refunds and the CSV export."""

from __future__ import annotations

import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Optional

from shop import money
from shop.admin.blueprint import bp
from shop.admin.exports import csv_response
from shop.audit import services as audit
from shop.billing import refunds
from shop.billing.errors import BillingError
from shop.cart.models import Order
from shop.clock import utcnow
from shop.extensions import db
from shop.forms import RowIdField
from shop.pagination import check_page_exists, page_arg
from shop.reports import orders


class RefundForm(FlaskForm):
    """Refund one payment of an order: an amount, or everything left."""

    payment_id = RowIdField(validators=[InputRequired()])
    amount = StringField(validators=[Optional()])


def _filters() -> orders.OrderFilters:
    """The list's filters from the query string; anything unknown is a 404 that says why."""
    try:
        return orders.filters_from(request.args)
    except orders.OrderFilterError as error:
        abort(404, description=str(error))


@bp.route("/orders")
def orders_list():
    """Every order: those needing attention first, then newest first."""
    filters = _filters()
    page = orders.admin_orders(filters, page_arg())
    check_page_exists(page)
    return render_template(
        "admin/orders.html",
        page=page,
        filters=filters,
        statuses=orders.STATUS_LABELS,
        attention_total=orders.attention_count(),
    )


@bp.route("/orders.csv")
def orders_export():
    """The filtered orders as a CSV file, streamed."""
    filters = _filters()
    filename = f"orders-{utcnow():%Y-%m-%d}.csv"
    return csv_response(filename, orders.EXPORT_HEADER, orders.export_rows(filters))


@bp.route("/orders/<int:order_id>")
def order_detail(order_id: int):
    """One order: its lines, totals, payments and their Stripe ids, and refunds."""
    detail = orders.order_detail(order_id)
    if detail is None:
        abort(404, description="There is no such order.")
    return render_template(
        "admin/order.html",
        detail=detail,
        statuses=orders.STATUS_LABELS,
        # One token per page view: sending the same form twice asks for one refund.
        attempt=secrets.token_urlsafe(16),
        format_major=money.format_major,
    )


def _refused(order_id: int, message: str):
    """Show why nothing was refunded; an "error" flash keeps it out of the audit log."""
    db.session.rollback()
    flash(message, "error")
    return redirect(url_for(".order_detail", order_id=order_id))


@bp.route("/orders/<int:order_id>/refund", methods=["POST"])
def order_refund(order_id: int):
    """Ask Stripe to refund one of the order's payments; its webhook settles the refund."""
    order = db.get_or_404(Order, order_id)
    form = RefundForm()
    if not form.validate_on_submit():
        return _refused(order.id, "Choose a payment of this order to refund.")
    payment = orders.payment_of(order, form.payment_id.data)
    if payment is None:
        return _refused(order.id, "That payment is not part of this order.")
    try:
        amount = None
        if request.form.get("action") != "full":
            amount = refunds.parse_refund_amount(form.amount.data, payment.currency)
        asked = refunds.refund_payment(
            payment, amount, current_user._get_current_object(), request.form.get("attempt")
        )
    except BillingError as error:
        return _refused(order.id, str(error))
    amount_text = money.format_money(asked, payment.currency)
    audit.note(
        f"Refunded {amount_text} of order {order.id}",
        f"order {order.id}",
        payment=payment.id,
        amount=asked,
        currency=payment.currency,
        full=amount is None,
    )
    flash(f"Refund of {amount_text} requested; Stripe will confirm it.", "success")
    return redirect(url_for(".order_detail", order_id=order.id))
