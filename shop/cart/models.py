"""Carts and what a cart becomes at checkout: an order and its lines.

Money is integer minor units in the publication's one currency.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalogue.models import Product
from shop.clock import utcnow
from shop.extensions import Model


class OrderStatus(StrEnum):
    """Where an order is, from an open checkout to paid, closed or refunded."""

    PENDING = "pending"  # checkout session open, stock reserved
    PAID = "paid"
    FAILED = "failed"  # a delayed payment failed
    ABANDONED = "abandoned"  # session expired or replaced; reservation released
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class Cart(Model):
    """A reader's cart, held on the server: by user, or by a signed cookie's token."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Bumped on every change; a checkout attempt is keyed by the order and this.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartItem.id"
    )


class CartItem(Model):
    """One product and its quantity in a cart."""

    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id", name="uq_cart_items_cart_product"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(default=1)

    cart: Mapped[Cart] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


class Order(Model):
    """A checkout attempt and, once paid, a purchase; it snapshots lines and prices."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None only while a guest's checkout is open: fulfilment finds or makes the reader.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default=OrderStatus.PENDING, index=True)
    # A guest checkout: a SHA-256 of the key its browser holds, and the cart it came from.
    guest_key_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    # Whether paying made the guest's reader (then their browser is logged in), and when
    # that browser was welcomed (logged in, or mailed a link to log in).
    guest_made_reader: Mapped[bool] = mapped_column(default=False, server_default=false())
    guest_welcomed_at: Mapped[datetime | None]
    mode: Mapped[str] = mapped_column(String(16))  # payment or subscription
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int]  # minor units
    amount_refunded: Mapped[int] = mapped_column(default=0)
    cart_version: Mapped[int]
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64))
    # When the Checkout Session stops taking payment (None: Stripe's default, 24 hours).
    # Set for orders that hold stock, so the units come back soon after it passes.
    checkout_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  # abandoned or failed
    receipt_sent_at: Mapped[datetime | None]
    # The free trial this checkout gives its plan, in days (None: none): its plan line is
    # not charged today, so it is not in ``total``.
    trial_days: Mapped[int | None]
    # Where the reader was when they chose to pay (a checked path on this site, such as the
    # story a paywall stood in front of): the success page takes them back there.
    return_path: Mapped[str | None] = mapped_column(String(2048))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )


class OrderLine(Model):
    """A product, its price and quantity as they were at checkout."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    price_id: Mapped[int | None] = mapped_column(ForeignKey("prices.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(120))
    unit_amount: Mapped[int]
    quantity: Mapped[int]
    interval: Mapped[str | None] = mapped_column(String(8))
    stripe_price_id: Mapped[str | None] = mapped_column(String(64))
    # Units taken from Product.stock for this line while the checkout is open.
    reserved: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()

    @property
    def amount(self) -> int:
        """The line's total in minor units."""
        return self.unit_amount * self.quantity
