"""The back office's view of the ledger: runs, their deliveries, and retrying failures.

A retry reuses the ledger. The run's failed deliveries go back to queued and are sent
through the usual claim, lease and mark path, so a delivery that was sent or bounced
is never touched and nobody who got the message is mailed again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Select, exists, func, or_, select, update
from sqlalchemy.orm import contains_eager

from shop import clock
from shop.accounts.models import User
from shop.articles.models import Article
from shop.clock import utcnow
from shop.digests.models import MailedArticle
from shop.errors import RuleError
from shop.extensions import db
from shop.newsletters.models import Newsletter
from shop.pagination import Page, paginate
from shop.preferences.mailing import reachable
from shop.preferences.models import DigestPreference
from shop.sending import ledger
from shop.sending.dispatch import queue_run
from shop.sending.models import Delivery, DeliveryStatus, Run, RunKind, join_ids, split_ids

KINDS = tuple(RunKind)
STATE_UNFINISHED = "unfinished"
STATE_FINISHED = "finished"
STATE_FAILURES = "with-failures"
STATES = {
    STATE_UNFINISHED: "Unfinished",
    STATE_FINISHED: "Finished",
    STATE_FAILURES: "With failures",
}
DELIVERY_STATUSES = tuple(DeliveryStatus)
SEARCH_MAX = 200
# Rows per UPDATE ... WHERE id IN (...): well under every database's parameter limit.
CHUNK = 500


class RunsError(RuleError):
    """A filter or search the runs pages cannot use."""


@dataclass
class Counts:
    """A run's deliveries by status, counted now (the run's stored totals lag behind)."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    bounced: int = 0

    @property
    def total(self) -> int:
        """Every delivery of the run."""
        return self.queued + self.sent + self.failed + self.bounced


@dataclass
class RunRow:
    """A run in the list, with its live counts."""

    run: Run
    counts: Counts


def clean_search(raw: str | None) -> str:
    """A search as typed, trimmed; a RunsError for one no list can use."""
    text = (raw or "").strip()
    if len(text) > SEARCH_MAX:
        raise RunsError(f"A search can be at most {SEARCH_MAX} characters long.")
    # PostgreSQL refuses NUL in text, and no subject or address holds control characters.
    if any(ord(c) < 32 for c in text):
        raise RunsError("A search cannot contain control characters.")
    return text


def _counts_for(run_ids: list[int]) -> dict[int, Counts]:
    return {
        run_id: Counts(
            queued=by_status[DeliveryStatus.QUEUED],
            sent=by_status[DeliveryStatus.SENT],
            failed=by_status[DeliveryStatus.FAILED],
            bounced=by_status[DeliveryStatus.BOUNCED],
        )
        for run_id, by_status in ledger.counts_by_status(run_ids).items()
    }


def runs_page(
    page: int,
    *,
    kind: str | None = None,
    state: str | None = None,
    query: str = "",
    per_page: int = 25,
) -> Page:
    """Runs newest first, each with its live counts, filtered by kind, state and search."""
    if kind is not None and kind not in KINDS:
        raise RunsError("There is no such kind of run.")
    if state is not None and state not in STATES:
        raise RunsError("There is no such state of run.")
    text = clean_search(query)
    statement = select(Run).order_by(Run.created_at.desc(), Run.id.desc())
    if kind is not None:
        statement = statement.where(Run.kind == kind)
    if state == STATE_UNFINISHED:
        statement = statement.where(Run.finished_at.is_(None))
    elif state == STATE_FINISHED:
        statement = statement.where(Run.finished_at.is_not(None))
    elif state == STATE_FAILURES:
        # Read from the deliveries, not the run's stored count, which lags behind.
        statement = statement.where(
            exists().where(Delivery.run_id == Run.id, Delivery.status == DeliveryStatus.FAILED)
        )
    if text:
        statement = statement.where(
            or_(
                Run.subject.icontains(text, autoescape=True),
                Run.period.icontains(text, autoescape=True),
            )
        )
    result = paginate(statement, page, per_page)
    counts = _counts_for([run.id for run in result.items])
    result.items = [RunRow(run, counts[run.id]) for run in result.items]
    return result


def get_run(run_id: int) -> Run | None:
    """The run with this id, if there is one."""
    return db.session.get(Run, run_id)


def counts(run: Run) -> Counts:
    """The run's deliveries by status, counted now."""
    return _counts_for([run.id])[run.id]


