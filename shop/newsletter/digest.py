"""Digests and instant notices: plan a run over the ledger, then send it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select

from shop.accounts.models import User
from shop.articles.models import Article
from shop.billing.access import has_paid_access
from shop.billing.services import release_expired_checkouts
from shop.extensions import db
from shop.newsletter import ledger, newsletters, schedule
from shop.newsletter.jobs import dispatch_run, resume_run
from shop.newsletter.messages import DigestRenderer, build_bytes
from shop.newsletter.models import (
    FREQ_DAILY,
    FREQ_INSTANT,
    FREQ_WEEKLY,
    RUN_DIGEST,
    RUN_INSTANT,
    Run,
)
from shop.newsletter.preferences import create_missing_preferences, get_preference
from shop.newsletter.selection import Plan, candidates, instant_plans, plan_digests, tag_names
from shop.newsletter.sending import Summary
from shop.newsletter.tokens import unsubscribe_url
from shop.timeutil import utcnow
from shop.urls import external_url

log = logging.getLogger(__name__)
T = TypeVar("T")

DIGEST_FREQUENCIES = (FREQ_DAILY, FREQ_WEEKLY)
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
    day = day or schedule.local_date(now)
    cutoff = min(schedule.digest_time(day), now)
    # Readers who opted in at registration and never opened their preferences.
    create_missing_preferences()
    plans, skipped = plan_digests(frequency, day, cutoff)
    if dry_run:
        return DigestResult(run=None, planned=len(plans), skipped=skipped, plans=plans)
    run = ledger.get_or_create_run(RUN_DIGEST, schedule.period(frequency, day), cutoff)
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
    run = ledger.get_or_create_run(RUN_INSTANT, f"article:{article.id}", utcnow())
    ledger.add_deliveries(run, instant_plans(article))
    return dispatch_run(run.id)


def _instant(article_id: int) -> Summary | None:
    article = db.session.get(Article, article_id)
    return run_instant(article) if article is not None else None


def due_instant_articles(now: datetime) -> list[Article]:
    """Live articles from the last two days with no instant run yet."""
    done = select(Run.period).where(Run.kind == RUN_INSTANT)
    rows = db.session.scalars(
        select(Article).where(
            Article.live_clause(now),
            Article.published_at >= now - INSTANT_LOOKBACK,
        )
    ).all()
    finished = set(db.session.scalars(done))
    return [a for a in rows if f"article:{a.id}" not in finished]


@dataclass
class TickResult:
    """What one tick did, and what failed in it (each as "what: why")."""

    digests: dict[str, int] = field(default_factory=dict)
    instant: int = 0
    newsletters: int = 0
    checkouts_released: int = 0
    errors: list[str] = field(default_factory=list)


class _Steps:
    """Runs a tick's steps one by one: a step that raises is logged and noted, not fatal."""

    def __init__(self, result: TickResult) -> None:
        self.result = result
        # Runs that raised in this tick: not resumed again by the same tick.
        self.broken: set[int] = set()

    def run(
        self, what: str, step: Callable[[], T], *, run_of: Callable[[], int | None] | None = None
    ) -> T | None:
        """``step()``, or None when it raised (then rolled back, logged and noted)."""
        try:
            return step()
        except Exception as exc:
            # A failed statement leaves the session unusable until it is rolled back.
            with contextlib.suppress(Exception):
                db.session.rollback()
            log.exception("tick: %s failed", what)
            self.result.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            if run_of is not None:
                with contextlib.suppress(Exception):
                    broken = run_of()
                    if broken is not None:
                        self.broken.add(broken)
            return None


def _run_id(kind: str, period: str) -> Callable[[], int | None]:
    return lambda: db.session.scalar(select(Run.id).where(Run.kind == kind, Run.period == period))


def tick(now: datetime | None = None) -> TickResult:
    """All time-based work: due digests, instant notices, scheduled newsletters. Idempotent.

    Each digest, each notice, the newsletters and each resumed run is a step of its own:
    one that raises is logged and listed in ``errors``, and the others are still done.
    """
    now = now or utcnow()
    result = TickResult()
    steps = _Steps(result)
    if schedule.is_digest_time(now):
        day = schedule.local_date(now)
        for frequency in DIGEST_FREQUENCIES:
            outcome = steps.run(
                f"{frequency} digest",
                lambda frequency=frequency: run_digest(frequency, day),
                run_of=_run_id(RUN_DIGEST, schedule.period(frequency, day)),
            )
            result.digests[frequency] = outcome.summary.sent if outcome else 0
    due = steps.run("finding due instant notices", lambda: due_instant_articles(now)) or []
    for article_id in [a.id for a in due]:
        summary = steps.run(
            f"instant notice for article {article_id}",
            lambda article_id=article_id: _instant(article_id),
            run_of=_run_id(RUN_INSTANT, f"article:{article_id}"),
        )
        result.instant += summary.sent if summary else 0
    result.newsletters = steps.run("scheduled newsletters", lambda: newsletters.send_due(now)) or 0
    # Runs whose deliveries are still queued (retries, a crashed worker) are resumed.
    unfinished = (
        steps.run(
            "finding unfinished runs",
            lambda: db.session.execute(
                select(Run.id, Run.period).where(Run.finished_at.is_(None)).order_by(Run.id)
            ).all(),
        )
        or []
    )
    for run_id, period in unfinished:
        if run_id in steps.broken:
            continue
        steps.run(f"run {run_id} ({period})", lambda run_id=run_id: resume_run(run_id))
    steps.run("settling newsletters", newsletters.settle)
    # Stock held by checkouts whose session ended without its webhook goes back on sale.
    result.checkouts_released = (
        steps.run("releasing expired checkouts", lambda: release_expired_checkouts(now)) or 0
    )
    return result


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
    frequency = pref.frequency if pref.frequency in DIGEST_FREQUENCIES else FREQ_DAILY
    day = schedule.local_date(now)
    if frequency == FREQ_WEEKLY:
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
        preferences_url=external_url("newsletter.preferences"),
        sender="preview",
    )
    from email import message_from_bytes
    from email.policy import default

    message = message_from_bytes(data, policy=default)
    html = message.get_body(preferencelist=("html",)).get_content()
    note = {
        FREQ_INSTANT: "You get each story as it is published; this is what a digest would hold.",
        FREQ_DAILY: "Your daily digest arrives each morning.",
        FREQ_WEEKLY: "Your weekly digest arrives on the day you chose.",
    }.get(pref.frequency, "Digests are off: choose how often above to receive them.")
    return Preview(rendered.subject, html, len(plan.article_ids), note)


def _plan_ignoring_schedule(user: User, pref, now: datetime) -> list[Plan]:
    """The articles a digest would carry now, whatever the reader's frequency or pause."""
    follows = {t.id for t in pref.tags}
    from shop.newsletter.models import MailedArticle

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
