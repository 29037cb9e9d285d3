"""Who is due a digest, and which articles each of them gets.

Everything is loaded in a fixed number of queries, whatever the size of the list:
the candidate articles with their tags, the articles already mailed, the paying
readers, and the due preferences with their followed tags, read as one stream. The
matching is done in memory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from operator import attrgetter

from sqlalchemy import and_, func, select

from shop.accounts.models import User
from shop.articles.models import Article, Tag, article_tags
from shop.billing.access import paying_user_ids
from shop.clock import local_date, utcnow
from shop.digests.models import MailedArticle
from shop.extensions import db
from shop.preferences.mailing import not_paused, reachable
from shop.preferences.models import DigestPreference, Frequency, preference_tags
from shop.sending.content import Plan
from shop.sending.models import Delivery, DeliveryStatus


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
    # The feature picture, shown above the story in mail.
    image_id: int | None = None
    image_alt: str = ""


def story_queued():
    """SELECT (reader, article) of each story mail still queued for a reader (shop/stories).

    A story emailed on publishing records the article as mailed once its message goes;
    until then its queued delivery stands for it, so that no digest or notice sends the
    article to that reader as well.
    """
    return (
        select(Delivery.user_id, Article.id.label("article_id"))
        .join(Article, Article.email_run_id == Delivery.run_id)
        .where(Delivery.status == DeliveryStatus.QUEUED)
    )


def _mailable(frequency: str) -> tuple:
    """Conditions on (preference, user): this frequency, and reachable."""
    return (DigestPreference.frequency == frequency, *reachable())


def _due(query, frequency: str, day: date, user_ids: list[int] | None = None):
    """``query`` (on preferences) limited to readers due a digest of this frequency on ``day``."""
    query = query.join(User, User.id == DigestPreference.user_id).where(
        *_mailable(frequency),
        not_paused(day),
    )
    if frequency == Frequency.WEEKLY:
        query = query.where(DigestPreference.weekday == day.weekday())
    if user_ids is not None:
        query = query.where(DigestPreference.user_id.in_(user_ids))
    return query


def due_preferences(frequency: str, day: date, user_ids: list[int] | None = None):
    """Rows of (preference, user) due a digest of this frequency on this local day."""
    query = _due(select(DigestPreference, User), frequency, day, user_ids)
    return db.session.execute(query.order_by(DigestPreference.id)).all()


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
            Article.image_id,
            Article.image_alt,
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
        Candidate(
            r.id,
            r.title,
            r.slug,
            r.summary,
            r.access,
            r.published_at,
            frozenset(tags[r.id]),
            r.image_id,
            r.image_alt,
        )
        for r in rows
    ]


def plan_digests(
    frequency: str, day: date, cutoff: datetime, user_ids: list[int] | None = None
) -> tuple[list[Plan], int]:
    """Each due reader's digest; also how many due readers had nothing new."""
    # A long list is read as a stream and planned as it comes, and readers with the same
    # choice of articles share it: memory grows by little more than a plan per reader.
    since = db.session.scalar(
        _due(select(func.min(DigestPreference.covered_until)), frequency, day, user_ids)
    )
    if since is None:
        return [], 0
    articles = candidates(since, cutoff)
    if not articles:
        count = select(func.count()).select_from(DigestPreference)
        return [], db.session.scalar(_due(count, frequency, day, user_ids))
    mailed: dict[int, set[int]] = defaultdict(set)
    article_ids = [a.id for a in articles]
    for user_id, article_id in db.session.execute(
        select(MailedArticle.user_id, MailedArticle.article_id)
        .where(MailedArticle.article_id.in_(article_ids))
        .union_all(story_queued().where(Article.id.in_(article_ids)))
    ):
        mailed[user_id].add(article_id)
    paying = paying_user_ids()
    # One row per (reader, followed tag), in reader order.
    rows = db.session.execute(
        _due(
            select(
                DigestPreference.id,
                DigestPreference.covered_until,
                DigestPreference.follow_all,
                User.id.label("user_id"),
                User.email,
                User.display_name,
                preference_tags.c.tag_id,
            ),
            frequency,
            day,
            user_ids,
        )
        .outerjoin(preference_tags, preference_tags.c.preference_id == DigestPreference.id)
        .order_by(DigestPreference.id)
        .execution_options(yield_per=5000)
    )

    plans: list[Plan] = []
    skipped = 0
    shared: dict[tuple[datetime, bool | frozenset[int]], tuple[int, ...]] = {}
    for _, group in groupby(rows, key=attrgetter("id")):
        reader = list(group)
        row = reader[0]
        covered, follow_all = row.covered_until, row.follow_all
        tags = frozenset(r.tag_id for r in reader if r.tag_id is not None)
        seen = mailed.get(row.user_id)
        key = (covered, True if follow_all else tags)
        chosen = None if seen else shared.get(key)
        if chosen is None:
            # Read once per reader, not once per article: this runs readers x articles.
            chosen = tuple(
                a.id
                for a in articles
                if a.published_at > covered
                and (follow_all or not a.tag_ids.isdisjoint(tags))
                and not (seen and a.id in seen)
            )
            if not seen:
                shared[key] = chosen
        if not chosen:
            skipped += 1
            continue
        plans.append(
            Plan(
                user_id=row.user_id,
                email=row.email,
                # As User.name puts it, without loading the user.
                name=row.display_name or "",
                paying=row.user_id in paying,
                article_ids=chosen,
            )
        )
    return plans, skipped


def instant_plans(article: Article) -> list[Plan]:
    """Readers on "instant" who follow one of the article's tags and never got it (nor have
    it on its way as a story mail)."""
    tag_ids = [t.id for t in article.tags]
    query = (
        select(DigestPreference, User)
        .join(User, User.id == DigestPreference.user_id)
        .where(
            *_mailable(Frequency.INSTANT),
            not_paused(local_date(utcnow())),
            ~select(MailedArticle.user_id)
            .where(and_(MailedArticle.user_id == User.id, MailedArticle.article_id == article.id))
            .exists(),
            # Nor those whom the story itself is on its way to.
            User.id.not_in(
                story_queued().where(Article.id == article.id).with_only_columns(Delivery.user_id)
            ),
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
