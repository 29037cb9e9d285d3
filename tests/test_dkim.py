"""DKIM: mail that reaches the relay carries a signature a receiver can verify."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shop import create_app
from shop.config import ConfigError
from shop.digests.runs import run_digest
from shop.mail import send_email
from tests.newsletter.digest_helpers import article, subscriber

DOMAIN = "news.example"
SELECTOR = "mail2026"


@pytest.fixture(scope="module")
def key_pair():
    """A fresh 2048-bit RSA key: its PEM and the TXT record that publishes it."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    return pem, record


@pytest.fixture
def dkim_config(app_config, key_pair, tmp_path):
    """Settings with the key in a file, as an operator would set them."""
    path = tmp_path / "dkim.pem"
    path.write_bytes(key_pair[0])
    app_config.update(DKIM_DOMAIN=DOMAIN, DKIM_SELECTOR=SELECTOR, DKIM_PRIVATE_KEY_FILE=str(path))
    return app_config


def _dns(record):
    def lookup(name, timeout=5):
        # Only the one name the signature points at has the key.
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


def _raw(mailbox, to):
    return [data for _, rcpts, data in mailbox.handler.messages if to in rcpts][-1]


def test_an_account_mail_verifies_and_a_tampered_one_does_not(dkim_config, key_pair, app, mailbox):
    send_email("someone@example.org", "Confirm", "confirm", link="http://localhost/confirm/abc")
    raw = _raw(mailbox, "someone@example.org")
    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=_dns(key_pair[1]))
    signature = raw.split(b"\r\n\r\n")[0].decode()
    for header in ("from", "to", "subject", "date", "message-id", "mime-version"):
        assert header in signature.lower()
    tampered = raw.replace(b"confirm/abc", b"confirm/xyz")
    assert tampered != raw
    assert not dkim.verify(tampered, dnsfunc=_dns(key_pair[1]))
    # Another key under the same name: the signature is not taken as its.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    wrong = b"v=DKIM1; k=rsa; p=" + base64.b64encode(
        other.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert not dkim.verify(raw, dnsfunc=_dns(wrong))


def test_a_digest_is_signed_with_its_unsubscribe_headers(dkim_config, key_pair, app, mailbox):
    reader = subscriber("digest.reader@example.org")
    article("A story for the digest")
    run_digest("daily")
    raw = _raw(mailbox, reader.email)
    assert dkim.verify(raw, dnsfunc=_dns(key_pair[1]))
    signed = raw.split(b"\r\n\r\n")[0].split(b"h=")[1].split(b";")[0].lower()
    assert b"list-unsubscribe" in signed and b"list-unsubscribe-post" in signed


def test_without_a_key_nothing_is_signed(app, mailbox):
    send_email("someone@example.org", "Confirm", "confirm", link="http://localhost/confirm/abc")
    assert b"DKIM-Signature" not in _raw(mailbox, "someone@example.org")


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"DKIM_PRIVATE_KEY": "not a key"}, "not an unencrypted PEM private key"),
        ({"DKIM_PRIVATE_KEY_FILE": "/nonexistent/dkim.pem"}, "cannot be read"),
        ({"DKIM_DOMAIN": ""}, "needs DKIM_DOMAIN and DKIM_SELECTOR"),
    ],
)
def test_a_bad_key_stops_the_start_with_a_clear_message(dkim_config, settings, words):
    config = dict(dkim_config)
    if "DKIM_PRIVATE_KEY" in settings:
        config["DKIM_PRIVATE_KEY_FILE"] = ""
    config.update(settings)
    with pytest.raises(ConfigError, match=words):
        create_app(config)


def test_the_command_prints_the_dns_record_of_the_key(dkim_config, key_pair, app):
    result = app.test_cli_runner().invoke(args=["dkim-record"])
    assert result.exit_code == 0
    assert f"{SELECTOR}._domainkey.{DOMAIN}." in result.output
    assert key_pair[1].decode() in result.output
