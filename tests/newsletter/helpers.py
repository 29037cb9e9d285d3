"""Helpers for the newsletter tests: reading preferences back, a stand-in preview."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.preferences.models import DigestPreference


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
