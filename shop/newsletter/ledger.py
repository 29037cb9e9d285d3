"""The delivery ledger: runs, their deliveries, leases, and what was sent.

A delivery moves queued -> sent (or failed, or bounced). A worker takes a batch
by writing a lease (its name and an expiry) and committing before it sends; on
PostgreSQL the batch is read with ``FOR UPDATE SKIP LOCKED``, so workers never
take the same rows, and a lease that runs out (its worker died) frees the batch.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop.extensions import db
from shop.newsletter.models import (
    DELIVERY_BOUNCED,
    DELIVERY_FAILED,
    DELIVERY_QUEUED,
    DELIVERY_SENT,
    RUN_DIGEST,
    Delivery,
    DigestPreference,
    MailedArticle,
    Run,
)
from shop.newsletter.selection import Plan
from shop.timeutil import utcnow


def worker_name() -> str:
    """This process's name in leases: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def get_or_create_run(kind: str, period: str, cutoff: datetime, subject: str = "") -> Run:
    """The run for a period, created once even when two processes race to create it."""
    run = db.session.scalar(select(Run).where(Run.kind == kind, Run.period == period))
    if run is not None:
        return run
    run = Run(kind=kind, period=period, cutoff=cutoff, subject=subject)
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        run = db.session.scalar(select(Run).where(Run.kind == kind, Run.period == period))
    return run


def add_deliveries(run: Run, plans: list[Plan]) -> int:
    """Queue a delivery for each plan whose reader has none in this run; return how many."""
    have = set(db.session.scalars(select(Delivery.user_id).where(Delivery.run_id == run.id)))
    rows = [
        {
            "run_id": run.id,
            "user_id": plan.user_id,
            "status": DELIVERY_QUEUED,
            "attempts": 0,
            "article_ids": ",".join(str(a) for a in plan.article_ids),
        }
        for plan in plans
        if plan.user_id not in have
    ]
    statement = _insert_ignoring_duplicates()
    for start in range(0, len(rows), 1000):
        db.session.execute(statement, rows[start : start + 1000])
    refresh_counts(run)
    db.session.commit()
    return len(rows)


def _insert_ignoring_duplicates():
    """INSERT of deliveries that skips a reader another process queued a moment ago."""
    # Two workers may plan the same run at once: (run, reader) is unique, and the
    # second insert of a pair must add nothing rather than fail the whole batch.
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        return insert(Delivery)
    return dialect_insert(Delivery).on_conflict_do_nothing(index_elements=["run_id", "user_id"])


def refresh_counts(run: Run) -> None:
    """Recount a run's totals from its deliveries."""
    counts = dict(
        db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.run_id == run.id)
            .group_by(Delivery.status)
        ).all()
    )
    run.total = sum(counts.values())
    run.sent = counts.get(DELIVERY_SENT, 0)
    run.failed = counts.get(DELIVERY_FAILED, 0)
    run.bounced = counts.get(DELIVERY_BOUNCED, 0)


def _claimable(run_id: int, now: datetime):
    return (
        select(Delivery.id)
        .where(
            Delivery.run_id == run_id,
            Delivery.status == DELIVERY_QUEUED,
            or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.id)
    )


def claim_batch(run_id: int, worker: str, size: int) -> list[Delivery]:
    """Lease up to ``size`` deliveries of a run to this worker, committed; return them."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
    ids = list(
        db.session.scalars(_claimable(run_id, now).limit(size).with_for_update(skip_locked=True))
    )
    if not ids:
        db.session.rollback()
        return []
    # The condition is repeated in the UPDATE, so on databases without row locks
    # (SQLite) two workers that read the same ids still cannot both take one.
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.status == DELIVERY_QUEUED,
            or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
        )
        .values(lease_owner=worker, lease_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.id.in_(ids), Delivery.lease_owner == worker)
            .order_by(Delivery.id)
        )
    )


def waiting_for(run_id: int) -> datetime | None:
    """When a queued delivery that nobody may take yet becomes takeable, if any."""
    now = utcnow()
    row = db.session.execute(
        select(
            func.min(Delivery.lease_expires_at),
            func.min(Delivery.next_attempt_at),
        ).where(
            Delivery.run_id == run_id,
            Delivery.status == DELIVERY_QUEUED,
            or_(Delivery.lease_expires_at > now, Delivery.next_attempt_at > now),
        )
    ).one()
    times = [t for t in row if t is not None and t > now]
    return min(times) if times else None


def mark_sent(delivery: Delivery, run: Run, reply: str) -> None:
    """Record an accepted message (committed with its group by the caller)."""
    now = utcnow()
    delivery.status = DELIVERY_SENT
    delivery.sent_at = now
    delivery.attempts += 1
    delivery.last_reply = reply[:500]
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    for article_id in delivery.articles:
        db.session.add(
            MailedArticle(user_id=delivery.user_id, article_id=article_id, delivery_id=delivery.id)
        )
    if run.kind == RUN_DIGEST:
        # The next digest starts where this one's cutoff was.
        db.session.execute(
            update(DigestPreference)
            .where(
                DigestPreference.user_id == delivery.user_id,
                DigestPreference.covered_until < run.cutoff,
            )
            .values(covered_until=run.cutoff)
            .execution_options(synchronize_session=False)
        )


def mark_transient(delivery: Delivery, reply: str) -> bool:
    """A 4xx or a dropped connection: retry later with backoff; True if it gave up."""
    delivery.attempts += 1
    delivery.last_reply = reply[:500]
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    if delivery.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        delivery.status = DELIVERY_FAILED
        return True
    backoff = current_app.config["MAIL_RETRY_SECONDS"] * 2 ** (delivery.attempts - 1)
    delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff)
    return False


def mark_bounced(delivery: Delivery, reply: str) -> None:
    """A permanent 5xx: bounced; enough hard bounces suppress the address."""
    delivery.status = DELIVERY_BOUNCED
    delivery.attempts += 1
    delivery.last_reply = reply[:500]
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    pref = db.session.scalar(
        select(DigestPreference).where(DigestPreference.user_id == delivery.user_id)
    )
    if pref is not None:
        pref.hard_bounces += 1
        if pref.hard_bounces >= current_app.config["MAIL_BOUNCE_LIMIT"] and not pref.suppressed_at:
            pref.suppressed_at = utcnow()