def newsletter_of(run: Run) -> Newsletter | None:
    """The newsletter a newsletter run sends, if it still exists."""
    if run.kind != RunKind.NEWSLETTER:
        return None
    return db.session.scalar(select(Newsletter).where(Newsletter.run_id == run.id))


def story_of(run: Run) -> Article | None:
    """The story a story run mails, if it still exists."""
    if run.kind != RunKind.STORY:
        return None
    return db.session.scalar(select(Article).where(Article.email_run_id == run.id))


def deliveries_page(
    run: Run,
    page: int,
    *,
    status: str | None = None,
    query: str = "",
    per_page: int = 50,
) -> Page:
    """A run's deliveries in the order they were queued, by status and reader's email."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise RunsError("There is no such delivery status.")
    text = clean_search(query)
    statement = (
        select(Delivery)
        .join(Delivery.user)
        .options(contains_eager(Delivery.user))
        .where(Delivery.run_id == run.id)
        .order_by(Delivery.id)
    )
    if status is not None:
        statement = statement.where(Delivery.status == status)
    if text:
        statement = statement.where(User.email.icontains(text, autoescape=True))
    return paginate(statement, page, per_page)


def _retryable(run_id: int) -> Select:
    """SELECT the run's failed deliveries whose readers may still be mailed."""
    today = clock.local_date(utcnow())
    return (
        select(Delivery.id, Delivery.user_id, Delivery.article_ids)
        .join(User, User.id == Delivery.user_id)
        .join(DigestPreference, DigestPreference.user_id == Delivery.user_id)
        .where(
            Delivery.run_id == run_id,
            Delivery.status == DeliveryStatus.FAILED,
            # A reader who unsubscribed, bounced or paused since the failure has said
            # no more mail: the retry leaves their delivery failed.
            *reachable(),
            or_(DigestPreference.paused_until.is_(None), DigestPreference.paused_until < today),
        )
        .order_by(Delivery.id)
    )


def retryable_count(run_id: int) -> int:
    """How many of the run's failed deliveries a retry would queue again."""
    count = db.session.scalar(
        select(func.count()).select_from(_retryable(run_id).order_by(None).subquery())
    )
    return count or 0


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _mailed_since(rows: Sequence[Any]) -> set[tuple[int, int]]:
    """(reader, article) pairs among the rows' articles that already reached the reader."""
    users = sorted({user_id for _, user_id, _ in rows})
    articles = sorted({a for _, _, ids in rows for a in split_ids(ids)})
    mailed: set[tuple[int, int]] = set()
    if not articles:
        return mailed  # newsletters carry no articles
    for users_chunk in _chunks(users):
        for articles_chunk in _chunks(articles):
            found = db.session.execute(
                select(MailedArticle.user_id, MailedArticle.article_id).where(
                    MailedArticle.user_id.in_(users_chunk),
                    MailedArticle.article_id.in_(articles_chunk),
                )
            )
            mailed.update((user_id, article_id) for user_id, article_id in found)
    return mailed


def retry_failed(run_id: int) -> int:
    """Queue the run's failed deliveries again and start sending them; return how many."""
    run = db.session.get(Run, run_id)
    if run is None:
        return 0
    rows = db.session.execute(_retryable(run_id)).all()
    if not rows:
        db.session.rollback()
        return 0
    # An article a failed digest carried may have reached the reader since, in a later
    # digest or notice; it is dropped, so nobody gets an article twice (and marking the
    # retry sent records each article once per reader, as the ledger requires).
    mailed = _mailed_since(rows)
    for delivery_id, user_id, article_ids in rows:
        carried = split_ids(article_ids)
        kept = [a for a in carried if (user_id, a) not in mailed]
        if kept != carried:
            db.session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.FAILED)
                .values(article_ids=join_ids(kept))
                .execution_options(synchronize_session=False)
            )
    queued = 0
    for chunk in _chunks([row[0] for row in rows]):
        # The status condition makes two admins' simultaneous retries queue each once.
        # An UPDATE's result is a CursorResult (with rowcount); Session.execute's type says
        # only Result.
        updated = db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chunk), Delivery.status == DeliveryStatus.FAILED)
            .values(
                status=DeliveryStatus.QUEUED,
                attempts=0,
                next_attempt_at=None,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        queued += cast("CursorResult[Any]", updated).rowcount
    if not queued:
        db.session.rollback()
        return 0
    run.finished_at = None
    ledger.refresh_counts(run)
    db.session.commit()
    queue_run(run_id)  # a web request must not wait for the sending
    return queued
