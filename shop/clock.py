"""Time: naive UTC as every column stores it, and the publication's clock (local dates,
digest hours, run periods)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from flask import current_app

from shop.errors import RuleError


def utcnow() -> datetime:
    """Return the current time as naive UTC, the form every column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


# Dates as the site's English pages write them, with Babel (as shop/money.py shows money):
# "5 March 2026" and "5 March 2026, 14:05 UTC". Columns hold UTC, and so does the clock shown.
LOCALE = "en"
DAY_PATTERN = "d MMMM y"
TIME_PATTERN = "HH:mm"


def format_day(value: date | datetime | None) -> str:
    """A day as readers write it: 5 March 2026; None -> ""."""
    return format_date(value, DAY_PATTERN, locale=LOCALE) if value else ""


def format_moment(value: datetime | None) -> str:
    """A naive-UTC moment to the minute: 5 March 2026, 14:05 UTC; None -> ""."""
    if not value:
        return ""
    return f"{format_day(value)}, {format_time(value, TIME_PATTERN, locale=LOCALE)} UTC"


def zone() -> ZoneInfo:
    """The publication's time zone (``PUBLICATION_TIMEZONE``)."""
    name = current_app.config["PUBLICATION_TIMEZONE"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleError(f"PUBLICATION_TIMEZONE {name!r} is not a known time zone.") from exc


def local_now(now_utc: datetime) -> datetime:
    """A naive-UTC moment on the publication's clock."""
    return now_utc.replace(tzinfo=UTC).astimezone(zone())


def local_date(now_utc: datetime) -> date:
    """The publication's calendar date at a naive-UTC moment."""
    return local_now(now_utc).date()


def digest_time(day: date) -> datetime:
    """The naive-UTC moment of ``DIGEST_HOUR`` on a local day: the digest's cutoff."""
    hour = current_app.config["DIGEST_HOUR"]
    local = datetime(day.year, day.month, day.day, hour, tzinfo=zone())
    return local.astimezone(UTC).replace(tzinfo=None)


def is_digest_time(now_utc: datetime) -> bool:
    """Whether today's digest hour has come on the publication's clock."""
    return now_utc >= digest_time(local_date(now_utc))


def period(frequency: str, day: date) -> str:
    """The key that makes a digest run unique: one per frequency and local day."""
    return f"{frequency}:{day.isoformat()}"


def parse_day(text: str) -> date:
    """A ``YYYY-MM-DD`` date from a command line."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise RuleError(f"{text!r} is not a date like 2026-11-25.") from exc
