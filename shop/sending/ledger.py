"""The delivery ledger: runs, their deliveries, leases, and what was sent.

A delivery moves queued -> sent (or failed, or bounced). A worker takes a batch
by writing a lease (its name and an expiry) and committing before it sends; on
PostgreSQL the batch is read with ``FOR UPDATE SKIP LOCKED``, so workers never
take the same rows, and a lease that runs out (its worker died) frees the batch.
What a commit group sent is recorded by a ``SentGroup`` in a few statements,
whatever the size of the group.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError

from shop.clock import utcnow
from shop.extensions import db
from shop.sending.content import Plan, SentRecords
from shop.sending.models import Delivery, DeliveryStatus, Run, join_ids


def worker_name() -> str:
    """This process's name in leases: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def get_or_create_run(kind: str, period: str, cutoff: datetime, subject: str = "") -> Run:
    """The run for a period, created once even when two processes race to create it."""
    run = open_run(kind, period, cutoff, subject)
    db.session.commit()
    return run


def open_run(kind: str, period: str, cutoff: datetime, subject: str = "") -> Run:
    """The run for a period, added but not committed: its caller commits it with its
    deliveries, so no process (a tick resuming runs) ever sees it without its readers."""
    found: Run | None = db.session.scalar(select(Run).where(Run.kind == kind, Run.period == period))
    if found is not None:
        return found
    run: Run = Run(kind=kind, period=period, cutoff=cutoff, subject=subject)
    db.session.add(run)
    try:
        db.session.flush()
    except IntegrityError:
        # Another process created it a moment ago: plan into theirs.
        db.session.rollback()
        theirs: Run | None = db.session.scalar(
            select(Run).where(Run.kind == kind, Run.period == period)
        )
        assert theirs is not None  # the unique (kind, period) the flush ran into
        return theirs
    return run


def add_deliveries(run: Run, plans: list[Plan]) -> int:
    """Queue a delivery for each plan whose reader has none in this run; return how many."""
    have = set(db.session.scalars(select(Delivery.user_id).where(Delivery.run_id == run.id)))
    fresh = [plan for plan in plans if plan.user_id not in have]
    run_id = run.id
    statement = _insert_ignoring_duplicates()
    for start in range(0, len(fresh), 1000):
        # Rows are built a thousand at a time, so a long list never has them all at once.
        rows = [
            {
                "run_id": run_id,
                "user_id": plan.user_id,
                "status": DeliveryStatus.QUEUED.value,
                "attempts": 0,
                "article_ids": join_ids(plan.article_ids),
            }
            for plan in fresh[start : start + 1000]
        ]
        db.session.execute(statement, rows)
    refresh_counts(run)
    db.session.commit()
    return len(fresh)


# The dialects whose INSERT can skip a row that is there already.
_UPSERTING: dict[str, Callable[[Any], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def _insert_ignoring_duplicates() -> Insert:
    """INSERT of deliveries that skips a reader another process queued a moment ago."""
    # Two workers may plan the same run at once: (run, reader) is unique, and the
    # second insert of a pair must add nothing rather than fail the whole batch.
    return insert_ignoring(Delivery, ["run_id", "user_id"])


def insert_ignoring(model: type[Any], unique: list[str]) -> Insert:
    """INSERT into a model's table that skips a row whose ``unique`` columns are there."""
    # Into the table, not the model: the ORM's bulk path does work for each row.
    # (__table__ is typed FromClause, as a class may map a select; this one maps a Table.)
    table = cast("Table", model.__table__)
    upsert = _UPSERTING.get(db.session.get_bind().dialect.name)
    if upsert is None:
        return insert(table)
    statement: Insert = upsert(table).on_conflict_do_nothing(index_elements=unique)
    return statement


def counts_by_status(run_ids: list[int]) -> dict[int, dict[DeliveryStatus, int]]:
    """Each run's deliveries by status, counted now (every status, 0 when it has none)."""
    counts = {run_id: dict.fromkeys(DeliveryStatus, 0) for run_id in run_ids}
    if not run_ids:
        return counts
    rows = db.session.execute(
        select(Delivery.run_id, Delivery.status, func.count())
        .where(Delivery.run_id.in_(run_ids))
        .group_by(Delivery.run_id, Delivery.status)
    )
    for run_id, status, n in rows:
        if status in counts[run_id]:
            counts[run_id][DeliveryStatus(status)] = n
    return counts


def refresh_counts(run: Run) -> None:
    """Recount a run's totals from its deliveries."""
    counts = counts_by_status([run.id])[run.id]
    run.total = sum(counts.values())
    run.sent = counts[DeliveryStatus.SENT]
    run.failed = counts[DeliveryStatus.FAILED]
    run.bounced = counts[DeliveryStatus.BOUNCED]


def lease_free(now: datetime) -> ColumnElement[bool]:
    """Condition on a delivery: no worker holds a live lease on it."""
    return or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now)


def ready(now: datetime) -> ColumnElement[bool]:
    """Condition on a queued delivery: a worker may take it now (no lease, no retry due later)."""
    return and_(
        lease_free(now),
        or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
    )


def _claimable(run_id: int, now: datetime) -> Select[Any]:
    return (
        select(Delivery.id)
        .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED, ready(now))
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
            Delivery.status == DeliveryStatus.QUEUED,
            lease_free(now),
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
            Delivery.status == DeliveryStatus.QUEUED,
            or_(Delivery.lease_expires_at > now, Delivery.next_attempt_at > now),
        )
    ).one()
    times = [t for t in row if t is not None and t > now]
    return min(times) if times else None


