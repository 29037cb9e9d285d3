"""Sending a newsletter: take it, plan its run, send or schedule it, report progress.

Send now never sends inside the web request: the request takes the newsletter (one
conditional UPDATE) and queues the ``newsletter.send`` job, which plans the run and
sends it on a worker or in a thread of the process (shop/background.py). A process that
dies on the way leaves the newsletter "sending", and the next tick finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, and_, or_, select, update

from shop import background, clock
from shop.clock import utcnow
from shop.extensions import db
from shop.newsletters import message as _message  # noqa: F401  (registers the content)
from shop.newsletters.models import Newsletter, NewsletterStatus
from shop.newsletters.services import NewsletterError, audience_plans
from shop.preferences.services import create_missing_preferences
from shop.sending import ledger
from shop.sending.dispatch import dispatch_run
from shop.sending.models import Run, RunKind

# The job that plans and sends a newsletter taken for sending.
SEND_JOB = "newsletter.send"
# What the progress page says of a newsletter taken for sending that nobody has begun
# to send yet (its job waits for a worker or a thread): not a stored status.
PROGRESS_QUEUED = "queued"


def _period(newsletter: Newsletter) -> str:
    return f"newsletter:{newsletter.id}"


def _take(newsletter: Newsletter) -> None:
    """Mark a draft or scheduled newsletter as sending; refuse one that already is."""
    # One conditional UPDATE: of two editors pressing Send at once, one wins. An UPDATE's
    # result is a CursorResult (with rowcount); Session.execute's type says only Result.
    updated = db.session.execute(
        update(Newsletter)
        .where(
            Newsletter.id == newsletter.id,
            Newsletter.status.in_((NewsletterStatus.DRAFT, NewsletterStatus.SCHEDULED)),
        )
        .values(status=NewsletterStatus.SENDING)
        .execution_options(synchronize_session=False)
    )
    taken = cast("CursorResult[Any]", updated).rowcount
    db.session.commit()
    db.session.refresh(newsletter)
    if not taken:
        raise NewsletterError("This newsletter is already being sent.")


def _planned_run(newsletter: Newsletter) -> Run:
    """The run of a newsletter being sent, with one delivery per reader; planned once."""
    run = newsletter.run
    if run is not None and (run.total or run.finished_at is not None):
        return run  # planned already: readers who arrived since do not join a sent issue
    create_missing_preferences()
    plans = audience_plans(newsletter)
    period = _period(newsletter)
    # Another process (a tick taking over) may have created it a moment ago: planned into.
    run = run or ledger.open_run(RunKind.NEWSLETTER, period, utcnow(), newsletter.subject)
    newsletter.run_id = run.id
    # The run, its deliveries and the link commit together: no process (a tick
    # resuming unfinished runs) ever sees the run without its readers, and finishes it.
    ledger.add_deliveries(run, plans)
    return run


def start_sending(newsletter: Newsletter) -> Run:
    """Turn a draft or scheduled newsletter into a run with one delivery per reader."""
    _take(newsletter)
    return _planned_run(newsletter)


@background.job(SEND_JOB)
def send_taken(newsletter_id: int) -> int:
    """Job: plan (once) and send a newsletter taken for sending; how many readers it has."""
    # Read afresh: a session that loaded the newsletter earlier (a tick in a long-lived
    # process) would otherwise see the status it had then, and skip a stranded send.
    newsletter = db.session.get(Newsletter, newsletter_id, populate_existing=True)
    if newsletter is None or newsletter.status != NewsletterStatus.SENDING:
        return 0  # sent already: a job delivered twice, or a tick that was quicker
    run = _planned_run(newsletter)
    dispatch_run(run.id)
    settle()
    return run.total


def queue_send(newsletter: Newsletter) -> None:
    """Take the newsletter for sending and queue its sending; return at once (Send now)."""
    previous = newsletter.status
    _take(newsletter)
    try:
        background.enqueue_background(SEND_JOB, newsletter_id=newsletter.id)
    except background.QueueUnavailableError as exc:
        current_app.logger.warning("newsletter %s not queued: %s", newsletter.id, exc)
        db.session.rollback()
        # Given back as it was, so that the editor can press again: unless a tick has
        # taken it over meanwhile (it has a run then), and it is going out after all.
        reverted = db.session.execute(
            update(Newsletter)
            .where(
                Newsletter.id == newsletter.id,
                Newsletter.status == NewsletterStatus.SENDING,
                Newsletter.run_id.is_(None),
            )
            .values(status=previous)
            .execution_options(synchronize_session=False)
        )
        restored = cast("CursorResult[Any]", reverted).rowcount
        db.session.commit()
        db.session.refresh(newsletter)
        if restored:
            raise NewsletterError(
                "The newsletter could not be queued (the job queue is unreachable), so "
                "nothing was sent. Try again in a moment."
            ) from exc


def send_now(newsletter: Newsletter) -> Run | None:
    """Send a newsletter to its audience in this process, or through the workers (tick)."""
    _take(newsletter)
    send_taken(newsletter.id)
    db.session.refresh(newsletter)
    return newsletter.run


def schedule_at(newsletter: Newsletter, when_local: datetime) -> Newsletter:
    """Schedule a newsletter for a local time on the publication's clock."""
    if not newsletter.editable:
        raise NewsletterError("This newsletter has already gone out.")
    when = when_local.replace(tzinfo=clock.zone()).astimezone(UTC).replace(tzinfo=None)
    if when <= utcnow():
        raise NewsletterError("Choose a time in the future, or send it now.", "send_at")
    newsletter.status = NewsletterStatus.SCHEDULED
    newsletter.scheduled_at = when
    db.session.commit()
    return newsletter


