"""The delivery ledger: runs (the unit of sending) and their deliveries, one per reader."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.clock import utcnow
from shop.extensions import Model


class RunKind(StrEnum):
    """What a run sends: each kind's content reaches the engine through its registry."""

    DIGEST = "digest"
    INSTANT = "instant"
    NEWSLETTER = "newsletter"
    # A whole story mailed when it is published (shop/stories): one run per article.
    STORY = "story"


class DeliveryStatus(StrEnum):
    """Where a delivery is: queued, then sent, failed or bounced."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"


def join_ids(ids: Iterable[int]) -> str:
    """A delivery's article ids as its column keeps them: "3,17,42"."""
    return ",".join(str(a) for a in ids)


def split_ids(column: str | None) -> list[int]:
    """The article ids a delivery's column holds, in order."""
    return [int(x) for x in (column or "").split(",") if x]


class Run(Model):
    """One digest period, one instant notice, one newsletter or one story: the unit of sending."""

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


class Delivery(Model):
    """One message of a run to one reader: the ledger's line."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("run_id", "user_id", name="uq_deliveries_run_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.QUEUED, index=True)
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
        return split_ids(self.article_ids)


class EventKind(StrEnum):
    """What a reader did with a delivered message."""

    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"
    BOUNCE = "bounce"  # reported by the provider after the relay accepted the message


class TrackedLink(Model):
    """A link some sent message pointed at, once for every run that uses it."""

    __tablename__ = "tracked_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The start of the URL's SHA-256, in hex: the link's name in its tracked URL.
    key: Mapped[str] = mapped_column(String(16), unique=True)
    url: Mapped[str] = mapped_column(Text)


class RunLink(Model):
    """A link that a run's messages carry: the only places its clicks may lead."""

    __tablename__ = "run_links"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("tracked_links.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MailEvent(Model):
    """One open, click, unsubscribe, complaint or late bounce of a delivery: never updated."""

    __tablename__ = "mail_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracked_links.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
