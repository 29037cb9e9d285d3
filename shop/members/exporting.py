"""Exporting members, as CSV or JSON, in the plain format's columns: what this writes, the
import reads back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shop.accounts.models import ROLE_READER, User
from shop.billing.models import ComplimentaryAccess, Customer
from shop.extensions import db
from shop.members.formats import COLUMNS, PLAIN
from shop.preferences.models import DigestPreference

# The plain format's columns, in the order the import's mapping table lists them.
EXPORT_COLUMNS = list(COLUMNS[PLAIN])
BATCH = 500


def _time(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, as Ghost writes it."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z" if moment else None


def members() -> Iterator[dict[str, Any]]:
    """Every reader (admins aside) as one record of the export's columns, oldest first."""
    customer = (
        select(func.min(Customer.stripe_customer_id))
        .where(Customer.user_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    query = (
        select(User, DigestPreference, ComplimentaryAccess, customer)
        .outerjoin(DigestPreference, DigestPreference.user_id == User.id)
        .outerjoin(ComplimentaryAccess, ComplimentaryAccess.user_id == User.id)
        .where(User.role == ROLE_READER)
        .order_by(User.id)
        .options(selectinload(DigestPreference.tags))
        .execution_options(yield_per=BATCH)
    )
    for user, pref, comp, stripe_id in db.session.execute(query):
        subscribed = user.digest_consent_at is not None and (
            pref is None or (pref.unsubscribed_at is None and pref.suppressed_at is None)
        )
        tags = [] if pref is None or pref.follow_all else [t.slug for t in pref.tags]
        yield {
            "email": user.email,
            "name": user.display_name or "",
            "tags": tags,
            "subscribed": subscribed,
            "consent_at": _time(user.digest_consent_at),
            "complimentary": comp is not None,
            "complimentary_until": _time(comp.until) if comp else None,
            "stripe_customer_id": stripe_id,
            "created_at": _time(user.created_at),
        }


def csv_rows() -> Iterator[list[Any]]:
    """The export as CSV rows (tags as one cell, comma-separated; slugs hold no comma)."""
    for record in members():
        yield [", ".join(value) if key == "tags" else value for key, value in record.items()]


def json_chunks() -> Iterator[str]:
    """The export as a JSON array, written a record at a time."""
    yield "["
    for n, record in enumerate(members()):
        yield ("," if n else "") + "\n" + json.dumps(record, ensure_ascii=False)
    yield "\n]\n"
