"""Helpers for the mail tests: reading preferences back, a stand-in preview, live leases."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.clock import utcnow
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.sending.models import Delivery, DeliveryStatus


def user(email: str) -> User | None:
    """A user as the database has it now."""
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def preference_of(email: str) -> DigestPreference | None:
    """A reader's stored preference as the database has it now, if any."""
    db.session.expire_all()
    return db.session.scalar(select(DigestPreference).join(User).where(User.email == email))


@dataclass
class FakePreview:
    """The shape of shop.digests.runs.Preview."""

    subject: str
    html: str
    article_count: int
    note: str = ""


def use_preview(monkeypatch, preview: FakePreview | None) -> None:
    """Make the preferences page's ``preview_for`` answer ``preview``."""
    monkeypatch.setattr("shop.readers.views.preview_for", lambda user: preview)


def leases_held(run_id: int) -> list[tuple[str, int]]:
    """Each worker holding live leases on a run's queued deliveries, and how many, read afresh."""
    db.session.rollback()  # what the workers have committed since, not this session's view
    rows = db.session.execute(
        select(Delivery.lease_owner, func.count())
        .where(
            Delivery.run_id == run_id,
            Delivery.status == DeliveryStatus.QUEUED,
            Delivery.lease_expires_at > utcnow(),
        )
        .group_by(Delivery.lease_owner)
    ).all()
    return [(owner, held) for owner, held in rows if owner]
