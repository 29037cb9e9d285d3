"""Postmark's webhook: unsigned, so it comes with the HTTP basic credentials we chose.

Postmark puts ``https://user:password@<site>/webhooks/mail/postmark`` credentials in
front of every request; without the right ones nothing is read.
"""

from __future__ import annotations

import hmac
from typing import Any

from shop.bounces.services import Report

# Postmark's bounce types (its API's BounceType): these say the address is gone.
PERMANENT = ("HardBounce", "BadEmailAddress", "ManuallyDeactivated")
# The same by TypeCode, for a record that names only the number. (Tuples: a value of
# any JSON type can be looked up in them, where a set would need it hashable.)
PERMANENT_CODES = (1, 100000, 100002)
COMPLAINT_CODE = 100001


class ShapeError(ValueError):
    """The body is not a Postmark webhook record."""


def credentials_match(given_user: str, given_password: str, user: str, password: str) -> bool:
    """Whether the basic credentials are ours, compared in constant time."""
    same_user = hmac.compare_digest(given_user.encode(), user.encode())
    same_password = hmac.compare_digest(given_password.encode(), password.encode())
    return same_user and same_password


def _message_id(record: dict[str, Any]) -> str:
    """Our Message-ID, from the record's Headers or Metadata when either carries it."""
    headers = record.get("Headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "message-id":
            return str(header.get("Value") or "")
    metadata = record.get("Metadata")
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            if str(key).lower().replace("_", "-") == "message-id":
                return str(value)
    return ""


def report(record: Any) -> Report | None:
    """The report one Postmark record makes, None for one that stops nothing."""
    if not isinstance(record, dict) or not isinstance(record.get("RecordType"), str):
        raise ShapeError("not a Postmark record")
    kind = record["RecordType"]
    if kind not in ("Bounce", "SpamComplaint"):
        return None  # deliveries, opens, clicks, subscription changes
    email = record.get("Email")
    if not isinstance(email, str) or not email:
        raise ShapeError(f"{kind} record without an Email")
    bounce_type, code = record.get("Type"), record.get("TypeCode")
    if kind == "SpamComplaint" or bounce_type == "SpamComplaint" or code == COMPLAINT_CODE:
        outcome = "complaint"
    elif bounce_type in PERMANENT or (bounce_type is None and code in PERMANENT_CODES):
        outcome = "bounce"
    else:
        outcome = "transient"  # SoftBounce, Transient, DnsError, AutoResponder, Blocked...
    event_id = f"{kind}:{record['ID']}" if record.get("ID") is not None else ""
    return Report(outcome, email, _message_id(record), event_id)
