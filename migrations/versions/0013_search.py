"""search: the body's words on each article, and the full-text index over them

Revision ID: 0013_search
Revises: 0012_guest_checkout
Create Date: 2026-12-03 07:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

from shop.articles import search_schema
from shop.articles.rendering import plain_text

# revision identifiers, used by Alembic.
revision = "0013_search"
down_revision = "0012_guest_checkout"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_text", sa.Text(), server_default="", nullable=False))
    bind = op.get_bind()
    articles = sa.table(
        "articles", sa.column("id", sa.Integer), sa.column("body_html", sa.Text),
        sa.column("body_text", sa.Text),
    )  # fmt: skip
    for row in bind.execute(sa.select(articles.c.id, articles.c.body_html)).all():
        bind.execute(
            articles.update()
            .where(articles.c.id == row.id)
            .values(body_text=plain_text(row.body_html))
        )
    # The index is made after the words are in, so it is built once.
    search_schema.create(bind)


def downgrade():
    search_schema.drop(op.get_bind())
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("body_text")
