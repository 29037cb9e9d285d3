"""Fixtures: app, client, runner, auth, mailbox; a fresh database per test session.

Each test runs in a transaction that is rolled back at its end (see tests/support.py),
on an app built once per run for its settings. A test whose work must really commit
(other threads, processes or connections) is marked ``real_commits``, or uses a
fixture that implies it (``live_server``, ``postgres_url``): its rows are deleted after it.
"""

from __future__ import annotations

import contextvars
import copy
import os
import sqlite3
import threading
from collections import OrderedDict

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from shop import caching, create_app, mail
from shop.config import normalise_database_url
from shop.extensions import db, limiter
from tests import support

PASSWORD = "correct horse battery"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# Fixtures whose work is seen by other threads, processes or connections.
REAL_COMMIT_FIXTURES = {"live_server", "postgres_url"}
# A test account's password hash: one iteration, as the tests need no protection from it.
TEST_HASH_METHOD = "pbkdf2:sha256:1"

support.use_joined_sessions(db)


@event.listens_for(Engine, "connect")
def _sqlite_without_fsync(dbapi_connection, connection_record):
    """No fsync on a test database: it need not survive a power cut, only the run."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


def pytest_collection_modifyitems(config, items):
    """Tests needing real commits for a fixture: marked, so ``-m`` can choose them."""
    for item in items:
        if REAL_COMMIT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_commits)


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
        "MEDIA_DIR": str(instance_dir / "media"),
        "RATELIMIT_STORAGE_URI": "memory://",
        # The limiter is one object for every app: a test that turns it off must not
        # leave it off for the tests after it.
        "RATELIMIT_ENABLED": True,
        "PASSWORD_HASH_METHOD": TEST_HASH_METHOD,
        # Most mail tests read a message's links as the reader's pages; the tracking tests
        # (tests/newsletter/test_tracking.py, tests/e2e/test_tracking.py) turn it on.
        "MAIL_TRACKING": False,
        # Most tests read each page as rendered afresh (a moved clock, a setting changed
        # between requests); tests/http/ turns the page cache on.
        "PAGE_CACHE": "off",
        **extra,
    }


class AppCache:
    """Apps built once per run, one for each distinct set of settings (the newest few).

    An app is handed out as if new: its settings as they were built, and the
    extensions that outlive apps (the rate limiter, the mail state) set up for it again.
    """

    SIZE = 6

    def __init__(self) -> None:
        self._apps: OrderedDict[str, tuple[Flask, dict]] = OrderedDict()

    def get(self, config: dict) -> Flask:
        """The app for ``config``, built on first use."""
        key = repr(sorted(config.items()))
        if key in self._apps:
            self._apps.move_to_end(key)
            app, settings = self._apps[key]
            app.config.clear()
            app.config.update(copy.deepcopy(settings))
            # As create_app does: the limiter is one object for every app, and
            # this resets its counts (memory storage) with the app's own settings.
            limiter.init_app(app)
            limiter._storage_dead = False
            mail.init_app(app)
            with app.app_context():
                caching.clear()
            return app
        app = create_app(copy.deepcopy(config))
        app.test_client_class = IsolatedClient
        self._apps[key] = (app, copy.deepcopy(dict(app.config)))
        while len(self._apps) > self.SIZE:
            _, (old, _) = self._apps.popitem(last=False)
            self._dispose(old)
        return app

    def close(self) -> None:
        """Dispose of every app's engine."""
        while self._apps:
            _, (app, _) = self._apps.popitem()
            self._dispose(app)

    @staticmethod
    def _dispose(app: Flask) -> None:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def _apps():
    """This run's (this worker's) apps."""
    cache = AppCache()
    yield cache
    cache.close()


@pytest.fixture(scope="session")
def _schema(database_url, smtp_sink, instance_dir, _apps):
    """Create the tables once per run."""
    app = _apps.get(make_config(normalise_database_url(database_url), smtp_sink, instance_dir))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def delete_all_rows(app: Flask) -> None:
    """Empty every table: after a test whose work was really committed."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(delete(table))


def real_commits_wanted(request) -> bool:
    """Whether this test must really commit (marked, or a fixture implies it)."""
    return request.node.get_closest_marker("real_commits") is not None or bool(
        REAL_COMMIT_FIXTURES & set(request.fixturenames)
    )


@pytest.fixture(autouse=True)
def _committed_rows_removed(request):
    """Rows a test committed outside a rolled-back transaction go before the next test."""
    state = {"joined": False}
    request.node.stash[JOINED_KEY] = state
    yield
    if not state["joined"] and "_schema" in request.fixturenames:
        delete_all_rows(request.getfixturevalue("_schema"))


JOINED_KEY = pytest.StashKey[dict]()


@pytest.fixture
def app_config(database_url, smtp_sink, instance_dir):
    """Settings for this test's app; a test may change them before using ``app``."""
    return make_config(normalise_database_url(database_url), smtp_sink, instance_dir)


@pytest.fixture
def production_password_hash(app_config):
    """The app hashes passwords as in production (scrypt), not with the suite's cheap hash."""
    from shop.accounts.models import DEFAULT_HASH_METHOD

    app_config["PASSWORD_HASH_METHOD"] = DEFAULT_HASH_METHOD
    return DEFAULT_HASH_METHOD


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context.

    The ``app`` fixture keeps an app context pushed for factories and queries; a
    request would otherwise reuse it, and ``g`` (the logged-in user) would leak
    from one request, and one client, into the next, as it never does in a server.

    Like a browser sending a form of one of the site's pages, it says ``Sec-Fetch-Site:
    same-origin`` (a visitor with no session has no token: shop/edge.py), unless the
    request names its own ``Sec-Fetch-Site`` or ``Origin``, or the client is told it is
    not on this site (``from_this_site = False``, as the CSRF tests do).
    """

    from_this_site = True

    def open(self, *args, **kwargs):
        """Send the request from a context with no app context pushed."""
        headers = dict(kwargs.get("headers") or {})
        named = {name.lower() for name in headers}
        if self.from_this_site and not named & {"sec-fetch-site", "origin"}:
            kwargs["headers"] = {**headers, "Sec-Fetch-Site": "same-origin"}

        def send():
            response = super(IsolatedClient, self).open(*args, **kwargs)
            # A streamed body (a CSV export) must be read in the context that began it.
            if not response.is_sequence:
                response.make_sequence()
                response.close()
            return response

        return contextvars.Context().run(send)


@pytest.fixture
def app(request, _schema, _apps, app_config, mailbox):
    """The app for this test's settings over the run's database, as if new.

    The test runs in a transaction rolled back afterwards; with real commits
    (``real_commits_wanted``) every row is removed afterwards instead.
    """
    if request.node.get_closest_marker("own_app"):
        app = create_app(copy.deepcopy(app_config))
        app.test_client_class = IsolatedClient
        request.addfinalizer(lambda: AppCache._dispose(app))
    else:
        app = _apps.get(app_config)
    if real_commits_wanted(request):
        with app.app_context():
            yield app
            db.session.remove()
        return
    with app.app_context():
        engine = db.engine
    joined = support.JoinedTransaction(engine)
    request.node.stash[JOINED_KEY]["joined"] = True
    try:
        with app.app_context():
            yield app
            # Closing the test's session rolls back its savepoint, with whatever
            # requests committed inside it: all of it goes with the rollback anyway.
            joined.watching = False
            db.session.remove()
    finally:
        joined.close()
    joined.check()


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
        args=(server.serve_forever, support.SHUTDOWN_POLL_SECONDS),
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
