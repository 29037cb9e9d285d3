"""page indexes: live articles newest first, and a tag's articles

Revision ID: 0020_page_indexes
Revises: 0019_tracking
Create Date: 2026-12-03 12:40:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0020_page_indexes"
down_revision = "0019_tracking"
branch_labels = None
depends_on = None


def upgrade():
    # Plain CREATE and DROP INDEX: no table is rebuilt, so the articles' search objects
    # stay. The composite index leads with published_at (so that index goes), and an
    # index on status alone made SQLite choose it, then sort every live article.
    op.drop_index("ix_articles_status", table_name="articles")
    op.drop_index("ix_articles_published_at", table_name="articles")
    op.create_index(
        "ix_articles_live_order", "articles", ["published_at", "id", "status"], unique=False
    )
    op.create_index(
        "ix_article_tags_tag_article", "article_tags", ["tag_id", "article_id"], unique=False
    )


def downgrade():
    op.drop_index("ix_article_tags_tag_article", table_name="article_tags")
    op.drop_index("ix_articles_live_order", table_name="articles")
    op.create_index("ix_articles_published_at", "articles", ["published_at"], unique=False)
    op.create_index("ix_articles_status", "articles", ["status"], unique=False)
