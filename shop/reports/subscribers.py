"""The back office's list of readers as subscribers: filters, rows and the CSV export.

Every list is read in a fixed number of queries whatever its length: one for the rows
(preference, latest subscription, plan and last digest joined in), one for the count, and
one for the followed tags of the rows at hand. The export streams the same rows in batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import aliased

from shop.accounts.models import ROLE_ADMIN, User
from shop.articles.models import Tag
from shop.billing.access import paying_users_select
from shop.billing.models import Subscription
from shop.catalogue.models import Price, Product
from shop.errors import RuleError
from shop.extensions import db
from shop.pagination import Page, paginate
from shop.preferences.mailing import reachable
from shop.preferences.models import DigestPreference, Frequency, preference_tags
from shop.preferences.services import WEEKDAYS
from shop.sending.models import Delivery, DeliveryStatus

PER_PAGE = 50
EXPORT_BATCH = 1000  # rows read from the database at a time while exporting
SEARCH_MAX = 254  # the longest address there can be; longer searches cannot match more

NO_PREFERENCE = "none"  # the frequency filter for readers who never had a preference row
FREQUENCY_FILTERS = (*Frequency, NO_PREFERENCE)
PAYING_FILTERS = ("yes", "no")


class StatusFilter(StrEnum):
    """The list's status filter: readers who would be mailed, or why they would not."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    UNCONFIRMED = "unconfirmed"


EXPORT_HEADER = [
    "email",
    "name",
    "confirmed",
    "plan",
    "subscription_status",
    "frequency",
    "followed_tags",
    "last_digest",
    "hard_bounces",
    "suppressed",
    "created_at",
]


class SubscriberError(RuleError):
    """A back-office rule about a subscriber was broken, or a filter is unknown."""


@dataclass(frozen=True)
class Filters:
    """The list's search and filters, already checked."""

    q: str = ""
    frequency: str = ""
    status: str = ""
    paying: str = ""

    def as_args(self) -> dict[str, str]:
        """The filters that are set, as query-string arguments for links."""
        return {key: value for key, value in vars(self).items() if value}

    @property
    def active(self) -> bool:
        """Whether any search or filter narrows the list."""
        return bool(self.as_args())


def parse_filters(args: Mapping[str, str]) -> Filters:
    """Check the query string's search and filters; SubscriberError names a bad one."""
    q = (args.get("q") or "").strip()[:SEARCH_MAX]
    chosen: dict[str, str] = {}
    for name, allowed in (
        ("frequency", FREQUENCY_FILTERS),
        ("status", tuple(StatusFilter)),
        ("paying", PAYING_FILTERS),
    ):
        value = (args.get(name) or "").strip()
        if value and value not in allowed:
            raise SubscriberError(
                f"There is no {name} filter “{value[:40]}”. Choose one of: {', '.join(allowed)}.",
                name,
            )
        chosen[name] = value
    return Filters(q=q, **chosen)


@dataclass(frozen=True)
class SubscriberRow:
    """One reader as the list and the export show them."""

    id: int
    email: str
    display_name: str | None
    role: str
    confirmed_at: datetime | None
    created_at: datetime
    has_preference: bool
    frequency: str | None
    weekday: int | None
    follow_all: bool | None
    unsubscribed_at: datetime | None
    suppressed_at: datetime | None
    hard_bounces: int
    plan: str | None
    subscription_status: str | None
    last_digest: datetime | None
    tags: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        """Whether the account may use the back office."""
        return self.role == ROLE_ADMIN

    @property
    def is_confirmed(self) -> bool:
        """Whether the reader confirmed their address."""
        return self.confirmed_at is not None

    @property
    def frequency_label(self) -> str:
        """How often they get the digest, with the weekday for weekly ones."""
        return frequency_label(self.frequency, self.weekday)

    @property
    def followed_label(self) -> str:
        """Their followed tags, "everything", or "" without a preference."""
        if not self.has_preference:
            return ""
        return "everything" if self.follow_all else ", ".join(self.tags)


