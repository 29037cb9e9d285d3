"""Gift subscriptions: a reader pays for a plan's period for someone else; on the send
date the recipient gets a mail with a single-use redeem link; redeeming makes (or finds)
their member and gives them paid access for the period, with no card and no renewal.

A gift is paid as a one-off (Checkout in payment mode, a one-time price made for the
session), so nothing renews. A refund before it is redeemed revokes it: its link dies.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import selectinload

from shop.accounts.models import ROLE_READER, User
from shop.accounts.services import (
    AccountError,
    check_address,
    clean_display_name,
    find_user_by_email,
    normalise_email,
)
from shop.billing import gateway
from shop.billing.access import has_paid_access, paying_clause
from shop.billing.customers import stripe_customer_id
from shop.billing.errors import BillingError
from shop.billing.models import Gift, GiftStatus, Subscription
from shop.cart.models import Order, OrderLine, OrderStatus
from shop.catalogue import services as catalogue
from shop.catalogue.models import Product
from shop.clock import utcnow
from shop.extensions import db
from shop.install import scoped_key
from shop.pagination import Page, paginate
from shop.urls import external_url

log = logging.getLogger(__name__)

MESSAGE_MAX = 500
# A gift may be scheduled up to a year ahead, and redeemed up to a year after it is sent.
MAX_DAYS_AHEAD = 365
REDEEM_DAYS = 365
PER_PAGE = 25
MONTHS = {"month": 1, "year": 12}


class GiftError(BillingError):
    """A gift the reader asked for breaks a rule; ``field`` names the form field."""


@dataclass
class GiftInput:
    """What the gift form sends."""

    product_id: int | None
    recipient_name: str
    recipient_email: str
    message: str = ""
    send_on: date | None = None
    giver_name: str = ""


def local_today(now: datetime | None = None) -> date:
    """Today (or ``now``, naive UTC) where the publication is: gifts go on its calendar days."""
    zone = ZoneInfo(current_app.config["PUBLICATION_TIMEZONE"])
    if now is None:
        return datetime.now(zone).date()
    return now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()


def _add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (the month's last day when it is shorter)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def period_words(months: int) -> str:
    """ "a month", "a year", "3 months"."""
    if months == 12:
        return "a year"
    return "a month" if months == 1 else f"{months} months"


def gift_plans() -> list[Product]:
    """The plans that can be given: those on sale, monthly or yearly."""
    return [
        p for p in catalogue.plans_on_sale() if p.price is not None and p.price.interval in MONTHS
    ]


def token_hash(token: str) -> str:
    """What is stored of a redeem link's token: its hash, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _check(buyer: User, data: GiftInput) -> tuple[Product, str, str, str, date, str]:
    """The gift's plan, names, address, message and send date, checked; GiftError if not."""
    plan = next((p for p in gift_plans() if p.id == data.product_id), None)
    if plan is None:
        raise GiftError("Choose a plan to give.", "product_id")
    try:
        name = clean_display_name(data.recipient_name, required=True)
    except AccountError:
        raise GiftError(
            "Write the recipient's name (not an email address), under 80 characters.",
            "recipient_name",
        ) from None
    assert name is not None  # required=True
    email = normalise_email(data.recipient_email or "")
    try:
        check_address(email)
    except AccountError as error:
        raise GiftError(str(error), "recipient_email") from None
    recipient = find_user_by_email(email)
    if recipient is not None and has_paid_access(recipient):
        raise GiftError(
            "That reader already has a subscription, so a gift would go unused. Choose "
            "someone else, or give it later.",
            "recipient_email",
        )
    message = (data.message or "").strip()
    if len(message) > MESSAGE_MAX:
        raise GiftError(f"Keep the message under {MESSAGE_MAX} characters.", "message")
    today = local_today()
    send_on = data.send_on or today
    if send_on < today:
        raise GiftError("Choose today or a later day to send it.", "send_on")
    if send_on > today + timedelta(days=MAX_DAYS_AHEAD):
        raise GiftError("A gift can be sent at most a year from today.", "send_on")
    try:
        giver = clean_display_name(data.giver_name or buyer.display_name, required=True)
    except AccountError:
        raise GiftError(
            "Write your name as they will see it (not an email address), under 80 characters.",
            "giver_name",
        ) from None
    assert giver is not None  # required=True
    return plan, name, email, message, send_on, giver


