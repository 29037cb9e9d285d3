"""The search index's database objects, which the models' metadata does not describe.

PostgreSQL: two generated ``tsvector`` columns on ``articles`` (``search_head``: title and
summary; ``search_all``: those and the body's words), each with a GIN index. SQLite: the
FTS5 table ``articles_fts`` over the same three columns, kept in step by triggers.

They are made with the ``articles`` table (``attach``, for ``create_all``) and by the
migration ``0013_search`` (``create``). Their names are listed here once, so that Alembic's
autogenerate and the migration test leave them alone (``include_object``). A later
migration that rebuilds ``articles`` on SQLite (a batch "move and copy") must call
``drop`` before and ``create`` after, as the triggers go with the old table.
"""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql import FromClause

# One text-search configuration for both halves of the PostgreSQL index and every query.
PG_CONFIG = "english"
FTS_TABLE = "articles_fts"
# FTS5 keeps its index in shadow tables named after the virtual table.
_FTS_SHADOWS = ("data", "idx", "docsize", "config", "content")
_TRIGGERS = ("articles_fts_ai", "articles_fts_ad", "articles_fts_au")
PG_COLUMNS = ("search_head", "search_all")
PG_INDEXES = tuple(f"ix_articles_{name}" for name in PG_COLUMNS)

SEARCH_OBJECTS = frozenset(
    (FTS_TABLE, *(f"{FTS_TABLE}_{s}" for s in _FTS_SHADOWS), *_TRIGGERS, *PG_COLUMNS, *PG_INDEXES)
)


def _vector(column: str, weight: str) -> str:
    return f"setweight(to_tsvector('{PG_CONFIG}', coalesce({column}, '')), '{weight}')"


# The title weighs most, then the summary, then the body.
_HEAD = f"{_vector('title', 'A')} || {_vector('summary', 'B')}"
_ALL = f"{_HEAD} || {_vector('body_text', 'C')}"

_POSTGRES_CREATE = (
    f"ALTER TABLE articles ADD COLUMN search_head tsvector GENERATED ALWAYS AS ({_HEAD}) STORED",
    f"ALTER TABLE articles ADD COLUMN search_all tsvector GENERATED ALWAYS AS ({_ALL}) STORED",
    "CREATE INDEX ix_articles_search_head ON articles USING gin (search_head)",
    "CREATE INDEX ix_articles_search_all ON articles USING gin (search_all)",
)
_POSTGRES_DROP = (
    "DROP INDEX IF EXISTS ix_articles_search_all",
    "DROP INDEX IF EXISTS ix_articles_search_head",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_all",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_head",
)

_FTS_COLUMNS = "title, summary, body_text"
_FTS_NEW = (
    "INSERT INTO articles_fts(rowid, title, summary, body_text) "
    "VALUES (new.id, new.title, new.summary, new.body_text);"
)
_FTS_OLD = (
    "INSERT INTO articles_fts(articles_fts, rowid, title, summary, body_text) "
    "VALUES ('delete', old.id, old.title, old.summary, old.body_text);"
)
_SQLITE_CREATE = (
    # External content: the words are indexed, the text itself stays in articles. The
    # porter stemmer matches "elections" to "election", as PostgreSQL's english does.
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5({_FTS_COLUMNS}, "
    "content='articles', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER IF NOT EXISTS articles_fts_ai AFTER INSERT ON articles BEGIN {_FTS_NEW} END",
    f"CREATE TRIGGER IF NOT EXISTS articles_fts_ad AFTER DELETE ON articles BEGIN {_FTS_OLD} END",
    "CREATE TRIGGER IF NOT EXISTS articles_fts_au AFTER UPDATE ON articles "
    f"BEGIN {_FTS_OLD} {_FTS_NEW} END",
    # Rows already in articles (an upgrade) enter the index.
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",  # noqa: S608
)
_SQLITE_DROP = (
    *(f"DROP TRIGGER IF EXISTS {name}" for name in _TRIGGERS),
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def _statements(connection: Connection, postgres: tuple, sqlite: tuple) -> tuple:
    name = connection.dialect.name
    if name == "postgresql":
        return postgres
    if name == "sqlite":
        return sqlite
    return ()


def create(connection: Connection) -> None:
    """Make this database's search objects over the existing ``articles`` table."""
    for statement in _statements(connection, _POSTGRES_CREATE, _SQLITE_CREATE):
        connection.execute(text(statement))


def drop(connection: Connection) -> None:
    """Drop this database's search objects (``articles`` stays)."""
    for statement in _statements(connection, _POSTGRES_DROP, _SQLITE_DROP):
        connection.execute(text(statement))


def restore_after_rebuild(connection: Connection) -> None:
    """Put SQLite's triggers back after a batch migration rebuilt ``articles``.

    SQLite drops a table's triggers with the table, and Alembic's batch mode rebuilds it
    for most changes; every migration that alters ``articles`` calls this after. The index
    itself survives (it is keyed by the article's id) and is rebuilt from the rows anyway.
    """
    if connection.dialect.name == "sqlite":
        create(connection)


def attach(table: FromClause) -> None:
    """Make and drop the search objects whenever metadata makes or drops ``table``."""
    event.listen(table, "after_create", lambda target, connection, **kw: create(connection))
    event.listen(table, "before_drop", lambda target, connection, **kw: drop(connection))


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's filter: the search objects exist only in the database, on purpose."""
    return not (reflected and compare_to is None and name in SEARCH_OBJECTS)


def include_name(name, type_, parent_names) -> bool:
    """Alembic's filter of reflected names: the FTS5 table and its shadows are not models'."""
    return name not in SEARCH_OBJECTS