# The statement a commit group writes is built once: building one costs more than
# running it.
_deliveries = cast("Table", Delivery.__table__)
_MARK_SENT = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("d_id"))
    .values(
        status=DeliveryStatus.SENT.value,
        sent_at=bindparam("d_sent_at"),
        attempts=_deliveries.c.attempts + 1,
        last_reply=bindparam("d_reply"),
        lease_owner=None,
        lease_expires_at=None,
    )
)

# What a commit group hands its content when it commits (see ``Content.record_sent``).
SentHook = Callable[[SentRecords], None]


class SentGroup:
    """The accepted messages of one commit group, recorded together when it commits.

    A delivery is added only after the SMTP server accepted its message. ``commit``
    writes the group's records in the open transaction (the deliveries in one
    statement whatever the group's size, then what the content records of them, such
    as a digest's articles mailed and its readers' "covered until") and commits: a
    crash before then repeats this group and nothing older.
    """

    def __init__(self, run: Run, hook: SentHook | None = None) -> None:
        self.run = run
        self.hook = hook
        self._deliveries: list[dict[str, Any]] = []
        self._mailed: list[tuple[int, int, tuple[int, ...]]] = []
        self._readers: list[int] = []

    def __len__(self) -> int:
        return len(self._deliveries)

    def add(self, delivery: Delivery, reply: str, article_ids: Iterable[int] = ()) -> None:
        """Remember an accepted message and the articles it listed, to record at commit."""
        delivery_id, user_id = delivery.id, delivery.user_id
        self._deliveries.append(
            {"d_id": delivery_id, "d_sent_at": utcnow(), "d_reply": reply[:500]}
        )
        listed = tuple(article_ids)
        if listed:
            self._mailed.append((user_id, delivery_id, listed))
        self._readers.append(user_id)

    def write(self) -> None:
        """Write the remembered records in the open transaction, and forget them."""
        if not self._deliveries:
            return
        db.session.execute(_MARK_SENT, self._deliveries)
        if self.hook is not None:
            self.hook(SentRecords(self.run, self._mailed, self._readers))
        self._deliveries, self._mailed, self._readers = [], [], []

    def commit(self) -> None:
        """Write the group's records and commit them with anything else pending."""
        self.write()
        db.session.commit()


def mark_transient(delivery: Delivery, reply: str) -> bool:
    """A 4xx or a dropped connection: retry later with backoff; True if it gave up."""
    delivery.attempts += 1
    delivery.last_reply = reply[:500]
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    if delivery.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        delivery.status = DeliveryStatus.FAILED
        return True
    backoff = current_app.config["MAIL_RETRY_SECONDS"] * 2 ** (delivery.attempts - 1)
    delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff)
    return False


def mark_bounced(delivery: Delivery, reply: str) -> None:
    """A permanent 5xx: bounced (the content counts it against the reader's address)."""
    delivery.status = DeliveryStatus.BOUNCED
    delivery.attempts += 1
    delivery.last_reply = reply[:500]
    delivery.lease_owner = None
    delivery.lease_expires_at = None


def mark_failed(delivery: Delivery, reason: str) -> None:
    """A message that cannot go (a bad address, a build error): failed now, with the reason."""
    # Not retried with backoff: the same message to the same address would fail again.
    # The back office's "Retry failed" queues it again once the cause is fixed.
    delivery.status = DeliveryStatus.FAILED
    delivery.attempts += 1
    delivery.last_reply = reason[:500]
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    delivery.next_attempt_at = None


def release_leases(run_id: int, worker: str) -> int:
    """Hand back the queued deliveries this worker holds in a run, committed; how many."""
    released = _rowcount(
        db.session.execute(
            update(Delivery)
            .where(
                Delivery.run_id == run_id,
                Delivery.lease_owner == worker,
                Delivery.status == DeliveryStatus.QUEUED,
            )
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    return released


def _rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE matched (an UPDATE's result is a CursorResult)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def wait_for_relay(run_id: int, worker: str, reason: str) -> tuple[int, datetime]:
    """The relay could not be reached: hand back this worker's batch for a later try.

    No attempt is counted against any delivery: the relay being down is no reader's
    fault. The batch's deliveries say why in their last reply (the run page shows it),
    and they, with every other delivery of the run that could be taken now, wait
    ``MAIL_RETRY_SECONDS``, so other workers and the next tick do not each knock on a
    dead relay at once. Committed; returns how many of the batch wait, and until when.
    """
    now = utcnow()
    until = now + timedelta(seconds=current_app.config["MAIL_RETRY_SECONDS"])
    queued = (Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED)
    released = _rowcount(
        db.session.execute(
            update(Delivery)
            .where(*queued, Delivery.lease_owner == worker)
            .values(
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=until,
                last_reply=reason[:500],
            )
            .execution_options(synchronize_session=False)
        )
    )
    # Only rows nobody holds, and never a retry brought forward: a 4xx's longer
    # backoff stays as it is. Rows another worker has locked this instant are skipped,
    # not waited for: two workers that lost the relay together must not deadlock.
    idle = (
        select(Delivery.id)
        .where(
            *queued,
            lease_free(now),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at < until),
        )
        .with_for_update(skip_locked=True)
    )
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(idle.scalar_subquery()))
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return released, until
