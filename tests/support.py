"""Shared test helpers: databases, the SMTP sink, CSRF tokens and the auth helper."""

from __future__ import annotations

import os
import re
import socket
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# How often a test's server thread checks whether it has been asked to stop: shutdown()
# waits for that check, every 0.5 s by default, which would end each such test late.
SHUTDOWN_POLL_SECONDS = 0.01


def service_missing(reason: str) -> None:
    """Skip on a laptop without the service; fail under CI, where it must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service fails the run)")
    pytest.skip(reason)


REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Set in the Redis database a test has taken, so that no other test takes it meanwhile.
REDIS_CLAIM_KEY = "broadsheet-test-claim"


@contextmanager
def claimed_redis_db():
    """An empty Redis database (1-15) of this test's own, flushed afterwards."""
    import random

    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        if client.dbsize() == 0 and client.set(REDIS_CLAIM_KEY, str(os.getpid()), nx=True):
            break
        client.close()
    else:
        pytest.fail("every Redis database from 1 to 15 is in use")
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


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


# A public page seen with no session carries the field empty (no session, no token: its
# forms are checked by origin, shop/edge.py), so an empty value is a token field too.
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]*)"')


def csrf_token(client, path: str) -> str:
    """Fetch a page and return the CSRF token of its first form ("" with no session)."""
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


# --- one app per run, and a transaction rolled back per test --------------------------
#
# Building an app compiles every route (about a quarter of a second), and emptying every
# table after each test costs as much again: the suite keeps one app per distinct set of
# settings and runs each test inside a transaction on one connection that it rolls back.
# Every session a test opens (the test's own, each request's, a nested app context's)
# joins that transaction through a SAVEPOINT, so a commit in the code under test only
# releases a savepoint and the rollback at the end removes it. What cannot share one
# connection (another thread or process, a second connection, row locks between
# sessions) is marked ``real_commits``; the guard below fails a test that should be.


class JoinedSession(FlaskSession):
    """Flask-SQLAlchemy's session, bound to the test's connection while one is joined."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        """The joined connection when this app's database is the one it is open on."""
        joined = _JOINED.get("connection")
        if bind is None and joined is not None:
            engine = self._db.engines.get(None)
            if engine is not None and engine.url == joined.engine.url:
                return joined
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


_JOINED: dict[str, object] = {}


@contextmanager
def committed_rows(db):
    """A connection that reads what the test's sessions committed.

    In a rolled-back test that is the test's own connection (a new one would see none
    of its rows); otherwise a new connection of the app's engine.
    """
    joined = _JOINED.get("connection")
    if joined is not None and joined.engine.url == db.engine.url:
        yield joined
    else:
        with db.engine.connect() as conn:
            yield conn


def use_joined_sessions(db) -> None:
    """Make ``db.session`` open JoinedSessions, which join a transaction with a savepoint."""
    factory = db.session.session_factory
    factory.class_ = JoinedSession
    factory.kw["join_transaction_mode"] = "create_savepoint"


def _app_context_id() -> int | None:
    from flask.globals import _cv_app

    ctx = _cv_app.get(None)
    return None if ctx is None else id(ctx)


@dataclass
class _Savepoint:
    name: str
    owner: int | None
    # Holds work that another session released into it: rolling it back would undo
    # what that session had committed, which a real database never does.
    foreign: bool = False


class JoinedTransaction:
    """One connection in a transaction that every session of the test joins; rolled back."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.problems: list[str] = []
        self.watching = True
        self._thread = threading.get_ident()
        self._savepoints: list[_Savepoint] = []
        self.connection = engine.connect()
        self._sqlite = engine.dialect.name == "sqlite"
        if self._sqlite:
            # pysqlite begins transactions on its own and knows nothing of SAVEPOINT:
            # take over, as SQLAlchemy's pysqlite notes show ("Serializable isolation").
            self._driver = self.connection.connection.driver_connection
            self._isolation = self._driver.isolation_level
            self._driver.isolation_level = None
        self.transaction = self.connection.begin()
        if self._sqlite:
            self.connection.exec_driver_sql("BEGIN")
        self._listeners = [
            (self.connection, "before_cursor_execute", self._on_execute),
            (engine, "checkout", self._on_checkout),
        ]
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)
        _JOINED["connection"] = self.connection

    def close(self) -> None:
        """Roll everything back and give the connection back to the pool."""
        _JOINED.pop("connection", None)
        for target, name, fn in self._listeners:
            event.remove(target, name, fn)
        if self.transaction.is_active:
            self.transaction.rollback()
        if self._sqlite:
            self._driver.isolation_level = self._isolation
        self.connection.close()

    # --- the guard: what one shared connection would get wrong -------------------------

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def _on_execute(self, conn, cursor, statement, parameters, context, executemany):
        if not self.watching:
            return
        if threading.get_ident() != self._thread:
            self._problem(f"another thread ({threading.current_thread().name}) used the database")
        # Read from the SQL: SQLAlchemy's savepoint event does not carry generated names.
        words = statement.split()
        if words[:1] == ["SAVEPOINT"]:
            self._savepoints.append(_Savepoint(words[1], _app_context_id()))
        elif words[:2] == ["RELEASE", "SAVEPOINT"]:
            self._on_release(words[2])
        elif words[:3] == ["ROLLBACK", "TO", "SAVEPOINT"]:
            self._on_rollback(words[3])

    def _on_checkout(self, dbapi_connection, record, proxy):
        self._problem("a second database connection was opened (it cannot see the test's rows)")

    def _pop_to(self, name: str) -> _Savepoint | None:
        """Take ``name`` and any savepoint opened after it off the stack; return ``name``'s."""
        for index in range(len(self._savepoints) - 1, -1, -1):
            if self._savepoints[index].name == name:
                found, above = self._savepoints[index], self._savepoints[index + 1 :]
                del self._savepoints[index:]
                if any(other.owner != found.owner for other in above):
                    self._problem("a session ended while another session's savepoint was open")
                return found
        return None

    def _on_release(self, name: str) -> None:
        released = self._pop_to(name)
        if released is not None and self._savepoints:
            enclosing = self._savepoints[-1]
            enclosing.foreign |= released.foreign or released.owner != enclosing.owner

    def _on_rollback(self, name: str) -> None:
        rolled_back = self._pop_to(name)
        if rolled_back is not None and rolled_back.foreign:
            self._problem("a rollback undid what another session had committed")

    def check(self) -> None:
        """Fail the test if it did what a shared connection cannot stand in for."""
        if self.problems:
            pytest.fail(
                "this test cannot run in a rolled-back transaction: "
                + "; ".join(self.problems)
                + ". Mark it @pytest.mark.real_commits.",
                pytrace=False,
            )
