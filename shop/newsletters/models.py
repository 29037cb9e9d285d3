"""Newsletters an editor writes: subject, Markdown body, audience, schedule and run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.articles.models import Tag
from shop.clock import utcnow
from shop.extensions import Model, db
from shop.sending.models import Run


class Audience(StrEnum):
    """Who a newsletter goes to: everyone, followers of its tags, paying or free readers."""

    ALL = "all"
    TAGS = "tags"
    PAYING = "paying"
    FREE = "free"


class NewsletterStatus(StrEnum):
    """Where a newsletter is: a draft, scheduled, being sent, or sent."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"


newsletter_tags = Table(
    "newsletter_tags",
    db.metadata,
    Column("newsletter_id", ForeignKey("newsletters.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Newsletter(Model):
    """A newsletter an editor writes: a subject, a Markdown body and an audience."""

    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    # Stable once sent: the archive's address, /newsletters/<slug>.
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # rendered and cleaned on save
    audience: Mapped[str] = mapped_column(String(16), default=Audience.ALL)
    status: Mapped[str] = mapped_column(String(16), default=NewsletterStatus.DRAFT, index=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(index=True)  # naive UTC
    sent_at: Mapped[datetime | None]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tags: Mapped[list[Tag]] = relationship(secondary=newsletter_tags, order_by="Tag.name")
    run: Mapped[Run | None] = relationship()
    author: Mapped[User | None] = relationship()

    @property
    def editable(self) -> bool:
        """Drafts and scheduled newsletters can still change; sending ones cannot."""
        return self.status in (NewsletterStatus.DRAFT, NewsletterStatus.SCHEDULED)
