"""The back-office dashboard's figures, each counted or summed by the database.

Every function takes ``now`` (naive UTC) and returns plain dataclasses; none loops
over rows in Python. "The last 30 days" is the 30 calendar days (UTC) up to and
including today, so the daily delivery chart adds up to the headline figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import (
    DateTime,
    Integer,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from shop.accounts.models import ROLE_READER, User
from shop.articles.models import Tag
from shop.billing.access import paying_clause
from shop.billing.models import (
    ACCESS_STATUSES,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionChange,
)
from shop.catalogue.models import Price
from shop.extensions import db
from shop.money import currency
from shop.preferences.mailing import reachable
from shop.preferences.models import DigestPreference, Frequency, preference_tags
from shop.sending.models import Delivery, DeliveryStatus, Run

WINDOW_DAYS = 30
GROWTH_WEEKS = 12
REVENUE_MONTHS = 12
TOP_TAGS = 10

# The frequencies that send mail; "off" is a preference, not a subscription.
MAILED_FREQUENCIES = (Frequency.INSTANT, Frequency.DAILY, Frequency.WEEKLY)
DELIVERY_OUTCOMES = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)
SETTLED_PAYMENTS = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
CANCELED = "canceled"

# Months per billing interval, as a fraction numerator/denominator: a price for one
# interval times numerator/denominator is its monthly equivalent.
MONTHLY_FACTOR = {"day": (365, 12), "week": (52, 12), "month": (1, 1), "year": (1, 12)}

Bucket = Literal["day", "month"]


# --- data --------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """The figures at the top of the dashboard; money in minor units."""

    subscribers_by_frequency: dict[str, int]
    everything_followers: int
    paying_subscribers: int
    mrr: int
    revenue: int
    new_accounts: int
    cancellations: int
    sent: int
    failed: int
    bounced: int
    unsubscribes: int
    currency: str
    since: datetime

    @property
    def subscribers(self) -> int:
        """Reachable digest subscribers, all frequencies together."""
        return sum(self.subscribers_by_frequency.values())


@dataclass(frozen=True)
class Growth:
    """Reader accounts and paying subscribers as they stood at the end of each week."""

    points: list[datetime]
    accounts: list[int]
    paying: list[int]


@dataclass(frozen=True)
class MonthlyRevenue:
    """Net revenue (payments less refunds) per calendar month, oldest first."""

    months: list[date]
    amounts: list[int]
    currency: str


@dataclass(frozen=True)
class DailyDeliveries:
    """Deliveries per day and outcome, oldest day first."""

    days: list[date]
    counts: dict[DeliveryStatus, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class TagFollowing:
    """The tags most followed by reachable subscribers, most followed first."""

    names: list[str]
    followers: list[int]


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows."""

    now: datetime
    headline: Headline
    growth: Growth
    revenue: MonthlyRevenue
    deliveries: DailyDeliveries
    tags: TagFollowing


# --- helpers -------------------------------------------------------------------------


def bucket(column, unit: Bucket) -> ColumnElement[str]:
    """SQL text naming the day ("2026-03-05") or month ("2026-03") of a timestamp column."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return func.to_char(column, "YYYY-MM-DD" if unit == "day" else "YYYY-MM")
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m", column)
    raise NotImplementedError(f"No date bucketing for the {dialect} dialect.")


def window_start(now: datetime) -> datetime:
    """Midnight at the start of the first of the last 30 calendar days."""
    return datetime.combine(now.date() - timedelta(days=WINDOW_DAYS - 1), time())


def _between(column, since: datetime, now: datetime) -> ColumnElement[bool]:
    return and_(column >= since, column <= now)


def _reachable() -> ColumnElement[bool]:
    """(preference, user) reachable on any mailed frequency: newsletter's own rule."""
    return and_(DigestPreference.frequency.in_(MAILED_FREQUENCIES), *reachable())


def _net_amount() -> ColumnElement[int]:
    return Payment.amount - Payment.amount_refunded


def _our_payments() -> ColumnElement[bool]:
    # One currency per publication: a stray payment in another must not be added in.
    return and_(Payment.status.in_(SETTLED_PAYMENTS), func.lower(Payment.currency) == currency())


def _delivery_time() -> ColumnElement[datetime]:
    """When a delivery happened: sent_at if sent, else its run's start (none is kept)."""
    return func.coalesce(Delivery.sent_at, Run.started_at, Run.created_at)


