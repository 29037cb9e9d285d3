"""Amazon SES's bounces and complaints by SNS: only messages SNS signed, for our topic."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from shop.bounces import ses
from shop.extensions import db
from tests.newsletter.digest_helpers import subscriber
from tests.newsletter.helpers import preference_of

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
URL = "/webhooks/mail/ses"
SIGNED = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}
SIGNED["UnsubscribeConfirmation"] = SIGNED["SubscriptionConfirmation"]


def _key_and_cert():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


class SnsServer:
    """SNS's certificate and its SubscribeURL, served on 127.0.0.1; what was asked for."""

    def __init__(self):
        self.key, pem = _key_and_cert()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def sns_server():
    server = SnsServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def sns(app_config, sns_server):
    """The app taking SES reports from TOPIC, its certificate served by sns_server."""
    app_config["SES_SNS_TOPIC_ARN"] = f"arn:aws:sns:us-east-1:1:other, {TOPIC}"
    app_config["SES_SNS_ORIGIN_PATTERN"] = r"http://127\.0\.0\.1:\d+"
    sns_server.requests.clear()
    return sns_server


def _message(server, kind="Notification", body="{}", key=None, version="2", **extra):
    message = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Message": body,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SignatureVersion": version,
        "SigningCertURL": f"{server.origin}/SimpleNotificationService-test.pem",
        **extra,
    }
    if kind == "SubscriptionConfirmation":
        message["Token"] = "tok3n"
        message["SubscribeURL"] = f"{server.origin}/?Action=ConfirmSubscription&Token=tok3n"
    return _sign(message, key or server.key)


def _sign(message, key):
    signed = "".join(f"{k}\n{message[k]}\n" for k in SIGNED[message["Type"]] if k in message)
    # SignatureVersion 1 is SNS's SHA1withRSA, still the default for a topic.
    algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303
    signature = key.sign(signed.encode(), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(signature).decode()}


def _event(
    kind, emails, bounce_type="Permanent", message_id="<x@localhost>", field="notificationType"
):
    event = {
        field: kind,
        "mail": {"messageId": "ses-own-id", "commonHeaders": {"messageId": message_id}},
    }
    if kind == "Bounce":
        recipients = [{"emailAddress": e} for e in emails]
        event["bounce"] = {"bounceType": bounce_type, "bouncedRecipients": recipients}
    if kind == "Complaint":
        event["complaint"] = {"complainedRecipients": [{"emailAddress": e} for e in emails]}
    return json.dumps(event)


def _post(client, message):
    return client.post(URL, data=json.dumps(message), content_type="text/plain; charset=UTF-8")


def test_a_subscription_is_confirmed_by_visiting_its_url_on_sns(sns, app, client):
    response = _post(client, _message(sns, "SubscriptionConfirmation", "You have chosen..."))
    assert response.status_code == 200
    assert response.json["outcome"] == "confirmed"
    assert "/?Action=ConfirmSubscription&Token=tok3n" in sns.requests


@pytest.mark.parametrize("version", ["1", "2"])
def test_permanent_bounces_count_as_a_5xx_and_transient_ones_do_not(sns, app, client, version):
    reader = subscriber("gone@example.org")
    limit = app.config["MAIL_BOUNCE_LIMIT"]
    msgid = f"<abc-run-3-x-delivery7-u{reader.id}@localhost>"
    for _ in range(limit - 1):
        message = _message(
            sns, body=_event("Bounce", [reader.email], message_id=msgid), version=version
        )
        assert _post(client, message).json["outcome"] == "bounce"
    transient = _message(sns, body=_event("Bounce", [reader.email], "Transient"), version=version)
    assert _post(client, transient).json["outcome"] == "ignored"
    db.session.expire_all()
    assert preference_of(reader.email).hard_bounces == limit - 1
    assert preference_of(reader.email).suppressed_at is None
    _post(client, _message(sns, body=_event("Bounce", [reader.email]), version=version))
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is not None


def test_a_complaint_from_a_configuration_set_event_suppresses_every_recipient(sns, app, client):
    one, two = subscriber("one@example.org"), subscriber("two@example.org")
    body = _event("Complaint", [one.email, f'"Two" <{two.email}>'], field="eventType")
    response = _post(client, _message(sns, body=body, Subject="Amazon SES Email Event"))
    assert response.json["outcomes"] == ["complaint", "complaint"]
    db.session.expire_all()
    assert preference_of(one.email).suppressed_at is not None
    assert preference_of(two.email).suppressed_at is not None


