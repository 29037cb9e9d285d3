"""guest checkout: orders without a reader until paid, and a reader's second customer

Revision ID: 0012_guest_checkout
Revises: 0011_gifts
Create Date: 2026-12-02 17:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_guest_checkout"
down_revision = "0011_gifts"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("guest_key_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("cart_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("guest_made_reader", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("guest_welcomed_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_orders_guest_key_hash"), ["guest_key_hash"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_cart_id_carts"), "carts", ["cart_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("billing_customers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_billing_customers_user_id", type_="unique")
        batch_op.create_index(batch_op.f("ix_billing_customers_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("billing_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_customers_user_id"))
        batch_op.create_unique_constraint("uq_billing_customers_user_id", ["user_id"])
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_orders_cart_id_carts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_orders_guest_key_hash"))
        batch_op.drop_column("guest_welcomed_at")
        batch_op.drop_column("guest_made_reader")
        batch_op.drop_column("cart_id")
        batch_op.drop_column("guest_key_hash")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
