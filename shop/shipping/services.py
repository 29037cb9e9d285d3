"""Shipping rules: what a checkout of posted items asks Stripe for, the address a paid
order keeps, the back office's queue of orders to post, and the rates an admin sets.

Stripe Checkout collects the address and the chosen rate; Broadsheet only says which
countries and rates to offer and keeps what the reader chose. Rates go to Stripe inline
(``shipping_rate_data``) with each session, so nothing has to be kept in sync with it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from babel import Locale
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shop import money
from shop.accounts.models import User
from shop.cart.models import Order, OrderStatus
from shop.catalogue.models import Product
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.mail import MailUnavailableError, send_email
from shop.pagination import Page, paginate
from shop.shipping.address import Address
from shop.shipping.models import Shipment, ShippingRate
from shop.urls import external_url

log = logging.getLogger(__name__)

# Stripe Checkout offers at most five shipping rates in one session.
MAX_CHECKOUT_RATES = 5
RATE_NAME_MAX = 80
MAX_RATE_AMOUNT = 1_000_000  # minor units: 10,000.00 is no postage anyone charges
TRACKING_MAX = 100
# What carriers print on a label: letters, digits, spaces and a few separators.
_TRACKING = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]*")
PER_PAGE = 25
# Orders whose money stands: a refunded order is not posted.
SHIPPABLE_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


class ShippingError(RuleError):
    """A shipping rate or a shipment an admin submitted breaks a rule."""


def allowed_countries() -> list[str]:
    """The countries the shop posts to (``SHIPPING_COUNTRIES``), as ISO 3166 codes."""
    return list(current_app.config["SHIPPING_COUNTRIES"])


def country_name(code: str) -> str:
    """A country's English name from its two-letter code ("GB" -> "United Kingdom")."""
    return Locale.parse("en").territories.get(code.upper(), code.upper())


def is_posted(products: Iterable[Product]) -> bool:
    """Whether any of these products is posted, so the checkout needs an address."""
    return any(product.needs_shipping for product in products)


def active_rates() -> list[ShippingRate]:
    """The rates a checkout offers now, cheapest first."""
    return list(
        db.session.scalars(
            select(ShippingRate)
            .where(ShippingRate.active.is_(True), ShippingRate.currency == money.currency())
            .order_by(ShippingRate.amount, ShippingRate.id)
        )
    )


def all_rates() -> list[ShippingRate]:
    """Every rate, on offer or not, for the back office."""
    return list(
        db.session.scalars(
            select(ShippingRate).order_by(ShippingRate.active.desc(), ShippingRate.amount)
        )
    )


def checkout_fields() -> dict[str, Any]:
    """The Checkout Session fields that make Stripe collect an address and offer the rates.

    With no rate set, postage is free: Stripe still collects the address.
    """
    fields: dict[str, Any] = {
        "shipping_address_collection": {"allowed_countries": allowed_countries()},
    }
    rates = active_rates()[:MAX_CHECKOUT_RATES]
    if rates:
        fields["shipping_options"] = [
            {
                "shipping_rate_data": {
                    "type": "fixed_amount",
                    "display_name": rate.name,
                    "fixed_amount": {"amount": rate.amount, "currency": rate.currency},
                    "metadata": {"shipping_rate_id": str(rate.id)},
                }
            }
            for rate in rates
        ]
    return fields


_ADDRESS_FIELDS = ("name", "line1", "line2", "city", "state", "postal_code", "country", "rate_name")


def record_shipment(order: Order, address: Address | None) -> Shipment:
    """Keep where a just-paid order goes; the caller commits.

    An order of posted items that reached us without an address (a session made before
    its product was marked as posted) still joins the queue, so the admin sees it.
    """
    shipment = db.session.scalar(select(Shipment).where(Shipment.order_id == order.id))
    if shipment is None:
        blank = dict.fromkeys(_ADDRESS_FIELDS, "")
        shipment = Shipment(order_id=order.id, amount=0, **blank)
        db.session.add(shipment)
    if address is not None:
        if address.country and address.country not in allowed_countries():
            # Stripe only offers the allowed countries; a setting changed since the
            # session began. The order is paid: keep it and let the admin decide.
            log.warning(
                "Order %s is to be posted to %s, not in SHIPPING_COUNTRIES",
                order.id,
                address.country,
            )
        shipment.name = address.name[:200]
        shipment.line1 = address.line1[:200]
        shipment.line2 = address.line2[:200]
        shipment.city = address.city[:200]
        shipment.state = address.state[:200]
        shipment.postal_code = address.postal_code[:40]
        shipment.country = address.country[:2]
        shipment.rate_name = address.rate_name[:RATE_NAME_MAX]
        shipment.amount = max(0, address.amount)
    return shipment


def shipment_for(order_id: int) -> Shipment | None:
    """The shipment of an order, if it is posted."""
    return db.session.scalar(select(Shipment).where(Shipment.order_id == order_id))


