"""Orders for the back office: the list with search and filters, one order, the CSV export.

Every list is one SQL query (and one more for the page's lines), whatever its length:
the reader's email, the subscription's state and the reason an order needs attention
come from joins and a CASE expression, never from a query per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal_column, or_, select
from sqlalchemy.orm import selectinload

from shop.accounts.models import User
from shop.billing.models import Payment, Subscription
from shop.billing.refunds import refundable_amount
from shop.cart.models import Order, OrderLine, OrderStatus
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.money import to_major
from shop.pagination import Page, paginate
from shop.shipping import services as shipping
from shop.shipping.models import Shipment

PER_PAGE = 25
EXPORT_BATCH = 1000  # rows fetched from the database at a time while streaming
SEARCH_MAX = 200

# A Checkout Session lives 24 hours; one still open after an hour has most likely been
# left, yet it holds its stock until Stripe expires it (or its paid webhook went astray).
STALE_CHECKOUT = timedelta(hours=1)
# A failed payment is worth a look while the reader may still want help, not forever.
RECENT_FAILURE = timedelta(days=7)
# Stripe's subscription statuses that mean renewals are not being paid.
BEHIND_STATUSES = ("past_due", "unpaid")

ATTENTION_OPEN_CHECKOUT = "open_checkout"
ATTENTION_FAILED = "failed"
ATTENTION_PAST_DUE = "past_due"
ATTENTION_NO_PAYMENT = "no_payment"
ATTENTION_PART_REFUNDED = "part_refunded"
ATTENTION_LABELS = {
    ATTENTION_OPEN_CHECKOUT: "Checkout open for over an hour",
    ATTENTION_FAILED: "Payment failed",
    ATTENTION_PAST_DUE: "Subscription past due",
    ATTENTION_NO_PAYMENT: "Paid, but no payment recorded",
    ATTENTION_PART_REFUNDED: "Partly refunded",
}

STATUS_LABELS = {status: status.replace("_", " ").capitalize() for status in OrderStatus}

# Amounts are in the currency's units ("25.00", not 2500 cents), as a spreadsheet sums them.
EXPORT_HEADER = [
    "order_id",
    "email",
    "status",
    "total",
    "currency",
    "amount_refunded",
    "lines",
    "created_at",
    "paid_at",
    "stripe_checkout_session_id",
    "stripe_payment_intent_id",
    "stripe_subscription_id",
    "shipping_rate",
    "shipping_amount",
    "ship_to_name",
    "ship_to_line1",
    "ship_to_line2",
    "ship_to_city",
    "ship_to_state",
    "ship_to_postal_code",
    "ship_to_country",
    "shipped_at",
    "tracking_number",
]

_ORDER_NUMBER = re.compile(r"#?([0-9]{1,9})")


class OrderFilterError(RuleError):
    """A search or filter the order list does not understand."""


@dataclass(frozen=True)
class OrderFilters:
    """What the order list is narrowed to: free text, one status, attention only."""

    q: str = ""
    status: str | None = None
    attention: bool = False

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments, for links that keep them."""
        args: dict[str, str] = {}
        if self.q:
            args["q"] = self.q
        if self.status:
            args["status"] = self.status
        if self.attention:
            args["attention"] = "1"
        return args

    @property
    def active(self) -> bool:
        """Whether anything narrows the list."""
        return bool(self.q or self.status or self.attention)


def filters_from(args: Mapping[str, str]) -> OrderFilters:
    """Read the filters from a query string; OrderFilterError names what is wrong."""
    q = (args.get("q") or "").strip()
    if len(q) > SEARCH_MAX:
        raise OrderFilterError(f"Search for at most {SEARCH_MAX} characters.")
    status = args.get("status") or None
    if status is not None and status not in tuple(OrderStatus):
        raise OrderFilterError(
            "There is no such order status. Choose one of: " + ", ".join(OrderStatus) + "."
        )
    attention = args.get("attention") or ""
    if attention not in ("", "0", "1"):
        raise OrderFilterError("The attention filter takes 1 (orders needing attention) or 0.")
    return OrderFilters(q=q, status=status, attention=attention == "1")


