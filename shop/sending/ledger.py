"""The delivery ledger: runs, their deliveries, leases, and what was sent.

A delivery moves queued -> sent (or failed, or bounced). A worker takes a batch
by writing a lease (its name and an expiry) and committing before it sends; on
PostgreSQL the batch is read with ``FOR UPDATE SKIP LOCKED``, so workers never
take the same rows, and a lease that runs out (its worker died) frees the batch.
What a commit group sent is recorded by a ``SentGroup`` in a few statements,
whatever the size of the group.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import DateTime, String, bindparam, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from shop.clock import utcnow
from shop.digests.models import MailedArticle
from shop.digests.selection import Plan
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.sending.models import (
    DELIVERY_BOUNCED,
    DELIVERY_FAILED,
    DELIVERY_QUEUED,
    DELIVERY_SENT,
    RUN_DIGEST,
    Delivery,
    Run,
)


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
    fresh = [plan for plan in plans if plan.user_id not in have]
    run_id = run.id
    statement = _insert_ignoring_duplicates()
    for start in range(0, len(fresh), 1000):
        # Rows are built a thousand at a time, so a long list never has them all at once.
        rows = [
            {
                "run_id": run_id,
                "user_id": plan.user_id,
                "status": DELIVERY_QUEUED,
                "attempts": 0,
                "article_ids": ",".join(str(a) for a in plan.article_ids),
            }
            for plan in fresh[start : start + 1000]
        ]
        db.session.execute(statement, rows)
    refresh_counts(run)
    db.session.commit()
    return len(fresh)


def _insert_ignoring_duplicates():
    """INSERT of deliveries that skips a reader another process queued a moment ago."""
    # Two workers may plan the same run at once: (run, reader) is unique, and the
    # second insert of a pair must add nothing rather than fail the whole batch.
    # Into the table, not the model: the ORM's bulk path does work for each row.
    table = Delivery.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        return insert(table)
    return dialect_insert(table).on_conflict_do_nothing(index_elements=["run_id", "user_id"])


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


# The statements a commit group writes are built once: building one costs more than
# running it.
_deliveries = Delivery.__table__
_MARK_SENT = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("d_id"))
    .values(
        status=DELIVERY_SENT,
        sent_at=bindparam("d_sent_at"),
        attempts=_deliveries.c.attempts + 1,
        last_reply=bindparam("d_reply"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
# The next digest starts where this one's cutoff was.
_MOVE_WINDOW = (
    update(DigestPreference)
    .where(
        DigestPreference.user_id.in_(bindparam("readers", expanding=True)),
        DigestPreference.covered_until < bindparam("cutoff"),
    )
    .values(covered_until=bindparam("cutoff"))
    .execution_options(synchronize_session=False)
)
# The articles a group mailed, in one statement whatever their number: the group travels
# as one JSON parameter, [[user, delivery, [article, ...]], ...], and the database
# unfolds it. An executemany of a thousand rows costs more in SQLAlchemy's work per
# row than in the database's.
_MAILED_FROM_JSON = {
    dialect: text(sql).bindparams(
        bindparam("rows", type_=String()), bindparam("mailed_at", type_=DateTime())
    )
    for dialect, sql in {
        "sqlite": """
            INSERT INTO mailed_articles (user_id, article_id, delivery_id, mailed_at)
            SELECT json_extract(d.value, '$[0]'), a.value, json_extract(d.value, '$[1]'),
                   :mailed_at
            FROM json_each(:rows) AS d, json_each(d.value, '$[2]') AS a
            WHERE true  -- without a WHERE, SQLite would not read ON CONFLICT as the upsert
            ON CONFLICT (user_id, article_id) DO NOTHING
        """,
        "postgresql": """
            INSERT INTO mailed_articles (user_id, article_id, delivery_id, mailed_at)
            SELECT (d->>0)::integer, a::integer, (d->>1)::integer, :mailed_at
            FROM json_array_elements(CAST(:rows AS json)) AS d,
                 json_array_elements_text(d->2) AS a
            ON CONFLICT (user_id, article_id) DO NOTHING
        """,
    }.items()
}


class SentGroup:
    """The accepted messages of one commit group, recorded together when it commits.

    A delivery is added only after the SMTP server accepted its message. ``commit``
    writes the group's records in the open transaction (the deliveries, the articles
    mailed, the readers' "covered until") in three statements whatever the group's
    size, and commits: a crash before then repeats this group and nothing older.
    """

    def __init__(self, run: Run) -> None:
        # Only digests move the reader's window on; instant notices and newsletters don't.
        self.cutoff = run.cutoff if run.kind == RUN_DIGEST else None
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
        if self._mailed:
            self._write_mailed()
        if self.cutoff is not None:
            db.session.execute(_MOVE_WINDOW, {"readers": self._readers, "cutoff": self.cutoff})
        self._deliveries, self._mailed, self._readers = [], [], []

    def _write_mailed(self) -> None:
        """The MailedArticle rows; one already there (same reader and article) is kept."""
        # One time for the group's rows: they were mailed within the same few seconds.
        now = utcnow()
        statement = _MAILED_FROM_JSON.get(db.session.get_bind().dialect.name)
        if statement is None:
            rows = [
                {"user_id": u, "article_id": a, "delivery_id": d, "mailed_at": now}
                for u, d, listed in self._mailed
                for a in listed
            ]
            db.session.execute(insert(MailedArticle.__table__), rows)
            return
        db.session.execute(statement, {"rows": json.dumps(self._mailed), "mailed_at": now})

    def commit(self) -> None:
        """Write the group's records and commit them with anything else pending."""
        self.write()
        db.session.commit()


def mark_sent(
    delivery: Delivery, run: Run, reply: str, article_ids: Iterable[int] | None = None
) -> None:
    """Record one accepted message (committed by the caller); sending uses SentGroup."""
    group = SentGroup(run)
    group.add(delivery, reply, delivery.articles if article_ids is None else article_ids)
    group.write()
    # The row was written around the ORM: read it again when it is next used.
    db.session.expire(delivery)


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


def mark_failed(delivery: Delivery, reason: str) -> None:
    """A message that cannot go (a bad address, a build error): failed now, with the reason."""
    # Not retried with backoff: the same message to the same address would fail again.
    # The back office's "Retry failed" queues it again once the cause is fixed.
    delivery.status = DELIVERY_FAILED
    delivery.attempts += 1
    delivery.last_reply = reason[:500]
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    delivery.next_attempt_at = None


def release_leases(run_id: int, worker: str) -> int:
    """Hand back the queued deliveries this worker holds in a run, committed; how many."""
    released = db.session.execute(
        update(Delivery)
        .where(
            Delivery.run_id == run_id,
            Delivery.lease_owner == worker,
            Delivery.status == DELIVERY_QUEUED,
        )
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return released


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
    queued = (Delivery.run_id == run_id, Delivery.status == DELIVERY_QUEUED)
    released = db.session.execute(
        update(Delivery)
        .where(*queued, Delivery.lease_owner == worker)
        .values(
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=until,
            last_reply=reason[:500],
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    # Only rows nobody holds, and never a retry brought forward: a 4xx's longer
    # backoff stays as it is. Rows another worker has locked this instant are skipped,
    # not waited for: two workers that lost the relay together must not deadlock.
    idle = (
        select(Delivery.id)
        .where(
            *queued,
            or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
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
