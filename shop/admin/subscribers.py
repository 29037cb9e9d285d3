"""Back-office pages for subscribers: the list, one reader, suppression, the CSV export."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from shop.accounts import services as accounts
from shop.accounts.models import User
from shop.admin.blueprint import bp
from shop.admin.exports import csv_response
from shop.audit import services as audit
from shop.clock import utcnow
from shop.extensions import db
from shop.forms import ActionForm, require_action
from shop.pagination import check_page_exists, page_arg
from shop.preferences import suppression
from shop.reports import engagement
from shop.reports import subscriber_detail as detail_report
from shop.reports import subscribers as service


def _filters() -> service.Filters:
    """The query string's filters; an unknown value is a 404 that says which."""
    try:
        return service.parse_filters(request.args)
    except service.SubscriberError as error:
        abort(404, description=str(error))


def _back_to(user: User) -> Response:
    return redirect(url_for(".subscriber_detail", user_id=user.id))


@bp.route("/subscribers")
def subscribers_list():
    """Every reader account, searchable and filtered, with their digest and plan."""
    filters = _filters()
    page = service.subscriber_page(filters, page_arg())
    check_page_exists(page)
    return render_template(
        "admin/subscribers.html",
        page=page,
        filters=filters,
        frequencies=service.FREQUENCY_FILTERS,
        statuses=tuple(service.StatusFilter),
    )


@bp.route("/subscribers.csv")
def subscribers_export():
    """The list's readers, with its filters, as a CSV file streamed row by row."""
    filters = _filters()
    filename = f"subscribers-{utcnow():%Y-%m-%d}.csv"
    return csv_response(filename, service.EXPORT_HEADER, service.export_rows(filters))


@bp.route("/subscribers/<int:user_id>")
def subscriber_detail(user_id: int):
    """One reader: account, preferences, subscriptions, deliveries and orders."""
    user = db.get_or_404(User, user_id, description="There is no such reader.")
    return render_template(
        "admin/subscriber.html",
        detail=detail_report.subscriber_detail(user),
        engagement=engagement.reader_engagement(user.id),
        action_form=ActionForm(),
    )


@bp.route("/subscribers/<int:user_id>/suppress", methods=["POST"])
def subscriber_suppress(user_id: int):
    """Stop all digests to a reader's address."""
    require_action()
    user = db.get_or_404(User, user_id, description="There is no such reader.")
    try:
        suppression.suppress(user)
    except suppression.SuppressionError as error:
        flash(str(error), "error")
    else:
        audit.note(f"Suppressed {user.email}", f"user {user.id}", suppressed=True)
        flash(f"No more digests will go to {user.email}.", "success")
    return _back_to(user)


@bp.route("/subscribers/<int:user_id>/unsuppress", methods=["POST"])
def subscriber_unsuppress(user_id: int):
    """Lift a suppression and clear the address's hard bounces."""
    require_action()
    user = db.get_or_404(User, user_id, description="There is no such reader.")
    try:
        suppression.unsuppress(user)
    except suppression.SuppressionError as error:
        flash(str(error), "error")
    else:
        audit.note(
            f"Unsuppressed {user.email}", f"user {user.id}", suppressed=False, hard_bounces=0
        )
        flash(f"{user.email} is no longer suppressed; bounces are cleared.", "success")
    return _back_to(user)


@bp.route("/subscribers/<int:user_id>/confirmation", methods=["POST"])
def subscriber_confirmation(user_id: int):
    """Mail a fresh confirmation link to a reader who has not confirmed."""
    require_action()
    user = db.get_or_404(User, user_id, description="There is no such reader.")
    try:
        accounts.resend_confirmation(user)
    except accounts.AccountError as error:
        flash(str(error), "error")
    else:
        audit.note(f"Resent the confirmation link to {user.email}", f"user {user.id}")
        flash(f"A new confirmation link is on its way to {user.email}.", "success")
    return _back_to(user)