def frequency_label(frequency: str | None, weekday: int | None) -> str:
    """A frequency as people read it: "weekly (Monday)"; "" for no preference."""
    if frequency is None:
        return ""
    if frequency == Frequency.WEEKLY and weekday is not None and 0 <= weekday < len(WEEKDAYS):
        return f"{frequency} ({WEEKDAYS[weekday]})"
    return frequency


# --- the list and the export ---------------------------------------------------------


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE conditions on (user, outer-joined preference) for the search and filters."""
    conditions: list[ColumnElement[bool]] = []
    if filters.q:
        conditions.append(
            User.email.icontains(filters.q, autoescape=True)
            | User.display_name.icontains(filters.q, autoescape=True)
        )
    if filters.frequency == NO_PREFERENCE:
        conditions.append(DigestPreference.id.is_(None))
    elif filters.frequency:
        conditions.append(DigestPreference.frequency == filters.frequency)
    if filters.status == StatusFilter.SUBSCRIBED:
        # The digest selection's own rule, so "subscribed" means "would be mailed".
        conditions.extend((DigestPreference.frequency != Frequency.OFF, *reachable()))
    elif filters.status == StatusFilter.UNSUBSCRIBED:
        conditions.append(DigestPreference.unsubscribed_at.is_not(None))
    elif filters.status == StatusFilter.SUPPRESSED:
        conditions.append(DigestPreference.suppressed_at.is_not(None))
    elif filters.status == StatusFilter.UNCONFIRMED:
        conditions.append(User.confirmed_at.is_(None))
    if filters.paying == "yes":
        conditions.append(User.id.in_(paying_users_select()))
    elif filters.paying == "no":
        # Subscription.user_id is never NULL, so NOT IN cannot silently match nothing.
        conditions.append(User.id.not_in(paying_users_select()))
    return conditions


def _latest_subscription():
    """A subquery: each reader's newest subscription (one row per reader)."""
    ranked = select(
        Subscription.user_id,
        Subscription.status,
        Subscription.product_id,
        Subscription.stripe_price_id,
        func.row_number()
        .over(
            partition_by=Subscription.user_id,
            order_by=(Subscription.created_at.desc(), Subscription.id.desc()),
        )
        .label("rank"),
    ).subquery("ranked_subscriptions")
    return select(ranked).where(ranked.c.rank == 1).subquery("latest_subscription")


def plan_name(product_id, stripe_price_id) -> tuple[Any, list[tuple[Any, Any]]]:
    """The plan's name, and the outer joins that reach it.

    A subscription names its product once the webhook knew the price; before that only
    Stripe's price id links it to the catalogue, so both roads are tried.
    """
    product = aliased(Product)
    price = aliased(Price)
    price_product = aliased(Product)
    joins = [
        (product, product.id == product_id),
        (price, price.stripe_price_id == stripe_price_id),
        (price_product, price_product.id == price.product_id),
    ]
    return func.coalesce(product.name, price_product.name), joins


def _last_digests():
    """A subquery: when each reader's newest sent delivery went out."""
    return (
        select(Delivery.user_id, func.max(Delivery.sent_at).label("last_sent"))
        .where(Delivery.status == DeliveryStatus.SENT)
        .group_by(Delivery.user_id)
        .subquery("last_digests")
    )


def _rows_select(filters: Filters) -> Select:
    """Every column of the list, one row per account, with the filters applied."""
    latest = _latest_subscription()
    last = _last_digests()
    plan, plan_joins = plan_name(latest.c.product_id, latest.c.stripe_price_id)
    query = (
        select(
            User.id,
            User.email,
            User.display_name,
            User.role,
            User.confirmed_at,
            User.created_at,
            DigestPreference.id.label("preference_id"),
            DigestPreference.frequency,
            DigestPreference.weekday,
            DigestPreference.follow_all,
            DigestPreference.unsubscribed_at,
            DigestPreference.suppressed_at,
            func.coalesce(DigestPreference.hard_bounces, 0).label("hard_bounces"),
            plan.label("plan"),
            latest.c.status.label("subscription_status"),
            last.c.last_sent,
        )
        .select_from(User)
        .outerjoin(DigestPreference, DigestPreference.user_id == User.id)
        .outerjoin(latest, latest.c.user_id == User.id)
    )
    for target, on in plan_joins:
        query = query.outerjoin(target, on)
    return query.outerjoin(last, last.c.user_id == User.id).where(*_conditions(filters))


