"""cheap marks: mailed_articles.delivery_id is a plain column, not a foreign key

A commit group inserts one mailed_articles row per article per message; on PostgreSQL
each foreign key is a trigger and a locking lookup per row. The delivery's id is kept
as a record of which message carried the article (deliveries are never deleted on
their own: a reader's deletion removes both), so its key is not checked.

Revision ID: 0021_cheap_marks
Revises: 0019_tracking
Create Date: 2026-12-03 12:45:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0021_cheap_marks"
down_revision = "0020_page_indexes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mailed_articles", schema=None) as batch_op:
        batch_op.drop_constraint("fk_mailed_articles_delivery_id_deliveries", type_="foreignkey")


def downgrade():
    # Rows whose delivery is gone would fail the key: their id is cleared first, as
    # ON DELETE SET NULL would have done.
    op.execute(
        "UPDATE mailed_articles SET delivery_id = NULL WHERE delivery_id IS NOT NULL "
        "AND delivery_id NOT IN (SELECT id FROM deliveries)"
    )
    with op.batch_alter_table("mailed_articles", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_mailed_articles_delivery_id_deliveries",
            "deliveries",
            ["delivery_id"],
            ["id"],
            ondelete="SET NULL",
        )
