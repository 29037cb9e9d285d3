"""Shared test helpers: databases, the SMTP sink, CSRF tokens and the auth helper."""

from __future__ import annotations

import os
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(reason: str) -> None:
    """Skip on a laptop without the service; fail under CI, where it must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service fails the run)")
    pytest.skip(reason)


def require_redis(url: str):
    """A client of the Redis at ``url``; skip (or fail under CI) when it is not there."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        service_missing(f"Redis is not reachable at {url}: {exc}")
    return client


def create_postgres_database(base_url: str) -> tuple[str, str]:
    """Create a uniquely named database next to ``base_url``; return (url, name)."""
    import psycopg

    name = f"broadsheet_test_{uuid.uuid4().hex[:12]}"
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL is not reachable at {base_url}: {exc}")
    parts = urlsplit(plain)
    return parts._replace(path="/" + name).geturl(), name


def drop_postgres_database(base_url: str, name: str) -> None:
    """Drop a database made by create_postgres_database."""
    import psycopg

    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class SinkHandler:
    """An aiosmtpd handler that keeps every message it accepts."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Store the envelope and accept it."""
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


class Mailbox:
    """Read messages back from the SMTP sink."""

    def __init__(self, handler: SinkHandler) -> None:
        self.handler = handler

    def clear(self) -> None:
        """Forget every message received so far."""
        with self.handler.lock:
            self.handler.messages.clear()

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received, parsed."""
        with self.handler.lock:
            raw = [content for _, _, content in self.handler.messages]
        return [message_from_bytes(content, policy=default_policy) for content in raw]

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to one recipient."""
        with self.handler.lock:
            raw = [c for _, rcpts, c in self.handler.messages if address in rcpts]
        return [message_from_bytes(c, policy=default_policy) for c in raw]

    def last_to(self, address: str) -> EmailMessage:
        """The newest message to one recipient (fails if there is none)."""
        found = self.to(address)
        assert found, f"no mail was sent to {address}"
        return found[-1]


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the message has no text part"
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    """The HTML body of a message."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "the message has no HTML part"
    return part.get_content()


LINK = re.compile(r"https?://\S+")


def link_in(message: EmailMessage, contains: str) -> str:
    """The first link in the text part whose URL contains ``contains``."""
    for url in LINK.findall(text_of(message)):
        if contains in url:
            return url
    raise AssertionError(f"no link containing {contains!r} in:\n{text_of(message)}")


def path_of(url: str) -> str:
    """The path (and query) of an absolute URL, for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_sink() -> tuple[Controller, SinkHandler]:
    """Start an SMTP sink on 127.0.0.1 on a free port."""
    handler = SinkHandler()
    # aiosmtpd's start-up self-check connects to the port it was given, so port=0
    # cannot be passed through: ask the OS for a free port first.
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    """Fetch a page and return the CSRF token of its first form."""
    response = client.get(path)
    match = CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} (status {response.status_code})"
    return match.group(1)


class AuthActions:
    """Register, log in and log out through the real forms."""

    def __init__(self, client, mailbox: Mailbox | None = None) -> None:
        self.client = client
        self.mailbox = mailbox

    def register(self, email: str, password: str = "correct horse battery", **extra):
        """Register as a reader would: submit the form, then open the mailed link.

        Returns the confirmation link's response (the reader is then logged in), or
        the form's response when no confirmation link came (a form error, a taken
        address).
        """
        address = email.strip().lower()
        before = len(self.mailbox.to(address)) if self.mailbox else 0
        token = csrf_token(self.client, "/register")
        data = {"email": email, "password": password, "csrf_token": token, **extra}
        response = self.client.post("/register", data=data)
        if response.status_code != 302:
            return response
        assert self.mailbox is not None, "AuthActions(client, mailbox) to follow the link"
        for message in reversed(self.mailbox.to(address)[before:]):
            if "/confirm/" in text_of(message):
                return self.client.get(path_of(link_in(message, "/confirm/")))
        return response

    def login(self, email: str, password: str = "correct horse battery", **extra):
        """Submit the login form."""
        token = csrf_token(self.client, "/login")
        data = {"email": email, "password": password, "csrf_token": token, **extra}
        return self.client.post("/login", data=data)

    def logout(self):
        """Submit the logout button."""
        token = csrf_token(self.client, "/account/password")
        return self.client.post("/logout", data={"csrf_token": token})

    def post(self, path: str, data: dict | None = None, token_from: str = "/account/password"):
        """POST a logged-in form with a valid CSRF token."""
        token = csrf_token(self.client, token_from)
        return self.client.post(path, data={**(data or {}), "csrf_token": token})


WEBHOOK_SECRET = "whsec_test_secret_for_the_suite"


def use_emulator(app_config: dict, server) -> dict:
    """Point an app's settings at the Stripe emulator, emptied for this test."""
    from stripe_emulator.testing import TEST_API_KEY

    server.emulator.reset()
    server.emulator.set_delivery_mode("sync")
    server.configure_webhook(None, None)
    app_config.update(
        STRIPE_SECRET_KEY=TEST_API_KEY,
        STRIPE_API_BASE=server.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    return app_config
