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
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    mailed_at: Mapped[datetime] = mapped_column(default=utcnow)
