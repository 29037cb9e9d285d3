"""Emailing a story: plan its run once, send it, and say what became of it.

"Publish and email" marks the article (``Article.email_audience``); the request then
queues the ``story.send`` job, which plans the run (kind ``story``, one per article) and
sends it on a worker or in a thread of the process. A story scheduled for later, or one
whose job never ran, is planned by the tick once it is live (``send_due``). The run, its
deliveries and the article's link to it commit together, and the run is the story's only
mailing: pressing again, re-saving or a second job sends nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, func, select, update

from shop import background
from shop.articles.models import EMAIL_AUDIENCE_LABELS, Article
from shop.billing.access import paying_user_ids
from shop.clock import utcnow
from shop.digests.models import MailedArticle
from shop.extensions import db
from shop.newsletters.services import audience_select
from shop.preferences.models import DigestPreference, Frequency
from shop.preferences.services import create_missing_preferences
from shop.sending import ledger
from shop.sending.content import Plan
from shop.sending.dispatch import dispatch_run
from shop.sending.models import Run, RunKind
from shop.stories import message as _message  # noqa: F401  (registers the content)

# The job that plans and sends a story's mail.
SEND_JOB = "story.send"


def _period(article_id: int) -> str:
    return f"story:{article_id}"


def _audience(article: Article, audience: str):
    """SELECT (preference, user) of the readers a story's mail goes to."""
    return audience_select(audience, [t.id for t in article.tags]).where(
        # Mail about stories stops when a reader turns it off; unsubscribing stops it all.
        DigestPreference.frequency != Frequency.OFF,
        # A reader who already had the story (an instant notice before it was emailed)
        # does not get it again.
        ~select(MailedArticle.user_id)
        .where(
            MailedArticle.user_id == DigestPreference.user_id,
            MailedArticle.article_id == article.id,
        )
        .exists(),
    )


def story_plans(article: Article) -> list[Plan]:
    """One plan per reader the story's mail goes to, in a stable order."""
    assert article.email_audience is not None  # planned only once an audience was chosen
    paying = paying_user_ids()
    return [
        Plan(user.id, user.email, user.name, user.id in paying, [article.id])
        for _, user in db.session.execute(_audience(article, article.email_audience))
    ]


def audience_sizes(article: Article) -> dict[str, int]:
    """How many readers each audience would hold now, for the editor's choice (read only: a
    reader who consented and has no preference row yet joins when the run is planned)."""
    sizes: dict[str, int] = {}
    for audience in EMAIL_AUDIENCE_LABELS:
        query = _audience(article, audience).order_by(None).subquery()
        sizes[audience] = int(db.session.scalar(select(func.count()).select_from(query)) or 0)
    return sizes


def plan_story(article: Article) -> Run | None:
    """The story's run with one delivery per reader, planned once; None if not due yet."""
    if article.email_run_id is not None:
        return db.session.get(Run, article.email_run_id)
    if not article.email_pending or not article.is_live():
        return None
    create_missing_preferences()
    article_id = article.id
    run = ledger.open_run(RunKind.STORY, _period(article_id), utcnow(), article.title)
    # One conditional UPDATE: of a job and a tick planning at once, or a "Publish only"
    # withdrawing the mail meanwhile, one wins.
    taken = db.session.execute(
        update(Article)
        .where(
            Article.id == article_id,
            Article.email_run_id.is_(None),
            Article.email_audience.is_not(None),
        )
        .values(email_run_id=run.id)
        .execution_options(synchronize_session=False)
    )
    if not cast("CursorResult[Any]", taken).rowcount:
        db.session.rollback()
        article = db.session.get(Article, article_id, populate_existing=True) or article
        return db.session.get(Run, article.email_run_id) if article.email_run_id else None
    # The run, its deliveries and the article's link commit together.
    ledger.add_deliveries(run, story_plans(article))
    db.session.refresh(article)
    return run


@background.job(SEND_JOB)
def send_story(article_id: int) -> int:
    """Job: plan (once) and send a story's mail; how many readers it has."""
    # Read afresh: a long-lived session may hold the article as it was before publishing.
    article = db.session.get(Article, article_id, populate_existing=True)
    if article is None:
        return 0
    run = plan_story(article)
    if run is None:
        return 0
    dispatch_run(run.id)
    return run.total


def queue_email(article: Article) -> None:
    """Queue the mail of a story marked to be emailed that is live now; return at once."""
    if not (article.email_pending and article.is_live()):
        return  # scheduled: the tick plans it when it goes live
    try:
        background.enqueue_background(SEND_JOB, article_id=article.id)
    except background.QueueUnavailableError as exc:
        # It stays marked, so the next tick plans and sends it.
        current_app.logger.warning("story %s mail not queued: %s", article.id, exc)


def send_due(now: datetime | None = None) -> int:
    """Plan and send the mail of every live story marked to be emailed; return how many."""
    now = now or utcnow()
    due = db.session.scalars(
        select(Article.id).where(
            Article.live_clause(now),
            Article.email_audience.is_not(None),
            Article.email_run_id.is_(None),
        )
    ).all()
    started = 0
    for article_id in due:
        # One story that cannot be planned must not hold back the others.
        try:
            send_story(article_id)
        except Exception:
            db.session.rollback()
            current_app.logger.exception("story %s mail could not be started", article_id)
            continue
        started += 1
    return started


@dataclass
class EmailState:
    """What the editor says of a story's mail."""

    # "none" (not chosen), "waiting" (goes when live), "sending" or "sent".
    status: str
    audience: str = ""
    run_id: int | None = None
    total: int = 0
    sent: int = 0
    finished_at: datetime | None = None


def email_state(article: Article) -> EmailState:
    """The story's mail as the editor sees it now."""
    if article.email_audience is None:
        return EmailState("none")
    label = EMAIL_AUDIENCE_LABELS.get(article.email_audience, article.email_audience)
    run = db.session.get(Run, article.email_run_id) if article.email_run_id else None
    if run is None:
        return EmailState("waiting", label)
    ledger.refresh_counts(run)
    db.session.commit()
    status = "sent" if run.finished_at is not None else "sending"
    return EmailState(status, label, run.id, run.total, run.sent, run.finished_at)
