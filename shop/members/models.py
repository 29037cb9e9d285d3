"""An import of members: the uploaded file, how far it has got, and what it did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.clock import utcnow
from shop.extensions import Model


class ImportStatus(StrEnum):
    """Where an import stands: read and checked, queued, under way, finished or stopped."""

    PLANNED = "planned"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class MemberImport(Model):
    """One file of members being imported, chunk by chunk.

    The file's text is kept so that an import stopped part-way (a restart, a crash) goes
    on from ``done_rows``, the rows of the chunks already committed; ``digest`` finds the
    unfinished import of the same file when the command is run again.
    """

    __tablename__ = "member_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(64), index=True)  # SHA-256 of the file
    format: Mapped[str] = mapped_column(String(16))
    # A Mailchimp list's status, for exports that carry none (subscribed, unsubscribed...).
    source_status: Mapped[str | None] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.PLANNED, index=True)
    total: Mapped[int] = mapped_column(default=0)
    done_rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    # JSON: the lines that were skipped or carry a note, [{line, email, action, reasons}].
    report: Mapped[str] = mapped_column(Text, default="[]")
    error: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Touched by every committed chunk: an import "running" with no touch for long has died.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    @property
    def percent(self) -> int:
        """How far the import has got, 0 to 100."""
        if self.status == ImportStatus.DONE:
            return 100
        return int(100 * self.done_rows / self.total) if self.total else 0

    def __repr__(self) -> str:
        return f"<MemberImport {self.id} {self.filename} {self.status}>"
