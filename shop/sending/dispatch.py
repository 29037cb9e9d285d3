"""How a run's sending is started: in this process, or fanned out to Celery workers.

Without a broker ``dispatch_run`` sends a run here and now (commands, ticks, jobs),
and ``queue_run`` (a web request: it must not wait) sends it in a thread of the
process instead. With a broker, both enqueue one ``newsletter.send_batch`` task per
batch the run needs; each task leases and sends one batch. Any number of tasks,
redelivered ones included, never send the same delivery: the ledger's leases keep
them apart. A batch whose worker died stays leased until its lease runs out; the
next ``tick`` then finds the run idle and dispatches what is left (``resume_run``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from shop import background
from shop.clock import utcnow
from shop.extensions import db
from shop.sending import ledger
from shop.sending.engine import Summary, send_run
from shop.sending.models import Delivery, DeliveryStatus, Run

SEND_BATCH = "newsletter.send_batch"
# Without a broker: a whole run sent in a thread, for a request that must not wait.
SEND_RUN = "newsletter.send_run"
# Past this many tasks for one run, each task takes several batches instead: a
# bound on the messages one dispatch puts on the broker.
MAX_TASKS_PER_RUN = 10_000
# How often a task whose claim lost a race claims again before leaving it to others.
CLAIM_ATTEMPTS = 3


@background.job(SEND_BATCH)
def send_batch(run_id: int, max_batches: int = 1) -> dict[str, Any]:
    """Celery task: lease and send up to ``max_batches`` batches of a run; what it did."""
    worker = ledger.worker_name()
    for _ in range(CLAIM_ATTEMPTS):
        # wait=False: a batch leased by another worker, or a retry not yet due, is left
        # to that worker or to a later tick, so no worker sits idle waiting for one.
        summary = send_run(run_id, worker=worker, wait=False, max_batches=max_batches)
        took = summary.sent + summary.failed + summary.bounced + summary.retried + summary.skipped
        # Without row locks (SQLite) two workers can read the same batch and the
        # loser's claim comes back empty: it tries again while work is left.
        if took or not _queued_and_ready(run_id, utcnow())[1]:
            break
    return {
        "run_id": run_id,
        "worker": worker,
        "sent": summary.sent,
        "failed": summary.failed,
        "bounced": summary.bounced,
        "retried": summary.retried,
        "skipped": summary.skipped,
    }


@background.job(SEND_RUN)
def send_queued(run_id: int) -> int:
    """Job: send what a run can send now, as a tick would; how many messages went."""
    return send_run(run_id, wait=False).sent


def dispatch_run(
    run_id: int, *, progress: Callable[[int], None] | None = None, wait: bool = False
) -> Summary | None:
    """Start sending a run's queued deliveries; the summary when sent in this process.

    In this process, ``wait`` also sits out retry backoffs and other workers' leases
    until the run is done: right for the ``digest send`` command, wrong for a web
    request or a tick, which leave what is not yet due to the next tick.
    """
    if not background.broker_configured():
        return send_run(run_id, progress=progress, wait=wait)
    _fan_out(run_id)
    return None


def queue_run(run_id: int) -> bool:
    """Start sending a run's queued deliveries and return at once (for a web request).

    With a broker the batches are fanned out to the workers; without one, the run is
    sent in a thread of this process (``background.enqueue_background``), and what that
    thread leaves undone if the process dies, the next tick resumes. False when
    nothing could be queued: the deliveries wait in the ledger for the next tick.
    """
    try:
        if background.broker_configured():
            _fan_out(run_id)
        else:
            background.enqueue_background(SEND_RUN, run_id=run_id)
    except background.QueueUnavailableError as exc:
        current_app.logger.warning("run %s not queued, left to the next tick: %s", run_id, exc)
        return False
    return True


def resume_run(run_id: int) -> Summary | None:
    """Go on with an unfinished run (a tick does this); the summary when sent here."""
    if not background.broker_configured():
        return send_run(run_id, wait=False)
    now = utcnow()
    run = db.session.get(Run, run_id)
    fresh = now - timedelta(seconds=background.TICK_SECONDS)
    if run is not None and run.started_at is None and run.created_at > fresh:
        return None  # just dispatched: its tasks are still on their way to the workers
    if _in_flight(run_id, now):
        return None  # workers are on it; what they leave behind waits for an idle tick
    # A tick that finds the run idle again enqueues afresh, so these tasks expire
    # rather than pile up behind a long queue, tick after tick.
    _fan_out(run_id, expires=background.TICK_SECONDS)
    return None


def _fan_out(run_id: int, *, expires: float | None = None) -> int:
    """Enqueue send tasks for the batches the run can send now; return how many."""
    now = utcnow()
    queued, ready = _queued_and_ready(run_id, now)
    if queued and not ready:
        return 0  # only retries not due yet and live leases: a later tick takes them
    size = max(1, current_app.config["MAIL_BATCH_SIZE"])
    batches = math.ceil(ready / size)
    # At least one task even for a run with nothing queued: that task marks it finished.
    count = max(1, min(batches, MAX_TASKS_PER_RUN))
    per_task = max(1, math.ceil(batches / count))
    return background.enqueue_many(
        SEND_BATCH,
        ({"run_id": run_id, "max_batches": per_task} for _ in range(count)),
        expires=expires,
    )


def _queued_and_ready(run_id: int, now: datetime) -> tuple[int, int]:
    """The run's queued deliveries, and how many of them a worker could take now."""
    # The same condition as ledger.claim_batch: no live lease, and no retry pending.
    queued, ready_count = db.session.execute(
        select(func.count(), func.count().filter(ledger.ready(now))).where(
            Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED
        )
    ).one()
    return int(queued), int(ready_count)


