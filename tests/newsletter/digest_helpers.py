"""Helpers for digest tests: subscribers with preferences, articles inside the window."""

from __future__ import annotations

from datetime import datetime, timedelta

from shop import clock
from shop.clock import utcnow
from shop.extensions import db
from shop.preferences.models import DigestPreference
from tests.factories import ArticleFactory, UserFactory


def cutoff() -> datetime:
    """The cutoff today's digest run uses."""
    now = utcnow()
    return min(clock.digest_time(clock.local_date(now)), now)


def subscriber(
    email: str,
    frequency: str = "daily",
    tags=(),
    follow_all: bool | None = None,
    confirmed: bool = True,
    **fields,
):
    """A reader who consented, with digest preferences covered until two days ago."""
    user = UserFactory(
        email=email,
        confirmed_at=utcnow() - timedelta(days=30) if confirmed else None,
        digest_consent_at=utcnow() - timedelta(days=30),
    )
    pref = DigestPreference(
        user_id=user.id,
        frequency=frequency,
        follow_all=not tags if follow_all is None else follow_all,
        covered_until=cutoff() - timedelta(days=2),
        **fields,
    )
    pref.tags = list(tags)
    db.session.add(pref)
    db.session.commit()
    return user


def article(title: str, tags=(), hours_before_cutoff: float = 1, **fields):
    """A live article published inside the digest window."""
    return ArticleFactory(
        title=title,
        tags=list(tags),
        published_at=cutoff() - timedelta(hours=hours_before_cutoff),
        **fields,
    )


def many_subscribers(count: int, prefix: str = "bulk") -> list[str]:
    """``count`` daily, follow-everything subscribers, inserted in bulk; their emails."""
    from sqlalchemy import insert, select

    from shop.accounts.models import User

    hashed = UserFactory.build().password_hash
    now = utcnow()
    emails = [f"{prefix}{n:05d}@example.org" for n in range(count)]
    db.session.execute(
        insert(User),
        [
            {
                "email": e,
                "password_hash": hashed,
                "role": "reader",
                "confirmed_at": now,
                "digest_consent_at": now,
                "created_at": now,
                "session_version": 1,
            }
            for e in emails
        ],
    )
    ids = db.session.scalars(select(User.id).where(User.email.in_(emails))).all()
    db.session.execute(
        insert(DigestPreference),
        [
            {
                "user_id": i,
                "frequency": "daily",
                "weekday": 0,
                "follow_all": True,
                "covered_until": cutoff() - timedelta(days=2),
                "hard_bounces": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in ids
        ],
    )
    db.session.commit()
    return emails
