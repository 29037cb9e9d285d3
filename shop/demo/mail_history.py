"""Demo mail history: four weeks of daily digests, mostly delivered, about half opened.

Part of ``flask demo``'s made-up past (``history.py`` calls it with its readers), so the
run pages, the dashboard's chart of opens and clicks and each reader's engagement have
something to show. The clicks lead to the demo's own stories, registered as each run's
links exactly as a real send registers them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from shop.accounts.models import User
from shop.articles.models import Article, ArticleStatus
from shop.extensions import db
from shop.sending.models import (
    Delivery,
    DeliveryStatus,
    EventKind,
    MailEvent,
    Run,
    RunKind,
    TrackedLink,
)
from shop.sending.tracking import link_key, register_links
from shop.urls import external_url

DIGEST_DAYS = 28


def digest_runs(rng: random.Random, readers: list[User], now: datetime) -> None:
    """A daily digest run for each of the last four weeks, mostly delivered, half opened."""
    stories = _story_links()
    for days_ago in range(DIGEST_DAYS, 0, -1):
        day = (now - timedelta(days=days_ago)).replace(hour=7, minute=0, second=0, microsecond=0)
        run = Run(
            kind=RunKind.DIGEST,
            period=f"daily:{day:%Y-%m-%d}",
            subject="Demo digest",
            cutoff=day,
            created_at=day,
            started_at=day,
            finished_at=day + timedelta(minutes=2),
        )
        db.session.add(run)
        db.session.flush()
        rows = []
        for user in readers:
            if user.created_at > day or user.confirmed_at is None or rng.random() < 0.35:
                continue
            status = rng.choices(
                [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED], [94, 4, 2]
            )[0]
            rows.append(
                {
                    "run_id": run.id,
                    "user_id": user.id,
                    "status": status,
                    "attempts": 1 if status == DeliveryStatus.SENT else 5,
                    "last_reply": {
                        DeliveryStatus.SENT: "250 accepted",
                        DeliveryStatus.FAILED: "451 try again later",
                        DeliveryStatus.BOUNCED: "550 no such mailbox",
                    }[status],
                    "article_ids": "",
                    "sent_at": day + timedelta(seconds=rng.randrange(90))
                    if status == DeliveryStatus.SENT
                    else None,
                }
            )
        if rows:
            db.session.execute(insert(Delivery), rows)
        run.total = len(rows)
        run.sent = sum(r["status"] == DeliveryStatus.SENT for r in rows)
        run.failed = sum(r["status"] == DeliveryStatus.FAILED for r in rows)
        run.bounced = sum(r["status"] == DeliveryStatus.BOUNCED for r in rows)
        _engagement(rng, run, stories, now)


def _story_links(limit: int = 6) -> list[str]:
    """Addresses of a few live demo stories, the links a demo digest pointed at."""
    slugs = db.session.scalars(
        select(Article.slug)
        .where(Article.status == ArticleStatus.PUBLISHED)
        .order_by(Article.id)
        .limit(limit)
    )
    return [external_url("articles.article", slug=slug) for slug in slugs]


def _engagement(rng: random.Random, run: Run, stories: list[str], now: datetime) -> None:
    """Opens and clicks for a demo run's delivered mail, so its figures have a past."""
    delivered = db.session.execute(
        select(Delivery.id, Delivery.sent_at).where(
            Delivery.run_id == run.id, Delivery.status == DeliveryStatus.SENT
        )
    ).all()
    links: list[int] = []
    if stories:
        chosen = rng.sample(stories, k=min(3, len(stories)))
        register_links(run.id, chosen)
        keys = [link_key(url) for url in chosen]
        links = list(db.session.scalars(select(TrackedLink.id).where(TrackedLink.key.in_(keys))))
    events: list[dict[str, object]] = []
    for delivery_id, sent_at in delivered:
        if sent_at is None or rng.random() > 0.47:
            continue  # about the share of digests opened at a small, keen publication
        opened: datetime = min(sent_at + timedelta(minutes=rng.randrange(5, 600)), now)
        events.append({"delivery_id": delivery_id, "kind": EventKind.OPEN, "at": opened})
        if links and rng.random() < 0.3:
            clicked = min(opened + timedelta(minutes=1), now)
            link_id = rng.choice(links)
            events.append(
                {
                    "delivery_id": delivery_id,
                    "kind": EventKind.CLICK,
                    "link_id": link_id,
                    "at": clicked,
                }
            )
    if events:
        db.session.execute(insert(MailEvent), events)
