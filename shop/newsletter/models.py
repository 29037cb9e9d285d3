"""Digest preferences and the delivery ledger: runs and their deliveries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.articles.models import Tag
from shop.extensions import db
from shop.timeutil import utcnow

FREQ_INSTANT = "instant"
FREQ_DAILY = "daily"
FREQ_WEEKLY = "weekly"
FREQ_OFF = "off"
FREQUENCIES = (FREQ_INSTANT, FREQ_DAILY, FREQ_WEEKLY, FREQ_OFF)
DEFAULT_FREQUENCY = FREQ_WEEKLY

RUN_DIGEST = "digest"
RUN_INSTANT = "instant"
RUN_NEWSLETTER = "newsletter"

DELIVERY_QUEUED = "queued"
DELIVERY_SENT = "sent"
DELIVERY_FAILED = "failed"
DELIVERY_BOUNCED = "bounced"

AUDIENCE_ALL = "all"
AUDIENCE_TAGS = "tags"
AUDIENCE_PAYING = "paying"
AUDIENCE_FREE = "free"
AUDIENCES = (AUDIENCE_ALL, AUDIENCE_TAGS, AUDIENCE_PAYING, AUDIENCE_FREE)

NEWSLETTER_DRAFT = "draft"
NEWSLETTER_SCHEDULED = "scheduled"
NEWSLETTER_SENDING = "sending"
NEWSLETTER_SENT = "sent"
NEWSLETTER_STATUSES = (
    NEWSLETTER_DRAFT,
    NEWSLETTER_SCHEDULED,
    NEWSLETTER_SENDING,
    NEWSLETTER_SENT,
)

preference_tags = Table(
    "digest_preference_tags",
    db.metadata,
    Column(
        "preference_id", ForeignKey("digest_preferences.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class DigestPreference(db.Model):
    """What a reader wants in the mail: which tags, how often, paused or not."""

    __tablename__ = "digest_preferences"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    frequency: Mapped[str] = mapped_column(String(8), default=DEFAULT_FREQUENCY, index=True)
    weekday: Mapped[int] = mapped_column(default=0)  # 0 = Monday, for weekly digests
    follow_all: Mapped[bool] = mapped_column(default=True)
    paused_until: Mapped[date | None]
    # The digest covers articles published after this: the last digest, or subscribing.
    covered_until: Mapped[datetime] = mapped_column(default=utcnow)
    unsubscribed_at: Mapped[datetime | None]
    suppressed_at: Mapped[datetime | None]  # too many hard bounces
    hard_bounces: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=preference_tags, order_by="Tag.name")


class Run(db.Model):
    """One digest period, one instant notice, or one newsletter: the unit of sending."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_runs_kind_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # "daily:2026-11-25", "weekly:2026-11-25", "article:42": what makes the run unique.
    period: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255), default="")
    cutoff: Mapped[datetime] = mapped_column(default=utcnow)
    total: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="run", cascade="all, delete-orphan", lazy="dynamic"
    )


class Delivery(db.Model):
    """One message of a run to one reader: the ledger's line."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("run_id", "user_id", name="uq_deliveries_run_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DELIVERY_QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_reply: Mapped[str | None] = mapped_column(Text)
    article_ids: Mapped[str] = mapped_column(Text, default="")  # "3,17,42"
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]

    run: Mapped[Run] = relationship(back_populates="deliveries")
    user: Mapped[User] = relationship()

    @property
    def articles(self) -> list[int]:
        """The ids of the articles this delivery carries."""
        return [int(x) for x in self.article_ids.split(",") if x]


class MailedArticle(db.Model):
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


newsletter_tags = Table(
    "newsletter_tags",
    db.metadata,
    Column("newsletter_id", ForeignKey("newsletters.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Newsletter(db.Model):
    """A newsletter an editor writes: a subject, a Markdown body and an audience."""

    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    # Stable once sent: the archive's address, /newsletters/<slug>.
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # rendered and cleaned on save
    audience: Mapped[str] = mapped_column(String(16), default=AUDIENCE_ALL)
    status: Mapped[str] = mapped_column(String(16), default=NEWSLETTER_DRAFT, index=True)
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
        return self.status in (NEWSLETTER_DRAFT, NEWSLETTER_SCHEDULED)
