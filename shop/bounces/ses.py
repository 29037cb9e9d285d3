"""Amazon SES's reports, by way of an SNS topic: signed messages, checked before use.

SNS signs each message (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over a
canonical string of some of its keys, with the certificate at ``SigningCertURL``. That
URL, and the ``SubscribeURL`` visited to confirm the subscription, must be on AWS's own
SNS hosts (``https://sns.<region>.amazonaws.com``): anything else is refused before a
byte is fetched, so that a forged message can neither pass its own certificate off nor
make the app fetch an address of its choosing. ``SES_SNS_ORIGIN_PATTERN`` replaces
that rule for the test suite's local certificate server; it is not read from the
environment, and production never sets it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import current_app

from shop.bounces.services import Report, SignatureError

log = logging.getLogger(__name__)

# Where AWS serves SNS: the only origin a certificate or a confirmation is fetched from.
SNS_ORIGIN = r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
# The keys each type of message is signed over, in this order (AWS's documentation).
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_KEYS["UnsubscribeConfirmation"] = SIGNED_KEYS["SubscriptionConfirmation"]
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
# SNS retries a delivery for about a minute by default; an older message is a replay.
MAX_AGE = timedelta(hours=1)
FETCH_TIMEOUT = 5
_certificates: dict[str, rsa.RSAPublicKey] = {}
_lock = threading.Lock()


class ShapeError(ValueError):
    """The body is not an SNS message at all."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead off AWS's hosts: none is followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Refuse every redirect."""
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def parse(body: Any) -> dict[str, str]:
    """The SNS message's keys, all strings, or ShapeError."""
    if not isinstance(body, dict) or str(body.get("Type")) not in SIGNED_KEYS:
        raise ShapeError("not an SNS message")
    keys = (*SIGNED_KEYS[body["Type"]], "Signature", "SignatureVersion", "SigningCertURL")
    missing = [k for k in keys if k != "Subject" and not isinstance(body.get(k), str)]
    if missing or not isinstance(body.get("Subject", ""), str):
        raise ShapeError(f"SNS message without {', '.join(missing) or 'a text Subject'}")
    return {k: body[k] for k in keys if k in body}


def _on_sns(url: str) -> bool:
    """Whether the URL is on AWS's SNS hosts (or the test suite's, when it says so)."""
    parts = urlsplit(url)
    pattern = current_app.config.get("SES_SNS_ORIGIN_PATTERN") or SNS_ORIGIN
    origin = f"{parts.scheme}://{parts.netloc}"
    return parts.username is None and re.fullmatch(pattern, origin) is not None


def _fetch(url: str) -> bytes:
    """GET a URL already checked to be on SNS: short timeout, no redirects."""
    # The scheme and host were checked by _on_sns: only AWS's https (or the tests').
    with _opener.open(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
        return bytes(response.read(64 * 1024))


def _public_key(url: str) -> rsa.RSAPublicKey:
    """The RSA key of the certificate at ``url``, fetched once per process."""
    if not _on_sns(url) or not urlsplit(url).path.endswith(".pem"):
        raise SignatureError(f"certificate URL not on SNS: {url!r}")
    with _lock:
        cached = _certificates.get(url)
    if cached is not None:
        return cached
    try:
        cert = x509.load_pem_x509_certificate(_fetch(url))
    except (OSError, ValueError) as error:
        raise SignatureError(f"certificate at {url!r} unavailable: {error}") from error
    now = datetime.now(UTC)
    key = cert.public_key()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureError(f"certificate at {url!r} expired")
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError(f"certificate at {url!r} has no RSA key")
    with _lock:
        if len(_certificates) > 32:  # AWS rotates them rarely; never grow without bound
            _certificates.clear()
        _certificates[url] = key
    return key


def check_signature(message: dict[str, str], topics: list[str]) -> None:
    """SNS's signature over the message, for one of our topics, recent: else SignatureError."""
    if message["TopicArn"] not in topics:
        raise SignatureError(f"topic {message['TopicArn']!r} is not SES_SNS_TOPIC_ARN")
    algorithm = HASHES.get(message["SignatureVersion"])
    if algorithm is None:
        raise SignatureError(f"signature version {message['SignatureVersion']!r}")
    signed = "".join(f"{k}\n{message[k]}\n" for k in SIGNED_KEYS[message["Type"]] if k in message)
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except binascii.Error as error:
        raise SignatureError("signature is not base64") from error
    key = _public_key(message["SigningCertURL"])
    try:
        key.verify(signature, signed.encode(), padding.PKCS1v15(), algorithm())
    except InvalidSignature as error:
        raise SignatureError("signature does not match") from error
    try:
        sent = datetime.fromisoformat(message["Timestamp"].replace("Z", "+00:00"))
    except ValueError as error:
        raise SignatureError("timestamp unreadable") from error
    if sent.tzinfo is None or abs(datetime.now(UTC) - sent) > MAX_AGE:
        raise SignatureError("timestamp too old")


def confirm(message: dict[str, str]) -> bool:
    """Visit a signed SubscriptionConfirmation's SubscribeURL; False (logged) if it failed."""
    url = message["SubscribeURL"]
    if not _on_sns(url):
        log.warning("SNS SubscribeURL not on SNS, not visited: %s", url)
        return False
    try:
        _fetch(url)
    except (OSError, ValueError) as error:
        log.warning("SNS subscription not confirmed (%s); visit %s to confirm it", error, url)
        return False
    log.info("SNS subscription to %s confirmed", message["TopicArn"])
    return True


def _message_id(mail: Any) -> str:
    """The original Message-ID, when SES was asked to include the headers."""
    if not isinstance(mail, dict):
        return ""
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and isinstance(common.get("messageId"), str):
        return str(common["messageId"])
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return str(header.get("value") or "")
    return ""


def _addresses(section: Any, key: str) -> list[str]:
    """The ``emailAddress`` of each recipient listed under section[key]."""
    listed = section.get(key) if isinstance(section, dict) else None
    return [
        str(r["emailAddress"])
        for r in (listed if isinstance(listed, list) else [])
        if isinstance(r, dict) and isinstance(r.get("emailAddress"), str) and r["emailAddress"]
    ]


def reports(message: dict[str, str]) -> list[Report]:
    """The reports a signed Notification makes: none for deliveries and other events."""
    try:
        event = json.loads(message["Message"])
    except ValueError:
        return []  # e.g. SES's plain-text "Successfully validated SNS topic" message
    if not isinstance(event, dict):
        return []
    kind = event.get("notificationType") or event.get("eventType")
    message_id = _message_id(event.get("mail"))
    if kind == "Bounce":
        bounce = event.get("bounce")
        permanent = isinstance(bounce, dict) and bounce.get("bounceType") == "Permanent"
        emails = _addresses(bounce, "bouncedRecipients")
        outcome = "bounce" if permanent else "transient"
    elif kind == "Complaint":
        complaint = event.get("complaint")
        emails = _addresses(complaint, "complainedRecipients")
        # A mailbox provider can report that a message once marked as spam is not.
        not_spam = isinstance(complaint, dict) and complaint.get("complaintFeedbackType") == (
            "not-spam"
        )
        outcome = "transient" if not_spam else "complaint"
    else:
        return []
    return [
        Report(outcome, email, message_id, f"{message['MessageId']}:{email.lower()}")
        for email in emails
    ]
