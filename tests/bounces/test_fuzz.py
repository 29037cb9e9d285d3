"""Hypothesis fuzzing: a provider's report of any shape, correctly signed or credentialed,
is taken or refused with a 4xx, never a server error.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.bounces import ses
from tests.bounces import test_postmark, test_sendgrid

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = ["event", "email", "type", "reason", "smtp-id", "sg_event_id"]
KEYS += ["RecordType", "Email", "Type", "TypeCode", "ID", "Headers", "Metadata"]
WORDS = ["bounce", "dropped", "spamreport", "Bounced Address", "Bounce", "SpamComplaint"]
# Events that look like the providers': their own keys and words, values of any shape.
LOOKALIKE = st.dictionaries(st.sampled_from(KEYS), JSON | st.sampled_from(WORDS), max_size=6)
BODIES = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.lists(LOOKALIKE, max_size=4).map(lambda v: json.dumps(v).encode()),
    LOOKALIKE.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@pytest.fixture
def app_config(app_config):
    """Both providers' settings on, no rate limits, so that every example reaches its view."""
    app_config["RATELIMIT_ENABLED"] = False
    app_config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = test_sendgrid.PUBLIC
    app_config["POSTMARK_WEBHOOK_USERNAME"] = test_postmark.USER
    app_config["POSTMARK_WEBHOOK_PASSWORD"] = test_postmark.PASSWORD
    app_config["SES_SNS_TOPIC_ARN"] = "arn:aws:sns:eu-west-1:1:t"
    return app_config


@FUZZ
@given(body=BODIES)
def test_signed_sendgrid_bodies_never_answer_500(app, client, body):
    """A batch SendGrid signed, of any shape, is taken or refused as malformed."""
    response = test_sendgrid._post(client, body)
    assert response.status_code in (200, 400), (response.status_code, body[:200])


@FUZZ
@given(body=BODIES)
def test_credentialed_postmark_bodies_never_answer_500(app, client, body):
    """A record with our credentials, of any shape, is taken or refused as malformed."""
    response = test_postmark._post(client, body)
    assert response.status_code in (200, 400), (response.status_code, body[:200])


SES_KEYS = [
    "notificationType",
    "eventType",
    "bounce",
    "bounceType",
    "bouncedRecipients",
    "complaint",
    "complainedRecipients",
    "emailAddress",
    "mail",
    "commonHeaders",
    "headers",
    "messageId",
]
# SES's events: its own keys and words at every level, with values of any shape.
SES_EVENT = st.recursive(
    JSON | st.sampled_from(["Bounce", "Complaint", "Permanent", "x@example.org"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(SES_KEYS), children)
    ),
    max_leaves=16,
)


@FUZZ
@given(event=SES_EVENT | st.text(max_size=40).map(json.dumps))
def test_sns_notifications_of_any_content_make_reports_or_none(app, event):
    """Whatever a signed Notification's Message holds, reading it never fails."""
    message = {"Type": "Notification", "MessageId": "m", "Message": json.dumps(event)}
    for report in ses.reports(message):
        assert report.kind in ("bounce", "transient", "complaint") and report.email


SNS_KEYS = ["Type", "Message", "MessageId", "Timestamp", "TopicArn", "Signature"]
SNS_KEYS += ["SignatureVersion", "SigningCertURL", "Subject", "SubscribeURL", "Token"]
SNS_WORDS = ["Notification", "SubscriptionConfirmation", "arn:aws:sns:eu-west-1:1:t", "2"]


@FUZZ
@given(
    body=st.dictionaries(st.sampled_from(SNS_KEYS), JSON | st.sampled_from(SNS_WORDS)).map(
        lambda v: json.dumps(v).encode()
    )
    | BODIES
)
def test_unsigned_sns_bodies_of_any_shape_are_refused(app, client, body):
    """A body SNS did not sign, of any shape, is a 400 or a 403 and fetches nothing."""
    response = client.post("/webhooks/mail/ses", data=body, content_type="text/plain")
    assert response.status_code in (400, 403), (response.status_code, body[:200])
