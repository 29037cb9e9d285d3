"""Postmark's bounce and spam-complaint webhook: taken only with our basic credentials."""

from __future__ import annotations

import base64
import itertools
import json

import pytest

from shop.extensions import db
from tests.newsletter.digest_helpers import subscriber
from tests.newsletter.helpers import preference_of

URL = "/webhooks/mail/postmark"
USER, PASSWORD = "postmark", "a-long-random-webhook-password"
_ids = itertools.count(4_000_000)


@pytest.fixture
def postmark(app_config):
    """The app with Postmark's webhook credentials set."""
    app_config["POSTMARK_WEBHOOK_USERNAME"] = USER
    app_config["POSTMARK_WEBHOOK_PASSWORD"] = PASSWORD
    return app_config


def _auth(user=USER, password=PASSWORD):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _bounce(email, kind="HardBounce", code=1, record_id=None, **extra):
    return {
        "RecordType": "Bounce",
        "ID": next(_ids) if record_id is None else record_id,
        "Type": kind,
        "TypeCode": code,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": email,
        "Inactive": kind == "HardBounce",
        **extra,
    }


def _complaint(email, **extra):
    return {
        "RecordType": "SpamComplaint",
        "ID": next(_ids),
        "Type": "SpamComplaint",
        "TypeCode": 100001,
        "Email": email,
        **extra,
    }


def _post(client, record, headers=None):
    body = record if isinstance(record, bytes) else json.dumps(record)
    return client.post(
        URL,
        data=body,
        content_type="application/json",
        headers=_auth() if headers is None else headers,
    )


def test_hard_bounces_count_as_a_5xx_and_soft_ones_do_not(postmark, app, client):
    reader = subscriber("gone@example.org")
    limit = app.config["MAIL_BOUNCE_LIMIT"]
    for kind, code in [("SoftBounce", 4096), ("Transient", 2), ("DnsError", 256)]:
        assert _post(client, _bounce(reader.email, kind, code)).json["outcome"] == "ignored"
    for _ in range(limit - 1):
        assert _post(client, _bounce(reader.email)).json["outcome"] == "bounce"
    db.session.expire_all()
    assert preference_of(reader.email).hard_bounces == limit - 1
    assert preference_of(reader.email).suppressed_at is None
    _post(client, _bounce(reader.email, "BadEmailAddress", 100000))
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is not None


def test_a_spam_complaint_suppresses_at_once_found_by_its_message_id(postmark, app, client):
    reader = subscriber("annoyed@example.org")
    msgid = f"<abc-run-3-x-delivery7-u{reader.id}@localhost>"
    record = _complaint(reader.email.upper(), Metadata={"message-id": msgid})
    response = _post(client, record)
    assert response.json["outcome"] == "complaint"
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is not None


@pytest.mark.parametrize(
    "headers",
    [{}, _auth(password="guess"), _auth(user="admin"), {"Authorization": "Bearer x"}],
    ids=["none", "wrong-password", "wrong-user", "not-basic"],
)
def test_without_our_credentials_nothing_is_read(postmark, app, client, headers):
    reader = subscriber("safe@example.org")
    response = _post(client, _complaint(reader.email), headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is None


def test_guessing_the_credentials_is_rate_limited(postmark, app, client):
    limit = int(app.config["LOGIN_RATE_LIMIT_IP"].split()[0])
    for _ in range(limit):
        assert (
            _post(client, _complaint("x@example.org"), _auth(password="guess")).status_code == 401
        )
    assert _post(client, _complaint("x@example.org"), _auth(password="guess")).status_code == 429


def test_the_same_record_twice_counts_once(postmark, app, client):
    reader = subscriber("twice@example.org")
    record = _bounce(reader.email)
    assert _post(client, record).json["outcome"] == "bounce"
    assert _post(client, record).json["outcome"] == "duplicate"
    db.session.expire_all()
    assert preference_of(reader.email).hard_bounces == 1


def test_bad_bodies_are_400s_and_other_records_are_ignored(postmark, app, client):
    assert _post(client, b"{not json").status_code == 400
    no_email = _post(client, {"RecordType": "Bounce", "ID": 1, "Type": "HardBounce"})
    assert no_email.status_code == 400
    assert "Email" in no_email.json["error"]
    assert _post(client, ["a list"]).status_code == 400
    odd = _bounce("nobody@example.org", kind=["HardBounce"], code={"n": 1}, Headers=3)
    assert _post(client, odd).json["outcome"] == "ignored"
    delivery = _post(client, {"RecordType": "Delivery", "Recipient": "x@example.org"})
    assert (delivery.status_code, delivery.json["outcome"]) == (200, "ignored")
    unknown = _post(client, _bounce("nobody@example.org"))
    assert (unknown.status_code, unknown.json["outcome"]) == (200, "unknown")


def test_without_credentials_set_the_webhook_is_not_there(app, client):
    assert _post(client, _complaint("x@example.org")).status_code == 404