def attention_reason(now: datetime) -> ColumnElement[Any]:
    """Why an order needs attention, as SQL: the first that applies, or NULL.

    An order needs attention when:

    - it is ``pending`` and was created over an hour ago: a checkout left open still
      holds its stock until Stripe expires it, or its "paid" webhook never arrived;
    - it is ``failed`` and closed in the last seven days: a delayed payment (a bank
      debit) failed and the reader may want help;
    - its subscription is ``past_due`` or ``unpaid``: renewals are failing;
    - it is ``paid`` but no payment is recorded for it: nothing here can refund it,
      and Stripe's invoice or payment did not reach us;
    - it is ``partially_refunded``: part of the money went back, the rest is kept,
      which someone should confirm was meant.

    The list shows these orders first, then every other order, each part newest first.
    Subscription must be outer-joined on the order's subscription id by the caller.
    """
    # Constant labels, written into the SQL: as bound parameters PostgreSQL could not
    # tell their type inside a CASE used in ORDER BY.
    label: dict[str, ColumnElement[str]] = {
        key: literal_column(f"'{key}'") for key in ATTENTION_LABELS
    }
    no_payment = ~exists().where(Payment.order_id == Order.id)
    return case(
        (
            and_(Order.status == OrderStatus.PENDING, Order.created_at < now - STALE_CHECKOUT),
            label[ATTENTION_OPEN_CHECKOUT],
        ),
        (
            and_(
                Order.status == OrderStatus.FAILED,
                func.coalesce(Order.closed_at, Order.created_at) >= now - RECENT_FAILURE,
            ),
            label[ATTENTION_FAILED],
        ),
        (Subscription.status.in_(BEHIND_STATUSES), label[ATTENTION_PAST_DUE]),
        (and_(Order.status == OrderStatus.PAID, no_payment), label[ATTENTION_NO_PAYMENT]),
        (Order.status == OrderStatus.PARTIALLY_REFUNDED, label[ATTENTION_PART_REFUNDED]),
        else_=None,
    )


def _search(q: str) -> ColumnElement[bool]:
    """Orders whose reader's email contains ``q``, or whose number or a Stripe id is ``q``."""
    found: list[ColumnElement[bool]] = [func.lower(User.email).contains(q.lower(), autoescape=True)]
    number = _ORDER_NUMBER.fullmatch(q)
    if number:
        found.append(Order.id == int(number.group(1)))
    # Ids are pasted from Stripe's dashboard, whole or their start.
    for column in (
        Order.stripe_checkout_session_id,
        Order.stripe_payment_intent_id,
        Order.stripe_subscription_id,
        Order.stripe_invoice_id,
    ):
        found.append(column.startswith(q, autoescape=True))
    found.append(
        exists().where(
            Payment.order_id == Order.id,
            or_(Payment.stripe_payment_intent_id == q, Payment.stripe_invoice_id == q),
        )
    )
    return or_(*found)


def _listing(filters: OrderFilters, now: datetime) -> Select[Any]:
    """Rows of (order, reader's email, attention reason), attention first, then newest."""
    reason = attention_reason(now)
    query = (
        select(Order, User.email, reason.label("attention"))
        .join(User, User.id == Order.user_id)
        .outerjoin(
            Subscription, Subscription.stripe_subscription_id == Order.stripe_subscription_id
        )
        .order_by(case((reason.is_(None), 1), else_=0), Order.created_at.desc(), Order.id.desc())
    )
    if filters.q:
        query = query.where(_search(filters.q))
    if filters.status:
        query = query.where(Order.status == filters.status)
    if filters.attention:
        query = query.where(reason.is_not(None))
    return query


def lines_summary(lines: list[OrderLine]) -> str:
    """An order's lines on one line: "Tote bag × 2; Supporter × 1"."""
    return "; ".join(f"{line.name} × {line.quantity}" for line in lines)


@dataclass
class OrderRow:
    """One order in the list, with its reader's email and why it needs attention."""

    order: Order
    email: str
    attention: str | None

    @property
    def attention_label(self) -> str:
        """The reason in words, or an empty string."""
        return ATTENTION_LABELS.get(self.attention or "", "")

    @property
    def lines_summary(self) -> str:
        """The order's lines on one line."""
        return lines_summary(self.order.lines)


def admin_orders(
    filters: OrderFilters, page: int = 1, per_page: int | None = None, now: datetime | None = None
) -> Page:
    """One page of orders for the back office: attention first, then newest first."""
    per_page = per_page or PER_PAGE
    query = _listing(filters, now or utcnow()).options(selectinload(Order.lines))
    result = paginate(query, page, per_page, rows=True)
    result.items = [OrderRow(order, email, reason) for order, email, reason in result.items]
    return result