def start_gift_checkout(buyer: User, data: GiftInput) -> str:
    """Make the gift's order and a one-off Checkout Session for it; return its URL."""
    if not gateway.is_configured():
        raise GiftError("Payments are not set up on this site yet.")
    plan, name, email, message, send_on, giver = _check(buyer, data)
    price = plan.price
    assert price is not None and price.interval is not None  # gift_plans() has priced plans
    months = MONTHS[price.interval]
    label = f"Gift: {plan.name}, {period_words(months)}, for {name}"
    order = Order(
        user_id=buyer.id,
        status=OrderStatus.PENDING,
        mode="payment",
        currency=price.currency,
        total=price.amount,
        cart_version=0,  # not a cart's: checking out the cart leaves it alone
        lines=[
            OrderLine(product_id=plan.id, name=label[:120], unit_amount=price.amount, quantity=1)
        ],
    )
    db.session.add(order)
    db.session.flush()
    gift = Gift(
        order_id=order.id,
        buyer_id=buyer.id,
        product_id=plan.id,
        plan_name=plan.name,
        months=months,
        amount=price.amount,
        currency=price.currency,
        giver_name=giver,
        recipient_name=name,
        recipient_email=email,
        message=message,
        send_on=send_on,
        status=GiftStatus.PENDING,
    )
    db.session.add(gift)
    db.session.commit()
    product: dict[str, Any] = (
        {"product": plan.stripe_product_id}
        if plan.stripe_product_id
        else {"product_data": {"name": plan.name}}
    )
    try:
        session = gateway.create_checkout_session(
            {
                "mode": "payment",
                "customer": stripe_customer_id(buyer),
                "client_reference_id": str(order.id),
                "metadata": {"order_id": str(order.id), "gift_id": str(gift.id)},
                "line_items": [
                    {
                        "price_data": {
                            "currency": price.currency,
                            "unit_amount": price.amount,
                            **product,
                        },
                        "quantity": 1,
                    }
                ],
                "payment_intent_data": {"metadata": {"order_id": str(order.id)}},
                "success_url": external_url("billing.success")
                + "?session_id={CHECKOUT_SESSION_ID}",
                "cancel_url": external_url("billing.cancel", order=order.id),
            },
            idempotency_key=scoped_key("gift", order.id, order.created_at),
        )
    except gateway.GatewayError as exc:
        order.status = OrderStatus.ABANDONED
        order.closed_at = utcnow()
        db.session.commit()
        raise GiftError(str(exc)) from exc
    assert session.url is not None  # a new hosted session has a URL
    order.stripe_checkout_session_id = session.id
    order.checkout_url = session.url
    db.session.commit()
    return session.url


def gift_for_order(order_id: int) -> Gift | None:
    """The gift an order paid for, if it was one."""
    return db.session.scalar(select(Gift).where(Gift.order_id == order_id))


def mark_paid(order: Order) -> Gift | None:
    """A gift's order was just paid: schedule it for its date. The caller commits."""
    gift = gift_for_order(order.id)
    if gift is not None and gift.status == GiftStatus.PENDING:
        gift.status = GiftStatus.SCHEDULED
    return gift


