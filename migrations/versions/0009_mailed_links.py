"""mailed links: single-use sign-in and subscription links

Revision ID: 0009_mailed_links
Revises: 0008_shipping
Create Date: 2026-12-02 16:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_mailed_links"
down_revision = "0008_shipping"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mailed_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("next_url", sa.String(length=500), nullable=True),
        sa.Column("topic", sa.String(length=140), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mailed_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailed_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_mailed_links_token_hash")),
    )
    with op.batch_alter_table("mailed_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailed_links_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_mailed_links_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("mailed_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailed_links_expires_at"))
        batch_op.drop_index(batch_op.f("ix_mailed_links_email"))
    op.drop_table("mailed_links")
