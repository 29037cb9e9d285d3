"""the look: each article's reading time, counted from its body

Revision ID: 0016_look
Revises: 0017_members_import
Create Date: 2026-12-03 07:40:00.000000

"""

import math
import re

import sqlalchemy as sa
from alembic import op

from shop.articles import search_schema

# revision identifiers, used by Alembic.
revision = "0016_look"
down_revision = "0017_members_import"
branch_labels = None
depends_on = None

# As shop.text.reading_minutes counts, frozen here so this migration means the same later.
WORDS_PER_MINUTE = 230


def _minutes(body):
    return max(1, math.ceil(len(re.findall(r"\w+", body or "")) / WORDS_PER_MINUTE))


def upgrade():
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reading_minutes", sa.Integer(), server_default="1", nullable=False)
        )
    search_schema.restore_after_rebuild(op.get_bind())
    articles = sa.table(
        "articles",
        sa.column("id", sa.Integer()),
        sa.column("body_markdown", sa.Text()),
        sa.column("reading_minutes", sa.Integer()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(articles.c.id, articles.c.body_markdown)).all()
    for article_id, body in rows:
        connection.execute(
            articles.update()
            .where(articles.c.id == article_id)
            .values(reading_minutes=_minutes(body))
        )


def downgrade():
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("reading_minutes")
    search_schema.restore_after_rebuild(op.get_bind())
