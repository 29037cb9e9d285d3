"""The back office's product rules: check what an admin submits, then save it.

A price is immutable once Stripe has it, so a changed amount or interval adds a Price
row and retires the old one; the old row stays for the orders that used it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from shop import money
from shop.catalogue.models import (
    INTERVALS,
    KIND_ITEM,
    KIND_PLAN,
    KINDS,
    MAX_TRIAL_DAYS,
    Price,
    Product,
)
from shop.catalogue.services import CatalogueError
from shop.extensions import db
from shop.media import services as media
from shop.text import slugify, unique_slug

MAX_AMOUNT = 100_000_000  # minor units: 1,000,000.00
MAX_STOCK = 1_000_000
NAME_MAX = 120
DESCRIPTION_MAX = 2000
PRICE_HINT = "Write the price as a number such as 12 or 12.50."


def parse_price(text: str | None) -> int:
    """A price typed in major units ("12", "12.5", "12.50") in minor units; never negative."""
    try:
        amount = money.parse_money(text, what="the price", example="12 or 12.50")
    except money.MoneyError:
        # One hint for every typo: the form shows it by the field, with the example.
        raise CatalogueError(PRICE_HINT, "amount") from None
    if amount < 0:
        raise CatalogueError(PRICE_HINT, "amount")
    return amount


@dataclass
class ProductInput:
    """What an admin submits for a product; ``amount`` is in minor units."""

    name: str
    description: str = ""
    kind: str = KIND_ITEM
    active: bool = True
    stock: int | None = None
    amount: int = 0
    interval: str | None = None
    needs_shipping: bool = False
    trial_days: int | None = None
    # The shop card's picture (already stored) and its alt text; None: no picture.
    image_id: int | None = None
    image_alt: str = ""


TRIAL_HINT = (
    f"A free trial is a whole number of days from 1 to {MAX_TRIAL_DAYS} (Stripe's limit), "
    "or empty (or 0) for none."
)


def _check_trial_days(kind: str, trial_days: int | None) -> int | None:
    """The plan's free trial in days, None for none; one-off items have no trial."""
    if trial_days is None or trial_days == 0:
        return None
    if kind != KIND_PLAN:
        raise CatalogueError(
            "Only plans have free trials: a one-off item is paid for at once. Leave it empty.",
            "trial_days",
        )
    if not _is_int(trial_days) or not 1 <= trial_days <= MAX_TRIAL_DAYS:
        raise CatalogueError(TRIAL_HINT, "trial_days")
    return trial_days


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_product_input(data: ProductInput, product: Product | None) -> ProductInput:
    """Validate everything before anything changes; return the cleaned input."""
    name = (data.name or "").strip()
    if not name:
        raise CatalogueError("Give the product a name.", "name")
    if len(name) > NAME_MAX:
        raise CatalogueError(f"Keep the name under {NAME_MAX} characters.", "name")
    if not slugify(name):
        raise CatalogueError("Use at least one letter or digit in the name.", "name")
    description = (data.description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise CatalogueError(
            f"Keep the description under {DESCRIPTION_MAX:,} characters.", "description"
        )
    if data.kind not in KINDS:
        raise CatalogueError("Choose whether this is a plan or a one-off item.", "kind")
    if product is not None and product.kind != data.kind:
        raise CatalogueError(
            "A product cannot change between plan and one-off item (Stripe bills them "
            "differently). Make a new product instead.",
            "kind",
        )
    interval = data.interval or None
    stock = data.stock
    if data.kind == KIND_PLAN:
        if interval not in INTERVALS:
            raise CatalogueError("Choose how often the plan bills: monthly or yearly.", "interval")
        if stock is not None:
            raise CatalogueError("Plans have no stock: leave it empty.", "stock")
        if data.needs_shipping:
            raise CatalogueError(
                "Plans are not posted: only one-off items can be.", "needs_shipping"
            )
    else:
        if interval is not None:
            raise CatalogueError(
                "One-off items have no billing interval: choose “one-off”.", "interval"
            )
        if stock is not None and (not _is_int(stock) or stock < 0 or stock > MAX_STOCK):
            raise CatalogueError(
                f"Stock is a whole number from 0 to {MAX_STOCK:,}, or empty for unlimited.",
                "stock",
            )
    trial_days = _check_trial_days(data.kind, data.trial_days)
    amount = data.amount
    if not _is_int(amount) or amount < 0:
        raise CatalogueError("The price cannot be negative.", "amount")
    if amount > MAX_AMOUNT:
        raise CatalogueError(
            f"That price is too high: at most {money.format_money(MAX_AMOUNT)}.", "amount"
        )
    return ProductInput(
        name=name,
        description=description,
        kind=data.kind,
        active=bool(data.active),
        stock=stock,
        amount=amount,
        interval=interval,
        needs_shipping=bool(data.needs_shipping),
        trial_days=trial_days,
        image_id=data.image_id,
        image_alt=media.clean_alt(data.image_id, data.image_alt),
    )


def save_product(data: ProductInput, product: Product | None = None) -> Product:
    """Create or edit a product; a changed amount or interval retires the old price."""
    with db.session.no_autoflush:
        clean = _check_product_input(data, product)
        if product is None:
            product = Product(kind=clean.kind, slug=unique_slug(Product, slugify(clean.name)))
            db.session.add(product)
        product.name = clean.name
        product.description = clean.description
        product.active = clean.active
        product.stock = clean.stock
        product.needs_shipping = clean.needs_shipping
        product.trial_days = clean.trial_days
        product.image_id = clean.image_id
        product.image_alt = clean.image_alt
        current = product.price
        code = money.currency()
        if (
            current is None
            or current.amount != clean.amount
            or current.interval != clean.interval
            or current.currency.lower() != code
        ):
            for price in product.prices:
                price.active = False
            product.prices.append(
                Price(amount=clean.amount, currency=code, interval=clean.interval, active=True)
            )
    try:
        db.session.commit()
    except IntegrityError as error:
        # Two admins creating the same name at once: the slug's unique index decides.
        db.session.rollback()
        raise CatalogueError(
            "A product with that name was just added. Try again.", "name"
        ) from error
    return product
