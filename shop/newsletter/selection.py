"""Who is due a digest, and which articles each of them gets.

Everything is loaded in a fixed number of queries, whatever the size of the list:
the due preferences, their followed tags, the candidate articles with their tags, the
articles already mailed, and the paying readers. The matching is done in memory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_, select

from shop.accounts.models import User
from shop.articles.models import Article, Tag, article_tags
from shop.billing.access import paying_user_ids
from shop.extensions import db
from shop.newsletter.models import (
    FREQ_INSTANT,
    FREQ_WEEKLY,
    DigestPreference,
    MailedArticle,
    preference_tags,
)


@dataclass(frozen=True)
class Candidate:
    """An article that may go into digests."""

    id: int
    title: str
    slug: str
    summary: str
    access: str
    published_at: datetime
    tag_ids: frozenset[int]


@dataclass
class Plan:
    """One reader's digest: who, and which articles in which order."""

    user_id: int
    email: str
    name: str
    paying: bool
    article_ids: list[int]


def _mailable(frequency: str) -> tuple:
    """Conditions on (preference, user): this frequency, consented, confirmed, reachable."""
    return (
        DigestPreference.frequency == frequency,
        DigestPreference.unsubscribed_at.is_(None),
        DigestPreference.suppressed_at.is_(None),
        User.confirmed_at.is_not(None),
        User.digest_consent_at.is_not(None),
    )


def due_preferences(frequency: str, day: date, user_ids: list[int] | None = None):
    """Rows of (preference, user) due a digest of this frequency on this local day."""
    query = (
        select(DigestPreference, User)
        .join(User, User.id == DigestPreference.user_id)
        .where(
            *_mailable(frequency),
            or_(DigestPreference.paused_until.is_(None), DigestPreference.paused_until < day),
        )
        .order_by(DigestPreference.id)
    )
    if frequency == FREQ_WEEKLY:
        query = query.where(DigestPreference.weekday == day.weekday())
    if user_ids is not None:
        query = query.where(DigestPreference.user_id.in_(user_ids))
    return db.session.execute(query).all()


def candidates(since: datetime, cutoff: datetime) -> list[Candidate]:
    """Live articles published after ``since`` and by ``cutoff``, oldest first."""
    rows = db.session.execute(
        select(
            Article.id,
            Article.title,
            Article.slug,
            Article.summary,
            Article.access,
            Article.published_at,
        )
        .where(Article.live_clause(cutoff), Article.published_at > since)
        .order_by(Article.published_at, Article.id)
    ).all()
    tags: dict[int, set[int]] = defaultdict(set)
    if rows:
        for article_id, tag_id in db.session.execute(
            select(article_tags.c.article_id, article_tags.c.tag_id).where(
                article_tags.c.article_id.in_([r.id for r in rows])
            )
        ):
            tags[article_id].add(tag_id)
    return [
        Candidate(r.id, r.title, r.slug, r.summary, r.access, r.published_at, frozenset(tags[r.id]))
        for r in rows
    ]


def plan_digests(
    frequency: str, day: date, cutoff: datetime, user_ids: list[int] | None = None
) -> tuple[list[Plan], int]:
    """Each due reader's digest; also how many due readers had nothing new."""
    due = due_preferences(frequency, day, user_ids)
    if not due:
        return [], 0
    since = min(pref.covered_until for pref, _ in due)
    articles = candidates(since, cutoff)
    if not articles:
        return [], len(due)
    pref_ids = [pref.id for pref, _ in due]
    follows: dict[int, set[int]] = defaultdict(set)
    for pref_id, tag_id in db.session.execute(
        select(preference_tags.c.preference_id, preference_tags.c.tag_id).where(
            preference_tags.c.preference_id.in_(pref_ids)
        )
    ):
        follows[pref_id].add(tag_id)
    article_ids = [a.id for a in articles]
    mailed: dict[int, set[int]] = defaultdict(set)
    for user_id, article_id in db.session.execute(
        select(MailedArticle.user_id, MailedArticle.article_id).where(
            MailedArticle.article_id.in_(article_ids)
        )
    ):
        mailed[user_id].add(article_id)
    paying = paying_user_ids()

    plans: list[Plan] = []
    skipped = 0
    for pref, user in due:
        chosen = [
            a.id
            for a in articles
            if a.published_at > pref.covered_until
            and (pref.follow_all or a.tag_ids & follows[pref.id])
            and a.id not in mailed[user.id]
        ]
        if not chosen:
            skipped += 1
            continue
        plans.append(
            Plan(
                user_id=user.id,
                email=user.email,
                name=user.name,
                paying=user.id in paying,
                article_ids=chosen,
            )
        )
    return plans, skipped


def instant_plans(article: Article) -> list[Plan]:
    """Readers on "instant" who follow one of the article's tags and never got it."""
    tag_ids = [t.id for t in article.tags]
    query = (
        select(DigestPreference, User)
        .join(User, User.id == DigestPreference.user_id)
        .where(
            *_mailable(FREQ_INSTANT),
            ~select(MailedArticle.user_id)
            .where(and_(MailedArticle.user_id == User.id, MailedArticle.article_id == article.id))
            .exists(),
        )
        .order_by(DigestPreference.id)
    )
    rows = db.session.execute(query).all()
    follows: dict[int, set[int]] = defaultdict(set)
    if rows:
        for pref_id, tag_id in db.session.execute(
            select(preference_tags.c.preference_id, preference_tags.c.tag_id).where(
                preference_tags.c.preference_id.in_([p.id for p, _ in rows])
            )
        ):
            follows[pref_id].add(tag_id)
    paying = paying_user_ids()
    return [
        Plan(user.id, user.email, user.name, user.id in paying, [article.id])
        for pref, user in rows
        if pref.follow_all or follows[pref.id] & set(tag_ids)
    ]


def tag_names(tag_ids: set[int]) -> dict[int, str]:
    """Tag names by id."""
    if not tag_ids:
        return {}
    return dict(db.session.execute(select(Tag.id, Tag.name).where(Tag.id.in_(tag_ids))).all())
