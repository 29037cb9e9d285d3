"""Stripe customers: one per account, created once and kept."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.billing import gateway
from shop.billing.models import Customer
from shop.extensions import db
from shop.install import scoped_key


def customer_key(user: User) -> str:
    """The idempotency key of the user's Stripe Customer: this install, this account row."""
    # The row's creation time tells a restored database's reused user id apart.
    return scoped_key("customer", user.id, user.created_at)


def stripe_customer_id(user: User, create: bool = True) -> str | None:
    """The user's Stripe Customer id, created once and stored."""
    customer = db.session.scalar(
        select(Customer).where(Customer.user_id == user.id).order_by(Customer.id).limit(1)
    )
    if customer is not None:
        return customer.stripe_customer_id
    if not create:
        return None
    stripe_id = gateway.create_customer(user.email, user.id, idempotency_key=customer_key(user))
    db.session.add(Customer(user_id=user.id, stripe_customer_id=stripe_id))
    try:
        db.session.commit()
    except IntegrityError:
        # Another request created it first; the idempotency key gave both the same id.
        db.session.rollback()
    return stripe_id


def user_for_customer(stripe_customer: str | None) -> User | None:
    """The user a Stripe Customer belongs to."""
    if not stripe_customer:
        return None
    return db.session.scalar(
        select(User).join(Customer).where(Customer.stripe_customer_id == stripe_customer)
    )


def adopt_customer(user: User, stripe_customer: str | None) -> None:
    """Remember that a Stripe Customer (made by a guest checkout) is this reader's."""
    if not stripe_customer or user_for_customer(stripe_customer) is not None:
        return
    with db.session.begin_nested():
        db.session.add(Customer(user_id=user.id, stripe_customer_id=stripe_customer))
