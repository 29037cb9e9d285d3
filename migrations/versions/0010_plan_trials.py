"""plan trials: free trial days on plans; an order's trial and the page it came from;
a subscription's trial end

Revision ID: 0010_plan_trials
Revises: 0009_mailed_links
Create Date: 2026-12-09 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_plan_trials"
down_revision = "0009_mailed_links"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trial_days", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_products_trial_days_in_range"),
            "trial_days IS NULL OR (trial_days >= 1 AND trial_days <= 730)",
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trial_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("return_path", sa.String(length=2048), nullable=True))
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trial_end", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("trial_end")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("return_path")
        batch_op.drop_column("trial_days")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_products_trial_days_in_range"), type_="check")
        batch_op.drop_column("trial_days")
