"""One line of the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.clock import utcnow
from shop.extensions import Model


class AuditEntry(Model):
    """An admin action that changed data: who, what, on which record, when."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Kept as text too, so the log still names an admin whose account was deleted.
    actor_email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)  # "newsletter_send"
    target: Mapped[str] = mapped_column(String(64), default="")  # "newsletter 12"
    summary: Mapped[str] = mapped_column(String(500), default="")
    changes: Mapped[str] = mapped_column(Text, default="{}")  # JSON: field -> value
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()
