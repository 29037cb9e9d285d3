"""Shared helpers for the members import and export tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.preferences.models import DigestPreference

DATA = Path(__file__).parent / "data"
GHOST = DATA / "ghost_export.csv"
SUBSTACK = DATA / "substack_export.csv"
MAILCHIMP = DATA / "mailchimp_export.csv"


def member(email: str) -> User | None:
    """The account with this address, fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def preference(user: User) -> DigestPreference | None:
    """The member's digest preference."""
    return db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user.id))


def emails() -> set[str]:
    """Every address here."""
    db.session.expire_all()
    return set(db.session.scalars(select(User.email)))
