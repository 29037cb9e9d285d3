"""Money: one way to show it (Babel) and one way to read what an admin types (Decimal).

Amounts are integers in a currency's minor unit, as Stripe counts them (cents, pence;
yen for a currency without decimals). The publication has one currency, ``CURRENCY``.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, get_currency_symbol
from flask import current_app

from shop.errors import RuleError

# Readers see money as English-language pages write it ("$12.00", "€12.00", "CHF 12.00"),
# whatever the currency: the site's words are English.
LOCALE = "en"

# What an admin may type: digits with at most one decimal point, an optional sign.
# No thousands separators: "1,000" is a thousand in English and one in French.
_NUMBER = re.compile(r"([+-]?)\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DECIMAL_WORDS = {0: "no", 1: "one", 2: "two", 3: "three"}


class MoneyError(RuleError):
    """Text that is not an amount of money in the currency."""


def currency() -> str:
    """The publication's one currency, lower-case as Stripe writes it."""
    return current_app.config["CURRENCY"].lower()


def _code(currency_code: str | None) -> str:
    return (currency_code or currency()).upper()


def decimals(currency_code: str | None = None) -> int:
    """How many decimal places the currency's major unit has (2 for usd, 0 for jpy)."""
    return get_currency_precision(_code(currency_code))


def to_major(amount: int, currency_code: str | None = None) -> Decimal:
    """Minor units as an exact Decimal in major units: 1250 -> Decimal("12.50")."""
    return Decimal(int(amount)).scaleb(-decimals(currency_code))


def format_money(amount: int | None, currency_code: str | None = None) -> str:
    """Minor units as readers see money: $12.00, €1,250.00, £0.05, CHF 12.00; None -> ""."""
    if amount is None:
        return ""
    code = _code(currency_code)
    pattern = None
    if get_currency_symbol(code, locale=LOCALE)[-1:].isalpha():
        # CLDR's currency spacing, which Babel leaves out: a code written in letters
        # ("CHF") is kept apart from the number by a no-break space, not run into it.
        pattern = Locale.parse(LOCALE).currency_formats["standard"].pattern.replace("¤", "¤\xa0")
    return format_currency(to_major(amount, code), code, format=pattern, locale=LOCALE)


def format_money_short(amount: int, currency_code: str | None = None) -> str:
    """Money in running text: whole amounts without decimals ("$8", "$16"), others in full."""
    code = _code(currency_code)
    places = decimals(code)
    if places == 0 or amount % 10**places:
        return format_money(amount, code)
    pattern = Locale.parse(LOCALE).currency_formats["standard"].pattern
    # The standard pattern without its decimals ("¤#,##0.00" -> "¤#,##0"), spaced as above.
    pattern = pattern.replace("." + "0" * places, "")
    if get_currency_symbol(code, locale=LOCALE)[-1:].isalpha():
        pattern = pattern.replace("¤", "¤\xa0")
    return format_currency(
        to_major(amount, code), code, format=pattern, currency_digits=False, locale=LOCALE
    )


def format_major(amount: int, currency_code: str | None = None) -> str:
    """Minor units as a plain number for a form field: 1250 -> "12.50" (no sign, no commas)."""
    return f"{to_major(amount, currency_code):f}"


def _strip_currency(text: str, code: str) -> str:
    """The text without a currency sign or code before or after the number."""
    marks = {code, code.lower(), get_currency_symbol(code, locale=LOCALE)}
    for mark in sorted(marks, key=len, reverse=True):
        if text.startswith(mark):
            return text[len(mark) :].strip()
        if text.endswith(mark):
            return text[: -len(mark)].strip()
    # Any one currency sign ($, £, €, ¥...): what is typed next to a number out of habit.
    if text and unicodedata.category(text[0]) == "Sc":
        return text[1:].strip()
    return text


def parse_money(
    text: str | None,
    currency_code: str | None = None,
    *,
    what: str = "the amount",
    example: str = "5 or 5.00",
) -> int:
    """An amount typed in major units ("12", "12.5", "$12.50", "12 CHF") in minor units.

    The sign is kept ("-5" gives -500): whether zero or less is allowed is the caller's
    rule. Raises MoneyError, field "amount", saying what to type instead; ``what`` and
    ``example`` word it ("Write the amount as a number such as 5 or 5.00.").
    """
    code = _code(currency_code)
    number = _NUMBER.fullmatch(_strip_currency((text or "").strip(), code))
    if number is None:
        raise MoneyError(f"Write {what} as a number such as {example}.", "amount")
    try:
        value = Decimal(number.group(1) + number.group(2))
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        raise MoneyError(f"Write {what} as a number such as {example}.", "amount") from None
    places = decimals(code)
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        if places == 0:
            raise MoneyError(f"{code} has no decimal places: write a whole number.", "amount")
        sample = format_major(525 * 10 ** max(places - 2, 0), code)
        raise MoneyError(
            f"Use at most {_DECIMAL_WORDS.get(places, places)} decimal places, such as {sample}.",
            "amount",
        )
    return int(minor)