def _months_back(now: datetime, count: int) -> list[date]:
    """The first day of each of the last ``count`` months, oldest first."""
    index = now.year * 12 + now.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - count + 1, index + 1)]


def _instants(points: list[datetime]):
    """A one-column subquery ``points.at`` holding the given instants, one per row."""
    rows = [select(literal(point, DateTime).label("at")) for point in points]
    return union_all(*rows).subquery("points")


# --- figures -------------------------------------------------------------------------


def subscribers_by_frequency() -> dict[str, int]:
    """Reachable digest subscribers (confirmed, consented, not unsubscribed or suppressed)."""
    rows = db.session.execute(
        select(DigestPreference.frequency, func.count(DigestPreference.id))
        .join(User, User.id == DigestPreference.user_id)
        .where(_reachable())
        .group_by(DigestPreference.frequency)
    ).all()
    counts: dict[str, int] = dict.fromkeys(MAILED_FREQUENCIES, 0)
    counts.update({frequency: n for frequency, n in rows})
    return counts


def everything_followers() -> int:
    """Reachable subscribers who follow every tag rather than chosen ones."""
    count = db.session.scalar(
        select(func.count(DigestPreference.id))
        .join(User, User.id == DigestPreference.user_id)
        .where(_reachable(), DigestPreference.follow_all.is_(True))
    )
    return count or 0


def paying_subscribers() -> int:
    """Readers with paid access now, by the paywall's own rule."""
    count = db.session.scalar(
        select(func.count(distinct(Subscription.user_id))).where(paying_clause())
    )
    return count or 0


def mrr() -> int:
    """Monthly recurring revenue: paying subscriptions' prices, each as a monthly amount."""
    monthly = case(
        *(
            (Price.interval == interval, Price.amount * numerator / float(denominator))
            for interval, (numerator, denominator) in MONTHLY_FACTOR.items()
        ),
        else_=0,
    )
    total = db.session.scalar(
        select(cast(func.round(func.coalesce(func.sum(monthly), 0)), Integer))
        .select_from(Subscription)
        .join(
            Price,
            or_(
                Price.stripe_price_id == Subscription.stripe_price_id,
                # A subscription recorded without its Stripe price (made before the
                # catalogue reached Stripe, as the demo's are) is on its plan's price.
                and_(
                    Subscription.stripe_price_id.is_(None),
                    Price.product_id == Subscription.product_id,
                    Price.active.is_(True),
                ),
            ),
        )
        .where(paying_clause(), func.lower(Price.currency) == currency())
    )
    return int(total or 0)


def headline(now: datetime) -> Headline:
    """The headline figures as of ``now``; windowed ones cover the last 30 days."""
    since = window_start(now)
    revenue = db.session.scalar(
        select(func.coalesce(func.sum(_net_amount()), 0)).where(
            _our_payments(), _between(Payment.paid_at, since, now)
        )
    )
    new_accounts = db.session.scalar(
        select(func.count(User.id)).where(
            User.role == ROLE_READER, _between(User.created_at, since, now)
        )
    )
    # A subscription has no "ended at" column: its change log records the move to canceled.
    cancellations = db.session.scalar(
        select(func.count(distinct(SubscriptionChange.subscription_id))).where(
            SubscriptionChange.status == CANCELED,
            or_(SubscriptionChange.old_status.is_(None), SubscriptionChange.old_status != CANCELED),
            _between(SubscriptionChange.at, since, now),
        )
    )
    outcome_sums = [
        func.coalesce(func.sum(case((Delivery.status == outcome, 1), else_=0)), 0)
        for outcome in DELIVERY_OUTCOMES
    ]
    sent, failed, bounced = db.session.execute(
        select(*outcome_sums)
        .select_from(Delivery)
        .join(Run, Run.id == Delivery.run_id)
        .where(Delivery.status.in_(DELIVERY_OUTCOMES), _between(_delivery_time(), since, now))
    ).one()
    unsubscribes = db.session.scalar(
        select(func.count(DigestPreference.id)).where(
            _between(DigestPreference.unsubscribed_at, since, now)
        )
    )
    return Headline(
        subscribers_by_frequency=subscribers_by_frequency(),
        everything_followers=everything_followers(),
        paying_subscribers=paying_subscribers(),
        mrr=mrr(),
        revenue=int(revenue or 0),
        new_accounts=new_accounts or 0,
        cancellations=cancellations or 0,
        sent=int(sent),
        failed=int(failed),
        bounced=int(bounced),
        unsubscribes=unsubscribes or 0,
        currency=currency(),
        since=since,
    )


