"""``flask db upgrade`` on an empty database gives exactly the models' schema."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from shop import create_app
from shop.articles import search, search_schema
from shop.clock import utcnow
from shop.config import normalise_database_url
from shop.extensions import db
from tests import support
from tests.factories import ArticleFactory


@pytest.fixture
def empty_database(tmp_path):
    """A new, empty database of the kind this run uses."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url, name = support.create_postgres_database(base)
        yield normalise_database_url(url)
        support.drop_postgres_database(base, name)
    else:
        yield f"sqlite:///{tmp_path}/migrated.db"


def _app(url: str, tmp_path):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x" * 32,
            "SQLALCHEMY_DATABASE_URI": url,
            "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        }
    )


def test_upgrade_gives_the_models_schema(empty_database, tmp_path):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "render_as_batch": True,
                    "include_object": search_schema.include_object,
                    "include_name": search_schema.include_name,
                },
            )
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_up_again(empty_database, tmp_path):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
        with db.engine.connect() as conn:
            tables = set(db.inspect(conn).get_table_names())
        db.engine.dispose()
    assert {"users", "articles", "tags", "article_tags", "comments"} <= tables


def test_the_look_migration_counts_the_reading_time_of_stories_already_written(
    empty_database, tmp_path
):
    app = _app(empty_database, tmp_path)
    long_body = " ".join(["word"] * 1150)  # five minutes at 230 words a minute
    with app.app_context():
        upgrade(revision="0012_guest_checkout")
        with db.engine.begin() as conn:
            conn.execute(
                db.text(
                    "INSERT INTO users (email, password_hash, role, session_version,"
                    " created_at) VALUES ('a@example.org', '', 'admin', 1, CURRENT_TIMESTAMP)"
                )
            )
            author = conn.execute(db.text("SELECT id FROM users")).scalar_one()
            for slug, body in [("long", long_body), ("short", "Two words.")]:
                conn.execute(
                    db.text(
                        "INSERT INTO articles (title, slug, summary, body_markdown, body_html,"
                        " author_id, status, access, created_at, updated_at) VALUES"
                        " (:slug, :slug, '', :body, '', :author, 'draft', 'public',"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"slug": slug, "body": body, "author": author},
                )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(db.text("SELECT slug, reading_minutes FROM articles")).all()
            minutes = {slug: n for slug, n in rows}
        db.engine.dispose()
    assert minutes == {"long": 5, "short": 1}


def test_upgrade_indexes_the_stories_already_there(empty_database, tmp_path):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        upgrade(revision="0012_guest_checkout")
        with db.engine.begin() as conn:
            now = utcnow()
            conn.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, role, created_at,"
                    " session_version) VALUES (1, 'a@example.org', 'x', 'admin', :now, 1)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO articles (id, title, slug, summary, body_markdown, body_html,"
                    " author_id, status, access, published_at, created_at, updated_at)"
                    " VALUES (1, 'Old story', 'old-story', '', 'x', '<p>The <em>walrus</em>"
                    " spoke.</p>', 1, 'published', 'public', :then, :then, :then)"
                ),
                {"then": now - timedelta(days=1)},
            )
        upgrade()
        found = search.search("walrus", None)
        assert [hit.article.slug for hit in found.page.items] == ["old-story"]
        assert found.page.items[0].article.body_text == "The walrus spoke."
        db.session.remove()
        db.engine.dispose()


def test_stories_written_after_the_last_upgrade_are_found(empty_database, tmp_path):
    """Later migrations that rebuild the articles table keep its search index in step."""
    app = _app(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        downgrade(revision="0013_search")
        upgrade()
        ArticleFactory(title="A new story", body_markdown="The *narwhal* sang.")
        found = search.search("narwhal", None)
        assert [hit.article.title for hit in found.page.items] == ["A new story"]
        db.session.remove()
        db.engine.dispose()