def address_lines(shipment: Shipment) -> list[str]:
    """The address as lines for a label: name, street, town, postcode, country."""
    town = " ".join(part for part in (shipment.city, shipment.state) if part)
    lines = [shipment.name, shipment.line1, shipment.line2, town, shipment.postal_code]
    if shipment.country:
        lines.append(country_name(shipment.country))
    return [line for line in lines if line]


# --- the back office's queue -------------------------------------------------------------


def _queue(shipped: bool) -> Any:
    statement = (
        select(Shipment, Order, User.email)
        .join(Order, Order.id == Shipment.order_id)
        .join(User, User.id == Order.user_id)
        .where(Order.status.in_(SHIPPABLE_STATUSES))
        # Each card lists the order's items: all the page's lines in one more query.
        .options(selectinload(Order.lines))
    )
    if shipped:
        return statement.where(Shipment.shipped_at.is_not(None)).order_by(
            Shipment.shipped_at.desc(), Shipment.id.desc()
        )
    # Oldest paid first: the reader who has waited longest is posted to first.
    return statement.where(Shipment.shipped_at.is_(None)).order_by(Order.paid_at, Order.id)


def to_ship_count() -> int:
    """How many paid orders wait to be posted."""
    waiting = _queue(shipped=False).order_by(None).subquery()
    return db.session.scalar(select(func.count()).select_from(waiting)) or 0


def to_ship(page: int = 1) -> Page:
    """Paid orders still to be posted, oldest first; items are (shipment, order, email)."""
    return paginate(_queue(shipped=False), page, PER_PAGE, rows=True)


def shipped(page: int = 1) -> Page:
    """Orders already posted, newest first; items are (shipment, order, email)."""
    return paginate(_queue(shipped=True), page, PER_PAGE, rows=True)


def clean_tracking(text: str | None) -> str | None:
    """A tracking number as typed, trimmed; None when left empty."""
    value = " ".join((text or "").split())
    if not value:
        return None
    if len(value) > TRACKING_MAX:
        raise ShippingError(
            f"Keep the tracking number under {TRACKING_MAX} characters.", "tracking_number"
        )
    if not _TRACKING.fullmatch(value):
        raise ShippingError(
            "A tracking number has letters, digits, spaces, dots, dashes or slashes only.",
            "tracking_number",
        )
    return value


@dataclass(frozen=True)
class ShipOutcome:
    """What marking an order as posted did: whether it was new, and whether mail went."""

    shipment: Shipment
    newly_shipped: bool
    mailed: bool


def mark_shipped(order_id: int, tracking_text: str | None) -> ShipOutcome:
    """Mark a paid order as posted (or correct its tracking number) and mail the reader."""
    tracking = clean_tracking(tracking_text)
    shipment = shipment_for(order_id)
    order = db.session.get(Order, order_id)
    if shipment is None or order is None:
        raise ShippingError("That order has nothing to post.")
    if order.status not in SHIPPABLE_STATUSES:
        raise ShippingError(
            "That order is not paid (or was refunded in full), so it is not posted."
        )
    newly = shipment.shipped_at is None
    if newly:
        shipment.shipped_at = utcnow()
    shipment.tracking_number = tracking
    db.session.commit()
    return ShipOutcome(
        shipment=shipment, newly_shipped=newly, mailed=_mail_shipped(order, shipment)
    )


def _mail_shipped(order: Order, shipment: Shipment) -> bool:
    """Tell the reader their order is on its way; False if the mail could not go now."""
    user = db.session.get(User, order.user_id)
    assert user is not None  # every order has a reader, and accounts are never deleted
    try:
        return send_email(
            user.email,
            f"Your order {order.id} from {current_app.config['PUBLICATION_NAME']} is on its way",
            "shipped",
            order=order,
            shipment=shipment,
            address=address_lines(shipment),
            account_url=external_url("accounts.account"),
        )
    except MailUnavailableError:
        return False


# --- rates ------------------------------------------------------------------------------


def add_rate(name: str | None, amount_text: str | None) -> ShippingRate:
    """Add a shipping rate on offer from the next checkout."""
    clean = " ".join((name or "").split())
    if not clean:
        raise ShippingError("Name the rate, such as “Standard post”.", "name")
    if len(clean) > RATE_NAME_MAX:
        raise ShippingError(f"Keep the name under {RATE_NAME_MAX} characters.", "name")
    try:
        amount = money.parse_money(amount_text, what="the postage", example="3.50 or 0")
    except money.MoneyError as error:
        raise ShippingError(str(error), "amount") from None
    if not 0 <= amount <= MAX_RATE_AMOUNT:
        raise ShippingError(
            f"Postage is from {money.format_money(0)} to {money.format_money(MAX_RATE_AMOUNT)}.",
            "amount",
        )
    rate = ShippingRate(name=clean, amount=amount, currency=money.currency(), active=True)
    db.session.add(rate)
    db.session.commit()
    return rate


def set_rate_active(rate_id: int, active: bool) -> ShippingRate:
    """Offer a rate again, or stop offering it; orders that used it keep its name."""
    rate = db.session.get(ShippingRate, rate_id)
    if rate is None:
        raise ShippingError("There is no such shipping rate.")
    rate.active = active
    db.session.commit()
    return rate
