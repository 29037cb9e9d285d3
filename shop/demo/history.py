"""Demo history: six months of readers, payments and deliveries, so the back office has a past.

Loaded once by ``flask demo`` (it looks for its own readers first). Everything is
made up and marked as such: the readers' addresses are @example.com, the Stripe ids
start with ``demo_``; nothing here exists at Stripe, so these readers' billing
portal does not open. The numbers come from a seeded generator, so every demo
database tells the same story.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select

from shop.accounts.models import ROLE_READER, User
from shop.articles.models import Tag
from shop.billing.models import (
    Gift,
    GiftStatus,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionChange,
)
from shop.cart.models import Order, OrderLine, OrderStatus
from shop.catalogue.models import KIND_PLAN, Product
from shop.demo.mail_history import digest_runs
from shop.extensions import db
from shop.preferences.models import DigestPreference, Frequency
from shop.shipping.models import Shipment

READERS = 60
DAYS = 180
PREFIX = "demo-reader-"
FIRST_NAMES = [
    "Ada",
    "Ben",
    "Cleo",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lea",
    "Mo",
    "Nia",
    "Oto",
    "Pia",
    "Quin",
    "Rae",
    "Sol",
    "Tia",
    "Uma",
    "Vic",
    "Wes",
    "Xia",
    "Yan",
    "Zoe",
]


def _already_loaded() -> bool:
    return (
        db.session.scalar(select(User.id).where(User.email.like(f"{PREFIX}%")).limit(1)) is not None
    )


def load_history(now: datetime) -> int:
    """Create the demo readers and their history unless they exist; return readers made."""
    if _already_loaded():
        return 0
    rng = random.Random(2026)  # the same story every time
    tags = list(db.session.scalars(select(Tag).order_by(Tag.id)))
    plans = list(
        db.session.scalars(select(Product).where(Product.kind == KIND_PLAN).order_by(Product.id))
    )
    # Not a hash of anything: no password matches it, so no one can log in as them.
    password_hash = "!demo-reader-without-a-password"  # noqa: S105  (a non-hash, on purpose)
    readers: list[User] = []
    for n in range(READERS):
        # More readers joined recently than long ago: the list grows.
        age = int(DAYS * (1 - rng.random() ** 0.6))
        joined = now - timedelta(days=age, hours=rng.randrange(24))
        user = User(
            email=f"{PREFIX}{n + 1:02d}@example.com",
            role=ROLE_READER,
            display_name=f"{rng.choice(FIRST_NAMES)} {chr(65 + n % 26)}.",
            confirmed_at=joined + timedelta(minutes=20) if rng.random() > 0.08 else None,
            digest_consent_at=joined,
            created_at=joined,
        )
        user.password_hash = password_hash
        readers.append(user)
    db.session.add_all(readers)
    db.session.flush()

    for user in readers:
        frequency = rng.choices(
            [Frequency.DAILY, Frequency.WEEKLY, Frequency.INSTANT, Frequency.OFF], [45, 35, 12, 8]
        )[0]
        follow_all = rng.random() < 0.35
        pref = DigestPreference(
            user_id=user.id,
            frequency=frequency,
            weekday=rng.randrange(7),
            follow_all=follow_all,
            covered_until=now - timedelta(days=1),
            created_at=user.created_at,
        )
        if not follow_all and tags:
            pref.tags = rng.sample(tags, k=min(len(tags), rng.randint(1, 3)))
        if rng.random() < 0.06:
            pref.unsubscribed_at = now - timedelta(days=rng.randrange(1, 40))
        db.session.add(pref)

    if plans:
        _subscriptions(rng, readers, plans, now)
    digest_runs(rng, readers, now)
    db.session.commit()
    return len(readers)


def _subscriptions(rng: random.Random, readers: list[User], plans: list[Product], now) -> None:
    """About a quarter of the readers pay; a few have cancelled; each paid every period."""
    payers = [u for u in readers if u.confirmed_at and rng.random() < 0.3]
    for index, user in enumerate(payers):
        plan = plans[0] if rng.random() < 0.75 else plans[-1]
        price = plan.price
        if price is None:
            continue
        months = 12 if price.interval == "year" else 1
        started = user.created_at + timedelta(days=rng.randrange(0, 10))
        cancelled = now - timedelta(days=rng.randrange(2, 28)) if index % 6 == 5 else None
        subscription = Subscription(
            user_id=user.id,
            stripe_subscription_id=f"demo_sub_{user.id}",
            stripe_customer_id=f"demo_cus_{user.id}",
            product_id=plan.id,
            stripe_price_id=price.stripe_price_id,
            status="canceled" if cancelled else "active",
            current_period_end=None,
            canceled_at=cancelled,
            created_at=started,
        )
        db.session.add(subscription)
        db.session.flush()
        db.session.add(
            SubscriptionChange(subscription_id=subscription.id, status="active", at=started)
        )
        if cancelled:
            db.session.add(
                SubscriptionChange(
                    subscription_id=subscription.id,
                    old_status="active",
                    status="canceled",
                    at=cancelled,
                )
            )
        paid_at = started
        end = cancelled or now
        while paid_at <= end:
            period_end = paid_at + timedelta(days=30 * months)
            db.session.add(
                Payment(
                    user_id=user.id,
                    subscription_id=subscription.id,
                    amount=price.amount,
                    currency=price.currency,
                    status=PaymentStatus.PAID,
                    stripe_invoice_id=f"demo_in_{subscription.id}_{paid_at:%Y%m%d}",
                    period_start=paid_at,
                    period_end=period_end,
                    paid_at=paid_at,
                )
            )
            subscription.current_period_end = period_end
            paid_at = period_end


# Posted orders for the back office's shipping queue: (reader number, product slug,
# quantity, days ago, tracking number or None while it waits to be posted).
POSTED_ORDERS = [
    (3, "the-printed-annual", 1, 12, "RM 4821 7730 GB"),
    (7, "tote-bag", 2, 9, "RM 4821 9914 GB"),
    (11, "the-printed-annual", 1, 2, None),
    (15, "tote-bag", 1, 1, None),
]
POSTED_SESSION = "demo_cs_post_"
ADDRESSES = [
    ("14 Harbour Row", "Whitby", "YO21 3PU", "GB"),
    ("220 Elm Street", "Portland, OR", "97205", "US"),
    ("9 Rue Lepic", "Dublin 8", "D08 T6YA", "IE"),
    ("31 Brunswick Street", "Fitzroy VIC", "3065", "AU"),
]


def load_posted_orders(now: datetime) -> int:
    """Paid orders of posted items, two sent with tracking and two waiting; once."""
    made = db.session.scalar(
        select(Order.id).where(Order.stripe_checkout_session_id.like(f"{POSTED_SESSION}%")).limit(1)
    )
    if made is not None:
        return 0
    created = 0
    for index, (number, slug, quantity, days_ago, tracking) in enumerate(POSTED_ORDERS):
        reader = db.session.scalar(
            select(User).where(User.email == f"{PREFIX}{number:02d}@example.com")
        )
        product = db.session.scalar(select(Product).where(Product.slug == slug))
        price = product.price if product is not None else None
        if reader is None or product is None or price is None:
            continue
        paid_at = now - timedelta(days=days_ago, hours=index)
        postage = 350
        order = _paid_order(
            reader,
            f"{POSTED_SESSION}{index + 1}",
            paid_at,
            OrderLine(
                product_id=product.id,
                price_id=price.id,
                name=product.name,
                unit_amount=price.amount,
                quantity=quantity,
            ),
            total=price.amount * quantity + postage,
            currency=price.currency,
        )
        line1, city, postal_code, country = ADDRESSES[index % len(ADDRESSES)]
        db.session.add(
            Shipment(
                order_id=order.id,
                name=reader.display_name or "Demo reader",
                line1=line1,
                line2="",
                city=city,
                state="",
                postal_code=postal_code,
                country=country,
                rate_name="Standard post",
                amount=postage,
                shipped_at=paid_at + timedelta(days=1) if tracking else None,
                tracking_number=tracking,
                created_at=paid_at,
            )
        )
        created += 1
    db.session.commit()
    return created


def _paid_order(
    reader: User, session: str, paid_at: datetime, line: OrderLine, *, total: int, currency: str
) -> Order:
    """A paid one-off demo order of one line, with its payment (demo_ ids, not Stripe's)."""
    order = Order(
        user_id=reader.id,
        status=OrderStatus.PAID,
        mode="payment",
        currency=currency,
        total=total,
        cart_version=0,
        stripe_checkout_session_id=session,
        stripe_payment_intent_id=session.replace("demo_cs_", "demo_pi_"),
        created_at=paid_at - timedelta(minutes=3),
        paid_at=paid_at,
        receipt_sent_at=paid_at,
        lines=[line],
    )
    db.session.add(order)
    db.session.flush()
    db.session.add(
        Payment(
            user_id=reader.id,
            order_id=order.id,
            amount=total,
            currency=currency,
            status=PaymentStatus.PAID,
            stripe_payment_intent_id=order.stripe_payment_intent_id,
            paid_at=paid_at,
        )
    )
    return order


GIFT_SESSION = "demo_cs_gift_"
# (giver's reader number, recipient's name, address, days since paid, days until sent,
# whether it was redeemed)
GIFTS = [
    (4, "Ruth Ellis", "demo-gift-ruth@example.com", 20, -18, True),
    (9, "Omar Haddad", "demo-gift-omar@example.com", 1, 6, False),
]


def load_gifts(now: datetime) -> int:
    """A redeemed gift and one waiting for its day, for the back office's gift list; once."""
    made = db.session.scalar(
        select(Order.id).where(Order.stripe_checkout_session_id.like(f"{GIFT_SESSION}%")).limit(1)
    )
    plan = db.session.scalar(
        select(Product).where(Product.kind == KIND_PLAN).order_by(Product.id).limit(1)
    )
    price = plan.price if plan is not None else None
    if made is not None or plan is None or price is None or price.interval not in ("month", "year"):
        return 0
    months = 1 if price.interval == "month" else 12
    created = 0
    for index, (number, name, email, paid_days, send_in, redeemed) in enumerate(GIFTS):
        giver = db.session.scalar(
            select(User).where(User.email == f"{PREFIX}{number:02d}@example.com")
        )
        if giver is None:
            continue
        paid_at = now - timedelta(days=paid_days)
        order = _paid_order(
            giver,
            f"{GIFT_SESSION}{index + 1}",
            paid_at,
            OrderLine(
                product_id=plan.id,
                name=f"Gift: {plan.name} for {name}"[:120],
                unit_amount=price.amount,
                quantity=1,
            ),
            total=price.amount,
            currency=price.currency,
        )
        send_on = (now + timedelta(days=send_in)).date()
        gift = Gift(
            order_id=order.id,
            buyer_id=giver.id,
            product_id=plan.id,
            plan_name=plan.name,
            months=months,
            amount=price.amount,
            currency=price.currency,
            giver_name=giver.display_name or "A reader",
            recipient_name=name,
            recipient_email=email,
            message="Enjoy the paper: it made my mornings.",
            send_on=send_on,
            status=GiftStatus.REDEEMED if redeemed else GiftStatus.SCHEDULED,
            created_at=paid_at,
        )
        if redeemed:
            recipient = User(
                email=email,
                role=ROLE_READER,
                display_name=name,
                confirmed_at=now + timedelta(days=send_in),
                created_at=now + timedelta(days=send_in),
            )
            recipient.password_hash = "!demo-reader-without-a-password"  # noqa: S105
            db.session.add(recipient)
            db.session.flush()
            sent_at = now + timedelta(days=send_in)
            gift.sent_at = sent_at
            gift.redeemed_at = sent_at + timedelta(hours=3)
            gift.redeemed_by_id = recipient.id
            gift.access_until = sent_at + timedelta(days=30 * months)
        db.session.add(gift)
        created += 1
    db.session.commit()
    return created
