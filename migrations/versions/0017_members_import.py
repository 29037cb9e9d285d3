"""members import: complimentary access, and imports of members with their progress

Revision ID: 0017_members_import
Revises: 0018_story_mail
Create Date: 2026-12-03 07:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017_members_import"
down_revision = "0018_story_mail"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "complimentary_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_complimentary_access_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complimentary_access")),
        sa.UniqueConstraint("user_id", name=op.f("uq_complimentary_access_user_id")),
    )
    with op.batch_alter_table("complimentary_access", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complimentary_access_until"), ["until"], unique=False)
    op.create_table(
        "member_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("source_status", sa.String(length=16), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done_rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_member_imports_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_imports")),
    )
    with op.batch_alter_table("member_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_imports_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_member_imports_digest"), ["digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_imports_status"), ["status"], unique=False)


def downgrade():
    with op.batch_alter_table("member_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_imports_status"))
        batch_op.drop_index(batch_op.f("ix_member_imports_digest"))
        batch_op.drop_index(batch_op.f("ix_member_imports_created_by_id"))
    op.drop_table("member_imports")
    with op.batch_alter_table("complimentary_access", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complimentary_access_until"))
    op.drop_table("complimentary_access")
