"""Text helpers every floor may use."""

from __future__ import annotations

import math
import re
import unicodedata

from sqlalchemy import select

from shop.extensions import db


def slugify(text: str, max_length: int = 80) -> str:
    """Make a URL slug: lower-case ASCII words joined by hyphens."""
    normalised = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", normalised.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def unique_slug(model, base: str, exclude_id: int | None = None) -> str:
    """``base``, or ``base-2``, ``base-3``...: the first slug no other row of ``model`` holds."""
    base = base or "untitled"
    candidate, n = base, 2
    while True:
        query = select(model.id).where(model.slug == candidate)
        if exclude_id is not None:
            query = query.where(model.id != exclude_id)
        if db.session.scalar(query) is None:
            return candidate
        candidate = f"{base}-{n}"
        n += 1


# A steady adult reading pace for prose on a screen, in words a minute.
WORDS_PER_MINUTE = 230


def reading_minutes(text: str) -> int:
    """Minutes a reader needs for ``text`` at 230 words a minute, rounded up; at least 1."""
    words = len(re.findall(r"\w+", text or ""))
    return max(1, math.ceil(words / WORDS_PER_MINUTE))
