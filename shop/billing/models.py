"""Stripe customers, subscriptions, payments and the processed-event record."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.cart.models import Order
from shop.catalogue.models import Product
from shop.clock import utcnow
from shop.extensions import Model

# Stripe's subscription statuses that give a reader access (past_due only within grace).
ACCESS_STATUSES = ("active", "trialing")


class PaymentStatus(StrEnum):
    """Whether a payment still stands whole, or was refunded in full or in part."""

    PAID = "paid"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class Customer(Model):
    """The Stripe Customer of a user, created once and kept."""

    __tablename__ = "billing_customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Usually one per reader; a guest checkout by a reader's address adds the customer
    # Stripe made for it, so that its subscription and payments find the reader too.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class Subscription(Model):
    """A reader's plan subscription, mirrored from Stripe's own state."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(64), unique=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(64), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    stripe_price_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24), index=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    current_period_end: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    # When its free trial ends or ended (None: it had none), as Stripe says.
    trial_end: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    product: Mapped[Product | None] = relationship()
    changes: Mapped[list[SubscriptionChange]] = relationship(
        back_populates="subscription",
        cascade="all, delete-orphan",
        order_by="SubscriptionChange.id",
    )


class SubscriptionChange(Model):
    """One status change of a subscription, kept for the back office's history."""

    __tablename__ = "subscription_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    old_status: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(24))
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    subscription: Mapped[Subscription] = relationship(back_populates="changes")


class Payment(Model):
    """Money received: a one-off checkout or a subscription invoice, first or renewal."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[int]  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    amount_refunded: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(24), default=PaymentStatus.PAID)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    paid_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    user: Mapped[User | None] = relationship()
    order: Mapped[Order | None] = relationship()
    subscription: Mapped[Subscription | None] = relationship()


class StripeEvent(Model):
    """A Stripe event already processed; written in the same transaction as its effects."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime | None]
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class GiftStatus(StrEnum):
    """Where a gift subscription is, from its checkout to its end."""

    PENDING = "pending"  # its checkout is open (or was left): not paid
    SCHEDULED = "scheduled"  # paid; mailed to the recipient on its send date
    SENT = "sent"  # the recipient has the mail and its redeem link
    REDEEMED = "redeemed"  # the recipient reads, until access_until
    EXPIRED = "expired"  # sent, but not redeemed in time
    REVOKED = "revoked"  # refunded before it was redeemed


class Gift(Model):
    """A plan's period bought for someone else: mailed on a date, redeemed by a link."""

    __tablename__ = "gifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    # The plan as it was bought: its name, how many months it gives, what it cost.
    plan_name: Mapped[str] = mapped_column(String(120))
    months: Mapped[int]
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # The giver's name as the recipient sees it, and the recipient's.
    giver_name: Mapped[str] = mapped_column(String(80))
    recipient_name: Mapped[str] = mapped_column(String(80))
    recipient_email: Mapped[str] = mapped_column(String(254), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    send_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default=GiftStatus.PENDING, index=True)
    # Only a SHA-256 of the redeem link's token; a new link (a resend) replaces it.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    sent_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    redeemed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    access_until: Mapped[datetime | None] = mapped_column(index=True)
    reminder_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    buyer: Mapped[User] = relationship(foreign_keys=[buyer_id])
    order: Mapped[Order] = relationship()


class ComplimentaryAccess(Model):
    """Paid access given for nothing (a member brought over from another platform, a
    contributor): it counts as a plan until ``until``, or for good when that is empty."""

    __tablename__ = "complimentary_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    until: Mapped[datetime | None] = mapped_column(index=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()