def _in_flight(run_id: int, now: datetime) -> bool:
    """Whether a worker holds a live lease on some of the run's deliveries."""
    return (
        db.session.scalar(
            select(Delivery.id)
            .where(
                Delivery.run_id == run_id,
                Delivery.status == DeliveryStatus.QUEUED,
                Delivery.lease_expires_at >= now,
            )
            .limit(1)
        )
        is not None
    )


def run_counts(run_id: int) -> dict[DeliveryStatus, int]:
    """The run's deliveries by status, counted now (the run's own totals lag behind)."""
    return ledger.counts_by_status([run_id])[run_id]


def watch_run(
    run_id: int,
    *,
    progress: Callable[[int], None] | None = None,
    stalled: Callable[[float], None] | None = None,
    poll_seconds: float = 1.0,
    stall_seconds: float = 60.0,
    timeout: float | None = None,
) -> Summary:
    """Wait while the workers send a run, reporting progress; what was sent meanwhile.

    ``progress`` gets the number of deliveries finished since the last poll. When
    none finished for ``stall_seconds``, what is ready is dispatched again (a dead
    worker's batch whose lease ran out, a retry now due), as a tick would, and
    ``stalled`` is told (are the workers up?).
    """
    started = time.monotonic()
    first = last = run_counts(run_id)
    changed = started
    while True:
        db.session.rollback()  # end the read, so the next poll sees the workers' commits
        counts = run_counts(run_id)
        moved = _done(counts) - _done(last)
        if moved > 0:
            changed = time.monotonic()
            if progress:
                progress(moved)
        last = counts
        if counts[DeliveryStatus.QUEUED] == 0:
            break
        waited = time.monotonic() - changed
        if waited >= stall_seconds:
            resume_run(run_id)
            if stalled:
                stalled(waited)
            changed = time.monotonic()
        if timeout is not None and time.monotonic() - started > timeout:
            break
        time.sleep(poll_seconds)
    return Summary(
        sent=last[DeliveryStatus.SENT] - first[DeliveryStatus.SENT],
        failed=last[DeliveryStatus.FAILED] - first[DeliveryStatus.FAILED],
        bounced=last[DeliveryStatus.BOUNCED] - first[DeliveryStatus.BOUNCED],
        seconds=time.monotonic() - started,
    )


def _done(counts: dict[DeliveryStatus, int]) -> int:
    return (
        counts[DeliveryStatus.SENT] + counts[DeliveryStatus.FAILED] + counts[DeliveryStatus.BOUNCED]
    )