def gift_for_token(token: str) -> Gift:
    """The sent gift a redeem link names; GiftError saying why not."""
    gift = db.session.scalar(select(Gift).where(Gift.token_hash == token_hash(token)))
    if gift is None:
        raise GiftError("This gift link is not valid: it may have been replaced by a newer one.")
    if gift.status == GiftStatus.REDEEMED:
        raise GiftError("This gift has already been redeemed.")
    if gift.status == GiftStatus.REVOKED:
        raise GiftError("This gift was cancelled by the person who gave it.")
    if gift.status == GiftStatus.EXPIRED or _expired(gift):
        raise GiftError("This gift has expired: it was not redeemed within a year.")
    return gift


def _expired(gift: Gift) -> bool:
    return gift.sent_at is not None and gift.sent_at < utcnow() - timedelta(days=REDEEM_DAYS)


def redeem(token: str) -> tuple[User, Gift]:
    """Redeem a gift, once: the recipient's member (made now, or found) reads until its end."""
    gift = gift_for_token(token)
    now = utcnow()
    won = db.session.execute(
        update(Gift)
        .where(Gift.id == gift.id, Gift.status == GiftStatus.SENT)
        .values(status=GiftStatus.REDEEMED, redeemed_at=now)
        .execution_options(synchronize_session=False)
    )
    # An UPDATE's result is a CursorResult (with rowcount); Session.execute's type says Result.
    if not cast("CursorResult[Any]", won).rowcount:
        db.session.rollback()
        raise GiftError("This gift has already been redeemed.")
    db.session.refresh(gift)
    user = find_user_by_email(gift.recipient_email)
    if user is None:
        user = User(
            email=gift.recipient_email,
            role=ROLE_READER,
            display_name=gift.recipient_name,
            confirmed_at=now,  # the link reached their inbox
        )
        user.clear_password()
        db.session.add(user)
        db.session.flush()
    elif user.confirmed_at is None:
        user.confirmed_at = now
    gift.redeemed_by_id = user.id
    # A reader still reading an earlier gift gets this one after it.
    current = current_gift_end(user)
    start = max(now, current) if current else now
    gift.access_until = _add_months(start, gift.months)
    db.session.commit()
    return user, gift


def current_gift_end(user: User) -> datetime | None:
    """When the reader's redeemed gifts stop giving access (None: no gift now)."""
    return db.session.scalar(
        select(func.max(Gift.access_until)).where(
            Gift.redeemed_by_id == user.id, Gift.access_until > utcnow()
        )
    )


def has_subscription(user: User) -> bool:
    """Whether the reader pays for a plan of their own (then a gift's end changes nothing)."""
    return (
        db.session.scalar(
            select(Subscription.id).where(Subscription.user_id == user.id, paying_clause()).limit(1)
        )
        is not None
    )


def current_gift(user: User) -> Gift | None:
    """The reader's gift that gives access now and ends last, for the account page."""
    return db.session.scalar(
        select(Gift)
        .where(Gift.redeemed_by_id == user.id, Gift.access_until > utcnow())
        .order_by(Gift.access_until.desc())
        .limit(1)
    )


def revoke_for_refund(order_id: int) -> bool:
    """A refunded gift not yet redeemed is revoked: its link stops working. The caller commits."""
    gift = gift_for_order(order_id)
    if gift is None or gift.status not in (
        GiftStatus.SCHEDULED,
        GiftStatus.SENT,
        GiftStatus.PENDING,
    ):
        return False
    # The link is kept so that it says the gift was cancelled, rather than "not valid".
    gift.status = GiftStatus.REVOKED
    return True


def gift_list(status: str | None, page: int) -> Page:
    """Gifts for the back office, newest first, paid ones only unless asked for pending."""
    # The list shows each giver's address: theirs in one more query, not one per row.
    query = (
        select(Gift)
        .options(selectinload(Gift.buyer))
        .order_by(Gift.created_at.desc(), Gift.id.desc())
    )
    if status:
        query = query.where(Gift.status == status)
    else:
        query = query.where(Gift.status != GiftStatus.PENDING)
    return paginate(query, page, PER_PAGE)
