"""What digests and notices remember: each article already mailed to each reader."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from shop.clock import utcnow
from shop.extensions import Model


class MailedArticle(Model):
    """An article already mailed to a reader, in any digest or notice: never again."""

    __tablename__ = "mailed_articles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    # The delivery that carried it, for the record; not a foreign key, because a commit
    # group inserts a row per article per message and each key costs a lookup per row on
    # PostgreSQL (deliveries are never deleted alone: a reader's deletion removes both).
    delivery_id: Mapped[int | None] = mapped_column()
    mailed_at: Mapped[datetime] = mapped_column(default=utcnow)