def _tags_by_user(rows: Sequence[Any]) -> dict[int, tuple[str, ...]]:
    """The followed tag names of these rows' readers, in one query for them all."""
    # Readers who follow everything keep their chosen tags (to restore them later), but
    # nothing is sent by them, so only the others' are read.
    wanted = [r.id for r in rows if r.preference_id is not None and not r.follow_all]
    if not wanted:
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    query = (
        select(DigestPreference.user_id, Tag.name)
        .join(preference_tags, preference_tags.c.preference_id == DigestPreference.id)
        .join(Tag, Tag.id == preference_tags.c.tag_id)
        .where(DigestPreference.user_id.in_(wanted))
        .order_by(Tag.name)
    )
    for user_id, name in db.session.execute(query):
        found[user_id].append(name)
    return {user_id: tuple(names) for user_id, names in found.items()}


def _row(raw: Any, tags: dict[int, tuple[str, ...]]) -> SubscriberRow:
    return SubscriberRow(
        id=raw.id,
        email=raw.email,
        display_name=raw.display_name,
        role=raw.role,
        confirmed_at=raw.confirmed_at,
        created_at=raw.created_at,
        has_preference=raw.preference_id is not None,
        frequency=raw.frequency,
        weekday=raw.weekday,
        follow_all=raw.follow_all,
        unsubscribed_at=raw.unsubscribed_at,
        suppressed_at=raw.suppressed_at,
        hard_bounces=raw.hard_bounces,
        plan=raw.plan,
        subscription_status=raw.subscription_status,
        last_digest=raw.last_sent,
        tags=tags.get(raw.id, ()),
    )


def subscriber_page(filters: Filters, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """One page of readers matching the filters, newest accounts first."""
    # Counted without the plan and last-digest joins, which the filters do not need.
    count = (
        select(func.count(User.id))
        .select_from(User)
        .outerjoin(DigestPreference, DigestPreference.user_id == User.id)
        .where(*_conditions(filters))
    )
    query = _rows_select(filters).order_by(User.created_at.desc(), User.id.desc())
    result = paginate(query, page, per_page, count=count, rows=True)
    tags = _tags_by_user(result.items)
    result.items = [_row(r, tags) for r in result.items]
    return result


def export_rows(filters: Filters) -> Iterator[list[Any]]:
    """The export's rows (see EXPORT_HEADER), read from the database a batch at a time."""
    query = _rows_select(filters).order_by(User.id).execution_options(yield_per=EXPORT_BATCH)
    # Core, not the ORM: plain rows need no entity loading, which would hold each batch
    # again while it is turned into ORM tuples.
    result = db.session.connection().execute(query)
    try:
        while True:
            # fetchmany rather than partitions(): partitions() keeps the batch it yielded
            # while it reads the next, so two would be held at once.
            batch = result.fetchmany(EXPORT_BATCH)
            if not batch:
                break
            tags = _tags_by_user(batch)
            for raw in batch:
                yield _export_row(_row(raw, tags))
            del batch, tags, raw  # let this batch go before the next is read
    finally:
        # A download cut short must not leave the server-side cursor open.
        result.close()


def _export_row(row: SubscriberRow) -> list[Any]:
    return [
        row.email,
        row.display_name,
        row.is_confirmed,
        row.plan,
        row.subscription_status,
        row.frequency,
        row.followed_label,
        row.last_digest,
        row.hard_bounces,
        row.suppressed_at is not None,
        row.created_at,
    ]
