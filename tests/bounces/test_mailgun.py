"""Mailgun's bounce and complaint webhook: signed reports stop mail as a 5xx does."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

import pytest

from shop.extensions import db
from tests.newsletter.digest_helpers import subscriber
from tests.newsletter.helpers import preference_of

KEY = "key-test-mailgun-signing"
URL = "/webhooks/mail/mailgun"


@pytest.fixture
def mailgun(app_config):
    """The app with Mailgun's signing key set."""
    app_config["MAILGUN_WEBHOOK_SIGNING_KEY"] = KEY
    return app_config


def _signature(key=KEY, timestamp=None, token=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def _event(event, email, severity=None, message_id="20260101.1@mg.example"):
    data = {"event": event, "recipient": email, "message": {"headers": {"message-id": message_id}}}
    if severity:
        data["severity"] = severity
    return data


def _post(client, event, signature=None):
    body = {"signature": signature or _signature(), "event-data": event}
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def test_permanent_bounces_suppress_as_smtp_5xx_do_and_transient_ones_do_not(mailgun, app, client):
    reader = subscriber("gone@example.org")
    limit = app.config["MAIL_BOUNCE_LIMIT"]
    for _ in range(limit - 1):
        assert _post(client, _event("failed", reader.email, "permanent")).status_code == 200
    assert preference_of(reader.email).suppressed_at is None
    for _ in range(3):
        assert _post(client, _event("failed", reader.email, "temporary")).status_code == 200
    db.session.expire_all()
    assert preference_of(reader.email).hard_bounces == limit - 1
    _post(client, _event("failed", reader.email, "permanent"))
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is not None


def test_a_complaint_suppresses_at_once(mailgun, app, client):
    reader = subscriber("annoyed@example.org")
    msgid = f"<abc-run-3-x-delivery7-u{reader.id}@localhost>"
    response = _post(client, _event("complained", reader.email, message_id=msgid))
    assert response.json["outcome"] == "complaint"
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is not None


@pytest.mark.parametrize(
    "signature",
    [
        _signature(key="someone-else"),
        _signature(timestamp=int(time.time()) - 3600),
        {"timestamp": "1", "token": "t", "signature": "0" * 64},
    ],
    ids=["forged", "old", "garbage"],
)
def test_forged_or_old_reports_are_refused_and_change_nothing(mailgun, app, client, signature):
    reader = subscriber("safe@example.org")
    response = _post(client, _event("complained", reader.email), signature)
    assert response.status_code == 403
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is None


def test_a_replayed_report_is_refused(mailgun, app, client):
    reader = subscriber("replay@example.org")
    signature = _signature()
    assert _post(client, _event("failed", reader.email, "permanent"), signature).status_code == 200
    again = _post(client, _event("failed", reader.email, "permanent"), signature)
    assert again.status_code == 403
    db.session.expire_all()
    assert preference_of(reader.email).hard_bounces == 1


def test_malformed_json_is_a_400_and_an_unknown_address_is_no_error(mailgun, app, client):
    bad = client.post(URL, data=b"{not json", content_type="application/json")
    assert bad.status_code == 400
    response = _post(client, _event("failed", "nobody@example.org", "permanent"))
    assert response.status_code == 200
    assert response.json["outcome"] == "unknown"


def test_without_a_signing_key_the_webhook_is_not_there(app, client):
    assert _post(client, _event("complained", "x@example.org")).status_code == 404
