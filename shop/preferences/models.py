"""Readers' digest preferences: which tags, how often, paused, unsubscribed or suppressed."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.articles.models import Tag
from shop.clock import utcnow
from shop.extensions import Model, db


class Frequency(StrEnum):
    """How often a reader gets mail: each story, a daily or weekly digest, or none."""

    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"


DEFAULT_FREQUENCY = Frequency.WEEKLY

preference_tags = Table(
    "digest_preference_tags",
    db.metadata,
    Column(
        "preference_id", ForeignKey("digest_preferences.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class DigestPreference(Model):
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