def growth(now: datetime, weeks: int = GROWTH_WEEKS) -> Growth:
    """Reader accounts and paying subscribers at ``now`` and at each of the weeks before."""
    points = [now - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    at = _instants(points).c.at
    accounts = db.session.execute(
        select(at, func.count(User.id))
        .select_from(at.table)
        .outerjoin(User, and_(User.role == ROLE_READER, User.created_at <= at))
        .group_by(at)
        .order_by(at)
    ).all()

    # A subscription's status at a past instant is the last change logged by then; one
    # with no log at all (made before the log existed) keeps its current status.
    logged = (
        select(SubscriptionChange.status)
        .where(SubscriptionChange.subscription_id == Subscription.id, SubscriptionChange.at <= at)
        .order_by(SubscriptionChange.at.desc(), SubscriptionChange.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    unlogged = ~exists().where(SubscriptionChange.subscription_id == Subscription.id)
    status_then = func.coalesce(logged, case((unlogged, Subscription.status)))
    paying = db.session.execute(
        select(at, func.count(distinct(Subscription.user_id)))
        .select_from(at.table)
        .outerjoin(
            Subscription,
            and_(Subscription.created_at <= at, status_then.in_(ACCESS_STATUSES)),
        )
        .group_by(at)
        .order_by(at)
    ).all()
    return Growth(
        points=points,
        accounts=[n for _, n in accounts],
        paying=[n for _, n in paying],
    )


def revenue_by_month(now: datetime, months: int = REVENUE_MONTHS) -> MonthlyRevenue:
    """Net revenue in each of the last ``months`` calendar months, this one included."""
    firsts = _months_back(now, months)
    month = bucket(Payment.paid_at, "month")
    rows = db.session.execute(
        select(month, func.sum(_net_amount()))
        .where(
            _our_payments(),
            _between(Payment.paid_at, datetime.combine(firsts[0], time()), now),
        )
        .group_by(month)
    ).all()
    totals = {key: int(amount) for key, amount in rows}
    return MonthlyRevenue(
        months=firsts,
        amounts=[totals.get(first.strftime("%Y-%m"), 0) for first in firsts],
        currency=currency(),
    )


def deliveries_by_day(now: datetime) -> DailyDeliveries:
    """Sent, failed and bounced deliveries on each of the last 30 days."""
    since = window_start(now)
    days = [since.date() + timedelta(days=i) for i in range(WINDOW_DAYS)]
    day = bucket(_delivery_time(), "day")
    rows = db.session.execute(
        select(day, Delivery.status, func.count(Delivery.id))
        .select_from(Delivery)
        .join(Run, Run.id == Delivery.run_id)
        .where(Delivery.status.in_(DELIVERY_OUTCOMES), _between(_delivery_time(), since, now))
        .group_by(day, Delivery.status)
    ).all()
    found = {(key, status): n for key, status, n in rows}
    return DailyDeliveries(
        days=days,
        counts={
            outcome: [found.get((d.isoformat(), outcome), 0) for d in days]
            for outcome in DELIVERY_OUTCOMES
        },
    )


def top_tags(limit: int = TOP_TAGS) -> TagFollowing:
    """The tags that most reachable subscribers follow by choice (not "everything")."""
    followers = func.count(DigestPreference.id)
    rows = db.session.execute(
        select(Tag.name, followers)
        .join(preference_tags, preference_tags.c.tag_id == Tag.id)
        .join(DigestPreference, DigestPreference.id == preference_tags.c.preference_id)
        .join(User, User.id == DigestPreference.user_id)
        .where(_reachable(), DigestPreference.follow_all.is_(False))
        .group_by(Tag.id, Tag.name)
        .order_by(followers.desc(), Tag.name)
        .limit(limit)
    ).all()
    return TagFollowing(names=[name for name, _ in rows], followers=[n for _, n in rows])


def dashboard(now: datetime) -> Dashboard:
    """Every figure and series the dashboard shows, as of ``now``."""
    return Dashboard(
        now=now,
        headline=headline(now),
        growth=growth(now),
        revenue=revenue_by_month(now),
        deliveries=deliveries_by_day(now),
        tags=top_tags(),
    )
