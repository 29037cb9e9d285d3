"""Shipping rows: the rates a checkout offers, and where each paid order goes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.cart.models import Order
from shop.clock import utcnow
from shop.extensions import Model


class ShippingRate(Model):
    """A flat rate a reader may choose at checkout, such as "Standard post"."""

    __tablename__ = "shipping_rates"
    __table_args__ = (CheckConstraint("amount >= 0", name="shipping_amount_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    amount: Mapped[int]  # minor units, in the publication's currency
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Shipment(Model):
    """Where a paid order is posted, the rate chosen, and whether it has gone."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    # The address as Stripe Checkout collected it; empty strings for what it left out.
    name: Mapped[str] = mapped_column(String(200), default="")
    line1: Mapped[str] = mapped_column(String(200), default="")
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(40), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    # The rate as it was chosen: its name and what it cost, kept if the rate changes.
    rate_name: Mapped[str] = mapped_column(String(80), default="")
    amount: Mapped[int] = mapped_column(default=0)
    shipped_at: Mapped[datetime | None] = mapped_column(index=True)
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship()
