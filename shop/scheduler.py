"""All time-based work, as ``flask tick`` and the Celery beat run it every minute.

Due digests, stories emailed on publishing, instant notices, scheduled newsletters, resumed
runs, expired checkouts and stale carts: each is a step of its own, so one that fails never
stops the others.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import exists, select

from shop import background, caching, clock
from shop.accounts import links
from shop.articles.models import Article, ArticleStatus
from shop.billing import gift_mail, gifts
from shop.billing.fulfilment import release_expired_checkouts
from shop.cart.services import delete_stale_carts
from shop.clock import utcnow
from shop.digests.runs import DIGEST_FREQUENCIES, due_instant_articles, instant, run_digest
from shop.extensions import db
from shop.members import importing
from shop.newsletters import sending as newsletters
from shop.sending.dispatch import resume_run
from shop.sending.models import Run, RunKind
from shop.stories import sending as stories

log = logging.getLogger(__name__)

T = TypeVar("T")

# The tick runs every minute; a scheduled story that went live in the last two is shown
# now (bumping twice for one story only empties the page cache once more).
LIVE_WINDOW = timedelta(minutes=2)


@dataclass
class TickResult:
    """What one tick did, and what failed in it (each as "what: why")."""

    digests: dict[str, int] = field(default_factory=dict)
    instant: int = 0
    stories: int = 0
    newsletters: int = 0
    checkouts_released: int = 0
    carts_expired: int = 0
    gifts_sent: int = 0
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
    if clock.is_digest_time(now):
        day = clock.local_date(now)
        for frequency in DIGEST_FREQUENCIES:
            outcome = steps.run(
                f"{frequency} digest",
                partial(run_digest, frequency, day),
                run_of=_run_id(RunKind.DIGEST, clock.period(frequency, day)),
            )
            result.digests[frequency] = outcome.summary.sent if outcome else 0
    steps.run("showing stories that went live", lambda: show_stories_gone_live(now))
    # Stories emailed on publishing first: their readers are then left out of the notices.
    result.stories = steps.run("stories to email", lambda: stories.send_due(now)) or 0
    due = steps.run("finding due instant notices", lambda: due_instant_articles(now)) or []
    for article_id in [a.id for a in due]:
        summary = steps.run(
            f"instant notice for article {article_id}",
            partial(instant, article_id),
            run_of=_run_id(RunKind.INSTANT, f"article:{article_id}"),
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
        steps.run(f"run {run_id} ({period})", partial(resume_run, run_id))
    steps.run("settling newsletters", newsletters.settle)
    # Stock held by checkouts whose session ended without its webhook goes back on sale.
    result.checkouts_released = (
        steps.run("releasing expired checkouts", lambda: release_expired_checkouts(now)) or 0
    )
    # Gifts whose day has come go to their recipients; a week before one ends, a reminder.
    result.gifts_sent = (
        steps.run("sending due gifts", lambda: gift_mail.send_due_gifts(gifts.local_today(now)))
        or 0
    )
    steps.run("reminding gift readers", lambda: gift_mail.send_reminders(now))
    steps.run("expiring unredeemed gifts", lambda: gift_mail.expire_unredeemed(now))
    steps.run("forgetting old mailed links", lambda: links.delete_old_links(now))
    steps.run("forgetting unimported member files", lambda: importing.forget_unimported(now))
    # Anonymous carts whose cookie has run out can never be reached again.
    result.carts_expired = (
        steps.run("expiring stale carts", lambda: delete_stale_carts(now=now)) or 0
    )
    return result


def show_stories_gone_live(now: datetime) -> bool:
    """Empty the page cache when a scheduled story went live (no row changes as it does)."""
    went_live = db.session.scalar(
        select(
            exists().where(
                Article.status == ArticleStatus.SCHEDULED,
                Article.published_at > now - LIVE_WINDOW,
                Article.published_at <= now,
            )
        )
    )
    if went_live:
        caching.bump()
    return bool(went_live)


@background.job(background.TICK_JOB)
def tick_job() -> dict[str, Any]:
    """Celery task (beat sends it every minute): all time-based work, as ``flask tick``."""
    return asdict(tick())