def unschedule(newsletter: Newsletter) -> Newsletter:
    """Take a scheduled newsletter back to draft."""
    if newsletter.status != NewsletterStatus.SCHEDULED:
        raise NewsletterError("This newsletter is not scheduled.")
    newsletter.status = NewsletterStatus.DRAFT
    newsletter.scheduled_at = None
    db.session.commit()
    return newsletter


def send_due(now: datetime | None = None) -> int:
    """Start every scheduled newsletter whose time has come; return how many."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(Newsletter).where(
                Newsletter.status == NewsletterStatus.SCHEDULED, Newsletter.scheduled_at <= now
            )
        )
    )
    started = 0
    for newsletter_id in [n.id for n in due]:
        # One newsletter that cannot be sent must not hold back the others due with it.
        try:
            newsletter = db.session.get(Newsletter, newsletter_id)
            # Listed as due above; one deleted since is logged below, like any failure.
            assert newsletter is not None
            send_now(newsletter)
        except NewsletterError:
            continue  # another process took it a moment ago
        except Exception:
            db.session.rollback()
            current_app.logger.exception("newsletter %s could not be started", newsletter_id)
            continue
        started += 1
    # A process that died after taking a newsletter and before planning its run (the
    # thread of a Send now, a worker, a tick) left it sending with no run, or an empty
    # one: it is planned and sent here. Unfinished planned runs are the tick's to resume.
    stranded = db.session.scalars(
        select(Newsletter.id)
        .outerjoin(Run, Run.id == Newsletter.run_id)
        .where(
            Newsletter.status == NewsletterStatus.SENDING,
            or_(Run.id.is_(None), and_(Run.total == 0, Run.finished_at.is_(None))),
        )
    ).all()
    for newsletter_id in stranded:
        try:
            send_taken(newsletter_id)
        except Exception:
            db.session.rollback()
            current_app.logger.exception("newsletter %s could not be planned", newsletter_id)
    settle()
    return started


def settle() -> int:
    """Mark newsletters whose run has finished as sent; return how many."""
    rows = db.session.execute(
        select(Newsletter, Run.finished_at)
        .join(Run, Run.id == Newsletter.run_id)
        .where(Newsletter.status == NewsletterStatus.SENDING, Run.finished_at.is_not(None))
    ).all()
    for newsletter, finished_at in rows:
        newsletter.status = NewsletterStatus.SENT
        newsletter.sent_at = finished_at
    db.session.commit()
    return len(rows)


@dataclass
class Progress:
    """How far a newsletter's sending has got."""

    status: str
    total: int = 0
    sent: int = 0
    failed: int = 0
    bounced: int = 0

    @property
    def queued(self) -> int:
        """Deliveries still to go."""
        return max(0, self.total - self.sent - self.failed - self.bounced)

    @property
    def finished(self) -> bool:
        """Whether nothing is left to send."""
        return self.status == NewsletterStatus.SENT

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values."""
        return {
            "status": self.status,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "bounced": self.bounced,
            "queued": self.queued,
            "finished": self.finished,
        }


def progress(newsletter: Newsletter) -> Progress:
    """The newsletter's counts, read from its deliveries now."""
    if newsletter.status == NewsletterStatus.SENDING:
        settle()
        db.session.refresh(newsletter)
    run = newsletter.run
    status = newsletter.status
    if status == NewsletterStatus.SENDING and (run is None or run.started_at is None):
        # Taken, but its job has not begun to send (planning, or waiting for a worker).
        status = PROGRESS_QUEUED
    if run is None:
        return Progress(status)
    ledger.refresh_counts(run)
    result = Progress(status, run.total, run.sent, run.failed, run.bounced)
    db.session.commit()
    return result
