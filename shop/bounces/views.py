"""The providers' webhooks: POST /webhooks/mail/<provider>, signature first."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, current_app, request

from shop.bounces import services
from shop.extensions import csrf, db

bp = Blueprint("bounces", __name__)
log = logging.getLogger(__name__)
# A report is a few kilobytes; anything far past it is not one.
MAX_BODY = 64 * 1024


@bp.route("/webhooks/mail/mailgun", methods=["POST"])
@csrf.exempt  # the provider signs the report instead
def mailgun_webhook():
    """Mailgun's failed and complained events (404 unless MAILGUN_WEBHOOK_SIGNING_KEY)."""
    key = current_app.config.get("MAILGUN_WEBHOOK_SIGNING_KEY")
    if not key:
        abort(404)
    if (request.content_length or 0) > MAX_BODY:
        return {"error": "too large"}, 413
    try:
        body = json.loads(request.get_data(cache=False))
    except ValueError:
        return {"error": "malformed payload"}, 400
    if not isinstance(body, dict):
        return {"error": "malformed payload"}, 400
    try:
        services.check_mailgun_signature(body.get("signature"), key)
    except services.SignatureError as error:
        log.warning("Mailgun webhook refused: %s", error)
        return {"error": "invalid signature"}, 403
    report = services.mailgun_report(body.get("event-data"))
    if report is None:
        return {"received": True, "outcome": "ignored"}, 200
    try:
        outcome = services.apply(report)
    except Exception:
        db.session.rollback()
        log.exception("Mailgun report for %s failed; Mailgun will retry", report.email)
        return {"error": "handler failed"}, 500
    return {"received": True, "outcome": outcome}, 200
