"""pictures: uploaded images, their resized variants, and the pictures of articles and products

Revision ID: 0015_pictures
Revises: 0016_look
Create Date: 2026-12-03 08:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from shop.articles import search_schema

# revision identifiers, used by Alembic.
revision = "0015_pictures"
down_revision = "0016_look"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_images_content_hash")),
    )
    op.create_table(
        "image_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_image_variants_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_variants")),
        sa.UniqueConstraint("name", name=op.f("uq_image_variants_name")),
    )
    with op.batch_alter_table("image_variants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_variants_image_id"), ["image_id"], unique=False)
    for table in ("articles", "products"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("image_id", sa.Integer(), nullable=True))
            batch_op.add_column(
                sa.Column("image_alt", sa.String(length=300), server_default="", nullable=False)
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_image_id"), ["image_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_image_id_images"), "images", ["image_id"], ["id"],
                ondelete="SET NULL",
            )
    search_schema.restore_after_rebuild(op.get_bind())


def downgrade():
    for table in ("products", "articles"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_image_id_images"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_image_id"))
            batch_op.drop_column("image_alt")
            batch_op.drop_column("image_id")
    search_schema.restore_after_rebuild(op.get_bind())
    with op.batch_alter_table("image_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_variants_image_id"))
    op.drop_table("image_variants")
    op.drop_table("images")
