"""Digests and instant notices: plan a run over the ledger, then send it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import or_, select

from shop import clock
from shop.accounts.models import User
from shop.articles.models import Article
from shop.billing.access import has_paid_access
from shop.clock import utcnow
from shop.digests import content as _content  # noqa: F401  (registers the digests' content)
from shop.digests.models import MailedArticle
from shop.digests.rendering import DigestRenderer
from shop.digests.selection import candidates, instant_plans, plan_digests, tag_names
from shop.extensions import db
from shop.mail.bulk import build_bytes
from shop.mail.outbox import html_of_bytes
from shop.preferences.models import DigestPreference, Frequency
from shop.preferences.services import create_missing_preferences, get_preference
from shop.preferences.tokens import unsubscribe_url
from shop.sending import ledger
from shop.sending.content import Plan
from shop.sending.dispatch import dispatch_run
from shop.sending.engine import Summary
from shop.sending.models import Run, RunKind
from shop.urls import external_url

log = logging.getLogger(__name__)
T = TypeVar("T")

DIGEST_FREQUENCIES = (Frequency.DAILY, Frequency.WEEKLY)
# Instant notices look back this far for articles whose time has come.
INSTANT_LOOKBACK = timedelta(days=2)


@dataclass
class DigestResult:
    """What a digest command did."""

    run: Run | None
    planned: int = 0
    skipped: int = 0
    summary: Summary = field(default_factory=Summary)
    plans: list[Plan] = field(default_factory=list)


def _renderer_for(plans: list[Plan], since: datetime, cutoff: datetime) -> DigestRenderer:
    wanted = {a for p in plans for a in p.article_ids}
    articles = {a.id: a for a in candidates(since, cutoff) if a.id in wanted}
    return DigestRenderer(
        articles=articles, tag_names=tag_names({t for a in articles.values() for t in a.tag_ids})
    )


def run_digest(
    frequency: str,
    day: date | None = None,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    on_planned: Callable[[int], None] | None = None,
    wait: bool = False,
) -> DigestResult:
    """Plan (or resume) the digest run of a frequency for a local day, then send it."""
    if frequency not in DIGEST_FREQUENCIES:
        raise ValueError(f"frequency must be daily or weekly, not {frequency!r}")
    now = utcnow()
    day = day or clock.local_date(now)
    cutoff = min(clock.digest_time(day), now)
    # Readers who opted in at registration and never opened their preferences.
    create_missing_preferences()
    plans, skipped = plan_digests(frequency, day, cutoff)
    if dry_run:
        return DigestResult(run=None, planned=len(plans), skipped=skipped, plans=plans)
    run = ledger.get_or_create_run(RunKind.DIGEST, clock.period(frequency, day), cutoff)
    # A resumed run keeps its first cutoff, so its readers get the same articles.
    if run.cutoff != cutoff:
        plans, skipped = plan_digests(frequency, day, run.cutoff)
    added = ledger.add_deliveries(run, plans)
    if on_planned:
        on_planned(run.total - run.sent - run.failed - run.bounced)
    # With a broker the workers send it, and the summary here stays empty.
    summary = dispatch_run(run.id, progress=progress, wait=wait) or Summary()
    summary.skipped += skipped + (len(plans) - added)
    return DigestResult(run=run, planned=added, skipped=skipped, summary=summary, plans=plans)


def run_instant(article: Article) -> Summary | None:
    """Notify instant readers who follow the article's tags, once per reader and article."""
    if not article.is_live():
        return None
    create_missing_preferences()
    run = ledger.get_or_create_run(RunKind.INSTANT, f"article:{article.id}", utcnow())
    ledger.add_deliveries(run, instant_plans(article))
    return dispatch_run(run.id)


def instant(article_id: int) -> Summary | None:
    """The instant notice for one article by id (none when the article is gone)."""
    article = db.session.get(Article, article_id)
    return run_instant(article) if article is not None else None


def due_instant_articles(now: datetime) -> list[Article]:
    """Live articles from the last two days with no instant run yet.

    A story to be emailed whose mailing is not planned yet waits: its notice goes once the
    story's own readers are known, and leaves them out.
    """
    done = select(Run.period).where(Run.kind == RunKind.INSTANT)
    rows = db.session.scalars(
        select(Article).where(
            Article.live_clause(now),
            Article.published_at >= now - INSTANT_LOOKBACK,
            or_(Article.email_audience.is_(None), Article.email_run_id.is_not(None)),
        )
    ).all()
    finished = set(db.session.scalars(done))
    return [a for a in rows if f"article:{a.id}" not in finished]


@dataclass
class Preview:
    """The reader's next digest as it would be sent now."""

    subject: str
    html: str
    article_count: int
    note: str


def preview_for(user: User) -> Preview | None:
    """Build the reader's next digest with the code that sends it; None if nothing is new."""
    pref = get_preference(user)
    now = utcnow()
    frequency = pref.frequency if pref.frequency in DIGEST_FREQUENCIES else Frequency.DAILY
    day = clock.local_date(now)
    if frequency == Frequency.WEEKLY:
        day = day + timedelta(days=(pref.weekday - day.weekday()) % 7)
    plans, _ = plan_digests(frequency, day, now, user_ids=[user.id])
    if not plans:
        # Not due (paused, unconfirmed, another weekday...): preview what is new anyway.
        plans = _plan_ignoring_schedule(user, pref, now)
    if not plans:
        return None
    plan = plans[0]
    renderer = _renderer_for([plan], pref.covered_until, now)
    rendered = renderer.digest(plan)
    data = build_bytes(
        rendered,
        to=user.email,
        name=user.name,
        msgid="<preview@localhost>",
        unsubscribe_url=unsubscribe_url(user.id),
        preferences_url=external_url("readers.preferences"),
        sender="preview",
    )
    html = html_of_bytes(data)
    notes: dict[str, str] = {
        Frequency.INSTANT: (
            "You get each story as it is published; this is what a digest would hold."
        ),
        Frequency.DAILY: "Your daily digest arrives each morning.",
        Frequency.WEEKLY: "Your weekly digest arrives on the day you chose.",
    }
    note = notes.get(pref.frequency, "Digests are off: choose how often above to receive them.")
    return Preview(rendered.subject, html, len(plan.article_ids), note)


def _plan_ignoring_schedule(user: User, pref: DigestPreference, now: datetime) -> list[Plan]:
    """The articles a digest would carry now, whatever the reader's frequency or pause."""
    follows = {t.id for t in pref.tags}
    mailed = set(
        db.session.scalars(select(MailedArticle.article_id).where(MailedArticle.user_id == user.id))
    )
    chosen = [
        a.id
        for a in candidates(pref.covered_until, now)
        if (pref.follow_all or a.tag_ids & follows) and a.id not in mailed
    ]
    if not chosen:
        return []
    return [Plan(user.id, user.email, user.name, has_paid_access(user), chosen)]
