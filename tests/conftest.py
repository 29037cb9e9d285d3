"""Fixtures: app, client, runner, auth, mailbox; a fresh database per test session."""

from __future__ import annotations

import contextvars
import os
import threading

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete
from werkzeug.serving import make_server

from shop import create_app
from shop.config import normalise_database_url
from shop.extensions import db
from tests import support

PASSWORD = "correct horse battery"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """This run's own database: PostgreSQL when TEST_DATABASE_URL is set, else SQLite."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url, name = support.create_postgres_database(base)
        yield url
        support.drop_postgres_database(base, name)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(scope="session")
def smtp_sink():
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    controller, handler = support.start_sink()
    yield controller, handler
    controller.stop()


@pytest.fixture(scope="session")
def emulator_server():
    """The project's Stripe emulator on 127.0.0.1, for the whole run."""
    from stripe_emulator.testing import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory):
    """An instance folder of the test run's own."""
    return tmp_path_factory.mktemp("instance")


def make_config(database_url: str, smtp_sink, instance_dir, **extra) -> dict:
    """The settings every test app shares."""
    controller, _ = smtp_sink
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SITE_URL": "http://localhost",
        "SERVER_NAME": None,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "Broadsheet <news@localhost>",
        "MAIL_OUTBOX_DIR": str(instance_dir / "outbox"),
        "RATELIMIT_STORAGE_URI": "memory://",
        # The limiter is one object for every app: a test that turns it off must not
        # leave it off for the tests after it.
        "RATELIMIT_ENABLED": True,
        **extra,
    }


@pytest.fixture(scope="session")
def _schema(database_url, smtp_sink, instance_dir):
    """Create the tables once per run."""
    from shop.config import normalise_database_url

    app = create_app(make_config(normalise_database_url(database_url), smtp_sink, instance_dir))
    with app.app_context():
        db.create_all()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def app_config(database_url, smtp_sink, instance_dir):
    """Settings for this test's app; a test may change them before using ``app``."""
    from shop.config import normalise_database_url

    return make_config(normalise_database_url(database_url), smtp_sink, instance_dir)


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context.

    The ``app`` fixture keeps an app context pushed for factories and queries; a
    request would otherwise reuse it, and ``g`` (the logged-in user) would leak
    from one request, and one client, into the next, as it never does in a server.
    """

    def open(self, *args, **kwargs):
        """Send the request from a context with no app context pushed."""

        def send():
            response = super(IsolatedClient, self).open(*args, **kwargs)
            # A streamed body (a CSV export) must be read in the context that began it.
            if not response.is_sequence:
                response.make_sequence()
                response.close()
            return response

        return contextvars.Context().run(send)


@pytest.fixture
def app(_schema, app_config, mailbox):
    """A fresh app over the run's database; every row is removed afterwards."""
    app = create_app(app_config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(delete(table))
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for flask commands."""
    return app.test_cli_runner()


@pytest.fixture
def auth(client, mailbox):
    """Register, log in and log out through the real forms."""
    return support.AuthActions(client, mailbox)


@pytest.fixture
def mailbox(smtp_sink):
    """The SMTP sink's messages, emptied before each test."""
    box = support.Mailbox(smtp_sink[1])
    box.clear()
    return box


@pytest.fixture
def reader(app):
    """A confirmed reader."""
    from tests.factories import UserFactory

    return UserFactory(email="reader@example.org")


@pytest.fixture
def admin(app):
    """A confirmed admin."""
    from tests.factories import AdminFactory

    return AdminFactory(email="editor@example.org")


@pytest.fixture
def live_server(app):
    """Serve the test's app on 127.0.0.1 in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    # Set before the first request: mailed links must point at this server.
    app.config["SITE_URL"] = base_url
    # An empty context: the test's pushed app context must not leak into requests.
    thread = threading.Thread(
        target=contextvars.Context().run,
        args=(server.serve_forever,),
        name="live-server",
        daemon=True,
    )
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def postgres_url():
    """A database of the test's own on PostgreSQL, whatever database the run uses.

    For what only PostgreSQL shows: row locks taken by several processes at once.
    """
    base = os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES
    if not base.startswith("postgres"):
        base = DEFAULT_POSTGRES
    url, name = support.create_postgres_database(base)
    yield normalise_database_url(url)
    support.drop_postgres_database(base, name)
