"""story mail: a story emailed to its audience when it is published

Revision ID: 0018_story_mail
Revises: 0014_threads
Create Date: 2026-12-03 08:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from shop.articles import search_schema

# revision identifiers, used by Alembic.
revision = "0018_story_mail"
down_revision = "0014_threads"
branch_labels = None
depends_on = None


def upgrade():
    # runs.kind is a plain string column: the new kind "story" needs no change to it.
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_audience", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("email_run_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_articles_email_run_id_runs"),
            "runs",
            ["email_run_id"],
            ["id"],
            ondelete="SET NULL",
        )
    search_schema.restore_after_rebuild(op.get_bind())


def downgrade():
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_articles_email_run_id_runs"), type_="foreignkey")
        batch_op.drop_column("email_run_id")
        batch_op.drop_column("email_audience")
    search_schema.restore_after_rebuild(op.get_bind())
