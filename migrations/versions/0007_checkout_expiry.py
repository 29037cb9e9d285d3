"""checkout expiry: when an order's Checkout Session stops taking payment

Revision ID: 0007_checkout_expiry
Revises: 0006_login_sessions
Create Date: 2026-12-01 22:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_checkout_expiry"
down_revision = "0006_login_sessions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkout_expires_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("checkout_expires_at")
