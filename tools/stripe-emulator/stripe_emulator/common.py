"""What every part of the emulator shares: the API version, list parameters, dates, money."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from .errors import EmulatorError
from .params import STR, as_str

API_VERSION = "2026-10-28.endive"
LIST_PARAMS = {"limit": STR, "starting_after": STR, "ending_before": STR}


def add_interval(timestamp: int, interval: str, count: int = 1) -> int:
    """``timestamp`` moved on by ``count`` days/weeks/months/years (UTC, month ends clamped)."""
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    if interval == "day":
        return int((when + dt.timedelta(days=count)).timestamp())
    if interval == "week":
        return int((when + dt.timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    year, month0 = divmod(when.month - 1 + months, 12)
    year += when.year
    day = min(when.day, calendar.monthrange(year, month0 + 1)[1])
    return int(when.replace(year=year, month=month0 + 1, day=day).timestamp())


def as_url(value: Any, name: str, *, required: bool = False) -> str | None:
    """A parameter that must be an http(s) URL (``{CHECKOUT_SESSION_ID}`` allowed in it)."""
    text = as_str(value, name, required=required, max_length=5000)
    if text is None:
        return None
    parts = urlsplit(text.replace("{CHECKOUT_SESSION_ID}", "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EmulatorError(f"Not a valid URL: {name}", param=name, code="url_invalid")
    return text


def diff(old: dict, new: dict) -> dict:
    """Stripe's ``previous_attributes``: the old value of each top-level key that changed."""
    return {key: old[key] for key in old if old[key] != new.get(key)}


def type_matches(event_type: str, wanted: str | None) -> bool:
    """Whether an event type is the one wanted (``None``: any; ``"invoice.*"``: a prefix)."""
    if wanted is None:
        return True
    if wanted.endswith("*"):
        return event_type.startswith(wanted[:-1])
    return event_type == wanted


ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf"}  # fmt: skip
SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€", "jpy": "¥"}


def format_money(amount: int, currency: str) -> str:
    """``1250, "gbp"`` -> ``"£12.50"``; ``"12.50 CHF"`` for currencies without a symbol here."""
    number = f"{amount:,}" if currency in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"
