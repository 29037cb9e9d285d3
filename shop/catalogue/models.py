"""The catalogue's rows: products and their prices. Money is integer minor units."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.clock import utcnow
from shop.extensions import Model
from shop.media.models import Image

KIND_PLAN = "plan"  # a recurring subscription plan
KIND_ITEM = "item"  # a one-off product
KINDS = (KIND_PLAN, KIND_ITEM)

INTERVALS = ("month", "year")

# Stripe's longest free trial (Checkout's subscription_data[trial_period_days]).
MAX_TRIAL_DAYS = 730


class Product(Model):
    """A plan (recurring) or a one-off item in the catalogue."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint(
            f"trial_days IS NULL OR (trial_days >= 1 AND trial_days <= {MAX_TRIAL_DAYS})",
            name="trial_days_in_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140), unique=True, index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(8), default=KIND_ITEM)
    active: Mapped[bool] = mapped_column(default=True)
    # Units left to sell for one-off items (None: unlimited). Checkout reserves by
    # decrementing it atomically; an expired checkout gives the units back.
    stock: Mapped[int | None]
    # A one-off item that is posted: checkout asks for an address and a shipping rate.
    needs_shipping: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Plans only: days free before the first payment (None: no trial). Checkout passes it
    # as subscription_data[trial_period_days]; billing/offers.py decides who gets it.
    trial_days: Mapped[int | None]
    stripe_product_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The picture on the shop's card, and the words that describe it.
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), index=True
    )
    image_alt: Mapped[str] = mapped_column(String(300), default="")

    image: Mapped[Image | None] = relationship(lazy="selectin")
    prices: Mapped[list[Price]] = relationship(
        back_populates="product", order_by="Price.id", cascade="all, delete-orphan"
    )

    @property
    def is_plan(self) -> bool:
        """Whether this is a recurring plan."""
        return self.kind == KIND_PLAN

    @property
    def price(self) -> Price | None:
        """The current price: the newest active one."""
        active = [p for p in self.prices if p.active]
        return active[-1] if active else None

    def __repr__(self) -> str:
        return f"<Product {self.slug}>"


class Price(Model):
    """An amount for a product; immutable once pushed to Stripe, so changes add a row."""

    __tablename__ = "prices"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int]  # minor units (cents)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str | None] = mapped_column(String(8))  # month, year, or None
    active: Mapped[bool] = mapped_column(default=True)
    stripe_price_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="prices")

    def __repr__(self) -> str:
        return f"<Price {self.amount} {self.currency} {self.interval or 'once'}>"
