"""Flask extensions, created unbound and bound to an app in the factory."""

import sqlite3
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so that Alembic (and SQLite batch mode) can alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base every model inherits."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The base class models inherit. At run time it is db.Model, the class Flask-SQLAlchemy builds
# from Base (adding the query property and bind keys); a type checker can't subclass an
# instance attribute, so it sees Base, which declares the same mapping.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """WAL with synchronous=NORMAL on each new SQLite connection (nothing elsewhere)."""
    # WAL lets readers (the site's pages) go on while a run commits its groups, and
    # NORMAL syncs at checkpoints rather than at every commit: a power cut may lose the
    # last commits, never the file (docs/reliability.md says what that means for mail).
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def init_sqlite(app: Flask) -> None:
    """Give this app's SQLite engine its pragmas (a no-op on any other database)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(
            engine, "connect", sqlite_pragmas
        ):
            event.listen(engine, "connect", sqlite_pragmas)
