"""What the mail did: opens, clicks, unsubscribes and complaints, per run and per reader.

Every figure is an SQL aggregate over ``mail_events`` (one row per open, click,
unsubscribe or complaint of a delivery). "Opened" counts each delivery once, and a
click counts as an open too: a reader whose client blocks images still clicked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, distinct, func, select

from shop.extensions import db
from shop.sending.models import (
    Delivery,
    DeliveryStatus,
    EventKind,
    MailEvent,
    Run,
    RunLink,
    TrackedLink,
)

RECENT_SENDS = 12  # the dashboard's chart
READER_SENDS = 10  # the subscriber page's "of the last N"


def _readers(*kinds: EventKind) -> ColumnElement[int]:
    """The number of deliveries with at least one event of these kinds."""
    return func.count(distinct(case((MailEvent.kind.in_(kinds), MailEvent.delivery_id))))


def _events(kind: EventKind) -> ColumnElement[int]:
    """The number of events of this kind, repeats included."""
    return func.count(case((MailEvent.kind == kind, MailEvent.id)))


def percent(part: int, whole: int) -> float:
    """``part`` as a percentage of ``whole`` (0 of nothing)."""
    return 100.0 * part / whole if whole else 0.0


@dataclass(frozen=True)
class RunFigures:
    """A run's outcome: what was delivered, and what readers did with it."""

    delivered: int
    bounced: int
    opened: int  # deliveries opened at least once (or clicked)
    opens: int  # every open, repeats included
    clicked: int
    clicks: int
    unsubscribed: int
    complained: int

    def rate(self, part: int) -> str:
        """A figure as a share of the delivered messages: "42.5%"."""
        return f"{percent(part, self.delivered):.1f}%"


def run_figures(run_id: int, accepted: int, bounced: int) -> RunFigures:
    """The run's outcome from the ledger's counts and its events, in one query.

    ``accepted`` and ``bounced`` are the ledger's: messages the relay took, and those it
    refused for good. A bounce the provider reports later moves a message from the one
    to the other.
    """
    *row, late = db.session.execute(
        select(
            _readers(EventKind.OPEN, EventKind.CLICK),
            _events(EventKind.OPEN),
            _readers(EventKind.CLICK),
            _events(EventKind.CLICK),
            _readers(EventKind.UNSUBSCRIBE),
            _readers(EventKind.COMPLAINT),
            _readers(EventKind.BOUNCE),
        )
        .select_from(MailEvent)
        .join(Delivery, Delivery.id == MailEvent.delivery_id)
        .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.SENT)
    ).one()
    return RunFigures(accepted - late, bounced + late, *row)


@dataclass(frozen=True)
class LinkClicks:
    """One link of a run's messages and its clicks."""

    url: str
    readers: int
    clicks: int


def link_clicks(run_id: int) -> list[LinkClicks]:
    """Every link the run's messages carried, the most clicked first."""
    clicks = (
        select(
            MailEvent.link_id,
            func.count(distinct(MailEvent.delivery_id)).label("readers"),
            func.count(MailEvent.id).label("clicks"),
        )
        .join(Delivery, Delivery.id == MailEvent.delivery_id)
        .where(Delivery.run_id == run_id, MailEvent.kind == EventKind.CLICK)
        .group_by(MailEvent.link_id)
        .subquery()
    )
    readers = func.coalesce(clicks.c.readers, 0)
    total = func.coalesce(clicks.c.clicks, 0)
    rows = db.session.execute(
        select(TrackedLink.url, readers, total)
        .join(RunLink, RunLink.link_id == TrackedLink.id)
        .outerjoin(clicks, clicks.c.link_id == TrackedLink.id)
        .where(RunLink.run_id == run_id)
        .order_by(readers.desc(), total.desc(), TrackedLink.url)
    )
    return [LinkClicks(url, r, c) for url, r, c in rows]


@dataclass(frozen=True)
class Send:
    """One run on the dashboard's chart: delivered, opened and clicked."""

    run: Run
    delivered: int
    opened: int
    clicked: int


def recent_sends(limit: int = RECENT_SENDS) -> list[Send]:
    """The newest runs that delivered anything, oldest first, with their opens and clicks."""
    runs = list(
        db.session.scalars(
            select(Run).where(Run.sent > 0).order_by(Run.created_at.desc(), Run.id.desc())
        ).fetchmany(limit)
    )
    ids = [run.id for run in runs]
    found = {
        run_id: (opened, clicked)
        for run_id, opened, clicked in db.session.execute(
            select(
                Delivery.run_id,
                _readers(EventKind.OPEN, EventKind.CLICK),
                _readers(EventKind.CLICK),
            )
            .join(MailEvent, MailEvent.delivery_id == Delivery.id)
            .where(Delivery.run_id.in_(ids))
            .group_by(Delivery.run_id)
        )
    }
    return [Send(run, run.sent, *found.get(run.id, (0, 0))) for run in reversed(runs)]


@dataclass(frozen=True)
class ReaderEngagement:
    """What one reader did with their mail."""

    received: int
    last_open: datetime | None
    last_click: datetime | None
    recent: int  # of their last READER_SENDS delivered messages...
    recent_opened: int  # ...how many they opened
    recent_clicked: int  # ...and clicked


def reader_engagement(user_id: int, last: int = READER_SENDS) -> ReaderEngagement:
    """A reader's mails received, last open and click, and opens of their last sends."""
    sent = (Delivery.user_id == user_id, Delivery.status == DeliveryStatus.SENT)
    received, last_open, last_click = db.session.execute(
        select(
            func.count(distinct(Delivery.id)),
            func.max(case((MailEvent.kind == EventKind.OPEN, MailEvent.at))),
            func.max(case((MailEvent.kind == EventKind.CLICK, MailEvent.at))),
        )
        .select_from(Delivery)
        .outerjoin(MailEvent, MailEvent.delivery_id == Delivery.id)
        .where(*sent)
    ).one()
    recent = select(Delivery.id).where(*sent).order_by(Delivery.id.desc()).limit(last).subquery()
    count, opened, clicked = db.session.execute(
        select(
            func.count(distinct(recent.c.id)),
            _readers(EventKind.OPEN, EventKind.CLICK),
            _readers(EventKind.CLICK),
        )
        .select_from(recent)
        .outerjoin(MailEvent, MailEvent.delivery_id == recent.c.id)
    ).one()
    return ReaderEngagement(received, last_open, last_click, count, opened, clicked)