def attention_count(now: datetime | None = None) -> int:
    """How many orders need attention."""
    query = _listing(OrderFilters(attention=True), now or utcnow()).order_by(None)
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


# --- one order -------------------------------------------------------------------------


@dataclass
class PaymentLine:
    """A payment of an order, with what is left to refund of it."""

    payment: Payment
    refundable: int
    renewal: bool  # a later invoice of the order's subscription, not the checkout itself


@dataclass
class OrderDetail:
    """One order with its lines, reader, subscription and payments."""

    order: Order
    email: str
    attention: str | None
    subscription: Subscription | None
    payments: list[PaymentLine]
    shipment: Shipment | None = None
    address: list[str] = field(default_factory=list)

    @property
    def attention_label(self) -> str:
        """The reason in words, or an empty string."""
        return ATTENTION_LABELS.get(self.attention or "", "")

    @property
    def paid(self) -> int:
        """What the order's payments brought in, renewals included, in minor units."""
        return sum(line.payment.amount for line in self.payments)

    @property
    def refunded(self) -> int:
        """What has gone back on the order's payments, renewals included."""
        return sum(line.payment.amount_refunded for line in self.payments)


def _payments_clause(order: Order) -> ColumnElement[bool]:
    """Payments of an order: its checkout's, and its subscription's later invoices."""
    mine = Payment.order_id == order.id
    if not order.stripe_subscription_id:
        return mine
    subscription_ids = select(Subscription.id).where(
        Subscription.stripe_subscription_id == order.stripe_subscription_id
    )
    return or_(mine, Payment.subscription_id.in_(subscription_ids))


def order_detail(order_id: int, now: datetime | None = None) -> OrderDetail | None:
    """An order for its back-office page, or None if there is no such order."""
    row = db.session.execute(
        _listing(OrderFilters(), now or utcnow())
        .where(Order.id == order_id)
        .options(selectinload(Order.lines))
    ).first()
    if row is None:
        return None
    order, email, reason = row
    subscription = None
    if order.stripe_subscription_id:
        subscription = db.session.scalar(
            select(Subscription).where(
                Subscription.stripe_subscription_id == order.stripe_subscription_id
            )
        )
    shipment = shipping.shipment_for(order.id)
    payments = db.session.scalars(
        select(Payment).where(_payments_clause(order)).order_by(Payment.paid_at, Payment.id)
    ).all()
    return OrderDetail(
        order=order,
        email=email,
        attention=reason,
        subscription=subscription,
        payments=[
            PaymentLine(p, refundable_amount(p), renewal=p.order_id != order.id) for p in payments
        ],
        shipment=shipment,
        address=shipping.address_lines(shipment) if shipment is not None else [],
    )


def payment_of(order: Order, payment_id: int | None) -> Payment | None:
    """The order's payment with this id; None if there is none, or it is another order's."""
    if payment_id is None:
        return None
    return db.session.scalar(
        select(Payment).where(Payment.id == payment_id, _payments_clause(order))
    )


# --- export ------------------------------------------------------------------------------


def export_rows(filters: OrderFilters, now: datetime | None = None) -> Iterator[list[Any]]:
    """The filtered orders as CSV rows (``EXPORT_HEADER``), read from the database in batches."""
    query = (
        _listing(filters, now or utcnow())
        .add_columns(Shipment)
        .outerjoin(Shipment, Shipment.order_id == Order.id)
        .options(selectinload(Order.lines))
        .execution_options(yield_per=EXPORT_BATCH)
    )
    for order, email, _reason, shipment in db.session.execute(query):
        yield [
            order.id,
            email,
            order.status,
            to_major(order.total, order.currency),
            order.currency,
            to_major(order.amount_refunded, order.currency),
            lines_summary(order.lines),
            order.created_at,
            order.paid_at,
            order.stripe_checkout_session_id,
            order.stripe_payment_intent_id,
            order.stripe_subscription_id,
            *_shipping_cells(shipment, order.currency),
        ]


def _shipping_cells(shipment: Shipment | None, currency: str) -> list[Any]:
    """The export's shipping columns: empty for an order that is not posted."""
    if shipment is None:
        return [None] * 11
    return [
        shipment.rate_name,
        to_major(shipment.amount, currency),
        shipment.name,
        shipment.line1,
        shipment.line2,
        shipment.city,
        shipment.state,
        shipment.postal_code,
        shipment.country,
        shipment.shipped_at,
        shipment.tracking_number,
    ]
