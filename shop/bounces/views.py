"""The providers' webhooks: POST /webhooks/mail/<provider>, credentials or signature first.

Each is a 404 until its setting is made. What each provider sends is read in its own
module (mailgun, ses, postmark, sendgrid); what a report does is ``services.apply_each``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, abort, current_app, request

from shop.bounces import mailgun, postmark, sendgrid, services, ses
from shop.extensions import csrf, limiter

bp = Blueprint("bounces", __name__)
log = logging.getLogger(__name__)
# A report is a few kilobytes; anything far past it is not one.
MAX_BODY = 64 * 1024
# SendGrid batches up to a thousand or so events in one request.
MAX_BATCH = 1024 * 1024
Answer = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]


class BadBodyError(Exception):
    """The request cannot be read as the provider's report: answered 400 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@bp.record_once
def _check_settings(state: Any) -> None:
    """A SendGrid key that cannot verify stops the start, not the first report."""
    key = state.app.config.get("SENDGRID_WEBHOOK_PUBLIC_KEY")
    if key:
        sendgrid.public_key(key)


@bp.errorhandler(BadBodyError)
def _bad_body(error: BadBodyError) -> Answer:
    """A clear 4xx for a body that is not a report."""
    return {"error": str(error)}, error.status


def _raw(limit: int = MAX_BODY) -> bytes:
    """The body, refused past ``limit`` before it is read."""
    if (request.content_length or 0) > limit:
        raise BadBodyError("too large", 413)
    return request.get_data(cache=False)


def _json(raw: bytes) -> Any:
    """The body as JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested past Python's depth
        raise BadBodyError("malformed payload: not JSON") from error


def _answer(provider: str, reports: list[services.Report]) -> Answer:
    """Apply the reports: 200 with their outcomes, 500 if one failed (the provider retries)."""
    outcomes, failed = services.apply_each(provider, reports)
    if failed:
        return {"error": "handler failed", "outcomes": outcomes}, 500
    outcome = outcomes[0] if len(outcomes) == 1 else "ignored" if not outcomes else "several"
    return {"received": True, "outcome": outcome, "outcomes": outcomes}, 200


def _refused(provider: str, error: services.SignatureError) -> Answer:
    """403 for a report its provider did not sign, or signed long ago."""
    log.warning("%s webhook refused: %s", provider, error)
    return {"error": "invalid signature"}, 403


@bp.route("/webhooks/mail/mailgun", methods=["POST"])
@csrf.exempt  # the provider signs the report instead
def mailgun_webhook() -> Answer:
    """Mailgun's failed and complained events (404 unless MAILGUN_WEBHOOK_SIGNING_KEY)."""
    key = current_app.config.get("MAILGUN_WEBHOOK_SIGNING_KEY")
    if not key:
        abort(404)
    body = _json(_raw())
    if not isinstance(body, dict):
        raise BadBodyError("malformed payload: not an object")
    try:
        mailgun.check_signature(body.get("signature"), key)
    except services.SignatureError as error:
        return _refused("Mailgun", error)
    report = mailgun.report(body.get("event-data"))
    return _answer("mailgun", [report] if report else [])


@bp.route("/webhooks/mail/ses", methods=["POST"])
@csrf.exempt  # SNS signs each message instead
def ses_webhook() -> Answer:
    """Amazon SES's bounces and complaints by SNS (404 unless SES_SNS_TOPIC_ARN)."""
    topics = [t.strip() for t in current_app.config.get("SES_SNS_TOPIC_ARN", "").split(",")]
    topics = [t for t in topics if t]
    if not topics:
        abort(404)
    try:
        message = ses.parse(_json(_raw()))
    except ses.ShapeError as error:
        raise BadBodyError(f"malformed payload: {error}") from error
    try:
        ses.check_signature(message, topics)
    except services.SignatureError as error:
        return _refused("SNS", error)
    if message["Type"] == "SubscriptionConfirmation":
        confirmed = ses.confirm(message)
        return {"received": True, "outcome": "confirmed" if confirmed else "unconfirmed"}, 200
    if message["Type"] == "UnsubscribeConfirmation":
        log.warning("SNS topic %s no longer sends here", message["TopicArn"])
        return {"received": True, "outcome": "ignored"}, 200
    return _answer("ses", ses.reports(message))


def _guess_limit() -> str:
    """Wrong Postmark credentials tried from one address, as for passwords at login."""
    return str(current_app.config["LOGIN_RATE_LIMIT_IP"])


@bp.route("/webhooks/mail/postmark", methods=["POST"])
@csrf.exempt  # Postmark sends our basic credentials instead
# Only refusals count, so that Postmark's own reports are never held back by a guesser's.
@limiter.limit(_guess_limit, deduct_when=lambda response: response.status_code == 401)
def postmark_webhook() -> Answer:
    """Postmark's bounces and spam complaints (404 unless POSTMARK_WEBHOOK_USERNAME/PASSWORD)."""
    user = current_app.config.get("POSTMARK_WEBHOOK_USERNAME")
    password = current_app.config.get("POSTMARK_WEBHOOK_PASSWORD")
    if not user or not password:
        abort(404)
    given = request.authorization
    if (
        given is None
        or given.type != "basic"
        or not postmark.credentials_match(
            given.username or "", given.password or "", user, password
        )
    ):
        log.warning("Postmark webhook refused: wrong or missing credentials")
        return {"error": "unauthorized"}, 401, {"WWW-Authenticate": 'Basic realm="webhooks"'}
    try:
        report = postmark.report(_json(_raw()))
    except postmark.ShapeError as error:
        raise BadBodyError(f"malformed payload: {error}") from error
    return _answer("postmark", [report] if report else [])


@bp.route("/webhooks/mail/sendgrid", methods=["POST"])
@csrf.exempt  # SendGrid signs the batch instead
def sendgrid_webhook() -> Answer:
    """SendGrid's bounce, dropped and spamreport events (404 unless SENDGRID_WEBHOOK_PUBLIC_KEY)."""
    key = current_app.config.get("SENDGRID_WEBHOOK_PUBLIC_KEY")
    if not key:
        abort(404)
    raw = _raw(MAX_BATCH)
    try:
        sendgrid.check_signature(
            key,
            request.headers.get(sendgrid.SIGNATURE_HEADER, ""),
            request.headers.get(sendgrid.TIMESTAMP_HEADER, ""),
            raw,
        )
    except services.SignatureError as error:
        return _refused("SendGrid", error)
    events = _json(raw)
    if not isinstance(events, list):
        raise BadBodyError("malformed payload: not an array of events")
    # A malformed event is skipped; the others in the batch are taken all the same.
    reports = [r for r in map(sendgrid.report, events) if r is not None]
    return _answer("sendgrid", reports)
