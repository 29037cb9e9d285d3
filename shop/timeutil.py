"""Time helpers: the database stores naive UTC everywhere."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as naive UTC, the form every column stores."""
    return datetime.now(UTC).replace(tzinfo=None)