def test_the_same_sns_message_twice_counts_once(sns, app, client):
    reader = subscriber("twice@example.org")
    message = _message(sns, body=_event("Bounce", [reader.email]))
    assert _post(client, message).json["outcome"] == "bounce"
    again = _post(client, message)
    assert again.status_code == 200
    assert again.json["outcome"] == "duplicate"
    db.session.expire_all()
    assert preference_of(reader.email).hard_bounces == 1


def _forged(server):
    other, _ = _key_and_cert()
    return _message(server, body=_event("Complaint", ["safe@example.org"]), key=other)


def _tampered(server):
    message = _message(server, body=_event("Complaint", ["someone@example.org"]))
    return {**message, "Message": _event("Complaint", ["safe@example.org"])}


def _other_topic(server):
    message = {**_message(server), "TopicArn": "arn:aws:sns:eu-west-1:999:theirs"}
    return _sign({**message, "Message": _event("Complaint", ["safe@example.org"])}, server.key)


def _old(server):
    message = _message(server, body=_event("Complaint", ["safe@example.org"]))
    return _sign({**message, "Timestamp": "2020-01-01T00:00:00.000Z"}, server.key)


def _cert_elsewhere(server):
    message = _message(server, body=_event("Complaint", ["safe@example.org"]))
    return {**message, "SigningCertURL": "https://attacker.example/SimpleNotificationService.pem"}


@pytest.mark.parametrize(
    "make", [_forged, _tampered, _other_topic, _old, _cert_elsewhere], ids=lambda f: f.__name__
)
def test_messages_sns_did_not_sign_for_our_topic_are_refused(sns, app, client, make):
    reader = subscriber("safe@example.org")
    response = _post(client, make(sns))
    assert response.status_code == 403
    db.session.expire_all()
    assert preference_of(reader.email).suppressed_at is None


def test_without_the_test_setting_only_aws_hosts_are_trusted(sns, app, client):
    app.config["SES_SNS_ORIGIN_PATTERN"] = ""
    reader = subscriber("strict@example.org")
    response = _post(client, _message(sns, body=_event("Complaint", [reader.email])))
    assert response.status_code == 403
    assert sns.requests == []  # nothing was fetched from the address the message named
    assert ses._on_sns("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem")
    for url in [
        "http://sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com.attacker.example/x.pem",
        "https://attacker.example/sns.eu-west-1.amazonaws.com/x.pem",
        "https://user@sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
    ]:
        assert not ses._on_sns(url), url


def test_bad_bodies_are_400s_and_other_events_are_ignored(sns, app, client):
    assert client.post(URL, data=b"{not json").status_code == 400
    shapeless = client.post(URL, data=json.dumps({"Type": "Notification", "Message": 3}))
    assert shapeless.status_code == 400
    assert "malformed payload" in shapeless.json["error"]
    assert client.post(URL, data=json.dumps(["x"])).status_code == 400
    assert client.post(URL, data=json.dumps({"Type": ["Notification"]})).status_code == 400
    delivery = _post(client, _message(sns, body=_event("Delivery", [])))
    assert (delivery.status_code, delivery.json["outcome"]) == (200, "ignored")
    text = _post(client, _message(sns, body="Successfully validated SNS topic for Amazon SES."))
    assert (text.status_code, text.json["outcome"]) == (200, "ignored")
    odd = json.dumps(
        {"notificationType": "Bounce", "mail": {"headers": 3}, "bounce": {"bouncedRecipients": "x"}}
    )
    assert _post(client, _message(sns, body=odd)).json["outcome"] == "ignored"
    unknown = _post(client, _message(sns, body=_event("Bounce", ["nobody@example.org"])))
    assert (unknown.status_code, unknown.json["outcome"]) == (200, "unknown")


def test_without_a_topic_the_webhook_is_not_there(app, client):
    assert client.post(URL, data=json.dumps({"Type": "Notification"})).status_code == 404


def test_a_confirmation_that_cannot_be_visited_is_logged_for_the_admin(sns, app, client, caplog):
    message = _message(sns, "SubscriptionConfirmation", "You have chosen...")
    # A port nothing listens on: SNS's confirmation page is unreachable.
    dead = {**message, "SubscribeURL": "http://127.0.0.1:9/?Action=ConfirmSubscription&Token=t"}
    response = _post(client, _sign(dead, sns.key))
    assert (response.status_code, response.json["outcome"]) == (200, "unconfirmed")
    assert "Action=ConfirmSubscription&Token=t" in caplog.text


def test_an_unsubscribe_confirmation_is_not_acted_on(sns, app, client):
    message = _message(sns, "SubscriptionConfirmation", "You have chosen to deactivate...")
    response = _post(client, _sign({**message, "Type": "UnsubscribeConfirmation"}, sns.key))
    assert (response.status_code, response.json["outcome"]) == (200, "ignored")
    assert not any("ConfirmSubscription" in path for path in sns.requests)
