"""The database away: pages answer 503 in the site's look, and recover when it returns."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from urllib.parse import urlsplit

import pytest

from shop import create_app
from shop.extensions import db
from tests.factories import UserFactory
from tests.support import AuthActions, free_port


class Outage:
    """A TCP relay to PostgreSQL that can be cut and restored, like a network outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()

    def restore(self) -> None:
        """Start accepting connections on the relay's port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close the port and every open connection: the database is gone."""
        if self.listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.connections += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def assert_unavailable(response) -> None:
    """A 503 in the site's look, with a Retry-After."""
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    html = response.get_data(as_text=True)
    assert "<h1>Temporarily unavailable</h1>" in html
    assert 'class="site-header"' in html
    assert "Something went wrong" not in html


def test_a_closed_postgresql_port_is_a_503_in_the_site_look(app_config):
    app_config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    client = create_app(app_config).test_client()
    for path in ("/", "/articles/some-story", "/shop", "/newsletters"):
        assert_unavailable(client.get(path))


def test_an_unreadable_sqlite_file_is_a_503_then_the_site_recovers(app_config, tmp_path):
    folder = tmp_path / "not-yet"
    app_config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{folder}/broadsheet.db"
    app = create_app(app_config)
    client = app.test_client()
    assert_unavailable(client.get("/"))

    os.makedirs(folder)
    with app.app_context():
        db.create_all()
    assert client.get("/").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_a_reader_sees_503_while_postgresql_is_away_and_their_page_when_it_returns(
    postgres_url, app_config, mailbox
):
    parts = urlsplit(postgres_url)
    outage = Outage((parts.hostname, parts.port or 5432))
    outage.restore()
    relayed = parts._replace(netloc=f"{parts.username}@127.0.0.1:{outage.port}").geturl()
    app_config["SQLALCHEMY_DATABASE_URI"] = relayed
    app = create_app(app_config)
    try:
        with app.app_context():
            db.create_all()
            UserFactory(email="reader@example.org")
        client = app.test_client()
        auth = AuthActions(client)
        assert auth.login("reader@example.org").status_code == 302
        assert client.get("/account").status_code == 200

        outage.cut()
        # The logged-in page and a public page: 503, not 500.
        assert_unavailable(client.get("/account"))
        assert_unavailable(client.get("/"))

        outage.restore()
        # pool_pre_ping replaces the dead connections: the same session works again.
        response = client.get("/account")
        assert response.status_code == 200
        assert "reader@example.org" in response.get_data(as_text=True)
    finally:
        outage.cut()
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("path", ["/healthz"])
def test_healthz_stays_json_when_the_database_is_down(app_config, path):
    app_config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    response = create_app(app_config).test_client().get(path)
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
