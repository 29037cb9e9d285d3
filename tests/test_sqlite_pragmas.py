"""SQLite runs in WAL with synchronous=NORMAL: readers go on while a run commits."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from shop import create_app
from shop.extensions import db, sqlite_pragmas


def test_a_new_sqlite_database_is_in_wal(tmp_path, app_config):
    config = dict(app_config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'fresh.db'}")
    app = create_app(config)
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        db.session.remove()
        db.engine.dispose()


def test_each_connection_syncs_at_checkpoints_only(tmp_path):
    connection = sqlite3.connect(tmp_path / "pragmas.db")
    try:
        sqlite_pragmas(connection)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        connection.close()


def test_an_in_memory_database_still_works(app_config):
    app = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI="sqlite://"))
    with app.app_context():
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        db.session.remove()
