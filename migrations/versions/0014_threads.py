"""comment threads: replies, held and edited comments, who may comment, muted threads

Revision ID: 0014_threads
Revises: 0013_search
Create Date: 2026-12-03 07:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

from shop.articles import search_schema

# revision identifiers, used by Alembic.
revision = "0014_threads"
down_revision = "0013_search"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_comments_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_comments_parent_id_comments"),
            "comments",
            ["parent_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "comments_from", sa.String(length=16), server_default="members", nullable=False
            )
        )
    search_schema.restore_after_rebuild(op.get_bind())
    op.create_table(
        "thread_mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_thread_mutes_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_thread_mutes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_mutes")),
        sa.UniqueConstraint("user_id", "comment_id", name=op.f("uq_thread_mutes_user_id")),
    )
    with op.batch_alter_table("thread_mutes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thread_mutes_comment_id"), ["comment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_thread_mutes_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("thread_mutes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_mutes_user_id"))
        batch_op.drop_index(batch_op.f("ix_thread_mutes_comment_id"))
    op.drop_table("thread_mutes")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("comments_from")
    search_schema.restore_after_rebuild(op.get_bind())
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_comments_parent_id_comments"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_comments_parent_id"))
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("edited_at")
        batch_op.drop_column("held")
        batch_op.drop_column("parent_id")
