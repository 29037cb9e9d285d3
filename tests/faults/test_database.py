"""The database goes away and comes back: readers see 503, never 500, then the site again."""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from shop.extensions import db
from tests.factories import ArticleFactory, TagFactory, UserFactory
from tests.faults.conftest import own_app
from tests.support import AuthActions

ANONYMOUS_PAGES = ["/", "/articles/tide-tables", "/tags/coast", "/feed.xml", "/shop"]
READER_PAGES = ["/", "/account", "/cart"]


def _seed(app) -> None:
    with app.app_context():
        ArticleFactory(title="Tide tables", tags=[TagFactory(name="Coast")])
        UserFactory(email="steady@example.org")


def _status(client, path: str) -> int:
    try:
        return client.get(path).status_code
    except Exception:  # noqa: BLE001  (the error page itself failed: a server answers 500)
        return 500


def _statuses(client, paths: list[str]) -> dict[str, int]:
    return {path: _status(client, path) for path in paths}


def _assert_unavailable(reader, visitor) -> None:
    """Every page answers 503 with the site's own page, and /healthz says why."""
    assert _statuses(visitor, ANONYMOUS_PAGES) == {p: 503 for p in ANONYMOUS_PAGES}
    assert _statuses(reader, READER_PAGES) == {p: 503 for p in READER_PAGES}
    page = visitor.get("/")
    assert "text/html" in page.content_type
    assert "Something went wrong" not in page.get_data(as_text=True)
    health = visitor.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["database"] != "ok"


def _assert_back(reader, visitor) -> None:
    """The first requests after the database returns are served, the reader still logged in."""
    assert _statuses(visitor, ANONYMOUS_PAGES) == {p: 200 for p in ANONYMOUS_PAGES}
    assert _statuses(reader, READER_PAGES) == {p: 200 for p in READER_PAGES}
    assert "steady@example.org" in reader.get("/account").get_data(as_text=True)
    assert visitor.get("/healthz").get_json()["database"] == "ok"


def test_sqlite_file_gone_answers_503_then_recovers(tmp_path, smtp_sink, instance_dir, dispose):
    path = tmp_path / "site.db"
    app = own_app(f"sqlite:///{path}", smtp_sink, instance_dir)
    dispose(app)
    _seed(app)
    reader, visitor = app.test_client(), app.test_client()
    assert AuthActions(reader).login("steady@example.org").status_code == 302

    # Root ignores file modes, so the file is moved away and a directory put in its place:
    # SQLite then cannot open the database at all, as with a lost volume.
    os.rename(path, tmp_path / "site.db.away")
    os.mkdir(path)
    with app.app_context():
        db.engine.dispose()  # pooled connections would still hold the moved file open
    try:
        _assert_unavailable(reader, visitor)
    finally:
        shutil.rmtree(path)
        os.rename(tmp_path / "site.db.away", path)
    _assert_back(reader, visitor)


def _allow_connections(admin_url: str, name: str, allowed: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def test_postgres_connections_cut_answers_503_then_recovers(
    postgres_url, smtp_sink, instance_dir, dispose
):
    app = own_app(postgres_url, smtp_sink, instance_dir)
    dispose(app)
    _seed(app)
    reader, visitor = app.test_client(), app.test_client()
    assert AuthActions(reader).login("steady@example.org").status_code == 302
    name = postgres_url.rsplit("/", 1)[1]
    admin_url = postgres_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    admin_url += "/postgres"

    _allow_connections(admin_url, name, False)
    try:
        _assert_unavailable(reader, visitor)
    finally:
        _allow_connections(admin_url, name, True)
    _assert_back(reader, visitor)


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_a_form_post_with_the_database_gone_answers_503(
    path, tmp_path, smtp_sink, instance_dir, dispose
):
    db_path = tmp_path / "forms.db"
    app = own_app(f"sqlite:///{db_path}", smtp_sink, instance_dir, WTF_CSRF_ENABLED=False)
    dispose(app)
    client = app.test_client()
    os.rename(db_path, tmp_path / "forms.db.away")
    os.mkdir(db_path)
    with app.app_context():
        db.engine.dispose()
    try:
        response = client.post(
            path, data={"email": "new@example.org", "password": "correct horse battery"}
        )
        assert response.status_code == 503
    finally:
        shutil.rmtree(db_path)
        os.rename(tmp_path / "forms.db.away", db_path)
