"""SendGrid's Signed Event Webhook: an array of events, ECDSA-signed with SendGrid's key.

The signature (header ``X-Twilio-Email-Event-Webhook-Signature``, base64 DER) is over
the timestamp header followed by the raw body, with the P-256 key SendGrid shows when
the webhook's signing is turned on (``SENDGRID_WEBHOOK_PUBLIC_KEY``).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shop.bounces.services import Report, SignatureError
from shop.config import ConfigError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# As for Mailgun: a signature older (or further ahead) than this is refused.
MAX_AGE_SECONDS = 300
# Why SendGrid dropped a message without sending it: the address is gone, or complained.
# (Tuples: a reason of any JSON type can be looked up in them.)
DROPPED_BOUNCE = ("Bounced Address", "Invalid")
DROPPED_COMPLAINT = ("Spam Reporting Address",)


def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key, base64 DER as its dashboard shows it (or PEM)."""
    try:
        if text.lstrip().startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as error:
        raise ConfigError(f"SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key: {error}") from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic-curve key")
    return key


def check_signature(key_text: str, signature: str, timestamp: str, body: bytes) -> None:
    """SendGrid's ECDSA signature of timestamp + body, made recently: else SignatureError."""
    try:
        der = base64.b64decode(signature, validate=True)
    except binascii.Error as error:
        raise SignatureError("signature is not base64") from error
    try:
        key = public_key(key_text)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as error:
        raise SignatureError("signature does not match") from error
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        raise SignatureError("timestamp too old")


def report(event: Any) -> Report | None:
    """The report one event makes; None for an event that stops nothing or is malformed."""
    if not isinstance(event, dict) or not isinstance(event.get("email"), str) or not event["email"]:
        return None
    name, email = event.get("event"), event["email"]
    message_id = str(event.get("smtp-id") or "")
    event_id = str(event.get("sg_event_id") or "")
    if name == "spamreport":
        outcome = "complaint"
    elif name == "bounce":
        # "blocked" is the receiving server turning the message away for now.
        outcome = "transient" if event.get("type") == "blocked" else "bounce"
    elif name == "dropped" and event.get("reason") in DROPPED_BOUNCE:
        outcome = "bounce"
    elif name == "dropped" and event.get("reason") in DROPPED_COMPLAINT:
        outcome = "complaint"
    else:
        return None  # delivered, deferred, opens, clicks, other drops
    return Report(outcome, email, message_id, event_id)
