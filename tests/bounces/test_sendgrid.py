"""SendGrid's Signed Event Webhook: batches SendGrid signed, each event taken once."""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shop import create_app
from shop.bounces import services
from shop.config import ConfigError
from shop.extensions import db
from tests.newsletter.digest_helpers import subscriber
from tests.newsletter.helpers import preference_of

URL = "/webhooks/mail/sendgrid"
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


@pytest.fixture
def sendgrid(app_config):
    """The app with SendGrid's verification key set."""
    app_config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = PUBLIC
    return app_config


def _event(event, email, **extra):
    return {
        "event": event,
        "email": email,
        "timestamp": int(time.time()),
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **extra,
    }


def _headers(body: bytes, key=KEY, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def _post(client, events, headers=None):
    body = events if isinstance(events, bytes) else json.dumps(events).encode()
    headers = _headers(body) if headers is None else headers
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def test_a_batch_takes_each_event_for_what_it_is_malformed_ones_skipped(sendgrid, app, client):
    gone, blocked, dropped, annoyed = (
        subscriber(f"{name}@example.org") for name in ("gone", "blocked", "dropped", "annoyed")
    )
    events = [
        "not an event",
        {"event": "bounce", "type": "bounce"},  # no address
        _event("bounce", gone.email, type="bounce", status="5.1.1"),
        _event("bounce", blocked.email, type="blocked", status="4.0.0"),
        _event("deferred", blocked.email),
        _event("dropped", dropped.email, reason="Bounced Address"),
        _event("dropped", dropped.email, reason="Unsubscribed Address"),
        _event("dropped", dropped.email, reason=["Bounced Address"]),
        _event("spamreport", annoyed.email),
        _event("delivered", gone.email),
    ]
    response = _post(client, events)
    assert response.status_code == 200
    assert response.json["outcomes"] == ["bounce", "ignored", "bounce", "complaint"]
    db.session.expire_all()
    assert preference_of(gone.email).hard_bounces == 1
    assert preference_of(dropped.email).hard_bounces == 1
    assert preference_of(blocked.email).hard_bounces == 0
    assert preference_of(annoyed.email).suppressed_at is not None
    assert preference_of(gone.email).suppressed_at is None


def test_enough_bounces_suppress_as_a_5xx_does(sendgrid, app, client):
    reader = subscriber("limit@example.org")
    for _ in range(app.config["MAIL_BOUNCE_LIMIT"]):
        _post(client, [_event("bounce", reader.email, type="bounce")])
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is not None


def _forged(body):
    return _headers(body, key=ec.generate_private_key(ec.SECP256R1()))


def _old(body):
    return _headers(body, timestamp=int(time.time()) - 3600)


def _tampered(body):
    return _headers(body.replace(b"spamreport", b"delivered"))


@pytest.mark.parametrize(
    "headers",
    [_forged, _old, _tampered, lambda body: {}],
    ids=["forged", "old", "tampered", "unsigned"],
)
def test_batches_sendgrid_did_not_sign_just_now_are_refused(sendgrid, app, client, headers):
    reader = subscriber("safe@example.org")
    body = json.dumps([_event("spamreport", reader.email)]).encode()
    response = _post(client, body, headers(body))
    assert response.status_code == 403
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is None


def test_an_event_sent_again_counts_once(sendgrid, app, client):
    reader = subscriber("twice@example.org")
    event = _event("bounce", reader.email, type="bounce")
    assert _post(client, [event]).json["outcome"] == "bounce"
    assert _post(client, [event]).json["outcome"] == "duplicate"
    db.session.expire_all()
    assert preference_of(reader.email).hard_bounces == 1


def test_an_event_that_fails_is_taken_when_sendgrid_retries(sendgrid, app, client, monkeypatch):
    first, second = subscriber("first@example.org"), subscriber("second@example.org")
    events = [_event("bounce", first.email), _event("bounce", second.email)]
    real_apply = services.apply

    def failing(report):
        if report.email == first.email:
            raise RuntimeError("database went away")
        return real_apply(report)

    monkeypatch.setattr(services, "apply", failing)
    assert _post(client, events).status_code == 500
    db.session.expire_all()
    assert preference_of(second.email).hard_bounces == 1
    monkeypatch.setattr(services, "apply", real_apply)
    retry = _post(client, events)
    assert retry.json["outcomes"] == ["bounce", "duplicate"]
    db.session.expire_all()
    assert preference_of(first.email).hard_bounces == 1
    assert preference_of(second.email).hard_bounces == 1


def test_signed_bodies_that_are_no_batch_are_400s(sendgrid, app, client):
    assert _post(client, b"[not json").status_code == 400
    response = _post(client, {"event": "bounce"})
    assert response.status_code == 400
    assert "array" in response.json["error"]
    assert _post(client, []).json["outcome"] == "ignored"


def test_without_a_key_the_webhook_is_not_there(app, client):
    assert _post(client, [_event("spamreport", "x@example.org")]).status_code == 404


def test_a_key_that_cannot_verify_stops_the_start(app_config):
    config = copy.deepcopy(app_config)
    config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = "bm90IGEga2V5"
    with pytest.raises(ConfigError, match="SENDGRID_WEBHOOK_PUBLIC_KEY"):
        create_app(config)
