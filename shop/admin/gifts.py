"""Back-office pages for gifts: the list by state, and sending a gift's mail again."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from shop.admin.blueprint import bp
from shop.audit import services as audit
from shop.billing import gift_mail, gifts
from shop.billing.models import GiftStatus
from shop.extensions import db
from shop.pagination import check_page_exists, page_arg

STATES = {
    GiftStatus.SCHEDULED: "Paid, waiting for its day",
    GiftStatus.SENT: "Sent, not redeemed yet",
    GiftStatus.REDEEMED: "Redeemed",
    GiftStatus.EXPIRED: "Expired",
    GiftStatus.REVOKED: "Refunded and revoked",
    GiftStatus.PENDING: "Checkout not paid",
}


@bp.route("/gifts")
def gifts_list():
    """Gifts, newest first; ``?status=`` narrows to one state."""
    status = request.args.get("status", "")
    if status and status not in STATES:
        abort(404, description="There is no such state of gift.")
    page = gifts.gift_list(status or None, page_arg())
    check_page_exists(page)
    return render_template(
        "admin/gifts.html",
        page=page,
        status=status,
        states=STATES,
        period_words=gifts.period_words,
        today=gifts.local_today(),
    )


@bp.route("/gifts/<int:gift_id>/resend", methods=["POST"])
def gift_resend(gift_id: int):
    """Mail a sent gift's recipient a new redeem link; the old one stops working."""
    try:
        gift = gift_mail.resend(gift_id)
    except gifts.GiftError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".gifts_list"))
    audit.note(f"Resent gift {gift.id} to {gift.recipient_email}", f"gift {gift.id}")
    flash(f"Gift {gift.id} was mailed again to {gift.recipient_email}.", "success")
    return redirect(url_for(".gifts_list"))
