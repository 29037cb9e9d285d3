"""gifts: a plan's period bought for someone else, mailed on a date, redeemed by a link

Revision ID: 0011_gifts
Revises: 0010_plan_trials
Create Date: 2026-12-02 17:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_gifts"
down_revision = "0010_plan_trials"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "gifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("plan_name", sa.String(length=120), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("giver_name", sa.String(length=80), nullable=False),
        sa.Column("recipient_name", sa.String(length=80), nullable=False),
        sa.Column("recipient_email", sa.String(length=254), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("send_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(), nullable=True),
        sa.Column("redeemed_by_id", sa.Integer(), nullable=True),
        sa.Column("access_until", sa.DateTime(), nullable=True),
        sa.Column("reminder_sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_gifts_buyer_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_gifts_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_gifts_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_by_id"],
            ["users.id"],
            name=op.f("fk_gifts_redeemed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gifts")),
        sa.UniqueConstraint("order_id", name=op.f("uq_gifts_order_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_gifts_token_hash")),
    )
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gifts_access_until"), ["access_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_gifts_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_gifts_recipient_email"), ["recipient_email"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_gifts_redeemed_by_id"), ["redeemed_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_gifts_status"), ["status"], unique=False)


def downgrade():
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gifts_status"))
        batch_op.drop_index(batch_op.f("ix_gifts_redeemed_by_id"))
        batch_op.drop_index(batch_op.f("ix_gifts_recipient_email"))
        batch_op.drop_index(batch_op.f("ix_gifts_buyer_id"))
        batch_op.drop_index(batch_op.f("ix_gifts_access_until"))
    op.drop_table("gifts")
